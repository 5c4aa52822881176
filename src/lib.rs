//! natcorr: follow ICMP echoes across packet captures taken at several points of a path,
//! through NAT, and tell where each translation happened, how long each hop took and where
//! packets were lost.
//!
//! The pipeline, one module per stage, data flowing one way:
//! capture files ([`capture`]) → echo observations ([`decode`], [`scan`]) → journeys and flows
//! ([`correlate`]) → path, translations, latency, loss ([`infer`]) → reports ([`report`]).
//!
//! ```
//! use natcorr::model::TranslationKind;
//! use natcorr::scan::Input;
//!
//! // The seed: one ping run per interface, captured one interface at a time.
//! let inputs: Vec<Input> = ["ha-2b8cf5e0-b1", "qg-0aeca8b7-8a", "ex-l3dngw", "eth2.106", "eth1"]
//!     .iter()
//!     .map(|p| Input { path: format!("captures/seed/{p}.pcap"), name: None })
//!     .collect();
//! let analysis = natcorr::analyze(&inputs);
//! let snat: Vec<(&str, &str)> = analysis
//!     .nat
//!     .iter()
//!     .filter(|n| n.kind == TranslationKind::Snat)
//!     .map(|n| (n.from.as_str(), n.to.as_str()))
//!     .collect();
//! assert_eq!(snat, [("ha-2b8cf5e0-b1", "qg-0aeca8b7-8a"), ("ex-l3dngw", "eth2.106")]);
//! ```

pub mod capture;
pub mod cli;
pub mod correlate;
pub mod decode;
pub mod expect;
pub mod infer;
pub mod model;
pub mod output;
pub mod report;
pub mod scan;
pub mod units;

use infer::clock::{self, FileOffset};
use model::{Analysis, ClockOffset, ErrorObservation, Observation, Point, SCHEMA_VERSION};
use rayon::prelude::*;
use scan::{FileScan, Input};
use std::time::{Duration, Instant};

/// What the command line can tell the analysis beyond the files.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Known clock offsets: (point name, nanoseconds the point's clock is ahead).
    pub clock_offsets: Vec<(String, i64)>,
    /// Keep one row per observation for per-packet output.
    pub per_packet: bool,
}

/// Reads every input (in parallel) and analyzes them together.
pub fn analyze(inputs: &[Input]) -> Analysis {
    analyze_with(inputs, &Options::default())
}

/// [`analyze`] with options.
pub fn analyze_with(inputs: &[Input], options: &Options) -> Analysis {
    analyze_with_progress(inputs, options, &|_| {})
}

/// [`analyze_with`], reporting bytes read as it goes (from several threads).
pub fn analyze_with_progress(
    inputs: &[Input],
    options: &Options,
    progress: scan::Progress,
) -> Analysis {
    let start = Instant::now();
    let scans = inputs
        .par_iter()
        .map(|i| scan::scan_with_progress(i, progress))
        .collect();
    let read = start.elapsed();
    let mut analysis = analyze_scans(scans, options);
    analysis.timings.insert(0, ("read and decode", read));
    analysis
}

/// Analyzes captures already read, in the given order.
pub fn analyze_scans(scans: Vec<FileScan>, options: &Options) -> Analysis {
    let mut points: Vec<Point> = Vec::new();
    let mut observations: Vec<Observation> = Vec::new();
    let mut errors: Vec<ErrorObservation> = Vec::new();
    let mut warnings = Vec::new();
    for s in scans {
        let base = points.len() as u32;
        points.extend(s.points);
        observations.extend(s.observations.into_iter().map(|mut o| {
            o.point += base;
            o
        }));
        errors.extend(s.errors.into_iter().map(|mut e| {
            e.point += base;
            e
        }));
        warnings.extend(s.diagnostics);
    }
    disambiguate_names(&mut points);
    let mut notes = Vec::new();
    // Offsets the user gave apply to every point of the file (one host, one clock).
    let mut given: Vec<FileOffset> = Vec::new();
    for (name, ns) in &options.clock_offsets {
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
    shift_clocks(&given, &mut points, &mut observations, &mut errors);
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, Duration)>| {
        timings.push((name, clock.elapsed()));
        clock = Instant::now();
    };
    let mut correlation = correlate::correlate(&observations, &errors);
    lap("correlate", &mut timings);
    let fixed: Vec<String> = given.iter().map(|g| g.file.clone()).collect();
    let estimated = clock::estimate(&points, &observations, &correlation.flows, &fixed);
    if !estimated.is_empty() {
        shift_clocks(&estimated, &mut points, &mut observations, &mut errors);
        correlation = correlate::correlate(&observations, &errors);
    }
    lap("clock offsets", &mut timings);
    let (flows, nat) = infer::infer(&points, &observations, &errors, &correlation);
    lap("infer", &mut timings);
    let packets = if options.per_packet {
        packet_rows(&observations, &correlation)
    } else {
        Vec::new()
    };
    notes.extend(correlation.notes);
    let clock_offsets = given
        .iter()
        .map(|g| (g, "given"))
        .chain(estimated.iter().map(|e| (e, "estimated")))
        .flat_map(|(o, source)| {
            points
                .iter()
                .filter(|p| p.file == o.file)
                .map(move |p| ClockOffset {
                    point: p.name.clone(),
                    offset_ns: o.offset_ns,
                    pairs: o.pairs,
                    source: source.to_string(),
                })
        })
        .collect();
    Analysis {
        schema_version: SCHEMA_VERSION,
        points,
        flows,
        nat,
        clock_offsets,
        expectations: Vec::new(),
        warnings,
        notes,
        packets,
        timings,
    }
}

/// Every observation with its flow (as numbered in the report) and journey, in time order.
fn packet_rows(obs: &[Observation], corr: &correlate::Correlation) -> Vec<model::PacketRow> {
    let mut rows = Vec::with_capacity(obs.len());
    let mut journey = 0u64;
    for (fi, f) in corr.flows.iter().enumerate() {
        for j in f.requests.iter().chain(&f.replies) {
            journey += 1;
            for &o in j {
                let o = &obs[o as usize];
                rows.push(model::PacketRow {
                    point: o.point,
                    ts_ns: o.ts_ns,
                    dir: o.dir,
                    src: o.src,
                    dst: o.dst,
                    icmp_id: o.icmp_id,
                    seq: o.seq,
                    ttl: o.ttl,
                    ip_id: o.ip_id,
                    icmp_len: o.icmp_len,
                    flow: fi as u32 + 1,
                    journey,
                });
            }
        }
    }
    rows.sort_by_key(|r| (r.ts_ns, r.point));
    rows
}

/// Moves every timestamp of the given files onto the reference clock.
fn shift_clocks(
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
        p.first_ns = p.first_ns.map(|t| t - off);
        p.last_ns = p.last_ns.map(|t| t - off);
    }
    for o in obs.iter_mut() {
        o.ts_ns -= by_point[o.point as usize];
    }
    for e in errors.iter_mut() {
        e.ts_ns -= by_point[e.point as usize];
    }
}

/// Two points with one name (two files both with `if_name` eth0) get their file's stem added.
fn disambiguate_names(points: &mut [Point]) {
    let clashes: Vec<bool> = (0..points.len())
        .map(|i| {
            points
                .iter()
                .enumerate()
                .any(|(j, p)| j != i && p.name == points[i].name)
        })
        .collect();
    for (i, clash) in clashes.into_iter().enumerate() {
        if clash {
            let stem = capture::file_stem(&points[i].file);
            if stem != points[i].name {
                points[i].name = format!("{}@{stem}", points[i].name);
            }
        }
    }
    // Still equal (same file name in two folders, or one stem): number them.
    for i in 0..points.len() {
        let n = points[..i]
            .iter()
            .filter(|p| p.name == points[i].name)
            .count();
        if n > 0 {
            points[i].name = format!("{}~{}", points[i].name, n + 1);
        }
    }
}
