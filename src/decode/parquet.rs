//! Extracted observations (`natcorr extract`): the decoded echoes, TCP segments, UDP datagrams
//! and ICMP errors of some captures as one Parquet file, written where the captures are and read
//! back in place of them. One row per observation (a packet: echo request or reply, TCP segment,
//! UDP datagram; or an ICMP error quoting one); the capture points and the problems met while
//! decoding ride in the file's key-value metadata as JSON. The columns are documented in the
//! README ("Extracted observations"). Files of schema 1 (echoes only) are still read: the
//! reader finds its columns by name, and a schema 1 file has no transport columns.

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
    Diagnostic, Digest, Direction, ErrorKind, ErrorObservation, Observation, Packet, Point,
    Protocol, QuotedEcho, Severity, PREFIX_LEN,
};

use super::file::{Budget, Decoded, FileScan, OldDigests, BYTES_PER_OBSERVATION};
use super::DIGEST_BYTEWISE;

/// Version of the columns and metadata below; raised when they change.
pub const PARQUET_SCHEMA_VERSION: u32 = 3;

/// The schema versions this natcorr reads: 1 (echoes and errors quoting them, row kind `echo`),
/// 2 (TCP and UDP too: the transport columns, row kind `packet`) and 3 (the columns of 2; the
/// digest of payloads over [`DIGEST_BYTEWISE`] bytes is [`super::digest`]'s, not FNV-1a's).
const READS: std::ops::RangeInclusive<u32> = 1..=PARQUET_SCHEMA_VERSION;

/// The first bytes of every Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// The columns, in the order [`write_group`] writes them. Errors fill the packet columns with
/// what they quote: its protocol, addresses, identifier, sequence number, ports, and in
/// `tcp_seq` its [`QuotedEcho::word`].
const SCHEMA: &str = "
message natcorr_observation {
  required binary kind (UTF8);
  required binary protocol (UTF8);
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
  required int32 header_len;
  required int32 sport;
  required int32 dport;
  required int64 tcp_seq;
  required int64 tcp_ack;
  required int32 tcp_flags;
  required int32 tcp_window;
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

/// Row kinds: a packet (schema 1: `echo`, the only packets it had), an ICMP error.
const KIND_PACKET: &str = "packet";
const KIND_ECHO_V1: &str = "echo";
const KIND_ERROR: &str = "error";

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
    protocol: Vec<ByteArray>,
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
    header_len: Vec<i32>,
    sport: Vec<i32>,
    dport: Vec<i32>,
    tcp_seq: Vec<i64>,
    tcp_ack: Vec<i64>,
    tcp_flags: Vec<i32>,
    tcp_window: Vec<i32>,
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

    fn packet(&mut self, o: &Observation, name: &str, cut: bool) {
        self.common(KIND_PACKET, o.point, name, o.ts_ns, o.record);
        let p = &o.packet;
        self.protocol.push(text(p.proto.keyword()));
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
        self.header_len.push(i32::from(p.header_len));
        self.sport.push(i32::from(p.sport));
        self.dport.push(i32::from(p.dport));
        self.tcp_seq.push(i64::from(p.tcp_seq));
        self.tcp_ack.push(i64::from(p.tcp_ack));
        self.tcp_flags.push(i32::from(p.tcp_flags));
        self.tcp_window.push(i32::from(p.tcp_window));
        self.prefix
            .push(ByteArray::from(p.prefix[..p.prefix_len as usize].to_vec()));
        self.digest.push(p.digest.get() as i64);
        self.digest_len.push(i64::from(p.digest_len));
        self.fragmented.push(p.fragmented);
        self.fragments.push(i32::from(o.fragments));
        self.cut_header.push(cut);
        self.error_kind.push(text(""));
        self.error_code.push(0);
        self.reporter.push(text(""));
    }

    fn error(&mut self, e: &ErrorObservation, name: &str) {
        self.common(KIND_ERROR, e.point, name, e.ts_ns, e.record);
        let q = &e.quoted;
        // The quoted packet (echo request, TCP segment, UDP datagram), as the error quotes it.
        self.protocol.push(text(q.proto.keyword()));
        self.direction.push(text("request"));
        self.src.push(text(&q.src.to_string()));
        self.dst.push(text(&q.dst.to_string()));
        self.ttl.push(0);
        self.ip_id.push(0);
        self.icmp_id.push(i32::from(q.id));
        self.seq.push(i32::from(q.seq));
        self.icmp_len.push(i64::from(q.icmp_len));
        self.header_len.push(0);
        self.sport.push(i32::from(q.sport));
        self.dport.push(i32::from(q.dport));
        self.tcp_seq.push(i64::from(q.word));
        self.tcp_ack.push(0);
        self.tcp_flags.push(0);
        self.tcp_window.push(0);
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
                Some(o) => c.packet(o, name(o.point), cut.contains(&(i as u32))),
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
    column!(ByteArrayType, &c.protocol);
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
    column!(Int32Type, &c.header_len);
    column!(Int32Type, &c.sport);
    column!(Int32Type, &c.dport);
    column!(Int64Type, &c.tcp_seq);
    column!(Int64Type, &c.tcp_ack);
    column!(Int32Type, &c.tcp_flags);
    column!(Int32Type, &c.tcp_window);
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
    let version = match get(KEY_VERSION).map(|v| v.parse::<u32>()) {
        Some(Ok(v)) if READS.contains(&v) => v,
        Some(_) => {
            fail(
                &mut scan,
                None,
                format!(
                    "extracted with another natcorr schema version (this natcorr reads {} to {})",
                    READS.start(),
                    READS.end()
                ),
            );
            return scan;
        }
        None => {
            fail(&mut scan, None, "a Parquet file natcorr did not write (no natcorr.schema_version): extract it with `natcorr extract`".into());
            return scan;
        }
    };
    let layout = match Layout::of(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema(),
        version,
    ) {
        Ok(l) => l,
        Err(missing) => {
            fail(
                &mut scan,
                None,
                format!("no column `{missing}`, which natcorr's schema {version} has"),
            );
            return scan;
        }
    };
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
    if layout.old_digests {
        scan.old_digests = Some(OldDigests {
            file: shown.to_string(),
            version,
            ..OldDigests::default()
        });
    }
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
        // Checked every 2^16 rows: the address table keeps room for twice as many.
        if n.is_multiple_of(1 << 16) && !crate::model::Addr::has_room() {
            scan.diagnostics
                .push(super::file::too_many_addresses(shown, n, None));
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
        if row_into(&row, &layout, &mut scan).is_none() {
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

/// Where one file's columns are in its rows, looked up by name once per file (the row's fields
/// are the schema's, in its order).
struct Layout {
    /// The row kind of packets: `packet`, or `echo` in schema 1.
    packet_kind: &'static str,
    /// Schema 1 and 2: payloads over [`DIGEST_BYTEWISE`] bytes were digested by FNV-1a.
    old_digests: bool,
    kind: usize,
    point: usize,
    ts_ns: usize,
    record: usize,
    direction: usize,
    src: usize,
    dst: usize,
    ttl: usize,
    ip_id: usize,
    icmp_id: usize,
    seq: usize,
    icmp_len: usize,
    prefix: usize,
    digest: usize,
    digest_len: usize,
    fragmented: usize,
    fragments: usize,
    cut_header: usize,
    error_kind: usize,
    error_code: usize,
    reporter: usize,
    /// The TCP/UDP columns (schema 2 on); schema 1 rows are ICMP with an 8-byte header and
    /// no ports.
    transport: Option<TransportColumns>,
}

struct TransportColumns {
    protocol: usize,
    header_len: usize,
    sport: usize,
    dport: usize,
    tcp_seq: usize,
    tcp_ack: usize,
    tcp_flags: usize,
    tcp_window: usize,
}

impl Layout {
    /// The columns of a file of schema `version`; `Err`: the name of one it lacks.
    fn of(schema: &parquet::schema::types::Type, version: u32) -> Result<Layout, &'static str> {
        let fields = schema.get_fields();
        let at = |name: &'static str| fields.iter().position(|f| f.name() == name).ok_or(name);
        let transport = if version >= 2 {
            Some(TransportColumns {
                protocol: at("protocol")?,
                header_len: at("header_len")?,
                sport: at("sport")?,
                dport: at("dport")?,
                tcp_seq: at("tcp_seq")?,
                tcp_ack: at("tcp_ack")?,
                tcp_flags: at("tcp_flags")?,
                tcp_window: at("tcp_window")?,
            })
        } else {
            None
        };
        Ok(Layout {
            old_digests: version < 3,
            packet_kind: if version >= 2 {
                KIND_PACKET
            } else {
                KIND_ECHO_V1
            },
            kind: at("kind")?,
            point: at("point")?,
            ts_ns: at("ts_ns")?,
            record: at("record")?,
            direction: at("direction")?,
            src: at("src")?,
            dst: at("dst")?,
            ttl: at("ttl")?,
            ip_id: at("ip_id")?,
            icmp_id: at("icmp_id")?,
            seq: at("seq")?,
            icmp_len: at("icmp_len")?,
            prefix: at("prefix")?,
            digest: at("digest")?,
            digest_len: at("digest_len")?,
            fragmented: at("fragmented")?,
            fragments: at("fragments")?,
            cut_header: at("cut_header")?,
            error_kind: at("error_kind")?,
            error_code: at("error_code")?,
            reporter: at("reporter")?,
            transport,
        })
    }
}

/// The transport fields of one row: a packet's own, or those of the packet an error quotes
/// (`tcp_seq` then holds the quote's word).
struct TransportFields {
    proto: Protocol,
    header_len: u8,
    sport: u16,
    dport: u16,
    tcp_seq: u32,
    tcp_ack: u32,
    tcp_flags: u8,
    tcp_window: u16,
}

impl TransportFields {
    /// Schema 1: every row an ICMP echo (or an error quoting one).
    const ECHO: TransportFields = TransportFields {
        proto: Protocol::Icmp,
        header_len: 8,
        sport: 0,
        dport: 0,
        tcp_seq: 0,
        tcp_ack: 0,
        tcp_flags: 0,
        tcp_window: 0,
    };

    fn of(r: &Row, t: &TransportColumns) -> Option<TransportFields> {
        let int = |i: usize| r.get_int(i).ok();
        let long = |i: usize| r.get_long(i).ok();
        Some(TransportFields {
            proto: Protocol::from_keyword(r.get_string(t.protocol).ok()?)?,
            header_len: u8::try_from(int(t.header_len)?).ok()?,
            sport: u16::try_from(int(t.sport)?).ok()?,
            dport: u16::try_from(int(t.dport)?).ok()?,
            tcp_seq: u32::try_from(long(t.tcp_seq)?).ok()?,
            tcp_ack: u32::try_from(long(t.tcp_ack)?).ok()?,
            tcp_flags: u8::try_from(int(t.tcp_flags)?).ok()?,
            tcp_window: u16::try_from(int(t.tcp_window)?).ok()?,
        })
    }
}

/// One row into the scan; `None` when a value is out of range or a point is unknown.
fn row_into(r: &Row, l: &Layout, scan: &mut FileScan) -> Option<()> {
    let s = |i: usize| r.get_string(i).ok();
    let int = |i: usize| r.get_int(i).ok();
    let long = |i: usize| r.get_long(i).ok();
    let point = u32::try_from(int(l.point)?).ok()?;
    if point as usize >= scan.points.len() {
        return None;
    }
    let ts_ns = long(l.ts_ns)?;
    let record = u64::try_from(long(l.record)?).ok()?;
    let src: IpAddr = s(l.src)?.parse().ok()?;
    let dst: IpAddr = s(l.dst)?.parse().ok()?;
    let bytes = r.get_bytes(l.prefix).ok()?.data();
    if bytes.len() > PREFIX_LEN {
        return None;
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix[..bytes.len()].copy_from_slice(bytes);
    let prefix_len = bytes.len() as u8;
    let icmp_id = u16::try_from(int(l.icmp_id)?).ok()?;
    let seq = u16::try_from(int(l.seq)?).ok()?;
    let icmp_len = u16::try_from(long(l.icmp_len)?).ok()?;
    let t = match &l.transport {
        Some(columns) => TransportFields::of(r, columns)?,
        None => TransportFields::ECHO,
    };
    let kind = s(l.kind)?.as_str();
    if kind == l.packet_kind {
        let dir = match s(l.direction)?.as_str() {
            "request" => Direction::Request,
            "reply" => Direction::Reply,
            _ => return None,
        };
        let digest_len = u16::try_from(long(l.digest_len)?).ok()?;
        if let Some(old) = scan.old_digests.as_mut() {
            old.packets += u64::from(digest_len as usize > DIGEST_BYTEWISE);
        }
        let index = scan.observations.len() as u32;
        if r.get_bool(l.cut_header).ok()? {
            scan.cut_headers.push(index);
        }
        scan.observations.push(Observation {
            point,
            ts_ns,
            record,
            packet: Packet {
                proto: t.proto,
                header_len: t.header_len,
                sport: t.sport,
                dport: t.dport,
                tcp_seq: t.tcp_seq,
                tcp_ack: t.tcp_ack,
                tcp_flags: t.tcp_flags,
                tcp_window: t.tcp_window,
                dir,
                src: src.into(),
                dst: dst.into(),
                ttl: u8::try_from(int(l.ttl)?).ok()?,
                ip_id: u32::try_from(long(l.ip_id)?).ok()?,
                icmp_id,
                seq,
                icmp_len,
                prefix,
                prefix_len,
                digest: Digest::new(long(l.digest)? as u64),
                digest_len,
                fragmented: r.get_bool(l.fragmented).ok()?,
                fragments: u16::try_from(int(l.fragments)?).ok()?,
            },
        });
    } else if kind == KIND_ERROR {
        scan.errors.push(ErrorObservation {
            point,
            ts_ns,
            kind: error_kind_of(s(l.error_kind)?)?,
            code: u8::try_from(int(l.error_code)?).ok()?,
            reporter: s(l.reporter)?.parse().ok()?,
            quoted: QuotedEcho {
                proto: t.proto,
                sport: t.sport,
                dport: t.dport,
                // Schema 1 quotes only echoes: their word is the sequence number.
                word: if l.transport.is_some() {
                    t.tcp_seq
                } else {
                    u32::from(seq)
                },
                src,
                dst,
                id: icmp_id,
                seq,
                icmp_len,
                prefix,
                prefix_len,
            },
            record,
        });
    } else {
        return None;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str) -> Point {
        Point {
            name: name.into(),
            file: format!("{name}.pcap"),
            link_type: "EN10MB".into(),
            interface: Some(3),
            packets: 9,
            echo_packets: 2,
            tcp_packets: 3,
            udp_packets: 1,
            fragments: 1,
            duplicates: 1,
            first_ns: Some(-5),
            last_ns: Some(i64::MAX),
            ts_resolution_ns: 1000,
        }
    }

    fn packet(proto: Protocol, dir: Direction, v6: bool) -> Packet {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
        } else {
            (
                "192.0.2.1".parse().unwrap(),
                "198.51.100.2".parse().unwrap(),
            )
        };
        Packet {
            ttl: 255,
            ip_id: u32::MAX,
            seq: u16::MAX,
            icmp_len: u16::MAX,
            prefix: *b"0123456789abcdef",
            prefix_len: 16,
            digest: Digest::new(u64::MAX),
            digest_len: u16::MAX,
            ..Packet::blank(proto, dir, src, dst)
        }
    }

    /// Every field of packets and errors of each protocol, at the ends of their ranges.
    fn decoded() -> Decoded {
        // As the decoder leaves them: no bytes past `prefix_len`.
        let cut = |prefix: [u8; PREFIX_LEN], len: u8| {
            let mut p = [0; PREFIX_LEN];
            p[..len as usize].copy_from_slice(&prefix[..len as usize]);
            p
        };
        let mut echo = packet(Protocol::Icmp, Direction::Request, false);
        echo.icmp_id = 0xbeef;
        echo.fragmented = true;
        (echo.prefix, echo.prefix_len) = (cut(echo.prefix, 3), 3);
        let mut syn = packet(Protocol::Tcp, Direction::Request, true);
        (syn.sport, syn.dport, syn.header_len) = (65535, 443, 60);
        (syn.tcp_seq, syn.tcp_ack) = (u32::MAX, 0x8000_0000);
        (syn.tcp_flags, syn.tcp_window) = (0xff, u16::MAX);
        let mut ack = syn;
        (ack.dir, ack.tcp_flags, ack.tcp_seq) = (Direction::Reply, 0x10, 7);
        (ack.prefix, ack.prefix_len) = ([0; PREFIX_LEN], 0);
        let mut udp = packet(Protocol::Udp, Direction::Reply, false);
        (udp.sport, udp.dport, udp.seq) = (53, 52000, 2);
        let observations = [echo, syn, ack, udp]
            .into_iter()
            .enumerate()
            .map(|(i, mut packet)| {
                packet.fragments = if packet.fragmented { 3 } else { 0 };
                Observation {
                    point: (i % 2) as u32,
                    ts_ns: -1 + i as i64,
                    record: u64::MAX >> 1,
                    packet,
                }
            })
            .collect();
        let quoted = |proto, sport, dport, word| QuotedEcho {
            proto,
            src: "192.0.2.1".parse().unwrap(),
            dst: "203.0.113.9".parse().unwrap(),
            id: if proto == Protocol::Icmp { 7 } else { 0 },
            seq: if proto == Protocol::Icmp { 9 } else { 0 },
            sport,
            dport,
            word,
            icmp_len: 28,
            prefix: cut([0xa5; PREFIX_LEN], 5),
            prefix_len: 5,
        };
        let errors = [
            (ErrorKind::TimeExceeded, quoted(Protocol::Icmp, 0, 0, 9)),
            (
                ErrorKind::Unreachable,
                quoted(Protocol::Tcp, 41001, 80, u32::MAX),
            ),
            (
                ErrorKind::ParameterProblem,
                quoted(Protocol::Udp, 52000, 53, 0),
            ),
        ]
        .into_iter()
        .map(|(kind, quoted)| ErrorObservation {
            point: 1,
            ts_ns: 42,
            kind,
            code: 13,
            reporter: "2001:db8::ff".parse().unwrap(),
            quoted,
            record: 5,
        })
        .collect();
        Decoded {
            points: vec![point("a"), point("b")],
            observations,
            errors,
            diagnostics: vec![Diagnostic {
                file: "a.pcap".into(),
                severity: Severity::Warning,
                record: Some(4),
                offset: None,
                message: "a warning".into(),
            }],
            cut_headers: vec![2],
        }
    }

    fn read_back(bytes: &[u8]) -> FileScan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, bytes).unwrap();
        assert!(is_parquet(&path));
        read(&path, "x.parquet", &Budget::unlimited())
    }

    #[test]
    fn every_field_of_packets_and_errors_reads_back_as_written() {
        let d = decoded();
        let scan = read_back(&write(&d).unwrap());
        assert_eq!(
            format!("{:?}", scan.diagnostics),
            format!("{:?}", d.diagnostics)
        );
        assert_eq!(
            serde_json::to_string(&scan.points).unwrap(),
            serde_json::to_string(&d.points).unwrap()
        );
        assert_eq!(
            format!("{:?}", scan.observations),
            format!("{:?}", d.observations)
        );
        assert_eq!(format!("{:?}", scan.errors), format!("{:?}", d.errors));
        assert_eq!(scan.cut_headers, d.cut_headers);
    }

    #[test]
    fn nothing_decoded_is_an_empty_file_with_its_points() {
        let d = Decoded {
            points: vec![point("a")],
            observations: Vec::new(),
            errors: Vec::new(),
            diagnostics: Vec::new(),
            cut_headers: Vec::new(),
        };
        let scan = read_back(&write(&d).unwrap());
        assert!(scan.diagnostics.is_empty(), "{:?}", scan.diagnostics);
        assert_eq!(scan.points.len(), 1);
        assert!(scan.observations.is_empty() && scan.errors.is_empty());
    }
}
