//! Per-packet rows: every observation with the flow and journey (packet) it was matched to.

use super::Correlation;
use crate::model::{Observation, PacketRow};

/// Every observation with its flow (as numbered in the report) and journey, in time order.
pub fn packet_rows(obs: &[Observation], corr: &Correlation) -> Vec<PacketRow> {
    // Journeys are numbered in the order their packet was first seen anywhere (ties: flow,
    // then the first observation), so journey 1 is the capture's first packet.
    let mut journeys: Vec<(i64, usize, u32, &[u32])> = corr
        .flows
        .iter()
        .enumerate()
        .flat_map(|(fi, f)| f.requests.iter().chain(&f.replies).map(move |j| (fi, j)))
        .filter(|(_, j)| !j.is_empty())
        .map(|(fi, j)| {
            let first = j
                .iter()
                .map(|&o| obs[o as usize].ts_ns)
                .min()
                .unwrap_or(i64::MAX);
            (first, fi, j[0], &j[..])
        })
        .collect();
    journeys.sort_unstable_by_key(|&(first, fi, o, _)| (first, fi, o));
    let mut rows = Vec::with_capacity(obs.len());
    for (n, &(_, fi, _, j)) in journeys.iter().enumerate() {
        for &o in j {
            rows.push(PacketRow {
                observation: obs[o as usize],
                flow: fi as u32 + 1,
                journey: n as u64 + 1,
            });
        }
    }
    rows.sort_by_key(|r| (r.ts_ns, r.point));
    rows
}
