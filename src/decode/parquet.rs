//! Extracted observations (`natcorr extract`): the decoded echoes and ICMP errors of some
//! captures as one Parquet file, written where the captures are and read back in place of them.
//! One row per observation (echo request or reply, or ICMP error quoting an echo); the capture
//! points and the problems met while decoding ride in the file's key-value metadata as JSON.
//! The columns are documented in the README ("Extracted observations").

use std::fs::File;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::{Row, RowAccessor};
use parquet::schema::parser::parse_message_type;

use crate::model::{
    Diagnostic, Direction, ErrorKind, ErrorObservation, Observation, Packet, Point, Protocol,
    QuotedEcho, Severity, PREFIX_LEN,
};

use super::file::{Budget, Decoded, FileScan, BYTES_PER_OBSERVATION};

/// Version of the columns and metadata below; raised when they change.
pub const PARQUET_SCHEMA_VERSION: u32 = 1;

/// The first bytes of every Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

const SCHEMA: &str = "
message natcorr_observation {
  required binary kind (UTF8);
  required int32 point;
  required binary point_name (UTF8);
  required int64 ts_ns;
  required int64 record;
  required binary direction (UTF8);
  required binary src (UTF8);
  required binary dst (UTF8);
  required int32 ttl;
  required int64 ip_id;
  required int32 icmp_id;
  required int32 seq;
  required int64 icmp_len;
  required binary prefix;
  required int64 digest;
  required int64 digest_len;
  required boolean fragmented;
  required int32 fragments;
  required boolean cut_header;
  required binary error_kind (UTF8);
  required int32 error_code;
  required binary reporter (UTF8);
}";

const KEY_VERSION: &str = "natcorr.schema_version";
const KEY_POINTS: &str = "natcorr.points";
const KEY_DIAGNOSTICS: &str = "natcorr.diagnostics";

/// Rows per row group: a reader (DuckDB, Spark) splits work along them.
const ROW_GROUP: usize = 1 << 20;

fn error_kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::TimeExceeded => "time_exceeded",
        ErrorKind::Unreachable => "unreachable",
        ErrorKind::PacketTooBig => "packet_too_big",
        ErrorKind::ParameterProblem => "parameter_problem",
    }
}

fn error_kind_of(s: &str) -> Option<ErrorKind> {
    Some(match s {
        "time_exceeded" => ErrorKind::TimeExceeded,
        "unreachable" => ErrorKind::Unreachable,
        "packet_too_big" => ErrorKind::PacketTooBig,
        "parameter_problem" => ErrorKind::ParameterProblem,
        _ => return None,
    })
}

/// The columns, filled row by row, written column by column.
#[derive(Default)]
struct Columns {
    kind: Vec<ByteArray>,
    point: Vec<i32>,
    point_name: Vec<ByteArray>,
    ts_ns: Vec<i64>,
    record: Vec<i64>,
    direction: Vec<ByteArray>,
    src: Vec<ByteArray>,
    dst: Vec<ByteArray>,
    ttl: Vec<i32>,
    ip_id: Vec<i64>,
    icmp_id: Vec<i32>,
    seq: Vec<i32>,
    icmp_len: Vec<i64>,
    prefix: Vec<ByteArray>,
    digest: Vec<i64>,
    digest_len: Vec<i64>,
    fragmented: Vec<bool>,
    fragments: Vec<i32>,
    cut_header: Vec<bool>,
    error_kind: Vec<ByteArray>,
    error_code: Vec<i32>,
    reporter: Vec<ByteArray>,
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

impl Columns {
    fn common(&mut self, kind: &str, point: u32, name: &str, ts_ns: i64, record: u64) {
        self.kind.push(text(kind));
        self.point.push(point as i32);
        self.point_name.push(text(name));
        self.ts_ns.push(ts_ns);
        self.record.push(record as i64);
    }

    fn echo(&mut self, o: &Observation, name: &str, cut: bool) {
        self.common("echo", o.point, name, o.ts_ns, o.record);
        let p = &o.packet;
        self.direction.push(text(match p.dir {
            Direction::Request => "request",
            Direction::Reply => "reply",
        }));
        self.src.push(text(&p.src.to_string()));
        self.dst.push(text(&p.dst.to_string()));
        self.ttl.push(i32::from(p.ttl));
        self.ip_id.push(i64::from(p.ip_id));
        self.icmp_id.push(i32::from(p.icmp_id));
        self.seq.push(i32::from(p.seq));
        self.icmp_len.push(i64::from(p.icmp_len));
        self.prefix
            .push(ByteArray::from(p.prefix[..p.prefix_len as usize].to_vec()));
        self.digest.push(p.digest as i64);
        self.digest_len.push(i64::from(p.digest_len));
        self.fragmented.push(p.fragmented);
        self.fragments.push(i32::from(o.fragments));
        self.cut_header.push(cut);
        self.error_kind.push(text(""));
        self.error_code.push(0);
        self.reporter.push(text(""));
    }

    fn error(&mut self, e: &ErrorObservation, name: &str) {
        self.common("error", e.point, name, e.ts_ns, e.record);
        let q = &e.quoted;
        // The quoted echo request, as the error quotes it.
        self.direction.push(text("request"));
        self.src.push(text(&q.src.to_string()));
        self.dst.push(text(&q.dst.to_string()));
        self.ttl.push(0);
        self.ip_id.push(0);
        self.icmp_id.push(i32::from(q.id));
        self.seq.push(i32::from(q.seq));
        self.icmp_len.push(i64::from(q.icmp_len));
        self.prefix
            .push(ByteArray::from(q.prefix[..q.prefix_len as usize].to_vec()));
        self.digest.push(0);
        self.digest_len.push(0);
        self.fragmented.push(false);
        self.fragments.push(0);
        self.cut_header.push(false);
        self.error_kind.push(text(error_kind_name(e.kind)));
        self.error_code.push(i32::from(e.code));
        self.reporter.push(text(&e.reporter.to_string()));
    }
}

type WriteResult = Result<(), parquet::errors::ParquetError>;

/// The decoded captures as one Parquet file (in memory: about 1% of the captures' size).
pub fn write(d: &Decoded) -> Result<Vec<u8>, String> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| e.to_string())?);
    let meta = vec![
        KeyValue::new(KEY_VERSION.into(), PARQUET_SCHEMA_VERSION.to_string()),
        KeyValue::new(
            KEY_POINTS.into(),
            serde_json::to_string(&d.points).map_err(|e| e.to_string())?,
        ),
        KeyValue::new(
            KEY_DIAGNOSTICS.into(),
            serde_json::to_string(&d.diagnostics).map_err(|e| e.to_string())?,
        ),
    ];
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(meta))
        .build();
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, schema, Arc::new(props)).map_err(|e| e.to_string())?;
    let cut: std::collections::HashSet<u32> = d.cut_headers.iter().copied().collect();
    let name = |p: u32| d.points.get(p as usize).map_or("", |p| p.name.as_str());
    let total = d.observations.len() + d.errors.len();
    let mut start = 0;
    while start < total || start == 0 {
        let end = (start + ROW_GROUP).min(total);
        let mut c = Columns::default();
        for i in start..end {
            match d.observations.get(i) {
                Some(o) => c.echo(o, name(o.point), cut.contains(&(i as u32))),
                None => {
                    let e = &d.errors[i - d.observations.len()];
                    c.error(e, name(e.point));
                }
            }
        }
        write_group(&mut writer, &c).map_err(|e| e.to_string())?;
        if end == total {
            break;
        }
        start = end;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(out)
}

fn write_group<W: std::io::Write + Send>(
    w: &mut SerializedFileWriter<W>,
    c: &Columns,
) -> WriteResult {
    let mut rg = w.next_row_group()?;
    macro_rules! column {
        ($ty:ty, $values:expr) => {{
            let mut col = rg.next_column()?.expect("a column per field");
            col.typed::<$ty>().write_batch($values, None, None)?;
            col.close()?;
        }};
    }
    column!(ByteArrayType, &c.kind);
    column!(Int32Type, &c.point);
    column!(ByteArrayType, &c.point_name);
    column!(Int64Type, &c.ts_ns);
    column!(Int64Type, &c.record);
    column!(ByteArrayType, &c.direction);
    column!(ByteArrayType, &c.src);
    column!(ByteArrayType, &c.dst);
    column!(Int32Type, &c.ttl);
    column!(Int64Type, &c.ip_id);
    column!(Int32Type, &c.icmp_id);
    column!(Int32Type, &c.seq);
    column!(Int64Type, &c.icmp_len);
    column!(ByteArrayType, &c.prefix);
    column!(Int64Type, &c.digest);
    column!(Int64Type, &c.digest_len);
    column!(BoolType, &c.fragmented);
    column!(Int32Type, &c.fragments);
    column!(BoolType, &c.cut_header);
    column!(ByteArrayType, &c.error_kind);
    column!(Int32Type, &c.error_code);
    column!(ByteArrayType, &c.reporter);
    rg.close()?;
    Ok(())
}

/// Whether the file at `path` is a Parquet file (by its first bytes). Only a regular file is
/// looked at: reading the start of a FIFO or `<(…)` would take bytes the capture reader needs
/// (and Parquet needs random access anyway).
pub fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| &head == MAGIC)
}

/// An extracted file read back as the scan of its captures. A file natcorr did not write, or
/// a row it cannot use, is a diagnostic on that file (by row number), never a panic: the
/// Parquet reader asserts on some damaged footers, so its panics are caught here (and kept off
/// standard error) and reported as the file's problem.
pub fn read(path: &Path, shown: &str, budget: &Budget) -> FileScan {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_reader = info
                .location()
                .is_some_and(|l| l.file().contains("/parquet-"));
            if !in_reader {
                default(info);
            }
        }));
    });
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_unguarded(path, shown, budget)
    }));
    read.unwrap_or_else(|_| FileScan {
        diagnostics: vec![Diagnostic {
            file: shown.to_string(),
            severity: Severity::Error,
            record: None,
            offset: None,
            message:
                "a damaged Parquet file: its metadata is inconsistent (the Parquet reader gave up)"
                    .into(),
        }],
        ..FileScan::default()
    })
}

fn read_unguarded(path: &Path, shown: &str, budget: &Budget) -> FileScan {
    let mut scan = FileScan::default();
    let fail = |scan: &mut FileScan, row: Option<u64>, why: String| {
        scan.diagnostics.push(Diagnostic {
            file: shown.to_string(),
            severity: Severity::Error,
            record: row,
            offset: None,
            message: why,
        });
    };
    let reader = match File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            fail(&mut scan, None, format!("not a readable Parquet file: {e}"));
            return scan;
        }
    };
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |key: &str| {
        kv.iter()
            .find(|k| k.key == key)
            .and_then(|k| k.value.clone())
    };
    match get(KEY_VERSION).map(|v| v.parse::<u32>()) {
        Some(Ok(PARQUET_SCHEMA_VERSION)) => {}
        Some(_) => {
            fail(&mut scan, None, format!("extracted with another natcorr schema version (this natcorr reads {PARQUET_SCHEMA_VERSION})"));
            return scan;
        }
        None => {
            fail(&mut scan, None, "a Parquet file natcorr did not write (no natcorr.schema_version): extract it with `natcorr extract`".into());
            return scan;
        }
    }
    let points: Option<Vec<Point>> = get(KEY_POINTS).and_then(|j| serde_json::from_str(&j).ok());
    let diagnostics: Option<Vec<Diagnostic>> =
        get(KEY_DIAGNOSTICS).and_then(|j| serde_json::from_str(&j).ok());
    let (Some(points), Some(diagnostics)) = (points, diagnostics) else {
        fail(
            &mut scan,
            None,
            "its natcorr metadata (points, diagnostics) is not readable".into(),
        );
        return scan;
    };
    scan.points = points;
    scan.diagnostics = diagnostics;
    let rows = match reader.get_row_iter(None) {
        Ok(rows) => rows,
        Err(e) => {
            fail(&mut scan, None, format!("cannot read its rows: {e}"));
            return scan;
        }
    };
    // No more rows than the metadata promises; a row the reader cannot decode ends the file
    // (the reader would repeat the error, never advance).
    let promised = reader.metadata().file_metadata().num_rows().max(0) as u64;
    let mut bad = 0u64;
    let mut first_bad = None;
    for (n, row) in rows.enumerate() {
        let n = n as u64 + 1;
        if n > promised {
            fail(
                &mut scan,
                Some(n),
                format!("more rows than the {promised} its metadata states: the rest are not read"),
            );
            break;
        }
        if !budget.take(BYTES_PER_OBSERVATION) {
            fail(
                &mut scan,
                Some(n),
                "the memory budget (--max-memory) is used up: the rows after this one are not read"
                    .into(),
            );
            break;
        }
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                fail(
                    &mut scan,
                    Some(n),
                    format!("this row cannot be decoded ({e}): the rows from here on are not read"),
                );
                break;
            }
        };
        if row_into(&row, &mut scan).is_none() {
            bad += 1;
            first_bad.get_or_insert(n);
        }
    }
    if let Some(n) = first_bad {
        fail(
            &mut scan,
            Some(n),
            format!("{bad} row(s) not used (a value out of range), the first this one"),
        );
    }
    scan
}

/// One row into the scan; `None` when a value is out of range or a point is unknown.
fn row_into(r: &Row, scan: &mut FileScan) -> Option<()> {
    let s = |i: usize| r.get_string(i).ok();
    let int = |i: usize| r.get_int(i).ok();
    let long = |i: usize| r.get_long(i).ok();
    let point = u32::try_from(int(1)?).ok()?;
    if point as usize >= scan.points.len() {
        return None;
    }
    let ts_ns = long(3)?;
    let record = u64::try_from(long(4)?).ok()?;
    let src: IpAddr = s(6)?.parse().ok()?;
    let dst: IpAddr = s(7)?.parse().ok()?;
    let bytes = r.get_bytes(13).ok()?.data();
    if bytes.len() > PREFIX_LEN {
        return None;
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix[..bytes.len()].copy_from_slice(bytes);
    let prefix_len = bytes.len() as u8;
    let icmp_id = u16::try_from(int(10)?).ok()?;
    let seq = u16::try_from(int(11)?).ok()?;
    let icmp_len = u32::try_from(long(12)?).ok()?;
    match s(0)?.as_str() {
        "echo" => {
            let dir = match s(5)?.as_str() {
                "request" => Direction::Request,
                "reply" => Direction::Reply,
                _ => return None,
            };
            let index = scan.observations.len() as u32;
            if r.get_bool(18).ok()? {
                scan.cut_headers.push(index);
            }
            scan.observations.push(Observation {
                point,
                ts_ns,
                record,
                fragments: u16::try_from(int(17)?).ok()?,
                packet: Packet {
                    proto: Protocol::Icmp,
                    header_len: 8,
                    sport: 0,
                    dport: 0,
                    tcp_seq: 0,
                    tcp_ack: 0,
                    tcp_flags: 0,
                    tcp_window: 0,
                    dir,
                    src,
                    dst,
                    ttl: u8::try_from(int(8)?).ok()?,
                    ip_id: u32::try_from(long(9)?).ok()?,
                    icmp_id,
                    seq,
                    icmp_len,
                    prefix,
                    prefix_len,
                    digest: long(14)? as u64,
                    digest_len: u32::try_from(long(15)?).ok()?,
                    fragmented: r.get_bool(16).ok()?,
                },
            });
        }
        "error" => scan.errors.push(ErrorObservation {
            point,
            ts_ns,
            kind: error_kind_of(s(19)?)?,
            code: u8::try_from(int(20)?).ok()?,
            reporter: s(21)?.parse().ok()?,
            quoted: QuotedEcho {
                proto: Protocol::Icmp,
                sport: 0,
                dport: 0,
                word: u32::from(seq),
                src,
                dst,
                id: icmp_id,
                seq,
                icmp_len,
                prefix,
                prefix_len,
            },
            record,
        }),
        _ => return None,
    }
    Some(())
}
