//! Loss: whether a capture point was there to see a packet, and flows that died inside a router.

use crate::correlate::{Correlation, ErrorJourney};
use crate::model::{Direction, Flow, Hop, Latency, Lost, Matched, Observation, PathPoint, Point};

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
    corr: &Correlation,
    errors_of: &[Vec<&ErrorJourney>],
    flows: &mut [Flow],
) {
    let mut extensions = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        if f.matched != Matched::Packet || f.requests == 0 {
            continue;
        }
        // Another flow through this flow's last point, and on to a next one.
        let Some(end) = f.path.last() else { continue };
        let next = flows
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .find_map(|(_, g)| {
                let k = g.path.iter().position(|p| p == end)?;
                g.path.get(k + 1).filter(|n| !f.path.contains(n)).cloned()
            });
        let Some(next) = next else { continue };
        let Some(np) = points.iter().position(|p| p.name == next) else {
            continue;
        };
        let last = points.iter().position(|p| Some(&p.name) == f.path.last());
        let answered: rustc_hash::FxHashSet<usize> =
            errors_of[i].iter().map(|e| e.request).collect();
        let mut lost = Lost::default();
        for (ji, j) in corr.flows[i].requests.iter().enumerate() {
            let at_last = j
                .iter()
                .map(|&o| &obs[o as usize])
                .find(|o| Some(o.point as usize) == last);
            if let Some(o) = at_last.filter(|_| !answered.contains(&ji)) {
                lost.missing(Direction::Request, o.seq, capturing(&points[np], o.ts_ns));
            }
        }
        if lost.request > 0 {
            extensions.push((i, next, lost));
        }
    }
    for (i, next, lost) in extensions {
        let f = &mut flows[i];
        let from = f.path.last().cloned().unwrap_or_default();
        f.notes.push(format!("no packet of this flow reached {next}, the next capture point on the path other flows took"));
        f.points.push(PathPoint {
            point: next.clone(),
            src: String::new(),
            dst: String::new(),
            ids: Vec::new(),
            ttl: None,
            requests: 0,
            replies: 0,
            rtt_ns: None,
            first_ns: None,
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
