//! The pcap and pcapng framers on crafted bytes.

use super::*;

/// What a frame carried, owned (a [`Frame`] borrows the reader).
#[derive(Debug, PartialEq, Eq)]
struct Got {
    record: u64,
    offset: u64,
    ts_ns: i64,
    interface: u32,
    link_type: u32,
    orig_len: u32,
    data: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Frame(Got),
    Problem(Problem),
}

/// Every frame and problem of a capture, and the interfaces it declared.
fn read(bytes: &[u8]) -> (Vec<Item>, Vec<Interface>) {
    let mut c = Capture::open(bytes).unwrap_or_else(|p| panic!("{p:?}"));
    let mut items = Vec::new();
    loop {
        match c.next_event() {
            Event::Frame(f) => items.push(Item::Frame(Got {
                record: f.record,
                offset: f.offset,
                ts_ns: f.ts_ns,
                interface: f.interface,
                link_type: f.link_type,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            })),
            Event::Problem(p) => items.push(Item::Problem(p)),
            Event::End => break,
        }
        assert!(items.len() < 100, "the reader does not end");
    }
    (items, c.interfaces().to_vec())
}

fn frames(items: &[Item]) -> Vec<&Got> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Frame(g) => Some(g),
            Item::Problem(_) => None,
        })
        .collect()
}

/// `n` distinct bytes: frames that cannot be mistaken for one another.
fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn u16b(v: u16, be: bool) -> [u8; 2] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn u32b(v: u32, be: bool) -> [u8; 4] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

// ---- pcap ----

/// A classic pcap: `magic` as the writer's native u32, then records (seconds, fraction, data).
fn pcap(magic: u32, be: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let modified = magic == 0xa1b2_cd34;
    let mut b = Vec::new();
    b.extend(u32b(magic, be));
    b.extend(u16b(2, be));
    b.extend(u16b(4, be));
    b.extend([0; 8]);
    b.extend(u32b(65_535, be));
    b.extend(u32b(1, be));
    for &(sec, frac, data) in records {
        b.extend(u32b(sec, be));
        b.extend(u32b(frac, be));
        b.extend(u32b(data.len() as u32, be));
        b.extend(u32b(data.len() as u32 + 4, be));
        if modified {
            // ifindex, protocol, pkt_type, padding.
            b.extend([0; 8]);
        }
        b.extend(data);
    }
    b
}

const PCAP_US: u32 = 0xa1b2_c3d4;
const PCAP_NS: u32 = 0xa1b2_3c4d;

fn check_pcap(magic: u32, be: bool, record_header: u64, ns_per_frac: i64, resolution: u64) {
    let (one, two) = (payload(60, 1), payload(42, 9));
    let bytes = pcap(
        magic,
        be,
        &[(1_552_602_229, 856_024, &one), (1_552_602_230, 7, &two)],
    );
    let (items, ifs) = read(&bytes);
    let second = 24 + record_header + 60;
    assert_eq!(
        items,
        [
            Item::Frame(Got {
                record: 1,
                offset: 24,
                ts_ns: 1_552_602_229_000_000_000 + 856_024 * ns_per_frac,
                interface: 0,
                link_type: 1,
                orig_len: 64,
                data: one,
            }),
            Item::Frame(Got {
                record: 2,
                offset: second,
                ts_ns: 1_552_602_230_000_000_000 + 7 * ns_per_frac,
                interface: 0,
                link_type: 1,
                orig_len: 46,
                data: two,
            }),
        ]
    );
    assert_eq!(ifs.len(), 1);
    assert_eq!(
        (ifs[0].link_type, ifs[0].snaplen, ifs[0].resolution_ns),
        (1, 65_535, resolution)
    );
}

#[test]
fn pcap_little_endian_microseconds() {
    check_pcap(PCAP_US, false, 16, 1000, 1000);
}

#[test]
fn pcap_big_endian_microseconds() {
    check_pcap(PCAP_US, true, 16, 1000, 1000);
}

#[test]
fn pcap_little_endian_nanoseconds() {
    check_pcap(PCAP_NS, false, 16, 1, 1);
}

#[test]
fn pcap_big_endian_nanoseconds() {
    check_pcap(PCAP_NS, true, 16, 1, 1);
}

#[test]
fn pcap_modified_variant_has_longer_record_headers() {
    check_pcap(0xa1b2_cd34, false, 24, 1000, 1000);
    check_pcap(0xa1b2_cd34, true, 24, 1000, 1000);
}

#[test]
fn pcap_link_type_drops_the_fcs_bits() {
    let mut bytes = pcap(PCAP_US, false, &[(1, 0, &payload(20, 0))]);
    bytes[20..24].copy_from_slice(&(0x1000_0000u32 | 113).to_le_bytes());
    let (items, ifs) = read(&bytes);
    assert_eq!(ifs[0].link_type, 113);
    assert_eq!(frames(&items)[0].link_type, 113);
}

#[test]
fn pcap_record_cut_short_is_a_problem_that_stops() {
    let data = payload(60, 3);
    let whole = pcap(PCAP_US, false, &[(1, 0, &data), (2, 0, &data)]);
    let (items, _) = read(&whole[..whole.len() - 10]);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(frames(&items)[0].record, 1);
    assert_eq!(
        items[1],
        Item::Problem(Problem {
            record: Some(2),
            offset: Some(24 + 16 + 60),
            message: "last record cut short: 50 of 60 bytes present (the capture was cut while being written)".into(),
            stops: true,
            unusable: false,
        })
    );
}

#[test]
fn pcap_record_header_cut_short_is_a_problem_that_stops() {
    let data = payload(60, 3);
    let whole = pcap(PCAP_US, true, &[(1, 0, &data), (2, 0, &data)]);
    let (items, _) = read(&whole[..24 + 16 + 60 + 5]);
    assert_eq!(
        items[1],
        Item::Problem(Problem {
            record: Some(2),
            offset: Some(100),
            message: "file ends inside a record header (5 of 16 bytes): the capture was cut while being written".into(),
            stops: true,
            unusable: false,
        })
    );
    assert_eq!(items.len(), 2);
}

#[test]
fn pcap_header_cut_short_is_unusable() {
    let whole = pcap(PCAP_NS, false, &[]);
    let Err(p) = Capture::open(&whole[..20]) else {
        panic!("a 20-byte pcap opened");
    };
    assert_eq!(p.message, "pcap file header cut short: 20 of 24 bytes");
    assert!(p.stops && p.unusable);
}

#[test]
fn not_a_capture_says_what_it_looks_like() {
    let Err(p) = Capture::open(&b"{\"json\": true}"[..]) else {
        panic!("text opened as a capture");
    };
    assert_eq!(
        p.message,
        "not a pcap or pcapng capture: starts with 7b 22 6a 73 (looks like text)"
    );
    assert_eq!((p.record, p.offset, p.unusable), (None, None, true));
}

// ---- pcapng ----

/// A pcapng file being written in one byte order (which may change per section).
struct Ng {
    bytes: Vec<u8>,
    be: bool,
}

/// Options as (code, value), with the end-of-options marker.
fn options(opts: &[(u16, &[u8])], be: bool) -> Vec<u8> {
    let mut o = Vec::new();
    for &(code, value) in opts {
        o.extend(u16b(code, be));
        o.extend(u16b(value.len() as u16, be));
        o.extend(value);
        o.resize(o.len().next_multiple_of(4), 0);
    }
    if !o.is_empty() {
        o.extend([0; 4]);
    }
    o
}

const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

impl Ng {
    fn new(be: bool) -> Self {
        let mut ng = Ng {
            bytes: Vec::new(),
            be,
        };
        ng.section(be);
        ng
    }

    /// Offset of the next block.
    fn at(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let be = self.be;
        self.bytes.extend(u32b(btype, be));
        self.bytes.extend(u32b(len, be));
        self.bytes.extend(body);
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
        self.bytes.extend(u32b(len, be));
        self
    }

    fn section(&mut self, be: bool) -> &mut Self {
        self.be = be;
        let mut body = Vec::new();
        body.extend(u32b(0x1a2b_3c4d, be));
        body.extend(u16b(1, be));
        body.extend(u16b(0, be));
        body.extend([0xff; 8]);
        self.block(0x0a0d_0d0a, &body)
    }

    fn idb(&mut self, link_type: u16, snaplen: u32, opts: &[(u16, &[u8])]) -> &mut Self {
        let be = self.be;
        let mut body = Vec::new();
        body.extend(u16b(link_type, be));
        body.extend([0, 0]);
        body.extend(u32b(snaplen, be));
        body.extend(options(opts, be));
        self.block(1, &body)
    }

    fn epb(&mut self, interface: u32, ts: u64, data: &[u8]) -> &mut Self {
        let be = self.be;
        let mut body = Vec::new();
        body.extend(u32b(interface, be));
        body.extend(u32b((ts >> 32) as u32, be));
        body.extend(u32b(ts as u32, be));
        body.extend(u32b(data.len() as u32, be));
        body.extend(u32b(data.len() as u32 + 8, be));
        body.extend(data);
        self.block(6, &body)
    }

    fn spb(&mut self, orig_len: u32, data: &[u8]) -> &mut Self {
        let mut body = u32b(orig_len, self.be).to_vec();
        body.extend(data);
        self.block(3, &body)
    }
}

const SHB_LEN: u64 = 28;
const IDB_LEN: u64 = 20;
const SEC: u64 = 1_552_602_229;

/// One interface with the given options, one EPB with a raw timestamp: the frame's ts_ns and
/// the interface's tick.
fn one_packet(be: bool, opts: &[(u16, &[u8])], raw_ts: u64) -> (i64, u64) {
    let mut ng = Ng::new(be);
    ng.idb(1, 0, opts).epb(0, raw_ts, &payload(30, 0));
    let (items, ifs) = read(&ng.bytes);
    let f = frames(&items);
    assert_eq!(f.len(), 1, "{items:?}");
    (f[0].ts_ns, ifs[0].resolution_ns)
}

#[test]
fn pcapng_frames_carry_record_offset_and_data() {
    for be in [false, true] {
        let (one, two) = (payload(61, 1), payload(8, 50));
        let mut ng = Ng::new(be);
        ng.idb(1, 65_535, &[]);
        let first = ng.at();
        ng.epb(0, SEC * 1_000_000 + 5, &one);
        let second = ng.at();
        ng.epb(0, SEC * 1_000_000 + 6, &two);
        let (items, ifs) = read(&ng.bytes);
        assert_eq!(first, SHB_LEN + IDB_LEN);
        assert_eq!(
            items,
            [
                Item::Frame(Got {
                    record: 3,
                    offset: first,
                    ts_ns: (SEC * 1_000_000_000 + 5_000) as i64,
                    interface: 0,
                    link_type: 1,
                    orig_len: 69,
                    data: one,
                }),
                Item::Frame(Got {
                    record: 4,
                    offset: second,
                    ts_ns: (SEC * 1_000_000_000 + 6_000) as i64,
                    interface: 0,
                    link_type: 1,
                    orig_len: 16,
                    data: two,
                }),
            ],
            "big endian: {be}"
        );
        assert_eq!(
            (ifs.len(), ifs[0].snaplen, ifs[0].resolution_ns),
            (1, 65_535, 1000)
        );
    }
}

#[test]
fn pcapng_tsresol_6_is_microseconds() {
    for be in [false, true] {
        assert_eq!(
            one_packet(be, &[(IF_TSRESOL, &[6])], SEC * 1_000_000 + 123_456),
            ((SEC * 1_000_000_000 + 123_456_000) as i64, 1000)
        );
    }
}

#[test]
fn pcapng_tsresol_9_is_nanoseconds() {
    for be in [false, true] {
        assert_eq!(
            one_packet(be, &[(IF_TSRESOL, &[9])], SEC * 1_000_000_000 + 123_456_789),
            ((SEC * 1_000_000_000 + 123_456_789) as i64, 1)
        );
    }
}

#[test]
fn pcapng_tsresol_power_of_two() {
    // 2^-10 s: 1024 ticks a second, the half second is 512.
    assert_eq!(
        one_packet(false, &[(IF_TSRESOL, &[0x80 | 10])], (SEC << 10) + 512),
        ((SEC * 1_000_000_000 + 500_000_000) as i64, 976_562)
    );
    // 2^-20 s, big endian.
    assert_eq!(
        one_packet(true, &[(IF_TSRESOL, &[0x80 | 20])], (SEC << 20) + (1 << 18)),
        ((SEC * 1_000_000_000 + 250_000_000) as i64, 953)
    );
}

#[test]
fn pcapng_tsresol_two_to_the_minus_30() {
    // pcapng allows any power of two; 2^-30 s is just under a nanosecond.
    assert_eq!(
        one_packet(
            false,
            &[(IF_TSRESOL, &[0x80 | 30])],
            (SEC << 30) + (1 << 29)
        ),
        ((SEC * 1_000_000_000 + 500_000_000) as i64, 1)
    );
}

#[test]
fn pcapng_tsoffset_adds_seconds() {
    let offset = 1_000_000_000i64;
    let (ts, _) = one_packet(
        false,
        &[(IF_TSRESOL, &[9]), (IF_TSOFFSET, &offset.to_le_bytes())],
        552_602_229_000_000_007,
    );
    assert_eq!(ts, 1_552_602_229_000_000_007);
    let (ts, _) = one_packet(true, &[(IF_TSOFFSET, &offset.to_be_bytes())], 42);
    assert_eq!(ts, 1_000_000_000_000_042_000);
}

#[test]
fn pcapng_two_interfaces_keep_their_link_type_name_and_resolution() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[(IF_NAME, b"eth0")])
        .idb(113, 0, &[(IF_NAME, b"any"), (IF_TSRESOL, &[9])])
        .epb(1, SEC * 1_000_000_000, &payload(20, 1))
        .epb(0, SEC * 1_000_000, &payload(20, 2));
    let (items, ifs) = read(&ng.bytes);
    let f = frames(&items);
    assert_eq!(items.len(), 2, "{items:?}");
    let seen: Vec<_> = f
        .iter()
        .map(|g| (g.record, g.interface, g.link_type, g.ts_ns))
        .collect();
    let t = (SEC * 1_000_000_000) as i64;
    assert_eq!(seen, [(4, 1, 113, t), (5, 0, 1, t)]);
    let described: Vec<_> = ifs
        .iter()
        .map(|i| (i.link_type, i.name.as_deref(), i.resolution_ns))
        .collect();
    assert_eq!(described, [(1, Some("eth0"), 1000), (113, Some("any"), 1)]);
}

#[test]
fn pcapng_sections_number_interfaces_globally_and_may_change_byte_order() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[(IF_NAME, b"eth0")])
        .epb(0, SEC * 1_000_000, &payload(20, 1));
    let second_section = ng.at();
    ng.section(true)
        .idb(101, 0, &[(IF_NAME, b"tun0"), (IF_TSRESOL, &[9])]);
    let last = ng.at();
    ng.epb(0, SEC * 1_000_000_000 + 1, &payload(24, 2));
    let (items, ifs) = read(&ng.bytes);
    let f = frames(&items);
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(second_section < last);
    assert_eq!(
        (f[1].record, f[1].offset, f[1].interface, f[1].link_type),
        (6, last, 1, 101)
    );
    assert_eq!(f[1].ts_ns, (SEC * 1_000_000_000 + 1) as i64);
    assert_eq!(f[1].data, payload(24, 2));
    let names: Vec<_> = ifs.iter().map(|i| i.name.as_deref()).collect();
    assert_eq!(names, [Some("eth0"), Some("tun0")]);
}

/// An EPB, then an SPB of 21 bytes on an interface with `snaplen`: the SPB's frame.
fn simple_packet_after_epb(snaplen: u32) -> (Got, u64) {
    let mut ng = Ng::new(false);
    ng.idb(1, snaplen, &[])
        .epb(0, SEC * 1_000_000 + 9, &payload(20, 1));
    let at = ng.at();
    ng.spb(21, &payload(21, 7));
    let (mut items, _) = read(&ng.bytes);
    assert_eq!(items.len(), 2, "{items:?}");
    let Some(Item::Frame(got)) = items.pop() else {
        panic!("{items:?}");
    };
    (got, at)
}

#[test]
fn pcapng_simple_packet_takes_the_previous_timestamp() {
    let (got, at) = simple_packet_after_epb(65_535);
    assert_eq!(
        got,
        Got {
            record: 4,
            offset: at,
            ts_ns: (SEC * 1_000_000_000 + 9_000) as i64,
            interface: 0,
            link_type: 1,
            orig_len: 21,
            data: payload(21, 7),
        }
    );
}

#[test]
fn pcapng_simple_packet_without_a_snaplen_is_whole() {
    let (got, _) = simple_packet_after_epb(0);
    assert_eq!(got.data, payload(21, 7));
}

#[test]
fn pcapng_simple_packet_is_cut_to_the_snaplen() {
    let mut ng = Ng::new(true);
    ng.idb(1, 16, &[]).spb(40, &payload(16, 3));
    let (items, _) = read(&ng.bytes);
    let f = frames(&items);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((f[0].record, f[0].orig_len), (3, 40));
    assert_eq!(f[0].data, payload(16, 3));
}

#[test]
fn pcapng_block_cut_short_is_a_problem_that_stops() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]).epb(0, 1, &payload(30, 1));
    let at = ng.at();
    ng.epb(0, 2, &payload(30, 2));
    let (items, _) = read(&ng.bytes[..ng.bytes.len() - 8]);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(frames(&items)[0].record, 3);
    assert_eq!(
        items[1],
        Item::Problem(Problem {
            record: Some(4),
            offset: Some(at),
            message: "last block cut short: 56 of 64 bytes present (the capture was cut while being written)".into(),
            stops: true,
            unusable: false,
        })
    );
}

#[test]
fn pcapng_bad_byte_order_magic_is_unusable() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]).epb(0, 1, &payload(30, 1));
    ng.bytes[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let (items, _) = read(&ng.bytes);
    assert_eq!(
        items,
        [Item::Problem(Problem {
            record: Some(1),
            offset: Some(0),
            message: "section header has a bad byte-order magic 01020304".into(),
            stops: true,
            unusable: true,
        })]
    );
}
