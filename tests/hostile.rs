//! natcorr as an attacker or a careless user would run it (as root, right after an incident):
//! it never harms the user's files, never crashes, stays within its memory budget and never lets
//! an escape sequence reach the terminal. Every crafted input is built here, in temporary
//! directories; no test touches a device node.

mod common;

use common::{bin, root};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn plain(point: &str) -> PathBuf {
    root().join("captures/plain").join(format!("{point}.pcap"))
}

/// Runs natcorr with arguments that may not be UTF-8.
fn natcorr(args: &[&std::ffi::OsStr]) -> Output {
    std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies two plain captures into `dir` and returns their paths.
fn two_captures(dir: &Path) -> (PathBuf, PathBuf) {
    let a = dir.join("ha.pcap");
    let b = dir.join("qg.pcap");
    fs::copy(plain("ha-2b8cf5e0-b1"), &a).unwrap();
    fs::copy(plain("qg-0aeca8b7-8a"), &b).unwrap();
    (a, b)
}

#[test]
fn an_output_never_replaces_a_capture() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = two_captures(d.path());
    let before = fs::read(&a).unwrap();
    // `natcorr --html *.pcap`: the shell put a capture right after --html.
    let o = natcorr(&[os("--html"), a.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ha.pcap"), "{}", stderr(&o));
    assert_eq!(fs::read(&a).unwrap(), before, "the capture was changed");
    // -o naming an input (through another spelling of its path) is refused before reading.
    let other = d.path().join(".").join("qg.pcap");
    let o = natcorr(&[os("-o"), other.as_os_str(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(fs::read(&a).unwrap(), before);
}

#[test]
fn outputs_through_symlinks_and_fifos_keep_what_they_are() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = two_captures(d.path());
    let target = d.path().join("report.txt");
    let link = d.path().join("link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = natcorr(&[os("-o"), link.as_os_str(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&target).unwrap().contains("SNAT"));

    let fifo = d.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };
    let o = natcorr(&[os("--html"), fifo.as_os_str(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(reader.join().unwrap().contains("<!DOCTYPE html>"));
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // No temporary file was left beside the outputs.
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("natcorr")), "{names:?}");
}

#[test]
fn everything_is_validated_before_any_side_effect() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = two_captures(d.path());
    let out = d.path().join("out.txt");
    let cases: [&[&str]; 6] = [
        &["--ladder", "0"],
        &["--ladder", "1", "--format", "json"],
        &["--clock-offset", "x=abc"],
        &["--expect", "frobnicate"],
        &["--max-memory", "lots"],
        &["-", "-"],
    ];
    for case in cases {
        let mut args: Vec<&std::ffi::OsStr> = case.iter().map(|s| os(s)).collect();
        args.extend([os("-o"), out.as_os_str(), a.as_os_str(), b.as_os_str()]);
        let o = natcorr(&args);
        assert_eq!(o.status.code(), Some(2), "{case:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{case:?} gave no message");
        assert!(!out.exists(), "{case:?} wrote the output");
    }
}

#[test]
fn errors_reach_stderr_wherever_stdout_goes() {
    let o = natcorr(&[os("/nonexistent/missing.pcap")]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("missing.pcap") && e.contains("cannot open"),
        "{e}"
    );
}

#[test]
fn a_full_disk_is_an_error_not_a_panic() {
    use std::os::unix::process::CommandExt;
    let d = tempfile::tempdir().unwrap();
    let file = fs::File::create(d.path().join("completions.txt")).unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["completions", "bash"]).stdout(file);
    // A file size limit of 1 KB: the write fails with EFBIG, as on a full disk.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("natcorr:"), "{}", stderr(&o));
}

/// A zstd bomb of `records` echo requests (`benches/mkbomb.py`): small on disk, large once
/// decompressed. `identical`: one request repeated at one instant (duplicates, counted once).
fn bomb(dir: &Path, records: usize, identical: bool) -> PathBuf {
    let plain = dir.join("bomb.pcap");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(root().join("benches/mkbomb.py"))
        .arg(&plain)
        .arg(records.to_string());
    if identical {
        cmd.arg("--identical");
    }
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packed = dir.join("bomb.pcap.zst");
    let bytes = zstd::encode_all(fs::File::open(&plain).unwrap(), 9).unwrap();
    fs::write(&packed, bytes).unwrap();
    fs::remove_file(&plain).unwrap();
    packed
}

#[test]
fn a_decompression_bomb_stops_at_the_memory_budget() {
    let d = tempfile::tempdir().unwrap();
    let f = bomb(d.path(), 200_000, false);
    // 22.8 MB of distinct echoes in under 400 KB.
    assert!(fs::metadata(&f).unwrap().len() < 400_000);
    let o = natcorr(&[
        os("--max-memory"),
        os("16M"),
        os("--format"),
        os("json"),
        f.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("bomb.pcap.zst: record ") && e.contains("memory budget of 16 MB"),
        "{e}"
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let requests = json["flows"][0]["requests"].as_u64().unwrap();
    // What was read before the budget ran out is analyzed: about 16 MB / 256 B observations
    // (the budget is checked every 4 MB of input, so it may be passed by that much).
    assert!((50_000..=100_000).contains(&requests), "{requests}");
}

#[test]
fn a_bomb_of_one_repeated_frame_is_counted_as_duplicates_within_the_budget() {
    let d = tempfile::tempdir().unwrap();
    let f = bomb(d.path(), 200_000, true);
    let o = natcorr(&[
        os("--max-memory"),
        os("16M"),
        os("--format"),
        os("json"),
        f.as_os_str(),
    ]);
    // Duplicates are not kept, so the budget is never reached: the file is read to its end.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["points"][0]["packets"], 200_000);
    assert_eq!(json["points"][0]["duplicates"], 199_999);
    assert_eq!(json["flows"][0]["requests"], 1);
}

#[test]
fn a_rule_file_that_is_one_endless_line_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let rules = d.path().join("rules");
    fs::write(&rules, vec![b'x'; 10 << 20]).unwrap();
    let o = natcorr(&[
        os("--expect-file"),
        rules.as_os_str(),
        plain("vm1-eth0").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 1: longer than"), "{}", stderr(&o));
    fs::write(&rules, "loss=0\nsnat ha-*>qg-*\nfrobnicate\n").unwrap();
    let o = natcorr(&[
        os("--expect-file"),
        rules.as_os_str(),
        plain("vm1-eth0").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 3:"), "{}", stderr(&o));
}

#[test]
fn file_names_that_are_not_utf8_are_read() {
    let d = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"cap\xff.pcap");
    let f = d.path().join(name);
    fs::copy(plain("vm1-eth0"), &f).unwrap();
    let o = natcorr(&[os("--format"), os("json"), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["points"][0]["name"], "cap\u{fffd}");
    let mut point = b"vm=".to_vec();
    point.extend(f.as_os_str().as_bytes());
    let o = natcorr(&[os("--point"), std::ffi::OsStr::from_bytes(&point)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn pcapng_block(btype: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().next_multiple_of(4)) as u32;
    let mut b = btype.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.resize(len as usize - 4, 0);
    b.extend(len.to_le_bytes());
    b
}

fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = code.to_le_bytes().to_vec();
    o.extend((value.len() as u16).to_le_bytes());
    o.extend(value);
    o.resize(4 + value.len().next_multiple_of(4), 0);
    o
}

/// The first echo request of the plain vm1 capture (an Ethernet frame).
fn first_frame() -> Vec<u8> {
    let bytes = fs::read(plain("vm1-eth0")).unwrap();
    let mut at = 24;
    loop {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..at + 16 + caplen];
        // IPv4, ICMP, echo request.
        if frame[12..14] == [8, 0] && frame[23] == 1 && frame[34] == 8 {
            return frame.to_vec();
        }
        at += 16 + caplen;
    }
}

/// A pcapng with a Latin-1 `shb_os`, an IDB with a Latin-1 `if_name`, and one packet at `ts`
/// (microseconds).
fn latin1_pcapng(ts: u64) -> Vec<u8> {
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend([0xff; 8]);
    shb.extend(option(3, b"Linux \xe9t\xe9"));
    shb.extend([0; 4]);
    let mut idb = vec![1, 0, 0, 0];
    idb.extend(262144u32.to_le_bytes());
    idb.extend(option(2, b"eth\xe9"));
    idb.extend([0; 4]);
    let frame = first_frame();
    let mut epb = 0u32.to_le_bytes().to_vec();
    epb.extend(((ts >> 32) as u32).to_le_bytes());
    epb.extend((ts as u32).to_le_bytes());
    epb.extend((frame.len() as u32).to_le_bytes());
    epb.extend((frame.len() as u32).to_le_bytes());
    epb.extend(&frame);
    [
        pcapng_block(0x0A0D_0D0A, &shb),
        pcapng_block(1, &idb),
        pcapng_block(6, &epb),
    ]
    .concat()
}

#[test]
fn text_options_that_are_not_utf8_are_read_lossily() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("latin1.pcapng");
    fs::write(&f, latin1_pcapng(1_764_000_000_000_000)).unwrap();
    let o = natcorr(&[os("--format"), os("json"), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["points"][0]["name"], "eth\u{fffd}", "{json}");
    assert_eq!(json["points"][0]["echo_packets"], 1);
}

#[test]
fn extreme_timestamps_are_reported_not_overflowed() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("future.pcapng");
    fs::write(&f, latin1_pcapng(u64::MAX)).unwrap();
    // With a normal capture of the same packet: the clock estimate spans the whole i64 range.
    let o = natcorr(&[
        os("--format"),
        os("json"),
        f.as_os_str(),
        plain("vm1-eth0").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("beyond 2262-04-11"), "{}", stderr(&o));
    let o = natcorr(&[
        os("--clock-offset"),
        os("vm1-eth0=-999999999"),
        f.as_os_str(),
        plain("vm1-eth0").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn same_file_names_in_different_folders_get_unique_names() {
    let d = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (dir, point) in [
        ("a", "vm1-eth0"),
        ("b", "ha-2b8cf5e0-b1"),
        ("c", "dest-eth1"),
    ] {
        fs::create_dir(d.path().join(dir)).unwrap();
        let f = d.path().join(dir).join("eth0.pcap");
        fs::copy(plain(point), &f).unwrap();
        files.push(f);
    }
    let mut args = vec![os("--format"), os("json")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let o = natcorr(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a/eth0", "b/eth0", "c/eth0"]);
    assert!(stderr(&o).contains("also named eth0: this one is shown as b/eth0"));
    let nat = json["nat"].as_array().unwrap();
    assert!(nat.iter().all(|n| n["from"] != n["to"]), "{nat:?}");
}

#[test]
fn no_escape_sequence_or_bidi_control_reaches_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = two_captures(d.path());
    let evil = ["\u{1b}[31mred", "\u{1b}]0;title\u{7}", "a\u{202e}b"];
    for e in evil {
        let point = format!("{e}={}", a.display());
        let runs = [
            natcorr(&[os("--point"), os(&point)]),
            natcorr(&[os("--clock-offset"), os(&format!("{e}=x")), a.as_os_str()]),
            natcorr(&[os("--expect"), os(e), a.as_os_str()]),
            natcorr(&[os(&format!("/nonexistent/{e}.pcap"))]),
        ];
        for o in runs {
            for text in [&o.stdout, &o.stderr] {
                let t = String::from_utf8_lossy(text);
                assert!(
                    !t.contains('\u{1b}') && !t.contains('\u{7}') && !t.contains('\u{202e}'),
                    "{e:?} reached the terminal: {t}"
                );
            }
        }
    }
}

#[test]
fn a_capture_truncated_while_it_is_read_is_reported_cut() {
    // tcpdump -C/-W ring-buffer rotation truncates a file natcorr may be reading: the records
    // before the cut are used, the cut is reported, nothing crashes (a memory map would SIGBUS).
    use natcorr::capture::{open_source, Capture, Event, Opened};
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("ring.pcap");
    let out = std::process::Command::new("python3")
        .arg(root().join("benches/mkbomb.py"))
        .arg(&path)
        .arg("100000")
        .output()
        .expect("python3");
    assert!(out.status.success());
    let record = 16 + 98;
    assert_eq!(fs::metadata(&path).unwrap().len(), 24 + 100_000 * record);
    let Opened(reader, _) = open_source(&path).unwrap();
    let mut cap = Capture::open(reader).unwrap();
    let mut frames = 0u64;
    while frames < 1000 {
        match cap.next_event() {
            Event::Frame(_) => frames += 1,
            Event::Problem(p) => panic!("{p:?}"),
            Event::End => panic!("ended early"),
        }
    }
    // Cut far beyond what the reader has buffered, in the middle of record 50,001.
    let keep = 50_000;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(24 + keep * record + 40)
        .unwrap();
    let mut problems = Vec::new();
    loop {
        match cap.next_event() {
            Event::Frame(f) => {
                frames += 1;
                assert_eq!(f.data.len(), 98);
            }
            Event::Problem(p) => problems.push(p),
            Event::End => break,
        }
    }
    assert_eq!(frames, keep);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p.record, Some(keep + 1), "{p:?}");
    assert_eq!(p.offset, Some(24 + keep * record), "{p:?}");
    assert!(p.message.contains("cut"), "{p:?}");
}
