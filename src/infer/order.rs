//! Path order: which capture point comes first in the request direction, from TTLs (routers
//! decrement them, immune to clock offsets), then from which point saw the packets first.

use super::stats::median;
use super::Seen;
use crate::correlate::FlowObs;
use crate::model::{tick, Observation, Point, PointId};
use crate::units::fmt_ns;
use rustc_hash::{FxHashMap as HashMap, FxHashSet};

/// Which of two points sees a flow's packets first: the median of request time differences, or,
/// where those tie within a timestamp tick, of replies.
pub struct PairOrder {
    /// Per pair of points (lower id first): median request and reply differences.
    medians: HashMap<(PointId, PointId), (Option<i64>, Option<i64>)>,
}

/// Time differences kept per pair of points: enough for a stable median.
const MAX_PAIR_SAMPLES: usize = 1000;

/// Up to this many points, a flow's path is sorted by comparing every pair of points; beyond
/// (a `-i any` capture with one point per interface), by each point's place in the journeys,
/// so the cost grows with points, not with their square.
const ALL_PAIRS_MAX_POINTS: usize = 32;

impl PairOrder {
    /// Every pair of points that saw one of the flow's packets.
    pub fn new(obs: &[Observation], f: &FlowObs) -> Self {
        Self::build(obs, f, None)
    }

    /// Only the given pairs (lower id first).
    fn for_pairs(obs: &[Observation], f: &FlowObs, pairs: &FxHashSet<(PointId, PointId)>) -> Self {
        Self::build(obs, f, Some(pairs))
    }

    fn build(
        obs: &[Observation],
        f: &FlowObs,
        pairs: Option<&FxHashSet<(PointId, PointId)>>,
    ) -> Self {
        let mut samples: HashMap<(PointId, PointId), (Vec<i64>, Vec<i64>)> = HashMap::default();
        for (journeys, reply) in [(&f.requests, false), (&f.replies, true)] {
            // Enough journeys for stable medians; looking at all would only cost time.
            for j in journeys
                .iter()
                .filter(|j| j.len() > 1)
                .take(4 * MAX_PAIR_SAMPLES)
            {
                let mut sample = |ox: &Observation, oy: &Observation| {
                    let e = samples.entry((ox.point, oy.point)).or_default();
                    let v = if reply { &mut e.1 } else { &mut e.0 };
                    if v.len() < MAX_PAIR_SAMPLES {
                        // Positive when x comes first in the request direction.
                        v.push(if reply {
                            ox.ts_ns.saturating_sub(oy.ts_ns)
                        } else {
                            oy.ts_ns.saturating_sub(ox.ts_ns)
                        });
                    }
                };
                match pairs {
                    None => {
                        for &x in j {
                            for &y in j {
                                let (ox, oy) = (&obs[x as usize], &obs[y as usize]);
                                if ox.point < oy.point {
                                    sample(ox, oy);
                                }
                            }
                        }
                    }
                    Some(pairs) => {
                        let at: HashMap<PointId, &Observation> = j
                            .iter()
                            .map(|&o| (obs[o as usize].point, &obs[o as usize]))
                            .collect();
                        for (a, b) in pairs {
                            if let (Some(ox), Some(oy)) = (at.get(a), at.get(b)) {
                                sample(ox, oy);
                            }
                        }
                    }
                }
            }
        }
        let medians = samples
            .into_iter()
            .map(|(k, (mut req, mut rep))| (k, (median(&mut req), median(&mut rep))))
            .collect();
        PairOrder { medians }
    }

    /// Median request delay from `a` to `b` (positive: a first), if any request was seen at both.
    pub fn request_delta(&self, a: PointId, b: PointId) -> Option<i64> {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        self.medians.get(&(lo, hi))?.0.map(|m| sign * m)
    }

    /// +1 when `a` comes before `b`, -1 after, 0 when the packets cannot tell. Requests and
    /// replies that disagree (each point sees both first: the clocks differ) are decided by
    /// their sum, the round trip one point sees longer than the other, which no clock offset
    /// changes.
    pub fn compare(&self, points: &[Point], a: PointId, b: PointId) -> i32 {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let Some(&(req, rep)) = self.medians.get(&(lo, hi)) else {
            return 0;
        };
        let tick = tick(&points[a as usize], &points[b as usize]);
        let side = |m: Option<i64>| m.filter(|m| m.abs() >= tick).map_or(0, i64::signum);
        let by = match (side(req), side(rep)) {
            (0, r) => r,
            (q, r) if r == 0 || q == r => q,
            _ => side(Some(req.unwrap_or(0).saturating_add(rep.unwrap_or(0)))),
        };
        sign * by as i32
    }
}

/// Each point's place on the path from the journeys alone: the median time after a request's
/// first sighting that the point saw it, less the same for replies. A point further along sees
/// requests later and replies earlier; a clock offset adds to both and cancels.
fn path_places(obs: &[Observation], f: &FlowObs) -> HashMap<PointId, i64> {
    let mut offsets: HashMap<PointId, (Vec<i64>, Vec<i64>)> = HashMap::default();
    for (journeys, reply) in [(&f.requests, false), (&f.replies, true)] {
        for j in journeys
            .iter()
            .filter(|j| j.len() > 1)
            .take(4 * MAX_PAIR_SAMPLES)
        {
            let first = j.iter().map(|&o| obs[o as usize].ts_ns).min().unwrap_or(0);
            for &o in j {
                let ob = &obs[o as usize];
                let e = offsets.entry(ob.point).or_default();
                let v = if reply { &mut e.1 } else { &mut e.0 };
                if v.len() < MAX_PAIR_SAMPLES {
                    v.push(ob.ts_ns.saturating_sub(first));
                }
            }
        }
    }
    offsets
        .into_iter()
        .map(|(p, (mut req, mut rep))| {
            let (req, rep) = (median(&mut req), median(&mut rep));
            (p, req.unwrap_or(0).saturating_sub(rep.unwrap_or(0)))
        })
        .collect()
}

/// Path order from packets: TTL first (routers decrement it, and it is immune to clock offsets),
/// then, on one link, which point saw the packets first.
pub fn order_by_packets(
    points: &[Point],
    obs: &[Observation],
    f: &FlowObs,
    seen: &[Seen],
    notes: &mut Vec<String>,
) -> Vec<PointId> {
    let all_ttl = seen.iter().all(|s| s.ttl.is_some());
    let ttl = |s: &Seen| {
        if all_ttl {
            255 - i32::from(s.ttl.unwrap_or(0))
        } else {
            0
        }
    };
    let mut sorted: Vec<&Seen> = seen.iter().collect();
    let order = if seen.len() <= ALL_PAIRS_MAX_POINTS {
        let order = PairOrder::new(obs, f);
        let wins: HashMap<PointId, usize> = seen
            .iter()
            .map(|s| {
                let n = seen
                    .iter()
                    .filter(|q| order.compare(points, s.point, q.point) > 0)
                    .count();
                (s.point, n)
            })
            .collect();
        sorted.sort_by_key(|s| (ttl(s), std::cmp::Reverse(wins[&s.point]), s.first_ns));
        order
    } else {
        let place = path_places(obs, f);
        sorted.sort_by_key(|s| {
            (
                ttl(s),
                place.get(&s.point).copied().unwrap_or(0),
                s.first_ns,
            )
        });
        let neighbours = sorted
            .windows(2)
            .map(|w| (w[0].point.min(w[1].point), w[0].point.max(w[1].point)))
            .collect();
        PairOrder::for_pairs(obs, f, &neighbours)
    };
    for w in sorted.windows(2) {
        let tick = tick(&points[w[0].point as usize], &points[w[1].point as usize]);
        if w[0].ttl == w[1].ttl && order.compare(points, w[0].point, w[1].point) == 0 {
            notes.push(format!(
                "{} and {} saw this flow's packets within one timestamp tick on one link: their order is a guess",
                points[w[0].point as usize].name,
                points[w[1].point as usize].name
            ));
        }
        if let Some(d) = order.request_delta(w[0].point, w[1].point) {
            if d <= -tick {
                let by = if w[0].ttl == w[1].ttl {
                    "by the round trips each sees"
                } else {
                    "by TTL"
                };
                notes.push(format!(
                    "{} comes after {} {by}, but sees the packets {} earlier: their clocks differ",
                    points[w[1].point as usize].name,
                    points[w[0].point as usize].name,
                    fmt_ns(-d)
                ));
            }
        }
    }
    sorted.iter().map(|s| s.point).collect()
}

/// Path order when no packet was seen twice: TTL, then the order the captures were taken in.
pub fn order_by_ttl(points: &[Point], seen: &[Seen], notes: &mut Vec<String>) -> Vec<PointId> {
    let mut order: Vec<&Seen> = seen.iter().collect();
    order.sort_by_key(|s| (255 - i32::from(s.ttl.unwrap_or(0)), s.first_ns));
    for w in order.windows(2) {
        if w[0].ttl == w[1].ttl {
            notes.push(format!(
                "{} and {} see the same TTL (one link): their order follows when each capture was taken",
                points[w[0].point as usize].name,
                points[w[1].point as usize].name
            ));
        }
    }
    order.iter().map(|s| s.point).collect()
}
