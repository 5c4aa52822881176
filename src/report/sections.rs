//! The report's findings as sentences, shared by the table and the HTML: who answered the
//! probes (a traceroute from the captures), where packets were lost, what a flow is (its
//! protocol, addresses and ports) and what its TCP connection did.

use crate::model::{
    addr_text, tcp_flag, Analysis, Direction, ErrorKind, Flow, Matched, Name, Packet, PacketRow,
    Protocol,
};
use crate::text::count;
use crate::units::fmt_ns;
use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

/// What answered a probe: a router's ICMP error, or the destination's echo reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Error(ErrorKind),
    EchoReply,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Error(kind) => kind.fmt(f),
            Answer::EchoReply => f.write_str("echo reply"),
        }
    }
}

/// A traceroute read from the captures: per source and destination, who answered each probe TTL.
pub fn routers(a: &Analysis) -> Vec<Route> {
    type Answers = Vec<(u8, String, Answer)>;
    let mut routes: Vec<((IpAddr, IpAddr), Answers)> = Vec::new();
    let mut index: HashMap<(IpAddr, IpAddr), usize> = HashMap::default();
    for f in &a.flows {
        let key = (f.origin.src, f.origin.dst);
        let mut answers: Answers = f
            .errors
            .iter()
            .map(|e| {
                // An error from the flow's own destination (a closed port) is no router's.
                let who = if e.reporter == f.origin.dst {
                    format!("{} (the destination itself)", e.reporter)
                } else {
                    e.reporter.to_string()
                };
                (e.probe_ttl.unwrap_or(0), who, Answer::Error(e.kind))
            })
            .collect();
        if let Some(ttl) = f
            .points
            .first()
            .and_then(|p| p.ttl)
            .filter(|_| f.replies > 0 && f.origin.protocol == Protocol::Icmp)
        {
            answers.push((ttl, f.origin.dst.to_string(), Answer::EchoReply));
        }
        match index.get(&key) {
            Some(&i) => routes[i].1.extend(answers),
            None => {
                index.insert(key, routes.len());
                routes.push((key, answers));
            }
        }
    }
    routes.retain(|r| r.1.iter().any(|(_, _, k)| *k != Answer::EchoReply));
    routes
        .into_iter()
        .map(|((src, dst), mut answers)| {
            answers.sort_by_cached_key(|(ttl, who, what)| (*ttl, who.clone(), what.to_string()));
            answers.dedup();
            Route {
                route: format!("{src} → {dst}"),
                answers,
            }
        })
        .collect()
}

/// One source and destination, and who answered each probe TTL (routers, then the echo reply).
pub struct Route {
    pub route: String,
    pub answers: Vec<(u8, String, Answer)>,
}

pub fn loss(a: &Analysis) -> Loss {
    let mut lines = Vec::new();
    let mut unverified = Vec::new();
    for (i, f) in a.flows.iter().enumerate() {
        for h in &f.hops {
            let flow = i + 1;
            let line = |n: u32, one: &str, many: &str, from: &str, to: &str, why: String| {
                format!(
                    "flow {flow}: {} lost between {from} and {to} ({why})",
                    count(n, one, many)
                )
            };
            let proto = f.origin.protocol;
            let (req_one, req_many) = nouns(proto, Direction::Request);
            let (rep_one, rep_many) = nouns(proto, Direction::Reply);
            if h.lost.request > 0 {
                let why = numbered(proto, h.lost.request_seqs(), u64::from(h.lost.request));
                lines.push(line(h.lost.request, req_one, req_many, &h.from, &h.to, why));
            }
            if h.lost.fragments > 0 {
                let why = "the packets' first fragments arrived".to_string();
                lines.push(line(
                    h.lost.fragments,
                    "fragment",
                    "fragments",
                    &h.from,
                    &h.to,
                    why,
                ));
            }
            if h.lost.reply > 0 {
                let why = numbered(proto, h.lost.reply_seqs(), u64::from(h.lost.reply));
                lines.push(line(h.lost.reply, rep_one, rep_many, &h.to, &h.from, why));
            }
            for (n, one, many, at) in [
                (h.lost.request_unverified, req_one, req_many, &h.to),
                (h.lost.reply_unverified, rep_one, rep_many, &h.from),
            ] {
                if n > 0 {
                    unverified.push(format!(
                        "flow {}: {} not seen at {at}, whose capture shows no packet before or after that moment",
                        i + 1,
                        count(n, one, many)
                    ));
                }
            }
        }
    }
    let summary = if a.flows.is_empty() {
        Some("no flow: nothing to compare".to_string())
    } else if !packets_compared(a) {
        Some("cannot tell: no packet was seen at two capture points (captures taken one at a time), so loss between them cannot be compared".to_string())
    } else if lines.is_empty() {
        Some("no packet lost between capture points".to_string())
    } else {
        None
    };
    Loss {
        summary,
        lines,
        unverified,
    }
}

/// "seq 3, 5" for lost packets whose numbers were kept (`seqs`, capped), "seq 3, 5, …" when
/// `n` were lost in all.
pub fn seq_list(seqs: &[u16], n: u64) -> String {
    let list = seqs
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if n as usize > seqs.len() {
        format!("seq {list}, …")
    } else {
        format!("seq {list}")
    }
}

/// The heading of the unverified packets.
pub const UNVERIFIED: &str = "unverified (maybe lost, maybe only not captured; not counted above)";

/// Where packets were lost: a summary when nothing was (or nothing can be told), one line per
/// flow and hop that lost packets, and the packets that may only not have been captured.
pub struct Loss {
    pub summary: Option<String>,
    pub lines: Vec<String>,
    pub unverified: Vec<String>,
}

/// Whether some flow's packets were found at two points, so loss and latency could be measured.
fn packets_compared(a: &Analysis) -> bool {
    a.flows
        .iter()
        .any(|f| f.matched == Matched::Packet && !f.hops.is_empty())
}

/// Where a packet that stopped at lane `at` of its flow's path went missing: the next lane in
/// its direction, and whether the hop between counted it lost (else it may only not have been
/// captured there). `None` when it reached the end of its path.
pub fn vanished(flow: &Flow, dir: Direction, at: usize, seq: u16) -> Option<Vanished> {
    let (next, hop) = match dir {
        Direction::Request if at + 1 < flow.path.len() => (at + 1, at),
        Direction::Reply if at > 0 => (at - 1, at - 1),
        _ => return None,
    };
    let h = flow.hops.get(hop)?;
    let seqs = h.lost.seqs(dir);
    Some(Vanished {
        next,
        lost: seqs.contains(&seq),
    })
}

/// See [`vanished`].
pub struct Vanished {
    /// The lane (path index) where the packet was not seen.
    pub next: usize,
    /// The hop counted it lost.
    pub lost: bool,
}

/// "request" or "reply".
pub fn direction_word(dir: Direction) -> &'static str {
    match dir {
        Direction::Request => "request",
        Direction::Reply => "reply",
    }
}

/// An address with its port, as people write it: `192.0.2.1:80`, `[2001:db8::1]:80` (no
/// address: a point the flow never reached).
pub fn endpoint(addr: Option<IpAddr>, port: Option<u16>) -> String {
    match (addr, port) {
        (Some(a @ IpAddr::V6(_)), Some(p)) => format!("[{a}]:{p}"),
        (addr, Some(p)) => format!("{}:{p}", addr_text(addr)),
        (addr, None) => addr_text(addr),
    }
}

/// What a flow is, where its path starts: `192.168.65.125 → 203.0.113.234  id 4242` for an
/// echo flow, `TCP 192.168.65.125:41001 → 203.0.113.234:80` for a connection.
pub fn flow_title(f: &Flow) -> String {
    let o = &f.origin;
    match o.protocol {
        Protocol::Icmp => format!("{} → {}  id {}", o.src, o.dst, o.id),
        p => format!(
            "{p} {} → {}",
            endpoint(Some(o.src), o.src_port),
            endpoint(Some(o.dst), o.dst_port)
        ),
    }
}

/// A flow's packet counts: requests and replies, or for a connection, each side's packets.
pub fn flow_counts(f: &Flow) -> String {
    match f.origin.protocol {
        Protocol::Icmp => format!(
            "{}, {}",
            count(f.requests, "request", "requests"),
            count(f.replies, "reply", "replies")
        ),
        _ => format!(
            "{} from the initiator, {} from the responder",
            count(f.requests, "packet", "packets"),
            f.replies
        ),
    }
}

/// What requests and replies are called in a flow of this protocol (one, many).
pub fn nouns(p: Protocol, dir: Direction) -> (&'static str, &'static str) {
    match (p, dir) {
        (Protocol::Icmp, Direction::Request) => ("request", "requests"),
        (Protocol::Icmp, Direction::Reply) => ("reply", "replies"),
        (Protocol::Tcp, Direction::Request) => {
            ("segment from the initiator", "segments from the initiator")
        }
        (Protocol::Tcp, Direction::Reply) => {
            ("segment from the responder", "segments from the responder")
        }
        (Protocol::Udp, Direction::Request) => (
            "datagram from the initiator",
            "datagrams from the initiator",
        ),
        (Protocol::Udp, Direction::Reply) => (
            "datagram from the responder",
            "datagrams from the responder",
        ),
    }
}

/// The word before a packet's number: an echo's sequence number ("seq 3"), or a TCP/UDP
/// packet's number in its flow and direction ("packet 3").
pub fn number_word(p: Protocol) -> &'static str {
    match p {
        Protocol::Icmp => "seq",
        _ => "packet",
    }
}

/// [`seq_list`] with the word of the protocol: "seq 3, 5" or "packet 3, 5".
pub fn numbered(p: Protocol, seqs: &[u16], n: u64) -> String {
    let list = seq_list(seqs, n);
    match p {
        Protocol::Icmp => list,
        _ => list.replacen("seq", number_word(p), 1),
    }
}

/// What "a request" is called in a flow of this protocol (for loss lines and ladders).
pub fn packet_word(p: Protocol, dir: Direction) -> &'static str {
    match (p, dir) {
        (Protocol::Icmp, _) => direction_word(dir),
        (Protocol::Tcp, Direction::Request) => "initiator's segment",
        (Protocol::Tcp, Direction::Reply) => "responder's segment",
        (Protocol::Udp, Direction::Request) => "initiator's datagram",
        (Protocol::Udp, Direction::Reply) => "responder's datagram",
    }
}

/// TCP flags as tcpdump names them: `SYN`, `SYN,ACK`, `PSH,ACK`, `FIN,ACK`, `RST`.
pub fn tcp_flags(flags: u8) -> String {
    const NAMES: [(u8, &str); 6] = [
        (tcp_flag::SYN, "SYN"),
        (tcp_flag::FIN, "FIN"),
        (tcp_flag::RST, "RST"),
        (0x08, "PSH"),
        (tcp_flag::ACK, "ACK"),
        (0x20, "URG"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}

/// A packet's own fields beyond its addresses, for a ladder: the echo id, or the ports, TCP
/// flags and payload length.
pub fn packet_fields(p: &Packet) -> String {
    match p.proto {
        Protocol::Icmp => format!("id {}", p.icmp_id),
        Protocol::Tcp => format!(
            "{} > {} [{}] len {}",
            p.sport,
            p.dport,
            tcp_flags(p.tcp_flags),
            p.payload_len()
        ),
        Protocol::Udp => format!("{} > {} len {}", p.sport, p.dport, p.payload_len()),
    }
}

/// The TCP facts of a flow a person asks first, one line each: the handshake time at each
/// point, where segments were sent again, and where each reset came from. Empty for echoes
/// and UDP.
pub fn tcp_lines(f: &Flow) -> Vec<String> {
    if f.origin.protocol != Protocol::Tcp {
        return Vec::new();
    }
    let mut out = Vec::new();
    let handshakes: Vec<String> = f
        .points
        .iter()
        .filter_map(|p| p.handshake_ns.map(|t| format!("{} {}", p.point, fmt_ns(t))))
        .collect();
    if !handshakes.is_empty() {
        out.push(format!(
            "handshake (SYN → SYN-ACK): {}",
            handshakes.join(", ")
        ));
    } else if f.replies == 0 {
        // Nothing came back: how far the initiator's packets got.
        let last = f.points.iter().rev().find(|p| p.requests > 0);
        out.push(match last {
            Some(p) => format!(
                "not established: nothing came back from the responder's side at any point; the initiator's {} got as far as {}",
                count(f.requests, "packet", "packets"),
                p.point
            ),
            None => "not established: nothing came back from the responder's side".to_string(),
        });
    }
    let retrans: Vec<String> = f
        .points
        .iter()
        .filter(|p| p.retransmissions > 0)
        .map(|p| format!("{} at {}", p.retransmissions, p.point))
        .collect();
    if !retrans.is_empty() {
        // Where the copies' originals went missing: the hops that lost segments.
        let lost: Vec<String> = f
            .hops
            .iter()
            .filter(|h| h.lost.request + h.lost.reply > 0)
            .map(|h| format!("between {} and {}", h.from, h.to))
            .collect();
        let on = if lost.is_empty() {
            String::new()
        } else {
            format!(" (segments lost {})", lost.join(", "))
        };
        out.push(format!("segments sent again: {}{on}", retrans.join(", ")));
    }
    for r in &f.resets {
        out.push(format!(
            "RST in the {}'s name, first seen at {}: sent by {}",
            if r.dir == Direction::Request {
                "initiator"
            } else {
                "responder"
            },
            r.points().first().map_or("?", Name::as_str),
            r.sent_by()
        ));
    }
    out
}

/// The journey on the other side of `first`'s exchange, among its flow's `rows`: an echo's
/// reply has its sequence number; a TCP segment's answer is the first reply at the same point
/// that acknowledges all of it (the first reply after it when it takes no sequence space); a
/// UDP datagram's, the first reply after it before the initiator sends again. A reply's
/// partner is the request it answers, found the same way.
pub fn partner(rows: &[&PacketRow], first: &PacketRow) -> Option<u64> {
    let same_point = |r: &&&PacketRow| r.point == first.point && r.journey != first.journey;
    if first.proto == Protocol::Icmp {
        return rows
            .iter()
            .find(|r| r.dir != first.dir && r.seq == first.seq && r.journey != first.journey)
            .map(|r| r.journey);
    }
    let answers = |q: &PacketRow, r: &PacketRow| {
        if r.ts_ns < q.ts_ns {
            return false;
        }
        let space = q.seq_space();
        q.proto != Protocol::Tcp || space == 0 || r.tcp_ack == q.tcp_seq.wrapping_add(space)
    };
    // Requests and replies at this point, in time order.
    let mut here: Vec<&PacketRow> = rows.iter().filter(same_point).copied().collect();
    here.push(first);
    here.sort_by_key(|r| (r.ts_ns, r.journey));
    let at = here.iter().position(|r| r.journey == first.journey)?;
    if first.dir == Direction::Request {
        let later = here[at + 1..].iter();
        let mut until_next =
            later.take_while(|r| first.proto == Protocol::Tcp || r.dir == Direction::Reply);
        until_next
            .find(|r| r.dir == Direction::Reply && answers(first, r))
            .map(|r| r.journey)
    } else {
        let mut earlier = here[..at].iter().rev();
        match first.proto {
            Protocol::Udp => earlier.next().filter(|r| r.dir == Direction::Request),
            _ => earlier.find(|r| r.dir == Direction::Request && answers(r, first)),
        }
        .map(|r| r.journey)
    }
}
