//! ICMP errors a flow's requests drew: who sent them, for which probe, where they were seen.

use crate::correlate::{ErrorJourney, FlowObs};
use crate::model::{ErrorFinding, ErrorObservation, Flow, Name, Observation, Point};

/// Who answered which request with an ICMP error, and where the error was seen.
pub fn error_finding(
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
    let mut seen_at: Vec<Name> = e
        .errors
        .iter()
        .map(|&i| points[errs[i as usize].point as usize].name.clone())
        .collect();
    seen_at.sort_by_key(|n| position(n));
    seen_at.dedup();
    ErrorFinding {
        kind: first.kind,
        code: first.code,
        reporter: first.reporter,
        // The request's number in its flow (the echo's own sequence number).
        seq: obs[request[0] as usize].seq,
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
