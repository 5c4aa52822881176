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

/// An input ready to be read: a file, standard input or a decompressor, read with `read()`
/// into reused buffers. Not memory-mapped: a capture truncated while natcorr reads it (tcpdump
/// `-C`/`-W` ring-buffer rotation) would kill a mapped reader with SIGBUS; `read()` sees the
/// cut and it is reported like any other.
pub struct Opened(pub Box<dyn Read>, pub Compression);

/// Opens `path` (`-` is standard input), undoing gzip or zstd compression.
pub fn open(path: &std::path::Path) -> Result<Opened, Problem> {
    if path.as_os_str() == "-" {
        let (r, c) = decompress(BufReader::with_capacity(1 << 16, io::stdin()))?;
        return Ok(Opened(r, c));
    }
    let f = File::open(path).map_err(|e| Problem::file(format!("cannot open: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| Problem::file(format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(Problem::file("is a directory, not a capture file"));
    }
    // Reads of a window's size go straight into it, past this buffer.
    let (r, c) = decompress(BufReader::with_capacity(1 << 16, f))?;
    Ok(Opened(r, c))
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
