//! The pcap and pcapng framers on crafted bytes.

#[allow(unused_imports)]
use super::*;
