//! Flows and journeys → what a person wants to know: the path order, the translations on each
//! hop and whether replies were translated back, per-hop latency, round-trip times and loss.

pub mod clock;
mod stats;

pub use stats::summarize;

use crate::correlate::{Correlation, ErrorJourney, FlowObs, Journey};
use crate::model::{
    Direction, ErrorFinding, ErrorObservation, Flow, Hop, Latency, Lost, Matched, NatFinding,
    Observation, Origin, PathPoint, Point, PointId, Translation, TranslationKind,
};
use rustc_hash::FxHashMap as HashMap;
use stats::median_u8;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A packet seen this long before a capture started (or after it ended) is not counted lost there.
const WINDOW_MARGIN_NS: i64 = 1_000_000_000;
/// Sequence numbers of lost packets listed per hop and direction; the counts are always complete.
const MAX_LOST_SEQS: usize = 100;

pub fn infer(
    points: &[Point],
    obs: &[Observation],
    errs: &[ErrorObservation],
    corr: &Correlation,
) -> (Vec<Flow>, Vec<NatFinding>) {
    // Each flow's ICMP errors, grouped once (not searched once per flow).
    let mut errors_of: Vec<Vec<&ErrorJourney>> = vec![Vec::new(); corr.flows.len()];
    for e in &corr.errors {
        errors_of[e.flow].push(e);
    }
    let mut flows: Vec<Flow> = corr
        .flows
        .iter()
        .zip(&errors_of)
        .map(|(f, errors)| {
            let mut flow = infer_flow(points, obs, f);
            flow.errors = errors
                .iter()
                .map(|e| error_finding(points, obs, errs, f, &flow, e))
                .collect();
            flow
        })
        .collect();
    extend_dead_ends(points, obs, corr, &errors_of, &mut flows);
    let nat = summarize_nat(&flows);
    (flows, nat)
}

/// A flow whose requests all died inside a router was seen only up to the point before it. When
/// another flow took the same path further, the next point on it was there to see them: add that
/// point (it saw nothing of this flow) and count the requests lost on the hop to it. Requests
/// answered by an ICMP error (a traceroute probe's time exceeded) are not lost.
fn extend_dead_ends(
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
        let (start, end) = (
            points[np].first_ns.unwrap_or(i64::MAX),
            points[np].last_ns.unwrap_or(i64::MIN),
        );
        let mut lost = Lost::default();
        for (ji, j) in corr.flows[i].requests.iter().enumerate() {
            let at_last = j
                .iter()
                .map(|&o| &obs[o as usize])
                .find(|o| Some(o.point as usize) == last);
            if let Some(o) = at_last.filter(|o| {
                o.ts_ns >= start - WINDOW_MARGIN_NS && o.ts_ns <= end + WINDOW_MARGIN_NS
            }) {
                if !answered.contains(&ji) {
                    lost.request += 1;
                    if lost.request_seqs.len() < MAX_LOST_SEQS {
                        lost.request_seqs.push(o.seq);
                    }
                }
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

/// What one point saw of one flow.
struct Seen {
    point: PointId,
    src: IpAddr,
    dst: IpAddr,
    ids: Vec<u16>,
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
        Matched::Packet => order_by_packets(points, &PairOrder::new(obs, f), &seen, &mut notes),
        Matched::Flow => order_by_ttl(points, &seen, &mut notes),
    };
    seen.sort_by_key(|s| order.iter().position(|&p| p == s.point));
    let pos: HashMap<PointId, usize> = order.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let placed = Placed::new(obs, f, &pos);
    let name = |p: PointId| points[p as usize].name.clone();

    let rtts = rtt_per_point(obs, f);
    let hops: Vec<Hop> = seen
        .windows(2)
        .map(|w| match f.matched {
            Matched::Packet => packet_hop(points, obs, &placed, &pos, &w[0], &w[1]),
            Matched::Flow => flow_hop(points, obs, &w[0], &w[1]),
        })
        .collect();
    let path_points = seen
        .iter()
        .map(|s| PathPoint {
            point: name(s.point),
            src: s.src.to_string(),
            dst: s.dst.to_string(),
            ids: s.ids.clone(),
            ttl: s.ttl,
            requests: s.requests.len() as u64,
            replies: s.replies.len() as u64,
            rtt_ns: rtts.get(&s.point).and_then(|v| summarize(&mut v.clone())),
            first_ns: Some(s.first_ns),
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
    let first = &seen[0];
    Flow {
        origin: Origin {
            point: name(first.point),
            src: first.src.to_string(),
            dst: first.dst.to_string(),
            id: first.ids.first().copied().unwrap_or(0),
        },
        path: seen.iter().map(|s| name(s.point)).collect(),
        points: path_points,
        requests,
        replies,
        matched: f.matched,
        hops,
        errors: Vec::new(),
        notes,
    }
}

/// Who answered which request with an ICMP error, and where the error was seen.
fn error_finding(
    points: &[Point],
    obs: &[Observation],
    errs: &[ErrorObservation],
    f: &FlowObs,
    flow: &Flow,
    e: &ErrorJourney,
) -> ErrorFinding {
    let first = &errs[e.errors[0] as usize];
    let request = &f.requests[e.request];
    let position = |name: &str| {
        flow.path
            .iter()
            .position(|p| p == name)
            .unwrap_or(usize::MAX)
    };
    // The probe's TTL where the path starts; else the highest TTL the request was seen with.
    let origin_ttl = request
        .iter()
        .map(|&o| &obs[o as usize])
        .find(|o| points[o.point as usize].name == flow.path[0]);
    let probe_ttl = origin_ttl
        .map(|o| o.ttl)
        .or_else(|| request.iter().map(|&o| obs[o as usize].ttl).max());
    let mut seen_at: Vec<String> = e
        .errors
        .iter()
        .map(|&i| points[errs[i as usize].point as usize].name.clone())
        .collect();
    seen_at.sort_by_key(|n| position(n));
    seen_at.dedup();
    ErrorFinding {
        kind: first.kind,
        code: first.code,
        reporter: first.reporter.to_string(),
        seq: first.quoted.seq,
        probe_ttl,
        points: seen_at,
        first_ns: e
            .errors
            .iter()
            .map(|&i| errs[i as usize].ts_ns)
            .min()
            .unwrap_or(first.ts_ns),
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
        // Points by id, without a tree lookup per packet.
        let top = by_point.keys().next_back().map_or(0, |&p| p as usize + 1);
        let mut slot: Vec<Option<&mut Seen>> = (0..top).map(|_| None).collect();
        for s in by_point.values_mut() {
            let p = s.point as usize;
            slot[p] = Some(s);
        }
        for j in journeys {
            for &o in j {
                let ob = &obs[o as usize];
                if let Some(Some(s)) = slot.get_mut(ob.point as usize) {
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
        let mut count: Vec<((IpAddr, IpAddr), usize)> = Vec::new();
        let mut ids: Vec<u16> = Vec::new();
        for &o in s.requests.iter().chain(&s.replies) {
            let ob = &obs[o as usize];
            let side = ob.initiator_side();
            match count.iter_mut().find(|(k, _)| *k == side) {
                Some((_, n)) => *n += 1,
                None => count.push((side, 1)),
            }
            // Past a few distinct ids, collect and sort instead (quadratic otherwise).
            if ids.len() > 64 || !ids.contains(&ob.icmp_id) {
                ids.push(ob.icmp_id);
            }
        }
        if let Some(&((src, dst), _)) = count
            .iter()
            .max_by_key(|(k, n)| (*n, std::cmp::Reverse(*k)))
        {
            s.src = src;
            s.dst = dst;
        }
        ids.sort_unstable();
        ids.dedup();
        s.ids = ids;
        let mut ttls: Vec<u8> = s.requests.iter().map(|&o| obs[o as usize].ttl).collect();
        s.ttl = median_u8(&mut ttls);
    }
    by_point.into_values().collect()
}

/// Path order from packets: TTL first (routers decrement it, and it is immune to clock offsets),
/// Which of two points sees a flow's packets first: the median of request time differences, or,
/// where those tie within a timestamp tick, of replies.
struct PairOrder {
    samples: HashMap<(PointId, PointId), (Vec<i64>, Vec<i64>)>,
}

/// Time differences kept per pair of points: enough for a stable median.
const MAX_PAIR_SAMPLES: usize = 1000;

impl PairOrder {
    fn new(obs: &[Observation], f: &FlowObs) -> Self {
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
                                ox.ts_ns - oy.ts_ns
                            } else {
                                oy.ts_ns - ox.ts_ns
                            });
                        }
                    }
                }
            }
        }
        PairOrder { samples }
    }

    /// Median request delay from `a` to `b` (positive: a first), if any request was seen at both.
    fn request_delta(&self, a: PointId, b: PointId) -> Option<i64> {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let v = &self.samples.get(&(lo, hi))?.0;
        summarize(&mut v.clone()).map(|s| sign * s.median)
    }

    /// +1 when `a` comes before `b`, -1 after, 0 when the packets cannot tell.
    fn compare(&self, points: &[Point], a: PointId, b: PointId) -> i32 {
        let (lo, hi, sign) = if a < b { (a, b, 1) } else { (b, a, -1) };
        let Some((req, rep)) = self.samples.get(&(lo, hi)) else {
            return 0;
        };
        let tick = points[a as usize]
            .ts_resolution_ns
            .max(points[b as usize].ts_resolution_ns);
        for v in [req, rep] {
            if let Some(s) = summarize(&mut v.clone()) {
                if s.median.unsigned_abs() >= tick {
                    return sign * s.median.signum() as i32;
                }
            }
        }
        0
    }
}

/// Path order from packets: TTL first (routers decrement it, and it is immune to clock offsets),
/// then, on one link, which point saw the packets first.
fn order_by_packets(
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
        let tick = points[w[0].point as usize]
            .ts_resolution_ns
            .max(points[w[1].point as usize].ts_resolution_ns) as i64;
        if w[0].ttl == w[1].ttl && order.compare(points, w[0].point, w[1].point) == 0 {
            notes.push(format!(
                "{} and {} saw this flow's packets within one timestamp tick on one link: their order is a guess",
                points[w[0].point as usize].name,
                points[w[1].point as usize].name
            ));
        }
        if let Some(d) = order.request_delta(w[0].point, w[1].point) {
            if d <= -tick {
                notes.push(format!(
                    "{} comes after {} by TTL, but sees the packets {} earlier: their clocks differ",
                    points[w[1].point as usize].name,
                    points[w[0].point as usize].name,
                    crate::units::fmt_ns(-d)
                ));
            }
        }
    }
    sorted.iter().map(|s| s.point).collect()
}

/// Path order when no packet was seen twice: TTL, then the order the captures were taken in.
fn order_by_ttl(points: &[Point], seen: &[Seen], notes: &mut Vec<String>) -> Vec<PointId> {
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

#[derive(Default)]
struct TranslationCount {
    packets: u64,
    replies: u64,
    replies_reversed: u64,
}

/// Every journey's observation at each path position, laid out once per flow so that each hop
/// reads its two columns instead of searching every journey (`NONE`: not seen there).
struct Placed {
    width: usize,
    requests: Vec<u32>,
    replies: Vec<u32>,
    /// First and last path position each journey was seen at.
    request_span: Vec<(usize, usize)>,
    reply_span: Vec<(usize, usize)>,
}

const NONE: u32 = u32::MAX;

impl Placed {
    fn new(obs: &[Observation], f: &FlowObs, pos: &HashMap<PointId, usize>) -> Self {
        let width = pos.len();
        let lay = |journeys: &[Journey]| {
            let mut slots = vec![NONE; journeys.len() * width];
            let mut span = Vec::with_capacity(journeys.len());
            for (i, j) in journeys.iter().enumerate() {
                let (mut lo, mut hi) = (usize::MAX, 0);
                for &o in j {
                    if let Some(&p) = pos.get(&obs[o as usize].point) {
                        slots[i * width + p] = o;
                        lo = lo.min(p);
                        hi = hi.max(p);
                    }
                }
                span.push((lo.min(hi), hi));
            }
            (slots, span)
        };
        let (requests, request_span) = lay(&f.requests);
        let (replies, reply_span) = lay(&f.replies);
        Placed {
            width,
            requests,
            replies,
            request_span,
            reply_span,
        }
    }

    fn get(slots: &[u32], width: usize, journey: usize, position: usize) -> Option<u32> {
        Some(slots[journey * width + position]).filter(|&o| o != NONE)
    }
}

fn packet_hop(
    points: &[Point],
    obs: &[Observation],
    placed: &Placed,
    pos: &HashMap<PointId, usize>,
    a: &Seen,
    b: &Seen,
) -> Hop {
    let mut found: BTreeMap<(TranslationKind, Value, Value), TranslationCount> = BTreeMap::new();
    let mut req_lat = Vec::new();
    // A µs capture truncates its timestamps: a delta that is negative by less than one tick is 0.
    let tick = points[a.point as usize]
        .ts_resolution_ns
        .max(points[b.point as usize].ts_resolution_ns) as i64;
    let delta = |from: i64, to: i64| {
        let d = to - from;
        if d < 0 && d > -tick {
            0
        } else {
            d
        }
    };
    let mut of = 0u64;
    let (pa, pb) = (pos[&a.point], pos[&b.point]);
    let mut lost = Lost::default();
    let within = |p: PointId, t: i64| {
        let pt = &points[p as usize];
        match (pt.first_ns, pt.last_ns) {
            (Some(s), Some(e)) => t >= s - WINDOW_MARGIN_NS && t <= e + WINDOW_MARGIN_NS,
            _ => false,
        }
    };
    let w = placed.width;
    for (ji, &(_, last)) in placed.request_span.iter().enumerate() {
        match (
            Placed::get(&placed.requests, w, ji, pa),
            Placed::get(&placed.requests, w, ji, pb),
        ) {
            (Some(x), Some(y)) => {
                let (x, y) = (&obs[x as usize], &obs[y as usize]);
                of += 1;
                req_lat.push(delta(x.ts_ns, y.ts_ns));
                lost.fragments += u64::from(x.fragments.saturating_sub(y.fragments));
                changes(x, y, |kind, before, after| {
                    found.entry((kind, before, after)).or_default().packets += 1
                });
            }
            (Some(x), None) if last == pa && within(b.point, obs[x as usize].ts_ns) => {
                lost.request += 1;
                if lost.request_seqs.len() < MAX_LOST_SEQS {
                    lost.request_seqs.push(obs[x as usize].seq);
                }
            }
            _ => {}
        }
    }
    let mut rep_lat = Vec::new();
    let mut reply_pairs = Vec::new();
    for (ji, &(first, _)) in placed.reply_span.iter().enumerate() {
        match (
            Placed::get(&placed.replies, w, ji, pa),
            Placed::get(&placed.replies, w, ji, pb),
        ) {
            (Some(x), Some(y)) => {
                rep_lat.push(delta(obs[y as usize].ts_ns, obs[x as usize].ts_ns));
                lost.fragments += u64::from(
                    obs[y as usize]
                        .fragments
                        .saturating_sub(obs[x as usize].fragments),
                );
                reply_pairs.push((x, y));
            }
            (None, Some(y)) if first == pb && within(a.point, obs[y as usize].ts_ns) => {
                lost.reply += 1;
                if lost.reply_seqs.len() < MAX_LOST_SEQS {
                    lost.reply_seqs.push(obs[y as usize].seq);
                }
            }
            _ => {}
        }
    }
    let translations = found
        .into_iter()
        .map(|((kind, before, after), mut c)| {
            for &(x, y) in &reply_pairs {
                c.replies += 1;
                if reversed(kind, before, after, &obs[x as usize], &obs[y as usize]) {
                    c.replies_reversed += 1;
                }
            }
            Translation {
                kind,
                before: before.to_string(),
                after: after.to_string(),
                packets: c.packets,
                of,
                replies: c.replies,
                replies_reversed: c.replies_reversed,
            }
        })
        .collect();
    Hop {
        from: points[a.point as usize].name.clone(),
        to: points[b.point as usize].name.clone(),
        translations,
        ttl_delta: ttl_delta(a, b),
        latency_ns: Latency {
            request: summarize(&mut req_lat),
            reply: summarize(&mut rep_lat),
        },
        lost,
    }
}

/// A value a translation rewrites: an address or an ICMP identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Value {
    Addr(IpAddr),
    Id(u16),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Addr(a) => a.fmt(f),
            Value::Id(i) => i.fmt(f),
        }
    }
}

/// What changed from request `x` (earlier point) to request `y` (later point).
fn changes(x: &Observation, y: &Observation, mut found: impl FnMut(TranslationKind, Value, Value)) {
    if x.src != y.src {
        found(
            TranslationKind::Snat,
            Value::Addr(x.src),
            Value::Addr(y.src),
        );
    }
    if x.dst != y.dst {
        found(
            TranslationKind::Dnat,
            Value::Addr(x.dst),
            Value::Addr(y.dst),
        );
    }
    if x.icmp_id != y.icmp_id {
        found(
            TranslationKind::Id,
            Value::Id(x.icmp_id),
            Value::Id(y.icmp_id),
        );
    }
}

/// Whether a reply seen at the hop's far end (`y`) and near end (`x`) undoes the translation.
fn reversed(
    kind: TranslationKind,
    before: Value,
    after: Value,
    x: &Observation,
    y: &Observation,
) -> bool {
    let (near, far) = match kind {
        TranslationKind::Snat => (Value::Addr(x.dst), Value::Addr(y.dst)),
        TranslationKind::Dnat => (Value::Addr(x.src), Value::Addr(y.src)),
        TranslationKind::Id => (Value::Id(x.icmp_id), Value::Id(y.icmp_id)),
    };
    near == before && far == after
}

fn ttl_delta(a: &Seen, b: &Seen) -> Option<i32> {
    Some(i32::from(a.ttl?) - i32::from(b.ttl?))
}

/// A hop between points that never saw the same packet: compare what each saw of the flow.
fn flow_hop(points: &[Point], obs: &[Observation], a: &Seen, b: &Seen) -> Hop {
    let mut translations = Vec::new();
    let of = b.requests.len() as u64;
    let mut add = |kind: TranslationKind, before: IpAddr, after: IpAddr| {
        let matches = |list: &[u32], want: IpAddr| {
            list.iter()
                .filter(|&&o| {
                    let ob = &obs[o as usize];
                    match kind {
                        TranslationKind::Snat => ob.dst == want,
                        _ => ob.src == want,
                    }
                })
                .count() as u64
        };
        let replies = a.replies.len().min(b.replies.len()) as u64;
        let reversed = matches(&a.replies, before).min(matches(&b.replies, after));
        translations.push(Translation {
            kind,
            before: before.to_string(),
            after: after.to_string(),
            packets: of,
            of,
            replies,
            replies_reversed: reversed.min(replies),
        });
    };
    if a.src != b.src {
        add(TranslationKind::Snat, a.src, b.src);
    }
    if a.dst != b.dst {
        add(TranslationKind::Dnat, a.dst, b.dst);
    }
    Hop {
        from: points[a.point as usize].name.clone(),
        to: points[b.point as usize].name.clone(),
        translations,
        ttl_delta: ttl_delta(a, b),
        latency_ns: Latency::default(),
        lost: Lost::default(),
    }
}

/// Round-trip times per point: each request to the reply that echoes its payload.
fn rtt_per_point(obs: &[Observation], f: &FlowObs) -> HashMap<PointId, Vec<i64>> {
    let mut out: HashMap<PointId, Vec<i64>> = HashMap::default();
    if f.matched == Matched::Flow {
        return out;
    }
    for (request, reply) in clock::exchanges(obs, f) {
        for &q in request.iter() {
            let q = &obs[q as usize];
            if let Some(r) = reply
                .iter()
                .map(|&r| &obs[r as usize])
                .find(|r| r.point == q.point)
            {
                if r.ts_ns >= q.ts_ns {
                    out.entry(q.point).or_default().push(r.ts_ns - q.ts_ns);
                }
            }
        }
    }
    out
}

fn summarize_nat(flows: &[Flow]) -> Vec<NatFinding> {
    let mut out: Vec<NatFinding> = Vec::new();
    for f in flows {
        for h in &f.hops {
            for t in &h.translations {
                match out.iter_mut().find(|n| {
                    n.kind == t.kind
                        && n.from == h.from
                        && n.to == h.to
                        && n.before == t.before
                        && n.after == t.after
                }) {
                    Some(n) => {
                        n.flows += 1;
                        n.packets += t.packets;
                        n.of += t.of;
                        n.replies += t.replies;
                        n.replies_reversed += t.replies_reversed;
                        n.reply_reversed = n.replies > 0 && n.replies_reversed == n.replies;
                    }
                    None => out.push(NatFinding {
                        kind: t.kind,
                        from: h.from.clone(),
                        to: h.to.clone(),
                        before: t.before.clone(),
                        after: t.after.clone(),
                        flows: 1,
                        packets: t.packets,
                        of: t.of,
                        replies: t.replies,
                        replies_reversed: t.replies_reversed,
                        reply_reversed: t.replies > 0 && t.replies_reversed == t.replies,
                        matched: f.matched,
                    }),
                }
            }
        }
    }
    out
}
