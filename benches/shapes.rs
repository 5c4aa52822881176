//! Crafted captures of the shapes that once made natcorr's cost grow with the square of their
//! size (issue 12): one packet at thousands of points, a `tcpdump -i any` capture with
//! thousands of interface indexes, thousands of same-seq packets that differ only after the
//! compared prefix, thousands of ICMP errors quoting one seq, thousands of same-payload packets
//! told apart by IP id, and thousands of one-point flows matched by destination. Each function
//! returns whole capture files (name, bytes). Used by `tests/scale.rs` (results stay right) and
//! by the `shapes` example that `benches/compare.sh` times at growing sizes. Whoever includes
//! this file includes `synth.rs` beside it as `mod synth`.

#![allow(dead_code)]

/// One shape, with the number of its repeated element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One echo request and reply seen at `n` points (a pcapng with `n` sections).
    Points,
    /// A Linux cooked v2 (`-i any`) capture: `n` flows, each seen on two interface indexes of
    /// its own (2n indexes).
    AnyInterfaces,
    /// `n` flows at two points, every request seq 1 with the same first 16 payload bytes; the
    /// bytes after them tell the packets apart.
    SplitRun,
    /// `n` flows whose seq-1 request got a time-exceeded error, seen at a third point that saw
    /// no request (so the error is matched by seq and quoted payload).
    Errors,
    /// `n` flows at two points with one constant payload and seq 1: only the IPv4 id, which NAT
    /// keeps, tells the packets apart.
    IpIds,
    /// `n` one-point flows to `n` destinations (request and reply), one capture: every flow is
    /// a candidate for the match by destination.
    OnePointFlows,
}

impl Shape {
    pub const ALL: [Shape; 6] = [
        Shape::Points,
        Shape::AnyInterfaces,
        Shape::SplitRun,
        Shape::Errors,
        Shape::IpIds,
        Shape::OnePointFlows,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Points => "points",
            Shape::AnyInterfaces => "any-interfaces",
            Shape::SplitRun => "split-run",
            Shape::Errors => "errors",
            Shape::IpIds => "ip-ids",
            Shape::OnePointFlows => "one-point-flows",
        }
    }

    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The capture files of this shape with `n` elements.
    pub fn files(self, n: u32) -> Vec<(String, Vec<u8>)> {
        match self {
            Shape::Points => vec![("points.pcapng".into(), points(n))],
            Shape::AnyInterfaces => vec![("any.pcap".into(), any_interfaces(n))],
            Shape::SplitRun => two_points(n, Payload::DifferAfterPrefix),
            Shape::Errors => errors(n),
            Shape::IpIds => two_points(n, Payload::Constant),
            Shape::OnePointFlows => vec![("one.pcap".into(), one_point_flows(n))],
        }
    }
}

const T0: u64 = 1_764_000_000_000_000_000;
const INSIDE: [u8; 4] = [10, 0, 0, 5];
const OUTSIDE: [u8; 4] = [198, 51, 100, 7];
const DEST: [u8; 4] = [203, 0, 113, 9];

/// What an echo carries after its 8-byte header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// The flow number in the first bytes, as ping's timestamp would be.
    Unique(u32),
    /// 16 equal bytes, then the flow number.
    DifferAfterPrefix,
    /// 24 equal bytes (`ping -p`).
    Constant,
}

struct Echo {
    reply: bool,
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ip_id: u16,
    id: u16,
    seq: u16,
    payload: Payload,
    flow: u32,
}

/// IPv4 + ICMP echo bytes (checksums left zero: natcorr does not read them).
fn echo_ip(e: &Echo) -> Vec<u8> {
    let mut icmp = vec![if e.reply { 0 } else { 8 }, 0, 0, 0];
    icmp.extend(e.id.to_be_bytes());
    icmp.extend(e.seq.to_be_bytes());
    match e.payload {
        Payload::Unique(k) => {
            icmp.extend(k.to_be_bytes());
            icmp.extend([0x10u8; 20]);
        }
        Payload::DifferAfterPrefix => {
            icmp.extend([0x10u8; 16]);
            icmp.extend(u64::from(e.flow).to_be_bytes());
        }
        Payload::Constant => icmp.extend([0xffu8; 24]),
    }
    ipv4(1, e.src, e.dst, e.ttl, e.ip_id, &icmp)
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], ttl: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x45, 0];
    b.extend(((20 + payload.len()) as u16).to_be_bytes());
    b.extend(id.to_be_bytes());
    b.extend([0x40, 0, ttl, proto, 0, 0]);
    b.extend(src);
    b.extend(dst);
    b.extend(payload);
    b
}

fn ether(ip: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    b.extend(ip);
    b
}

/// A pcap file (Ethernet or another link type), nanosecond timestamps, frames in time order.
fn pcap(link: u32, mut frames: Vec<(u64, Vec<u8>)>) -> Vec<u8> {
    frames.sort_by_key(|f| f.0);
    let mut out = vec![0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    out.extend(65_535u32.to_le_bytes());
    out.extend(link.to_le_bytes());
    for (ts, data) in frames {
        out.extend(((ts / 1_000_000_000) as u32).to_le_bytes());
        out.extend(((ts % 1_000_000_000) as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(data);
    }
    out
}

/// The request and reply of `flow` as seen inside (before SNAT) or outside (after it).
fn pair(flow: u32, outside: bool, payload: Payload, ip_id: u16) -> [Echo; 2] {
    let src = if outside { OUTSIDE } else { INSIDE };
    let id = flow as u16;
    let (ttl_req, ttl_rep) = if outside { (63, 62) } else { (64, 61) };
    [
        Echo {
            reply: false,
            src,
            dst: DEST,
            ttl: ttl_req,
            ip_id,
            id,
            seq: 1,
            payload,
            flow,
        },
        Echo {
            reply: true,
            src: DEST,
            dst: src,
            ttl: ttl_rep,
            ip_id: ip_id ^ 0x8000,
            id,
            seq: 1,
            payload,
            flow,
        },
    ]
}

/// When flow `k` sends (0.4 ms apart: 40,000 flows stay within natcorr's 30 s repeat gap).
fn sent(k: u32) -> u64 {
    T0 + u64::from(k) * 400_000
}

fn points(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let [req, rep] = pair(1, false, Payload::Unique(1), 7);
    let (req, rep) = (ether(&echo_ip(&req)), ether(&echo_ip(&rep)));
    for i in 0..n {
        out.extend(super::synth::pcapng_section(&format!("p{i}"), 65_535));
        // The request reaches point i after i µs; the reply passes it on the way back.
        let t_req = T0 + u64::from(i) * 1_000;
        let t_rep = T0 + 100_000_000 + u64::from(n - i) * 1_000;
        for (ts, frame) in [(t_req, &req), (t_rep, &rep)] {
            let pad = (4 - frame.len() % 4) % 4;
            let blen = (32 + frame.len() + pad) as u32;
            out.extend(6u32.to_le_bytes());
            out.extend(blen.to_le_bytes());
            out.extend(0u32.to_le_bytes());
            out.extend(((ts >> 32) as u32).to_le_bytes());
            out.extend((ts as u32).to_le_bytes());
            out.extend((frame.len() as u32).to_le_bytes());
            out.extend((frame.len() as u32).to_le_bytes());
            out.extend(frame.iter());
            out.extend(&[0u8; 3][..pad]);
            out.extend(blen.to_le_bytes());
        }
    }
    out
}

fn any_interfaces(n: u32) -> Vec<u8> {
    // LINKTYPE_LINUX_SLL2: protocol, reserved, interface index, ARPHRD, packet type, address.
    let sll2 = |ifindex: u32, outgoing: bool, ip: &[u8]| {
        let mut b = vec![0x08, 0x00, 0, 0];
        b.extend(ifindex.to_be_bytes());
        b.extend([0, 1, if outgoing { 4 } else { 0 }, 6]);
        b.extend([2, 0, 0, 0, 0, 1, 0, 0]);
        b.extend(ip);
        b
    };
    let mut frames = Vec::new();
    for k in 0..n {
        let [req_in, rep_in] = pair(k, false, Payload::Unique(k), k as u16);
        let [req_out, rep_out] = pair(k, true, Payload::Unique(k), k as u16);
        let (a, b) = (2 * k + 1, 2 * k + 2);
        let t = sent(k);
        frames.push((t, sll2(a, false, &echo_ip(&req_in))));
        frames.push((t + 20_000, sll2(b, true, &echo_ip(&req_out))));
        frames.push((t + 300_000, sll2(b, false, &echo_ip(&rep_out))));
        frames.push((t + 320_000, sll2(a, true, &echo_ip(&rep_in))));
    }
    pcap(276, frames)
}

/// Inside and outside captures of `n` SNATed flows, all seq 1.
fn two_points(n: u32, payload: Payload) -> Vec<(String, Vec<u8>)> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for k in 0..n {
        let t = sent(k);
        let ip_id = k as u16;
        let [a, b] = pair(k, false, payload, ip_id);
        let [c, d] = pair(k, true, payload, ip_id);
        inside.push((t, ether(&echo_ip(&a))));
        outside.push((t + 20_000, ether(&echo_ip(&c))));
        outside.push((t + 300_000, ether(&echo_ip(&d))));
        inside.push((t + 320_000, ether(&echo_ip(&b))));
    }
    if payload == Payload::Constant {
        // A few ordinary pings (payloads of their own) show that NAT keeps the IP id.
        for k in n..n + 10 {
            let t = sent(k);
            let ip_id = k as u16;
            let [a, b] = pair(k, false, Payload::Unique(k), ip_id);
            let [c, d] = pair(k, true, Payload::Unique(k), ip_id);
            inside.push((t, ether(&echo_ip(&a))));
            outside.push((t + 20_000, ether(&echo_ip(&c))));
            outside.push((t + 300_000, ether(&echo_ip(&d))));
            inside.push((t + 320_000, ether(&echo_ip(&b))));
        }
    }
    vec![
        ("inside.pcap".into(), pcap(1, inside)),
        ("outside.pcap".into(), pcap(1, outside)),
    ]
}

fn errors(n: u32) -> Vec<(String, Vec<u8>)> {
    let (mut inside, mut outside, mut router) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..n {
        let t = sent(k);
        let [a, _] = pair(k, false, Payload::Unique(k), k as u16);
        let [c, _] = pair(k, true, Payload::Unique(k), k as u16);
        inside.push((t, ether(&echo_ip(&a))));
        outside.push((t + 20_000, ether(&echo_ip(&c))));
        // A router beyond the outside point answers time exceeded, quoting the request as it
        // arrived there (TTL 1); its own capture saw no request.
        let quoted = Echo {
            ttl: 1,
            src: [192, 0, 2, 44],
            id: k as u16 ^ 0x1111,
            ..c
        };
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend(echo_ip(&quoted));
        router.push((
            t + 60_000,
            ether(&ipv4(1, [192, 0, 2, 1], [192, 0, 2, 44], 64, 1, &icmp)),
        ));
    }
    vec![
        ("inside.pcap".into(), pcap(1, inside)),
        ("outside.pcap".into(), pcap(1, outside)),
        ("router.pcap".into(), pcap(1, router)),
    ]
}

fn one_point_flows(n: u32) -> Vec<u8> {
    let mut frames = Vec::new();
    for k in 0..n {
        let t = sent(k);
        let dst = [10, 100 + (k >> 16) as u8, (k >> 8) as u8, k as u8];
        let [mut a, mut b] = pair(k, false, Payload::Unique(k), k as u16);
        a.dst = dst;
        b.src = dst;
        frames.push((t, ether(&echo_ip(&a))));
        frames.push((t + 300_000, ether(&echo_ip(&b))));
    }
    pcap(1, frames)
}
