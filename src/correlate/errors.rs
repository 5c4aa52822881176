//! ICMP errors → the flow and request they answer. NAT translates the quoted header back on
//! the way (RFC 5508), so at the point an error is seen, the quote matches the request as that
//! point saw it; where the request was not seen there, the quote is matched on what NAT cannot
//! change (sequence number, length and payload). Errors quoting TCP or UDP are tied the same
//! way, on the TCP sequence number and ports (UDP: ports, length and payload).

use super::FlowObs;
use crate::model::{Addr, ErrorKind, ErrorObservation, Observation, PointId, Protocol};
use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

/// One ICMP error message seen at one or more points, and the request journey it answers.
#[derive(Clone, Debug)]
pub struct ErrorJourney {
    pub flow: usize,
    /// Index into the flow's request journeys.
    pub request: usize,
    /// Indexes into the error observations, one per point.
    pub errors: Vec<u32>,
}

/// How long after its request an error may arrive.
const MAX_ERROR_DELAY_NS: i64 = 10_000_000_000;

pub fn tie(
    obs: &[Observation],
    errs: &[ErrorObservation],
    flows: &[FlowObs],
) -> (Vec<ErrorJourney>, u64) {
    if errs.is_empty() {
        return (Vec::new(), 0);
    }
    // Request observation → (flow, journey).
    let mut journey_of: HashMap<u32, (usize, usize)> = HashMap::default();
    // The quote's echo seq or TCP sequence number, addresses, and echo id or ports.
    type Exact = (PointId, Protocol, u32, Addr, Addr, (u16, u16, u16));
    let mut exact: HashMap<Exact, Vec<u32>> = HashMap::default();
    let mut by_seq: HashMap<(Protocol, u32, u16), Vec<u32>> = HashMap::default();
    // Only requests some error could be about.
    let wanted: rustc_hash::FxHashSet<(Protocol, u32)> = errs
        .iter()
        .map(|e| (e.quoted.proto, e.quoted.word))
        .collect();
    for (fi, f) in flows.iter().enumerate() {
        for (ji, j) in f.requests.iter().enumerate() {
            let first = &obs[j[0] as usize];
            if !wanted.contains(&(first.proto, first.quote_word())) {
                continue;
            }
            for &o in j {
                let ob = &obs[o as usize];
                journey_of.insert(o, (fi, ji));
                let word = ob.quote_word();
                exact
                    .entry((ob.point, ob.proto, word, ob.src, ob.dst, ob.flow_ids()))
                    .or_default()
                    .push(o);
                by_seq
                    .entry((ob.proto, word, ob.icmp_len))
                    .or_default()
                    .push(o);
            }
        }
    }
    let quote_fits = |e: &ErrorObservation, o: &Observation| {
        let n = e.quoted.prefix_len.min(o.prefix_len) as usize;
        o.ts_ns <= e.ts_ns
            && e.ts_ns.saturating_sub(o.ts_ns) <= MAX_ERROR_DELAY_NS
            && e.quoted.prefix[..n] == o.prefix[..n]
            && o.icmp_len == e.quoted.icmp_len
    };
    // Candidates in time order: the latest request before an error is found by binary search
    // and the walk back stops at the first that fits or MAX_ERROR_DELAY_NS before the error,
    // so thousands of errors quoting one seq do not each scan every request with it.
    let by_time = |o: &u32| (obs[*o as usize].ts_ns, *o);
    for list in exact.values_mut().chain(by_seq.values_mut()) {
        list.sort_unstable_by_key(by_time);
    }
    let latest = |cands: Option<&Vec<u32>>, e: &ErrorObservation| {
        let cands = cands?;
        let end = cands.partition_point(|&o| obs[o as usize].ts_ns <= e.ts_ns);
        cands[..end]
            .iter()
            .rev()
            .copied()
            .take_while(|&o| e.ts_ns.saturating_sub(obs[o as usize].ts_ns) <= MAX_ERROR_DELAY_NS)
            .find(|&o| quote_fits(e, &obs[o as usize]))
    };
    let mut untied = 0;
    let mut groups: HashMap<(usize, usize, ErrorKind, u8, IpAddr), Vec<u32>> = HashMap::default();
    for (i, e) in errs.iter().enumerate() {
        let q = &e.quoted;
        let ids = (q.id, q.sport, q.dport);
        // An address no packet carried matches no request (and is not stored).
        let exact_key = Addr::find(q.src)
            .zip(Addr::find(q.dst))
            .map(|(src, dst)| (e.point, q.proto, q.word, src, dst, ids));
        let found = latest(exact_key.and_then(|k| exact.get(&k)), e).or_else(|| {
            // Without payload bytes in the quote, seq and length alone would guess.
            (q.prefix_len >= 8)
                .then(|| latest(by_seq.get(&(q.proto, q.word, q.icmp_len)), e))
                .flatten()
        });
        match found.and_then(|o| journey_of.get(&o)) {
            Some(&(f, j)) => groups
                .entry((f, j, e.kind, e.code, e.reporter))
                .or_default()
                .push(i as u32),
            None => untied += 1,
        }
    }
    let mut out: Vec<ErrorJourney> = groups
        .into_iter()
        .map(|((flow, request, ..), mut errors)| {
            errors.sort_by_key(|&i| errs[i as usize].ts_ns);
            ErrorJourney {
                flow,
                request,
                errors,
            }
        })
        .collect();
    out.sort_by_key(|j| (j.flow, errs[j.errors[0] as usize].ts_ns));
    (out, untied)
}
