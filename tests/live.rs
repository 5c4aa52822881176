//! Re-records the lab scenarios with the kernel (network namespaces, iptables NAT, tcpdump) and
//! checks natcorr on the fresh captures. Needs root and the lab's tools; skipped with a message
//! elsewhere.

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
        .args(["plain", "same-id", "drop", "any"])
        .status()
        .expect("run bash");
    match status.code() {
        Some(0) => {}
        Some(77) => {
            eprintln!("SKIPPED lab_scenarios_recorded_fresh: the lab needs root, network namespaces and tcpdump/iptables (record.sh said why above)");
            return;
        }
        other => panic!("record.sh failed with {other:?}"),
    }
    check_plain(&out.path().join("plain"));
    check_same_id(&out.path().join("same-id"));
    check_drop(&out.path().join("drop"));
    check_any(&out.path().join("any"));
    check_cut(&out.path().join("plain"));
}
