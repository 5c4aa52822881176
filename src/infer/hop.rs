//! One hop (two consecutive points of a path): what it changed in each packet and whether
//! replies were changed back, its latency in both directions, and what it lost.

use super::loss::capturing;
use super::stats::summarize;
use super::Seen;
use crate::correlate::{FlowObs, Journey};
use crate::model::{
    tick, Change, Direction, Hop, Latency, Lost, Observation, Point, PointId, Translation,
    TranslationKind, Value,
};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Default)]
struct TranslationCount {
    packets: u64,
    replies: u64,
    replies_reversed: u64,
    replies_misaddressed: u64,
}

/// Every journey's observation at each path position, laid out once per flow so that each hop
/// reads its two columns instead of searching every journey (`NONE`: not seen there).
pub struct Placed {
    width: usize,
    requests: Vec<u32>,
    replies: Vec<u32>,
    /// First and last path position each journey was seen at.
    request_span: Vec<(usize, usize)>,
    reply_span: Vec<(usize, usize)>,
}

const NONE: u32 = u32::MAX;

impl Placed {
    pub fn new(obs: &[Observation], f: &FlowObs, pos: &HashMap<PointId, usize>) -> Self {
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

/// A hop between two points that saw the same packets: translations, latency, loss.
pub fn packet_hop(
    points: &[Point],
    obs: &[Observation],
    placed: &Placed,
    pos: &HashMap<PointId, usize>,
    a: &Seen,
    b: &Seen,
) -> Hop {
    let mut found: BTreeMap<Change, TranslationCount> = BTreeMap::new();
    let mut req_lat = Vec::new();
    // A µs capture truncates its timestamps: a delta that is negative by less than one tick is 0.
    let tick = tick(&points[a.point as usize], &points[b.point as usize]);
    let delta = |from: i64, to: i64| {
        let d = to.saturating_sub(from);
        if d < 0 && d > -tick {
            0
        } else {
            d
        }
    };
    let mut of = 0u64;
    let (pa, pb) = (pos[&a.point], pos[&b.point]);
    let mut lost = Lost::default();
    let within = |p: PointId, t: i64| capturing(&points[p as usize], t);
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
                lost.fragments += u32::from(x.fragments.saturating_sub(y.fragments));
                for c in x.changes(y) {
                    found.entry(c).or_default().packets += 1;
                }
            }
            (Some(x), None) if last == pa => {
                let x = &obs[x as usize];
                lost.missing(Direction::Request, x.seq, within(b.point, x.ts_ns));
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
                lost.fragments += u32::from(
                    obs[y as usize]
                        .fragments
                        .saturating_sub(obs[x as usize].fragments),
                );
                reply_pairs.push((x, y));
            }
            (None, Some(y)) if first == pb => {
                let y = &obs[y as usize];
                lost.missing(Direction::Reply, y.seq, within(a.point, y.ts_ns));
            }
            _ => {}
        }
    }
    let translations = found
        .into_iter()
        .map(|(change, mut c)| {
            for &(x, y) in &reply_pairs {
                c.replies += 1;
                if reversed(&change, &obs[x as usize], &obs[y as usize]) {
                    c.replies_reversed += 1;
                }
                if obs[y as usize].translated(change.kind) != change.after {
                    c.replies_misaddressed += 1;
                }
            }
            Translation {
                kind: change.kind,
                before: change.before,
                after: change.after,
                packets: c.packets,
                of,
                replies: c.replies,
                replies_reversed: c.replies_reversed,
                replies_misaddressed: c.replies_misaddressed,
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

/// Whether a reply seen at the hop's far end (`y`) and near end (`x`) undoes the translation.
fn reversed(c: &Change, x: &Observation, y: &Observation) -> bool {
    x.translated(c.kind) == c.before && y.translated(c.kind) == c.after
}

fn ttl_delta(a: &Seen, b: &Seen) -> Option<i32> {
    Some(i32::from(a.ttl?) - i32::from(b.ttl?))
}

/// A hop between points that never saw the same packet: compare what each saw of the flow.
pub fn flow_hop(points: &[Point], obs: &[Observation], a: &Seen, b: &Seen) -> Hop {
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
        let misaddressed = (b.replies.len() as u64).saturating_sub(matches(&b.replies, after));
        translations.push(Translation {
            kind,
            before: Value::Addr(before),
            after: Value::Addr(after),
            packets: of,
            of,
            replies,
            replies_reversed: reversed.min(replies),
            replies_misaddressed: misaddressed.min(replies),
        });
    };
    if a.src != b.src {
        add(TranslationKind::Snat, a.src.ip(), b.src.ip());
    }
    if a.dst != b.dst {
        add(TranslationKind::Dnat, a.dst.ip(), b.dst.ip());
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
