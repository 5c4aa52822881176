//! The hard paths on committed captures: inbound DNAT, NAT66, ICMP errors through NAT, constant
//! payloads, fragments, VXLAN underlay, clock offsets.

mod common;

use common::*;

#[test]
fn inbound_dnat_and_outbound_snat() {
    check_dnat(&captures_dir("dnat"));
}

#[test]
fn ipv6_with_nat66() {
    check_ipv6(&captures_dir("ipv6"));
}

#[test]
fn traceroute_reads_as_the_routers() {
    check_traceroute(&captures_dir("traceroute"));
}

#[test]
fn constant_payloads_kept_apart() {
    check_constant_payload(&captures_dir("constant-payload"));
}

#[test]
fn big_pings_matched_by_first_fragment() {
    check_bigping(&captures_dir("bigping"));
}

#[test]
fn lost_fragment_is_placed() {
    check_fragloss(&captures_dir("fragloss"));
}

#[test]
fn vxlan_underlay_is_a_point_on_the_path() {
    check_vxlan(&captures_dir("vxlan"));
}

#[test]
fn skewed_destination_clock() {
    check_skew(&captures_dir("plain"));
}

#[test]
fn committed_skew_set() {
    let json = analyze(&captures_dir("skew"));
    let o = &json["clock_offsets"][0];
    assert_eq!(o["point"], "dest-eth1");
    assert!((o["offset_ns"].as_i64().unwrap() - 3_000_000_000).abs() < 300_000_000);
    assert_eq!(strs(&json["flows"][0]["path"]), LAB_PATH);
}

/// Copies a classic Ethernet pcap without the ICMP echoes whose identifier is `id`.
fn without_icmp_id(src: &std::path::Path, dst: &std::path::Path, id: u16) -> usize {
    let b = std::fs::read(src).unwrap();
    let mut out = b[..24].to_vec();
    let mut at = 24;
    let mut dropped = 0;
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]) as usize;
        let frame = &b[at + 16..at + 16 + caplen];
        let icmp = frame.len() > 42 && frame[12..14] == [0x08, 0x00] && frame[23] == 1;
        if icmp && u16::from_be_bytes([frame[38], frame[39]]) == id {
            dropped += 1;
        } else {
            out.extend_from_slice(&b[at..at + 16 + caplen]);
        }
        at += 16 + caplen;
    }
    std::fs::write(dst, out).unwrap();
    dropped
}

#[test]
fn a_flow_that_dies_inside_a_router_is_lost_on_the_next_hop() {
    // vm2's flow leaves the qrouter as id 42867: take it out of every later capture, as if the
    // router had dropped it, while vm1's flow goes on through the same points.
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for f in captures_in(&captures_dir("same-id")) {
        let to = tmp.path().join(f.file_name().unwrap());
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if [
            "qg-0aeca8b7-8a.pcap",
            "ex-l3dngw.pcap",
            "eth2.106.pcap",
            "dest-eth1.pcap",
        ]
        .contains(&name.as_str())
        {
            assert_eq!(without_icmp_id(&f, &to, 42867), 10, "{name}");
        } else {
            std::fs::copy(&f, &to).unwrap();
        }
        files.push(to);
    }
    let (code, json, _) = run_json(&[], &files);
    assert_eq!(code, 0);
    let vm2 = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["origin"]["src"] == "192.168.65.126")
        .unwrap();
    assert_eq!(
        strs(&vm2["path"]),
        ["vm2-eth0", "ha-2b8cf5e0-b1", "qg-0aeca8b7-8a"]
    );
    let last = vm2["hops"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("ha-2b8cf5e0-b1"), Some("qg-0aeca8b7-8a"))
    );
    // vm2's fifth request left after the last packet qg- captured: its loss there is not
    // proven (the capture may have stopped), so it is unverified, not lost.
    assert_eq!(last["lost"]["request"], 4);
    assert_eq!(last["lost"]["request_unverified"], 1);
    assert_eq!(
        last["lost"]["request_seqs"],
        serde_json::json!([1, 2, 3, 4])
    );
    assert_eq!(vm2["points"][2]["requests"], 0);
}
