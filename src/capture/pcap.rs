//! Classic pcap: a 24-byte header, then records of a 16-byte header and the frame.
//! Both byte orders, µs and ns magic, and Kuznetzov's "modified" variant (24-byte record headers).

use super::window::Source;
use super::{Interface, Problem, Record, Step, MAX_CAPLEN};
use pcap_file::pcap::PcapHeader;
use pcap_file::pcap::PcapTsResolution;
use pcap_file::Endianness;

const MODIFIED_LE: [u8; 4] = [0x34, 0xcd, 0xb2, 0xa1];
const MODIFIED_BE: [u8; 4] = [0xa1, 0xb2, 0xcd, 0x34];

pub fn is_magic(m: [u8; 4]) -> bool {
    matches!(
        m,
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
    ) || m == MODIFIED_LE
        || m == MODIFIED_BE
}

#[derive(Clone)]
pub struct PcapFramer {
    big_endian: bool,
    nanos: bool,
    record_header: usize,
    snaplen: u32,
    link_type: u32,
    record: u64,
    done: bool,
}

impl PcapFramer {
    pub fn open<S: Source>(w: &mut S) -> Result<Self, Problem> {
        let head = w
            .fill(24)
            .map_err(|e| Problem::at(None, 0, format!("cannot read: {e}")).unusable())?;
        if head.len() < 24 {
            return Err(Problem::at(
                None,
                0,
                format!("pcap file header cut short: {} of 24 bytes", head.len()),
            )
            .unusable());
        }
        let magic = [head[0], head[1], head[2], head[3]];
        let modified = magic == MODIFIED_LE || magic == MODIFIED_BE;
        let (big_endian, nanos, snaplen, link_type, major, minor) = if modified {
            // pcap-file does not know this variant; its header is otherwise the classic one.
            let be = magic == MODIFIED_BE;
            let rd16 = |o: usize| read_u16(&head[o..o + 2], be);
            let rd32 = |o: usize| read_u32(&head[o..o + 4], be);
            (be, false, rd32(16), rd32(20), rd16(4), rd16(6))
        } else {
            let (_, h): (_, PcapHeader) = PcapHeader::from_slice(&head[..24]).map_err(|e| {
                Problem::at(None, 0, format!("bad pcap file header: {e}")).unusable()
            })?;
            (
                h.endianness == Endianness::Big,
                h.ts_resolution == PcapTsResolution::NanoSecond,
                h.snaplen,
                u32::from(h.datalink),
                h.version_major,
                h.version_minor,
            )
        };
        if major != 2 {
            return Err(Problem::at(
                None,
                4,
                format!("unsupported pcap version {major}.{minor} (only 2.x exists in the wild)"),
            )
            .unusable());
        }
        w.consume(24);
        Ok(PcapFramer {
            big_endian,
            nanos,
            record_header: if modified { 24 } else { 16 },
            snaplen,
            // The upper bits carry FCS information, not the link type.
            link_type: link_type & 0xffff,
            record: 0,
            done: false,
        })
    }

    /// Ready to frame a part of the file from its first record (numbered 1 again).
    pub fn restart(&mut self) {
        self.record = 0;
        self.done = false;
    }

    pub fn records(&self) -> u64 {
        self.record
    }

    pub fn record_header(&self) -> usize {
        self.record_header
    }

    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    pub fn nanos(&self) -> bool {
        self.nanos
    }

    pub fn interface(&self) -> Interface {
        Interface {
            link_type: self.link_type,
            name: None,
            snaplen: self.snaplen,
            resolution_ns: if self.nanos { 1 } else { 1000 },
        }
    }

    pub fn next<S: Source>(&mut self, w: &mut S) -> Step {
        if self.done {
            return Step::End;
        }
        let offset = w.offset();
        let rh = self.record_header;
        let head = match w.fill(rh) {
            Ok(h) => h,
            Err(e) => {
                return self.fail(
                    Problem::at(Some(self.record + 1), offset, format!("read error: {e}")).stop(),
                )
            }
        };
        if head.is_empty() {
            self.done = true;
            return Step::End;
        }
        self.record += 1;
        let record = Some(self.record);
        if head.len() < rh {
            let n = head.len();
            return self.fail(
                Problem::at(
                    record,
                    offset,
                    format!("file ends inside a record header ({n} of {rh} bytes): the capture was cut while being written"),
                )
                .stop(),
            );
        }
        let be = self.big_endian;
        let sec = read_u32(&head[0..4], be);
        let frac = read_u32(&head[4..8], be);
        let caplen = read_u32(&head[8..12], be);
        let orig_len = read_u32(&head[12..16], be);
        if caplen > MAX_CAPLEN {
            return self.fail(
                Problem::at(
                    record,
                    offset,
                    format!(
                        "record claims {caplen} captured bytes, more than the {MAX_CAPLEN}-byte limit: the file is corrupt from here on"
                    ),
                )
                .stop(),
            );
        }
        let total = rh + caplen as usize;
        let available = match w.fill(total) {
            Ok(b) => b.len(),
            Err(e) => {
                return self.fail(Problem::at(record, offset, format!("read error: {e}")).stop())
            }
        };
        if available < total {
            let have = available - rh;
            return self.fail(
                Problem::at(
                    record,
                    offset,
                    format!("last record cut short: {have} of {caplen} bytes present (the capture was cut while being written)"),
                )
                .stop(),
            );
        }
        let frac_ns = if self.nanos {
            frac as i64
        } else {
            frac as i64 * 1000
        };
        let ts_ns = sec as i64 * 1_000_000_000 + frac_ns;
        let rec = Record {
            record: self.record,
            offset,
            ts_ns,
            interface: 0,
            orig_len,
            data_at: rh,
            caplen: caplen as usize,
            consume: total,
        };
        let warn = if caplen == 0 {
            Some("zero-length record".to_string())
        } else if caplen > self.snaplen && self.snaplen != 0 {
            Some(format!(
                "captured length {caplen} exceeds the file's snaplen {}",
                self.snaplen
            ))
        } else {
            None
        };
        Step::Record(rec, warn.map(|m| Problem::at(record, offset, m)))
    }

    fn fail(&mut self, p: Problem) -> Step {
        self.done = true;
        Step::Problem(p)
    }
}

pub fn read_u16(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

pub fn read_u32(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}
