//! One capture file read as several parts at once: where each part begins is found by
//! resynchronizing on record headers from a byte offset (a classic pcap record header is
//! plausible when its lengths and timestamp are, a pcapng block when its type is a packet's or
//! another known one, its length is bounded and repeated in its trailer; and so are the next
//! ones it leads to). A part stops at the first record that starts at or past its end; the
//! caller accepts the parts only where each one stopped exactly where the next one began, so a
//! wrong guess costs time, never a packet. A pcapng file is read in parts when its head (the
//! blocks before its first packet) is one section with its interfaces (one or several: dumpcap
//! declares every interface it captures on first): every part frames that head first, and the
//! caller joins the parts only where none declared another section or interface
//! ([`Capture::declared`]) nor gave again a warning one reading gives once.

use super::pcap::{read_u32, PcapFramer};
use super::pcapng::{PcapNgFramer, EPB, KNOWN_OTHER, MAX_BLOCK, PB, SPB};
use super::window::{Source, Window};
use super::{Capture, Event, Inner, Step, MAX_CAPLEN};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// The reader of a part.
pub type PartWindow<'a> = Window<At<'a>>;

/// A file read from an offset with positioned reads (several parts share one open file).
pub struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// How far past a part's nominal start its first record is looked for.
const SEARCH: usize = 1 << 20;
/// Records a candidate header must lead to, each plausible, before it is taken (fewer where
/// the file ends first, exactly at its end).
const CHAIN: usize = 16;
/// Consecutive records this far apart in time are implausible.
const MAX_STEP_S: u32 = 86_400;

/// A file that can be read in parts.
pub struct Layout {
    framing: Framing,
    len: u64,
}

enum Framing {
    /// Classic pcap: its framer (header read), to clone per part.
    Pcap(PcapFramer),
    /// pcapng whose head is one section declaring every interface: the head's bytes, framed
    /// again by every part after the first, its byte order and how many interfaces it declares.
    PcapNg {
        head: Vec<u8>,
        big_endian: bool,
        interfaces: usize,
    },
}

/// A pcapng head longer than this (options, name resolution before the first packet) is not
/// copied for every part: such a file is read whole.
const MAX_HEAD: u64 = 1 << 20;

impl Layout {
    /// The layout of `file` when it is a classic pcap capture, or a pcapng capture whose head
    /// declares one section and its interfaces with no problem: `None` otherwise (compressed,
    /// several sections before the first packet, damage there), and the caller reads it whole.
    /// An interface declared later, after packets, is found by the parts ([`Capture::declared`]):
    /// the first then reads on alone.
    pub fn of(file: &File) -> Option<Layout> {
        let len = file.metadata().ok()?.len();
        let mut cap = Capture::from_source(Window::new(At { file, pos: 0 })).ok()?;
        let framing = match &cap.inner {
            Inner::Pcap(framer) => Framing::Pcap(framer.clone()),
            Inner::PcapNg(_) => {
                let first = match cap.next_event() {
                    Event::Frame(f) => f.offset,
                    _ => return None,
                };
                let Inner::PcapNg(framer) = &cap.inner else {
                    return None;
                };
                let interfaces = cap.interfaces().len();
                if framer.sections() != 1 || interfaces == 0 || first > MAX_HEAD {
                    return None;
                }
                let mut head = vec![0; first as usize];
                file.read_exact_at(&mut head, 0).ok()?;
                Framing::PcapNg {
                    head,
                    big_endian: framer.big_endian(),
                    interfaces,
                }
            }
        };
        Some(Layout { framing, len })
    }

    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Offset of the first part: right after a pcap file header; a pcapng file's first part
    /// frames its head itself, from the start.
    pub fn first_record(&self) -> u64 {
        match self.framing {
            Framing::Pcap(_) => 24,
            Framing::PcapNg { .. } => 0,
        }
    }

    /// What a reading of the first part (`first`) or of a later one declares when the file
    /// holds nothing but what its head declared ([`Capture::declared`]).
    pub fn declared(&self, first: bool) -> (u32, usize) {
        match self.framing {
            Framing::Pcap(_) => (0, 1),
            Framing::PcapNg { interfaces, .. } => (u32::from(first), interfaces),
        }
    }

    /// Where the first record at or after `from` begins, if one is found soon after it.
    pub fn resync(&self, file: &File, from: u64) -> Option<u64> {
        let longest = match &self.framing {
            Framing::Pcap(f) => f.record_header() + MAX_CAPLEN as usize,
            Framing::PcapNg { .. } => MAX_BLOCK,
        };
        let want = (SEARCH + CHAIN * longest) as u64;
        let mut buf = vec![0; want.min(self.len.saturating_sub(from)) as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], from + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        buf.truncate(got);
        let at_end = from + got as u64 == self.len;
        (0..SEARCH.min(got))
            .find(|&o| match &self.framing {
                Framing::Pcap(f) => pcap_chain(f, &buf, o, at_end),
                Framing::PcapNg { big_endian, .. } => block_chain(*big_endian, &buf, o, at_end),
            })
            .map(|o| from + o as u64)
    }

    /// A reader of the records from `start` (a record's first byte; a pcapng file's first part
    /// starts at 0) that stops at the first record starting at or past `stop`; its record
    /// numbers count from 1 at `start`.
    pub fn part<'a>(
        &self,
        file: &'a File,
        start: u64,
        stop: Option<u64>,
    ) -> Capture<PartWindow<'a>> {
        let (inner, interfaces) = match &self.framing {
            Framing::Pcap(f) => {
                let mut framer = f.clone();
                framer.restart();
                let interfaces = vec![framer.interface()];
                (Inner::Pcap(framer), interfaces)
            }
            Framing::PcapNg { head, .. } => {
                let mut framer = PcapNgFramer::new();
                let mut interfaces = Vec::new();
                if start > 0 {
                    // The head declares the section and the interfaces the part's blocks use.
                    let mut w = Window::new(&head[..]);
                    loop {
                        match framer.next(&mut w, &mut interfaces) {
                            Step::Skip(n, _) => w.consume(n),
                            Step::Record(r, _) => w.consume(r.consume),
                            Step::Problem(_) | Step::End => break,
                        }
                    }
                    framer.restart();
                }
                (Inner::PcapNg(framer), interfaces)
            }
        };
        let mut cap = Capture::with(
            Window::starting_at(At { file, pos: start }, start),
            inner,
            interfaces,
        );
        cap.stop_at = stop;
        cap
    }
}

/// True when `CHAIN` records follow each other from `o`, each plausible to `next` (which gives
/// where the one at an offset ends, `None` when it is implausible), or they reach the end of
/// the file exactly.
fn chain(
    buf: &[u8],
    mut o: usize,
    at_end: bool,
    mut next: impl FnMut(usize) -> Option<usize>,
) -> bool {
    for _ in 0..CHAIN {
        if o == buf.len() && at_end {
            return true;
        }
        match next(o) {
            Some(end) => o = end,
            None => return false,
        }
    }
    true
}

/// Plausible pcap records from `o`: lengths within bounds, captured ≤ original, the
/// sub-second field in range, consecutive timestamps less than a day apart.
fn pcap_chain(framer: &PcapFramer, buf: &[u8], o: usize, at_end: bool) -> bool {
    let rh = framer.record_header();
    let be = framer.big_endian();
    let frac_limit = if framer.nanos() {
        1_000_000_000
    } else {
        1_000_000
    };
    let mut last_sec: Option<u32> = None;
    chain(buf, o, at_end, |o| {
        let h = buf.get(o..o + 16)?;
        let sec = read_u32(&h[0..4], be);
        let frac = read_u32(&h[4..8], be);
        let caplen = read_u32(&h[8..12], be);
        let orig_len = read_u32(&h[12..16], be);
        let plausible = frac < frac_limit
            && caplen > 0
            && caplen <= MAX_CAPLEN
            && orig_len >= caplen
            && orig_len <= 1 << 20
            && last_sec.is_none_or(|l| l.abs_diff(sec) <= MAX_STEP_S);
        last_sec = Some(sec);
        plausible.then_some(o + rh + caplen as usize)
    })
}

/// Interface indexes a packet block plausibly names (the head declares them; a later interface
/// block in the file makes the parts read on alone, see [`Capture::declared`]).
const MAX_INTERFACE: u32 = 1024;

/// Plausible pcapng blocks of the head's one section from `o`: packet blocks whose data fits,
/// or other known blocks, never a section header or an interface (a part could not frame them
/// as one reading does), each length bounded, a multiple of 4 and repeated in its trailer. The
/// first is a packet with a timestamp (a simple packet takes the previous packet's time, which
/// a part would not know).
fn block_chain(be: bool, buf: &[u8], o: usize, at_end: bool) -> bool {
    let mut first = true;
    chain(buf, o, at_end, |o| {
        let h = buf.get(o..o + 12)?;
        let btype = read_u32(&h[0..4], be);
        let len = read_u32(&h[4..8], be) as usize;
        if !(12..=MAX_BLOCK).contains(&len) || !len.is_multiple_of(4) {
            return None;
        }
        let block = buf.get(o..o + len)?;
        if std::mem::take(&mut first) && !matches!(btype, EPB | PB) {
            return None;
        }
        let plausible = read_u32(&block[len - 4..], be) as usize == len
            && match btype {
                EPB => {
                    len >= 32
                        && read_u32(&block[8..12], be) < MAX_INTERFACE
                        && read_u32(&block[20..24], be) as usize <= len - 32
                }
                PB => len >= 32,
                SPB => len >= 16,
                t => KNOWN_OTHER.contains(&t),
            };
        plausible.then_some(o + len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Event;
    use std::io::Write;

    fn temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    /// A pcap of `n` records of varied lengths; returns the file and each record's offset.
    fn sample(n: usize) -> (tempfile::NamedTempFile, Vec<u64>) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(bytes.len() as u64);
            // Payloads full of bytes that look like record headers, to tempt the search.
            let len = 40 + (i * 37) % 200;
            let data: Vec<u8> = (0..len).map(|k| ((i + k) % 7) as u8).collect();
            bytes.extend_from_slice(&(1_700_000_000 + i as u32 / 100).to_le_bytes());
            bytes.extend_from_slice(&((i as u32 * 991) % 1_000_000).to_le_bytes());
            bytes.extend_from_slice(&(len as u32).to_le_bytes());
            bytes.extend_from_slice(&(len as u32).to_le_bytes());
            bytes.extend_from_slice(&data);
        }
        (temp(&bytes), offsets)
    }

    #[test]
    fn resync_finds_the_next_record_from_any_offset() {
        let (f, offsets) = sample(3000);
        let file = File::open(f.path()).unwrap();
        let layout = Layout::of(&file).unwrap();
        for from in (24..offsets[2900]).step_by(97) {
            let next = *offsets.iter().find(|&&o| o >= from).unwrap();
            assert_eq!(layout.resync(&file, from), Some(next), "from {from}");
        }
    }

    /// The file cut in the middle and its first part read to the cut, checked to stop exactly
    /// there (`offsets`: each record's): the cut, the frames read, the part's reader.
    fn first_part<'a>(
        layout: &Layout,
        file: &'a File,
        offsets: &[u64],
    ) -> (u64, usize, Capture<PartWindow<'a>>) {
        let cut = layout.resync(file, layout.file_len() / 2).unwrap();
        let mut first = layout.part(file, layout.first_record(), Some(cut));
        let mut n = 0;
        while let Event::Frame(_) = first.next_event() {
            n += 1;
        }
        assert_eq!(first.stopped_at(), Some(cut));
        assert_eq!(offsets[n], cut);
        (cut, n, first)
    }

    #[test]
    fn parts_stop_where_the_next_begins_and_number_their_records() {
        let (f, offsets) = sample(3000);
        let file = File::open(f.path()).unwrap();
        let layout = Layout::of(&file).unwrap();
        let (cut, n, first) = first_part(&layout, &file, &offsets);
        assert_eq!(first.records(), n as u64);
        let mut second = layout.part(&file, cut, None);
        let Event::Frame(fr) = second.next_event() else {
            panic!("no frame after the cut")
        };
        assert_eq!((fr.record, fr.offset), (1, cut));
    }

    /// A little-endian pcapng block.
    fn block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        out.extend_from_slice(&btype.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(&len.to_le_bytes());
    }

    /// A pcapng of one section and one Ethernet interface, then `n` packets of varied lengths
    /// (payloads full of bytes that look like block lengths); the file and each packet block's
    /// offset.
    fn sample_ng(n: usize) -> (tempfile::NamedTempFile, Vec<u64>) {
        let mut bytes = Vec::new();
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&[0xff; 8]);
        block(&mut bytes, 0x0a0d_0d0a, &shb);
        let mut idb = 1u16.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&65535u32.to_le_bytes());
        block(&mut bytes, 1, &idb);
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(bytes.len() as u64);
            let len = 40 + (i * 37) % 200;
            let ts = 1_700_000_000_000_000u64 + i as u64 * 1000;
            let mut epb = 0u32.to_le_bytes().to_vec();
            epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(ts as u32).to_le_bytes());
            epb.extend_from_slice(&(len as u32).to_le_bytes());
            epb.extend_from_slice(&(len as u32).to_le_bytes());
            epb.extend((0..len).map(|k| if k % 4 == 0 { 6 } else { ((i + k) % 7) as u8 }));
            block(&mut bytes, 6, &epb);
        }
        (temp(&bytes), offsets)
    }

    #[test]
    fn pcapng_resync_finds_the_next_packet_block_and_parts_frame_the_head_first() {
        let (f, offsets) = sample_ng(3000);
        let file = File::open(f.path()).unwrap();
        let layout = Layout::of(&file).expect("one section, one interface");
        assert_eq!(layout.first_record(), 0);
        for from in (offsets[0]..offsets[2900]).step_by(89) {
            let next = *offsets.iter().find(|&&o| o >= from).unwrap();
            assert_eq!(layout.resync(&file, from), Some(next), "from {from}");
        }
        let (cut, n, first) = first_part(&layout, &file, &offsets);
        assert_eq!(
            first.records(),
            n as u64 + 2,
            "the section header and interface are blocks"
        );
        assert_eq!(first.declared(), layout.declared(true));
        let mut second = layout.part(&file, cut, None);
        let Event::Frame(fr) = second.next_event() else {
            panic!("no frame after the cut")
        };
        assert_eq!((fr.record, fr.offset, fr.link_type), (1, cut, 1));
        assert_eq!(fr.ts_ns, (1_700_000_000_000_000 + n as i64 * 1000) * 1000);
        assert_eq!(second.declared(), layout.declared(false));
    }

    #[test]
    fn a_part_never_begins_on_a_simple_packet() {
        // An enhanced packet, then simple packets (they take the previous packet's time).
        let mut buf = Vec::new();
        let mut epb = vec![0; 20];
        epb[12] = 4;
        epb[16] = 4;
        epb.extend([1, 2, 3, 4]);
        block(&mut buf, 6, &epb);
        let spb_at = buf.len();
        for _ in 0..CHAIN {
            block(&mut buf, 3, &[8, 0, 0, 0, 1, 2, 3, 4]);
        }
        assert!(block_chain(false, &buf, 0, true));
        assert!(!block_chain(false, &buf, spb_at, true));
    }

    #[test]
    fn a_pcapng_head_declares_its_interfaces_and_a_second_section_is_read_whole() {
        let (f, _) = sample_ng(10);
        let bytes = std::fs::read(f.path()).unwrap();
        let layout = |bytes: &[u8]| Layout::of(&File::open(temp(bytes).path()).unwrap());
        // A second interface block right after the first (each is 20 bytes, after the 28-byte
        // section header): both are in the head, which every part frames.
        let mut two = bytes.clone();
        two.splice(48..48, bytes[28..48].to_vec());
        assert_eq!(layout(&two).expect("split").declared(false), (0, 2));
        assert_eq!(layout(&bytes).expect("split").declared(true), (1, 1));
        // A second section before the first packet: not one head to frame.
        let mut sections = bytes.clone();
        sections.splice(48..48, bytes[..48].to_vec());
        assert!(layout(&sections).is_none());
    }

    #[test]
    fn a_damaged_pcapng_head_has_no_layout() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
        assert!(Layout::of(&File::open(f.path()).unwrap()).is_none());
    }
}
