//! Correlation on hand-made observations.
#![allow(clippy::too_many_arguments, clippy::vec_init_then_push)]

use super::*;
use crate::model::{Packet, PREFIX_LEN};

fn ob(
    point: PointId,
    ts_ms: i64,
    dir: Direction,
    src: &str,
    dst: &str,
    id: u16,
    seq: u16,
    tag: u8,
) -> Observation {
    let mut prefix = [tag; PREFIX_LEN];
    prefix[0] = seq as u8;
    Observation {
        point,
        ts_ns: ts_ms * 1_000_000,
        record: 1,
        packet: Packet {
            ttl: 64,
            ip_id: 0,
            icmp_id: id,
            seq,
            icmp_len: 64,
            prefix,
            prefix_len: PREFIX_LEN as u8,
            digest: crate::model::Digest::new(u64::from(tag) << 16 | u64::from(seq)),
            digest_len: 48,
            ..Packet::blank(
                Protocol::Icmp,
                dir,
                src.parse().unwrap(),
                dst.parse().unwrap(),
            )
        },
    }
}

/// Two hosts, the same id, one SNAT address behind which conntrack renumbers one of them.
fn same_id() -> Vec<Observation> {
    let mut v = Vec::new();
    for seq in 1..=4u16 {
        let t = i64::from(seq) * 1000;
        // point 0: inside, point 1: outside.
        v.push(ob(
            0,
            t,
            Direction::Request,
            "10.0.0.1",
            "203.0.113.9",
            4242,
            seq,
            0xa1,
        ));
        v.push(ob(
            0,
            t + 1,
            Direction::Request,
            "10.0.0.2",
            "203.0.113.9",
            4242,
            seq,
            0xb2,
        ));
        v.push(ob(
            1,
            t + 2,
            Direction::Request,
            "198.51.100.1",
            "203.0.113.9",
            4242,
            seq,
            0xa1,
        ));
        v.push(ob(
            1,
            t + 3,
            Direction::Request,
            "198.51.100.1",
            "203.0.113.9",
            33756,
            seq,
            0xb2,
        ));
        v.push(ob(
            1,
            t + 10,
            Direction::Reply,
            "203.0.113.9",
            "198.51.100.1",
            4242,
            seq,
            0xa1,
        ));
        v.push(ob(
            0,
            t + 11,
            Direction::Reply,
            "203.0.113.9",
            "10.0.0.1",
            4242,
            seq,
            0xa1,
        ));
    }
    v
}

#[test]
fn same_id_hosts_stay_apart() {
    let obs = same_id();
    let c = correlate(&obs, &[]);
    assert_eq!(c.flows.len(), 2);
    for f in &c.flows {
        assert_eq!(f.matched, Matched::Packet);
        assert_eq!(f.requests.len(), 4);
        for j in &f.requests {
            assert_eq!(j.len(), 2);
            // Every journey is one host's packet: payload tags agree.
            assert_eq!(obs[j[0] as usize].prefix[1], obs[j[1] as usize].prefix[1]);
        }
    }
    let with_replies: Vec<_> = c.flows.iter().map(|f| f.replies.len()).collect();
    assert!(with_replies.contains(&4) && with_replies.contains(&0));
}

#[test]
fn captures_taken_one_at_a_time_fall_back_to_flows() {
    let mut v = Vec::new();
    for seq in 1..=4u16 {
        v.push(ob(
            0,
            i64::from(seq) * 1000,
            Direction::Request,
            "10.0.0.1",
            "203.0.113.9",
            100,
            seq,
            1,
        ));
        v.push(ob(
            1,
            600_000 + i64::from(seq) * 1000,
            Direction::Request,
            "198.51.100.1",
            "203.0.113.9",
            200,
            seq,
            2,
        ));
    }
    let c = correlate(&v, &[]);
    assert_eq!(c.flows.len(), 1);
    assert_eq!(c.flows[0].matched, Matched::Flow);
    assert_eq!(c.flows[0].local_flows.len(), 2);
}

#[test]
fn identical_packets_at_one_point_pair_in_time_order() {
    let mut v = Vec::new();
    // The same seq and payload twice at both points (a duplicate), plus a distinct packet that ties the flow.
    v.push(ob(
        0,
        0,
        Direction::Request,
        "10.0.0.1",
        "203.0.113.9",
        1,
        1,
        7,
    ));
    v.push(ob(
        0,
        5,
        Direction::Request,
        "10.0.0.1",
        "203.0.113.9",
        1,
        1,
        7,
    ));
    v.push(ob(
        1,
        1,
        Direction::Request,
        "198.51.100.1",
        "203.0.113.9",
        1,
        1,
        7,
    ));
    v.push(ob(
        1,
        6,
        Direction::Request,
        "198.51.100.1",
        "203.0.113.9",
        1,
        1,
        7,
    ));
    v.push(ob(
        0,
        10,
        Direction::Request,
        "10.0.0.1",
        "203.0.113.9",
        1,
        2,
        7,
    ));
    v.push(ob(
        1,
        11,
        Direction::Request,
        "198.51.100.1",
        "203.0.113.9",
        1,
        2,
        7,
    ));
    let c = correlate(&v, &[]);
    assert_eq!(c.flows.len(), 1);
    let f = &c.flows[0];
    assert_eq!(f.requests.len(), 3);
    for j in &f.requests {
        assert_eq!(j.len(), 2);
        let (a, b) = (&v[j[0] as usize], &v[j[1] as usize]);
        assert!(
            (a.ts_ns - b.ts_ns).abs() <= 1_000_000,
            "paired in time order"
        );
    }
    assert_eq!(c.notes.len(), 1);
}

#[test]
fn far_apart_repeats_are_different_packets() {
    let v = vec![
        ob(0, 0, Direction::Request, "10.0.0.1", "203.0.113.9", 1, 1, 7),
        ob(1, 1, Direction::Request, "10.0.0.1", "203.0.113.9", 1, 1, 7),
        ob(
            1,
            120_000,
            Direction::Request,
            "10.0.0.1",
            "203.0.113.9",
            1,
            1,
            7,
        ),
    ];
    let c = correlate(&v, &[]);
    let total: usize = c.flows.iter().map(|f| f.requests.len()).sum();
    assert_eq!(total, 2);
}

/// Two hosts, identical payloads and seqs at the same moment (Windows/busybox ping): only the
/// IP identification, which NAT keeps, tells the packets apart.
fn constant_payload(rewrite_ip_id: bool) -> Vec<Observation> {
    let mut v = Vec::new();
    for seq in 1..=4u16 {
        let t = i64::from(seq) * 1000;
        for (k, (src, id, ipid)) in [("10.0.0.1", 6001u16, 100u32), ("10.0.0.2", 6002, 900)]
            .into_iter()
            .enumerate()
        {
            let k = k as i64;
            let mut inside = ob(
                0,
                t + k,
                Direction::Request,
                src,
                "203.0.113.9",
                id,
                seq,
                0xaa,
            );
            inside.ip_id = ipid + u32::from(seq);
            // Outside, the second host's packet arrives first.
            let mut outside = ob(
                1,
                t + 3 - k,
                Direction::Request,
                "198.51.100.1",
                "203.0.113.9",
                id,
                seq,
                0xaa,
            );
            outside.ip_id = if rewrite_ip_id { 7 } else { inside.ip_id };
            v.push(inside);
            v.push(outside);
        }
    }
    v
}

#[test]
fn constant_payloads_are_told_apart_by_ip_id() {
    let obs = constant_payload(false);
    let c = correlate(&obs, &[]);
    assert_eq!(c.flows.len(), 2);
    for f in &c.flows {
        assert_eq!(f.requests.len(), 4);
        for j in &f.requests {
            let ids: Vec<u16> = j.iter().map(|&o| obs[o as usize].icmp_id).collect();
            assert_eq!(ids.len(), 2);
            assert_eq!(ids[0], ids[1], "never paired across hosts by arrival order");
        }
    }
}

#[test]
fn undecidable_packets_are_not_guessed() {
    let obs = constant_payload(true);
    let c = correlate(&obs, &[]);
    assert!(
        c.flows.iter().all(|f| f.matched != Matched::Flow),
        "not joined by destination"
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("no packet could be matched")),
        "{:?}",
        c.notes
    );
}

/// Points named p0, p1, ... for messages.
fn named_points(n: usize) -> Vec<crate::model::Point> {
    (0..n)
        .map(|i| crate::model::Point {
            name: format!("p{i}").into(),
            ..crate::decode::empty_point(format!("p{i}.pcap"), "EN10MB".into(), 1000)
        })
        .collect()
}

/// What a snaplen that cut the echo header after the identifier leaves of `o`.
fn header_cut(mut o: Observation) -> Observation {
    o.seq = 0;
    o.prefix = [0; PREFIX_LEN];
    o.prefix_len = 0;
    o.digest = crate::model::Digest::new(crate::decode::digest(&[]));
    o.digest_len = 0;
    o
}

#[test]
fn a_cut_header_takes_the_one_packet_its_ip_id_names() {
    let mut obs = Vec::new();
    for seq in 1..=3u16 {
        let t = i64::from(seq) * 200;
        let mut a = ob(
            0,
            t,
            Direction::Request,
            "10.0.0.1",
            "203.0.113.9",
            7,
            seq,
            1,
        );
        a.ip_id = 100 + u32::from(seq);
        let mut b = ob(
            1,
            t + 1,
            Direction::Request,
            "198.51.100.1",
            "203.0.113.9",
            7,
            seq,
            1,
        );
        b.ip_id = a.ip_id;
        obs.push(a);
        obs.push(header_cut(b));
    }
    let cut: Vec<u32> = vec![1, 3, 5];
    let (outcome, warnings) = cut_headers(&named_points(2), &mut obs, &cut);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(outcome.len(), 1);
    assert_eq!(
        (outcome[0].point, outcome[0].matched, outcome[0].unsure),
        (1, 3, 0)
    );
    for pair in obs.chunks(2) {
        assert_eq!(pair[1].seq, pair[0].seq);
        assert!(pair[1].payload_compatible(&pair[0]));
        assert_eq!(
            pair[1].src.to_string(),
            "198.51.100.1",
            "its own addresses stay"
        );
    }
    let c = correlate(&obs, &[]);
    assert_eq!(c.flows.len(), 1);
    assert!(c.flows[0].requests.iter().all(|j| j.len() == 2));
}

#[test]
fn a_cut_header_two_packets_fit_is_too_short_to_be_sure() {
    // Two packets with one IP id (no IP id evidence, as IPv6): the cut one could be either.
    let mut a = ob(0, 0, Direction::Request, "10.0.0.1", "203.0.113.9", 7, 1, 1);
    let mut b = ob(
        0,
        200,
        Direction::Request,
        "10.0.0.1",
        "203.0.113.9",
        7,
        2,
        1,
    );
    a.ip_id = 0;
    b.ip_id = 0;
    let c = header_cut(ob(
        1,
        1,
        Direction::Request,
        "198.51.100.1",
        "203.0.113.9",
        7,
        1,
        1,
    ));
    let mut obs = vec![a, b, c];
    let (outcome, warnings) = cut_headers(&named_points(2), &mut obs, &[2]);
    assert_eq!((outcome[0].matched, outcome[0].unsure), (0, 1));
    assert_eq!(obs.len(), 2, "left out");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].message.contains("too short to be sure"),
        "{}",
        warnings[0].message
    );
    assert!(
        warnings[0].message.contains("at p1"),
        "{}",
        warnings[0].message
    );
}

/// A TCP segment (or UDP datagram when `flags` is `None`) from `src:sport` to `dst:dport`,
/// oriented as `dir`, with a payload told apart by `tag`.
pub(crate) fn seg(
    point: PointId,
    ts_ms: i64,
    dir: Direction,
    (src, sport): (&str, u16),
    (dst, dport): (&str, u16),
    tcp_seq: u32,
    flags: Option<u8>,
    tag: u8,
) -> Observation {
    let mut o = ob(point, ts_ms, dir, src, dst, 0, 0, tag);
    o.packet.proto = match flags {
        Some(_) => Protocol::Tcp,
        None => Protocol::Udp,
    };
    o.packet.sport = sport;
    o.packet.dport = dport;
    o.packet.tcp_seq = tcp_seq;
    o.packet.tcp_flags = flags.unwrap_or(0);
    o.packet.header_len = if flags.is_some() { 20 } else { 8 };
    o
}

/// A TCP connection's SYN from `c` to `s` seen at points 0, 1 and 2, 1 ms apart, ending 8 ms
/// before time 0: it ties the three points' views together.
pub(crate) fn syn_at_three_points(c: (&str, u16), s: (&str, u16)) -> Vec<Observation> {
    (0..3)
        .map(|p| {
            let syn = Some(crate::model::tcp_flag::SYN);
            seg(p, i64::from(p) - 10, Direction::Request, c, s, 999, syn, 1)
        })
        .collect()
}

/// A TCP connection's SYN seen at points 0, 1 and 2, then a segment lost between points 1 and
/// 2 and its retransmission 200 ms later, which reaches point 2.
pub(crate) fn lost_and_sent_again() -> Vec<Observation> {
    let (c, s) = (("10.0.0.1", 40000), ("192.0.2.9", 80));
    let mut v = syn_at_three_points(c, s);
    // The original crosses 0 and 1 and is lost before 2; the copy reaches 2.
    for (p, t) in [(0, 0), (1, 1), (0, 200), (1, 201), (2, 202)] {
        let ack = Some(crate::model::tcp_flag::ACK);
        v.push(seg(p, t, Direction::Request, c, s, 1000, ack, 7));
    }
    v
}

#[test]
fn a_segment_lost_and_sent_again_is_two_journeys_the_second_reaching_further() {
    let v = lost_and_sent_again();
    let corr = correlate(&v, &[]);
    assert_eq!(corr.flows.len(), 1);
    let mut journeys: Vec<Vec<u32>> = corr.flows[0].requests.iter().map(|j| j.to_vec()).collect();
    journeys.sort();
    assert_eq!(journeys, [vec![0, 1, 2], vec![3, 4], vec![5, 6, 7]]);
    assert!(
        corr.notes.is_empty(),
        "a retransmission is not an ambiguity: {:?}",
        corr.notes
    );
}

#[test]
fn a_udp_conversation_idle_past_the_timeout_is_a_new_flow() {
    let (c, s) = (("10.0.0.1", 40053), ("192.0.2.9", 53));
    let mut v = Vec::new();
    for (k, t) in [0i64, 1000, 2000, 200_000, 201_000].into_iter().enumerate() {
        v.push(seg(0, t, Direction::Request, c, s, 0, None, k as u8));
        v.push(seg(1, t + 1, Direction::Request, c, s, 0, None, k as u8));
    }
    let corr = correlate(&v, &[]);
    let sizes: Vec<usize> = corr.flows.iter().map(|f| f.requests.len()).collect();
    assert_eq!(sizes, [3, 2], "{:?}", corr.flows);
    assert!(corr.flows[1].notes[0].contains("idle for more than 120 s"));
}

#[test]
fn a_new_syn_on_the_same_ports_is_a_new_connection() {
    use crate::model::tcp_flag::{ACK, SYN};
    let (c, s) = (("10.0.0.1", 40000), ("192.0.2.9", 80));
    let mut v = Vec::new();
    // SYN, its retransmission (same ISN: one connection), then a new SYN with another ISN.
    for (t, isn, flags, tag) in [
        (0, 500, SYN, 1),
        (1000, 500, SYN, 1),
        (1010, 501, ACK, 2),
        (5000, 9000, SYN, 3),
        (5010, 9001, ACK, 4),
    ] {
        for p in 0..2 {
            v.push(seg(
                p,
                t + i64::from(p),
                Direction::Request,
                c,
                s,
                isn,
                Some(flags),
                tag,
            ));
        }
    }
    let corr = correlate(&v, &[]);
    let sizes: Vec<usize> = corr.flows.iter().map(|f| f.requests.len()).collect();
    assert_eq!(sizes, [3, 2], "{:?}", corr.flows);
}
