//! natcorr on every committed scenario in `captures/`.

mod common;

use common::*;

#[test]
fn seed_names_the_two_snat_hops_the_engineer_found() {
    let json = analyze(&captures_dir("seed"));
    let f = &json["flows"].as_array().unwrap()[0];
    assert_eq!(json["flows"].as_array().unwrap().len(), 1);
    assert_eq!(f["matched"], "flow");
    assert_eq!(
        strs(&f["path"]),
        [
            "ha-2b8cf5e0-b1",
            "qg-0aeca8b7-8a",
            "ex-l3dngw",
            "eth2.106",
            "eth1"
        ]
    );
    let found = nat(&json);
    let expected = vec![
        (
            "snat",
            "ha-2b8cf5e0-b1",
            "qg-0aeca8b7-8a",
            "192.168.65.125",
            "169.254.43.17",
        ),
        (
            "snat",
            "ex-l3dngw",
            "eth2.106",
            "169.254.43.17",
            "236.115.121.34",
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(a, b, c, d, e)| {
            (
                a.to_string(),
                b.to_string(),
                c.to_string(),
                d.to_string(),
                e.to_string(),
            )
        })
        .collect();
    assert_eq!(
        found, expected,
        "and nothing between qg- and ex-l3dngw or eth2.106 and eth1"
    );
    for n in json["nat"].as_array().unwrap() {
        assert_eq!(n["matched"], "flow");
        assert_eq!(n["packets"], 4);
    }
    let hops = f["hops"].as_array().unwrap();
    assert!(
        hops[1]["translations"].as_array().unwrap().is_empty(),
        "qg- → ex-l3dngw"
    );
    assert_eq!(f["requests"], 4);
    assert_eq!(f["replies"], 0);
}

#[test]
fn seed_table_says_it_in_words() {
    let (code, text, _) = run(&[], &captures_in(&captures_dir("seed")));
    assert_eq!(code, 0);
    assert!(
        text.contains(
            "SNAT 192.168.65.125 → 169.254.43.17 between ha-2b8cf5e0-b1 and qg-0aeca8b7-8a"
        ),
        "{text}"
    );
    assert!(
        text.contains("SNAT 169.254.43.17 → 236.115.121.34 between ex-l3dngw and eth2.106"),
        "{text}"
    );
}

#[test]
fn plain() {
    check_plain(&captures_dir("plain"));
    // The same path and NAT written as native nftables rules.
    check_plain(&captures_dir("nft"));
}

#[test]
fn same_id() {
    check_same_id(&captures_dir("same-id"));
}

#[test]
fn drop_every_second_request() {
    check_drop(&captures_dir("drop"));
}

#[test]
fn replies_not_translated_back() {
    check_unreversed(&captures_dir("unreversed"));
}

#[test]
fn capture_cut_mid_record() {
    check_cut(&captures_dir("plain"));
}

#[test]
fn tcpdump_any_file_is_two_points() {
    check_any(&captures_dir("any"));
}

#[test]
fn point_names_can_be_given() {
    let files = captures_in(&captures_dir("plain"));
    let vm = files.iter().find(|f| f.ends_with("vm1-eth0.pcap")).unwrap();
    let arg = format!("tenant-vm={}", vm.display());
    let rest: Vec<_> = files.iter().filter(|f| *f != vm).cloned().collect();
    let (code, json, _) = run_json(&["--point", &arg], &rest);
    assert_eq!(code, 0);
    assert_eq!(json["flows"][0]["path"][0], "tenant-vm");
    let (code, _, stderr) = run(&["--point", "no-equals-sign"], &[]);
    assert_eq!(code, 2, "a wrong command line is exit code 2");
    assert!(stderr.contains("expected NAME=FILE"));
}

#[test]
fn tcp_connections_cross_both_snats() {
    check_tcp(&captures_dir("tcp"));
}

#[test]
fn same_source_port_is_rewritten_for_one_connection_only() {
    check_same_port(&captures_dir("same-port"));
}

#[test]
fn udp_loss_is_placed_inside_the_l3agent() {
    check_udp_drop(&captures_dir("udp-drop"));
}

#[test]
fn inbound_tcp_is_dnatted_twice() {
    check_dnat_tcp(&captures_dir("dnat-tcp"));
}

#[test]
fn four_connections_fail_in_four_places() {
    // Recorded on Linux 6.18: three SYNs, 1 s apart, for the connection nobody answers.
    check_tcp_fail(&captures_dir("tcp-fail"), 3);
}

#[test]
fn a_closed_udp_port_is_answered_by_the_destination_not_a_router() {
    // The port unreachable for 43004 → 203.0.113.234:9999 came from 203.0.113.234 itself: the
    // traceroute section says so instead of listing it as a router at ttl 64.
    let dir = captures_dir("tcp-fail");
    let (code, table, stderr) = run(&[], &captures_in(&dir));
    assert_eq!(code, 0, "{stderr}");
    let section: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("ROUTERS THAT ANSWERED"))
        .take_while(|l| !l.is_empty())
        .collect();
    let line = section
        .iter()
        .find(|l| l.trim_start().starts_with("ttl 64"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains("203.0.113.234 (the destination itself)")
            && line.ends_with("destination unreachable"),
        "{line}"
    );
}
