//! What a person asks first of a TCP connection: how long the handshake took at each point,
//! which segments were sent again, and where a reset came from.

use crate::correlate::{FlowObs, Journey};
use crate::model::{
    tcp_flag, Direction, Name, Observation, Point, PointId, ResetFinding, ResetPlace, SentBy,
};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

/// One point's view of a TCP connection.
#[derive(Debug, Default)]
pub struct AtPoint {
    /// The first SYN to the first SYN-ACK after it.
    pub handshake_ns: Option<i64>,
    /// Segments carrying data (or SYN, FIN) seen again at this point.
    pub retransmissions: u32,
    pub resets: u32,
}

/// Handshake time, retransmissions and resets per point.
pub fn per_point(obs: &[Observation], f: &FlowObs) -> HashMap<PointId, AtPoint> {
    let mut at: HashMap<PointId, AtPoint> = HashMap::default();
    let mut syn: HashMap<PointId, i64> = HashMap::default();
    let mut synack: HashMap<PointId, i64> = HashMap::default();
    let mut members: Vec<u32> = f
        .requests
        .iter()
        .chain(&f.replies)
        .flatten()
        .copied()
        .collect();
    members.sort_by_key(|&o| (obs[o as usize].ts_ns, o));
    // A segment is (point, direction, sequence number, length in sequence space).
    let mut sent: HashSet<(PointId, Direction, u32, u32)> = HashSet::default();
    for o in members {
        let o = &obs[o as usize];
        let here = at.entry(o.point).or_default();
        if o.has_flags(tcp_flag::RST) {
            here.resets += 1;
        }
        if o.is_syn() {
            syn.entry(o.point).or_insert(o.ts_ns);
        } else if o.has_flags(tcp_flag::SYN | tcp_flag::ACK) && syn.contains_key(&o.point) {
            synack.entry(o.point).or_insert(o.ts_ns);
        }
        let space = o.seq_space();
        if space > 0 && !sent.insert((o.point, o.dir, o.tcp_seq, space)) {
            here.retransmissions += 1;
        }
    }
    for (p, t) in synack {
        if let (Some(s), Some(a)) = (syn.get(&p), at.get_mut(&p)) {
            a.handshake_ns = Some(t - s);
        }
    }
    at
}

/// Each reset of the connection, the points that saw it in the order it crossed them, and what
/// sent it: where it was first seen on its way tells whether it came from the far end or from
/// something between two points. `path` is the flow's points in path order.
pub fn resets(
    points: &[Point],
    obs: &[Observation],
    f: &FlowObs,
    path: &[PointId],
) -> Vec<ResetFinding> {
    let pos = |p: PointId| path.iter().position(|&x| x == p);
    let names: Vec<Name> = path
        .iter()
        .map(|&p| points[p as usize].name.clone())
        .collect();
    let is_reset = |j: &&Journey| obs[j[0] as usize].has_flags(tcp_flag::RST);
    let count = f.requests.iter().chain(&f.replies).filter(is_reset).count();
    // A storm of resets (a scan, a firewall refusing a flood) makes one finding each: sized
    // once, and the resets seen at the same points share one place.
    let mut out = Vec::with_capacity(count);
    let mut seen: Vec<usize> = Vec::with_capacity(path.len());
    let mut last: Option<(Direction, Vec<usize>, Arc<ResetPlace>)> = None;
    for (dir, journeys) in [
        (Direction::Request, &f.requests),
        (Direction::Reply, &f.replies),
    ] {
        for j in journeys.iter().filter(is_reset) {
            seen.clear();
            seen.extend(j.iter().filter_map(|&o| pos(obs[o as usize].point)));
            seen.sort_unstable();
            if seen.is_empty() {
                continue;
            }
            // The order it crossed the points: replies travel from the path's end.
            if dir == Direction::Reply {
                seen.reverse();
            }
            let place = match &last {
                Some((d, at, place)) if *d == dir && *at == seen => place.clone(),
                _ => {
                    let place = Arc::new(ResetPlace {
                        points: seen.iter().map(|&i| names[i].clone()).collect(),
                        sent_by: sent_by(dir, &names, seen[0]),
                    });
                    last = Some((dir, seen.clone(), place.clone()));
                    place
                }
            };
            out.push(ResetFinding {
                dir,
                place,
                first_ns: j.iter().map(|&o| obs[o as usize].ts_ns).min().unwrap_or(0),
            });
        }
    }
    out.sort_by_key(|r| r.first_ns);
    out
}

/// What sent a reset of direction `dir` first seen at `path[first]`: the far end's side when
/// that is the path's end, else something between that point and the next one toward the side
/// it claims to come from.
fn sent_by(dir: Direction, path: &[Name], first: usize) -> SentBy {
    let at = |i: usize| path[i].clone();
    match dir {
        Direction::Reply if first + 1 >= path.len() => SentBy::Responder { beyond: at(first) },
        Direction::Reply => SentBy::Between(at(first), at(first + 1)),
        Direction::Request if first == 0 => SentBy::Initiator { before: at(first) },
        Direction::Request => SentBy::Between(at(first - 1), at(first)),
    }
}

/// After a flow's path was extended to a point that saw nothing of it (it died in a router),
/// a reset from the responder's side first seen at the old end came from between that end
/// and the new point: the new point saw neither the request nor the reset.
pub fn after_extension(f: &mut crate::model::Flow) {
    // Resets that shared a place share its mended one: each place is looked at once.
    let mut last: Option<(Arc<ResetPlace>, Arc<ResetPlace>)> = None;
    for r in &mut f.resets {
        if let Some((was, now)) = &last {
            if Arc::ptr_eq(was, &r.place) {
                r.place = now.clone();
                continue;
            }
        }
        let was = r.place.clone();
        let first = r
            .points()
            .first()
            .and_then(|p| f.path.iter().position(|x| x == p));
        if let Some(first) = first {
            let sent_by = sent_by(r.dir, &f.path, first);
            if sent_by != *r.sent_by() {
                r.place = Arc::new(ResetPlace {
                    points: r.place.points.clone(),
                    sent_by,
                });
            }
        }
        last = Some((was, r.place.clone()));
    }
}
