//! Flows and journeys → what a person wants to know: the path order, the translations on each
//! hop and whether replies were translated back, per-hop latency, round-trip times and loss.
//! One file per job: [`order`] of the path, each [`hop`], [`nat`] summed over flows, [`loss`],
//! ICMP [`errors`], [`clock`] offsets, [`stats`].

pub mod clock;
mod errors;
mod hop;
mod loss;
mod nat;
mod order;
mod stats;
mod tcp;

pub use stats::{median, summarize};

use crate::correlate::{Correlation, ErrorJourney, FlowObs};
use crate::model::{
    Addr, Direction, ErrorObservation, Flow, Hop, Matched, NatFinding, Observation, Origin,
    PathPoint, Point, PointId, PointIds,
};
use hop::Placed;

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

pub fn infer(
    points: &[Point],
    obs: &[Observation],
    errs: &[ErrorObservation],
    corr: Correlation,
) -> (Vec<Flow>, Vec<NatFinding>) {
    let flows = infer_flows(points, obs, errs, corr);
    let nat = summarize_nat(&flows);
    (flows, nat)
}

/// Each translation summed over the flows: made from the flows alone, so the caller can free
/// the observations and the correlation first (they and the flows are the peak of memory).
pub fn summarize_nat(flows: &[Flow]) -> Vec<NatFinding> {
    nat::summarize(flows)
}

/// The flows of [`infer`], without the NAT findings summed over them. The correlation is
/// consumed: what a flow's inference alone reads (its local flows, replies and notes) is freed
/// as soon as the flow is inferred, so the flows grow into the room it leaves; its requests are
/// kept until dead ends are extended.
pub fn infer_flows(
    points: &[Point],
    obs: &[Observation],
    errs: &[ErrorObservation],
    mut corr: Correlation,
) -> Vec<Flow> {
    // Each flow's ICMP errors, grouped once (not searched once per flow).
    let mut errors_of: Vec<Vec<&ErrorJourney>> = vec![Vec::new(); corr.flows.len()];
    for e in &corr.errors {
        errors_of[e.flow].push(e);
    }
    // Flows are inferred one by one, independently: on every core at once (in order).
    let mut flows: Vec<Flow> = corr
        .flows
        .par_iter_mut()
        .zip(&errors_of)
        .map(|(f, errors)| {
            let mut flow = infer_flow(points, obs, f);
            flow.errors = errors
                .iter()
                .map(|e| errors::error_finding(points, obs, errs, f, &flow, e))
                .collect();
            f.local_flows = Vec::new();
            f.replies = Vec::new();
            f.notes = Vec::new();
            flow
        })
        .collect();
    loss::extend_dead_ends(points, obs, &corr.flows, &errors_of, &mut flows);
    for f in flows.iter_mut().filter(|f| !f.resets.is_empty()) {
        tcp::after_extension(f);
    }
    flows
}

/// What the correlation left undecided, for a person: its own notes, and the points whose
/// snaplen cut the payloads packets are matched on.
pub fn correlation_notes(points: &[Point], corr: &Correlation) -> Vec<String> {
    let mut notes = corr.notes.clone();
    for &(p, kept) in &corr.short_snaplen {
        let name = &points[p as usize].name;
        notes.push(if kept < 8 {
            format!(
                "{name}'s snaplen kept only {kept} echo payload byte(s): packets were matched on direction, sequence number, ICMP length and {kept} payload byte(s) everywhere, and told apart by time; too short to be sure where one sequence number repeats"
            )
        } else {
            format!(
                "{name}'s snaplen kept only {kept} echo payload bytes: packets were matched on the first {kept} payload bytes everywhere"
            )
        });
    }
    notes
}

/// What one point saw of one flow.
struct Seen {
    point: PointId,
    src: Addr,
    dst: Addr,
    ids: Vec<u16>,
    /// The initiator's and the responder's ports (TCP, UDP).
    ports: (u16, u16),
    ttl: Option<u8>,
    requests: Vec<u32>,
    replies: Vec<u32>,
    first_ns: i64,
}

fn infer_flow(points: &[Point], obs: &[Observation], f: &FlowObs) -> Flow {
    let mut seen = seen_per_point(obs, f);
    let mut notes = f.notes.clone();
    let order = match f.matched {
        // Per flow: the same two points are crossed the other way by a flow in the other direction.
        Matched::Packet => order::order_by_packets(points, obs, f, &seen, &mut notes),
        Matched::Flow => order::order_by_ttl(points, &seen, &mut notes),
    };
    let pos: HashMap<PointId, usize> = order.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    seen.sort_by_key(|s| pos.get(&s.point).copied());
    let placed = Placed::new(obs, f, &pos);
    let name = |p: PointId| points[p as usize].name.clone();

    let rtts = rtt_per_point(obs, f);
    let proto = f.local_flows[0].proto;
    let tcp = (proto == crate::model::Protocol::Tcp).then(|| tcp::per_point(obs, f));
    let hops: Vec<Hop> = seen
        .windows(2)
        .map(|w| match f.matched {
            Matched::Packet => hop::packet_hop(points, obs, &placed, &pos, &w[0], &w[1]),
            Matched::Flow => hop::flow_hop(points, obs, &w[0], &w[1]),
        })
        .collect();
    for (h, w) in hops.iter().zip(seen.windows(2)) {
        let tick = crate::model::tick(&points[w[0].point as usize], &points[w[1].point as usize]);
        for (dir, stats) in [
            ("request", &h.latency_ns.request),
            ("reply", &h.latency_ns.reply),
        ] {
            if let Some(st) = stats.filter(|st| st.median < -tick) {
                notes.push(format!(
                    "{} → {}: the {dir} latency is negative ({}) even after clock correction: the clocks of these two captures could not be reconciled, so this hop's timing cannot be trusted",
                    h.from,
                    h.to,
                    crate::units::fmt_ns(st.median)
                ));
            }
        }
    }
    let ports = |s: &Seen| proto.has_ports().then_some(s.ports);
    let path_points = seen
        .iter()
        .map(|s| {
            let at = tcp.as_ref().and_then(|t| t.get(&s.point));
            PathPoint {
                point: name(s.point),
                src: Some(s.src),
                dst: Some(s.dst),
                ids: if proto.has_ports() {
                    PointIds::new()
                } else {
                    PointIds::from_slice(&s.ids)
                },
                src_port: ports(s).map(|p| p.0),
                dst_port: ports(s).map(|p| p.1),
                ttl: s.ttl,
                requests: s.requests.len() as u32,
                replies: s.replies.len() as u32,
                rtt_ns: rtts.get(&s.point).and_then(|v| summarize(&mut v.clone())),
                first_ns: Some(s.first_ns),
                handshake_ns: at.and_then(|t| t.handshake_ns),
                retransmissions: at.map_or(0, |t| t.retransmissions),
                resets: at.map_or(0, |t| t.resets),
            }
        })
        .collect();
    let (requests, replies) = match f.matched {
        Matched::Packet => (f.requests.len() as u64, f.replies.len() as u64),
        // One ping run per point: the runs are not the same packets, so count the largest.
        Matched::Flow => (
            seen.iter().map(|s| s.requests.len()).max().unwrap_or(0) as u64,
            seen.iter().map(|s| s.replies.len()).max().unwrap_or(0) as u64,
        ),
    };
    if f.matched == Matched::Flow && seen.len() > 1 {
        let mut ids: Vec<u16> = seen.iter().flat_map(|s| s.ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > 1 {
            let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
            notes.push(format!(
                "each capture point saw a different ping run (ids {}): the ids are not translations, and loss and latency between the points cannot be measured",
                ids.join(", ")
            ));
        }
    }
    let first = &seen[0];
    let resets = if tcp.is_some() {
        tcp::resets(
            points,
            obs,
            f,
            &seen.iter().map(|s| s.point).collect::<Vec<_>>(),
        )
    } else {
        Vec::new()
    };
    Flow {
        origin: Origin {
            point: name(first.point),
            protocol: proto,
            src: first.src.ip(),
            dst: first.dst.ip(),
            id: if proto.has_ports() {
                0
            } else {
                first.ids.first().copied().unwrap_or(0)
            },
            src_port: ports(first).map(|p| p.0),
            dst_port: ports(first).map(|p| p.1),
        },
        path: seen.iter().map(|s| name(s.point)).collect(),
        points: path_points,
        requests,
        replies,
        matched: f.matched,
        hops,
        errors: Vec::new(),
        resets,
        notes,
    }
}

fn seen_per_point(obs: &[Observation], f: &FlowObs) -> Vec<Seen> {
    let mut by_point: BTreeMap<PointId, Seen> = BTreeMap::new();
    for lf in &f.local_flows {
        by_point.entry(lf.point).or_insert(Seen {
            point: lf.point,
            src: lf.src,
            dst: lf.dst,
            ids: Vec::new(),
            ports: (lf.sport, lf.dport),
            ttl: None,
            requests: Vec::new(),
            replies: Vec::new(),
            first_ns: i64::MAX,
        });
    }
    for (dir, journeys) in [
        (Direction::Request, &f.requests),
        (Direction::Reply, &f.replies),
    ] {
        // Points by id, without a tree lookup per packet (and without a table as large as
        // every point of the input for each flow: a `-i any` capture has thousands).
        let mut slot: HashMap<PointId, &mut Seen> =
            by_point.values_mut().map(|s| (s.point, s)).collect();
        for j in journeys {
            for &o in j {
                let ob = &obs[o as usize];
                if let Some(s) = slot.get_mut(&ob.point) {
                    match dir {
                        Direction::Request => s.requests.push(o),
                        Direction::Reply => s.replies.push(o),
                    }
                    s.first_ns = s.first_ns.min(ob.ts_ns);
                }
            }
        }
    }
    for s in by_point.values_mut() {
        // The addresses and ids most packets carry here.
        // A point sees one or a few of each: small lists beat hashing millions of packets.
        type Side = ((Addr, Addr), (u16, u16));
        let mut count: Vec<(Side, usize)> = Vec::new();
        let mut ids: Vec<u16> = Vec::new();
        for &o in s.requests.iter().chain(&s.replies) {
            let ob = &obs[o as usize];
            let side = (ob.initiator_side(), ob.initiator_ports());
            match count.iter_mut().find(|(k, _)| *k == side) {
                Some((_, n)) => *n += 1,
                None => count.push((side, 1)),
            }
            // Past a few distinct ids, collect and sort instead (quadratic otherwise).
            if ids.len() > 64 || !ids.contains(&ob.icmp_id) {
                ids.push(ob.icmp_id);
            }
        }
        if let Some(&(((src, dst), ports), _)) = count
            .iter()
            .max_by_key(|(k, n)| (*n, std::cmp::Reverse(*k)))
        {
            s.src = src;
            s.dst = dst;
            s.ports = ports;
        }
        ids.sort_unstable();
        ids.dedup();
        s.ids = ids;
        let mut ttls: Vec<u8> = s.requests.iter().map(|&o| obs[o as usize].ttl).collect();
        s.ttl = median(&mut ttls);
    }
    by_point.into_values().collect()
}

/// Round-trip times per point: each request to the reply that echoes its payload.
fn rtt_per_point(obs: &[Observation], f: &FlowObs) -> HashMap<PointId, Vec<i64>> {
    let mut out: HashMap<PointId, Vec<i64>> = HashMap::default();
    if f.matched == Matched::Flow {
        return out;
    }
    for (request, reply) in clock::exchanges(obs, f) {
        // A journey holds one observation per point: by point, the reply is a lookup (a scan
        // for the few points of most paths).
        let many = reply.len() > 16;
        let reply_at: HashMap<PointId, &Observation> = if many {
            reply
                .iter()
                .map(|&r| (obs[r as usize].point, &obs[r as usize]))
                .collect()
        } else {
            HashMap::default()
        };
        for &q in request.iter() {
            let q = &obs[q as usize];
            let r = if many {
                reply_at.get(&q.point).copied()
            } else {
                reply
                    .iter()
                    .map(|&r| &obs[r as usize])
                    .find(|r| r.point == q.point)
            };
            if let Some(r) = r {
                if r.ts_ns >= q.ts_ns {
                    out.entry(q.point)
                        .or_default()
                        .push(r.ts_ns.saturating_sub(q.ts_ns));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
