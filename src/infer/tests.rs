//! Unit tests of each inference job on hand-built observations: correlated by
//! [`crate::correlate::correlate`], then inferred by [`super::infer`].

use super::order::PairOrder;
use super::*;
use crate::correlate::{Journey, LocalFlow};
use crate::model::{Packet, Protocol, Translation, TranslationKind, Value, PREFIX_LEN};

const US: i64 = 1_000;
const S: i64 = 1_000_000_000;

/// What one capture point sees of a flow: its addresses, identifier and request TTL there.
#[derive(Clone, Copy)]
struct View {
    point: PointId,
    src: &'static str,
    dst: &'static str,
    id: u16,
    ttl: u8,
    /// Payload byte that tells this flow's packets from another flow's with the same seq.
    tag: u8,
}

impl View {
    fn at(point: PointId, src: &'static str, ttl: u8) -> Self {
        View {
            point,
            src,
            dst: "203.0.113.9",
            id: 7,
            ttl,
            tag: 0xa1,
        }
    }

    fn request(&self, seq: u16, ts_ns: i64) -> Observation {
        self.observe(Direction::Request, self.src, self.dst, self.ttl, seq, ts_ns)
    }

    /// The reply as this point sees it: translated back (addresses swapped).
    fn reply(&self, seq: u16, ts_ns: i64) -> Observation {
        self.observe(Direction::Reply, self.dst, self.src, 60, seq, ts_ns)
    }

    fn observe(
        &self,
        dir: Direction,
        src: &str,
        dst: &str,
        ttl: u8,
        seq: u16,
        ts_ns: i64,
    ) -> Observation {
        let mut prefix = [self.tag; PREFIX_LEN];
        prefix[0] = seq as u8;
        Observation {
            point: self.point,
            ts_ns,
            record: 1,
            packet: Packet {
                ttl,
                ip_id: u32::from(seq),
                icmp_id: self.id,
                seq,
                icmp_len: 64,
                prefix,
                prefix_len: PREFIX_LEN as u8,
                digest: crate::model::Digest::new(u64::from(self.tag) << 16 | u64::from(seq)),
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
}

/// Capture points named in id order, each with a timestamp tick, capturing from its first to
/// its last observation.
fn points(specs: &[(&str, u64)], obs: &[Observation]) -> Vec<Point> {
    specs
        .iter()
        .enumerate()
        .map(|(i, &(name, tick))| {
            let ts = obs
                .iter()
                .filter(|o| o.point as usize == i)
                .map(|o| o.ts_ns);
            Point {
                name: name.into(),
                file: format!("{name}.pcap"),
                link_type: "EN10MB".to_string(),
                interface: None,
                packets: 0,
                echo_packets: 0,
                tcp_packets: 0,
                udp_packets: 0,
                fragments: 0,
                duplicates: 0,
                first_ns: ts.clone().min(),
                last_ns: ts.max(),
                ts_resolution_ns: tick,
            }
        })
        .collect()
}

fn analyze(points: &[Point], obs: &[Observation]) -> (Vec<Flow>, Vec<NatFinding>) {
    let corr = crate::correlate::correlate(obs, &[]);
    infer(points, obs, &[], corr)
}

/// The one flow of a scenario.
fn only_flow(points: &[Point], obs: &[Observation]) -> Flow {
    let (flows, _) = analyze(points, obs);
    assert_eq!(flows.len(), 1, "{flows:#?}");
    flows.into_iter().next().unwrap()
}

/// A hop `a` → `b` without NAT: `n` requests, `b` sees each `delta_ns` later; replies the other
/// way, `a` sees each `delta_ns` later.
fn link(a: View, b: View, n: u16, delta_ns: i64) -> Vec<Observation> {
    let mut v = Vec::new();
    for seq in 1..=n {
        let t = i64::from(seq) * S;
        v.push(a.request(seq, t));
        v.push(b.request(seq, t + delta_ns));
        v.push(b.reply(seq, t + 500 * US));
        v.push(a.reply(seq, t + 500 * US + delta_ns));
    }
    v
}

// ---- order ----

#[test]
fn path_follows_ttl_whatever_the_point_ids_and_input_order() {
    // Point ids deliberately not in path order: 0 is the last point, 1 the first.
    let (c, a, b) = (
        View::at(0, "10.0.0.1", 62),
        View::at(1, "10.0.0.1", 64),
        View::at(2, "10.0.0.1", 63),
    );
    let mut obs = Vec::new();
    for seq in (1..=3u16).rev() {
        let t = i64::from(seq) * S;
        obs.push(c.request(seq, t + 200 * US));
        obs.push(b.request(seq, t + 100 * US));
        obs.push(a.request(seq, t));
    }
    let pts = points(&[("C", 1), ("A", 1), ("B", 1)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["A", "B", "C"]);
    let ttl: Vec<_> = f.hops.iter().map(|h| h.ttl_delta).collect();
    assert_eq!(ttl, [Some(1), Some(1)]);
    assert!(f.notes.is_empty(), "{:?}", f.notes);
}

#[test]
fn ttl_outranks_timestamps_and_the_disagreement_is_noted() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 63));
    // B's clock is behind: it sees every request 5 ms before A sent it.
    let obs: Vec<_> = (1..=3u16)
        .flat_map(|seq| {
            let t = i64::from(seq) * S;
            [a.request(seq, t), b.request(seq, t - 5_000 * US)]
        })
        .collect();
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["A", "B"]);
    assert!(
        f.notes
            .iter()
            .any(|n| n.starts_with("B comes after A by TTL") && n.ends_with("their clocks differ")),
        "{:?}",
        f.notes
    );
}

#[test]
fn same_ttl_points_are_ordered_by_who_saw_the_shared_packets_first() {
    let (x, y) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 64));
    // Y sees each request 50 µs before X; X alone saw an earlier request, so X's capture
    // started first: the shared packets decide, not the capture start.
    let mut obs = vec![x.request(9, S / 2)];
    for seq in 1..=3u16 {
        let t = i64::from(seq) * S;
        obs.push(y.request(seq, t));
        obs.push(x.request(seq, t + 50 * US));
    }
    let pts = points(&[("X", 1000), ("Y", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["Y", "X"]);
    assert_eq!(f.hops[0].ttl_delta, Some(0));
    assert!(f.notes.is_empty(), "{:?}", f.notes);
}

#[test]
fn replies_decide_when_requests_tie_within_one_tick() {
    // Point 0 is Y, point 1 is X: the order must come from the replies, not the ids.
    let (y, x) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 64));
    let mut obs = Vec::new();
    for seq in 1..=3u16 {
        let t = i64::from(seq) * S;
        obs.push(y.request(seq, t));
        obs.push(x.request(seq, t));
        // The reply travels Y → X: X is nearer the pinging host.
        obs.push(y.reply(seq, t + 100 * US));
        obs.push(x.reply(seq, t + 140 * US));
    }
    let pts = points(&[("Y", 1000), ("X", 1000)], &obs);
    let order = PairOrder::new(&obs, &crate::correlate::correlate(&obs, &[]).flows[0]);
    assert_eq!(order.compare(&pts, 1, 0), 1, "X before Y");
    assert_eq!(order.compare(&pts, 0, 1), -1);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["X", "Y"]);
    assert!(f.notes.is_empty(), "{:?}", f.notes);
}

#[test]
fn a_tie_within_one_tick_is_noted_as_a_guess() {
    let (x, y) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 64));
    // 300 ns apart on microsecond captures: no order can be told.
    let obs: Vec<_> = (1..=3u16)
        .flat_map(|seq| {
            let t = i64::from(seq) * S;
            [x.request(seq, t), y.request(seq, t + 300)]
        })
        .collect();
    let pts = points(&[("X", 1000), ("Y", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path.len(), 2);
    assert_eq!(
        f.notes,
        [format!(
            "{} and {} saw this flow's packets within one timestamp tick on one link: their order is a guess",
            f.path[0], f.path[1]
        )]
    );
}

#[test]
fn ticks_below_a_microsecond_tell_the_order() {
    // The same 300 ns on nanosecond captures is an order.
    let (x, y) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 64));
    let obs: Vec<_> = (1..=3u16)
        .flat_map(|seq| {
            let t = i64::from(seq) * S;
            [y.request(seq, t + 300), x.request(seq, t)]
        })
        .collect();
    let pts = points(&[("X", 1), ("Y", 1)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["X", "Y"]);
    assert!(f.notes.is_empty(), "{:?}", f.notes);
}

// ---- hop ----

#[test]
fn snat_hop_counts_packets_and_replies_translated_back() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "198.51.100.1", 63));
    let obs = link(a, b, 4, 30 * US);
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let (flows, nat) = analyze(&pts, &obs);
    assert_eq!(flows.len(), 1);
    let hop = &flows[0].hops[0];
    assert_eq!((hop.from.as_str(), hop.to.as_str()), ("A", "B"));
    assert_eq!(
        hop.translations,
        [Translation {
            kind: TranslationKind::Snat,
            before: Value::Addr("10.0.0.1".parse().unwrap()),
            after: Value::Addr("198.51.100.1".parse().unwrap()),
            packets: 4,
            of: 4,
            replies: 4,
            replies_reversed: 4,
            replies_misaddressed: 0,
        }]
    );
    assert_eq!(nat.len(), 1);
    assert!(nat[0].reply_reversed);
    assert_eq!(nat[0].matched, Matched::Packet);
}

/// An SNAT hop whose replies cross it still addressed to the NAT address (not translated back).
fn untranslated_replies() -> (View, View, Vec<Observation>) {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "198.51.100.1", 63));
    let mut obs = Vec::new();
    for seq in 1..=4u16 {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        obs.push(b.request(seq, t + 30 * US));
        obs.push(b.reply(seq, t + 500 * US));
        let mut back = b.reply(seq, t + 530 * US);
        back.point = a.point;
        obs.push(back);
    }
    (a, b, obs)
}

#[test]
fn replies_not_translated_back_are_not_counted_reversed() {
    let (_, _, obs) = untranslated_replies();
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let (flows, nat) = analyze(&pts, &obs);
    let snat: Vec<&Translation> = flows
        .iter()
        .flat_map(|f| &f.hops)
        .flat_map(|h| &h.translations)
        .filter(|t| t.kind == TranslationKind::Snat)
        .collect();
    assert_eq!(snat.len(), 1, "{flows:#?}");
    assert_eq!((snat[0].packets, snat[0].of), (4, 4));
    assert_eq!(snat[0].replies_reversed, 0, "{:?}", snat[0]);
    let finding = nat
        .iter()
        .find(|n| n.kind == TranslationKind::Snat)
        .unwrap();
    assert!(!finding.reply_reversed, "{finding:?}");
}

#[test]
fn replies_not_translated_back_are_seen_at_both_ends() {
    let (_, _, obs) = untranslated_replies();
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let (flows, _) = analyze(&pts, &obs);
    let hop = &flows[0].hops[0];
    let t = &hop.translations[0];
    assert_eq!((t.replies, t.replies_reversed), (4, 0), "{t:?}");
    assert_eq!(hop.lost.reply, 0, "{:?}", hop.lost);
}

#[test]
fn replies_left_untranslated_further_on_are_misaddressed_at_the_inner_nat() {
    // A → B: SNAT 10.0.0.1 → 169.254.0.1; B → C: SNAT 169.254.0.1 → 198.51.100.1. C's replies
    // come back to 198.51.100.1 and nothing undoes either translation: the outer hop did not
    // translate them back, the inner one never got a reply addressed to its 169.254.0.1.
    let (a, b, c) = (
        View::at(0, "10.0.0.1", 64),
        View::at(1, "169.254.0.1", 63),
        View::at(2, "198.51.100.1", 62),
    );
    let mut obs = Vec::new();
    for seq in 1..=3u16 {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        obs.push(b.request(seq, t + 30 * US));
        obs.push(c.request(seq, t + 60 * US));
        obs.push(c.reply(seq, t + 500 * US));
        for (k, v) in [&b, &a].into_iter().enumerate() {
            let mut back = c.reply(seq, t + (530 + 30 * k as i64) * US);
            back.point = v.point;
            obs.push(back);
        }
    }
    let pts = points(&[("A", 1000), ("B", 1000), ("C", 1000)], &obs);
    let (flows, nat) = analyze(&pts, &obs);
    assert_eq!(flows.len(), 1, "{flows:#?}");
    let counts: Vec<(u64, u64, u64)> = flows[0]
        .hops
        .iter()
        .flat_map(|h| &h.translations)
        .map(|t| (t.replies, t.replies_reversed, t.replies_misaddressed))
        .collect();
    assert_eq!(counts, [(3, 0, 3), (3, 0, 0)]);
    let misaddressed: Vec<u64> = nat.iter().map(|n| n.replies_misaddressed).collect();
    assert_eq!(misaddressed, [3, 0]);
}

#[test]
fn hop_counts_replies_not_translated_back_when_they_are_one_flow() {
    // The hop alone: one flow holding both local flows A saw, as a fixed correlation would give.
    let (a, b, obs) = untranslated_replies();
    let local = |v: &View, src: &str| LocalFlow {
        point: v.point,
        proto: crate::model::Protocol::Icmp,
        src: src.parse().unwrap(),
        dst: v.dst.parse().unwrap(),
        id: v.id,
        sport: 0,
        dport: 0,
    };
    let journeys = |first: u32| -> Vec<Journey> {
        (0..4u32)
            .map(|k| Journey::from_slice(&[4 * k + first, 4 * k + first + 1]))
            .collect()
    };
    let corr = Correlation {
        flows: vec![FlowObs {
            matched: Matched::Packet,
            local_flows: vec![
                local(&a, a.src),
                local(&b, b.src),
                local(&a, "198.51.100.1"),
            ],
            requests: journeys(0),
            replies: journeys(2),
            notes: Vec::new(),
        }],
        ..Correlation::default()
    };
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let (flows, nat) = infer(&pts, &obs, &[], corr);
    let hop = &flows[0].hops[0];
    assert_eq!(
        hop.translations,
        [Translation {
            kind: TranslationKind::Snat,
            before: Value::Addr("10.0.0.1".parse().unwrap()),
            after: Value::Addr("198.51.100.1".parse().unwrap()),
            packets: 4,
            of: 4,
            replies: 4,
            replies_reversed: 0,
            replies_misaddressed: 0,
        }]
    );
    assert_eq!(hop.lost.reply, 0);
    assert!(!nat[0].reply_reversed);
}

#[test]
fn id_rewrite_is_an_id_translation() {
    let a = View {
        id: 4242,
        ..View::at(0, "10.0.0.1", 64)
    };
    let b = View {
        id: 5000,
        ..View::at(1, "10.0.0.1", 64)
    };
    let obs = link(a, b, 3, 20 * US);
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["A", "B"]);
    assert_eq!(
        f.hops[0].translations,
        [Translation {
            kind: TranslationKind::Id,
            before: Value::Id(4242),
            after: Value::Id(5000),
            packets: 3,
            of: 3,
            replies: 3,
            replies_reversed: 3,
            replies_misaddressed: 0,
        }]
    );
}

#[test]
fn hop_latency_median_is_the_delay_between_the_points() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 63));
    let mut obs = Vec::new();
    for (seq, delta) in [(1u16, 100 * US), (2, 300 * US), (3, 200 * US)] {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        obs.push(b.request(seq, t + delta));
        obs.push(b.reply(seq, t + 900 * US));
        obs.push(a.reply(seq, t + 900 * US + delta / 10));
    }
    let pts = points(&[("A", 1), ("B", 1)], &obs);
    let f = only_flow(&pts, &obs);
    let lat = &f.hops[0].latency_ns;
    let req = lat.request.unwrap();
    assert_eq!(
        (req.count.get(), req.min, req.median, req.max),
        (3, 100 * US, 200 * US, 300 * US)
    );
    let rep = lat.reply.unwrap();
    assert_eq!((rep.count.get(), rep.median), (3, 20 * US));
}

#[test]
fn one_link_order_with_clocks_that_disagree_follows_the_round_trips() {
    // A and B on one link (same TTL), A first: requests reach B 10 µs after A, replies A 10 µs
    // after B, so A sees a 1 ms round trip and B 980 µs. B's clock is 50 µs behind: on its
    // timestamps both the request and the reply reach B first. Only the round trips can tell.
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 64));
    let mut obs = Vec::new();
    for seq in 1..=5u16 {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        obs.push(b.request(seq, t + 10 * US - 50 * US));
        obs.push(b.reply(seq, t + 990 * US - 50 * US));
        obs.push(a.reply(seq, t + 1000 * US));
    }
    // Point ids in the wrong order, so that neither id nor input order decides.
    for o in &mut obs {
        o.point = 1 - o.point;
    }
    let pts = points(&[("B", 1), ("A", 1)], &obs);
    let order = PairOrder::new(&obs, &crate::correlate::correlate(&obs, &[]).flows[0]);
    assert_eq!(order.compare(&pts, 1, 0), 1, "A (id 1) before B (id 0)");
    assert_eq!(order.compare(&pts, 0, 1), -1);
}

#[test]
fn a_negative_delay_within_one_tick_counts_as_zero() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "10.0.0.1", 63));
    // B's microsecond timestamps are truncated: it seems to see each request 400 ns early.
    let obs: Vec<_> = (1..=3u16)
        .flat_map(|seq| {
            let t = i64::from(seq) * S;
            [a.request(seq, t), b.request(seq, t - 400)]
        })
        .collect();
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.path, ["A", "B"]);
    let req = f.hops[0].latency_ns.request.unwrap();
    assert_eq!(
        (req.count.get(), req.min, req.median, req.max),
        (3, 0, 0, 0)
    );
    // On nanosecond captures the same 400 ns is a real (clock) difference and stays negative.
    let pts = points(&[("A", 1), ("B", 1)], &obs);
    let f = only_flow(&pts, &obs);
    assert_eq!(f.hops[0].latency_ns.request.unwrap().median, -400);
}

// ---- nat ----

#[test]
fn two_flows_through_one_snat_sum_into_one_finding() {
    let mut obs = Vec::new();
    for (id, tag) in [(100u16, 1u8), (200, 2)] {
        let a = View {
            id,
            tag,
            ..View::at(0, "10.0.0.1", 64)
        };
        let b = View {
            id,
            tag,
            ..View::at(1, "198.51.100.1", 63)
        };
        obs.extend(link(a, b, 3, 25 * US));
    }
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let (flows, nat) = analyze(&pts, &obs);
    assert_eq!(flows.len(), 2);
    assert_eq!(nat.len(), 1, "{nat:#?}");
    let n = &nat[0];
    assert_eq!(n.kind, TranslationKind::Snat);
    assert_eq!(
        (
            n.from.as_str(),
            n.to.as_str(),
            n.before.to_string().as_str(),
            n.after.to_string().as_str()
        ),
        ("A", "B", "10.0.0.1", "198.51.100.1")
    );
    assert_eq!(
        (n.flows, n.packets, n.of, n.replies, n.replies_reversed),
        (2, 6, 6, 6, 6)
    );
    assert!(n.reply_reversed);
    assert_eq!(
        n.to_string(),
        "SNAT 10.0.0.1 → 198.51.100.1 between A and B"
    );
}

// ---- loss ----

#[test]
fn a_request_missing_at_the_far_point_while_it_captured_is_lost() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "198.51.100.1", 63));
    let mut obs = Vec::new();
    for seq in 1..=4u16 {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        if seq != 3 {
            obs.push(b.request(seq, t + 30 * US));
        }
    }
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    let f = only_flow(&pts, &obs);
    let lost = &f.hops[0].lost;
    assert_eq!((lost.request, lost.reply, lost.fragments), (1, 0, 0));
    assert_eq!(lost.request_seqs(), [3]);
    assert_eq!(f.hops[0].translations[0].of, 3);
}

#[test]
fn requests_after_the_far_capture_ended_are_not_lost() {
    let (a, b) = (View::at(0, "10.0.0.1", 64), View::at(1, "198.51.100.1", 63));
    let mut obs = Vec::new();
    for seq in 1..=4u16 {
        let t = i64::from(seq) * S;
        obs.push(a.request(seq, t));
        // B sees 1 and 3, not 2 (while it demonstrably captured) nor 4 (after its last packet).
        if seq % 2 == 1 {
            obs.push(b.request(seq, t + 30 * US));
        }
    }
    let pts = points(&[("A", 1000), ("B", 1000)], &obs);
    assert_eq!(pts[1].last_ns, Some(3 * S + 30 * US));
    let f = only_flow(&pts, &obs);
    let lost = &f.hops[0].lost;
    assert_eq!(lost.request, 1);
    assert_eq!(lost.request_seqs(), [2]);
    assert_eq!(lost.request_unverified, 1);
}

#[test]
fn a_retransmission_is_counted_where_it_was_seen_and_the_original_lost_on_its_hop() {
    let mut obs = crate::correlate::tests::lost_and_sent_again();
    let pts = points(&[("a", 1000), ("b", 1000), ("c", 1000)], &obs);
    let corr = crate::correlate::correlate(&obs, &[]);
    crate::correlate::number(&mut obs, &corr);
    let (flows, _) = infer(&pts, &obs, &[], corr);
    let f = &flows[0];
    assert_eq!(f.path, ["a", "b", "c"]);
    let retrans: Vec<u32> = f.points.iter().map(|p| p.retransmissions).collect();
    assert_eq!(
        retrans,
        [1, 1, 0],
        "the copy is a retransmission where the original was seen"
    );
    assert_eq!(
        f.hops[1].lost.request, 1,
        "the original, lost between b and c"
    );
    assert_eq!(
        f.hops[1].lost.request_seqs(),
        [2],
        "the second packet of the connection"
    );
    assert_eq!(f.hops[0].lost.request, 0);
    assert_eq!(f.requests, 3);
}

#[test]
fn resets_seen_at_the_same_points_share_one_place_and_serialize_in_full() {
    use crate::correlate::tests::{seg, syn_at_three_points};
    use crate::model::tcp_flag::{ACK, RST};
    let (c, s) = (("10.0.0.1", 40000), ("192.0.2.9", 80));
    let mut obs = syn_at_three_points(c, s);
    // Three resets from the responder's side cross every point (2, 1, 0); a fourth is seen
    // at point 0 alone: something between 0 and 1 sent it.
    for k in 0..3u32 {
        for p in (0..3).rev() {
            let t = 100 * i64::from(k) + 2 - i64::from(p);
            obs.push(seg(
                p,
                t,
                Direction::Reply,
                s,
                c,
                5000 + k,
                Some(RST | ACK),
                2,
            ));
        }
    }
    obs.push(seg(
        0,
        900,
        Direction::Reply,
        s,
        c,
        6000,
        Some(RST | ACK),
        2,
    ));
    let pts = points(&[("a", 1000), ("b", 1000), ("c", 1000)], &obs);
    let corr = crate::correlate::correlate(&obs, &[]);
    crate::correlate::number(&mut obs, &corr);
    let (flows, _) = infer(&pts, &obs, &[], corr);
    assert_eq!(flows.len(), 1, "{flows:#?}");
    let r = &flows[0].resets;
    assert_eq!(r.len(), 4, "{r:#?}");
    for x in &r[..3] {
        assert_eq!(x.points(), ["c", "b", "a"]);
        assert_eq!(x.sent_by().to_string(), "the responder's side (beyond c)");
        assert!(
            std::sync::Arc::ptr_eq(&x.place, &r[0].place),
            "one place for all three"
        );
    }
    assert_eq!(r[3].points(), ["a"]);
    assert_eq!(r[3].sent_by().to_string(), "something between a and b");
    assert!(!std::sync::Arc::ptr_eq(&r[3].place, &r[0].place));
    assert_eq!(
        serde_json::to_string(&r[3]).unwrap(),
        r#"{"dir":"reply","points":["a"],"sent_by":"something between a and b","first_ns":900000000}"#
    );
}

#[test]
fn a_hop_that_lost_nothing_holds_no_list_and_writes_the_same_json() {
    use crate::model::Lost;
    let mut lost = Lost::default();
    assert!(lost.request_seqs().is_empty() && lost.reply_seqs().is_empty());
    assert_eq!(
        serde_json::to_string(&lost).unwrap(),
        r#"{"request":0,"reply":0,"fragments":0,"request_seqs":[],"reply_seqs":[],"request_unverified":0,"reply_unverified":0}"#
    );
    lost.add(Direction::Reply, 7);
    lost.add(Direction::Request, 3);
    lost.missing(Direction::Request, 4, false);
    assert_eq!(lost.seqs(Direction::Request), [3]);
    assert_eq!(lost.seqs(Direction::Reply), [7]);
    assert_eq!(
        serde_json::to_string(&lost).unwrap(),
        r#"{"request":1,"reply":1,"fragments":0,"request_seqs":[3],"reply_seqs":[7],"request_unverified":1,"reply_unverified":0}"#
    );
    for k in 0..2 * crate::model::MAX_LOST_SEQS as u16 {
        lost.add(Direction::Request, k);
    }
    assert_eq!(lost.request, 1 + 2 * crate::model::MAX_LOST_SEQS as u32);
    assert_eq!(lost.request_seqs().len(), crate::model::MAX_LOST_SEQS);
}

#[test]
fn what_a_flow_and_an_observation_hold_stays_small() {
    use crate::model::{Lost, Name, PathPoint, Stats};
    use std::mem::size_of;
    // What a flow holds per point and per hop: statistics without an `Option` tag, a point's
    // name one pointer wide, the loss lists out of line.
    assert_eq!(size_of::<Option<Stats>>(), size_of::<Stats>());
    assert_eq!(size_of::<Name>(), size_of::<usize>());
    assert!(size_of::<Lost>() <= 32, "{}", size_of::<Lost>());
    assert!(size_of::<PathPoint>() <= 152, "{}", size_of::<PathPoint>());
    assert!(size_of::<Hop>() <= 160, "{}", size_of::<Hop>());
    // An observation: 88 bytes with the digest in two halves and 16-bit lengths (96 before).
    assert!(
        size_of::<Observation>() <= 88,
        "{}",
        size_of::<Observation>()
    );
}
