//! The whole pipeline on arbitrary bytes: two "captures" cut from the input, read, correlated,
//! inferred and rendered in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natcorr::cli::Format;
use natcorr::scan::{scan_reader, Input};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let at = (usize::from(cut) * rest.len()) / 256;
    let (a, b) = rest.split_at(at);
    let scans = [("a.pcap", a), ("b.pcap", b)]
        .iter()
        .map(|(name, bytes)| scan_reader(&Input { path: name.to_string(), name: None }, *bytes))
        .collect();
    let options = natcorr::Options { per_packet: true, ..Default::default() };
    let analysis = natcorr::analyze_scans(scans, &options);
    let _ = natcorr::report::html(&analysis, Some(3));
    if let Some(j) = analysis.packets.first().map(|p| p.journey) {
        let _ = natcorr::report::ladder(&analysis, j);
    }
    for format in [Format::Table, Format::Json, Format::Csv, Format::Jsonl, Format::Mermaid] {
        let _ = natcorr::report::render(&analysis, format, true, false);
    }
});
