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
pub mod infer;
pub mod model;
pub mod output;
pub mod report;
pub mod scan;

use model::{Analysis, ErrorObservation, Observation, Point, SCHEMA_VERSION};
use rayon::prelude::*;
use scan::{FileScan, Input};

/// Reads every input (in parallel) and analyzes them together.
pub fn analyze(inputs: &[Input]) -> Analysis {
    analyze_scans(inputs.par_iter().map(scan::scan).collect())
}

/// Analyzes captures already read, in the given order.
pub fn analyze_scans(scans: Vec<FileScan>) -> Analysis {
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
    let correlation = correlate::correlate(&observations, &errors);
    let (flows, nat) = infer::infer(&points, &observations, &errors, &correlation);
    Analysis {
        schema_version: SCHEMA_VERSION,
        points,
        flows,
        nat,
        warnings,
        notes: correlation.notes,
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
