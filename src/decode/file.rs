//! The per-file driver: one capture file → its capture points, their echo observations and the
//! file's problems (the loop over every record, kept free of allocation per packet); and every
//! file's results merged into one numbering of points.

use super::{FragmentKey, LinkLayer, Outcome, Unusable};
use crate::capture::{self, link_type_name, Capture, Event, Problem, Reordering, Source};
use crate::model::{
    Addr, Diagnostic, Direction, ErrorObservation, Input, Name, Observation, Point, Protocol,
    Protocols, Severity, DUPLICATE_WINDOW_NS,
};
use crate::text::sanitize;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What one file yielded. Observations refer to `points` by index.
#[derive(Debug, Default)]
pub struct FileScan {
    pub points: Vec<Point>,
    pub observations: Vec<Observation>,
    pub errors: Vec<ErrorObservation>,
    pub diagnostics: Vec<Diagnostic>,
    /// Observations whose echo header the snaplen cut after the identifier (no sequence number
    /// yet): indexes into `observations`.
    pub cut_headers: Vec<u32>,
    /// A Parquet file of schema 1 or 2: its digests of payloads longer than
    /// [`super::DIGEST_BYTEWISE`] are not this natcorr's (`None`: a capture, or schema 3).
    pub old_digests: Option<OldDigests>,
}

/// The packets of an older extract whose payload digest this natcorr computes differently.
#[derive(Debug, Default)]
pub struct OldDigests {
    /// The file as messages name it, and its Parquet schema version.
    pub file: String,
    pub version: u32,
    /// Its packets with payloads longer than [`super::DIGEST_BYTEWISE`].
    pub packets: u64,
}

/// Problems listed one by one per file; past this they are counted.
pub(super) const MAX_LISTED: usize = 20;

pub(super) struct Diagnostics {
    file: String,
    pub(super) list: Vec<Diagnostic>,
    pub(super) unlisted: u64,
}

impl Diagnostics {
    fn new(path: &str) -> Self {
        Diagnostics {
            file: sanitize(path),
            list: Vec::new(),
            unlisted: 0,
        }
    }

    fn push(&mut self, p: Problem) {
        if self.list.len() >= MAX_LISTED && !p.unusable {
            self.unlisted += 1;
            return;
        }
        self.list.push(Diagnostic {
            file: self.file.clone(),
            severity: if p.unusable {
                Severity::Error
            } else {
                Severity::Warning
            },
            record: p.record,
            offset: p.offset,
            message: p.message,
        });
    }

    fn plain(&mut self, severity: Severity, message: String) {
        self.list.push(Diagnostic {
            file: self.file.clone(),
            severity,
            record: None,
            offset: None,
            message,
        });
    }
}

/// Where a frame was seen inside its file: pcapng interface, and the SLL2 interface index.
pub(super) type PointKey = (u32, Option<u32>);

/// Told how many more bytes of input were read, now and then (for a progress bar).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Every input read and decoded (in parallel), merged in the given order.
#[derive(Debug, Default)]
pub struct Decoded {
    pub points: Vec<Point>,
    pub observations: Vec<Observation>,
    pub errors: Vec<ErrorObservation>,
    pub diagnostics: Vec<Diagnostic>,
    /// Observations whose echo header the snaplen cut after the identifier: indexes into
    /// `observations` (the correlate stage trims their payloads: `correlate::cut_headers`).
    pub cut_headers: Vec<u32>,
}

/// The memory the analysis may use, shared by the files read at once. Reading stops where an
/// input would take more: the analysis of what was read goes on, marked partial.
pub struct Budget {
    limit: u64,
    used: AtomicU64,
    /// What the parts of files read ahead of their turn hold ([`crate::decode::split`]): it
    /// stops them, never the reading in file order, which meets the budget where one reading
    /// front to back would.
    ahead: AtomicU64,
}

/// What one observation costs through the whole pipeline (the observation, its sort key, its
/// journey slot, a per-packet row), measured on the benchmark captures and rounded up.
pub const BYTES_PER_OBSERVATION: u64 = 256;
/// What one capture point costs (its record, its name, its place in the path search).
const BYTES_PER_POINT: u64 = 4096;

impl Budget {
    pub fn new(limit: u64) -> Self {
        Budget {
            limit,
            used: AtomicU64::new(0),
            ahead: AtomicU64::new(0),
        }
    }

    pub fn unlimited() -> Self {
        Budget::new(u64::MAX)
    }

    /// Frees `bytes` accounted for data that was dropped.
    pub(crate) fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Accounts `bytes` more; false once the limit is passed.
    pub(crate) fn take(&self, bytes: u64) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        before.saturating_add(bytes) <= self.limit
    }

    /// Accounts `bytes` more for a part read ahead; false once everything held and read ahead
    /// passes the limit (the part then gives up).
    pub(crate) fn take_ahead(&self, bytes: u64) -> bool {
        let before = self.ahead.fetch_add(bytes, Ordering::Relaxed);
        let used = self.used.load(Ordering::Relaxed);
        used.saturating_add(before).saturating_add(bytes) <= self.limit
    }

    /// Frees `bytes` a part read ahead accounted.
    pub(crate) fn give_back_ahead(&self, bytes: u64) {
        self.ahead.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Parts read ahead join the reading in file order: what they accounted becomes its own,
    /// unless that passes the limit (false: nothing changes, and the reading in file order goes
    /// on alone, meeting the budget, if at all, where one reading front to back does).
    pub(crate) fn join_ahead(&self, bytes: u64) -> bool {
        if !self.take(bytes) {
            self.give_back(bytes);
            return false;
        }
        self.give_back_ahead(bytes);
        true
    }
}

/// Reads every input, one thread per file, and numbers their points in input order.
pub fn read(
    inputs: &[Input],
    progress: Progress,
    budget: &Budget,
    protocols: Protocols,
) -> Decoded {
    let scans: Vec<FileScan> = inputs
        .par_iter()
        .map(|i| read_file(i, progress, budget, protocols))
        .collect();
    merge(scans)
}

/// Per-file results in one list: point indexes renumbered, names made unique.
pub fn merge(scans: Vec<FileScan>) -> Decoded {
    let mut all = Decoded::default();
    // The first file's lists become the merged lists (its points keep their numbers), so one
    // large capture is not copied into fresh pages; the others are appended after them.
    let rest: usize = scans.iter().skip(1).map(|s| s.observations.len()).sum();
    // Older extracts alone agree with one another; beside captures or newer extracts their long
    // payloads' digests differ, and those packets cannot match.
    let current = scans
        .iter()
        .any(|s| s.old_digests.is_none() && !s.observations.is_empty());
    let stale = scans.iter().filter_map(|s| s.old_digests.as_ref());
    let mut unmatched = Vec::new();
    for old in stale.filter(|o| current && o.packets > 0) {
        unmatched.push(Diagnostic {
            file: old.file.clone(),
            severity: Severity::Warning,
            record: None,
            offset: None,
            message: format!(
                "extracted by an older natcorr (Parquet schema {}): {} packet(s) with payloads over {} bytes carry a digest this natcorr computes differently, so they cannot match packets of the other inputs (they may show as lost); run `natcorr extract` on their capture again",
                old.version, old.packets, super::DIGEST_BYTEWISE
            ),
        });
    }
    let mut scans = scans.into_iter();
    if let Some(first) = scans.next() {
        all.cut_headers = first.cut_headers;
        all.points = first.points;
        all.observations = first.observations;
        all.observations.reserve_exact(rest);
        all.errors = first.errors;
        all.diagnostics = first.diagnostics;
    }
    for s in scans {
        let base = all.points.len() as u32;
        let first = all.observations.len() as u32;
        all.cut_headers
            .extend(s.cut_headers.iter().map(|&i| i + first));
        all.points.extend(s.points);
        all.observations
            .extend(s.observations.into_iter().map(|mut o| {
                o.point += base;
                o
            }));
        all.errors.extend(s.errors.into_iter().map(|mut e| {
            e.point += base;
            e
        }));
        all.diagnostics.extend(s.diagnostics);
    }
    all.diagnostics.extend(unmatched);
    // One file's list is taken as it grew (up to twice what it holds; 57 MB spare on a 1 GB
    // capture): held through every stage, so trimmed. Its untouched spare pages were mostly
    // not resident: peak RSS fell by about 10 MB.
    all.observations.shrink_to_fit();
    disambiguate_names(&mut all.points, &mut all.diagnostics);
    all
}

/// Points that share a name are told apart, in this order: the file's stem (two files both with
/// `if_name` eth0), the parent folder (`a/eth0.pcap`, `b/eth0.pcap`), then a counter. Each
/// renamed point gets a warning, so a name in the report never differs silently.
fn disambiguate_names(points: &mut [Point], diagnostics: &mut Vec<Diagnostic>) {
    let original: Vec<Name> = points.iter().map(|p| p.name.clone()).collect();
    let stem = |p: &Point| Some(capture::file_stem(&p.file));
    let folder = |p: &Point| {
        std::path::Path::new(&p.file)
            .parent()
            .and_then(|d| d.file_name())
            .map(|d| format!("{}/{}", sanitize(&d.to_string_lossy()), p.name))
    };
    rename_clashes(points, |p| {
        stem(p)
            .filter(|s| *s != p.name)
            .map(|s| format!("{}@{s}", p.name))
    });
    rename_clashes(points, folder);
    // Still equal: number them in input order.
    let mut seen: FxHashMap<Name, usize> = FxHashMap::default();
    for p in points.iter_mut() {
        let n = seen.entry(p.name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            p.name = format!("{}~{}", p.name, *n).into();
        }
    }
    for (p, before) in points.iter().zip(original) {
        if p.name != before {
            diagnostics.push(Diagnostic {
                file: p.file.clone(),
                severity: Severity::Warning,
                record: None,
                offset: None,
                message: format!(
                    "another capture point is also named {before}: this one is shown as {}",
                    p.name
                ),
            });
        }
    }
}

/// Renames every point whose name another point shares, where `rename` has a name for it.
fn rename_clashes(points: &mut [Point], rename: impl Fn(&Point) -> Option<String>) {
    let mut count: FxHashMap<Name, usize> = FxHashMap::default();
    for p in points.iter() {
        *count.entry(p.name.clone()).or_default() += 1;
    }
    for p in points.iter_mut() {
        if count[&p.name] > 1 {
            if let Some(name) = rename(p) {
                p.name = name.into();
            }
        }
    }
}

/// Reads one capture file (or `-`, standard input), decompressing it when needed; only the
/// packets of `protocols` are kept.
pub fn read_file(
    input: &Input,
    progress: Progress,
    budget: &Budget,
    protocols: Protocols,
) -> FileScan {
    if input.path.as_os_str() != "-" && super::parquet::is_parquet(&input.path) {
        let mut scan = super::parquet::read(&input.path, &sanitize(&input.display()), budget);
        if protocols != Protocols::ALL {
            keep_protocols(&mut scan, protocols);
        }
        // `--point NAME=FILE` names an extracted file's only point.
        if let (Some(name), [point]) = (&input.name, &mut scan.points[..]) {
            point.name = name.into();
        }
        return scan;
    }
    if let Some((scan, _)) =
        super::split::read(input, progress, budget, protocols, super::split::MIN_PART)
    {
        return scan;
    }
    match capture::open_source(&input.path) {
        Ok(capture::Opened(reader, _)) => {
            scan_capture(input, Capture::open(reader), progress, budget, protocols)
        }
        Err(p) => {
            let mut diags = Diagnostics::new(&input.display());
            diags.push(p);
            FileScan {
                diagnostics: diags.list,
                ..FileScan::default()
            }
        }
    }
}

/// Reads one capture from `reader` (every protocol); `input` names it.
pub fn read_reader(input: &Input, reader: impl std::io::Read) -> FileScan {
    scan_capture(
        input,
        Capture::open(reader),
        &|_| {},
        &Budget::unlimited(),
        Protocols::ALL,
    )
}

/// Drops the observations of protocols not asked for (from an extracted file), and the errors
/// that quote them.
fn keep_protocols(scan: &mut FileScan, protocols: Protocols) {
    let mut kept_before = Vec::with_capacity(scan.observations.len());
    let mut n = 0u32;
    for o in &scan.observations {
        kept_before.push(n);
        n += u32::from(protocols.contains(o.proto));
    }
    scan.cut_headers = scan
        .cut_headers
        .iter()
        .filter(|&&i| protocols.contains(scan.observations[i as usize].proto))
        .map(|&i| kept_before[i as usize])
        .collect();
    for o in scan
        .observations
        .iter()
        .filter(|o| !protocols.contains(o.proto))
    {
        let p = &mut scan.points[o.point as usize];
        match o.proto {
            Protocol::Icmp => p.echo_packets -= 1,
            Protocol::Tcp => p.tcp_packets -= 1,
            Protocol::Udp => p.udp_packets -= 1,
        }
    }
    scan.observations.retain(|o| protocols.contains(o.proto));
    scan.errors.retain(|e| protocols.contains(e.quoted.proto));
}

/// Progress is reported in steps of this many bytes.
const PROGRESS_STEP: u64 = 4 << 20;

fn scan_capture<S: Source>(
    input: &Input,
    opened: Result<Capture<S>, Problem>,
    progress: Progress,
    budget: &Budget,
    protocols: Protocols,
) -> FileScan {
    let mut scanner = Scanner::new(input, progress, budget, protocols, None);
    let mut cap = match opened {
        Ok(c) => c,
        Err(p) => {
            scanner.diags.push(p);
            scanner.scan.diagnostics = scanner.diags.list;
            return scanner.scan;
        }
    };
    scanner.run(&mut cap, None);
    scanner.finish(&cap, cap.reordering())
}

/// How [`Scanner::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The capture ended: its end, a problem that stops reading, or a part's end offset.
    End,
    /// The memory budget or the address table stopped reading (the error is listed).
    Stopped,
    /// A part read ahead gave up: it cannot be joined to what comes before (see [`Part`]).
    Abandoned,
}

/// What a part of a file read ahead of its turn keeps besides its scan, for joining it to the
/// parts before it exactly as one reading would have (`split`).
#[derive(Default)]
pub(super) struct Part {
    /// The timestamp of its first frame (the latest is its points' latest).
    pub first_ns: Option<i64>,
    /// The frames checked for duplicates in its first [`DUPLICATE_WINDOW_NS`] (point, time,
    /// identity): a copy of a frame of the part before would be one of them.
    pub head: Vec<(u32, i64, u64)>,
}

/// Reads one capture frame by frame into a [`FileScan`]: one file, or one part of it.
pub(super) struct Scanner<'a> {
    input: &'a Input,
    file: String,
    progress: Progress<'a>,
    budget: &'a Budget,
    protocols: Protocols,
    pub(super) diags: Diagnostics,
    pub(super) scan: FileScan,
    pub(super) keys: HashMap<PointKey, usize>,
    /// Fragments per datagram and point, and the observations that are first fragments.
    pub(super) fragments: HashMap<(u32, FragmentKey), u16>,
    pub(super) first_fragments: Vec<(usize, (u32, FragmentKey))>,
    /// Reasons echoes could not be used (first record, count).
    pub(super) unusable: HashMap<Unusable, (u64, u64)>,
    pub(super) unsupported: HashMap<u32, u64>,
    last_key: Option<(PointKey, usize)>,
    pub(super) dups: Duplicates,
    reported: u64,
    pub(super) accounted: u64,
    checked_points: usize,
    /// Set when this scanner reads a part after the first.
    pub(super) part: Option<Part>,
}

impl<'a> Scanner<'a> {
    /// A scanner of `input` from its start, or (`part`) of a part of it from `offset`.
    pub(super) fn new(
        input: &'a Input,
        progress: Progress<'a>,
        budget: &'a Budget,
        protocols: Protocols,
        part: Option<(Part, u64)>,
    ) -> Self {
        let (part, offset) = match part {
            Some((p, o)) => (Some(p), o),
            None => (None, 0),
        };
        Scanner {
            input,
            file: sanitize(&input.display()),
            progress,
            budget,
            protocols,
            diags: Diagnostics::new(&input.display()),
            scan: FileScan::default(),
            keys: HashMap::new(),
            fragments: HashMap::new(),
            first_fragments: Vec::new(),
            unusable: HashMap::new(),
            unsupported: HashMap::new(),
            last_key: None,
            dups: Duplicates::default(),
            reported: offset,
            accounted: 0,
            checked_points: 0,
            part,
        }
    }

    /// Reads frames until the capture ends or reading must stop. `ahead`: reading ahead in
    /// parts, given up (by any part) once this is set; a part gives up, and sets it, on the
    /// memory budget or on the address table (the first part then reads on alone and meets
    /// them itself). Timestamps that go backwards are counted in each part and summed where the
    /// parts join.
    pub(super) fn run<S: Source>(
        &mut self,
        cap: &mut Capture<S>,
        ahead: Option<&AtomicBool>,
    ) -> Ended {
        loop {
            match cap.next_event() {
                Event::End => return Ended::End,
                Event::Problem(mut p) => {
                    // Damage before the first packet leaves nothing of the file to use.
                    p.unusable |= p.stops && self.scan.points.is_empty() && self.part.is_none();
                    self.diags.push(p)
                }
                Event::Frame(f) => {
                    if !self.frame(&f) {
                        return if self.part.is_some() {
                            if let Some(ahead) = ahead {
                                ahead.store(true, Ordering::Relaxed);
                            }
                            Ended::Abandoned
                        } else {
                            Ended::Stopped
                        };
                    }
                }
            }
            if let Some(ahead) = ahead {
                if self.part.is_some() && ahead.load(Ordering::Relaxed) {
                    return Ended::Abandoned;
                }
            }
        }
    }

    /// One frame; false when reading must stop here.
    fn frame(&mut self, f: &capture::Frame) -> bool {
        if f.offset - self.reported >= PROGRESS_STEP || self.scan.points.len() > self.checked_points
        {
            self.checked_points = self.scan.points.len();
            (self.progress)(f.offset - self.reported);
            self.reported = f.offset;
            let cost = (self.scan.observations.len() + self.scan.errors.len()) as u64
                * BYTES_PER_OBSERVATION
                + self.scan.points.len() as u64 * BYTES_PER_POINT;
            let more = cost - self.accounted;
            let taken = match self.part {
                Some(_) => self.budget.take_ahead(more),
                None => self.budget.take(more),
            };
            if !taken {
                self.accounted = cost;
                if self.part.is_none() {
                    self.diags.list.push(Diagnostic {
                        file: self.file.clone(),
                        severity: Severity::Error,
                        record: Some(f.record),
                        offset: Some(f.offset),
                        message: format!(
                            "memory budget of {} MB reached (--max-memory): stopped reading this file here; the analysis uses what came before and is partial",
                            self.budget.limit >> 20
                        ),
                    });
                }
                return false;
            }
            self.accounted = cost;
            if !Addr::has_room() {
                if self.part.is_none() {
                    self.diags
                        .list
                        .push(too_many_addresses(&self.file, f.record, Some(f.offset)));
                }
                return false;
            }
        }
        let link = LinkLayer::from_linktype(f.link_type);
        let (ifindex, outcome) = super::decode(link, f.data, self.protocols);
        let key = (f.interface, ifindex);
        let idx = match self.last_key {
            Some((k, i)) if k == key => i,
            _ => {
                let n = self.scan.points.len();
                let i = *self.keys.entry(key).or_insert(n);
                if i == n {
                    self.scan.points.push(empty_point(
                        self.file.clone(),
                        link_type_name(f.link_type),
                        1,
                    ));
                }
                self.last_key = Some((key, i));
                i
            }
        };
        // Frames natcorr uses are checked for copies by what makes them one packet.
        let id = (!matches!(outcome, Outcome::Other)).then(|| identity(&outcome, f.data));
        if let Some(part) = &mut self.part {
            let first = *part.first_ns.get_or_insert(f.ts_ns);
            if let Some(id) = id.filter(|_| f.ts_ns <= first + DUPLICATE_WINDOW_NS) {
                part.head.push((idx as u32, f.ts_ns, id));
            }
        }
        let scan = &mut self.scan;
        let point = &mut scan.points[idx];
        point.packets += 1;
        point.first_ns = Some(point.first_ns.map_or(f.ts_ns, |t| t.min(f.ts_ns)));
        point.last_ns = Some(point.last_ns.map_or(f.ts_ns, |t| t.max(f.ts_ns)));
        if id.is_some_and(|id| self.dups.seen_again(idx as u32, f.ts_ns, id)) {
            point.duplicates += 1;
            return true;
        }
        let cut = matches!(outcome, Outcome::CutEcho(_));
        match outcome {
            Outcome::Packet(e) | Outcome::CutEcho(e) => {
                match e.proto {
                    Protocol::Icmp => point.echo_packets += 1,
                    Protocol::Tcp => point.tcp_packets += 1,
                    Protocol::Udp => point.udp_packets += 1,
                }
                if cut {
                    scan.cut_headers.push(scan.observations.len() as u32);
                }
                if e.fragmented {
                    point.fragments += 1;
                    let key = (
                        idx as u32,
                        FragmentKey {
                            src: e.src.ip(),
                            dst: e.dst.ip(),
                            id: e.ip_id,
                        },
                    );
                    *self.fragments.entry(key).or_default() += 1;
                    self.first_fragments.push((scan.observations.len(), key));
                }
                scan.observations.push(Observation {
                    point: idx as u32,
                    ts_ns: f.ts_ns,
                    record: f.record,
                    packet: e,
                });
            }
            Outcome::Fragment(key) => {
                point.fragments += 1;
                *self.fragments.entry((idx as u32, key)).or_default() += 1;
            }
            Outcome::Error(e) if self.protocols.contains(e.quoted.proto) => {
                scan.errors.push(ErrorObservation {
                    point: idx as u32,
                    ts_ns: f.ts_ns,
                    kind: e.kind,
                    code: e.code,
                    reporter: e.reporter,
                    quoted: e.quoted,
                    record: f.record,
                })
            }
            Outcome::Error(_) | Outcome::Other => {}
            Outcome::TruncatedEcho => {
                point.echo_packets += 1;
                self.unusable
                    .entry(Unusable::EchoHeaderCut)
                    .or_insert((f.record, 0))
                    .1 += 1;
            }
            Outcome::Unusable(Unusable::UnsupportedLinkType) => {
                *self.unsupported.entry(f.link_type).or_default() += 1;
            }
            Outcome::Unusable(why) => {
                self.unusable.entry(why).or_insert((f.record, 0)).1 += 1;
            }
        }
        true
    }

    /// The file's scan, once every frame was read: fragment counts, directions, duplicates
    /// out of time order, the problems summed up and the points named.
    /// `reordering` is the file's: the capture's, or its parts' summed.
    pub(super) fn finish<S: Source>(
        self,
        cap: &Capture<S>,
        reordering: Option<&Reordering>,
    ) -> FileScan {
        let Scanner {
            input,
            file,
            mut diags,
            mut scan,
            keys,
            fragments,
            first_fragments,
            unusable,
            unsupported,
            ..
        } = self;
        for (i, key) in first_fragments {
            scan.observations[i].fragments = fragments.get(&key).copied().unwrap_or(1);
        }
        orient(&mut scan.observations);
        if let Some(r) = reordering {
            // The window above sees copies only in time order; files appended out of order
            // (`mergecap -a`, `cat` of overlapping rotations) bring theirs back later.
            out_of_order_duplicates(&mut scan);
            // One line per file: small reorderings are normal on veth and multi-queue NICs.
            diags.list.push(Diagnostic {
                file: file.clone(),
                severity: Severity::Warning,
                record: Some(r.first_record),
                offset: Some(r.first_offset),
                message: format!(
                    "timestamp goes backwards by {} ns; {} record(s) out of time order in this file, by at most {} ns",
                    r.first_by_ns, r.count, r.max_by_ns
                ),
            });
        }
        if diags.unlisted > 0 {
            let n = diags.unlisted;
            diags.plain(
                Severity::Warning,
                format!("… and {n} more problems like the ones above"),
            );
        }
        let mut reasons: Vec<_> = unusable.into_iter().collect();
        reasons.sort_by_key(|(_, (first, _))| *first);
        for (why, (first, count)) in reasons {
            diags.plain(
                Severity::Warning,
                format!("{count} packet(s) not used: {why} (first at record {first})"),
            );
        }
        let total: u64 = scan.points.iter().map(|p| p.packets).sum();
        let mut lts: Vec<_> = unsupported.into_iter().collect();
        lts.sort();
        for (lt, count) in lts {
            let sev = if count == total {
                Severity::Error
            } else {
                Severity::Warning
            };
            diags.plain(
                sev,
                format!(
                    "link type {} is not supported: {count} packet(s) not decoded",
                    link_type_name(lt)
                ),
            );
        }
        name_points(input, cap, &keys, &mut scan.points);
        if scan.points.is_empty() {
            // A capture with no packets is still a point: the report must show it saw nothing.
            let lt = cap.interfaces().first().map_or(0, |i| i.link_type);
            let name = input.name.clone().unwrap_or_else(|| {
                capture::point_name(
                    &input.display(),
                    cap.interfaces().first().and_then(|i| i.name.as_deref()),
                    false,
                    0,
                )
            });
            let resolution = cap.interfaces().first().map_or(1, |i| i.resolution_ns);
            let mut point = empty_point(file, link_type_name(lt), resolution);
            point.name = name.into();
            scan.points.push(point);
        }
        scan.diagnostics = diags.list;
        scan
    }
}

/// What makes a frame the same packet as another at one point: an echo's IP and ICMP fields
/// and payload (so a mirror port's copy with another VLAN tag or MAC is one too), else the
/// frame's bytes.
fn identity(outcome: &Outcome, frame: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    match outcome {
        Outcome::Packet(e) | Outcome::CutEcho(e) => {
            let mut h = rustc_hash::FxHasher::default();
            (
                e.proto, e.dir, e.src, e.dst, e.ttl, e.ip_id, e.icmp_id, e.seq,
            )
                .hash(&mut h);
            (e.icmp_len, e.prefix, e.digest, e.digest_len, e.fragmented).hash(&mut h);
            (
                e.sport,
                e.dport,
                e.tcp_seq,
                e.tcp_ack,
                e.tcp_flags,
                e.tcp_window,
            )
                .hash(&mut h);
            h.finish()
        }
        _ => super::digest(frame),
    }
}

/// Recent frames per point, to recognize one packet captured twice (the same packet, see
/// [`identity`], within [`DUPLICATE_WINDOW_NS`]): only frames that decoded to something natcorr
/// uses are remembered.
#[derive(Default)]
pub(super) struct Duplicates {
    recent: std::collections::VecDeque<(i64, u32, u64)>,
    /// The latest copy kept of each frame still in the window (point, identity → time).
    pub(super) last: FxHashMap<(u32, u64), i64>,
    newest: i64,
}

impl Duplicates {
    fn seen_again(&mut self, point: u32, ts_ns: i64, hash: u64) -> bool {
        self.newest = self.newest.max(ts_ns);
        while let Some(&(t, p, h)) = self.recent.front() {
            if t >= self.newest.saturating_sub(DUPLICATE_WINDOW_NS) {
                break;
            }
            self.recent.pop_front();
            if self.last.get(&(p, h)) == Some(&t) {
                self.last.remove(&(p, h));
            }
        }
        let again = self
            .last
            .get(&(point, hash))
            .is_some_and(|&t| t.abs_diff(ts_ns) <= DUPLICATE_WINDOW_NS as u64);
        if !again {
            self.last.insert((point, hash), ts_ns);
            self.recent.push_back((ts_ns, point, hash));
        }
        again
    }
}

/// In a file whose timestamps go backwards, echoes and ICMP errors that repeat one packet at
/// one point within [`DUPLICATE_WINDOW_NS`] of the copy kept (the earliest), wherever they lie
/// in the file, are duplicates: dropped and counted. Fragmented echoes are left as they are
/// (their later fragments were counted with them).
fn out_of_order_duplicates(scan: &mut FileScan) {
    let dropped = repeats(
        &scan.observations,
        |o| o.fragments == 0,
        |o| {
            (
                (
                    o.point, o.proto, o.dir, o.src, o.dst, o.ip_id, o.icmp_id, o.seq,
                ),
                (o.icmp_len, o.prefix, o.digest, o.digest_len, o.ttl),
                (
                    o.sport,
                    o.dport,
                    o.tcp_seq,
                    o.tcp_ack,
                    o.tcp_flags,
                    o.tcp_window,
                ),
            )
        },
        |o| o.ts_ns,
    );
    for o in scan.observations.iter().zip(&dropped).filter(|(_, &d)| d) {
        let p = &mut scan.points[o.0.point as usize];
        match o.0.proto {
            Protocol::Icmp => p.echo_packets -= 1,
            Protocol::Tcp => p.tcp_packets -= 1,
            Protocol::Udp => p.udp_packets -= 1,
        }
        p.duplicates += 1;
    }
    let mut kept_before = Vec::with_capacity(dropped.len());
    let mut n = 0u32;
    for &d in &dropped {
        kept_before.push(n);
        n += u32::from(!d);
    }
    scan.cut_headers = scan
        .cut_headers
        .iter()
        .filter(|&&i| !dropped[i as usize])
        .map(|&i| kept_before[i as usize])
        .collect();
    let mut next = dropped.iter();
    scan.observations.retain(|_| next.next() == Some(&false));
    let dropped = repeats(
        &scan.errors,
        |_| true,
        |e| {
            let q = &e.quoted;
            (
                (e.point, e.kind, e.code, e.reporter),
                (q.proto, q.src, q.dst, q.id, q.seq, q.icmp_len, q.prefix),
                (q.sport, q.dport, q.word),
            )
        },
        |e| e.ts_ns,
    );
    for e in scan.errors.iter().zip(&dropped).filter(|(_, &d)| d) {
        scan.points[e.0.point as usize].duplicates += 1;
    }
    let mut next = dropped.iter();
    scan.errors.retain(|_| next.next() == Some(&false));
}

/// One end of a TCP or UDP conversation at one point.
type Endpoint = (crate::model::Addr, u16);

/// Turns each TCP/UDP packet to the side that began its conversation (decoded from its
/// sender): a conversation (protocol and the two endpoints, at one point) was begun by the
/// sender of its SYN, else the receiver of its SYN-ACK; without either (a capture that started
/// late, UDP), by the side on the lower port's far end (the responder is the side on the
/// service port, so every point decides the same way); with equal ports, by the first sender.
fn orient(obs: &mut [Observation]) {
    type Conversation = (u32, Protocol, Endpoint, Endpoint);
    let ends = |o: &Observation| {
        let (a, b) = ((o.src, o.sport), (o.dst, o.dport));
        (o.point, o.proto, a.min(b), a.max(b))
    };
    // The initiator's endpoint, and whether a SYN decided it, per conversation; each packet
    // keeps its conversation's slot, so the second pass looks nothing up.
    let mut slots: Vec<(Endpoint, bool)> = Vec::new();
    let mut slot_of: FxHashMap<Conversation, u32> = FxHashMap::default();
    let mut packet_slot: Vec<u32> = Vec::new();
    for o in obs.iter().filter(|o| o.proto != Protocol::Icmp) {
        let by_syn = if o.is_syn() {
            Some((o.src, o.sport))
        } else if o.has_flags(crate::model::tcp_flag::SYN | crate::model::tcp_flag::ACK) {
            Some((o.dst, o.dport))
        } else {
            None
        };
        let guess = if o.sport > o.dport {
            (o.src, o.sport)
        } else if o.dport > o.sport {
            (o.dst, o.dport)
        } else {
            (o.src, o.sport)
        };
        let k = *slot_of.entry(ends(o)).or_insert_with(|| {
            slots.push((guess, false));
            (slots.len() - 1) as u32
        });
        packet_slot.push(k);
        let slot = &mut slots[k as usize];
        if let Some(by_syn) = by_syn.filter(|_| !slot.1) {
            *slot = (by_syn, true);
        }
    }
    let others = obs.iter_mut().filter(|o| o.proto != Protocol::Icmp);
    for (o, &k) in others.zip(&packet_slot) {
        let (init, _) = slots[k as usize];
        o.packet.dir = if (o.src, o.sport) == init {
            Direction::Request
        } else {
            Direction::Reply
        };
    }
}

/// The error of a reader that stopped because the captures carry more distinct addresses
/// than an [`Addr`] can name (2^27 IPv6, or as many IPv4 in 240.0.0.0/4).
pub(crate) fn too_many_addresses(file: &str, record: u64, offset: Option<u64>) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        severity: Severity::Error,
        record: Some(record),
        offset,
        message: "the captures carry over 130 million distinct addresses of one kind, more than natcorr holds: stopped reading this file here; the analysis uses what came before and is partial".into(),
    }
}

/// Which items repeat an earlier one with the same key (among those `eligible`) within
/// [`DUPLICATE_WINDOW_NS`] of it.
fn repeats<T: Sync, K: Ord + std::hash::Hash>(
    items: &[T],
    eligible: impl Fn(&T) -> bool + Sync,
    key: impl Fn(&T) -> K + Sync,
    ts: impl Fn(&T) -> i64 + Sync,
) -> Vec<bool> {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let hasher = BuildHasherDefault::<rustc_hash::FxHasher>::default();
    // Sorted by the key's hash, then time and position: three machine words, on every core (a
    // sort comparing the keys themselves took 4 s for 1.5M observations). Equal keys are
    // adjacent in (time, position) order, as in a stable sort by (key, time); the rare run
    // of equal hashes that holds more than one key is sorted by its keys.
    let mut order: Vec<(u64, i64, u32)> = (0..items.len())
        .into_par_iter()
        .filter(|&i| eligible(&items[i]))
        .map(|i| (hasher.hash_one(key(&items[i])), ts(&items[i]), i as u32))
        .collect();
    order.par_sort_unstable();
    let mut dropped = vec![false; items.len()];
    // Each item within the window of the last kept one before it (the run in time order).
    let mut window = |run: &mut dyn Iterator<Item = usize>| {
        let mut kept: Option<usize> = None;
        for i in run {
            match kept {
                Some(k) if ts(&items[i]).saturating_sub(ts(&items[k])) <= DUPLICATE_WINDOW_NS => {
                    dropped[i] = true
                }
                _ => kept = Some(i),
            }
        }
    };
    for same_hash in order.chunk_by(|a, b| a.0 == b.0) {
        if same_hash.len() == 1 {
            continue;
        }
        // Keys built once per item, and only where a hash is shared.
        let mut keyed: Vec<(K, usize)> = same_hash
            .iter()
            .map(|&(_, _, i)| (key(&items[i as usize]), i as usize))
            .collect();
        if keyed.windows(2).all(|w| w[0].0 == w[1].0) {
            window(&mut keyed.into_iter().map(|(_, i)| i));
            continue;
        }
        // Stable: equal keys stay in (time, position) order.
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for same_key in keyed.chunk_by(|a, b| a.0 == b.0) {
            window(&mut same_key.iter().map(|&(_, i)| i));
        }
    }
    dropped
}

/// A capture point that has seen nothing yet; named once the whole file is read.
pub(crate) fn empty_point(file: String, link_type: String, ts_resolution_ns: u64) -> Point {
    Point {
        name: Name::default(),
        file,
        link_type,
        interface: None,
        packets: 0,
        echo_packets: 0,
        tcp_packets: 0,
        udp_packets: 0,
        fragments: 0,
        duplicates: 0,
        first_ns: None,
        last_ns: None,
        ts_resolution_ns,
    }
}

fn name_points<S: Source>(
    input: &Input,
    cap: &Capture<S>,
    keys: &HashMap<PointKey, usize>,
    points: &mut [Point],
) {
    let multi = keys.len() > 1;
    for (&(iface, ifindex), &idx) in keys {
        let if_name = cap
            .interfaces()
            .get(iface as usize)
            .and_then(|i| i.name.as_deref());
        let index = ifindex.unwrap_or(iface);
        let name = match (&input.name, multi) {
            (Some(n), false) => n.clone(),
            (Some(n), true) => match if_name {
                Some(i) if ifindex.is_none() => format!("{n}:{}", sanitize(i)),
                _ => format!("{n}#if{index}"),
            },
            (None, _) => {
                // An SLL2 interface index is more specific than the pcapng interface ("any").
                let if_name = if ifindex.is_some() { None } else { if_name };
                capture::point_name(&input.display(), if_name, multi, index)
            }
        };
        points[idx].name = name.into();
        points[idx].ts_resolution_ns = cap
            .interfaces()
            .get(iface as usize)
            .map_or(1, |i| i.resolution_ns);
        points[idx].interface = if multi { Some(index) } else { None };
    }
}

#[cfg(test)]
mod tests {
    use super::{repeats, DUPLICATE_WINDOW_NS};

    /// What `repeats` must find, by its definition: a stable sort by (key, time), each item
    /// dropped when it is within the window of the last kept item with its key.
    fn by_definition(items: &[(u8, i64)]) -> Vec<bool> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i]);
        let mut dropped = vec![false; items.len()];
        let mut kept: Option<usize> = None;
        for i in order {
            match kept {
                Some(k)
                    if items[k].0 == items[i].0
                        && items[i].1 - items[k].1 <= DUPLICATE_WINDOW_NS =>
                {
                    dropped[i] = true
                }
                _ => kept = Some(i),
            }
        }
        dropped
    }

    /// A key whose hash is the same for every value: every item lands in one run of equal
    /// hashes, the case that must fall back to comparing the keys themselves.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Colliding(u8);
    impl std::hash::Hash for Colliding {
        fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
    }

    fn items(n: usize) -> Vec<(u8, i64)> {
        // A small linear congruential generator: keys 0..4, times out of order, some equal.
        let mut x = 12345u64;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let key = (x >> 60) as u8 % 4;
                let ts = ((x >> 20) % 8) as i64 * (DUPLICATE_WINDOW_NS / 3);
                (key, ts)
            })
            .collect()
    }

    #[test]
    fn repeats_are_those_of_a_sort_by_key_and_time() {
        let items = items(500);
        let expected = by_definition(&items);
        assert!(expected.iter().any(|&d| d) && expected.iter().any(|&d| !d));
        let hashed = repeats(&items, |_| true, |i| i.0, |i| i.1);
        assert_eq!(hashed, expected);
        let colliding = repeats(&items, |_| true, |i| Colliding(i.0), |i| i.1);
        assert_eq!(colliding, expected);
    }

    #[test]
    fn items_not_eligible_are_never_dropped_nor_kept_for_others() {
        let items = [(1u8, 0i64), (1, 1), (1, 2)];
        // The middle one is not eligible: the third repeats the first.
        let dropped = repeats(&items, |i| i.1 != 1, |i| i.0, |i| i.1);
        assert_eq!(dropped, vec![false, false, true]);
    }
}
