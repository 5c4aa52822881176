//! What a person asks first of a TCP connection: how long the handshake took at each point,
//! which segments were sent again, and where a reset came from.

use crate::correlate::FlowObs;
use crate::model::{tcp_flag, Direction, Observation, Point, PointId, ResetFinding};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// One point's view of a TCP connection.
#[derive(Debug, Default)]
pub struct AtPoint {
    /// The first SYN to the first SYN-ACK after it.
    pub handshake_ns: Option<i64>,
    /// Segments carrying data (or SYN, FIN) seen again at this point.
    pub retransmissions: u64,
    pub resets: u64,
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
    let name = |i: usize| points[path[i] as usize].name.as_str();
    let mut out = Vec::new();
    for (dir, journeys) in [
        (Direction::Request, &f.requests),
        (Direction::Reply, &f.replies),
    ] {
        for j in journeys {
            if !obs[j[0] as usize].has_flags(tcp_flag::RST) {
                continue;
            }
            let mut seen: Vec<usize> = j
                .iter()
                .filter_map(|&o| pos(obs[o as usize].point))
                .collect();
            seen.sort_unstable();
            if seen.is_empty() {
                continue;
            }
            // The order it crossed the points: replies travel from the path's end.
            if dir == Direction::Reply {
                seen.reverse();
            }
            let first = seen[0];
            let sent_by = match dir {
                Direction::Reply if first + 1 == path.len() => {
                    format!("the responder's side (beyond {})", name(first))
                }
                Direction::Reply => format!("between {} and {}", name(first + 1), name(first)),
                Direction::Request if first == 0 => {
                    format!("the initiator's side (before {})", name(first))
                }
                Direction::Request => format!("between {} and {}", name(first - 1), name(first)),
            };
            out.push(ResetFinding {
                dir,
                points: seen.iter().map(|&i| name(i).to_string()).collect(),
                sent_by,
                first_ns: j.iter().map(|&o| obs[o as usize].ts_ns).min().unwrap_or(0),
            });
        }
    }
    out.sort_by_key(|r| r.first_ns);
    out
}
