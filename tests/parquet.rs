//! Extracted observations (issue 15): `natcorr extract` writes Parquet where the captures are,
//! and natcorr analyzes those files in place of the captures, mixed freely with them. The
//! analysis must be identical to the captures' on every committed scenario (echoes, TCP, UDP,
//! ICMP errors quoting any of them); files of the previous schema (1: echoes only) still read;
//! DuckDB reads the files (the Python `duckdb` package) with the row counts and values
//! natcorr's CSV and JSON give.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `natcorr extract -o OUT FILES`; returns (exit code, stderr).
fn extract(out: &Path, files: &[PathBuf]) -> (i32, String) {
    let mut args = vec![
        "extract".to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args, &[]);
    (code, stderr)
}

/// Every committed folder with captures.
fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| {
            d.is_dir()
                && std::fs::read_dir(d)
                    .unwrap()
                    .any(|f| f.unwrap().path().extension().is_some_and(|e| e == "pcap"))
        })
        .collect();
    dirs.sort();
    dirs
}

fn analysis(files: &[PathBuf]) -> Value {
    let (_, json, _) = run_json(&[], files);
    json
}

#[test]
fn the_analysis_of_extracted_files_is_the_analysis_of_the_captures() {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for dir in scenarios() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let captures = captures_in(&dir);
        let want = analysis(&captures);
        // All of a scenario's captures in one file.
        let all = tmp.path().join(format!("{name}.parquet"));
        let (code, stderr) = extract(&all, &captures);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(analysis(&[all]), want, "{name}: one extracted file");
        // The first capture extracted on its own, the others as captures: mixed freely.
        let first = tmp.path().join(format!("{name}-first.parquet"));
        let (code, _) = extract(&first, &captures[..1]);
        assert_eq!(code, 0);
        let mixed: Vec<PathBuf> = std::iter::once(first)
            .chain(captures[1..].iter().cloned())
            .collect();
        assert_eq!(
            analysis(&mixed),
            want,
            "{name}: extracted and captures mixed"
        );
        // Each capture extracted where it was taken, then all the extracted files together.
        let each: Vec<PathBuf> = captures
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let out = tmp.path().join(format!("{name}-{i}.parquet"));
                assert_eq!(extract(&out, std::slice::from_ref(c)).0, 0);
                out
            })
            .collect();
        assert_eq!(
            analysis(&each),
            want,
            "{name}: one extracted file per capture"
        );
        checked += 1;
    }
    assert!(checked >= 15, "{checked} scenarios");
}

#[test]
fn standard_input_is_extracted_too() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stdin.parquet");
    let capture = std::fs::read(captures_dir("plain").join("vm1-eth0.pcap")).unwrap();
    let mut cmd = assert_cmd::Command::new(bin());
    let o = cmd
        .args(["extract", "-o", out.to_str().unwrap(), "-"])
        .write_stdin(capture.clone())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, from_stdin, _) = run_stdin(&["--format", "json", "-"], capture);
    assert_eq!(analysis(&[out]), parse_json(&from_stdin));
}

/// Whether Python's duckdb package is there; when not, the test is skipped (failed under CI).
fn have_duckdb(test: &str) -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    skip_or_fail(test, "no Python duckdb package (pip install duckdb)");
    false
}

/// The rows of a DuckDB query on the Parquet file `f` (named `{f}` in the query), one line
/// each, values joined by commas.
fn duckdb(f: &Path, query: &str) -> Vec<String> {
    let script = format!(
        "import duckdb\n\
         f = '{}'\n\
         for r in duckdb.sql(f\"{query}\").fetchall():\n\
         \x20   print(*r, sep=',')",
        f.display()
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn duckdb_reads_the_rows_natcorr_would_list() {
    if !have_duckdb("duckdb_reads_the_rows_natcorr_would_list") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let captures = captures_in(&captures_dir("traceroute"));
    let out = tmp.path().join("traceroute.parquet");
    assert_eq!(extract(&out, &captures).0, 0);
    let duck = duckdb(
        &out,
        "select point_name, kind, protocol, direction, count(*), min(ts_ns) \
         from read_parquet('{f}') group by all order by all",
    );
    // natcorr's own rows: one per echo observation (CSV), and the ICMP errors per point.
    let (_, csv, _) = run(&["--format", "csv"], &captures);
    let mut echo: std::collections::BTreeMap<(String, String), (u64, i64)> = Default::default();
    for row in csv.lines().skip(1) {
        let c: Vec<&str> = row.split(',').collect();
        let e = echo
            .entry((c[0].to_string(), c[3].to_string()))
            .or_insert((0, i64::MAX));
        e.0 += 1;
        e.1 = e.1.min(c[1].parse().unwrap());
    }
    for ((point, dir), (n, first)) in &echo {
        let line = format!("{point},packet,icmp,{dir},{n},{first}");
        assert!(duck.contains(&line), "{line} not in {duck:#?}");
    }
    let errors: Vec<&String> = duck.iter().filter(|l| l.contains(",error,")).collect();
    assert!(
        errors.iter().all(|l| l.contains(",error,icmp,request,")),
        "{errors:#?}"
    );
    let json = analysis(&captures);
    let seen: u64 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["errors"].as_array().unwrap())
        .map(|e| e["points"].as_array().unwrap().len() as u64)
        .sum();
    let rows: u64 = errors
        .iter()
        .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        rows, seen,
        "ICMP error rows = errors × the points that saw them"
    );
}

#[test]
fn duckdb_counts_the_tcp_and_udp_packets_natcorr_counts() {
    if !have_duckdb("duckdb_counts_the_tcp_and_udp_packets_natcorr_counts") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (scenario, protocol) in [("tcp", "tcp"), ("udp-drop", "udp")] {
        let captures = captures_in(&captures_dir(scenario));
        let out = tmp.path().join(format!("{scenario}.parquet"));
        assert_eq!(extract(&out, &captures).0, 0);
        let json = analysis(&captures);
        // Rows per point and protocol = the point's counts in natcorr's JSON.
        let duck: Vec<String> = duckdb(
            &out,
            "select point_name, protocol, count(*) from read_parquet('{f}') \
             where kind = 'packet' group by all order by all",
        );
        let mut want = Vec::new();
        for p in json["points"].as_array().unwrap() {
            for (proto, key) in [
                ("icmp", "echo_packets"),
                ("tcp", "tcp_packets"),
                ("udp", "udp_packets"),
            ] {
                let n = p[key].as_u64().unwrap();
                if n > 0 {
                    want.push(format!("{},{proto},{n}", p["name"].as_str().unwrap()));
                }
            }
        }
        want.sort();
        assert_eq!(duck, want, "{scenario}: rows per point and protocol");
        assert!(
            want.iter().any(|l| l.contains(&format!(",{protocol},"))),
            "{scenario}: {want:?}"
        );
        // The initiator's packets carry the ports natcorr reports for the flow at each point.
        let duck: std::collections::BTreeSet<String> = duckdb(
            &out,
            &format!(
                "select distinct point_name, sport, dport from read_parquet('{{f}}') \
                 where kind = 'packet' and protocol = '{protocol}' and direction = 'request'"
            ),
        )
        .into_iter()
        .collect();
        let ports: std::collections::BTreeSet<String> = json["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["origin"]["protocol"] == protocol && f["requests"].as_u64() > Some(0))
            .flat_map(|f| f["points"].as_array().unwrap())
            .filter(|p| p["requests"].as_u64() > Some(0))
            .map(|p| {
                format!(
                    "{},{},{}",
                    p["point"].as_str().unwrap(),
                    p["src_port"],
                    p["dst_port"]
                )
            })
            .collect();
        assert_eq!(duck, ports, "{scenario}: ports per point");
    }
}

/// The columns natcorr's Parquet schema 1 had (natcorr before TCP and UDP), in its order.
const SCHEMA_1: &str = "
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

/// `from`, an extracted file of echoes only, written as natcorr wrote schema 1: its columns
/// only, row kind `echo` for packets, points without the TCP/UDP counts; `version` in
/// `natcorr.schema_version` (1 for a true schema 1 file).
fn as_schema_1(from: &Path, to: &Path, version: &str) {
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::column::writer::ColumnWriter;
    use parquet::data_type::ByteArray;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::record::{Field, Row};
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let reader = SerializedFileReader::new(std::fs::File::open(from).unwrap()).unwrap();
    let rows: Vec<Row> = reader
        .get_row_iter(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let field = |row: &Row, name: &str| -> Field {
        let (_, f) = row
            .get_column_iter()
            .find(|(n, _)| n.as_str() == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        f.clone()
    };
    for r in &rows {
        assert_eq!(
            field(r, "protocol"),
            Field::Str("icmp".into()),
            "echoes only"
        );
    }
    let meta = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| {
            let mut kv = kv.clone();
            match kv.key.as_str() {
                "natcorr.schema_version" => kv.value = Some(version.into()),
                "natcorr.points" => {
                    let mut points: Value =
                        serde_json::from_str(kv.value.as_deref().unwrap()).unwrap();
                    for p in points.as_array_mut().unwrap() {
                        let p = p.as_object_mut().unwrap();
                        assert!(p.remove("tcp_packets").is_some());
                        assert!(p.remove("udp_packets").is_some());
                    }
                    kv.value = Some(points.to_string());
                }
                _ => {}
            }
            kv
        })
        .collect();
    let schema = Arc::new(parse_message_type(SCHEMA_1).unwrap());
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(meta))
        .build();
    let file = std::fs::File::create(to).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema.clone(), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for column in schema.get_fields() {
        let name = column.name();
        let values = rows.iter().map(|r| field(r, name));
        let mut col = group.next_column().unwrap().unwrap();
        match col.untyped() {
            ColumnWriter::ByteArrayColumnWriter(w) => {
                let v: Vec<ByteArray> = values
                    .map(|f| match f {
                        Field::Str(s) if name == "kind" && s == "packet" => "echo".into(),
                        Field::Str(s) => s.as_str().into(),
                        Field::Bytes(b) => b,
                        other => panic!("{name}: {other:?}"),
                    })
                    .collect();
                w.write_batch(&v, None, None).unwrap();
            }
            ColumnWriter::Int32ColumnWriter(w) => {
                let v: Vec<i32> = values
                    .map(|f| match f {
                        Field::Int(i) => i,
                        other => panic!("{name}: {other:?}"),
                    })
                    .collect();
                w.write_batch(&v, None, None).unwrap();
            }
            ColumnWriter::Int64ColumnWriter(w) => {
                let v: Vec<i64> = values
                    .map(|f| match f {
                        Field::Long(i) => i,
                        other => panic!("{name}: {other:?}"),
                    })
                    .collect();
                w.write_batch(&v, None, None).unwrap();
            }
            ColumnWriter::BoolColumnWriter(w) => {
                let v: Vec<bool> = values
                    .map(|f| match f {
                        Field::Bool(b) => b,
                        other => panic!("{name}: {other:?}"),
                    })
                    .collect();
                w.write_batch(&v, None, None).unwrap();
            }
            _ => unreachable!("{name}"),
        }
        col.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_file_of_schema_1_still_reads() {
    // Echoes (v4, v6, fragmented) and the ICMP errors quoting them, as natcorr before TCP and
    // UDP extracted them: the same analysis as the captures', alone or mixed with captures.
    let tmp = tempfile::tempdir().unwrap();
    for name in ["plain", "traceroute", "ipv6", "fragloss"] {
        let captures = captures_in(&captures_dir(name));
        let want = analysis(&captures);
        let now = tmp.path().join(format!("{name}.parquet"));
        assert_eq!(extract(&now, &captures).0, 0);
        let old = tmp.path().join(format!("{name}-schema-1.parquet"));
        as_schema_1(&now, &old, "1");
        assert_eq!(
            analysis(std::slice::from_ref(&old)),
            want,
            "{name}: schema 1"
        );
        let first = tmp.path().join(format!("{name}-first.parquet"));
        assert_eq!(extract(&first, &captures[..1]).0, 0);
        let first_old = tmp.path().join(format!("{name}-first-schema-1.parquet"));
        as_schema_1(&first, &first_old, "1");
        let mixed: Vec<PathBuf> = std::iter::once(first_old)
            .chain(captures[1..].iter().cloned())
            .collect();
        assert_eq!(analysis(&mixed), want, "{name}: schema 1 and captures");
    }
    // Schema 2 needs its transport columns; a later schema is not guessed at.
    let now = tmp.path().join("plain.parquet");
    for (version, says) in [
        ("2", "no column `protocol`, which natcorr's schema 2 has"),
        ("4", "extracted with another natcorr schema version"),
    ] {
        let bad = tmp.path().join(format!("schema-{version}.parquet"));
        as_schema_1(&now, &bad, version);
        let (code, json, stderr) = run_json(&[], std::slice::from_ref(&bad));
        assert_eq!(code, 2, "{stderr}");
        let w = &json["warnings"][0];
        assert!(w["message"].as_str().unwrap().starts_with(says), "{w}");
        assert!(w["file"].as_str().unwrap().ends_with(".parquet"), "{w}");
    }
}

/// A classic µs pcap of Ethernet (IPv4) frames, 1 ms apart.
fn pcap_of(ip_packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    out.extend([0; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, ip) in ip_packets.iter().enumerate() {
        let len = 14 + ip.len() as u32;
        for v in [1_795_600_000, 1000 * i as u32, len, len] {
            out.extend(v.to_le_bytes());
        }
        out.extend([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        out.extend_from_slice(ip);
    }
    out
}

#[test]
fn icmp_errors_quoting_tcp_and_udp_are_extracted_whole() {
    use etherparse::icmpv4::DestUnreachableHeader;
    use etherparse::{Icmpv4Type, PacketBuilder};
    let (host, server, router) = ([192, 168, 65, 125], [203, 0, 113, 234], [198, 51, 100, 1]);
    let mut syn = Vec::new();
    PacketBuilder::ipv4(host, server, 64)
        .tcp(41001, 80, 4_196_884_658, 64240)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let mut data = Vec::new();
    PacketBuilder::ipv4(host, server, 64)
        .tcp(41002, 443, 77, 502)
        .ack(1)
        .psh()
        .write(&mut data, b"GET / HTTP/1.0\r\n")
        .unwrap();
    let mut query = Vec::new();
    PacketBuilder::ipv4(host, server, 64)
        .udp(52000, 53)
        .write(&mut query, b"a query")
        .unwrap();
    let error = |from: [u8; 4], why: DestUnreachableHeader, quote: &[u8]| {
        let mut e = Vec::new();
        PacketBuilder::ipv4(from, host, 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(why))
            .write(&mut e, quote)
            .unwrap();
        e
    };
    let packets = vec![
        syn.clone(),
        error(router, DestUnreachableHeader::HostProhibited, &syn),
        data.clone(),
        // RFC 792's quote: the IP header and 8 bytes (ports and sequence number).
        error(router, DestUnreachableHeader::FilterProhibited, &data[..28]),
        query.clone(),
        error(server, DestUnreachableHeader::Port, &query),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let capture = write_file(tmp.path(), "host.pcap", &pcap_of(&packets));
    let out = tmp.path().join("host.parquet");
    assert_eq!(extract(&out, std::slice::from_ref(&capture)).0, 0);
    let want = analysis(std::slice::from_ref(&capture));
    let errors: Vec<(&str, u64)> = want["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let n = f["errors"].as_array().unwrap().len() as u64;
            (f["origin"]["protocol"].as_str().unwrap(), n)
        })
        .collect();
    assert_eq!(errors, [("tcp", 1), ("tcp", 1), ("udp", 1)], "{want:#}");
    assert_eq!(analysis(std::slice::from_ref(&out)), want);
    for protocol in ["tcp", "udp", "icmp"] {
        let only = |f: &Path| run_json(&["--protocol", protocol], &[f.to_path_buf()]).1;
        assert_eq!(only(&out), only(&capture), "--protocol {protocol}");
    }
}

#[test]
fn a_parquet_file_natcorr_did_not_write_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = write_file(tmp.path(), "other.parquet", b"PAR1 not really parquet PAR1");
    let (code, json, stderr) = run_json(&[], &[bogus]);
    assert_eq!(code, 2, "{stderr}");
    let w = &json["warnings"][0];
    assert!(
        w["file"].as_str().unwrap().ends_with("other.parquet"),
        "{w}"
    );
    assert_eq!(w["severity"], "error");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .starts_with("not a readable Parquet file"),
        "{w}"
    );
}

#[test]
fn extract_never_writes_over_an_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.pcap");
    std::fs::copy(captures_dir("plain").join("vm1-eth0.pcap"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let (code, stderr) = extract(&input, std::slice::from_ref(&input));
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.is_empty());
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_damaged_extracted_file_is_an_error_never_a_panic_or_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("plain.parquet");
    assert_eq!(extract(&good, &captures_in(&captures_dir("plain"))).0, 0);
    let bytes = std::fs::read(&good).unwrap();
    let bad = tmp.path().join("damaged.parquet");
    // Cut short, and one byte flipped every 61 bytes (pages, their headers, the footer).
    let mut cases: Vec<Vec<u8>> = vec![bytes[..bytes.len() / 2].to_vec()];
    cases.extend((4..bytes.len() - 4).step_by(61).map(|at| {
        let mut b = bytes.clone();
        b[at] ^= 0xff;
        b
    }));
    let mut errors = 0;
    for case in &cases {
        std::fs::write(&bad, case).unwrap();
        let (code, _, stderr) = run(&["--format", "json"], std::slice::from_ref(&bad));
        assert!(code == 0 || code == 2, "exit {code}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if code == 2 {
            assert!(stderr.contains("damaged.parquet"), "{stderr}");
            errors += 1;
        }
    }
    assert!(
        errors > cases.len() / 2,
        "{errors} of {} damaged files reported",
        cases.len()
    );
}

#[test]
fn a_capture_from_a_fifo_is_read_whole() {
    // Looking for the Parquet magic must not take the first bytes of a pipe (`<(zcat …)`).
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("capture.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let bytes = std::fs::read(captures_dir("plain").join("vm1-eth0.pcap")).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let (code, json, stderr) = run_json(&[], std::slice::from_ref(&fifo));
    writer.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["points"][0]["echo_packets"], 10);
    assert!(json["warnings"].as_array().unwrap().is_empty(), "{stderr}");
}

#[test]
fn an_older_extract_with_long_payloads_beside_captures_is_a_warning() {
    // Before schema 3 natcorr digested whole payloads with FNV-1a; now only their first 64
    // bytes. Older extracts still agree with one another, but their long packets cannot match
    // packets of captures: the analysis says so, naming the file and the count.
    let tmp = tempfile::tempdir().unwrap();
    let captures = captures_in(&captures_dir("bigping"));
    let first = tmp.path().join("first.parquet");
    assert_eq!(extract(&first, &captures[..1]).0, 0);
    let old = tmp.path().join("first-schema-1.parquet");
    as_schema_1(&first, &old, "1");
    let warnings = |files: &[PathBuf]| -> Vec<String> {
        let (_, json, _) = run_json(&[], files);
        let list = json["warnings"].as_array().unwrap().iter();
        list.map(|w| w["message"].as_str().unwrap().to_string())
            .collect()
    };
    let mixed: Vec<PathBuf> = std::iter::once(old.clone())
        .chain(captures[1..].iter().cloned())
        .collect();
    let (_, json, stderr) = run_json(&[], &mixed);
    let said: Vec<&Value> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["message"].as_str().unwrap().contains("older natcorr"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("first-schema-1.parquet"));
    let message = said[0]["message"].as_str().unwrap();
    assert!(message.contains("(Parquet schema 1)"), "{message}");
    // The count is the file's packet rows with more than 64 payload bytes captured.
    let long = long_payload_rows(&old);
    assert!(long > 0);
    assert!(
        message.contains(&format!(": {long} packet(s) with payloads over 64 bytes")),
        "{message}"
    );
    assert!(stderr.contains("older natcorr"), "on stderr too: {stderr}");
    // Alone, or beside another older extract, its digests agree: nothing to say.
    let second = tmp.path().join("second.parquet");
    assert_eq!(extract(&second, &captures[1..2]).0, 0);
    let second_old = tmp.path().join("second-schema-1.parquet");
    as_schema_1(&second, &second_old, "1");
    for files in [vec![old.clone()], vec![old, second_old]] {
        assert!(
            !warnings(&files).iter().any(|w| w.contains("older natcorr")),
            "{files:?}"
        );
    }
    // Today's extracts beside captures: nothing either.
    let now: Vec<PathBuf> = std::iter::once(first)
        .chain(captures[1..].iter().cloned())
        .collect();
    assert!(!warnings(&now).iter().any(|w| w.contains("older natcorr")));
}

/// Packet rows (not errors) of an extracted file whose `digest_len` is over 64, read with the
/// Parquet crate.
fn long_payload_rows(file: &Path) -> usize {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
    let rows = reader.get_row_iter(None).unwrap().map(Result::unwrap);
    let column = |row: &parquet::record::Row, name: &str| {
        row.get_column_iter().position(|(n, _)| n == name).unwrap()
    };
    rows.filter(|r| {
        r.get_string(column(r, "kind")).unwrap() != "error"
            && r.get_long(column(r, "digest_len")).unwrap() > 64
    })
    .count()
}
