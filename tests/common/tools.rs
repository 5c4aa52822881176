//! Tools the trust tests run: editcap, mergecap and tshark; a scenario's captures copied aside
//! and edited with them; tshark's fields of the same files (the truth natcorr is checked
//! against).

use super::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- tools ----

/// editcap, mergecap and tshark (Debian packages tshark and wireshark-common) are installed;
/// otherwise the test is skipped (failed under CI).
pub fn tools(test: &str) -> bool {
    for t in ["editcap", "mergecap", "tshark"] {
        if Command::new(t).arg("-v").output().is_err() {
            skip_or_fail(
                test,
                &format!("{t} not installed (apt-get install tshark wireshark-common)"),
            );
            return false;
        }
    }
    true
}

/// Runs a tool; it must succeed.
pub fn sh(prog: &str, args: &[&str]) {
    // editcap -A/-B read local time: the lab recorded in UTC.
    let out = Command::new(prog)
        .env("TZ", "UTC")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A corpus file, or `None` (the test is skipped, failed under CI).
pub fn corpus(test: &str, name: &str) -> Option<PathBuf> {
    let p = corpus_dir().join(name);
    if p.is_file() {
        Some(p)
    } else {
        skip_or_fail(test, &format!("{} not found", p.display()));
        None
    }
}

// ---- a scenario's captures, edited ----

/// A committed scenario's captures copied into a temporary folder, where tests edit them.
pub struct Set {
    pub dir: tempfile::TempDir,
    pub scenario: &'static str,
}

impl Set {
    pub fn new(scenario: &'static str) -> Set {
        let dir = tempfile::tempdir().unwrap();
        for f in captures_in(&captures_dir(scenario)) {
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
        Set { dir, scenario }
    }

    /// The committed (clean) capture of a point.
    pub fn clean(&self, point: &str) -> PathBuf {
        captures_dir(self.scenario).join(format!("{point}.pcap"))
    }

    /// The set's (edited) capture of a point.
    pub fn file(&self, point: &str) -> PathBuf {
        self.dir.path().join(format!("{point}.pcap"))
    }

    /// A scratch path in the set's folder that natcorr does not read.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.tmp"))
    }

    /// Replaces a point's capture by `prog args` run on the clean one: `{in}` and `{out}` in
    /// `args` stand for the clean file and the new one.
    pub fn edit(&self, point: &str, prog: &str, args: &[&str]) {
        let (src, dst) = (self.clean(point), self.file(point));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{in}", s(&src)).replace("{out}", s(&dst)))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sh(prog, &args);
    }

    pub fn files(&self) -> Vec<PathBuf> {
        captures_in(self.dir.path())
    }

    /// natcorr's JSON on the set; it must succeed (exit 0).
    pub fn analyze(&self) -> Value {
        let (code, json, stderr) = run_json(&[], &self.files());
        assert_eq!(code, 0, "{stderr}");
        json
    }
}

/// `scenario` with one point's capture replaced by `prog args` (see [`Set::edit`]) and natcorr's
/// JSON on it; `None` (skipped) without the tools.
pub fn edited(
    test: &str,
    scenario: &'static str,
    point: &str,
    prog: &str,
    args: &[&str],
) -> Option<(Set, Value)> {
    if !tools(test) {
        return None;
    }
    let set = Set::new(scenario);
    set.edit(point, prog, args);
    let json = set.analyze();
    Some((set, json))
}

// ---- tshark's truth ----

/// tshark's fields of every frame matching `filter` (IP reassembly off: a fragmented echo
/// counts once, on its first fragment, as natcorr counts it).
pub fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = vec![
        "-n",
        "-r",
        s(file),
        "-o",
        "ip.defragment:FALSE",
        "-o",
        "ipv6.defragment:FALSE",
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = Command::new("tshark").args(&args).output().unwrap();
    assert!(out.status.success(), "tshark on {}", file.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

/// Echo (requests, replies) in a file, by tshark.
pub fn tshark_echoes(file: &Path) -> (u64, u64) {
    let n = |f: &str| tshark(file, f, &["frame.number"]).len() as u64;
    (
        n("icmp.type == 8 || icmpv6.type == 128"),
        n("icmp.type == 0 || icmpv6.type == 129"),
    )
}

/// A `frame.time_epoch` in nanoseconds, exactly.
pub fn epoch_ns(t: &str) -> i64 {
    let (sec, frac) = t.split_once('.').unwrap_or((t, "0"));
    let frac = format!("{frac:0<9}");
    sec.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

/// Every RTT tshark pairs (a reply's `resp_to`), in ns from the frames' times, sorted.
pub fn tshark_rtts(file: &Path) -> Vec<i64> {
    let rows = tshark(file, "", &["frame.number", "frame.time_epoch"]);
    let time: std::collections::HashMap<String, i64> = rows
        .iter()
        .map(|r| (r[0].clone(), epoch_ns(&r[1])))
        .collect();
    let mut v: Vec<i64> = tshark(
        file,
        "icmp.resp_to || icmpv6.resp_to",
        &["frame.number", "icmp.resp_to", "icmpv6.resp_to"],
    )
    .iter()
    .map(|r| {
        let to = if r[1].is_empty() { &r[2] } else { &r[1] };
        time[&r[0]] - time[to]
    })
    .collect();
    v.sort_unstable();
    v
}
