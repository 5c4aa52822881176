//! Where capture bytes come from: a file or standard input (`-`), decompressed on the fly when
//! the content (not the name) says gzip or zstd.

use super::Problem;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

/// How the bytes were stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// An input ready to be read.
pub enum Opened {
    /// An uncompressed regular file, mapped into memory and read in place.
    Mapped(memmap2::Mmap),
    /// Standard input, a pipe, or a decompressor.
    Stream(Box<dyn Read>, Compression),
}

/// Opens `path` (`-` is standard input), undoing gzip or zstd compression. Uncompressed regular
/// files are memory-mapped (the file must not be truncated while natcorr reads it; tcpdump only
/// appends).
pub fn open(path: &str) -> Result<Opened, Problem> {
    if path == "-" {
        let (r, c) = decompress(BufReader::with_capacity(1 << 16, io::stdin()))?;
        return Ok(Opened::Stream(r, c));
    }
    let f = File::open(path).map_err(|e| Problem::file(format!("cannot open: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| Problem::file(format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(Problem::file("is a directory, not a capture file"));
    }
    let mut head = [0u8; 4];
    let compressed = {
        use std::os::unix::fs::FileExt;
        let n = f.read_at(&mut head, 0).unwrap_or(0);
        n == 4 && (head[..2] == [0x1f, 0x8b] || head == [0x28, 0xb5, 0x2f, 0xfd])
    };
    if meta.is_file() && meta.len() > 0 && !compressed {
        // SAFETY: the map is only read; its length is the file's length when it was opened.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&f) } {
            return Ok(Opened::Mapped(map));
        }
    }
    let (r, c) = decompress(BufReader::with_capacity(1 << 16, f))?;
    Ok(Opened::Stream(r, c))
}

/// Wraps `r` in the decoder its first bytes call for.
pub fn decompress<R: BufRead + 'static>(mut r: R) -> Result<(Box<dyn Read>, Compression), Problem> {
    let head = r
        .fill_buf()
        .map_err(|e| Problem::file(format!("cannot read: {e}")))?;
    Ok(match head {
        [0x1f, 0x8b, ..] => (
            Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Gzip,
        ),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => match zstd::stream::read::Decoder::with_buffer(r) {
            Ok(d) => (Box::new(d), Compression::Zstd),
            Err(e) => {
                return Err(Problem::file(format!(
                    "cannot start zstd decompression: {e}"
                )))
            }
        },
        _ => (Box::new(r), Compression::None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], packed: Vec<u8>, want: Compression) {
        let (mut r, c) = decompress(io::Cursor::new(packed)).unwrap();
        assert_eq!(c, want);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn detects_by_content() {
        let data = b"\xd4\xc3\xb2\xa1 pretend capture".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(&data, gz.finish().unwrap(), Compression::Gzip);
        roundtrip(
            &data,
            zstd::encode_all(&data[..], 1).unwrap(),
            Compression::Zstd,
        );
        roundtrip(&data, data.clone(), Compression::None);
    }
}
