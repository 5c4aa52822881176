//! The whole pipeline on arbitrary bytes: two "captures" cut from the input, read, correlated,
//! inferred and rendered in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natcorr::decode::{merge, read_reader};
use natcorr::model::Input;
use natcorr::report::{Format, Html, Ladder, Render};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let at = (usize::from(cut) * rest.len()) / 256;
    let (a, b) = rest.split_at(at);
    let scans = [("a.pcap", a), ("b.pcap", b)]
        .iter()
        .map(|(name, bytes)| read_reader(&Input { path: name.into(), name: None }, *bytes))
        .collect();
    let options = natcorr::Options { per_packet: true, ..Default::default() };
    let analysis = natcorr::analyze_decoded(merge(scans), &options);
    let _ = Html { chosen: Some(3) }.render(&analysis);
    if let Some(journey) = analysis.packets.first().map(|p| p.journey) {
        let _ = Ladder { journey }.render(&analysis);
    }
    for format in [Format::Table, Format::Json, Format::Csv, Format::Jsonl, Format::Mermaid] {
        let _ = format.renderer(true, false, None).render(&analysis);
    }
    // The table fitted to narrow terminals: columns left out, cells and sentences wrapped.
    for width in [20, 60, 100] {
        let _ = Format::Table.renderer(false, true, Some(width)).render(&analysis);
    }
});
