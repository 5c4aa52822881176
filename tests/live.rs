//! Re-records every lab scenario with the kernel (network namespaces, iptables NAT, nftables,
//! VXLAN, tcpdump) and checks natcorr on the fresh captures. Needs root and the lab's tools;
//! skipped with a message elsewhere.

mod common;

use common::*;
use std::process::Command;

#[test]
fn lab_scenarios_recorded_fresh() {
    let out = tempfile::tempdir().unwrap();
    let script = root().join("captures/lab/record.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(out.path())
        .arg("all")
        .status()
        .expect("run bash");
    match status.code() {
        Some(0) => {}
        Some(77) => {
            skip_or_fail(
                "lab_scenarios_recorded_fresh",
                "the lab needs root, network namespaces and tcpdump/iptables/nft (record.sh said why above)",
            );
            return;
        }
        other => panic!("record.sh failed with {other:?}"),
    }
    let scenario = |name: &str| out.path().join(name);
    check_plain(&scenario("plain"));
    check_plain(&scenario("nft"));
    check_same_id(&scenario("same-id"));
    check_drop(&scenario("drop"));
    check_any(&scenario("any"));
    check_cut(&scenario("plain"));
    check_dnat(&scenario("dnat"));
    check_ipv6(&scenario("ipv6"));
    check_traceroute(&scenario("traceroute"));
    check_constant_payload(&scenario("constant-payload"));
    check_bigping(&scenario("bigping"));
    check_fragloss(&scenario("fragloss"));
    check_vxlan(&scenario("vxlan"));
    check_skew(&scenario("plain"));
}
