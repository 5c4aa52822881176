//! Reports a person reads at a glance (issue 16): the terminal's width, path order, journeys in
//! time order, a lost packet's ladder, and the wording of counts and names, each asserted on
//! the committed captures (or a crafted one where a count of one is needed).

mod common;

#[path = "../benches/shapes.rs"]
mod shapes;
#[path = "../benches/synth.rs"]
mod synth;

use common::*;
use std::path::PathBuf;
use std::process::Command;

/// The table natcorr prints on a pseudo-terminal `columns` wide (colors removed), or `None`
/// (skipped, failed under CI) without `script`.
fn on_terminal(test: &str, columns: usize, files: &[PathBuf]) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        skip_or_fail(test, "no `script` to make a pseudo-terminal");
        return None;
    }
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let cmd = format!(
        "stty cols {columns} rows 50; {} {}",
        bin().display(),
        files.join(" ")
    );
    // script keeps a copy of the session: in a temporary file, never a device.
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("script")
        .args(["-qec", &cmd])
        .arg(tmp.path().join("typescript"))
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let mut plain = String::new();
    let mut escape = false;
    for c in text.chars() {
        match c {
            '\u{1b}' => escape = true,
            'm' if escape => escape = false,
            _ if escape => {}
            _ => plain.push(c),
        }
    }
    Some(plain)
}

#[test]
fn on_a_100_column_terminal_no_line_is_wider_and_left_out_columns_are_named() {
    for scenario in ["same-id", "drop", "traceroute", "seed"] {
        let files = captures_in(&captures_dir(scenario));
        let test = "on_a_100_column_terminal_no_line_is_wider";
        let Some(text) = on_terminal(test, 100, &files) else {
            return;
        };
        assert!(text.contains("CAPTURE POINTS"), "{scenario}: {text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{scenario}: {} columns: {line}\n{text}",
                line.chars().count()
            );
        }
        // Into a pipe the tables stay whole.
        let (_, piped, _) = run(&[], &files);
        assert!(piped.lines().any(|l| l.chars().count() > 100), "{scenario}");
        assert!(!piped.contains("left out to fit"));
    }
    let text = on_terminal("narrow", 100, &captures_in(&captures_dir("same-id"))).unwrap();
    assert!(
        text.contains("(hop latency reply, ttl, rtt median, dst left out to fit 100 columns"),
        "{text}"
    );
}

#[test]
fn capture_points_are_listed_in_path_order() {
    let (_, table, _) = run(&[], &captures_in(&captures_dir("same-id")));
    let points: Vec<&str> = table
        .lines()
        .skip_while(|l| *l != "CAPTURE POINTS")
        .skip(4)
        .take_while(|l| l.starts_with('│'))
        .map(|l| l.trim_start_matches('│').split('│').next().unwrap().trim())
        .collect();
    let want: Vec<&str> = LAB_PATH.iter().copied().chain(["vm2-eth0"]).collect();
    assert_eq!(
        points, want,
        "the first flow's path, then vm2-eth0 (the second flow's origin)"
    );
}

#[test]
fn journeys_are_numbered_in_time_order() {
    let (code, csv, _) = run(&["--format", "csv"], &captures_in(&captures_dir("drop")));
    assert_eq!(code, 0);
    let mut first_seen = Vec::new();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|&c| c == "journey").unwrap();
    for row in csv.lines().skip(1) {
        let journey: u64 = row.split(',').nth(at).unwrap().parse().unwrap();
        if !first_seen.contains(&journey) {
            first_seen.push(journey);
        }
    }
    let sorted: Vec<u64> = (1..=first_seen.len() as u64).collect();
    assert_eq!(
        first_seen, sorted,
        "journey n first appears before journey n+1"
    );
    // Journey 1 is the first request (seq 1).
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[3], row[7]), ("request", "1"));
}

#[test]
fn the_ladder_of_a_lost_packet_shows_where_it_vanished() {
    let files = captures_in(&captures_dir("drop"));
    let (_, csv, _) = run(&["--format", "csv"], &files);
    // seq 3's request: dropped inside the l3agent, between ex-l3dngw and eth2.106.
    let journey = csv
        .lines()
        .skip(1)
        .map(|r| r.split(',').collect::<Vec<_>>())
        .find(|r| r[3] == "request" && r[7] == "3")
        .map(|r| r[12].to_string())
        .unwrap();
    let (code, ladder, stderr) = run(&["--ladder", &journey], &files);
    assert_eq!(code, 0, "{stderr}");
    let last = ladder.lines().last().unwrap();
    assert!(
        last.ends_with("request lost between ex-l3dngw and eth2.106"),
        "{ladder}"
    );
    // The x sits in eth2.106's lane, the fifth.
    let lanes: Vec<usize> = ladder
        .lines()
        .nth(2)
        .map(|header| {
            ["eth2.106"]
                .iter()
                .map(|p| header.find(p).unwrap())
                .collect()
        })
        .unwrap();
    let x = last.find('x').unwrap();
    assert!(x >= lanes[0] && x < lanes[0] + 18, "{ladder}");
}

/// One echo request and its reply at two points, crafted: counts of one.
fn one_exchange() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let files = shapes::Shape::Points
        .files(2)
        .iter()
        .map(|(name, bytes)| write_file(dir.path(), name, bytes))
        .collect();
    (dir, files)
}

#[test]
fn counts_of_one_are_worded_in_the_singular() {
    let (_dir, files) = one_exchange();
    let (code, table, _) = run(&[], &files);
    assert_eq!(code, 0);
    assert!(
        table.contains("2 capture points · 1 flow · 0 translations"),
        "{table}"
    );
    assert!(table.contains("·  1 request, 1 reply  ·"), "{table}");
    assert!(!table.contains("1 requests") && !table.contains("1 replies"));
    assert!(!table.contains("1 flows"));
    let html_path = _dir.path().join("r.html");
    let (code, _, _) = run(&["--html", html_path.to_str().unwrap()], &files);
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(html_path).unwrap();
    assert!(
        html.contains("<p>1 request, 1 reply, matched"),
        "HTML flow heading"
    );
    assert!(html.contains("2 capture points · 1 flow · 0 translations · 0 problems"));
    assert!(html.contains("<th>TTL drop</th>") && !html.contains("TTL −"));
}

#[test]
fn warnings_header_counts_errors_and_warnings_apart() {
    let plain = captures_dir("plain");
    let f = plain.join("vm1-eth0.pcap");
    // The same file twice: read once, with a warning (not a silent second point).
    let (code, json, stderr) = run_json(&[], &[f.clone(), plain.join("./vm1-eth0.pcap")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["points"].as_array().unwrap().len(), 1);
    assert!(json["points"][0]["name"]
        .as_str()
        .unwrap()
        .ends_with("vm1-eth0"));
    assert!(!json.to_string().contains("~2"));
    assert!(
        stderr.contains("given more than once: read once"),
        "{stderr}"
    );
    let (_, table, _) = run(&[], &[f.clone(), f]);
    assert!(table.contains("WARNINGS (1 warning)\n"), "{table}");
    assert!(!table.contains("(0 errors)"));
}

#[test]
fn standard_input_is_the_point_stdin() {
    let bytes = std::fs::read(captures_dir("plain").join("vm1-eth0.pcap")).unwrap();
    let (code, table, _) = run_stdin(&["-"], bytes);
    assert_eq!(code, 0);
    assert!(table.contains(" at stdin  ·"), "{table}");
    assert!(table.contains("│ stdin │ standard input │"), "{table}");
    assert!(!table.contains(" at -  "));
}

#[test]
fn a_same_id_rewrite_says_whose_identifier_it_was() {
    let (_, table, _) = run(&[], &captures_in(&captures_dir("same-id")));
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("ID 4242 → "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.ends_with("— the identifier of 192.168.65.126's requests"),
        "{line}"
    );
}

#[test]
fn a_capture_without_echoes_says_why_it_has_no_flow() {
    let (code, json, _) = run_json(&["--protocol", "icmp"], &captures_in(&captures_dir("tcp")));
    assert_eq!(code, 0);
    assert!(json["flows"].as_array().unwrap().is_empty());
    let notes = strs(&json["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n == "0 flows: none of the 192 packets read is an ICMP echo"),
        "{notes:?}"
    );
}

#[test]
fn the_man_page_synopsis_shows_values_and_the_examples_keep_their_layout() {
    let (code, man, _) = run(&["man"], &[]);
    assert_eq!(code, 0);
    let synopsis = man
        .lines()
        .skip_while(|l| *l != ".SH SYNOPSIS")
        .nth(1)
        .unwrap();
    assert!(
        synopsis.contains(r"[\fB\-\-point\fR \fINAME=FILE\fR]"),
        "{synopsis}"
    );
    assert!(
        synopsis.contains(r"[\fB\-\-rules\fR \fIFILE\fR]"),
        "{synopsis}"
    );
    assert!(
        synopsis.contains(r"[\fB\-\-flows\fR]"),
        "a flag takes no value: {synopsis}"
    );
    let extra = man.split(".SH EXTRA\n").nth(1).unwrap();
    assert!(extra.starts_with(".nf\n"), "no refilling of the examples");
    assert!(extra.split(".SH ").next().unwrap().ends_with(".fi\n"));
}

/// Not a test of its own: run by the next one, in a child test process.
#[test]
fn skip_probe() {
    if std::env::var_os("NATCORR_SKIP_PROBE").is_some() {
        skip_or_fail("skip_probe", "probing how a skip shows");
    }
}

#[test]
fn a_skipped_test_says_so_without_nocapture_and_fails_under_ci() {
    let me = std::env::current_exe().unwrap();
    let child = |ci: Option<&str>| {
        let mut c = Command::new(&me);
        c.args(["skip_probe", "--exact", "--test-threads=1"])
            .env("NATCORR_SKIP_PROBE", "1");
        match ci {
            Some(v) => c.env("CI", v),
            None => c.env_remove("CI"),
        };
        c.output().unwrap()
    };
    let out = child(None);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SKIPPED skip_probe: probing how a skip shows"),
        "visible in the run's output: {stderr}"
    );
    let out = child(Some("true"));
    assert!(!out.status.success(), "under CI a skip is a failure");
}

#[test]
fn compact_json_is_the_analysis_serialized_byte_for_byte() {
    // The compact writer serializes flows in parallel batches beside the other fields; it must
    // write exactly what serde writes for the whole analysis: every scenario, with its rules
    // (explanations), an expectation, and more flows than one batch holds.
    use natcorr::model::{Input, Options};
    use natcorr::report::Format;
    let inputs = |files: &[PathBuf]| -> Vec<Input> {
        let list = files.iter().map(|p| Input {
            path: p.clone(),
            name: None,
        });
        list.collect()
    };
    let check = |what: &str, files: &[PathBuf], rules: Vec<PathBuf>| {
        let options = Options {
            rules,
            ..Options::default()
        };
        let mut a = natcorr::analyze(&inputs(files), &options);
        let rules = natcorr::expect::parse_file("loss=0\n").unwrap();
        a.expectations = natcorr::expect::check_all(&rules, &a).unwrap();
        let want = serde_json::to_string(&a).unwrap() + "\n";
        let got = Format::Json
            .renderer(false, false, None)
            .render(&a)
            .unwrap();
        assert!(got == want, "{what}: the compact writer differs from serde");
        a.flows.len()
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("captures")).unwrap() {
        let dir = entry.unwrap().path();
        let has_captures = std::fs::read_dir(&dir).is_ok_and(|mut d| {
            d.any(|f| f.is_ok_and(|f| f.path().extension().is_some_and(|e| e == "pcap")))
        });
        if has_captures {
            let files = captures_in(&dir);
            check(&dir.display().to_string(), &files, rule_dumps(&dir));
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} scenarios");
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = shapes::Shape::OnePointFlows
        .files(20_000)
        .iter()
        .map(|(name, bytes)| write_file(tmp.path(), name, bytes))
        .collect();
    assert!(check("20,000 one-point flows", &files, Vec::new()) > 16_384);
}
