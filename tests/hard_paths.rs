//! The hard paths on committed captures: inbound DNAT, NAT66, ICMP errors through NAT, constant
//! payloads, fragments, VXLAN underlay, clock offsets.

mod common;

use common::*;

fn dir(name: &str) -> std::path::PathBuf {
    root().join("captures").join(name)
}

#[test]
fn inbound_dnat_and_outbound_snat() {
    check_dnat(&dir("dnat"));
}

#[test]
fn ipv6_with_nat66() {
    check_ipv6(&dir("ipv6"));
}

#[test]
fn traceroute_reads_as_the_routers() {
    check_traceroute(&dir("traceroute"));
}

#[test]
fn constant_payloads_kept_apart() {
    check_constant_payload(&dir("constant-payload"));
}

#[test]
fn big_pings_matched_by_first_fragment() {
    check_bigping(&dir("bigping"));
}

#[test]
fn lost_fragment_is_placed() {
    check_fragloss(&dir("fragloss"));
}

#[test]
fn vxlan_underlay_is_a_point_on_the_path() {
    check_vxlan(&dir("vxlan"));
}

#[test]
fn skewed_destination_clock() {
    check_skew(&dir("plain"));
}

#[test]
fn committed_skew_set() {
    let json = analyze(&dir("skew"));
    let o = &json["clock_offsets"][0];
    assert_eq!(o["point"], "dest-eth1");
    assert!((o["offset_ns"].as_i64().unwrap() - 3_000_000_000).abs() < 300_000_000);
    assert_eq!(strs(&json["flows"][0]["path"]), LAB_PATH);
}
