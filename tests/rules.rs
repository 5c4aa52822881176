//! NAT explained by the rules (issue 14): `--rules` with the seed's printouts and the lab's
//! dumps (recorded by `captures/lab/record.sh` beside each scenario's captures). Every
//! translation must be tied to the rule that made it; a rule edited to contradict the packets,
//! or one that should have translated packets the captures show unchanged, is a problem with
//! both sides and fails `--expect explained`.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn rules_args(dumps: &[PathBuf]) -> Vec<String> {
    dumps
        .iter()
        .flat_map(|d| ["--rules".to_string(), d.display().to_string()])
        .collect()
}

/// natcorr's JSON with the dumps as `--rules` and `extra` arguments.
fn explain(captures: &[PathBuf], dumps: &[PathBuf], extra: &[&str]) -> (i32, Value, String) {
    let args = rules_args(dumps);
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect();
    run_json(&args, captures)
}

fn verdict(n: &Value) -> &str {
    n["explanation"]["verdict"].as_str().unwrap_or("none")
}

/// The table and the HTML report of a scenario's captures with its rule dumps, the exit code
/// and stderr: `(code, table, html, stderr)`.
fn table_and_html(dir: &Path) -> (i32, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("r.html");
    let mut args = rules_args(&rule_dumps(dir));
    args.extend(["--html".into(), html.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, table, stderr) = run(&args, &captures_in(dir));
    let html = std::fs::read_to_string(html).unwrap_or_default();
    (code, table, html, stderr)
}

#[test]
fn seed_snats_are_tied_to_the_neutron_snat_rule_and_the_masquerade_rule() {
    let dir = captures_dir("seed");
    let (code, json, stderr) = explain(
        &captures_in(&dir),
        &rule_dumps(&dir),
        &["--expect", "explained"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(strs(&json["rule_namespaces"]), ["l3agent", "qrouter"]);
    let router = find_nat(&json, "snat", "ha-2b8cf5e0-b1", "qg-0aeca8b7-8a").unwrap();
    let by = &router["explained_by"];
    assert_eq!(by["namespace"], "qrouter");
    assert_eq!(by["chain"], "neutron-vpn-agen-snat");
    assert_eq!(by["line"], 19);
    assert_eq!(
        by["rule"],
        "-A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.17"
    );
    // The line number points at that rule in the file as printed.
    let file = std::fs::read_to_string(by["file"].as_str().unwrap()).unwrap();
    assert_eq!(file.lines().nth(18), by["rule"].as_str());
    let gateway = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
    assert_eq!(gateway["after"], "236.115.121.34", "eth2.106's address");
    let by = &gateway["explained_by"];
    assert_eq!(by["namespace"], "l3agent");
    assert_eq!(
        by["rule"],
        "-A neutron-vpn-agen-POSTROUTING -s 169.254.0.0/18 ! -o ex-l3dngw -j MASQUERADE"
    );
    assert!(json["rule_problems"].as_array().unwrap().is_empty());
    assert_eq!(json["expectations"][0]["passed"], true);

    // The table says it under each NAT sentence.
    let args = rules_args(&rule_dumps(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, table, _) = run(&args, &captures_in(&dir));
    assert_eq!(code, 0);
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("↳ explained by") && l.contains("qrouter"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.ends_with(
            "qrouter.iptables-nat-S.txt line 19: -A neutron-vpn-agen-snat -s 192.168.64.0/23 -j SNAT --to-source 169.254.43.17"
        ),
        "{line}"
    );
}

#[test]
fn the_html_report_shows_the_rule_on_the_hop_and_under_the_nat_sentence() {
    let (code, _, html, stderr) = table_and_html(&captures_dir("plain"));
    assert_eq!(code, 0, "{stderr}");
    let rule = "qrouter.iptables-save line 7: -A POSTROUTING -s 192.168.64.0/23 -o qg-0aeca8b7-8a -j SNAT --to-source 169.254.43.17";
    assert!(
        html.contains(&format!("{rule}</li>")),
        "under the NAT sentence"
    );
    assert!(
        html.contains(&format!("{rule}</span></td>")),
        "in the flow's hop table"
    );
}

#[test]
fn every_lab_translation_is_explained_by_its_namespace_dump() {
    let mut checked = 0;
    for scenario in [
        "plain",
        "any",
        "nft",
        "drop",
        "same-id",
        "dnat",
        "ipv6",
        "traceroute",
        "skew",
        "vxlan",
        "fragloss",
        "bigping",
        "constant-payload",
    ] {
        let dir = captures_dir(scenario);
        let d = rule_dumps(&dir);
        assert!(!d.is_empty(), "{scenario}: no dumps");
        let (code, json, stderr) = explain(&captures_in(&dir), &d, &["--expect", "explained"]);
        assert_eq!(code, 0, "{scenario}: {stderr}\n{:#}", json["rule_problems"]);
        for n in json["nat"].as_array().unwrap() {
            assert_eq!(verdict(n), "explained", "{scenario}: {n:#}");
            assert!(n["explained_by"]["rule"].is_string(), "{scenario}: {n:#}");
            checked += 1;
        }
        assert!(
            json["rule_problems"].as_array().unwrap().is_empty(),
            "{scenario}"
        );
    }
    assert!(checked >= 20, "{checked} translations checked");
}

#[test]
fn native_nft_rules_are_cited_by_file_and_handle() {
    let dir = captures_dir("nft");
    let (code, json, stderr) = explain(
        &captures_in(&dir),
        &rule_dumps(&dir),
        &["--expect", "explained"],
    );
    assert_eq!(code, 0, "{stderr}");
    let router = find_nat(&json, "snat", "ha-2b8cf5e0-b1", "qg-0aeca8b7-8a").unwrap();
    let by = &router["explained_by"];
    assert!(
        by["file"].as_str().unwrap().ends_with("qrouter.nft.json"),
        "{by}"
    );
    assert!(by["line"].is_null());
    assert_eq!(by["handle"], 2);
    assert_eq!(by["chain"], "post");
    assert_eq!(
        by["rule"],
        "ip saddr 192.168.64.0/23 oifname \"qg-0aeca8b7-8a\" snat to 169.254.43.17"
    );
    let gateway = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
    assert_eq!(
        gateway["explained_by"]["rule"],
        "ip saddr 169.254.0.0/18 oifname != \"ex-l3dngw\" masquerade"
    );
}

#[test]
fn a_masquerade_explanation_names_the_out_interface_address_it_chose() {
    // The seed's l3agent MASQUERADE took eth2.106's address: the table, the HTML and the
    // JSON's explanation text say which; `explained_by` stays the rule as written.
    let dir = captures_dir("seed");
    let said = "-j MASQUERADE (masquerades to eth2.106's address 236.115.121.34)";
    let (code, table, html, stderr) = table_and_html(&dir);
    assert_eq!(code, 0, "{stderr}");
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("↳ explained by") && l.contains("l3agent"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.ends_with(&format!("l3agent.iptables-nat-S.txt line 16: -A neutron-vpn-agen-POSTROUTING -s 169.254.0.0/18 ! -o ex-l3dngw {said}")),
        "{line}"
    );
    let qrouter = table
        .lines()
        .find(|l| l.trim_start().starts_with("↳ explained by") && l.contains("qrouter"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        !qrouter.contains("masquerades"),
        "SNAT --to-source: {qrouter}"
    );
    assert!(
        html.contains("-j MASQUERADE (masquerades to eth2.106&#39;s address 236.115.121.34)</li>"),
        "under the NAT sentence"
    );

    let (code, json, stderr) = explain(&captures_in(&dir), &rule_dumps(&dir), &[]);
    assert_eq!(code, 0, "{stderr}");
    let gateway = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
    let text = gateway["explanation"]["text"].as_str().unwrap();
    assert!(text.ends_with(said), "{text}");
    assert!(
        gateway["explained_by"]["rule"]
            .as_str()
            .unwrap()
            .ends_with("-j MASQUERADE"),
        "{gateway}"
    );

    // nft's `masquerade` the same, and TCP/UDP connections too.
    for (scenario, rule) in [
        ("nft", "oifname != \"ex-l3dngw\" masquerade"),
        ("tcp-fail", "! -o ex-l3dngw -j MASQUERADE"),
    ] {
        let dir = captures_dir(scenario);
        let (code, json, stderr) = explain(&captures_in(&dir), &rule_dumps(&dir), &[]);
        assert_eq!(code, 0, "{scenario}: {stderr}");
        let gateway = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
        let text = gateway["explanation"]["text"].as_str().unwrap();
        assert!(
            text.ends_with(&format!(
                "{rule} (masquerades to eth2.106's address 198.51.100.34)"
            )),
            "{scenario}: {text}"
        );
        assert!(
            schema_errors(&json).is_empty(),
            "{scenario}: {:?}",
            schema_errors(&json)
        );
    }
}

#[test]
fn points_of_an_any_capture_are_tied_to_their_interfaces_by_index() {
    // `tcpdump -i any` names points by interface index (`qrouter-any#if2`); the file is named
    // after the namespace, whose `ip -o addr` dump gives the index of ha- (2) and qg- (3).
    let dir = captures_dir("any");
    let (code, json, stderr) = explain(
        &captures_in(&dir),
        &rule_dumps(&dir),
        &["--expect", "explained"],
    );
    assert_eq!(code, 0, "{stderr}");
    let n = find_nat(&json, "snat", "qrouter-any#if2", "qrouter-any#if3").unwrap();
    assert_eq!(verdict(n), "explained", "{n:#}");
    assert_eq!(
        n["explained_by"]["rule"],
        "-A POSTROUTING -s 192.168.64.0/23 -o qg-0aeca8b7-8a -j SNAT --to-source 169.254.43.17"
    );

    // A file not named after a namespace cannot be tied: unexplained, and the expectation fails.
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for f in captures_in(&dir) {
        let name = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("qrouter-any", "router-any");
        let to = tmp.path().join(name);
        std::fs::copy(&f, &to).unwrap();
        files.push(to);
    }
    let (code, json, _) = explain(&files, &rule_dumps(&dir), &["--expect", "explained"]);
    assert_eq!(code, 1);
    let n = find_nat(&json, "snat", "router-any#if2", "router-any#if3").unwrap();
    assert_eq!(verdict(n), "unexplained");
    assert!(n["explained_by"].is_null());
    assert!(
        n["explanation"]["text"]
            .as_str()
            .unwrap()
            .contains("no address dump lists interface router-any#if2"),
        "{n:#}"
    );
}

/// The plain scenario's captures and dumps copied into a folder, `edit` applied to one dump.
fn edited_plain(
    dir: &Path,
    dump: &str,
    edit: impl Fn(&str) -> String,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let plain = captures_dir("plain");
    let mut files = Vec::new();
    for f in captures_in(&plain).into_iter().chain(rule_dumps(&plain)) {
        let to = dir.join(f.file_name().unwrap());
        std::fs::copy(&f, &to).unwrap();
        files.push(to);
    }
    let target = dir.join(dump);
    let text = std::fs::read_to_string(&target).unwrap();
    let changed = edit(&text);
    assert_ne!(text, changed, "the edit changed nothing");
    std::fs::write(&target, changed).unwrap();
    (captures_in(dir), rule_dumps(dir))
}

#[test]
fn a_rule_edited_to_another_address_contradicts_the_packets_and_fails_the_expectation() {
    let tmp = tempfile::tempdir().unwrap();
    let (captures, dumps) = edited_plain(tmp.path(), "qrouter.iptables-save", |t| {
        t.replace("--to-source 169.254.43.17", "--to-source 169.254.43.99")
    });
    let (code, json, _) = explain(&captures, &dumps, &["--expect", "explained"]);
    assert_eq!(code, 1);
    // The problem's keys are in the documented schema too.
    let errors = schema_errors(&json);
    assert!(errors.is_empty(), "{errors:#?}");
    let n = find_nat(&json, "snat", "ha-2b8cf5e0-b1", "qg-0aeca8b7-8a").unwrap();
    assert_eq!(verdict(n), "contradicted");
    assert!(n["explained_by"].is_null());
    let problems = json["rule_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(
        (p["from"].as_str(), p["to"].as_str()),
        (Some("ha-2b8cf5e0-b1"), Some("qg-0aeca8b7-8a"))
    );
    assert_eq!(p["verdict"], "contradicted");
    assert_eq!(p["rule"]["line"], 7);
    let text = p["text"].as_str().unwrap();
    assert!(
        text.contains("169.254.43.99") && text.contains("169.254.43.17"),
        "both sides: {text}"
    );
    assert!(
        json["expectations"][0]["found"]
            .as_str()
            .unwrap()
            .contains("169.254.43.99"),
        "{:#}",
        json["expectations"]
    );
    // The other SNAT is still explained by its own namespace's rule.
    let gw = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
    assert_eq!(verdict(gw), "explained");
}

#[test]
fn a_rule_that_should_have_translated_unchanged_packets_is_a_problem() {
    // vm1-eth0 listed among qrouter's interfaces (and vm1's own dumps left out), with a SNAT
    // out of ha-: the hop vm1-eth0 → ha- is then inside qrouter, and its packets show no change.
    let tmp = tempfile::tempdir().unwrap();
    let (captures, dumps) = edited_plain(tmp.path(), "qrouter.iptables-save", |t| {
        t.replace(
            "COMMIT",
            "-A POSTROUTING -s 192.168.64.0/23 -o ha-2b8cf5e0-b1 -j SNAT --to-source 192.168.65.124\nCOMMIT",
        )
    });
    let addr = tmp.path().join("qrouter.ip-addr.txt");
    let mut text = std::fs::read_to_string(&addr).unwrap();
    text.push_str("9: vm1-eth0    inet 192.168.65.200/23 scope global vm1-eth0\\       valid_lft forever preferred_lft forever\n");
    std::fs::write(&addr, text).unwrap();
    let dumps: Vec<PathBuf> = dumps
        .into_iter()
        .filter(|d| !d.file_name().unwrap().to_string_lossy().starts_with("vm1."))
        .collect();
    let (code, json, stderr) = explain(&captures, &dumps, &["--expect", "explained"]);
    assert_eq!(code, 1, "{stderr}");
    let problems = json["rule_problems"].as_array().unwrap();
    let p = problems
        .iter()
        .find(|p| p["verdict"] == "missing_translation")
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert_eq!(
        (p["from"].as_str(), p["to"].as_str()),
        (Some("vm1-eth0"), Some("ha-2b8cf5e0-b1"))
    );
    assert!(p["rule"]["rule"]
        .as_str()
        .unwrap()
        .contains("-o ha-2b8cf5e0-b1"));
    assert!(p["text"].as_str().unwrap().contains("no change"), "{p:#}");
}

#[test]
fn explained_without_rules_is_not_measured() {
    let dir = captures_dir("plain");
    let (code, json, _) = run_json(&["--expect", "explained"], &captures_in(&dir));
    assert_eq!(code, 1);
    let found = json["expectations"][0]["found"].as_str().unwrap();
    assert!(found.starts_with("not measured: no --rules"), "{found}");
    assert!(json["nat"][0]["explanation"].is_null());
    assert!(json["rule_problems"].as_array().unwrap().is_empty());
}

#[test]
fn a_rule_file_that_is_not_a_dump_is_a_warning_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = write_file(
        tmp.path(),
        "qrouter.notes.txt",
        b"this is not a rule dump\n",
    );
    let dir = captures_dir("plain");
    let (_, json, stderr) = explain(&captures_in(&dir), &[bogus], &[]);
    let warnings = json["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["file"].as_str().unwrap().ends_with("qrouter.notes.txt")),
        "{warnings:#?}"
    );
    assert!(stderr.contains("qrouter.notes.txt"), "{stderr}");
}

#[test]
fn a_rules_file_is_never_an_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = captures_dir("plain");
    let d = rule_dumps(&dir);
    let copy = tmp.path().join("qrouter.iptables-save");
    std::fs::copy(dir.join("qrouter.iptables-save"), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let mut args = rules_args(&d);
    args.extend(["--rules".into(), copy.display().to_string()]);
    args.extend(["-o".into(), copy.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args, &captures_in(&dir));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

#[test]
fn replies_kept_out_of_conntrack_name_the_notrack_rule() {
    let dir = captures_dir("unreversed");
    let (code, json, stderr) = explain(&captures_in(&dir), &rule_dumps(&dir), &[]);
    assert_eq!(code, 0, "{stderr}");
    // The l3agent's SNAT got its replies back and did not undo it: its raw table's NOTRACK.
    let l3 = find_nat(&json, "snat", "ex-l3dngw", "eth2.106").unwrap();
    assert_eq!(verdict(l3), "explained", "{l3:#}");
    let by = &l3["replies_untracked_by"];
    assert_eq!(by["namespace"], "l3agent", "{l3:#}");
    assert_eq!(by["line"], 5, "{l3:#}");
    assert!(
        by["rule"]
            .as_str()
            .unwrap()
            .ends_with("--icmp-type 0 -j NOTRACK"),
        "{by}"
    );
    // The qrouter's SNAT never got a reply addressed to it: nothing of its own to cite.
    let qr = find_nat(&json, "snat", "ha-2b8cf5e0-b1", "qg-0aeca8b7-8a").unwrap();
    assert!(qr["replies_untracked_by"].is_null(), "{qr:#}");
    let (_, table, html, _) = table_and_html(&dir);
    assert!(
        html.contains("takes them out of connection tracking"),
        "the HTML's NAT list"
    );
    assert!(
        table.contains("↳ replies not translated back: ")
            && table.contains("line 5: -A PREROUTING -i eth2.106 -p icmp -m icmp --icmp-type 0 -j NOTRACK takes them out of connection tracking"),
        "{table}"
    );

    // Without the NOTRACK line (or with one for requests only) no rule is named.
    let tmp = tempfile::tempdir().unwrap();
    for (edit, why) in [
        ("", "no NOTRACK"),
        (
            "-A PREROUTING -i eth2.106 -p icmp -m icmp --icmp-type 8 -j NOTRACK",
            "a NOTRACK of requests",
        ),
    ] {
        let mut dumps = Vec::new();
        for f in rule_dumps(&dir) {
            let to = tmp.path().join(f.file_name().unwrap());
            let text = std::fs::read_to_string(&f).unwrap();
            let text = text.replace(
                "-A PREROUTING -i eth2.106 -p icmp -m icmp --icmp-type 0 -j NOTRACK",
                edit,
            );
            std::fs::write(&to, text).unwrap();
            dumps.push(to);
        }
        let (code, json, stderr) = explain(&captures_in(&dir), &dumps, &[]);
        assert_eq!(code, 0, "{stderr}");
        for n in json["nat"].as_array().unwrap() {
            assert!(n["replies_untracked_by"].is_null(), "{why}: {n:#}");
        }
    }
}

#[test]
fn replies_translated_back_cite_no_notrack_rule() {
    // The unreversed scenario's dumps, whose NOTRACK matches every echo reply entering
    // eth2.106, beside captures whose replies were translated back: the rule is cited only
    // for replies that came back to a translation un-reversed, so never here.
    let dumps = rule_dumps(&captures_dir("unreversed"));
    for scenario in ["plain", "drop", "same-id"] {
        let dir = captures_dir(scenario);
        let (_, json, _) = explain(&captures_in(&dir), &dumps, &[]);
        let nat = json["nat"].as_array().unwrap();
        assert!(nat.iter().any(|n| n["to"] == "eth2.106"), "{scenario}");
        for n in nat {
            assert!(n["replies_untracked_by"].is_null(), "{scenario}: {n:#}");
        }
    }
}
