//! Re-records every lab scenario with the kernel (network namespaces, iptables NAT, nftables,
//! VXLAN, tcpdump, python3 TCP/UDP programs) and checks natcorr on the fresh captures. Needs
//! root and the lab's tools; skipped with a message elsewhere (a failure under `CI=true`). The
//! checks are shared with the tests of the committed captures (`common::scenarios`).

mod common;

use common::*;
use std::path::Path;
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
    check_tcp(&scenario("tcp"));
    check_same_port(&scenario("same-port"));
    check_udp_drop(&scenario("udp-drop"));
    check_dnat_tcp(&scenario("dnat-tcp"));
    check_tcp_fail(&scenario("tcp-fail"), unanswered_syns());
    check_unreversed(&scenario("unreversed"));
}

/// The SYNs the live lab sends for a connection that is never answered within 2.5 s: SYN
/// retransmissions 1 s apart since Linux 6.5 (tcp_syn_linear_timeouts, the SYNs at 0, 1 and
/// 2 s), else with a doubling RTO (0 and 1 s). record.sh counts them the same way.
fn unanswered_syns() -> u64 {
    if Path::new("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists() {
        3
    } else {
        2
    }
}
