//! A crafted set of broken captures, one per kind of damage: each gives one clear message naming
//! the file, the record and the byte offset, the rest is still analyzed, and the exit code says so.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// An Ethernet/IPv4 ICMP echo request frame (checksums are not checked by natcorr).
fn echo_frame(seq: u16) -> Vec<u8> {
    let mut f = vec![0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00];
    let payload: Vec<u8> = (0..56u8).map(|i| i.wrapping_add(seq as u8)).collect();
    let total = (20 + 8 + payload.len()) as u16;
    f.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        1,
        0,
        0,
    ]);
    f.extend([192, 0, 2, 1, 198, 51, 100, 7]);
    f.extend([8, 0, 0, 0, 0x12, 0x34, (seq >> 8) as u8, seq as u8]);
    f.extend(payload);
    f
}

fn pcap_header(snaplen: u32, linktype: u32) -> Vec<u8> {
    let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend(snaplen.to_le_bytes());
    h.extend(linktype.to_le_bytes());
    h
}

fn record(sec: u32, caplen: u32, orig: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(sec.to_le_bytes());
    r.extend(0u32.to_le_bytes());
    r.extend(caplen.to_le_bytes());
    r.extend(orig.to_le_bytes());
    r.extend(data);
    r
}

fn good_record(sec: u32, seq: u16) -> Vec<u8> {
    let f = echo_frame(seq);
    record(sec, f.len() as u32, f.len() as u32, &f)
}

/// A pcap with three good echo records.
fn good_pcap() -> Vec<u8> {
    let mut v = pcap_header(262_144, 1);
    for i in 1..=3 {
        v.extend(good_record(100 + i, i as u16));
    }
    v
}

fn pcapng_block(btype: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().next_multiple_of(4)) as u32;
    let mut b = Vec::new();
    b.extend(btype.to_le_bytes());
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.resize(len as usize - 4, 0);
    b.extend(len.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    body.extend(u64::MAX.to_le_bytes());
    pcapng_block(0x0A0D_0D0A, &body)
}

fn idb(linktype: u16, name: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(linktype.to_le_bytes());
    body.extend([0, 0]);
    body.extend(262_144u32.to_le_bytes());
    if let Some(n) = name {
        body.extend(2u16.to_le_bytes());
        body.extend((n.len() as u16).to_le_bytes());
        body.extend(n.as_bytes());
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend([0, 0, 0, 0]);
    }
    pcapng_block(1, &body)
}

fn epb(iface: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(iface.to_le_bytes());
    body.extend(((ts_us >> 32) as u32).to_le_bytes());
    body.extend((ts_us as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    pcapng_block(6, &body)
}

/// natcorr on a broken file and a good one: the good one is always analyzed.
fn run_with_good(dir: &Path, bad: &Path, extra: &[&str]) -> (i32, Value, String) {
    let good = write_file(dir, "good.pcap", &good_pcap());
    let (code, json, stderr) = run_json(extra, &[bad.to_path_buf(), good]);
    let good_point = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "good")
        .expect("good point");
    assert_eq!(
        good_point["echo_packets"], 3,
        "the good file is still analyzed: {json:#}"
    );
    (code, json, stderr)
}

/// The one diagnostic about `file`.
fn diag<'a>(json: &'a Value, file: &Path) -> &'a Value {
    let all: Vec<&Value> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["file"] == file.to_str().unwrap())
        .collect();
    assert_eq!(
        all.len(),
        1,
        "one diagnostic for {}: {all:#?}",
        file.display()
    );
    all[0]
}

fn echoes(json: &Value, point: &str) -> u64 {
    json["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == point)
        .map_or(0, |p| p["echo_packets"].as_u64().unwrap())
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    code: i32,
    severity: &'static str,
    message: &'static str,
    record: Option<u64>,
    offset: Option<u64>,
    echoes: u64,
}

#[allow(clippy::vec_init_then_push)]
fn cases() -> Vec<Case> {
    let good = good_pcap();
    let rec_len = good_record(0, 0).len() as u64;
    let third = 24 + 2 * rec_len;
    let mut v = Vec::new();
    v.push(Case {
        name: "text.pcap",
        bytes: b"# not a capture\n".to_vec(),
        code: 2,
        severity: "error",
        message: "not a pcap or pcapng capture: starts with 23 20 6e 6f (looks like text)",
        record: None,
        offset: None,
        echoes: 0,
    });
    v.push(Case {
        name: "short-header.pcap",
        bytes: good[..10].to_vec(),
        code: 2,
        severity: "error",
        message: "pcap file header cut short: 10 of 24 bytes",
        record: None,
        offset: Some(0),
        echoes: 0,
    });
    v.push(Case {
        name: "cut-record.pcap",
        bytes: good[..good.len() - 20].to_vec(),
        code: 0,
        severity: "warning",
        message: "last record cut short: 78 of 98 bytes present (the capture was cut while being written)",
        record: Some(3),
        offset: Some(third),
        echoes: 2,
    });
    v.push(Case {
        name: "cut-record-header.pcap",
        bytes: good[..third as usize + 6].to_vec(),
        code: 0,
        severity: "warning",
        message: "file ends inside a record header (6 of 16 bytes): the capture was cut while being written",
        record: Some(3),
        offset: Some(third),
        echoes: 2,
    });
    let mut huge = good[..third as usize].to_vec();
    huge.extend(record(103, 0xffff_fff0, 98, &echo_frame(3)));
    v.push(Case {
        name: "huge-caplen.pcap",
        bytes: huge,
        code: 0,
        severity: "warning",
        message: "record claims 4294967280 captured bytes, more than the 262144-byte limit: the file is corrupt from here on",
        record: Some(3),
        offset: Some(third),
        echoes: 2,
    });
    let mut first_bad = pcap_header(262_144, 1);
    first_bad.extend(record(1, 300_000, 300_000, &[0; 64]));
    v.push(Case {
        name: "corrupt-first-record.pcap",
        bytes: first_bad,
        code: 2,
        severity: "error",
        message: "record claims 300000 captured bytes, more than the 262144-byte limit: the file is corrupt from here on",
        record: Some(1),
        offset: Some(24),
        echoes: 0,
    });
    let mut over_snap = pcap_header(64, 1);
    over_snap.extend(good_record(1, 1));
    v.push(Case {
        name: "over-snaplen.pcap",
        bytes: over_snap,
        code: 0,
        severity: "warning",
        message: "captured length 98 exceeds the file's snaplen 64",
        record: Some(1),
        offset: Some(24),
        echoes: 1,
    });
    let mut zero = pcap_header(262_144, 1);
    zero.extend(record(1, 0, 60, &[]));
    zero.extend(good_record(2, 2));
    v.push(Case {
        name: "zero-length.pcap",
        bytes: zero,
        code: 0,
        severity: "warning",
        message: "zero-length record",
        record: Some(1),
        offset: Some(24),
        echoes: 1,
    });
    let mut back = pcap_header(262_144, 1);
    back.extend(good_record(200, 1));
    back.extend(good_record(150, 2));
    v.push(Case {
        name: "backwards.pcap",
        bytes: back,
        code: 0,
        severity: "warning",
        message: "timestamp goes backwards by 50000000000 ns; 1 record(s) out of time order in this file, by at most 50000000000 ns",
        record: Some(2),
        offset: Some(24 + rec_len),
        echoes: 2,
    });
    let mut unknown_link = pcap_header(262_144, 147);
    unknown_link.extend(good_record(1, 1));
    v.push(Case {
        name: "unknown-link.pcap",
        bytes: unknown_link,
        code: 2,
        severity: "error",
        message: "link type LINKTYPE_147 is not supported: 1 packet(s) not decoded",
        record: None,
        offset: None,
        echoes: 0,
    });
    // pcapng: SHB 28 bytes, IDB 20 bytes, then packets.
    let head = [shb(), idb(1, None)].concat();
    let epb1 = epb(0, 1_000_000, &echo_frame(1));
    let mut bad_len = [head.clone(), epb1.clone()].concat();
    let at = bad_len.len() as u64;
    let mut broken = epb(0, 2_000_000, &echo_frame(2));
    let n = broken.len();
    broken[n - 4..].copy_from_slice(&999u32.to_le_bytes());
    bad_len.extend(broken);
    v.push(Case {
        name: "trailer-mismatch.pcapng",
        bytes: bad_len,
        code: 0,
        severity: "warning",
        message:
            "block length 132 does not match its trailer 999: the file is corrupt from here on",
        record: Some(4),
        offset: Some(at),
        echoes: 1,
    });
    let mut too_long = [head.clone(), epb1.clone()].concat();
    let at = too_long.len() as u64;
    too_long.extend(6u32.to_le_bytes());
    too_long.extend(0x7fff_fff0u32.to_le_bytes());
    too_long.extend([0; 64]);
    v.push(Case {
        name: "block-too-long.pcapng",
        bytes: too_long,
        code: 0,
        severity: "warning",
        message: "block of type 0x6 claims a length of 2147483632 bytes (allowed 12..327680): the file is corrupt from here on",
        record: Some(4),
        offset: Some(at),
        echoes: 1,
    });
    let mut unknown = [head.clone(), epb1.clone()].concat();
    let at = unknown.len() as u64;
    unknown.extend(pcapng_block(0x0000_0777, &[1, 2, 3, 4]));
    unknown.extend(epb(0, 3_000_000, &echo_frame(3)));
    v.push(Case {
        name: "unknown-block.pcapng",
        bytes: unknown,
        code: 0,
        severity: "warning",
        message: "unknown block type 0x00000777 skipped",
        record: Some(4),
        offset: Some(at),
        echoes: 2,
    });
    let mut undeclared = [head.clone(), epb1.clone()].concat();
    let at = undeclared.len() as u64;
    undeclared.extend(epb(3, 2_000_000, &echo_frame(2)));
    undeclared.extend(epb(0, 3_000_000, &echo_frame(3)));
    v.push(Case {
        name: "undeclared-interface.pcapng",
        bytes: undeclared,
        code: 0,
        severity: "warning",
        message: "packet names interface 3, but this section declared only 1: packet skipped",
        record: Some(4),
        offset: Some(at),
        echoes: 2,
    });
    let mut cut_block = [head, epb1].concat();
    let at = cut_block.len() as u64;
    let third = epb(0, 3_000_000, &echo_frame(3));
    cut_block.extend(&third[..40]);
    v.push(Case {
        name: "cut-block.pcapng",
        bytes: cut_block,
        code: 0,
        severity: "warning",
        message: "last block cut short: 40 of 132 bytes present (the capture was cut while being written)",
        record: Some(4),
        offset: Some(at),
        echoes: 1,
    });
    v
}

#[test]
fn every_kind_of_damage_is_named_and_the_rest_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    for c in cases() {
        let bad = write_file(dir.path(), c.name, &c.bytes);
        let (code, json, stderr) = run_with_good(dir.path(), &bad, &[]);
        let d = diag(&json, &bad);
        assert_eq!(d["message"], c.message, "{}", c.name);
        assert_eq!(d["severity"], c.severity, "{}", c.name);
        assert_eq!(d["record"].as_u64(), c.record, "{}: record", c.name);
        assert_eq!(d["offset"].as_u64(), c.offset, "{}: offset", c.name);
        assert_eq!(code, c.code, "{}: exit code ({stderr})", c.name);
        let stem = c.name.split('.').next().unwrap();
        assert_eq!(
            echoes(&json, stem),
            c.echoes,
            "{}: echoes still used",
            c.name
        );
        assert!(
            stderr.contains(bad.to_str().unwrap()) && stderr.contains(c.message),
            "{}: {stderr}",
            c.name
        );
        // --strict turns any problem into exit code 2.
        let (strict, _, _) = run_with_good(dir.path(), &bad, &["--strict"]);
        assert_eq!(strict, 2, "{}: --strict", c.name);
    }
}

#[test]
fn a_missing_file_is_an_error_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    let (code, json, _) = run_with_good(dir.path(), &missing, &[]);
    assert_eq!(code, 2);
    let d = diag(&json, &missing);
    assert!(
        d["message"].as_str().unwrap().starts_with("cannot open: "),
        "{d}"
    );
    let (code, _, _) = run_with_good(dir.path(), dir.path(), &[]);
    assert_eq!(code, 2, "a directory is not a capture");
}

#[test]
fn a_clean_run_passes_strict() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_file(dir.path(), "good.pcap", &good_pcap());
    let (code, json, _) = run_json(&["--strict"], &[good]);
    assert_eq!(code, 0);
    assert!(json["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn compressed_and_streamed_captures_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_pcap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&good).unwrap();
    // Named misleadingly on purpose: detection is by content.
    let gz = write_file(dir.path(), "a.pcap", &gz.finish().unwrap());
    let zst = write_file(
        dir.path(),
        "b.bin",
        &zstd::encode_all(&good[..], 3).unwrap(),
    );
    let (code, json, stderr) = run_json(&[], &[gz, zst]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(echoes(&json, "a"), 3);
    assert_eq!(echoes(&json, "b.bin"), 3);
    let (code, stdout, _) = run_stdin(&["--format", "json", "-"], good);
    assert_eq!(code, 0);
    let json = parse_json(&stdout);
    assert_eq!(json["points"][0]["echo_packets"], 3);
}

#[test]
fn text_from_a_capture_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "eth0\u{1b}]0;owned\u{7}\u{1b}[2J";
    let bytes = [shb(), idb(1, Some(evil)), epb(0, 1_000_000, &echo_frame(1))].concat();
    let f = write_file(dir.path(), "evil.pcapng", &bytes);
    let (_, text, _) = run(&[], std::slice::from_ref(&f));
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("eth0\u{fffd}]0;owned"), "{text}");
    let (_, json, _) = run_json(&[], &[f]);
    assert!(!json.to_string().contains('\u{1b}'));
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_file(dir.path(), "good.pcap", &good_pcap());
    let report = dir.path().join("report.json");
    let (code, stdout, _) = run(
        &["--format", "json", "-o", report.to_str().unwrap()],
        &[good],
    );
    assert_eq!(code, 0);
    assert!(stdout.is_empty());
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["points"][0]["echo_packets"], 3);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 2, "no temporary file left behind");
}
