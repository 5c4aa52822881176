//! A sliding window over a byte stream: the record framers ask for "n bytes at the cursor",
//! consume them, and always know the file offset. Memory is bounded by the largest record allowed.

use std::io::{self, Read};

/// Bytes at a cursor, with the cursor's file offset: a stream read through a buffer, or a
/// memory-mapped file.
pub trait Source {
    /// File offset of the cursor.
    fn offset(&self) -> u64;
    /// The bytes available at the cursor: at least `n` unless the input ends first. `n` is
    /// bounded by the caller (the framers cap it at the largest record allowed).
    fn fill(&mut self, n: usize) -> io::Result<&[u8]>;
    fn consume(&mut self, n: usize);
}

pub struct Window<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

/// Read size: large enough that syscalls are rare, small enough to stay in cache.
const CHUNK: usize = 1 << 20;

impl<R: Read> Window<R> {
    pub fn new(inner: R) -> Self {
        Window::starting_at(inner, 0)
    }

    /// A window over `inner`, whose first byte is at `offset` in the file.
    pub fn starting_at(inner: R, offset: u64) -> Self {
        Window {
            inner,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            offset,
            eof: false,
        }
    }

    /// True when nothing is left at the cursor.
    #[cfg(test)]
    pub fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.fill(1)?.is_empty())
    }
}

impl<R: Read> Source for Window<R> {
    fn offset(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            if self.start > 0 && (self.buf.len() - self.start < n || self.start == self.end) {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.start < n {
                self.buf.resize(n.next_power_of_two().max(CHUNK), 0);
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_across_chunks_and_tracks_offsets() {
        let data: Vec<u8> = (0..3 * CHUNK + 7).map(|i| i as u8).collect();
        let mut w = Window::new(&data[..]);
        let mut seen = 0usize;
        while !w.at_end().unwrap() {
            let want = 1000.min(data.len() - seen);
            let got = w.fill(want).unwrap();
            assert!(got.len() >= want);
            assert_eq!(got[0], data[seen]);
            w.consume(want);
            seen += want;
            assert_eq!(w.offset(), seen as u64);
        }
        assert_eq!(seen, data.len());
    }

    #[test]
    fn short_stream_returns_what_is_there() {
        let mut w = Window::new(&b"abc"[..]);
        assert_eq!(w.fill(10).unwrap(), b"abc");
    }
}
