//! Synthetic captures of the seed's four-point path, for benchmarks: background TCP, UDP, ARP,
//! IPv6 and 802.1Q-tagged traffic of realistic sizes, with a share of ICMP echoes that cross the
//! path's NAT (addresses and, for some flows, identifiers translated; TTL decremented on routed
//! hops; microseconds between points). Deterministic for a given seed. Checksums are left zero:
//! nothing here reads them. Used by `gencap` (files) and the criterion benches (memory).
//! With `connections`, the background is instead TCP and UDP connections that cross the path
//! like the echoes (see [`Conns`]).

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

pub const POINTS: [&str; 4] = ["ha-2b8cf5e0-b1", "qg-0aeca8b7-8a", "ex-l3dngw", "eth2.106"];

pub struct Rng(pub u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// One point's file: a writer that knows the container.
pub struct Out<W: Write> {
    w: W,
    /// Frames due later (replies), written when their time comes so the file stays in order.
    pending: BinaryHeap<(Reverse<u64>, u64, Vec<u8>)>,
    order: u64,
    pcapng: bool,
    pub bytes: u64,
}

/// A pcapng section header (little-endian, length unknown) and one Ethernet interface named
/// `name` with `if_tsresol` 9 (nanoseconds).
pub fn pcapng_section(name: &str, snaplen: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0x0A0D_0D0Au32.to_le_bytes());
    out.extend(28u32.to_le_bytes());
    out.extend(0x1A2B_3C4Du32.to_le_bytes());
    out.extend([1, 0, 0, 0]);
    out.extend(u64::MAX.to_le_bytes());
    out.extend(28u32.to_le_bytes());
    let mut opts = Vec::new();
    opts.extend(2u16.to_le_bytes());
    opts.extend((name.len() as u16).to_le_bytes());
    opts.extend(name.as_bytes());
    opts.resize(opts.len().next_multiple_of(4), 0);
    opts.extend([9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    let len = (20 + opts.len()) as u32;
    out.extend(1u32.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend([1, 0, 0, 0]);
    out.extend(snaplen.to_le_bytes());
    out.extend(opts);
    out.extend(len.to_le_bytes());
    out
}

impl<W: Write> Out<W> {
    pub fn new(mut w: W, pcapng: bool, name: &str) -> Out<W> {
        if pcapng {
            w.write_all(&pcapng_section(name, 262_144)).unwrap();
        } else {
            let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            h.extend(262_144u32.to_le_bytes());
            h.extend(1u32.to_le_bytes());
            w.write_all(&h).unwrap();
        }
        Out {
            w,
            pending: BinaryHeap::new(),
            order: 0,
            pcapng,
            bytes: 24,
        }
    }

    /// Writes a frame now, or keeps it until every earlier frame is written.
    pub fn frame_at(&mut self, now: u64, ts_ns: u64, data: &[u8]) {
        self.flush_until(now);
        if ts_ns <= now {
            self.frame(ts_ns, data);
        } else {
            self.order += 1;
            self.pending
                .push((Reverse(ts_ns), self.order, data.to_vec()));
        }
    }

    /// Writes the kept frames due by `now` (all of them with `u64::MAX`).
    pub fn flush_until(&mut self, now: u64) {
        while self.pending.peek().is_some_and(|p| p.0 .0 <= now) {
            let (Reverse(ts), _, data) = self.pending.pop().expect("peeked");
            self.frame(ts, &data);
        }
    }

    pub fn finish(mut self) -> W {
        self.flush_until(u64::MAX);
        self.w.flush().unwrap();
        self.w
    }

    fn frame(&mut self, ts_ns: u64, data: &[u8]) {
        let n = data.len() as u32;
        if self.pcapng {
            let pad = (4 - data.len() % 4) % 4;
            let len = 32 + n + pad as u32;
            let mut h = [0u8; 28];
            h[0..4].copy_from_slice(&6u32.to_le_bytes());
            h[4..8].copy_from_slice(&len.to_le_bytes());
            h[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
            h[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
            h[20..24].copy_from_slice(&n.to_le_bytes());
            h[24..28].copy_from_slice(&n.to_le_bytes());
            self.w.write_all(&h).unwrap();
            self.w.write_all(data).unwrap();
            self.w.write_all(&[0u8; 3][..pad]).unwrap();
            self.w.write_all(&len.to_le_bytes()).unwrap();
            self.bytes += u64::from(len);
        } else {
            let mut h = [0u8; 16];
            h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
            h[4..8].copy_from_slice(&(((ts_ns % 1_000_000_000) / 1000) as u32).to_le_bytes());
            h[8..12].copy_from_slice(&n.to_le_bytes());
            h[12..16].copy_from_slice(&n.to_le_bytes());
            self.w.write_all(&h).unwrap();
            self.w.write_all(data).unwrap();
            self.bytes += 16 + u64::from(n);
        }
    }
}

fn ether(buf: &mut Vec<u8>, vlan: Option<u16>, ethertype: u16) {
    buf.clear();
    buf.extend([
        0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x00, 0x16, 0x3e, 0xfe, 0x2b, 0x11,
    ]);
    if let Some(v) = vlan {
        buf.extend([0x81, 0x00]);
        buf.extend(v.to_be_bytes());
    }
    buf.extend(ethertype.to_be_bytes());
}

fn ipv4(
    buf: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ttl: u8,
    id: u16,
    payload: usize,
) {
    let total = (20 + payload) as u16;
    buf.extend([0x45, 0]);
    buf.extend(total.to_be_bytes());
    buf.extend(id.to_be_bytes());
    buf.extend([0x40, 0, ttl, proto, 0, 0]);
    buf.extend(src);
    buf.extend(dst);
}

/// Background traffic: TCP/UDP of realistic sizes, some IPv6, some tagged, some ARP.
pub fn background(buf: &mut Vec<u8>, rng: &mut Rng) {
    let vlan = rng.chance(0.10).then_some(106);
    let roll = rng.below(100);
    // Bimodal sizes: many small (ACKs, DNS), many full-size.
    let size = if rng.chance(0.5) {
        40 + rng.below(120) as usize
    } else {
        1000 + rng.below(460) as usize
    };
    if roll < 2 {
        ether(buf, vlan, 0x0806);
        buf.extend([0, 1, 8, 0, 6, 4, 0, 1]);
        buf.extend([0; 20]);
        return;
    }
    if roll < 17 {
        ether(buf, vlan, 0x86dd);
        buf.extend([0x60, 0, 0, 0]);
        buf.extend((size as u16).to_be_bytes());
        buf.extend([6, 64]);
        buf.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        buf.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        buf.resize(buf.len() + size, 0xab);
        return;
    }
    ether(buf, vlan, 0x0800);
    let proto = if roll < 70 { 6 } else { 17 };
    ipv4(
        buf,
        [10, 1, 2, 3],
        [198, 51, 100, 9],
        proto,
        63,
        rng.below(65536) as u16,
        size,
    );
    buf.extend((rng.below(65536) as u16).to_be_bytes());
    buf.extend(443u16.to_be_bytes());
    buf.resize(buf.len() + size - 4, 0xcd);
}

/// The echo at `point`, as NAT left it there.
#[allow(clippy::too_many_arguments)]
fn echo(
    buf: &mut Vec<u8>,
    point: usize,
    reply: bool,
    host: u32,
    flow_id: u16,
    seq: u16,
    ip_id: u16,
    send_ns: u64,
) {
    // Every host is a flow of its own at every point (up to 2^20 flows): its own inside
    // address; behind the SNATs, one shared address per block of 65,536 hosts, where the
    // identifier keeps the flows apart. conntrack renumbers some identifiers; those flows get
    // an address of their own so no two flows meet on one (address, identifier).
    let block = (host >> 16) as u8;
    let renumbered = host.is_multiple_of(7);
    let inside = [10, 64 + block, (host >> 8) as u8, host as u8];
    let src = match point {
        0 => inside,
        1 | 2 => [169, 254, 40 + block, 17 + u8::from(renumbered)],
        _ => [198, 51, 100, 34 + 2 * block + u8::from(renumbered)],
    };
    let dst = [203, 0, 113, 234];
    let id = if point >= 1 && renumbered {
        flow_id ^ 0x5a5a
    } else {
        flow_id
    };
    let ttl = if reply {
        61 + point.min(3) as u8
    } else {
        64 - [0, 1, 1, 2][point]
    };
    ether(buf, None, 0x0800);
    let (s, d) = if reply { (dst, src) } else { (src, dst) };
    ipv4(buf, s, d, 1, ttl, ip_id, 64);
    buf.extend([if reply { 0 } else { 8 }, 0, 0, 0]);
    buf.extend(id.to_be_bytes());
    buf.extend(seq.to_be_bytes());
    buf.extend((send_ns / 1_000_000_000).to_le_bytes());
    buf.extend(((send_ns % 1_000_000_000) / 1000).to_le_bytes());
    buf.extend(0x10u8..0x38);
}

/// What to generate.
pub struct Spec {
    pub size: u64,
    pub points: usize,
    pub pcapng: bool,
    pub echo_share: f64,
    /// Exactly this many echo packets per point and no background traffic.
    pub echoes: Option<u64>,
    pub flows: u32,
    /// When above 0, the background is this many concurrent TCP/UDP connections crossing every
    /// point (see [`Conns`]) instead of unrelated packets at each point.
    pub connections: u32,
    pub seed: u64,
}

/// Writes one capture per point into `outs` (in point order); returns the echo packets per point.
pub fn generate<W: Write>(spec: &Spec, mut outs: Vec<Out<W>>) -> (Vec<W>, u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ spec.seed);
    let mut buf = Vec::with_capacity(2048);
    let mut t: u64 = 1_764_000_000_000_000_000;
    let mut seqs = vec![0u16; spec.flows as usize];
    let mut echoes_written = 0u64;
    let mut conns = Conns::new(spec.connections);
    let done = |outs: &[Out<W>], echoes: u64| match spec.echoes {
        Some(n) => echoes >= n,
        None => outs.iter().all(|o| o.bytes >= spec.size),
    };
    while !done(&outs, echoes_written) {
        t += 1_000 + rng.below(4_000);
        let is_echo = spec.echoes.is_some() || rng.chance(spec.echo_share);
        if !is_echo && spec.connections > 0 {
            conns.packet(&mut buf, &mut rng, t, &mut outs);
            continue;
        }
        if !is_echo {
            for o in outs.iter_mut().filter(|o| o.bytes < spec.size) {
                background(&mut buf, &mut rng);
                o.frame_at(t, t, &buf);
            }
            continue;
        }
        let host = rng.below(u64::from(spec.flows)) as u32;
        let seq = seqs[host as usize].wrapping_add(1);
        seqs[host as usize] = seq;
        let flow_id = (1000 + host) as u16;
        let (req_id, rep_id) = (rng.below(65536) as u16, rng.below(65536) as u16);
        let rtt = 200_000 + rng.below(300_000);
        for (p, o) in outs.iter_mut().enumerate() {
            let hop = p as u64 * 20_000;
            echo(&mut buf, p, false, host, flow_id, seq, req_id, t);
            o.frame_at(t, t + hop, &buf);
            echo(&mut buf, p, true, host, flow_id, seq, rep_id, t);
            o.frame_at(t, t + rtt - hop, &buf);
        }
        echoes_written += 2;
    }
    (outs.into_iter().map(Out::finish).collect(), echoes_written)
}

/// Concurrent TCP and UDP connections from inside hosts to 198.51.100.9 (TCP port 443, UDP port
/// 5201) that cross every point as the echoes do: SNAT on the first hop (inside host → one
/// 169.254.x.17 address per 32,768 connections) with the source port kept, except for one
/// connection in seven whose port conntrack rewrote (`port ^ 0x8000`, which no kept port uses);
/// SNAT again on the third hop (→ 198.51.100.34 + x). TCP: SYN, SYN-ACK, ACK, then data and
/// acknowledgements both ways with correct sequence numbers, then FIN, FIN-ACK, ACK; UDP: a
/// query and a response at a time. Each connection's next packet waits until its previous one
/// has crossed every point; a finished connection's slot takes a new one.
pub struct Conns {
    slots: Vec<Conn>,
    want: usize,
    next: u32,
}

#[derive(Clone, Copy, Default)]
struct Conn {
    id: u32,
    tcp: bool,
    /// Packets sent so far, and how many before it closes.
    sent: u32,
    life: u32,
    /// Next sequence number of the initiator and of the responder (TCP).
    seq: [u32; 2],
    ready_ns: u64,
}

/// TCP flags (RFC 9293).
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

impl Conn {
    fn new(id: u32, rng: &mut Rng) -> Conn {
        let tcp = rng.below(10) < 7;
        Conn {
            id,
            tcp,
            sent: 0,
            // TCP: at least the handshake and the close; UDP: query/response pairs.
            life: if tcp {
                7 + rng.below(34) as u32
            } else {
                2 * (1 + rng.below(4) as u32)
            },
            seq: [rng.next() as u32, rng.next() as u32],
            ready_ns: 0,
        }
    }

    /// The inside host and port, and whether conntrack rewrote the port.
    fn inside(&self) -> ([u8; 4], u16, bool) {
        let c = self.id;
        let host = [10, 128 + ((c >> 16) & 63) as u8, (c >> 8) as u8, c as u8];
        (host, 10_000 + (c % 32_768) as u16, c.is_multiple_of(7))
    }

    /// The initiator's address and port at `point`.
    fn source_at(&self, point: usize) -> ([u8; 4], u16) {
        let (host, port, rewritten) = self.inside();
        let block = ((self.id >> 15) & 63) as u8;
        let port = if point >= 1 && rewritten {
            port ^ 0x8000
        } else {
            port
        };
        match point {
            0 => (host, port),
            1 | 2 => ([169, 254, 40 + block, 17], port),
            _ => ([198, 51, 100, 34 + block], port),
        }
    }

    /// Flags and payload size of the packet `n` of the connection, and which side sends it
    /// (false: the initiator).
    fn shape(&self, n: u32, rng: &mut Rng) -> (bool, u8, usize) {
        if !self.tcp {
            return (n % 2 == 1, 0, 30 + rng.below(400) as usize);
        }
        let last = self.life - 1;
        match n {
            0 => (false, SYN, 0),
            1 => (true, SYN | ACK, 0),
            2 => (false, ACK, 0),
            n if n == last - 2 => (false, FIN | ACK, 0),
            n if n == last - 1 => (true, FIN | ACK, 0),
            n if n == last => (false, ACK, 0),
            n => {
                let reply = n % 2 == 0;
                let size = if rng.chance(0.3) {
                    0
                } else if rng.chance(0.5) {
                    1 + rng.below(200) as usize
                } else {
                    1000 + rng.below(448) as usize
                };
                (reply, if size > 0 { PSH | ACK } else { ACK }, size)
            }
        }
    }
}

impl Conns {
    pub fn new(n: u32) -> Conns {
        Conns {
            slots: Vec::with_capacity(n as usize),
            want: (n as usize).max(1),
            next: 0,
        }
    }

    /// Sends the next packet of a random connection at every point, from `t` on.
    pub fn packet<W: Write>(
        &mut self,
        buf: &mut Vec<u8>,
        rng: &mut Rng,
        t: u64,
        outs: &mut [Out<W>],
    ) {
        if self.slots.len() < self.want {
            self.slots.push(Conn::new(self.next, rng));
            self.next += 1;
        }
        let k = rng.below(self.slots.len() as u64) as usize;
        if self.slots[k].sent == self.slots[k].life {
            self.slots[k] = Conn::new(self.next, rng);
            self.next += 1;
        }
        let c = &mut self.slots[k];
        let at = t.max(c.ready_ns);
        let (reply, flags, size) = c.shape(c.sent, rng);
        let side = usize::from(reply);
        let seq = c.seq[side];
        let ack = if flags & ACK != 0 { c.seq[1 - side] } else { 0 };
        c.seq[side] = seq.wrapping_add(size as u32 + u32::from(flags & (SYN | FIN) != 0));
        c.sent += 1;
        c.ready_ns = at + 100_000;
        let ip_id = rng.below(65536) as u16;
        let conn = *c;
        let last = outs.len().saturating_sub(1) as u64;
        for (p, o) in outs.iter_mut().enumerate() {
            let (src, sport) = conn.source_at(p);
            let (dst, dport) = ([198, 51, 100, 9], if conn.tcp { 443 } else { 5201 });
            // Requests reach point p after p hops; replies after (last - p) hops back.
            let (hop, ttl) = if reply {
                ((last - p as u64) * 20_000, 61 + p.min(3) as u8)
            } else {
                (p as u64 * 20_000, 64 - [0, 1, 1, 2][p])
            };
            let ((s, sp), (d, dp)) = if reply {
                ((dst, dport), (src, sport))
            } else {
                ((src, sport), (dst, dport))
            };
            ether(buf, None, 0x0800);
            let header = if conn.tcp { 20 } else { 8 };
            let proto = if conn.tcp { 6 } else { 17 };
            ipv4(buf, s, d, proto, ttl, ip_id, header + size);
            buf.extend(sp.to_be_bytes());
            buf.extend(dp.to_be_bytes());
            if conn.tcp {
                buf.extend(seq.to_be_bytes());
                buf.extend(ack.to_be_bytes());
                buf.extend([0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
            } else {
                buf.extend(((8 + size) as u16).to_be_bytes());
                buf.extend([0, 0]);
            }
            // The payload: the connection and the packet number, then filler.
            let mark = (u64::from(conn.id) << 32 | u64::from(conn.sent)).to_be_bytes();
            let start = buf.len();
            buf.resize(start + size, 0x5c);
            let n = size.min(8);
            buf[start..start + n].copy_from_slice(&mark[..n]);
            o.frame_at(t, at + hop, buf);
        }
    }
}
