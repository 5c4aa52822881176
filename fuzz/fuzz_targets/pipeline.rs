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
    let analysis = natcorr::analyze_scans(scans, &natcorr::Options::default());
    for format in [Format::Table, Format::Json] {
        let _ = natcorr::report::render(&analysis, format, true);
    }
});
