//! Pipelines: expectations and their exit codes, JUnit, the JSON schema, per-packet rows,
//! Mermaid, completions and the man page.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

#[test]
fn every_expectation_passes_and_fails_with_its_exit_code() {
    let plain = captures_in(&captures_dir("plain"));
    let drop = captures_in(&captures_dir("drop"));
    let cases: [(&str, bool, &str); 12] = [
        ("snat ha-*>qg-*", true, "SNAT 192.168.65.125 → 169.254.43.17 between ha-2b8cf5e0-b1 and qg-0aeca8b7-8a"),
        ("snat qg-*>ex-*", false, "SNAT found only between ha-2b8cf5e0-b1 and qg-0aeca8b7-8a, between ex-l3dngw and eth2.106"),
        ("dnat *>*", false, "no DNAT found"),
        ("id ha-*>qg-*", false, "no ID found"),
        ("no-nat qg-*>ex-*", true, "no translation there"),
        ("no-nat ex-*>eth2.*", false, "SNAT 169.254.43.17 → 198.51.100.34 between ex-l3dngw and eth2.106"),
        ("loss=0", true, "no packet lost"),
        ("hop-latency<5ms", true, "worst p95"),
        ("hop-latency<1ns", false, "worst p95"),
        ("rtt<1s", true, "worst median RTT"),
        ("nat-count=2", true, "2 translations"),
        ("flows>1", false, "1 flow"),
    ];
    for (rule, passes, found) in cases {
        let (code, json, stderr) = run_json(&["--expect", rule], &plain);
        assert_eq!(code, if passes { 0 } else { 1 }, "{rule}: {stderr}");
        let e = &json["expectations"][0];
        assert_eq!(e["rule"], rule);
        assert_eq!(e["passed"], passes, "{rule}: {e}");
        let text = e["found"].as_str().unwrap();
        assert!(text.contains(found), "{rule}: {e}");
        // Counts are worded for their number ("1 flow", "2 translations"), never "(s)".
        assert!(
            !text.contains("(s)") && !text.contains("1 flows"),
            "{rule}: {e}"
        );
    }
    let (code, json, _) = run_json(&["--expect", "loss=0"], &drop);
    assert_eq!(code, 1);
    assert_eq!(
        json["expectations"][0]["found"],
        "2 lost, 1 unverified: missing where the capture was not demonstrably running (flow 1: 2 between ex-l3dngw and eth2.106; flow 1: 1 unverified between ex-l3dngw and eth2.106)"
    );
    // The table lists them too.
    let (code, text, _) = run(&["--expect", "loss=0", "--expect", "snat ha-*>qg-*"], &drop);
    assert_eq!(code, 1);
    assert!(
        text.contains("EXPECTATIONS (1 of 2 met)") && text.contains("FAIL  loss=0"),
        "{text}"
    );
}

#[test]
fn a_bad_rule_is_exit_code_2_before_any_reading() {
    let (code, _, stderr) = run(
        &["--expect", "loss=lots"],
        &[PathBuf::from("/nonexistent.pcap")],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("expected a whole number"), "{stderr}");
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::write(&rules, "snat ha-*>qg-*\nfrobnicate\n").unwrap();
    let (code, _, stderr) = run(
        &["--expect-file", rules.to_str().unwrap()],
        &captures_in(&captures_dir("plain")),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("rules: line 2: cannot read expectation \"frobnicate\""),
        "{stderr}"
    );
}

#[test]
fn expect_file_and_junit() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("ci.rules");
    std::fs::write(&rules, "# the seed path\nsnat ha-*>qg-*\nno-nat qg-*>ex-*\nsnat ex-*>eth2.106  # l3agent\nloss=0\n").unwrap();
    let junit = tmp.path().join("junit.xml");
    let (code, _, stderr) = run(
        &[
            "--expect-file",
            rules.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--expect",
            "flows=2",
        ],
        &captures_in(&captures_dir("drop")),
    );
    assert_eq!(code, 1, "{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites tests=\"5\" failures=\"2\">"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 5);
    assert_eq!(xml.matches("<failure ").count(), 2);
    assert!(xml.contains("name=\"no-nat qg-*&gt;ex-*\""));
    assert!(
        xml.contains("<failure message=\"2 lost, 1 unverified: missing where the capture was not demonstrably running (flow 1: 2 between ex-l3dngw and eth2.106; flow 1: 1 unverified between ex-l3dngw and eth2.106)\">"),
        "{xml}"
    );
}

#[test]
fn json_output_matches_the_schema_for_every_scenario() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/natcorr.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("captures")).unwrap() {
        let d = entry.unwrap().path();
        if !d.is_dir()
            || std::fs::read_dir(&d)
                .unwrap()
                .all(|f| f.unwrap().path().extension().is_none_or(|e| e != "pcap"))
        {
            continue;
        }
        // With the scenario's rule and address dumps, so the `--rules` keys are checked too.
        let mut args = vec!["--expect".to_string(), "loss=0".to_string()];
        for f in rule_dumps(&d) {
            args.extend(["--rules".to_string(), f.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, json, _) = run_json(&args, &captures_in(&d));
        let errors = schema_errors(&json);
        assert!(errors.is_empty(), "{}: {errors:#?}", d.display());
        assert_eq!(json["schema_version"], 1);
        checked += 1;
    }
    assert!(checked >= 13, "{checked} scenarios");
    // Warnings carry their record and offset; the schema holds them too.
    let tmp = tempfile::tempdir().unwrap();
    let cut = cut_mid_record(&captures_in(&captures_dir("plain"))[0], tmp.path());
    let (_, json, _) = run_json(&[], &[cut]);
    assert!(validator.is_valid(&json), "{json:#}");
    // And it is strict: a key the schema does not know, or a wrong type, fails.
    let mut bad = json.clone();
    bad["points"][0]["surprise"] = 1.into();
    assert!(!validator.is_valid(&bad));
    let mut bad = json.clone();
    bad["schema_version"] = 2.into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn per_packet_rows_equal_the_observations() {
    for scenario in ["plain", "same-id", "traceroute"] {
        let files = captures_in(&captures_dir(scenario));
        let (_, json, _) = run_json(&[], &files);
        // Echo packets only: ICMP errors and later fragments are not rows.
        let echoes = total_echoes(&json);
        let (code, csv, _) = run(&["--format", "csv"], &files);
        assert_eq!(code, 0);
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), natcorr::report::COLUMNS.join(","));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len() as u64, echoes, "{scenario}");
        let (_, jsonl, _) = run(&["--format", "jsonl"], &files);
        let parsed: Vec<Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len() as u64, echoes);
        for r in &parsed {
            for c in natcorr::report::COLUMNS {
                assert!(r.get(c).is_some(), "{c} missing in {r}");
            }
        }
        // A journey is one packet: one row per point, one direction.
        let mut by_journey: std::collections::HashMap<u64, Vec<&Value>> = Default::default();
        for r in &parsed {
            by_journey
                .entry(r["journey"].as_u64().unwrap())
                .or_default()
                .push(r);
        }
        for rows in by_journey.values() {
            let mut points: Vec<&str> = rows.iter().map(|r| r["point"].as_str().unwrap()).collect();
            points.sort();
            points.dedup();
            assert_eq!(points.len(), rows.len());
            assert!(rows
                .iter()
                .all(|r| r["direction"] == rows[0]["direction"] && r["seq"] == rows[0]["seq"]));
        }
    }
    // Two VMs: rows of vm1's flow never carry vm2's address inside.
    let (_, jsonl, _) = run(
        &["--format", "jsonl"],
        &captures_in(&captures_dir("same-id")),
    );
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flow_of_vm1 = rows.iter().find(|r| r["src"] == "192.168.65.125").unwrap()["flow"].clone();
    assert!(rows
        .iter()
        .filter(|r| r["flow"] == flow_of_vm1)
        .all(|r| r["src"] != "192.168.65.126" && r["dst"] != "192.168.65.126"));
}

#[test]
fn mermaid_draws_the_path_and_its_translations() {
    let (code, text, _) = run(
        &["--format", "mermaid"],
        &captures_in(&captures_dir("same-id")),
    );
    assert_eq!(code, 0);
    assert_eq!(
        text.matches("```mermaid\nsequenceDiagram").count(),
        2,
        "one diagram per path: {text}"
    );
    assert!(
        text.contains("participant P0 as vm1-eth0") && text.contains("participant P0 as vm2-eth0")
    );
    assert!(
        text.contains("Note over P1,P2: SNAT 192.168.65.125 → 169.254.43.17"),
        "{text}"
    );
    assert!(text.contains("Note over P1,P2: ID 4242 → "), "{text}");
    assert!(text.contains("Note over P3,P4: SNAT 169.254.43.17 → 198.51.100.34"));
    assert!(text.contains("P5-->>P4: reply"));
    let (_, drop, _) = run(
        &["--format", "mermaid"],
        &captures_in(&captures_dir("drop")),
    );
    assert!(drop.contains("Note over P3,P4: 2 requests lost"), "{drop}");
}

#[test]
fn completions_and_man_page() {
    let (code, bash, _) = run(&["completions", "bash"], &[]);
    assert_eq!(code, 0);
    assert!(bash.contains("--expect-file") && bash.contains("--clock-offset"));
    let (_, zsh, _) = run(&["completions", "zsh"], &[]);
    assert!(zsh.contains("#compdef natcorr"));
    let (_, fish, _) = run(&["completions", "fish"], &[]);
    assert!(fish.contains("complete -c natcorr"));
    assert_eq!(run(&["completions", "tcsh"], &[]).0, 2);
    let (code, man, _) = run(&["man"], &[]);
    assert_eq!(code, 0);
    assert!(
        man.contains(".TH natcorr 1") && man.contains("\\-\\-expect"),
        "{}",
        &man[..200]
    );
}

#[test]
fn terminal_ladder_marks_what_each_hop_changed() {
    let files = captures_in(&captures_dir("same-id"));
    // The journey of vm2's first request, from the per-packet rows.
    let (_, jsonl, _) = run(&["--format", "jsonl"], &files);
    let journey = jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["src"] == "192.168.65.126" && r["direction"] == "request")
        .unwrap()["journey"]
        .as_u64()
        .unwrap();
    let (code, text, _) = run(&["--ladder", &journey.to_string()], &files);
    assert_eq!(code, 0);
    assert!(
        text.starts_with(&format!("journey {journey} and ")),
        "{text}"
    );
    assert!(
        text.contains("request 192.168.65.126 > 203.0.113.234 id 4242"),
        "{text}"
    );
    assert!(
        text.contains("*169.254.43.17* > 203.0.113.234 id *"),
        "SNAT and id rewrite marked: {text}"
    );
    assert!(text.contains("|---------------->o"), "{text}");
    assert!(
        text.contains("o<----------------|"),
        "the reply comes back: {text}"
    );
    assert_eq!(run(&["--ladder", "999999"], &files).0, 2);
}

#[test]
fn colors_only_on_a_terminal_and_never_with_no_color() {
    let files = captures_in(&captures_dir("drop"));
    let (_, piped, _) = run(&["--expect", "loss=0"], &files);
    assert!(!piped.contains('\u{1b}'), "no colors into a pipe");
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_fail(
            "colors_only_on_a_terminal_and_never_with_no_color",
            "no `script` to make a pseudo-terminal",
        );
        return;
    }
    let cmd = command_line("--expect loss=0", &files);
    // script keeps a copy of the session: in a temporary file, never a device.
    let tmp = tempfile::tempdir().unwrap();
    let typescript = tmp.path().join("typescript");
    let tty = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd]).arg(&typescript);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    assert!(
        tty(false).contains("\u{1b}[1;31mFAIL\u{1b}[0m"),
        "red FAIL on a terminal"
    );
    assert!(!tty(true).contains('\u{1b}'), "NO_COLOR wins");
}

#[test]
fn json_is_compact_into_a_pipe_or_file_and_indented_on_a_terminal() {
    let files = captures_in(&captures_dir("drop"));
    let (code, piped, stderr) = run(&["--format", "json"], &files);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(piped.matches('\n').count(), 1, "one line and its newline");
    assert!(piped.ends_with("}\n"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report.json");
    let mut args: Vec<String> = vec!["--format".into(), "json".into(), "-o".into()];
    args.push(out.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(&refs, &files).0, 0);
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written, piped, "-o writes what the pipe gets");
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_fail(
            "json_is_compact_into_a_pipe_or_file_and_indented_on_a_terminal",
            "no `script` to make a pseudo-terminal",
        );
        return;
    }
    let cmd = command_line("--format json", &files);
    let typescript = tmp.path().join("typescript");
    let c = std::process::Command::new("script")
        .args(["-qec", &cmd])
        .arg(&typescript)
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&c.stdout).replace("\r\n", "\n");
    assert!(
        tty.contains("\n  \"points\": ["),
        "indented: {}",
        &tty[..tty.len().min(200)]
    );
    let (a, b): (Value, Value) = (
        serde_json::from_str(tty.trim()).unwrap(),
        serde_json::from_str(&piped).unwrap(),
    );
    assert_eq!(a, b, "the same document either way");
}

/// natcorr with `args` on `files`, as one line for `script -c`.
fn command_line(args: &str, files: &[PathBuf]) -> String {
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    format!("{} {args} {}", bin().display(), files.join(" "))
}
