//! Shared by the integration tests: where the captures are, running the real `natcorr` binary,
//! reading its JSON, temporary and edited capture files, and skipping a test that cannot run
//! here. What a scenario must show is checked in [`scenarios`], on the committed captures and
//! on captures recorded fresh alike.

#![allow(dead_code)]

mod scenarios;
mod tools;

// Not every test file checks a scenario or runs the tools.
#[allow(unused_imports)]
pub use scenarios::*;
#[allow(unused_imports)]
pub use tools::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

// ---- paths ----

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus of public captures: `$NATCORR_CORPUS`, else `../shared/corpus` beside the
/// repository (whether it holds `MANIFEST.tsv` is for the caller to check).
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("NATCORR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"))
}

/// A committed scenario's folder: `captures/NAME`.
pub fn captures_dir(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

/// Every capture file in a folder, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no captures in {}", dir.display());
    v
}

/// The built `natcorr` binary.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("natcorr")
}

/// The rule and address dumps beside a scenario's captures.
pub fn rule_dumps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            [
                ".iptables-save",
                ".ip6tables-save",
                ".nft.json",
                ".ip-addr.txt",
                ".iptables-nat-S.txt",
            ]
            .iter()
            .any(|s| name.ends_with(s))
        })
        .collect();
    v.sort();
    v
}

// ---- running natcorr ----

/// Runs natcorr with `args`, then `files`; returns (exit code, stdout, stderr). Standard
/// output must be UTF-8; standard error is read leniently.
pub fn run(args: &[&str], files: &[PathBuf]) -> (i32, String, String) {
    finish(assert_cmd::Command::new(bin()).args(args).args(files))
}

/// Runs natcorr with `args`, `stdin` on its standard input; returns (exit code, stdout, stderr).
pub fn run_stdin(args: &[&str], stdin: impl Into<Vec<u8>>) -> (i32, String, String) {
    finish(
        assert_cmd::Command::new(bin())
            .args(args)
            .write_stdin(stdin),
    )
}

fn finish(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("stdout is not UTF-8: {e}")),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses natcorr's standard output as JSON.
pub fn parse_json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("output is not JSON ({e}): {stdout}"))
}

/// Runs natcorr with `--format json` and returns (exit code, parsed output, stderr).
pub fn run_json(args: &[&str], files: &[PathBuf]) -> (i32, Value, String) {
    let args: Vec<&str> = ["--format", "json"].iter().chain(args).copied().collect();
    let (code, stdout, stderr) = run(&args, files);
    (code, parse_json(&stdout), stderr)
}

/// A folder's captures analyzed; natcorr must succeed.
pub fn analyze(dir: &Path) -> Value {
    let (code, json, stderr) = run_json(&[], &captures_in(dir));
    assert_eq!(code, 0, "natcorr failed on {}: {stderr}", dir.display());
    json
}

// ---- reading the JSON ----

/// Echo packets decoded at all points together.
pub fn total_echoes(json: &Value) -> u64 {
    json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["echo_packets"].as_u64().unwrap())
        .sum()
}

pub fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The NAT findings as (kind, from, to, before, after).
pub fn nat(json: &Value) -> Vec<(String, String, String, String, String)> {
    json["nat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| {
                n[k].as_str()
                    .map(String::from)
                    .unwrap_or_else(|| n[k].to_string())
            };
            (s("kind"), s("from"), s("to"), s("before"), s("after"))
        })
        .collect()
}

pub fn find_nat<'a>(json: &'a Value, kind: &str, from: &str, to: &str) -> Option<&'a Value> {
    json["nat"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == kind && n["from"] == from && n["to"] == to)
}

/// The one flow a scenario must have.
pub fn only_flow(json: &Value) -> &Value {
    let flows = json["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{json:#}");
    &flows[0]
}

/// What the JSON Schema (`schema/natcorr.schema.json`) finds wrong in `json`, one line each.
pub fn schema_errors(json: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/natcorr.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

// ---- files ----

/// Writes `bytes` to `dir/name` (a temporary folder) and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A copy of `file` cut in the middle of its last record.
pub fn cut_mid_record(file: &Path, into: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap();
    let cut = into.join(file.file_name().unwrap());
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    cut
}

/// Adds `secs` to every timestamp of a classic pcap (like `editcap -t`).
pub fn shift_pcap(src: &Path, dst: &Path, secs: i64) {
    let mut b = std::fs::read(src).unwrap();
    let le = b[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || b[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let mut at = 24;
    while at + 16 <= b.len() {
        let field = |b: &[u8], o: usize| {
            let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        };
        let sec = (i64::from(field(&b, at)) + secs) as u32;
        b[at..at + 4].copy_from_slice(&if le {
            sec.to_le_bytes()
        } else {
            sec.to_be_bytes()
        });
        at += 16 + field(&b, at + 8) as usize;
    }
    std::fs::write(dst, b).unwrap();
}

// ---- skipping ----

/// A test that cannot run here (a tool or data missing): says so on stderr, or fails under CI
/// (`CI=true`), where everything a test needs must be there. The caller returns after it.
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run under CI: {why}");
    }
    // Written to the process's stderr directly: libtest captures `eprintln!` of a passing
    // test, and a skip must show in the summary without `--nocapture`.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
