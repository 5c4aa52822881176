//! Loss: whether a capture point was there to see a packet, and flows that died inside a router.

use crate::correlate::{ErrorJourney, FlowObs};
use crate::model::{
    Direction, Flow, Hop, Latency, Lost, Matched, Observation, PathPoint, Point, PointIds,
};
use rustc_hash::FxHashMap as HashMap;

/// Whether `point`'s capture was demonstrably running at time `t`: it saw packets before and
/// after that moment. Only then is a packet missing there counted lost; otherwise it is
/// unverified (the capture may have started late or stopped early).
pub fn capturing(point: &Point, t: i64) -> bool {
    match (point.first_ns, point.last_ns) {
        (Some(s), Some(e)) => t >= s && t <= e,
        _ => false,
    }
}

/// A flow whose requests all died inside a router was seen only up to the point before it. When
/// another flow took the same path further, the next point on it was there to see them: add that
/// point (it saw nothing of this flow) and count the requests lost on the hop to it. Requests
/// answered by an ICMP error (a traceroute probe's time exceeded) are not lost.
pub fn extend_dead_ends(
    points: &[Point],
    obs: &[Observation],
    corr: &[FlowObs],
    errors_of: &[Vec<&ErrorJourney>],
    flows: &mut [Flow],
) {
    // Each point's successors on the paths flows took, in the order flows first show them: the
    // first one a dead-end flow has not already crossed is where it would have gone next. One
    // pass over the paths instead of a scan of every flow for every flow.
    let mut successors: HashMap<&str, Vec<&str>> = HashMap::default();
    for g in flows.iter() {
        for w in g.path.windows(2) {
            let next = successors.entry(w[0].as_str()).or_default();
            if !next.contains(&w[1].as_str()) {
                next.push(w[1].as_str());
            }
        }
    }
    let index: HashMap<&str, usize> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut extensions = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        if f.matched != Matched::Packet || f.requests == 0 {
            continue;
        }
        let Some(end) = f.path.last() else { continue };
        let next = successors
            .get(end.as_str())
            .and_then(|n| n.iter().find(|n| !f.path.iter().any(|p| p == **n)));
        let Some(&np) = next.and_then(|next| index.get(next)) else {
            continue;
        };
        let next = points[np].name.clone();
        let last = index.get(end.as_str()).copied();
        let answered: rustc_hash::FxHashSet<usize> =
            errors_of[i].iter().map(|e| e.request).collect();
        let mut lost = Lost::default();
        for (ji, j) in corr[i].requests.iter().enumerate() {
            let at_last = j
                .iter()
                .map(|&o| &obs[o as usize])
                .find(|o| Some(o.point as usize) == last);
            if let Some(o) = at_last.filter(|_| !answered.contains(&ji)) {
                lost.missing(Direction::Request, o.seq, capturing(&points[np], o.ts_ns));
            }
        }
        if lost.request > 0 || lost.request_unverified > 0 {
            extensions.push((i, next, lost));
        }
    }
    for (i, next, lost) in extensions {
        let f = &mut flows[i];
        let from = f.path.last().cloned().unwrap_or_default();
        f.notes.push(format!("no packet of this flow reached {next}, the next capture point on the path other flows took"));
        f.points.push(PathPoint {
            point: next.clone(),
            src: None,
            dst: None,
            ids: PointIds::new(),
            src_port: None,
            dst_port: None,
            ttl: None,
            requests: 0,
            replies: 0,
            rtt_ns: None,
            first_ns: None,
            handshake_ns: None,
            retransmissions: 0,
            resets: 0,
        });
        f.path.push(next.clone());
        f.hops.push(Hop {
            from,
            to: next,
            translations: Vec::new(),
            ttl_delta: None,
            latency_ns: Latency::default(),
            lost,
        });
    }
}
