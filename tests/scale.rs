//! Scale (issue 12): the crafted shapes that once made natcorr's cost grow with the square of
//! their size (`benches/shapes.rs`), and a many-flow capture of the seed's four-point path
//! (`benches/synth.rs`), at sizes where the old quadratic steps took seconds to minutes. Each
//! test checks that the answer stays right at that size: every packet matched to its own flow,
//! paths in order, latencies and translations exact. No timing is asserted here; the growth
//! table comes from `benches/compare.sh`.

mod common;

#[path = "../benches/shapes.rs"]
mod shapes;
#[path = "../benches/synth.rs"]
mod synth;

use common::*;
use serde_json::Value;
use shapes::Shape;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Writes the shape's files with `n` elements into a temporary folder and analyzes them.
fn analyze_shape(shape: Shape, n: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = shape
        .files(n)
        .iter()
        .map(|(name, bytes)| write_file(dir.path(), name, bytes))
        .collect();
    let (code, json, stderr) = run_json(&[], &files);
    assert_eq!(code, 0, "{}: {stderr}", shape.name());
    json
}

fn flows(json: &Value) -> &Vec<Value> {
    json["flows"].as_array().unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The flow's hop latencies (request, reply medians) in order.
fn hop_latencies(flow: &Value) -> Vec<(u64, u64)> {
    flow["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                u(&h["latency_ns"]["request"]["median"]),
                u(&h["latency_ns"]["reply"]["median"]),
            )
        })
        .collect()
}

/// One request and one reply, both matched, at every point of the flow.
fn one_exchange(flow: &Value) {
    assert_eq!(
        (u(&flow["requests"]), u(&flow["replies"])),
        (1, 1),
        "{flow}"
    );
    assert_eq!(flow["matched"], "packet", "{flow}");
    for p in flow["points"].as_array().unwrap() {
        assert_eq!((u(&p["requests"]), u(&p["replies"])), (1, 1), "{flow}");
    }
}

#[test]
fn one_packet_at_thousands_of_points_is_one_flow_through_all_of_them_in_order() {
    // 2,000 points: above the size where path order and clocks compare neighbours only.
    let n = 2000;
    let json = analyze_shape(Shape::Points, n);
    assert_eq!(json["points"].as_array().unwrap().len(), n as usize);
    let f = &flows(&json)[..];
    assert_eq!(f.len(), 1, "one packet seen everywhere is one flow");
    let want: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    assert_eq!(
        strs(&f[0]["path"]),
        want,
        "path in the order the request passed"
    );
    one_exchange(&f[0]);
    let hops = hop_latencies(&f[0]);
    assert_eq!(hops.len(), n as usize - 1);
    assert!(
        hops.iter().all(|&h| h == (1_000, 1_000)),
        "every hop 1 µs both ways"
    );
    assert!(json["clock_offsets"].as_array().unwrap().is_empty());
}

#[test]
fn any_interface_capture_with_thousands_of_indexes_gives_each_flow_its_two_interfaces() {
    let n = 3000;
    let json = analyze_shape(Shape::AnyInterfaces, n);
    assert_eq!(json["points"].as_array().unwrap().len(), 2 * n as usize);
    let f = flows(&json);
    assert_eq!(f.len(), n as usize);
    let mut seen = HashSet::new();
    for flow in f {
        let id = u(&flow["origin"]["id"]) as u32;
        assert!(seen.insert(id), "flow id {id} twice");
        let want = vec![
            format!("any#if{}", 2 * id + 1),
            format!("any#if{}", 2 * id + 2),
        ];
        assert_eq!(strs(&flow["path"]), want, "{flow}");
        one_exchange(flow);
        assert_eq!(hop_latencies(flow), vec![(20_000, 20_000)], "{flow}");
    }
}

/// Every flow of the two-point shapes: inside → outside, SNAT on the hop, 20 µs each way; a
/// packet matched to another flow's would be 400 µs or more off.
fn two_point_flows(json: &Value, n: usize) {
    let f = flows(json);
    assert_eq!(f.len(), n);
    let mut ids = HashSet::new();
    for flow in f {
        assert!(ids.insert(u(&flow["origin"]["id"])), "{flow}");
        assert_eq!(strs(&flow["path"]), ["inside", "outside"], "{flow}");
        one_exchange(flow);
        assert_eq!(hop_latencies(flow), vec![(20_000, 20_000)], "{flow}");
        let t = &flow["hops"][0]["translations"][0];
        assert_eq!(
            (&t["kind"], &t["before"], &t["after"]),
            (&"snat".into(), &"10.0.0.5".into(), &"198.51.100.7".into()),
            "{flow}"
        );
        assert_eq!(u(&t["replies_reversed"]), 1, "{flow}");
    }
    let snat = find_nat(json, "snat", "inside", "outside").expect("the SNAT finding");
    assert_eq!(u(&snat["flows"]), n as u64);
    assert_eq!(u(&snat["packets"]), n as u64);
}

#[test]
fn thousands_of_same_seq_packets_differing_after_the_prefix_each_match_their_own() {
    let n = 4000;
    two_point_flows(&analyze_shape(Shape::SplitRun, n), n as usize);
}

#[test]
fn thousands_of_same_payload_packets_are_told_apart_by_ip_id() {
    let n = 4000;
    // The shape adds 10 ordinary pings that show NAT keeps the IP id.
    two_point_flows(&analyze_shape(Shape::IpIds, n), n as usize + 10);
}

#[test]
fn thousands_of_icmp_errors_quoting_one_seq_each_tie_to_their_own_flow() {
    let n = 4000;
    let json = analyze_shape(Shape::Errors, n);
    let f = flows(&json);
    assert_eq!(f.len(), n as usize);
    for flow in f {
        assert_eq!(strs(&flow["path"]), ["inside", "outside"], "{flow}");
        let errors = flow["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{flow}");
        let e = &errors[0];
        assert_eq!(e["kind"], "time_exceeded");
        assert_eq!(u(&e["seq"]), 1);
        assert_eq!(strs(&e["points"]), ["router"]);
        // The router answered 60 µs after the request left this flow's inside point.
        let sent = u(&flow["points"][0]["first_ns"]);
        assert_eq!(u(&e["first_ns"]), sent + 60_000, "{flow}");
    }
}

#[test]
fn thousands_of_one_point_flows_each_keep_their_own_reply() {
    let n = 4000;
    let json = analyze_shape(Shape::OnePointFlows, n);
    let f = flows(&json);
    assert_eq!(f.len(), n as usize);
    let dsts: HashSet<&str> = f
        .iter()
        .map(|flow| flow["origin"]["dst"].as_str().unwrap())
        .collect();
    assert_eq!(dsts.len(), n as usize, "one flow per destination");
    for flow in f {
        one_exchange(flow);
        assert_eq!(u(&flow["points"][0]["rtt_ns"]["median"]), 300_000, "{flow}");
    }
}

// ---- many flows on the seed's four-point path ----

/// Hosts whose requests the inside capture (pcap, Ethernet, IPv4 without options) holds, with
/// how many requests each sent: read from the bytes, not by natcorr.
fn requests_per_host(pcap: &[u8]) -> std::collections::HashMap<[u8; 4], u64> {
    let mut out = std::collections::HashMap::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        at += 16 + incl;
        let (ether, ip) = frame.split_at(14);
        if ether[12..14] == [8, 0] && ip[9] == 1 && ip[20] == 8 {
            *out.entry(ip[12..16].try_into().unwrap()).or_default() += 1;
        }
    }
    out
}

/// The generator's four captures of `spec` (in memory) and the files written from them in `dir`.
fn four_points(spec: &synth::Spec, dir: &Path) -> (Vec<Vec<u8>>, Vec<PathBuf>) {
    let outs = synth::POINTS
        .iter()
        .map(|p| synth::Out::new(Vec::new(), false, p))
        .collect();
    let (captures, _) = synth::generate(spec, outs);
    let files = captures
        .iter()
        .zip(synth::POINTS)
        .map(|(bytes, p)| write_file(dir, &format!("{p}.pcap"), bytes))
        .collect();
    (captures, files)
}

#[test]
fn ten_thousand_flows_through_both_snats_each_match_exactly() {
    // 40,000 echo packets per point among 10,000 hosts (about 8,650 of them send), mixed with
    // nothing else: every flow crosses the four points of the seed.
    let spec = synth::Spec {
        size: 0,
        points: 4,
        pcapng: false,
        echo_share: 1.0,
        echoes: Some(40_000),
        flows: 10_000,
        connections: 0,
        seed: 12,
    };
    let dir = tempfile::tempdir().unwrap();
    let (captures, files) = four_points(&spec, dir.path());
    let (code, json, stderr) = run_json(&[], &files);
    assert_eq!(code, 0, "{stderr}");

    let hosts = requests_per_host(&captures[0]);
    let f = flows(&json);
    assert_eq!(f.len(), hosts.len(), "one flow per host that sent");
    let path: Vec<String> = synth::POINTS.iter().map(|p| p.to_string()).collect();
    for flow in f {
        let src: std::net::Ipv4Addr = flow["origin"]["src"].as_str().unwrap().parse().unwrap();
        let sent = hosts[&src.octets()];
        assert_eq!(strs(&flow["path"]), path, "{flow}");
        assert_eq!(
            (u(&flow["requests"]), u(&flow["replies"])),
            (sent, sent),
            "{flow}"
        );
        assert_eq!(flow["matched"], "packet", "{flow}");
        // Every hop 20 µs each way: a request matched to another host's is milliseconds off.
        assert!(
            hop_latencies(flow).iter().all(|&h| h == (20_000, 20_000)),
            "{flow}"
        );
        // SNAT on the first hop (and an id rewrite for one host in seven), SNAT again on the
        // third; nothing on the second.
        let [a, b, c, d] = src.octets();
        let host = u32::from(c) << 8 | u32::from(d) | u32::from(b - 64) << 16;
        assert_eq!(a, 10);
        let renumbered = host % 7 == 0;
        let kinds = |hop: usize| -> Vec<String> {
            flow["hops"][hop]["translations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["kind"].as_str().unwrap().to_string())
                .collect()
        };
        let first: Vec<&str> = if renumbered {
            vec!["snat", "id"]
        } else {
            vec!["snat"]
        };
        assert_eq!(kinds(0), first, "{flow}");
        assert!(kinds(1).is_empty(), "{flow}");
        assert_eq!(kinds(2), ["snat"], "{flow}");
        let snat = &flow["hops"][2]["translations"][0];
        let after = format!("198.51.100.{}", 34 + u8::from(renumbered));
        assert_eq!(snat["after"], after.as_str(), "{flow}");
        assert_eq!(u(&snat["replies_reversed"]), sent, "{flow}");
    }

    // A person's reports stay readable: the NAT of thousands of hosts in one line per hop and
    // kind (SNAT, ID on the first hop; SNAT on the third), twenty flows drawn in the HTML.
    let html = dir.path().join("report.html");
    let html_arg = html.to_str().unwrap();
    let (code, table, stderr) = run(&["--html", html_arg], &files);
    assert_eq!(code, 0, "{stderr}");
    let nat_section: Vec<&str> = table
        .lines()
        .skip_while(|l| *l != "NAT")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(nat_section.len(), 3, "{table}");
    assert!(
        nat_section.iter().all(|l| l.contains("different values")),
        "{table}"
    );
    let html = std::fs::read_to_string(&html).unwrap();
    assert_eq!(html.matches("<li class=\"nat\">").count(), 3);
    assert_eq!(html.matches("<h2>Flow ").count(), 20);
    assert!(html.contains(&format!("{} more flows", f.len() - 20)));
}

/// Per inside host (one connection each) of the inside capture: the protocol, and the packets
/// it sent and received. Read from the bytes, not by natcorr.
fn connections_per_host(pcap: &[u8]) -> std::collections::HashMap<[u8; 4], (u8, u64, u64)> {
    let mut out = std::collections::HashMap::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        at += 16 + incl;
        let (ether, ip) = frame.split_at(14);
        if ether[12..14] != [8, 0] || ![6, 17].contains(&ip[9]) {
            continue;
        }
        let (src, dst): ([u8; 4], [u8; 4]) = (
            ip[12..16].try_into().unwrap(),
            ip[16..20].try_into().unwrap(),
        );
        let (host, sent) = if src[0] == 10 {
            (src, true)
        } else {
            (dst, false)
        };
        let e = out.entry(host).or_insert((ip[9], 0, 0));
        if sent {
            e.1 += 1;
        } else {
            e.2 += 1;
        }
    }
    out
}

#[test]
fn thousands_of_tcp_and_udp_connections_through_both_snats_each_match_exactly() {
    // 3,000 concurrent TCP and UDP connections (about 3,200 in all) cross the four points,
    // each host its own connection; one in seven has its source port rewritten at the first
    // SNAT, so thousands of connections share one outside address and are told apart by port.
    let spec = synth::Spec {
        size: 3_000_000,
        points: 4,
        pcapng: false,
        echo_share: 0.0,
        echoes: None,
        flows: 1,
        connections: 3_000,
        seed: 13,
    };
    let dir = tempfile::tempdir().unwrap();
    let (captures, files) = four_points(&spec, dir.path());
    let (code, json, stderr) = run_json(&[], &files);
    assert_eq!(code, 0, "{stderr}");

    let hosts = connections_per_host(&captures[0]);
    assert!(hosts.len() > 3_000, "{} connections", hosts.len());
    let f = flows(&json);
    assert_eq!(f.len(), hosts.len(), "one flow per connection");
    let path: Vec<String> = synth::POINTS.iter().map(|p| p.to_string()).collect();
    let mut rewritten = 0;
    for flow in f {
        let o = &flow["origin"];
        let src: std::net::Ipv4Addr = o["src"].as_str().unwrap().parse().unwrap();
        let (proto, sent, received) = hosts[&src.octets()];
        let want = if proto == 6 { "tcp" } else { "udp" };
        assert_eq!(o["protocol"], want, "{flow}");
        assert_eq!(u(&o["dst_port"]), if proto == 6 { 443 } else { 5201 });
        assert_eq!(strs(&flow["path"]), path, "{flow}");
        assert_eq!(
            (u(&flow["requests"]), u(&flow["replies"])),
            (sent, received),
            "{flow}"
        );
        assert_eq!(flow["matched"], "packet", "{flow}");
        for hop in flow["hops"].as_array().unwrap() {
            let latency = &hop["latency_ns"];
            assert_eq!(u(&latency["request"]["median"]), 20_000, "{flow}");
            let reply = &latency["reply"]["median"];
            if received == 0 {
                assert!(reply.is_null(), "{flow}");
            } else {
                assert_eq!(u(reply), 20_000, "{flow}");
            }
        }
        let [_, b, c, d] = src.octets();
        let id = u32::from(b - 128) << 16 | u32::from(c) << 8 | u32::from(d);
        let port = u(&o["src_port"]);
        assert_eq!(port, 10_000 + u64::from(id % 32_768), "{flow}");
        let kinds = |hop: usize| -> Vec<String> {
            flow["hops"][hop]["translations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["kind"].as_str().unwrap().to_string())
                .collect()
        };
        if id % 7 == 0 {
            rewritten += 1;
            assert_eq!(kinds(0), ["snat", "sport"], "{flow}");
            let sport = &flow["hops"][0]["translations"][1];
            assert_eq!(sport["after"], (port ^ 0x8000).to_string().as_str());
        } else {
            assert_eq!(kinds(0), ["snat"], "{flow}");
        }
        assert!(kinds(1).is_empty(), "{flow}");
        assert_eq!(kinds(2), ["snat"], "{flow}");
        let snat = &flow["hops"][2]["translations"][0];
        assert_eq!(snat["after"], "198.51.100.34", "{flow}");
        assert_eq!(u(&snat["replies_reversed"]), received, "{flow}");
    }
    assert!(rewritten * 8 > f.len(), "{rewritten} port rewrites");
}

#[test]
fn the_analysis_is_the_same_on_one_thread_and_on_several() {
    // Files are read, and flows inferred, in parallel: the result must not depend on how
    // many threads did it or which finished first. Echo flows and TCP/UDP connections mixed.
    let spec = synth::Spec {
        size: 2_000_000,
        points: 4,
        pcapng: false,
        echo_share: 0.3,
        echoes: None,
        flows: 2_000,
        connections: 1_000,
        seed: 14,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = four_points(&spec, dir.path());
    let json = |threads: &str| {
        let out = std::process::Command::new(bin())
            .args(["--format", "json"])
            .args(&files)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = json("1");
    let parsed: Value = serde_json::from_slice(&one).unwrap();
    assert!(
        flows(&parsed).len() > 1_000,
        "{} flows",
        flows(&parsed).len()
    );
    for threads in ["2", "3", "8"] {
        assert!(json(threads) == one, "{threads} threads: another document");
    }
}
