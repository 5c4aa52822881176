//! natcorr: follow ICMP echoes across packet captures taken at several points of a path,
//! through NAT, and tell where each translation happened, how long each hop took and where
//! packets were lost.
//!
//! The pipeline, one module per stage, data flowing one way ([`model`] is the vocabulary):
//! capture files ([`capture`]) → observations ([`decode`]) → journeys and flows ([`correlate`])
//! → path, translations, clocks, latency, loss ([`infer`]) → the nat rules that made each
//! translation ([`rules`], with `--rules`) → verdicts ([`expect`]) → reports
//! ([`report`]) → files and the terminal ([`output`]). [`cli`] turns the command line into
//! [`Options`].
//!
//! ```
//! use natcorr::model::{Input, TranslationKind};
//!
//! // The seed: one ping run per interface, captured one interface at a time.
//! let inputs: Vec<Input> = ["ha-2b8cf5e0-b1", "qg-0aeca8b7-8a", "ex-l3dngw", "eth2.106", "eth1"]
//!     .iter()
//!     .map(|p| Input { path: format!("captures/seed/{p}.pcap").into(), name: None })
//!     .collect();
//! let analysis = natcorr::analyze(&inputs, &Default::default());
//! let snat: Vec<(&str, &str)> = analysis
//!     .nat
//!     .iter()
//!     .filter(|n| n.kind == TranslationKind::Snat)
//!     .map(|n| (n.from.as_str(), n.to.as_str()))
//!     .collect();
//! assert_eq!(snat, [("ha-2b8cf5e0-b1", "qg-0aeca8b7-8a"), ("ex-l3dngw", "eth2.106")]);
//! ```

pub mod addr;
pub mod capture;
pub mod cli;
pub mod correlate;
pub mod decode;
pub mod expect;
pub mod infer;
pub mod model;
pub mod output;
pub mod report;
pub mod rules;
pub mod text;
pub mod units;

pub use model::{Input, Options};

use decode::{Decoded, Progress};
use model::{Analysis, SCHEMA_VERSION};
use std::time::{Duration, Instant};

/// Reads every input (in parallel) and analyzes them together.
pub fn analyze(inputs: &[Input], options: &Options) -> Analysis {
    analyze_with_progress(inputs, options, &|_| {})
}

/// [`analyze`], reporting bytes read as it goes (from several threads).
pub fn analyze_with_progress(inputs: &[Input], options: &Options, progress: Progress) -> Analysis {
    let start = Instant::now();
    let budget = options
        .max_memory
        .map_or_else(decode::Budget::unlimited, decode::Budget::new);
    let decoded = decode::read(inputs, progress, &budget, options.protocols);
    let read = start.elapsed();
    let mut analysis = analyze_decoded(decoded, options);
    analysis.timings.insert(0, ("read and decode", read));
    analysis
}

/// The stages after reading: correlate, settle the clocks, infer.
pub fn analyze_decoded(decoded: Decoded, options: &Options) -> Analysis {
    let Decoded {
        mut points,
        mut observations,
        mut errors,
        mut diagnostics,
        cut_headers,
    } = decoded;
    let mut timings: Vec<(&'static str, Duration)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str| {
        timings.push((name, clock.elapsed()));
        clock = Instant::now();
    };
    let (given, mut notes) = infer::clock::given(&points, &options.clock_offsets);
    infer::clock::shift(&given, &mut points, &mut observations, &mut errors);
    let (cut, unsure) = correlate::cut_headers(&points, &mut observations, &cut_headers);
    diagnostics.extend(unsure);
    notes.extend(correlate::cut::notes(&points, &cut));
    let correlation = correlate::correlate(&observations, &errors);
    lap("correlate");
    let (correlation, clock_offsets) = infer::clock::settle(
        &given,
        &mut points,
        &mut observations,
        &mut errors,
        correlation,
    );
    lap("clock offsets");
    correlate::number(&mut observations, &correlation);
    let packets = if options.per_packet {
        correlate::packet_rows(&observations, &correlation)
    } else {
        Vec::new()
    };
    notes.extend(infer::correlation_notes(&points, &correlation));
    // The correlation is consumed as the flows are made.
    let flows = infer::infer_flows(&points, &observations, &errors, correlation);
    // Nothing after this reads the packets: freed before the NAT findings and the reports are
    // made (the observations and the flows together are the peak of memory).
    drop(observations);
    let mut nat = infer::summarize_nat(&flows);
    lap("infer");
    let (mut rule_problems, mut rule_namespaces) = (Vec::new(), Vec::new());
    if !options.rules.is_empty() {
        let set = rules::load(&options.rules);
        rule_namespaces = set.namespaces().map(String::from).collect();
        diagnostics.extend(rules::diagnostics(&set));
        rule_problems = rules::explain_all(&set, &points, &flows, &mut nat);
        lap("rules");
    }
    if flows.is_empty() && !points.is_empty() {
        notes.push(no_flow_note(&points, options.protocols));
    }
    Analysis {
        schema_version: SCHEMA_VERSION,
        points,
        flows,
        nat,
        clock_offsets,
        expectations: Vec::new(),
        warnings: diagnostics,
        rule_namespaces,
        rule_problems,
        notes,
        packets,
        timings,
    }
}

/// Why an analysis has no flow: no packet of the protocols asked for in the captures, or
/// packets that never formed a flow.
fn no_flow_note(points: &[model::Point], protocols: model::Protocols) -> String {
    let packets: u64 = points.iter().map(|p| p.packets).sum();
    let decoded: u64 = points
        .iter()
        .map(|p| p.echo_packets + p.tcp_packets + p.udp_packets)
        .sum();
    if decoded == 0 {
        format!(
            "0 flows: none of the {} read is {}",
            text::count(packets, "packet", "packets"),
            protocol_words(protocols)
        )
    } else {
        format!(
            "0 flows: {} decoded, but no request was seen (a flow starts at an echo request or at a packet from a connection's initiator)",
            text::count(decoded, "packet", "packets")
        )
    }
}

/// "an ICMP echo, a TCP segment or a UDP datagram", as far as `protocols` asks for them.
fn protocol_words(protocols: model::Protocols) -> String {
    let words: Vec<&str> = model::Protocol::ALL
        .into_iter()
        .filter(|&p| protocols.contains(p))
        .map(|p| match p {
            model::Protocol::Icmp => "an ICMP echo",
            model::Protocol::Tcp => "a TCP segment",
            model::Protocol::Udp => "a UDP datagram",
        })
        .collect();
    match &words[..] {
        [] => "of a protocol asked for".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `natcorr extract`: the inputs decoded (in parallel) as one Parquet file of observations, and
/// the problems met (also inside the file).
pub fn extract(
    files: &[std::path::PathBuf],
    options: &Options,
) -> Result<(Vec<u8>, Vec<model::Diagnostic>), String> {
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input {
            path: f.clone(),
            name: None,
        })
        .collect();
    let budget = options
        .max_memory
        .map_or_else(decode::Budget::unlimited, decode::Budget::new);
    let decoded = decode::read(&inputs, &|_| {}, &budget, options.protocols);
    let bytes = decode::parquet::write(&decoded)
        .map_err(|e| format!("cannot write the Parquet file: {e}"))?;
    Ok((bytes, decoded.diagnostics))
}
