//! The capture reader on arbitrary bytes: it must end, never panic, never allocate by a length field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natcorr::capture::{Capture, Event};

fuzz_target!(|data: &[u8]| {
    let Ok(mut cap) = Capture::open(data) else { return };
    loop {
        match cap.next_event() {
            Event::End => break,
            Event::Problem(p) if p.stops => {
                assert!(matches!(cap.next_event(), Event::End), "nothing after a stopping problem");
                break;
            }
            Event::Problem(_) => {}
            Event::Frame(f) => assert!(f.data.len() <= natcorr::capture::MAX_CAPLEN as usize),
        }
    }
});
