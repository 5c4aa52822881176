//! One classic pcap file read as several parts at once: where each part begins is found by
//! resynchronizing on record headers from a byte offset (a record header is plausible when its
//! lengths and timestamp are, and so are the next ones it leads to). A part stops at the first
//! record that starts at or past its end; the caller accepts the parts only where each one
//! stopped exactly where the next one began, so a wrong guess costs time, never a packet.

use super::pcap::{read_u32, PcapFramer};
use super::window::Window;
use super::{Capture, Inner, MAX_CAPLEN};
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

/// A classic pcap file that can be read in parts: its framer (header read), to clone per part.
pub struct Layout {
    framer: PcapFramer,
    len: u64,
}

impl Layout {
    /// The layout of `file` when it is a classic pcap capture (not pcapng, not compressed):
    /// `None` otherwise, and the caller reads it whole.
    pub fn of(file: &File) -> Option<Layout> {
        let len = file.metadata().ok()?.len();
        match Capture::from_source(Window::new(At { file, pos: 0 })) {
            Ok(Capture {
                inner: Inner::Pcap(framer),
                ..
            }) => Some(Layout { framer, len }),
            _ => None,
        }
    }

    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Offset of the first record: right after the file header.
    pub fn first_record(&self) -> u64 {
        24
    }

    /// Where the first record at or after `from` begins, if one is found soon after it.
    pub fn resync(&self, file: &File, from: u64) -> Option<u64> {
        let rh = self.framer.record_header();
        let want = (SEARCH + CHAIN * (rh + MAX_CAPLEN as usize)) as u64;
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
            .find(|&o| self.chain_from(&buf, o, at_end))
            .map(|o| from + o as u64)
    }

    /// True when `CHAIN` plausible records follow each other from `o` (or reach the end of
    /// the file exactly).
    fn chain_from(&self, buf: &[u8], mut o: usize, at_end: bool) -> bool {
        let rh = self.framer.record_header();
        let be = self.framer.big_endian();
        let frac_limit = if self.framer.nanos() {
            1_000_000_000
        } else {
            1_000_000
        };
        let mut last_sec: Option<u32> = None;
        for _ in 0..CHAIN {
            if o == buf.len() && at_end {
                return true;
            }
            let Some(h) = buf.get(o..o + 16) else {
                return false;
            };
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
            if !plausible {
                return false;
            }
            last_sec = Some(sec);
            o += rh + caplen as usize;
        }
        true
    }

    /// A reader of the records from `start` (a record's first byte) that stops at the first
    /// record starting at or past `stop`; its record numbers count from 1 at `start`.
    pub fn part<'a>(
        &self,
        file: &'a File,
        start: u64,
        stop: Option<u64>,
    ) -> Capture<PartWindow<'a>> {
        let mut framer = self.framer.clone();
        framer.restart();
        let interfaces = vec![framer.interface()];
        let mut cap = Capture::with(
            Window::starting_at(At { file, pos: start }, start),
            Inner::Pcap(framer),
            interfaces,
        );
        cap.stop_at = stop;
        cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Event;
    use std::io::Write;

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
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        (f, offsets)
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

    #[test]
    fn parts_stop_where_the_next_begins_and_number_their_records() {
        let (f, offsets) = sample(3000);
        let file = File::open(f.path()).unwrap();
        let layout = Layout::of(&file).unwrap();
        let cut = layout.resync(&file, layout.file_len() / 2).unwrap();
        let mut first = layout.part(&file, 24, Some(cut));
        let mut n = 0;
        while let Event::Frame(_) = first.next_event() {
            n += 1;
        }
        assert_eq!(first.stopped_at(), Some(cut));
        assert_eq!(offsets[n], cut);
        assert_eq!(first.records(), n as u64);
        let mut second = layout.part(&file, cut, None);
        let Event::Frame(fr) = second.next_event() else {
            panic!("no frame after the cut")
        };
        assert_eq!((fr.record, fr.offset), (1, cut));
    }

    #[test]
    fn not_a_classic_pcap_has_no_layout() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
        assert!(Layout::of(&File::open(f.path()).unwrap()).is_none());
    }
}
