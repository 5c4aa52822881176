//! Path order: which capture point comes first in the request direction, from TTLs (routers
//! decrement them, immune to clock offsets), then from which point saw the packets first.

use super::stats::median;
use super::Seen;
use crate::correlate::FlowObs;
use crate::model::{tick, Observation, Point, PointId};
use crate::units::fmt_ns;
use rustc_hash::FxHashMap as HashMap;

/// Which of two points sees a flow's packets first: the median of request time differences, or,
/// where those tie within a timestamp tick, of replies.
pub struct PairOrder {
    samples: HashMap<(PointId, PointId), (Vec<i64>, Vec<i64>)>,
}

/// Time differences kept per pair of points: enough for a stable median.
const MAX_PAIR_SAMPLES: usize = 1000;

impl PairOrder {
    pub fn new(obs: &[Observation], f: &FlowObs) -> Self {
        let mut samples: HashMap<(PointId, PointId), (Vec<i64>, Vec<i64>)> = HashMap::default();
        for (journeys, reply) in [(&f.requests, false), (&f.replies, true)] {
            // Enough journeys for stable medians; looking at all would only cost time.
            for j in journeys
                .iter()
                .filter(|j| j.len() > 1)
                .take(4 * MAX_PAIR_SAMPLES)
            {
                for &x in j {
                    for &y in j {
                        let (ox, oy) = (&obs[x as usize], &obs[y as usize]);
                        if ox.point >= oy.point {
                            continue;
                        }
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
                    }
                }
            }
        }
        PairOrder { samples }
    }

    /// Median request delay from `a` to `b` (positive: a first), if any request was seen at both.
    pub fn request_delta(&self, a: PointId, b: PointId) -> Option<i64> {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let v = &self.samples.get(&(lo, hi))?.0;
        median(&mut v.clone()).map(|m| sign * m)
    }

    /// +1 when `a` comes before `b`, -1 after, 0 when the packets cannot tell. Requests and
    /// replies that disagree (each point sees both first: the clocks differ) are decided by
    /// their sum, the round trip one point sees longer than the other, which no clock offset
    /// changes.
    pub fn compare(&self, points: &[Point], a: PointId, b: PointId) -> i32 {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let Some((req, rep)) = self.samples.get(&(lo, hi)) else {
            return 0;
        };
        let tick = tick(&points[a as usize], &points[b as usize]);
        let side = |m: Option<i64>| m.filter(|m| m.abs() >= tick).map_or(0, i64::signum);
        let (req, rep) = (median(&mut req.clone()), median(&mut rep.clone()));
        let by = match (side(req), side(rep)) {
            (0, r) => r,
            (q, r) if r == 0 || q == r => q,
            _ => side(Some(req.unwrap_or(0).saturating_add(rep.unwrap_or(0)))),
        };
        sign * by as i32
    }
}

/// Path order from packets: TTL first (routers decrement it, and it is immune to clock offsets),
/// then, on one link, which point saw the packets first.
pub fn order_by_packets(
    points: &[Point],
    order: &PairOrder,
    seen: &[Seen],
    notes: &mut Vec<String>,
) -> Vec<PointId> {
    let wins = |p: PointId| {
        seen.iter()
            .filter(|q| order.compare(points, p, q.point) > 0)
            .count()
    };
    let all_ttl = seen.iter().all(|s| s.ttl.is_some());
    let mut sorted: Vec<&Seen> = seen.iter().collect();
    sorted.sort_by_key(|s| {
        let ttl = if all_ttl {
            255 - i32::from(s.ttl.unwrap_or(0))
        } else {
            0
        };
        (ttl, std::cmp::Reverse(wins(s.point)), s.first_ns)
    });
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
