//! Capture files: classic pcap and pcapng, framed record by record with file offsets,
//! so that every problem can be named by file, record and byte. Which format a file is
//! comes from its first bytes, never from its name.

mod naming;
mod pcap;
mod pcapng;
mod source;
mod split;
mod window;

pub use naming::{file_stem, point_name};
pub use source::{open as open_source, Compression, Opened};
pub use split::{At, Layout, PartWindow};

use std::io::Read;
pub use window::Source;
use window::Window;

/// The largest record natcorr accepts: tcpdump's default snaplen. Nothing larger is allocated.
pub const MAX_CAPLEN: u32 = 262_144;

/// An interface a capture was taken on (pcap: the one interface of the file).
#[derive(Clone, Debug)]
pub struct Interface {
    pub link_type: u32,
    pub name: Option<String>,
    pub snaplen: u32,
    /// One timestamp tick in nanoseconds (1000 for µs captures).
    pub resolution_ns: u64,
}

/// One captured frame, borrowed from the reader until the next call.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based record (pcap) or block (pcapng) number.
    pub record: u64,
    pub offset: u64,
    pub ts_ns: i64,
    /// Index into [`Capture::interfaces`].
    pub interface: u32,
    /// LINKTYPE_ of that interface.
    pub link_type: u32,
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Something wrong in a file, where it is, and whether reading can go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub record: Option<u64>,
    /// Byte offset in the (decompressed) stream; `None` for problems with the file as a whole.
    pub offset: Option<u64>,
    pub message: String,
    /// Reading stopped here: what follows in the file is not used.
    pub stops: bool,
    /// Nothing of the file could be used (bad header, not a capture).
    pub unusable: bool,
}

impl Problem {
    pub(crate) fn at(record: Option<u64>, offset: u64, message: impl Into<String>) -> Self {
        Problem {
            record,
            offset: Some(offset),
            message: message.into(),
            stops: false,
            unusable: false,
        }
    }
    /// A problem with the file as a whole (cannot open, not a capture).
    pub(crate) fn file(message: impl Into<String>) -> Self {
        Problem {
            offset: None,
            ..Problem::at(None, 0, message).unusable()
        }
    }

    pub(crate) fn stop(mut self) -> Self {
        self.stops = true;
        self
    }
    pub(crate) fn unusable(mut self) -> Self {
        self.stops = true;
        self.unusable = true;
        self
    }
}

/// What the reader yields next.
pub enum Event<'a> {
    Frame(Frame<'a>),
    Problem(Problem),
    End,
}

enum Inner {
    Pcap(pcap::PcapFramer),
    PcapNg(pcapng::PcapNgFramer),
}

/// Where a framed record's bytes are in the window; consumed after the frame was handed out.
struct Record {
    record: u64,
    offset: u64,
    ts_ns: i64,
    interface: u32,
    orig_len: u32,
    data_at: usize,
    caplen: usize,
    consume: usize,
}

/// What a framer found at the cursor. A record may come with a problem that does not stop reading.
enum Step {
    Record(Record, Option<Problem>),
    /// Bytes to skip (a block that holds no packet), with an optional problem.
    Skip(usize, Option<Problem>),
    Problem(Problem),
    End,
}

/// A capture file being read.
pub struct Capture<S: Source> {
    window: S,
    inner: Inner,
    interfaces: Vec<Interface>,
    /// A record whose problem was reported first; handed out on the next call.
    ready: Option<Record>,
    /// Bytes of the last handed-out record, consumed on the next call.
    to_consume: usize,
    /// Latest timestamp per interface, and what went backwards.
    latest: Vec<i64>,
    reordering: Option<Reordering>,
    /// Reading ends at the first record that starts at or past this offset (a part of a file
    /// read in parts, see [`Layout`]), and where it ended.
    stop_at: Option<u64>,
    stopped_at: Option<u64>,
}

/// Records whose timestamp is earlier than an earlier record's on the same interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reordering {
    pub first_record: u64,
    pub first_offset: u64,
    pub first_by_ns: i64,
    pub count: u64,
    pub max_by_ns: i64,
}

impl<R: Read> Capture<Window<R>> {
    /// Reads a capture from a stream (standard input, a decompressor, a slice).
    pub fn open(reader: R) -> Result<Self, Problem> {
        Capture::from_source(Window::new(reader))
    }
}

impl<S: Source> Capture<S> {
    /// Recognizes the container from its first bytes and reads its header.
    /// A file that is not a capture at all gives an unusable [`Problem`].
    fn from_source(mut window: S) -> Result<Self, Problem> {
        let head = window
            .fill(4)
            .map_err(|e| Problem::file(format!("cannot read: {e}")))?;
        if head.len() < 4 {
            let what = if head.is_empty() {
                "empty file".to_string()
            } else {
                format!(
                    "only {} bytes: too short for any capture header",
                    head.len()
                )
            };
            return Err(Problem::file(what));
        }
        let magic = [head[0], head[1], head[2], head[3]];
        let mut interfaces = Vec::new();
        let inner = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Inner::PcapNg(pcapng::PcapNgFramer::new())
        } else if pcap::is_magic(magic) {
            let framer = pcap::PcapFramer::open(&mut window)?;
            interfaces.push(framer.interface());
            Inner::Pcap(framer)
        } else {
            return Err(Problem::file(not_a_capture(magic)));
        };
        Ok(Capture::with(window, inner, interfaces))
    }

    fn with(window: S, inner: Inner, interfaces: Vec<Interface>) -> Self {
        Capture {
            window,
            inner,
            interfaces,
            ready: None,
            to_consume: 0,
            latest: Vec::new(),
            reordering: None,
            stop_at: None,
            stopped_at: None,
        }
    }

    /// Where a part read up to an offset ended: the first record at or past that offset
    /// (`None` while reading, or when the file ended or a problem stopped it first).
    pub fn stopped_at(&self) -> Option<u64> {
        self.stopped_at
    }

    /// Goes on past the offset a part stopped at, to the end of the file.
    pub fn resume(&mut self) {
        self.stop_at = None;
        self.stopped_at = None;
    }

    /// Records framed so far (pcap records, pcapng blocks), the last one's number.
    pub fn records(&self) -> u64 {
        match &self.inner {
            Inner::Pcap(f) => f.records(),
            Inner::PcapNg(f) => f.records(),
        }
    }

    /// What this reading declared: the pcapng section headers it framed (0 for classic pcap)
    /// and the interfaces it knows. A part of a file read in parts joins only when this is
    /// what its [`Layout`] expects: nothing declared beyond the file's head.
    pub fn declared(&self) -> (u32, usize) {
        let sections = match &self.inner {
            Inner::Pcap(_) => 0,
            Inner::PcapNg(f) => f.sections(),
        };
        (sections, self.interfaces.len())
    }

    /// Whether the framer gave a warning it gives once per file (pcapng).
    pub fn warned_once(&self) -> bool {
        match &self.inner {
            Inner::Pcap(_) => false,
            Inner::PcapNg(f) => f.warned_once(),
        }
    }

    /// Interfaces declared so far (pcapng declares them as it goes).
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Timestamps that went backwards so far (reported once per file, not per record).
    pub fn reordering(&self) -> Option<&Reordering> {
        self.reordering.as_ref()
    }

    /// The next frame, problem or the end. After a problem that stops, only `End` follows.
    pub fn next_event(&mut self) -> Event<'_> {
        self.window.consume(std::mem::take(&mut self.to_consume));
        let rec = match self.ready.take() {
            Some(r) => r,
            None => loop {
                if let Some(stop) = self.stop_at {
                    let at = self.window.offset();
                    if at >= stop {
                        self.stopped_at = Some(at);
                        return Event::End;
                    }
                }
                let step = match &mut self.inner {
                    Inner::Pcap(f) => f.next(&mut self.window),
                    Inner::PcapNg(f) => f.next(&mut self.window, &mut self.interfaces),
                };
                match step {
                    Step::Record(r, None) => break r,
                    Step::Record(r, Some(p)) => {
                        self.ready = Some(r);
                        return Event::Problem(p);
                    }
                    Step::Skip(n, problem) => {
                        self.window.consume(n);
                        if let Some(p) = problem {
                            return Event::Problem(p);
                        }
                    }
                    Step::Problem(p) => return Event::Problem(p),
                    Step::End => return Event::End,
                }
            },
        };
        self.to_consume = rec.consume;
        if rec.caplen == 0 {
            return self.next_event();
        }
        self.track_order(&rec);
        let link_type = self
            .interfaces
            .get(rec.interface as usize)
            .map_or(0, |i| i.link_type);
        // The framer made sure these bytes are in the window.
        let bytes = self.window.fill(rec.consume).unwrap_or(&[]);
        let data = bytes
            .get(rec.data_at..rec.data_at + rec.caplen)
            .unwrap_or(&[]);
        Event::Frame(Frame {
            record: rec.record,
            offset: rec.offset,
            ts_ns: rec.ts_ns,
            interface: rec.interface,
            link_type,
            orig_len: rec.orig_len,
            data,
        })
    }
}

impl<S: Source> Capture<S> {
    fn track_order(&mut self, rec: &Record) {
        let i = rec.interface as usize;
        if self.latest.len() <= i {
            self.latest.resize(i + 1, i64::MIN);
        }
        let latest = self.latest[i];
        if rec.ts_ns >= latest {
            self.latest[i] = rec.ts_ns;
            return;
        }
        let by = latest - rec.ts_ns;
        let r = self.reordering.get_or_insert(Reordering {
            first_record: rec.record,
            first_offset: rec.offset,
            first_by_ns: by,
            count: 0,
            max_by_ns: 0,
        });
        r.count += 1;
        r.max_by_ns = r.max_by_ns.max(by);
    }
}

fn not_a_capture(magic: [u8; 4]) -> String {
    let hint = match magic {
        [b'#' | b'/' | b'<' | b'{', ..] => " (looks like text)",
        [0x50, 0x4b, 0x03, 0x04] => " (a zip archive: extract it first)",
        [b'B', b'Z', b'h', _] => " (bzip2-compressed: decompress it first)",
        [0xfd, b'7', b'z', b'X'] => " (xz-compressed: decompress it first)",
        _ => "",
    };
    format!(
        "not a pcap or pcapng capture: starts with {:02x} {:02x} {:02x} {:02x}{hint}",
        magic[0], magic[1], magic[2], magic[3]
    )
}

/// Human name of a LINKTYPE_ value.
pub fn link_type_name(lt: u32) -> String {
    let name = match lt {
        0 => "NULL",
        1 => "EN10MB",
        9 => "PPP",
        12 | 101 => "RAW",
        50 => "PPP_HDLC",
        104 => "C_HDLC",
        105 => "IEEE802_11",
        107 => "FRELAY",
        108 => "LOOP",
        113 => "LINUX_SLL",
        226 => "IPNET",
        228 => "IPV4",
        229 => "IPV6",
        242 => "IPOIB",
        276 => "LINUX_SLL2",
        _ => return format!("LINKTYPE_{lt}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests;
