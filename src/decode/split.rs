//! One large classic pcap file, or pcapng file whose head declares its interfaces, read on several
//! cores. The file is cut into parts at byte offsets; every part after the first finds its first
//! record by resynchronizing on record headers or blocks ([`capture::Layout`]) and is read ahead,
//! in parallel with the first, by a scanner of its own. A part is joined only when the result is
//! what reading the file front to back gives: it begins exactly where the part before it stopped
//! (so its records are the file's records, whatever the search guessed), no timestamp goes
//! backwards across its start (records out of order inside a part are counted there and summed into
//! the file's warning; the search for late copies then runs over the joined observations, as for a
//! file read whole), and none of its first frames repeats a frame the part before it ended with (a
//! duplicate across the cut), and (pcapng) no part declared a section or an interface beyond the
//! file's head nor, after the first, gave a warning one reading gives once. Otherwise, or when a
//! part meets the memory budget, the first part reads on alone to the end, as if the file had never
//! been cut: splitting changes the time it takes, never the result. Parts read ahead hold their
//! memory apart ([`Budget::take_ahead`]): it makes them give up, never the first part, which meets
//! the budget where one reading would; they join only when what they hold fits.

use super::file::{Ended, FileScan, Part, PointKey, Scanner, MAX_LISTED};
use super::{Budget, Progress};
use crate::capture::{self, Capture, Layout, Reordering, Source};
use crate::model::{Input, Protocols, DUPLICATE_WINDOW_NS};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};

/// Files are cut into parts of at least this many bytes, at most one per core.
pub const MIN_PART: u64 = 64 << 20;

/// How reading in parts went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Parts the file was cut into.
    pub parts: usize,
    /// Parts whose reading made the result (1: the first part read the whole file).
    pub joined: usize,
}

/// Reads `input` in parts of at least `min_part` bytes, when it is a regular file holding an
/// uncompressed classic pcap capture, or pcapng capture whose head declares its interfaces,
/// large enough for two parts and there are two cores;
/// `None` (nothing read) otherwise.
pub fn read(
    input: &Input,
    progress: Progress,
    budget: &Budget,
    protocols: Protocols,
    min_part: u64,
) -> Option<(FileScan, Split)> {
    let cores = rayon::current_num_threads();
    if cores < 2 || input.path.as_os_str() == "-" {
        return None;
    }
    // Never a FIFO or a device: they cannot be read twice, nor at an offset; and opening a FIFO
    // here would take its writer from the reading that follows. Asked before opening, as is
    // the size: a file too small for two parts is not opened twice.
    let parts_of = |meta: std::fs::Metadata| {
        let parts = (meta.len() / min_part.max(1)).min(cores as u64) as usize;
        (meta.is_file() && parts >= 2).then_some(parts)
    };
    parts_of(std::fs::metadata(&input.path).ok()?)?;
    let file = File::open(&input.path).ok()?;
    let parts = parts_of(file.metadata().ok()?)?;
    let layout = Layout::of(&file)?;
    let mut starts = vec![layout.first_record()];
    for k in 1..parts {
        let at = layout.resync(&file, k as u64 * layout.file_len() / parts as u64)?;
        if at <= *starts.last()? {
            return None;
        }
        starts.push(at);
    }
    let ahead = AtomicBool::new(false);
    let (first, rest) = rayon::join(
        || {
            let mut cap = layout.part(&file, starts[0], Some(starts[1]));
            let mut scanner = Scanner::new(input, progress, budget, protocols, None);
            let mut ended = scanner.run(&mut cap, Some(&ahead));
            // The parts ahead gave up before this one reached them: read on alone.
            while ended == Ended::End && cap.stopped_at().is_some() && ahead.load(Ordering::Relaxed)
            {
                cap.resume();
                ended = scanner.run(&mut cap, None);
            }
            (scanner, cap, ended)
        },
        || {
            (1..parts)
                .into_par_iter()
                .map(|k| {
                    let mut cap = layout.part(&file, starts[k], starts.get(k + 1).copied());
                    let part = Some((Part::default(), starts[k]));
                    let mut scanner = Scanner::new(input, progress, budget, protocols, part);
                    let ended = scanner.run(&mut cap, Some(&ahead));
                    Ahead {
                        start: starts[k],
                        scanner,
                        cap,
                        ended,
                    }
                })
                .collect::<Vec<_>>()
        },
    );
    let (mut scanner, mut cap, ended) = first;
    let mut joined = 1;
    // Every part framed what the file's head declares, and nothing more; none after the first
    // gave a warning one reading gives once.
    let as_head = cap.declared() == layout.declared(true)
        && rest
            .iter()
            .all(|a| a.cap.declared() == layout.declared(false) && !a.cap.warned_once());
    let plan = (ended == Ended::End && !ahead.load(Ordering::Relaxed) && as_head)
        .then(|| plan(&scanner, &cap, &rest))
        .flatten()
        // What the parts read ahead hold joins what the first holds, within the budget.
        .filter(|(steps, _)| {
            let held = rest[..steps.len()].iter().map(|a| a.scanner.accounted);
            budget.join_ahead(held.sum())
        });
    let mut rest = rest.into_iter();
    let reordering = match plan {
        Some((steps, reordering)) => {
            for (step, part) in steps.iter().zip(rest.by_ref()) {
                absorb(&mut scanner, part.scanner, step);
                joined += 1;
            }
            reordering
        }
        None => {
            if cap.stopped_at().is_some() {
                cap.resume();
                scanner.run(&mut cap, None);
            }
            cap.reordering().cloned()
        }
    };
    // Parts read for nothing: what they counted against the budget is free again.
    for part in rest {
        budget.give_back_ahead(part.scanner.accounted);
    }
    Some((
        scanner.finish(&cap, reordering.as_ref()),
        Split { parts, joined },
    ))
}

/// A part read ahead: where it began, its scanner and reader, and how it ended.
struct Ahead<'a> {
    start: u64,
    scanner: Scanner<'a>,
    cap: Capture<capture::PartWindow<'a>>,
    ended: Ended,
}

/// How one part's results join the ones before it: its points' numbers in the file, and how
/// many records come before it.
struct Step {
    points: Vec<u32>,
    records_before: u64,
}

/// The parts that join the first one (stopped where the second begins), in file order: each
/// one begins where the one before it stopped, and reading the file front to back would have
/// seen the same (see the module's documentation). After a part the file ended in, or where a
/// problem stopped reading, the rest are not used, as one reading would not have used them.
/// `None` when a part cannot be joined: the first part then reads on alone.
fn plan<S: Source>(
    first: &Scanner,
    cap: &Capture<S>,
    rest: &[Ahead],
) -> Option<(Vec<Step>, Option<Reordering>)> {
    let mut reordering = cap.reordering().cloned();
    let mut at = cap.stopped_at()?;
    let mut records_before = cap.records();
    let mut latest = latest_ns(first)?;
    let mut tail: FxHashMap<(u32, u64), i64> = first.dups.last.clone();
    let mut keys: FxHashMap<PointKey, u32> =
        first.keys.iter().map(|(&k, &i)| (k, i as u32)).collect();
    let mut steps = Vec::new();
    for a in rest {
        let part = a.scanner.part.as_ref()?;
        if a.ended != Ended::End || a.start != at {
            return None;
        }
        // Time does not go back across the cut: a record out of order inside the part is then
        // out of order, by as much, in the whole file (the latest time before it is the part's).
        let first_ns = part.first_ns?;
        if first_ns < latest {
            return None;
        }
        if let Some(r) = a.cap.reordering() {
            reordering = Some(match reordering {
                None => Reordering {
                    first_record: r.first_record + records_before,
                    ..r.clone()
                },
                Some(before) => Reordering {
                    count: before.count + r.count,
                    max_by_ns: before.max_by_ns.max(r.max_by_ns),
                    ..before
                },
            });
        }
        let points: Vec<u32> = local_keys(&a.scanner)
            .into_iter()
            .map(|k| {
                let n = keys.len() as u32;
                *keys.entry(k).or_insert(n)
            })
            .collect();
        let copy_across = part.head.iter().any(|&(p, ts, id)| {
            tail.get(&(points[p as usize], id))
                .is_some_and(|&t| t.abs_diff(ts) <= DUPLICATE_WINDOW_NS as u64)
        });
        if copy_across {
            return None;
        }
        let (stopped_at, part_latest) = (a.cap.stopped_at(), latest_ns(&a.scanner)?);
        tail = a
            .scanner
            .dups
            .last
            .iter()
            .map(|(&(p, id), &t)| ((points[p as usize], id), t))
            .collect();
        steps.push(Step {
            points,
            records_before,
        });
        records_before += a.cap.records();
        latest = part_latest;
        match stopped_at {
            // The next part's first frames are checked against this part's last ones alone.
            Some(_) if part_latest - first_ns <= DUPLICATE_WINDOW_NS => return None,
            Some(x) => at = x,
            None => break,
        }
    }
    Some((steps, reordering))
}

/// The latest timestamp a scanner read (its last frame's, where time never went back).
fn latest_ns(scanner: &Scanner) -> Option<i64> {
    scanner.scan.points.iter().filter_map(|p| p.last_ns).max()
}

/// A scanner's point keys in the order of its points.
fn local_keys(scanner: &Scanner) -> Vec<PointKey> {
    let mut keys = vec![(0, None); scanner.scan.points.len()];
    for (&k, &i) in &scanner.keys {
        keys[i] = k;
    }
    keys
}

/// Adds a part's results to the first part's, as if one scanner had read both.
fn absorb(main: &mut Scanner, part: Scanner, step: &Step) {
    let Step {
        points: map,
        records_before: base,
    } = step;
    let (base, to) = (*base, |p: u32| map[p as usize]);
    let keys = local_keys(&part);
    let Scanner {
        diags,
        scan,
        fragments,
        first_fragments,
        unusable,
        unsupported,
        accounted,
        ..
    } = part;
    let FileScan {
        points,
        observations,
        errors,
        diagnostics: _,
        cut_headers,
        old_digests: _,
    } = scan;
    for (i, p) in points.into_iter().enumerate() {
        let g = map[i] as usize;
        if g == main.scan.points.len() {
            main.keys.insert(keys[i], g);
            main.scan.points.push(p);
        } else {
            add_counts(&mut main.scan.points[g], p);
        }
    }
    let first = main.scan.observations.len();
    main.scan.observations.reserve_exact(observations.len());
    main.scan
        .observations
        .extend(observations.into_iter().map(|mut o| {
            o.point = to(o.point);
            o.record += base;
            o
        }));
    main.scan.errors.extend(errors.into_iter().map(|mut e| {
        e.point = to(e.point);
        e.record += base;
        e
    }));
    main.scan
        .cut_headers
        .extend(cut_headers.into_iter().map(|i| i + first as u32));
    for ((p, key), n) in fragments {
        *main.fragments.entry((to(p), key)).or_default() += n;
    }
    main.first_fragments.extend(
        first_fragments
            .into_iter()
            .map(|(i, (p, key))| (i + first, (to(p), key))),
    );
    for (why, (record, n)) in unusable {
        main.unusable.entry(why).or_insert((record + base, 0)).1 += n;
    }
    for (link_type, n) in unsupported {
        *main.unsupported.entry(link_type).or_default() += n;
    }
    for mut d in diags.list {
        if main.diags.list.len() >= MAX_LISTED {
            main.diags.unlisted += 1;
        } else {
            d.record = d.record.map(|r| r + base);
            main.diags.list.push(d);
        }
    }
    main.diags.unlisted += diags.unlisted;
    main.accounted += accounted;
}

/// One point's counts from a later part added to the same point's.
fn add_counts(to: &mut crate::model::Point, from: crate::model::Point) {
    let crate::model::Point {
        name: _,
        file: _,
        link_type: _,
        interface: _,
        packets,
        echo_packets,
        tcp_packets,
        udp_packets,
        fragments,
        duplicates,
        first_ns,
        last_ns,
        ts_resolution_ns: _,
    } = from;
    to.packets += packets;
    to.echo_packets += echo_packets;
    to.tcp_packets += tcp_packets;
    to.udp_packets += udp_packets;
    to.fragments += fragments;
    to.duplicates += duplicates;
    to.first_ns = match (to.first_ns, first_ns) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    to.last_ns = to.last_ns.max(last_ns);
}
