//! Per-packet rows: every observation with the flow and journey (packet) it was matched to.

use super::Correlation;
use crate::model::{Observation, PacketRow};

/// Every observation with its flow (as numbered in the report) and journey, in time order.
pub fn packet_rows(obs: &[Observation], corr: &Correlation) -> Vec<PacketRow> {
    let mut rows = Vec::with_capacity(obs.len());
    let mut journey = 0u64;
    for (fi, f) in corr.flows.iter().enumerate() {
        for j in f.requests.iter().chain(&f.replies) {
            journey += 1;
            for &o in j {
                rows.push(PacketRow {
                    observation: obs[o as usize],
                    flow: fi as u32 + 1,
                    journey,
                });
            }
        }
    }
    rows.sort_by_key(|r| (r.ts_ns, r.point));
    rows
}
