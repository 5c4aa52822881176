//! The frame decoder on arbitrary bytes under every link type natcorr knows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natcorr::decode::{decode, LinkLayer};
use natcorr::model::{Protocol, Protocols};

const LINK_TYPES: [u32; 16] = [0, 1, 9, 12, 101, 104, 107, 108, 113, 226, 228, 229, 242, 276, 50, 147];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else { return };
    let lt = LINK_TYPES[usize::from(pick) % LINK_TYPES.len()];
    // Every protocol (the default), and ICMP alone (the prefilter's other path).
    let protocols = if pick & 0x80 == 0 { Protocols::ALL } else { Protocols::of(&[Protocol::Icmp]) };
    let _ = decode(LinkLayer::from_linktype(lt), frame, protocols);
});
