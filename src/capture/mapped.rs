//! A capture file mapped into memory: records are read in place, without copying. Pages already
//! read are given back to the kernel as the cursor moves on, so resident memory stays bounded
//! whatever the file's size.

use super::window::Source;
use memmap2::{Advice, Mmap, UncheckedAdvice};
use std::io;

pub struct Mapped {
    map: Mmap,
    pos: usize,
    /// Everything before this was asked into the cache.
    prefetched: usize,
    /// Everything before this was handed back to the kernel.
    released: usize,
}

/// How much read data may stay mapped before it is released.
const RELEASE_EVERY: usize = 16 << 20;

impl Mapped {
    pub fn new(map: Mmap) -> Self {
        // Read-ahead: the file is read once, front to back.
        let _ = map.advise(Advice::Sequential);
        Mapped {
            map,
            pos: 0,
            prefetched: 0,
            released: 0,
        }
    }
}

impl Source for Mapped {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn fill(&mut self, _n: usize) -> io::Result<&[u8]> {
        Ok(&self.map[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.map.len());
        // Each record header's address depends on the previous record: without asking ahead,
        // every header waits on memory. Keep the next PREFETCH_AHEAD bytes on their way.
        let want = (self.pos + PREFETCH_AHEAD).min(self.map.len());
        while self.prefetched < want {
            prefetch(&self.map[self.prefetched..]);
            self.prefetched += CACHE_LINE;
        }
        if self.pos - self.released >= RELEASE_EVERY {
            let end = self.pos & !(page_size() - 1);
            // SAFETY: the mapping is read-only and file-backed; MADV_DONTNEED only drops our
            // view of pages before the cursor, which are never read again (and would be read
            // back from the file if they were).
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    UncheckedAdvice::DontNeed,
                    self.released,
                    end - self.released,
                )
            };
            self.released = end;
        }
    }
}

const PREFETCH_AHEAD: usize = 16 << 10;
const CACHE_LINE: usize = 64;

#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults and reads nothing into the program.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            bytes.as_ptr().cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

fn page_size() -> usize {
    4096
}
