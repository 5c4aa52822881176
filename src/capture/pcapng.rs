//! pcapng: blocks framed here (lengths checked against the stream and a fixed bound, offsets
//! known), their contents decoded by pcap-file (options, `if_tsresol`, `if_tsoffset`).
//! Several sections and interfaces; interface indexes are made global across sections.

use super::pcap::{read_u16, read_u32};
use super::window::Source;
use super::{Interface, Problem, Record, Step, MAX_CAPLEN};
use pcap_file::pcapng::{Block, PcapNgParser};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
pub(super) const PB: u32 = 2;
pub(super) const SPB: u32 = 3;
pub(super) const EPB: u32 = 6;
/// Known block types that carry no packet: NRB, ISB, systemd journal, decryption secrets, custom.
pub(super) const KNOWN_OTHER: [u32; 6] = [4, 5, 9, 10, 0x0BAD, 0x4000_0BAD];
/// A block holds at most one maximal packet plus generous room for options.
pub(super) const MAX_BLOCK: usize = MAX_CAPLEN as usize + 65_536;

pub struct PcapNgFramer {
    parser: Option<PcapNgParser>,
    big_endian: bool,
    /// Global index of this section's first interface.
    base: u32,
    /// Interfaces declared in this section.
    local: u32,
    /// Section header blocks framed (a file read in parts checks that its structure is the
    /// head's throughout: see [`super::split`]).
    sections: u32,
    block: u64,
    /// Timestamp of the previous packet, for simple packet blocks (which have none).
    last_ts: i64,
    done: bool,
    scratch: Vec<u8>,
    warned_unaligned: bool,
    /// A timestamp beyond what i64 nanoseconds hold was reported (once per file).
    warned_timestamp: bool,
    /// Per interface (numbered across sections): a timestamp resolution read by natcorr itself.
    own_clocks: Vec<Option<OwnClock>>,
}

impl PcapNgFramer {
    /// Blocks framed so far.
    pub fn records(&self) -> u64 {
        self.block
    }

    pub fn new() -> Self {
        PcapNgFramer {
            parser: None,
            big_endian: false,
            base: 0,
            local: 0,
            sections: 0,
            block: 0,
            last_ts: i64::MIN,
            done: false,
            scratch: Vec::new(),
            warned_unaligned: false,
            warned_timestamp: false,
            own_clocks: Vec::new(),
        }
    }

    /// Section header blocks framed so far.
    pub fn sections(&self) -> u32 {
        self.sections
    }

    /// Whether a warning given once per file was given (a block length not a multiple of 4, a
    /// timestamp past 2262): a part read ahead that gave one is not joined, as one reading
    /// would not give it twice.
    pub fn warned_once(&self) -> bool {
        self.warned_unaligned || self.warned_timestamp
    }

    /// Whether this section is big-endian.
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    /// After the file's head (its section header and interfaces) was framed from a copy: goes
    /// on as if from the start of a part, blocks and sections counted from there.
    pub fn restart(&mut self) {
        self.block = 0;
        self.sections = 0;
        self.done = false;
    }

    pub fn next<S: Source>(&mut self, w: &mut S, interfaces: &mut Vec<Interface>) -> Step {
        if self.done {
            return Step::End;
        }
        let offset = w.offset();
        let head = match w.fill(12) {
            Ok(h) => h,
            Err(e) => {
                return self.fail(
                    Problem::at(Some(self.block + 1), offset, format!("read error: {e}")).stop(),
                )
            }
        };
        if head.is_empty() {
            self.done = true;
            return Step::End;
        }
        self.block += 1;
        let at = Some(self.block);
        if head.len() < 12 {
            let n = head.len();
            return self.fail(
                Problem::at(at, offset, format!("file ends inside a block header ({n} of 12 bytes): the capture was cut while being written"))
                    .stop(),
            );
        }
        let type_be = read_u32(&head[0..4], true);
        let is_shb = type_be == SHB;
        if is_shb {
            match [head[8], head[9], head[10], head[11]] {
                [0x1a, 0x2b, 0x3c, 0x4d] => self.big_endian = true,
                [0x4d, 0x3c, 0x2b, 0x1a] => self.big_endian = false,
                m => {
                    let p = Problem::at(
                        at,
                        offset,
                        format!(
                            "section header has a bad byte-order magic {:02x}{:02x}{:02x}{:02x}",
                            m[0], m[1], m[2], m[3]
                        ),
                    );
                    return self.fail(if self.parser.is_none() {
                        p.unusable()
                    } else {
                        p.stop()
                    });
                }
            }
        } else if self.parser.is_none() {
            return self.fail(
                Problem::at(
                    at,
                    offset,
                    "pcapng file does not start with a section header block",
                )
                .unusable(),
            );
        }
        let be = self.big_endian;
        let btype = read_u32(&head[0..4], be);
        let len = read_u32(&head[4..8], be) as usize;
        if !(12..=MAX_BLOCK).contains(&len) {
            let p = Problem::at(
                at,
                offset,
                format!("block of type 0x{btype:x} claims a length of {len} bytes (allowed 12..{MAX_BLOCK}): the file is corrupt from here on"),
            );
            return self.fail(if self.parser.is_none() {
                p.unusable()
            } else {
                p.stop()
            });
        }
        // Some early writers stored the unpadded length; the block still occupies whole words.
        let extent = len.next_multiple_of(4);
        let bytes = match w.fill(extent) {
            Ok(b) => b,
            Err(e) => return self.fail(Problem::at(at, offset, format!("read error: {e}")).stop()),
        };
        if bytes.len() < extent {
            let have = bytes.len();
            let p = Problem::at(
                at,
                offset,
                format!("last block cut short: {have} of {len} bytes present (the capture was cut while being written)"),
            );
            return self.fail(if self.parser.is_none() {
                p.unusable()
            } else {
                p.stop()
            });
        }
        let trailer = read_u32(&bytes[extent - 4..extent], be) as usize;
        if trailer != len {
            let p = Problem::at(
                at,
                offset,
                format!("block length {len} does not match its trailer {trailer}: the file is corrupt from here on"),
            );
            return self.fail(if self.parser.is_none() {
                p.unusable()
            } else {
                p.stop()
            });
        }
        let mut note = None;
        let block: &[u8] = if extent != len {
            self.scratch.clear();
            self.scratch.extend_from_slice(&bytes[..extent]);
            let fixed = if be {
                (extent as u32).to_be_bytes()
            } else {
                (extent as u32).to_le_bytes()
            };
            self.scratch[4..8].copy_from_slice(&fixed);
            self.scratch[extent - 4..].copy_from_slice(&fixed);
            if !self.warned_unaligned {
                self.warned_unaligned = true;
                note = Some(Problem::at(
                    at,
                    offset,
                    format!("block length {len} is not a multiple of 4; read as {extent} bytes (as Wireshark does)"),
                ));
            }
            &self.scratch
        } else {
            &bytes[..extent]
        };

        if is_shb {
            let major = u16::from_le_bytes([block[12], block[13]]);
            let major = if be { major.swap_bytes() } else { major };
            if major != 1 {
                let minor = if be {
                    u16::from_be_bytes([block[14], block[15]])
                } else {
                    u16::from_le_bytes([block[14], block[15]])
                };
                let p = Problem::at(
                    at,
                    offset,
                    format!("unsupported pcapng version {major}.{minor}"),
                );
                return self.fail(if self.parser.is_none() {
                    p.unusable()
                } else {
                    p.stop()
                });
            }
            let cleaned = without_text_options(block, be, SHB_BODY).block;
            return match PcapNgParser::new(&cleaned) {
                Ok((_, parser)) => {
                    self.parser = Some(parser);
                    self.sections += 1;
                    self.base = interfaces.len() as u32;
                    self.local = 0;
                    Step::Skip(extent, note)
                }
                Err(e) => {
                    let p = Problem::at(at, offset, format!("bad section header block: {e}"));
                    self.fail(if self.parser.is_none() {
                        p.unusable()
                    } else {
                        p.stop()
                    })
                }
            };
        }
        if btype == EPB || btype == PB {
            // Name the undeclared interface ourselves: pcap-file's error would not say how many there are.
            let id = if btype == EPB {
                read_u32(&block[8..12], be)
            } else {
                u32::from(read_u16(&block[8..10], be))
            };
            if id >= self.local {
                let n = self.local;
                return Step::Skip(
                    extent,
                    Some(Problem::at(at, offset, format!("packet names interface {id}, but this section declared only {n}: packet skipped"))),
                );
            }
        }
        if !matches!(btype, IDB | PB | SPB | EPB) {
            let problem = if KNOWN_OTHER.contains(&btype) {
                note
            } else {
                Some(Problem::at(
                    at,
                    offset,
                    format!("unknown block type 0x{btype:08x} skipped"),
                ))
            };
            return Step::Skip(extent, problem);
        }
        let parser = self.parser.as_mut().expect("a section header came first");
        // Text options are read here, lossily: pcap-file rejects a whole block (and with an IDB,
        // every packet of that interface) whose text option is not UTF-8; tshark reads them.
        let mut idb = Cleaned::default();
        let block = if btype == IDB {
            idb = without_text_options(block, be, IDB_BODY);
            &idb.block[..]
        } else {
            block
        };
        let parsed = match parser.next_block(block) {
            Ok((_, b)) => b,
            Err(e) => {
                return Step::Skip(
                    extent,
                    Some(Problem::at(
                        at,
                        offset,
                        format!("malformed {} block skipped: {e}", block_name(btype)),
                    )),
                );
            }
        };
        let (interface, ts, orig_len, data_at, caplen) = match parsed {
            Block::InterfaceDescription(parsed) => {
                let resolution_ns = match idb.own_clock {
                    Some(c) => c.nanos(1).clamp(1, i128::from(u32::MAX)) as u64,
                    None => parsed.ts_resolution().decode_timestamp(1).as_nanos() as u64,
                };
                interfaces.push(Interface {
                    link_type: u32::from(parsed.linktype),
                    name: idb.if_name,
                    snaplen: parsed.snaplen,
                    resolution_ns: resolution_ns.max(1),
                });
                self.own_clocks.push(idb.own_clock);
                self.local += 1;
                return Step::Skip(extent, note);
            }
            Block::EnhancedPacket(p) => {
                let global = (self.base + p.interface_id) as usize;
                let ts = match self.own_clocks.get(global).copied().flatten() {
                    // A resolution pcap-file does not take: the raw count, read here.
                    Some(clock) => {
                        let raw = (u64::from(read_u32(&block[12..16], be)) << 32)
                            | u64::from(read_u32(&block[16..20], be));
                        let ns = clock.nanos(raw);
                        std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
                    }
                    None => p.timestamp,
                };
                (p.interface_id, ts, p.original_len, 28, p.data.len())
            }
            Block::Packet(p) => (
                u32::from(p.interface_id),
                p.timestamp,
                p.original_len,
                28,
                p.data.len(),
            ),
            Block::SimplePacket(p) => {
                if self.local == 0 {
                    return Step::Skip(
                        extent,
                        Some(Problem::at(
                            at,
                            offset,
                            "simple packet block before any interface: skipped",
                        )),
                    );
                }
                // A snaplen of 0 means no limit.
                let snaplen = interfaces[self.base as usize].snaplen as usize;
                let caplen = if snaplen == 0 {
                    p.data.len()
                } else {
                    p.data.len().min(snaplen)
                };
                // Simple packets carry no timestamp: they get the previous packet's.
                (
                    0,
                    std::time::Duration::from_nanos(self.last_ts.max(0) as u64),
                    p.original_len,
                    12,
                    caplen,
                )
            }
            _ => return Step::Skip(extent, note),
        };
        let ts_ns = match i64::try_from(ts.as_nanos()) {
            Ok(t) => t,
            Err(_) => {
                if !self.warned_timestamp {
                    self.warned_timestamp = true;
                    let secs = ts.as_secs();
                    note = Some(Problem::at(
                        at,
                        offset,
                        format!("timestamp {secs} s after 1970 is beyond 2262-04-11, the latest natcorr represents: shown as that date, timing from this interface is meaningless"),
                    ));
                }
                i64::MAX
            }
        };
        self.last_ts = ts_ns;
        let rec = Record {
            record: self.block,
            offset,
            ts_ns,
            interface: self.base + interface,
            orig_len,
            data_at,
            caplen,
            consume: extent,
        };
        Step::Record(rec, note)
    }

    fn fail(&mut self, p: Problem) -> Step {
        self.done = true;
        Step::Problem(p)
    }
}

/// Bytes before the options: SHB (type, length, byte-order magic, version, section length),
/// IDB (type, length, link type, reserved, snaplen).
const SHB_BODY: usize = 24;
const IDB_BODY: usize = 16;

/// pcapng option codes (RFC draft, section 3.5 and 4.2).
mod option {
    pub const END: u16 = 0;
    pub const COMMENT: u16 = 1;
    pub const IF_NAME: u16 = 2;
    pub const IF_DESCRIPTION: u16 = 3;
    pub const IF_OS: u16 = 12;
    pub const IF_TSRESOL: u16 = 9;
    pub const IF_TSOFFSET: u16 = 14;
    pub const IF_HARDWARE: u16 = 15;
    pub const CUSTOM_TEXT: [u16; 2] = [2988, 19372];
}

/// An IDB's timestamp units where pcap-file cannot decode them (binary finer than 2^-29 or
/// decimal finer than 10^-9 s: pcapng allows any), with the interface's `if_tsoffset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OwnClock {
    /// The resolution byte: high bit set, 2^-n s; else 10^-n s.
    resolution: u8,
    offset_s: i64,
}

impl OwnClock {
    /// Nanoseconds since the epoch of `raw` units.
    fn nanos(self, raw: u64) -> i128 {
        let n = u32::from(self.resolution & 0x7f);
        let since = if self.resolution & 0x80 != 0 {
            (i128::from(raw) * 1_000_000_000) >> n.min(127)
        } else if n >= 9 {
            i128::from(raw) / 10i128.pow((n - 9).min(38))
        } else {
            i128::from(raw) * 10i128.pow(9 - n)
        };
        since + i128::from(self.offset_s) * 1_000_000_000
    }
}

/// A block made safe for pcap-file, and what natcorr read from it itself.
#[derive(Default)]
struct Cleaned {
    block: Vec<u8>,
    if_name: Option<String>,
    own_clock: Option<OwnClock>,
}

/// The block with its text options removed (SHB: every option; natcorr reads none), the
/// interface name read lossily (bytes that are not UTF-8 become U+FFFD), and an `if_tsresol`
/// pcap-file would reject taken out and kept in `own_clock`. A malformed option list ends the
/// walk: what came before is kept.
fn without_text_options(block: &[u8], be: bool, body: usize) -> Cleaned {
    let mut out = block[..body.min(block.len())].to_vec();
    let mut name = None;
    let mut resolution = None;
    let mut offset_s = 0i64;
    let mut at = body;
    let end = block.len().saturating_sub(4);
    while at + 4 <= end {
        let code = read_u16(&block[at..at + 2], be);
        let len = usize::from(read_u16(&block[at + 2..at + 4], be));
        let Some(value) = block
            .get(at + 4..at + 4 + len)
            .filter(|_| at + 4 + len <= end)
        else {
            break;
        };
        let padded = 4 + len.next_multiple_of(4);
        if code == option::END {
            break;
        }
        let text = code == option::COMMENT
            || code == option::IF_NAME
            || code == option::IF_DESCRIPTION
            || code == option::IF_OS
            || code == option::IF_HARDWARE
            || option::CUSTOM_TEXT.contains(&code);
        let mut keep = !text && body == IDB_BODY;
        if body == IDB_BODY {
            match code {
                option::IF_NAME => name = Some(String::from_utf8_lossy(value).into_owned()),
                option::IF_TSRESOL if len == 1 => {
                    let r = value[0];
                    let n = r & 0x7f;
                    if (r & 0x80 != 0 && n > 29) || (r & 0x80 == 0 && n > 9) {
                        resolution = Some(r);
                        keep = false;
                    }
                }
                option::IF_TSOFFSET if len == 8 => {
                    let bytes: [u8; 8] = value.try_into().unwrap_or_default();
                    offset_s = if be {
                        i64::from_be_bytes(bytes)
                    } else {
                        i64::from_le_bytes(bytes)
                    };
                }
                _ => {}
            }
        }
        if keep {
            out.extend_from_slice(&block[at..(at + padded).min(end)]);
        }
        at += padded;
    }
    if out.len() > body {
        out.extend_from_slice(&[0; 4]); // opt_endofopt
    }
    let total = (out.len() + 4) as u32;
    let bytes = if be {
        total.to_be_bytes()
    } else {
        total.to_le_bytes()
    };
    out[4..8].copy_from_slice(&bytes);
    out.extend_from_slice(&bytes);
    Cleaned {
        block: out,
        if_name: name,
        own_clock: resolution.map(|resolution| OwnClock {
            resolution,
            offset_s,
        }),
    }
}

fn block_name(t: u32) -> &'static str {
    match t {
        IDB => "interface description",
        PB => "packet",
        SPB => "simple packet",
        EPB => "enhanced packet",
        _ => "unknown",
    }
}
