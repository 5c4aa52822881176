//! The HTML report: self-contained, escaped, and rendered by a real browser (headless Chromium,
//! Debian's `chromium`), which must show the NAT hops and fetch nothing for the page. The
//! screenshot is saved as target/html-report.png. Skipped with a message without Chromium.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

fn html_for(files: &[PathBuf], out: &Path) -> String {
    let (code, _, stderr) = run(&["--html", out.to_str().unwrap()], files);
    assert_eq!(code, 0, "{stderr}");
    std::fs::read_to_string(out).unwrap()
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn chromium_run(profile: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    Process::new(chromium().unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn report_is_self_contained_and_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let html = html_for(
        &captures_in(&captures_dir("same-id")),
        &tmp.path().join("r.html"),
    );
    for forbidden in [
        "http:", "https:", "src=", "@import", "<script", "<link", "<iframe",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} in the report");
    }
    assert!(html
        .contains("SNAT 192.168.65.125 → 169.254.43.17 between ha-2b8cf5e0-b1 and qg-0aeca8b7-8a"));
    assert!(html.contains("ID 4242 → 42867") || html.contains("ID 4242 → "));
    assert!(
        html.contains("default-src 'none'"),
        "a CSP forbids fetching anyway"
    );
    // A capture that names its interface with markup and a terminal escape.
    let mut f = Vec::new();
    let name = "<script>alert(1)</script>\u{1b}[2J";
    let mut shb = vec![
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
    ];
    shb.extend(u64::MAX.to_le_bytes());
    shb.extend(28u32.to_le_bytes());
    f.extend(shb);
    let mut opt = Vec::new();
    opt.extend(2u16.to_le_bytes());
    opt.extend((name.len() as u16).to_le_bytes());
    opt.extend(name.as_bytes());
    opt.resize(opt.len().next_multiple_of(4), 0);
    opt.extend([0, 0, 0, 0]);
    let len = (20 + opt.len()) as u32;
    f.extend(1u32.to_le_bytes());
    f.extend(len.to_le_bytes());
    f.extend([1, 0, 0, 0]);
    f.extend(65535u32.to_le_bytes());
    f.extend(opt);
    f.extend(len.to_le_bytes());
    let evil = tmp.path().join("evil.pcapng");
    std::fs::write(&evil, f).unwrap();
    let html = html_for(&[evil], &tmp.path().join("e.html"));
    assert!(
        !html.contains("<script>"),
        "markup from a capture is escaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains('\u{1b}'));
}

#[test]
fn chromium_renders_the_nat_hops_and_fetches_nothing() {
    if chromium().is_none() {
        skip_or_fail(
            "chromium_renders_the_nat_hops_and_fetches_nothing",
            "no /usr/bin/chromium (apt-get install chromium)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("report.html");
    html_for(&captures_in(&captures_dir("same-id")), &page);
    let netlog = tmp.path().join("netlog.json");
    let dom = chromium_run(
        &tmp.path().join("p1"),
        &["--dump-dom", &format!("--log-net-log={}", netlog.display())],
        &page,
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(
            "SNAT 192.168.65.125 → 169.254.43.17 between ha-2b8cf5e0-b1 and qg-0aeca8b7-8a"
        ),
        "{dom}"
    );
    assert!(dom.contains("aria-label=\"ladder\""));
    // Chromium's own services show up in the log despite the flags; the page must add nothing.
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let own = ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"];
    let fetched: Vec<&str> = log
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|u| !u.starts_with("file://") && !own.iter().any(|h| u.contains(h)))
        .collect();
    assert!(fetched.is_empty(), "the report fetched {fetched:?}");
    screenshot(&page, "report", 1800, &tmp.path().join("p2"));
}

/// Saves `page` rendered by Chromium as `target/html-NAME.png` (1400 × `height`) and checks
/// that a real picture was written.
fn screenshot(page: &Path, name: &str, height: u32, profile: &Path) {
    let shot = root().join(format!("target/html-{name}.png"));
    let _ = std::fs::remove_file(&shot);
    chromium_run(
        profile,
        &[
            &format!("--window-size=1400,{height}"),
            &format!("--screenshot={}", shot.display()),
        ],
        page,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{name}: {} bytes",
        png.len()
    );
}

#[test]
fn chosen_journey_is_the_ladder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.html");
    let files = captures_in(&captures_dir("plain"));
    let (code, _, stderr) = run(&["--ladder", "3", "--html", out.to_str().unwrap()], &files);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("Ladder: seq 2 (journeys 3, 4)"),
        "the chosen journey is drawn (numbered in time order: seq 1's request and reply are 1 and 2)"
    );
    let plain = html_for(&files, &tmp.path().join("p.html"));
    assert!(
        plain.contains("Ladder: seq 1 (journeys 1, "),
        "else the first exchange"
    );
}

#[test]
fn screenshots_show_loss_on_the_hop_and_in_the_ladder() {
    // The HTML itself, for the four captures a ticket most often gets.
    let tmp = tempfile::tempdir().unwrap();
    let page = |name: &str| {
        let p = tmp.path().join(format!("{name}.html"));
        (html_for(&captures_in(&captures_dir(name)), &p), p)
    };
    let (drop, drop_page) = page("drop");
    assert!(drop.contains("<h2>Loss</h2>"));
    assert!(drop.contains("flow 1: 2 requests lost between ex-l3dngw and eth2.106 (seq 3, 5)"));
    assert!(
        drop.contains("2 requests lost (seq 3, 5)"),
        "the hop's lost seqs"
    );
    assert!(
        drop.contains("font-weight=\"bold\" text-anchor=\"middle\">✕</text><text"),
        "a cross on the path's hop"
    );
    assert!(
        drop.contains("Ladder: seq 2 (journeys 2, 3)"),
        "the default ladder reached the end"
    );
    assert!(
        drop.contains("seq 3 request lost between ex-l3dngw and eth2.106"),
        "the lost packet's ladder"
    );
    assert!(drop.contains("RTT (median) at each point: vm1-eth0 <b>"));
    let (seed, seed_page) = page("seed");
    assert!(seed.contains("<h3>No ladder</h3>"), "no empty lanes");
    assert!(seed.contains("cannot tell: no packet was seen at two capture points"));
    let (traceroute, traceroute_page) = page("traceroute");
    assert!(traceroute.contains("<h2>Routers that answered</h2>"));
    let (_, same_id_page) = page("same-id");
    let (udp, udp_page) = page("udp-drop");
    assert!(udp.contains("flow 1: 4 datagrams from the initiator lost between ex-l3dngw and eth2.106 (packet 3, 5, 7, 9)"));
    assert!(
        udp.contains("4 datagrams from the initiator lost (packet 3, 5, 7, 9)"),
        "the hop's lost packets"
    );
    assert!(
        udp.contains("<th>UDP</th>"),
        "the capture points' UDP column"
    );
    let (same_port, same_port_page) = page("same-port");
    assert!(same_port.contains("SPORT 40000 → 39029"));
    if chromium().is_none() {
        skip_or_fail(
            "screenshots_show_loss_on_the_hop_and_in_the_ladder",
            "no /usr/bin/chromium (apt-get install chromium)",
        );
        return;
    }
    for (name, p) in [
        ("seed", seed_page),
        ("drop", drop_page),
        ("same-id", same_id_page),
        ("traceroute", traceroute_page),
        ("same-port", same_port_page),
        ("udp-drop", udp_page),
    ] {
        screenshot(&p, name, 2400, &tmp.path().join(format!("profile-{name}")));
    }
}
