//! Clock domains. Captures from different hosts have different clocks, sometimes seconds apart;
//! then a request seems to arrive before it left. Where that is impossible, the offset between
//! two captures is estimated from echo exchanges seen at both, with NTP's on-wire formula
//! θ = ((t2 − t1) + (t3 − t4)) / 2 (t1, t4: request and reply at one point; t2, t3: at the other),
//! and every capture of a file (one host, one clock) is shifted by its offset before timing.

use super::stats::median;
use crate::correlate::{self, Correlation, FlowObs, Journey};
use crate::model::{
    ClockOffset, ErrorObservation, Matched, Observation, OffsetSource, Point, PointId,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// The offsets the user gave (`--clock-offset POINT=SECONDS`), per file: every point of a file
/// shares one host's clock. Names that are no capture point become notes.
pub fn given(points: &[Point], offsets: &[(String, i64)]) -> (Vec<FileOffset>, Vec<String>) {
    let mut given = Vec::new();
    let mut notes = Vec::new();
    for (name, ns) in offsets {
        match points.iter().find(|p| &p.name == name) {
            Some(p) => given.push(FileOffset {
                file: p.file.clone(),
                offset_ns: *ns,
                pairs: 0,
            }),
            None => notes.push(format!(
                "--clock-offset names {name}, which is no capture point"
            )),
        }
    }
    (given, notes)
}

/// Moves every timestamp of the given files onto the reference clock.
pub fn shift(
    offsets: &[FileOffset],
    points: &mut [Point],
    obs: &mut [Observation],
    errors: &mut [ErrorObservation],
) {
    if offsets.is_empty() {
        return;
    }
    let by_point: Vec<i64> = points
        .iter()
        .map(|p| {
            offsets
                .iter()
                .find(|o| o.file == p.file)
                .map_or(0, |o| o.offset_ns)
        })
        .collect();
    for (p, off) in points.iter_mut().zip(&by_point) {
        p.first_ns = p.first_ns.map(|t| t.saturating_sub(*off));
        p.last_ns = p.last_ns.map(|t| t.saturating_sub(*off));
    }
    for o in obs.iter_mut() {
        o.ts_ns = o.ts_ns.saturating_sub(by_point[o.point as usize]);
    }
    for e in errors.iter_mut() {
        e.ts_ns = e.ts_ns.saturating_sub(by_point[e.point as usize]);
    }
}

/// Estimates the offsets the packets show (for files without a given one), shifts those files'
/// timestamps and correlates again when any moved. Returns the correlation to infer from and
/// every offset applied, given and estimated, per capture point.
pub fn settle(
    given: &[FileOffset],
    points: &mut [Point],
    obs: &mut [Observation],
    errors: &mut [ErrorObservation],
    mut correlation: Correlation,
) -> (Correlation, Vec<ClockOffset>) {
    let fixed: Vec<String> = given.iter().map(|g| g.file.clone()).collect();
    let estimated = estimate(points, obs, &correlation.flows, &fixed);
    if !estimated.is_empty() {
        shift(&estimated, points, obs, errors);
        correlation = correlate::correlate(obs, errors);
    }
    let points: &[Point] = points;
    let offsets = given
        .iter()
        .map(|g| (g, OffsetSource::Given))
        .chain(estimated.iter().map(|e| (e, OffsetSource::Estimated)))
        .flat_map(|(o, source)| {
            points
                .iter()
                .filter(|p| p.file == o.file)
                .map(move |p| ClockOffset {
                    point: p.name.to_string(),
                    offset_ns: o.offset_ns,
                    pairs: o.pairs,
                    source,
                })
        })
        .collect();
    (correlation, offsets)
}

/// A file's clock offset from the reference clock: subtract it from the file's timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOffset {
    pub file: String,
    pub offset_ns: i64,
    /// Echo exchanges seen at both ends that the estimate rests on (0: given by the user).
    pub pairs: u64,
}

/// Echo exchanges per flow that clock estimation looks at.
const MAX_EXCHANGES_PER_FLOW: usize = 64;

/// One echo exchange seen at two points: (t1, t2, t3, t4) as in NTP.
type Exchange = (i64, i64, i64, i64);

/// Request and reply journeys of one flow that are the same exchange: the reply echoes the
/// request's sequence number and payload (and length, unless either was fragmented: a reply is
/// often fragmented differently). Each reply answers at most one request, and each request
/// gets at most one reply: where a sequence number was sent more than once (a retry, a
/// wrapped counter), a reply answers the latest compatible request before it, in the time of a
/// point both were seen at.
/// TCP: a segment and the first acknowledgement of all of it; UDP: a datagram and the next
/// one back before another is sent ([`transport_exchanges`]).
pub fn exchanges<'a>(obs: &[Observation], f: &'a FlowObs) -> Vec<(&'a Journey, &'a Journey)> {
    if f.local_flows[0].proto != crate::model::Protocol::Icmp {
        return transport_exchanges(obs, f);
    }
    let mut replies: HashMap<u16, smallvec::SmallVec<[&Journey; 1]>> = HashMap::default();
    for j in &f.replies {
        replies.entry(obs[j[0] as usize].seq).or_default().push(j);
    }
    let mut requests: HashMap<u16, smallvec::SmallVec<[&Journey; 1]>> = HashMap::default();
    for j in &f.requests {
        requests.entry(obs[j[0] as usize].seq).or_default().push(j);
    }
    let answers = |q: &Journey, r: &Journey| {
        let (q, r) = (&obs[q[0] as usize], &obs[r[0] as usize]);
        q.payload_compatible(r) && (q.icmp_len == r.icmp_len || q.fragments > 0 || r.fragments > 0)
    };
    let mut out = Vec::with_capacity(f.requests.len());
    for (seq, reqs) in &requests {
        let Some(reps) = replies.get(seq) else {
            continue;
        };
        if let ([q], [r]) = (&reqs[..], &reps[..]) {
            // The common case, whatever the clocks say.
            if answers(q, r) {
                out.push((*q, *r));
            }
            continue;
        }
        // Time at the point the first request was first seen (one clock), else each
        // journey's first sighting.
        let reference = obs[reqs[0][0] as usize].point;
        let events = in_time_order(obs, reference, reqs.iter().copied(), reps.iter().copied());
        let mut pending: Vec<&Journey> = Vec::new();
        for (_, is_reply, j) in events {
            if !is_reply {
                pending.push(j);
            } else if let Some(k) = pending.iter().rposition(|q| answers(q, j)) {
                out.push((pending.remove(k), j));
            }
        }
    }
    out
}

/// Requests and replies (`true`) in time order at `reference` (one clock), else each journey's
/// first sighting; a request first where the times tie.
fn in_time_order<'a>(
    obs: &[Observation],
    reference: PointId,
    requests: impl Iterator<Item = &'a Journey>,
    replies: impl Iterator<Item = &'a Journey>,
) -> Vec<(i64, bool, &'a Journey)> {
    let time = |j: &Journey| {
        j.iter()
            .map(|&o| &obs[o as usize])
            .find(|o| o.point == reference)
            .unwrap_or(&obs[j[0] as usize])
            .ts_ns
    };
    let mut events: Vec<(i64, bool, &Journey)> = requests
        .map(|j| (time(j), false, j))
        .chain(replies.map(|j| (time(j), true, j)))
        .collect();
    events.sort_by_key(|&(t, is_reply, _)| (t, is_reply));
    events
}

/// Exchanges of a TCP or UDP flow, in the time of the point its first request was seen at (else
/// each journey's first sighting). TCP: a request segment taking sequence space is answered by
/// the first reply that acknowledges exactly its end (a segment sent again is not timed: Karn);
/// UDP: a datagram by the next reply before the initiator sends again.
fn transport_exchanges<'a>(obs: &[Observation], f: &'a FlowObs) -> Vec<(&'a Journey, &'a Journey)> {
    let Some(first) = f.requests.first() else {
        return Vec::new();
    };
    let reference = obs[first[0] as usize].point;
    let events = in_time_order(obs, reference, f.requests.iter(), f.replies.iter());
    let mut out = Vec::new();
    if f.local_flows[0].proto == crate::model::Protocol::Udp {
        let mut pending: Option<&Journey> = None;
        for (_, is_reply, j) in events {
            if !is_reply {
                pending = Some(j);
            } else if let Some(q) = pending.take() {
                out.push((q, j));
            }
        }
        return out;
    }
    // Pending segments by the acknowledgement that answers them; a value sent twice is
    // ambiguous and dropped.
    let mut pending: HashMap<u32, Option<&Journey>> = HashMap::default();
    for (_, is_reply, j) in events {
        let o = &obs[j[0] as usize];
        if !is_reply {
            let space = o.seq_space();
            if space > 0 {
                pending
                    .entry(o.tcp_seq.wrapping_add(space))
                    .and_modify(|slot| *slot = None)
                    .or_insert(Some(j));
            }
        } else if o.has_flags(crate::model::tcp_flag::ACK) {
            if let Some(Some(q)) = pending.remove(&o.tcp_ack) {
                out.push((q, j));
            }
        }
    }
    out
}

/// A packet seen at up to this many points gives a clock sample for every pair of them; one
/// seen at more, for each point and its neighbour in time.
const ALL_PAIRS_MAX_POINTS: usize = 32;

/// Clock samples per pair of points.
type Pairs = BTreeMap<(PointId, PointId), Vec<Exchange>>;

/// Offsets of the files whose clocks disagree with the others, estimated from the packets.
/// `fixed` files (offsets the user gave) are not estimated.
pub fn estimate(
    points: &[Point],
    obs: &[Observation],
    flows: &[FlowObs],
    fixed: &[String],
) -> Vec<FileOffset> {
    let mut file_names: Vec<&str> = points.iter().map(|p| p.file.as_str()).collect();
    file_names.sort_unstable();
    file_names.dedup();
    let file_of: Vec<usize> = points
        .iter()
        .map(|p| file_names.binary_search(&p.file.as_str()).unwrap_or(0))
        .collect();
    // Exchanges seen at both points of every pair of points in different files: gathered per
    // flow on every core, then merged per pair (their order does not matter: a link is made
    // of medians and minima).
    let sample = |mut pairs: Pairs, f: &FlowObs| {
        // A few exchanges per flow estimate an offset as well as all of them.
        for (req, rep) in exchanges(obs, f).into_iter().take(MAX_EXCHANGES_PER_FLOW) {
            let file = |o: u32| file_of[obs[o as usize].point as usize];
            if req.iter().all(|&o| file(o) == file(req[0])) {
                continue;
            }
            // The reply's time at each point, sorted by point (a journey holds one observation
            // per point): inline up to 8 points, a binary search for one seen at thousands.
            let mut reply: smallvec::SmallVec<[(PointId, i64); 8]> = rep
                .iter()
                .map(|&o| (obs[o as usize].point, obs[o as usize].ts_ns))
                .collect();
            reply.sort_unstable();
            let reply_at = |p: PointId| {
                reply
                    .binary_search_by_key(&p, |&(q, _)| q)
                    .ok()
                    .map(|k| reply[k].1)
            };
            // Only pairs from the lower point to the higher are read (see below).
            let mut pair = |a: u32, b: u32| {
                let (oa, ob) = (&obs[a as usize], &obs[b as usize]);
                debug_assert!(oa.point < ob.point);
                if file_of[oa.point as usize] == file_of[ob.point as usize] {
                    return;
                }
                if let (Some(ra), Some(rb)) = (reply_at(oa.point), reply_at(ob.point)) {
                    pairs
                        .entry((oa.point, ob.point))
                        .or_default()
                        .push((oa.ts_ns, ob.ts_ns, rb, ra));
                }
            };
            if req.len() <= ALL_PAIRS_MAX_POINTS {
                for &a in req.iter() {
                    for &b in req.iter() {
                        if obs[a as usize].point < obs[b as usize].point {
                            pair(a, b);
                        }
                    }
                }
            } else {
                // Seen at many points: each with its neighbours in time, which links the files
                // as well without a cost growing with points squared.
                let mut by_time: Vec<u32> = req.to_vec();
                by_time.sort_unstable_by_key(|&o| obs[o as usize].ts_ns);
                for w in by_time.windows(2) {
                    let (lo, hi) = if obs[w[0] as usize].point < obs[w[1] as usize].point {
                        (w[0], w[1])
                    } else {
                        (w[1], w[0])
                    };
                    pair(lo, hi);
                }
            }
        }
        pairs
    };
    let pairs = flows
        .par_iter()
        .filter(|f| f.matched == Matched::Packet)
        .fold(Pairs::new, sample)
        .reduce(Pairs::new, |mut a, b| {
            for (k, mut v) in b {
                a.entry(k).or_default().append(&mut v);
            }
            a
        });
    // Every pair of points in two files, oriented from the lower file index.
    let mut links: HashMap<(usize, usize), Vec<Link>> = HashMap::default();
    let mut impossible_pairs = vec![0u32; file_names.len()];
    for ((a, b), ex) in &pairs {
        let tick = crate::model::tick(&points[*a as usize], &points[*b as usize]);
        let link = Link::from_exchanges(ex, tick);
        let (fa, fb) = (file_of[*a as usize], file_of[*b as usize]);
        if link.impossible(0) {
            impossible_pairs[fa] += 1;
            impossible_pairs[fb] += 1;
        }
        let (key, link) = if fa < fb {
            ((fa, fb), link)
        } else {
            ((fb, fa), link.reversed())
        };
        links.entry(key).or_default().push(link);
    }
    if impossible_pairs.iter().all(|&n| n == 0) {
        return Vec::new();
    }
    // Files are placed one by one from a reference (a file the user gave an offset for, else
    // the one in the fewest impossible pairs, with the most points), next the file linked best
    // (least uncertainty) to those placed (Prim's algorithm). A file keeps its own clock unless
    // its timing against the placed files, as corrected, is impossible; then its offset is the
    // θ of its best link to them. A possible link is no evidence of an offset: shifting by the
    // noise of one link would move timing that was right.
    let points_in = |f: usize| file_of.iter().filter(|&&x| x == f).count();
    let mut offset: Vec<Option<(i64, u64)>> = vec![None; file_names.len()];
    let mut order: Vec<usize> = (0..file_names.len()).collect();
    order.sort_by_key(|&f| {
        (
            !fixed.iter().any(|x| x == file_names[f]),
            impossible_pairs[f],
            std::cmp::Reverse(points_in(f)),
            f,
        )
    });
    // Links seen from `from`: (from, to, link with `from` as its first point).
    let oriented = |from: usize, to: usize| -> Vec<Link> {
        if from < to {
            links.get(&(from, to)).cloned().unwrap_or_default()
        } else {
            links
                .get(&(to, from))
                .map(|v| v.iter().map(|l| l.reversed()).collect())
                .unwrap_or_default()
        }
    };
    for &root in &order {
        if offset[root].is_some() {
            continue;
        }
        offset[root] = Some((0, 0));
        loop {
            let next = links
                .iter()
                .flat_map(|(&(a, b), v)| {
                    v.iter()
                        .flat_map(move |l| [(a, b, l.uncertainty), (b, a, l.uncertainty)])
                })
                .filter(|&(from, to, _)| offset[from].is_some() && offset[to].is_none())
                .min_by_key(|&(from, to, u)| (u, from, to));
            let Some((_, to, _)) = next else {
                break;
            };
            let placed: Vec<(i64, Link)> = (0..file_names.len())
                .filter_map(|p| offset[p].map(|(o, _)| (p, o)))
                .flat_map(|(p, o)| oriented(p, to).into_iter().map(move |l| (o, l)))
                .collect();
            // On its own clock, `to` is shifted by nothing: the link's second point by -o.
            let contradicted = placed.iter().any(|(o, l)| l.impossible(o.saturating_neg()));
            offset[to] = Some(if contradicted {
                let (o, l) = placed
                    .iter()
                    .min_by_key(|(_, l)| l.uncertainty)
                    .copied()
                    .unwrap_or((0, Link::default()));
                (o.saturating_add(l.theta), l.exchanges)
            } else {
                (0, 0)
            });
        }
    }
    let mut out: Vec<FileOffset> = file_names
        .iter()
        .zip(offset)
        .filter_map(|(&file, o)| {
            let (offset_ns, pairs) = o?;
            (offset_ns != 0 && !fixed.iter().any(|x| x == file)).then(|| FileOffset {
                file: file.to_string(),
                offset_ns,
                pairs,
            })
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// What the exchanges seen at two points say about their clocks.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// The second point's clock minus the first's (NTP's θ), from the exchanges known best.
    theta: i64,
    /// Half the round trip between the two points (NTP's δ/2): θ is off by at most this.
    uncertainty: i64,
    /// Median request time at the second point minus at the first, and reply time at the
    /// first minus at the second.
    forward: i64,
    backward: i64,
    /// Median round trips seen at each point (one clock each: offsets do not change them).
    rtt_first: i64,
    rtt_second: i64,
    tick: i64,
    exchanges: u64,
}

impl Link {
    /// From exchanges (t1, t2, t3, t4): request at the first point, at the second, reply at
    /// the second, at the first.
    fn from_exchanges(ex: &[Exchange], tick: i64) -> Link {
        let med = |mut v: Vec<i64>| median(&mut v).unwrap_or(0);
        // Round trips take the upper of two middle values: a one-way time is at most its
        // round trip in every exchange, and so is its median (the lower middle, the larger
        // magnitude when negative) at most the round trips' upper middle. With the lower
        // middle, exchanges of several kinds (a TCP handshake, data and its ACK) made a
        // possible timing look impossible.
        let upper = |mut v: Vec<i64>| {
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        // δ of each exchange: the round trip between the two points; θ from the exchanges
        // whose δ is within twice the smallest.
        let delta = |e: &Exchange| {
            (i128::from(e.3) - i128::from(e.0))
                .abs_diff(i128::from(e.2) - i128::from(e.1))
                .min(i64::MAX as u128) as i64
        };
        let best = ex.iter().map(delta).min().unwrap_or(0);
        let theta = med(ex
            .iter()
            .filter(|e| delta(e) <= best.saturating_mul(2).max(tick))
            .map(|e| {
                let sum = (i128::from(e.1) - i128::from(e.0)) + (i128::from(e.2) - i128::from(e.3));
                i64::try_from(sum / 2).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
            })
            .collect());
        Link {
            theta,
            uncertainty: best / 2,
            forward: med(ex.iter().map(|e| e.1.saturating_sub(e.0)).collect()),
            backward: med(ex.iter().map(|e| e.3.saturating_sub(e.2)).collect()),
            rtt_first: upper(ex.iter().map(|e| e.3.saturating_sub(e.0)).collect()),
            rtt_second: upper(ex.iter().map(|e| e.2.saturating_sub(e.1)).collect()),
            tick,
            exchanges: ex.len() as u64,
        }
    }

    /// Whether the timing is impossible on one clock once the second point's timestamps are
    /// moved by `shift` (subtracted): one-way times of opposite signs, a one-way time longer
    /// than the round trip, or the point a packet passes first having the shorter round trip.
    fn impossible(&self, shift: i64) -> bool {
        let (tick, forward, backward) = (
            self.tick,
            self.forward.saturating_sub(shift),
            self.backward.saturating_add(shift),
        );
        let rtt = self.rtt_first.max(self.rtt_second);
        let opposite = (forward < -tick && backward > tick) || (forward > tick && backward < -tick);
        let too_long = forward.abs() > rtt + tick || backward.abs() > rtt + tick;
        let rtt_order =
            (forward > tick && backward > tick && self.rtt_first + tick < self.rtt_second)
                || (forward < -tick && backward < -tick && self.rtt_second + tick < self.rtt_first);
        opposite || too_long || rtt_order
    }

    /// The same link seen from the other point.
    fn reversed(self) -> Link {
        Link {
            theta: self.theta.saturating_neg(),
            forward: self.forward.saturating_neg(),
            backward: self.backward.saturating_neg(),
            rtt_first: self.rtt_second,
            rtt_second: self.rtt_first,
            ..self
        }
    }
}
