//! Echoes whose header a short snaplen cut after the identifier (`tcpdump -s 40` on Ethernet
//! IPv4): the sequence number and payload are gone, but the IP header is whole. Such an echo
//! is the packet seen whole at another point when exactly one packet there has its direction,
//! address family, ICMP length and IP identification (NAT keeps those) close in time; it then
//! takes that packet's sequence number and payload, and is matched like any other. The rest
//! are too short to be sure: left out, with a warning naming the point.

use crate::model::{Diagnostic, Observation, Point, PointId, Severity};
use rustc_hash::FxHashMap as HashMap;

/// Two sightings of one packet are at most this far apart in time (clock offsets included).
const MAX_APART_NS: i64 = super::MAX_GAP_NS;

/// What became of the cut echoes of one point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutAt {
    pub point: PointId,
    /// Tied to one packet seen whole elsewhere.
    pub matched: u64,
    /// Left out: no packet, or more than one, fits.
    pub unsure: u64,
    /// Record of the first one left out.
    pub first_unsure: u64,
    /// IPv6 echoes (no IP id to match on).
    pub v6: bool,
}

/// Gives each cut echo in `cut` (indexes into `obs`) the sequence number and payload of the one
/// packet it can be, and removes the others from `obs`. Returns what happened per point, and a
/// warning per point for the echoes left out.
pub fn cut_headers(
    points: &[Point],
    obs: &mut Vec<Observation>,
    cut: &[u32],
) -> (Vec<CutAt>, Vec<Diagnostic>) {
    if cut.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut is_cut = vec![false; obs.len()];
    for &i in cut {
        is_cut[i as usize] = true;
    }
    // Whole observations by what a cut header still shows, then time.
    let key = |o: &Observation| (o.dir, o.src.is_ipv6(), o.icmp_len, o.ip_id);
    let mut whole: Vec<u32> = (0..obs.len() as u32)
        .filter(|&i| !is_cut[i as usize])
        .collect();
    whole.sort_unstable_by_key(|&i| (key(&obs[i as usize]), obs[i as usize].ts_ns));
    let mut per_point: HashMap<PointId, CutAt> = HashMap::default();
    let mut remove = vec![false; obs.len()];
    for &c in cut {
        let o = obs[c as usize];
        let k = key(&o);
        let lo = o.ts_ns.saturating_sub(MAX_APART_NS);
        let hi = o.ts_ns.saturating_add(MAX_APART_NS);
        let start =
            whole.partition_point(|&i| (key(&obs[i as usize]), obs[i as usize].ts_ns) < (k, lo));
        let mut found: Option<u32> = None;
        let mut unsure = false;
        for &i in &whole[start..] {
            let w = &obs[i as usize];
            if key(w) != k || w.ts_ns > hi {
                break;
            }
            if w.point == o.point {
                continue;
            }
            match found {
                None => found = Some(i),
                Some(f) => {
                    let f = &obs[f as usize];
                    if f.seq != w.seq || !f.payload_compatible(w) {
                        unsure = true;
                        break;
                    }
                    // The most complete sighting gives the payload.
                    if w.digest_len > f.digest_len {
                        found = Some(i);
                    }
                }
            }
        }
        let at = per_point.entry(o.point).or_insert(CutAt {
            point: o.point,
            v6: o.src.is_ipv6(),
            ..CutAt::default()
        });
        match found.filter(|_| !unsure) {
            Some(f) => {
                let w = obs[f as usize];
                let t = &mut obs[c as usize];
                t.seq = w.seq;
                t.prefix = w.prefix;
                t.prefix_len = w.prefix_len;
                t.digest = w.digest;
                t.digest_len = w.digest_len;
                at.matched += 1;
            }
            None => {
                remove[c as usize] = true;
                if at.unsure == 0 || o.record < at.first_unsure {
                    at.first_unsure = o.record;
                }
                at.unsure += 1;
            }
        }
    }
    let mut next = remove.iter();
    obs.retain(|_| next.next() == Some(&false));
    let mut outcome: Vec<CutAt> = per_point.into_values().collect();
    outcome.sort_unstable_by_key(|c| c.point);
    let warnings = outcome
        .iter()
        .filter(|c| c.unsure > 0)
        .map(|c| {
            let p = &points[c.point as usize];
            let id = if c.v6 {
                "fragment id (IPv6 has no IP id on unfragmented packets)"
            } else {
                "IP id"
            };
            Diagnostic {
                file: p.file.clone(),
                severity: Severity::Warning,
                record: None,
                offset: None,
                message: format!(
                    "{} echo(es) at {} not used: the snaplen cut the ICMP echo header before the sequence number, and no single packet seen whole at another point has the same direction, ICMP length and {id}: too short to be sure (first at record {})",
                    c.unsure, p.name, c.first_unsure
                ),
            }
        })
        .collect();
    (outcome, warnings)
}

/// For a person: which points' snaplen cut echo headers, and how their echoes were matched.
pub fn notes(points: &[Point], outcome: &[CutAt]) -> Vec<String> {
    outcome
        .iter()
        .filter(|c| c.matched > 0)
        .map(|c| {
            let unsure = if c.unsure > 0 {
                format!("; {} too short to be sure, left out (see warnings)", c.unsure)
            } else {
                String::new()
            };
            format!(
                "{}'s snaplen cut the ICMP echo header before the sequence number: {} echo(es) matched by direction, ICMP length and IP id to the one packet seen whole at another point{unsure}",
                points[c.point as usize].name, c.matched
            )
        })
        .collect()
}
