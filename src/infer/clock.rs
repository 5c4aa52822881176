//! Clock domains. Captures from different hosts have different clocks, sometimes seconds apart;
//! then a request seems to arrive before it left. Where that is impossible, the offset between
//! two captures is estimated from echo exchanges seen at both, with NTP's on-wire formula
//! θ = ((t2 − t1) + (t3 − t4)) / 2 (t1, t4: request and reply at one point; t2, t3: at the other),
//! and every capture of a file (one host, one clock) is shifted by its offset before timing.

use super::stats::median;
use crate::correlate::{self, Correlation, FlowObs, Journey, UnionFind};
use crate::model::{
    ClockOffset, ErrorObservation, Matched, Observation, OffsetSource, Point, PointId,
};
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
                    point: p.name.clone(),
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
pub fn exchanges<'a>(obs: &[Observation], f: &'a FlowObs) -> Vec<(&'a Journey, &'a Journey)> {
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
        let time = |j: &Journey| {
            j.iter()
                .map(|&o| &obs[o as usize])
                .find(|o| o.point == reference)
                .unwrap_or(&obs[j[0] as usize])
                .ts_ns
        };
        let mut events: Vec<(i64, bool, &Journey)> = reqs
            .iter()
            .map(|j| (time(j), false, *j))
            .chain(reps.iter().map(|j| (time(j), true, *j)))
            .collect();
        events.sort_by_key(|&(t, is_reply, _)| (t, is_reply));
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

/// Offsets of the files whose clocks disagree with the others, estimated from the packets.
/// `fixed` files (offsets the user gave) are not estimated.
pub fn estimate(
    points: &[Point],
    obs: &[Observation],
    flows: &[FlowObs],
    fixed: &[String],
) -> Vec<FileOffset> {
    // Exchanges seen at both points of every pair of points in different files.
    let mut pairs: BTreeMap<(PointId, PointId), Vec<Exchange>> = BTreeMap::new();
    let mut file_names: Vec<&str> = points.iter().map(|p| p.file.as_str()).collect();
    file_names.sort_unstable();
    file_names.dedup();
    let file_of: Vec<usize> = points
        .iter()
        .map(|p| file_names.binary_search(&p.file.as_str()).unwrap_or(0))
        .collect();
    for f in flows.iter().filter(|f| f.matched == Matched::Packet) {
        // A few exchanges per flow estimate an offset as well as all of them.
        for (req, rep) in exchanges(obs, f).into_iter().take(MAX_EXCHANGES_PER_FLOW) {
            for &a in req.iter() {
                for &b in req.iter() {
                    let (oa, ob) = (&obs[a as usize], &obs[b as usize]);
                    if file_of[oa.point as usize] == file_of[ob.point as usize] {
                        continue;
                    }
                    let at =
                        |p: PointId| rep.iter().map(|&o| &obs[o as usize]).find(|o| o.point == p);
                    if let (Some(ra), Some(rb)) = (at(oa.point), at(ob.point)) {
                        pairs
                            .entry((oa.point, ob.point))
                            .or_default()
                            .push((oa.ts_ns, ob.ts_ns, rb.ts_ns, ra.ts_ns));
                    }
                }
            }
        }
    }
    // Files whose timing is possible on one clock share one; the others are linked by the
    // offset their exchanges give, θ(b) − θ(a), with the exchange count and round trip.
    let mut files: Vec<String> = points.iter().map(|p| p.file.clone()).collect();
    files.sort();
    files.dedup();
    let index = |f: &str| files.binary_search_by(|x| x.as_str().cmp(f)).unwrap_or(0) as u32;
    let mut same = UnionFind::new(files.len());
    let mut skewed: Vec<(u32, u32, i64, u64, i64)> = Vec::new();
    for ((a, b), ex) in &pairs {
        if a > b {
            continue;
        }
        let n = ex.len();
        let median = |mut v: Vec<i64>| median(&mut v).unwrap_or(0);
        let forward = median(ex.iter().map(|e| e.1.saturating_sub(e.0)).collect());
        let backward = median(ex.iter().map(|e| e.3.saturating_sub(e.2)).collect());
        let rtt = median(
            ex.iter()
                .map(|e| e.3.saturating_sub(e.0).max(e.2.saturating_sub(e.1)))
                .collect(),
        );
        let tick = crate::model::tick(&points[*a as usize], &points[*b as usize]);
        // On one clock both one-way times have one sign and neither exceeds the round trip.
        let opposite = (forward < -tick && backward > tick) || (forward > tick && backward < -tick);
        let impossible = opposite || forward.abs() > rtt + tick || backward.abs() > rtt + tick;
        let (fa, fb) = (
            index(&points[*a as usize].file),
            index(&points[*b as usize].file),
        );
        if impossible {
            let theta = median(
                ex.iter()
                    .map(|e| {
                        let (a, b) = (
                            i128::from(e.1) - i128::from(e.0),
                            i128::from(e.2) - i128::from(e.3),
                        );
                        i64::try_from((a + b) / 2).unwrap_or(i64::MAX)
                    })
                    .collect(),
            );
            skewed.push((fa, fb, theta, n as u64, rtt));
        } else {
            same.union(fa, fb);
        }
    }
    if skewed.is_empty() {
        return Vec::new();
    }
    // Between two clocks, the exchange with the shortest round trip bounds the error best
    // (half the path's asymmetry): place clocks along those (Prim's algorithm).
    let group: Vec<u32> = (0..files.len() as u32).map(|f| same.find(f)).collect();
    let mut offset: HashMap<u32, (i64, u64)> = HashMap::default();
    let mut component: HashMap<u32, u32> = HashMap::default();
    let mut roots: Vec<u32> = group.clone();
    roots.sort_unstable();
    roots.dedup();
    for &root in &roots {
        if offset.contains_key(&root) {
            continue;
        }
        offset.insert(root, (0, 0));
        component.insert(root, root);
        loop {
            let next = skewed
                .iter()
                .flat_map(|&(a, b, t, n, r)| {
                    [
                        (group[a as usize], group[b as usize], t, n, r),
                        (group[b as usize], group[a as usize], -t, n, r),
                    ]
                })
                .filter(|(from, to, ..)| {
                    offset.contains_key(from) && !offset.contains_key(to) && component[from] == root
                })
                .min_by_key(|&(from, to, _, _, rtt)| (rtt, from, to));
            let Some((from, to, theta, n, _)) = next else {
                break;
            };
            let base = offset[&from].0;
            offset.entry(from).and_modify(|o| o.1 = o.1.max(n));
            offset.insert(to, (base.saturating_add(theta), n));
            component.insert(to, root);
        }
    }
    // The reference clock of each connected set: the one most capture points share.
    let points_of = |g: u32| {
        points
            .iter()
            .filter(|p| group[index(&p.file) as usize] == g)
            .count()
    };
    let mut reference: HashMap<u32, i64> = HashMap::default();
    for &root in &roots {
        let members = component
            .iter()
            .filter(|(_, r)| **r == root)
            .map(|(g, _)| *g);
        if let Some(best) = members.max_by_key(|&g| (points_of(g), std::cmp::Reverse(g))) {
            reference.insert(root, offset[&best].0);
        }
    }
    let offset: HashMap<String, (i64, u64)> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let g = group[i];
            let (o, n) = *offset.get(&g)?;
            Some((f.clone(), (o.saturating_sub(reference[&component[&g]]), n)))
        })
        .collect();
    let mut out: Vec<FileOffset> = offset
        .into_iter()
        .filter(|(f, (o, _))| *o != 0 && !fixed.contains(f))
        .map(|(file, (offset_ns, pairs))| FileOffset {
            file,
            offset_ns,
            pairs,
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}
