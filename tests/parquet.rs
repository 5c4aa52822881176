//! Extracted observations (issue 15): `natcorr extract` writes Parquet where the captures are,
//! and natcorr analyzes those files in place of the captures, mixed freely with them. The
//! analysis must be identical to the captures' on every committed scenario; DuckDB reads the
//! files (the Python `duckdb` package) with the row counts and values natcorr's CSV gives.

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

#[test]
fn duckdb_reads_the_rows_natcorr_would_list() {
    let probe = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip_or_fail(
            "duckdb_reads_the_rows_natcorr_would_list",
            "no Python duckdb package (pip install duckdb)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let captures = captures_in(&captures_dir("traceroute"));
    let out = tmp.path().join("traceroute.parquet");
    assert_eq!(extract(&out, &captures).0, 0);
    let query = format!(
        "import duckdb\n\
         f = '{}'\n\
         for r in duckdb.sql(f\"select point_name, kind, direction, count(*), min(ts_ns) from read_parquet('{{f}}') group by all order by all\").fetchall():\n\
         \x20   print(*r, sep=',')",
        out.display()
    );
    let o = Command::new("python3")
        .args(["-c", &query])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let duck: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
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
        let line = format!("{point},echo,{dir},{n},{first}");
        assert!(duck.contains(&line), "{line} not in {duck:#?}");
    }
    let errors: Vec<&String> = duck.iter().filter(|l| l.contains(",error,")).collect();
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
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        rows, seen,
        "ICMP error rows = errors × the points that saw them"
    );
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
