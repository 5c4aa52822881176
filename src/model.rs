//! The types that flow through the pipeline: inputs and options, capture points and
//! observations in; flows, hops, translations and findings out. Times are `i64` nanoseconds
//! since the epoch. This module imports no stage.

pub use crate::addr::Addr;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// A capture point's name, shared: every flow, hop and finding that names a point holds the
/// same allocation (with 100,000 flows, one string per mention cost about 1 KB per flow). Reads
/// as a `str`, compares with one, and serializes as the plain string. One pointer wide (an `Arc`
/// of a `String`, not of a `str`): a flow names its points about fourteen times.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(std::sync::Arc<String>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(std::sync::Arc::new(s.to_owned()))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(std::sync::Arc::new(s))
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name(std::sync::Arc::new(s.clone()))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.0.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        *self == *other.0
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d).map(Name::from)
    }
}

/// A capture file to read (`-`: standard input), and the point name the user gave it
/// (`--point NAME=FILE`).
#[derive(Clone, Debug)]
pub struct Input {
    /// Any bytes a file name may hold (not only UTF-8).
    pub path: std::path::PathBuf,
    pub name: Option<String>,
}

impl Input {
    /// The path as text (bytes that are not UTF-8 shown as U+FFFD); `-` for standard input.
    pub fn display(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// What the command line can tell the analysis beyond the files.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Known clock offsets: (point name, nanoseconds the point's clock is ahead).
    pub clock_offsets: Vec<(String, i64)>,
    /// Keep one row per observation for per-packet output.
    pub per_packet: bool,
    /// Bytes the analysis may use (`--max-memory`); `None`: no limit.
    pub max_memory: Option<u64>,
    /// Nat-rule and address dumps (`--rules`) that explain the translations.
    pub rules: Vec<std::path::PathBuf>,
    /// The protocols analysed (`--protocol`); the others are counted and skipped.
    pub protocols: Protocols,
}

/// The transport a flow's packets use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ICMP or ICMPv6 echo.
    Icmp,
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Icmp, Protocol::Tcp, Protocol::Udp];

    /// The name on the command line and in `--expect` rules: `icmp`, `tcp`, `udp`.
    pub fn keyword(self) -> &'static str {
        match self {
            Protocol::Icmp => "icmp",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.keyword() == word)
    }

    /// True for the protocols whose flows have ports.
    pub fn has_ports(self) -> bool {
        self != Protocol::Icmp
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Icmp => "ICMP",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

/// A set of protocols (`--protocol icmp,tcp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols(u8);

impl Protocols {
    pub const ALL: Protocols = Protocols(0b111);

    pub fn of(list: &[Protocol]) -> Protocols {
        Protocols(list.iter().fold(0, |bits, &p| bits | 1 << p as u8))
    }

    pub fn contains(self, p: Protocol) -> bool {
        self.0 & (1 << p as u8) != 0
    }
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols::ALL
    }
}

/// Index of a capture point in [`Analysis::points`] (and in the pipeline's point list).
pub type PointId = u32;

/// Which half of an exchange a packet is: an echo request or reply; for TCP and UDP, a packet
/// from the connection's initiator (request) or from its responder (reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Request,
    Reply,
}

/// Where a capture was taken: one file, or one interface inside a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    pub name: Name,
    pub file: String,
    pub link_type: String,
    /// Interface index inside the file (pcapng interface or Linux SLL2 ifindex), when it names the point.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interface: Option<u32>,
    /// Records read for this point (every frame, echo or not).
    pub packets: u64,
    /// ICMP/ICMPv6 echo requests and replies decoded at this point.
    pub echo_packets: u64,
    /// TCP segments and UDP datagrams decoded at this point (with `--protocol` selecting them).
    #[serde(default)]
    pub tcp_packets: u64,
    #[serde(default)]
    pub udp_packets: u64,
    /// IP fragments of echo datagrams (first and later ones).
    pub fragments: u64,
    /// Frames seen again at this point within [`DUPLICATE_WINDOW_NS`] (a mirror port,
    /// overlapping merged files): the same echo (IP and ICMP fields and payload, whatever the
    /// link header), or an ICMP error or fragment byte for byte. Counted once, not matched twice.
    pub duplicates: u64,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// One timestamp tick of this capture, in nanoseconds (1000 for microsecond captures).
    pub ts_resolution_ns: u64,
}

/// Identical frames at one point this close in time are one packet captured twice.
pub const DUPLICATE_WINDOW_NS: i64 = 500_000;

/// The coarser timestamp tick of two points: time differences between them smaller than this
/// cannot be told from zero.
pub fn tick(a: &Point, b: &Point) -> i64 {
    a.ts_resolution_ns.max(b.ts_resolution_ns) as i64
}

/// The fields natcorr reads from one echo request or reply, TCP segment or UDP datagram, as the
/// decoder found them in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub proto: Protocol,
    pub dir: Direction,
    pub src: Addr,
    pub dst: Addr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (IPv6: fragment identification or 0).
    pub ip_id: u32,
    /// The echo identifier (0 for TCP and UDP).
    pub icmp_id: u16,
    /// The echo sequence number. TCP and UDP: the packet's number in its connection and
    /// direction (1, 2, …, in the order first seen), given once the packets are matched.
    pub seq: u16,
    /// The IP payload's length (ICMP message, TCP segment or UDP datagram with its header) as
    /// the IP header states it (not what the snaplen kept): 16 bits in IPv4 and IPv6 alike.
    pub icmp_len: u16,
    /// The transport header's length: 8 for an echo or UDP, TCP's data offset.
    pub header_len: u8,
    /// TCP/UDP source and destination ports (0 for ICMP).
    pub sport: u16,
    pub dport: u16,
    /// TCP sequence and acknowledgement numbers, flags (the low byte: FIN 0x01, SYN 0x02,
    /// RST 0x04, PSH 0x08, ACK 0x10) and window; 0 for UDP and ICMP.
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_flags: u8,
    pub tcp_window: u16,
    /// The first payload bytes captured (after the echo, TCP or UDP header) and how many there were.
    pub prefix: [u8; PREFIX_LEN],
    pub prefix_len: u8,
    /// Digest of all captured payload bytes (`decode::digest`), with their count (at most the
    /// IP payload's 16-bit length; a larger capture, an IPv6 jumbogram, counts 65535).
    pub digest: Digest,
    pub digest_len: u16,
    /// The first fragment of a fragmented datagram.
    pub fragmented: bool,
    /// Fragments of this packet's datagram seen at its point (0: not fragmented), counted by
    /// the reader once the fragments are in (here, not in [`Observation`], so that an
    /// observation takes 88 bytes, not 96).
    pub fragments: u16,
}

/// A payload digest (`decode::digest`), held as two 32-bit halves so that a packet aligns to 4
/// bytes (an observation is then 88 bytes, not 96). Compares and orders as the `u64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u32; 2]);

impl Digest {
    pub const fn new(v: u64) -> Digest {
        Digest([(v >> 32) as u32, v as u32])
    }

    pub const fn get(self) -> u64 {
        ((self.0[0] as u64) << 32) | self.0[1] as u64
    }
}

/// One echo request or reply seen at one capture point: the decoded packet, where and when.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub point: PointId,
    pub ts_ns: i64,
    /// 1-based record number in its file, to point a person at the packet.
    pub record: u64,
    pub packet: Packet,
}

/// An observation reads as its packet: `o.src`, `o.seq`.
impl std::ops::Deref for Observation {
    type Target = Packet;
    fn deref(&self) -> &Packet {
        &self.packet
    }
}

impl std::ops::DerefMut for Observation {
    fn deref_mut(&mut self) -> &mut Packet {
        &mut self.packet
    }
}

/// Payload bytes kept verbatim per observation: enough for ping's timestamp.
pub const PREFIX_LEN: usize = 16;

/// TCP flag bits (the low byte of the flags field).
pub mod tcp_flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

impl Packet {
    /// A packet of `proto` from `src` to `dst` with every other field empty: no ports, no TCP
    /// fields, an 8-byte transport header, no payload.
    pub fn blank(proto: Protocol, dir: Direction, src: IpAddr, dst: IpAddr) -> Packet {
        Packet {
            proto,
            dir,
            src: src.into(),
            dst: dst.into(),
            ttl: 0,
            ip_id: 0,
            icmp_id: 0,
            seq: 0,
            icmp_len: 0,
            header_len: 8,
            sport: 0,
            dport: 0,
            tcp_seq: 0,
            tcp_ack: 0,
            tcp_flags: 0,
            tcp_window: 0,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            digest: Digest::default(),
            digest_len: 0,
            fragmented: false,
            fragments: 0,
        }
    }

    /// The flow this packet belongs to as seen at its point, oriented from the echo's initiator.
    pub fn initiator_side(&self) -> (Addr, Addr) {
        match self.dir {
            Direction::Request => (self.src, self.dst),
            Direction::Reply => (self.dst, self.src),
        }
    }

    /// The initiator's port and the responder's (0, 0 for ICMP).
    pub fn initiator_ports(&self) -> (u16, u16) {
        match self.dir {
            Direction::Request => (self.sport, self.dport),
            Direction::Reply => (self.dport, self.sport),
        }
    }

    /// What identifies the packet's flow at its point besides the addresses: the echo
    /// identifier, or the initiator's and the responder's ports.
    pub fn flow_ids(&self) -> (u16, u16, u16) {
        let (a, b) = self.initiator_ports();
        (self.icmp_id, a, b)
    }

    pub fn has_flags(&self, flags: u8) -> bool {
        self.proto == Protocol::Tcp && self.tcp_flags & flags == flags
    }

    /// A TCP SYN without ACK: a connection's first packet.
    pub fn is_syn(&self) -> bool {
        self.has_flags(tcp_flag::SYN) && !self.has_flags(tcp_flag::ACK)
    }

    /// The word an ICMP error's quote carries that NAT does not change: the echo sequence
    /// number or the TCP sequence number (UDP: none).
    pub fn quote_word(&self) -> u32 {
        match self.proto {
            Protocol::Icmp => u32::from(self.seq),
            Protocol::Tcp => self.tcp_seq,
            Protocol::Udp => 0,
        }
    }

    /// Payload bytes sent (after the transport header), whatever the snaplen kept.
    pub fn payload_len(&self) -> u32 {
        u32::from(self.icmp_len).saturating_sub(u32::from(self.header_len))
    }

    /// TCP: the bytes of sequence space this segment takes (payload, plus one each for SYN
    /// and FIN): the acknowledgement that answers it is `tcp_seq` plus this.
    pub fn seq_space(&self) -> u32 {
        let syn_fin = u32::from(self.tcp_flags & tcp_flag::SYN != 0)
            + u32::from(self.tcp_flags & tcp_flag::FIN != 0);
        self.payload_len() + syn_fin
    }

    /// True when the two payloads can be the same packet's: the captured bytes agree where both have them.
    pub fn payload_compatible(&self, other: &Packet) -> bool {
        let n = self.prefix_len.min(other.prefix_len) as usize;
        if self.prefix[..n] != other.prefix[..n] {
            return false;
        }
        if self.digest_len == other.digest_len {
            return self.digest == other.digest;
        }
        true
    }
}

/// Which ICMP error (v4 or v6) came back for an echo request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    TimeExceeded,
    Unreachable,
    PacketTooBig,
    ParameterProblem,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::TimeExceeded => "time exceeded",
            ErrorKind::Unreachable => "destination unreachable",
            ErrorKind::PacketTooBig => "packet too big",
            ErrorKind::ParameterProblem => "parameter problem",
        })
    }
}

/// The echo request, TCP segment or UDP datagram an ICMP error quotes, as the error carries it
/// at the point it was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedEcho {
    pub proto: Protocol,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u16,
    /// The echo sequence number (0 for TCP/UDP).
    pub seq: u16,
    pub sport: u16,
    pub dport: u16,
    /// [`Packet::quote_word`] of the quoted packet.
    pub word: u32,
    pub icmp_len: u16,
    pub prefix: [u8; PREFIX_LEN],
    pub prefix_len: u8,
}

/// One ICMP error about an echo request, seen at one capture point.
#[derive(Clone, Copy, Debug)]
pub struct ErrorObservation {
    pub point: PointId,
    pub ts_ns: i64,
    pub kind: ErrorKind,
    pub code: u8,
    /// The error's source: the router or host that sent it.
    pub reporter: IpAddr,
    pub quoted: QuotedEcho,
    pub record: u64,
}

/// An ICMP error a flow's request drew, and where it was seen.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorFinding {
    pub kind: ErrorKind,
    pub code: u8,
    #[serde(serialize_with = "ip_text")]
    pub reporter: IpAddr,
    /// Sequence number of the request it answers.
    pub seq: u16,
    /// TTL (hop limit) of that request where the path starts: the probe's TTL in a traceroute.
    pub probe_ttl: Option<u8>,
    /// Points the error was seen at, in path order.
    pub points: Vec<Name>,
    pub first_ns: i64,
}

/// A TCP reset of a flow: who it claims to come from, and the points that saw it. Serialized
/// as `dir`, `points`, `sent_by` (the sentence [`SentBy`] displays) and `first_ns`.
#[derive(Clone, Debug)]
pub struct ResetFinding {
    /// `request`: from the initiator's side; `reply`: from the responder's side.
    pub dir: Direction,
    /// Where it was seen and what sent it, shared by the flow's resets seen at the same points
    /// (a storm of resets, from a scan or a firewall refusing a flood, makes one finding each).
    pub place: std::sync::Arc<ResetPlace>,
    pub first_ns: i64,
}

/// The points that saw a reset, in the order it crossed them, and what sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPlace {
    pub points: Vec<Name>,
    pub sent_by: SentBy,
}

impl ResetFinding {
    pub fn points(&self) -> &[Name] {
        &self.place.points
    }
    pub fn sent_by(&self) -> &SentBy {
        &self.place.sent_by
    }
}

impl Serialize for ResetFinding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut r = s.serialize_struct("ResetFinding", 4)?;
        r.serialize_field("dir", &self.dir)?;
        r.serialize_field("points", &self.place.points)?;
        r.serialize_field("sent_by", &format_args!("{}", self.place.sent_by))?;
        r.serialize_field("first_ns", &self.first_ns)?;
        r.end()
    }
}

/// What sent a TCP reset, as far as the points tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SentBy {
    /// The path's last point saw a reply-direction reset first: "the responder's side (beyond X)".
    Responder { beyond: Name },
    /// The path's first point saw a request-direction reset first: "the initiator's side
    /// (before X)".
    Initiator { before: Name },
    /// Seen first inside the path: "something between X and Y" (a middlebox or NAT sent it in
    /// the other's name).
    Between(Name, Name),
}

impl fmt::Display for SentBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SentBy::Responder { beyond } => write!(f, "the responder's side (beyond {beyond})"),
            SentBy::Initiator { before } => write!(f, "the initiator's side (before {before})"),
            SentBy::Between(a, b) => write!(f, "something between {a} and {b}"),
        }
    }
}

/// What a translation rewrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TranslationKind {
    /// Source address changed (SNAT, MASQUERADE).
    Snat,
    /// Destination address changed (DNAT, floating IP).
    Dnat,
    /// ICMP identifier changed (conntrack's id remap, the ICMP "port").
    Id,
    /// The initiator's (source) port changed: SNAT's port rewrite.
    Sport,
    /// The responder's (destination) port changed: DNAT to another port.
    Dport,
}

impl fmt::Display for TranslationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TranslationKind::Snat => "SNAT",
            TranslationKind::Dnat => "DNAT",
            TranslationKind::Id => "ID",
            TranslationKind::Sport => "SPORT",
            TranslationKind::Dport => "DPORT",
        })
    }
}

/// A value a translation rewrites: an address or an ICMP identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Addr(IpAddr),
    Id(u16),
    Port(u16),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Addr(a) => a.fmt(f),
            Value::Id(i) | Value::Port(i) => i.fmt(f),
        }
    }
}

/// What a hop changed in one packet: the one definition every stage and report uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    pub kind: TranslationKind,
    pub before: Value,
    pub after: Value,
}

impl Packet {
    /// What changed from this packet (earlier point) to `later`, the same packet further on.
    pub fn changes(&self, later: &Packet) -> impl Iterator<Item = Change> {
        let addr = |kind, x: Addr, y: Addr| {
            (x != y).then(|| Change {
                kind,
                before: Value::Addr(x.ip()),
                after: Value::Addr(y.ip()),
            })
        };
        let id = (self.icmp_id != later.icmp_id).then_some(Change {
            kind: TranslationKind::Id,
            before: Value::Id(self.icmp_id),
            after: Value::Id(later.icmp_id),
        });
        let port = |kind, x: u16, y: u16| {
            (x != y).then_some(Change {
                kind,
                before: Value::Port(x),
                after: Value::Port(y),
            })
        };
        [
            addr(TranslationKind::Snat, self.src, later.src),
            addr(TranslationKind::Dnat, self.dst, later.dst),
            id,
            port(TranslationKind::Sport, self.sport, later.sport),
            port(TranslationKind::Dport, self.dport, later.dport),
        ]
        .into_iter()
        .flatten()
    }

    /// The value a translation of `kind` acts on in this packet, on the request's side: a
    /// request's source for SNAT, a reply's destination.
    pub fn translated(&self, kind: TranslationKind) -> Value {
        let (src, dst) = self.initiator_side();
        match kind {
            TranslationKind::Snat => Value::Addr(src.ip()),
            TranslationKind::Dnat => Value::Addr(dst.ip()),
            TranslationKind::Id => Value::Id(self.icmp_id),
            TranslationKind::Sport => Value::Port(self.initiator_ports().0),
            TranslationKind::Dport => Value::Port(self.initiator_ports().1),
        }
    }
}

/// One value a hop rewrote, in the request direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Translation {
    pub kind: TranslationKind,
    /// The value at the hop's near end and at its far end (written as text: an address, an
    /// identifier or a port).
    #[serde(serialize_with = "value_text")]
    pub before: Value,
    #[serde(serialize_with = "value_text")]
    pub after: Value,
    /// Requests seen at both ends of the hop that carry this change.
    pub packets: u64,
    /// Requests seen at both ends of the hop.
    pub of: u64,
    /// Replies seen at both ends of the hop, and how many of them were translated back.
    pub replies: u64,
    pub replies_reversed: u64,
    /// Of those replies, how many reached the far end without `after` (SNAT: not addressed to
    /// it): they did not come back to this translation, so this hop had nothing to undo; a hop
    /// nearer the responder left its own translation in place.
    pub replies_misaddressed: u64,
}

/// count/min/median/p95/max of a set of nanosecond durations. Never empty (no values: `None`),
/// so an `Option<Stats>` takes no more room than the statistics: a flow holds about ten.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub count: std::num::NonZeroU64,
    pub min: i64,
    pub median: i64,
    pub p95: i64,
    pub max: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub request: Option<Stats>,
    pub reply: Option<Stats>,
}

#[derive(Clone, Debug, Default)]
pub struct Lost {
    /// Counts are `u32`, as a path point's are (a flow holds one of these per hop).
    pub request: u32,
    pub reply: u32,
    /// Fragments of packets seen at both ends that did not reach the far end (requests: `to`,
    /// replies: `from`).
    pub fragments: u32,
    /// Packets missing at the far end at a moment its capture was not demonstrably running
    /// (before its first or after its last packet): maybe lost, maybe only not captured; not
    /// counted in `request`/`reply`.
    pub request_unverified: u32,
    pub reply_unverified: u32,
    /// Sequence numbers of the lost packets, in the order sent (at most [`MAX_LOST_SEQS`] each;
    /// requests, replies): out of line, as most hops lose nothing. Read with
    /// [`Lost::request_seqs`] and [`Lost::reply_seqs`].
    seqs: Option<Box<[Vec<u16>; 2]>>,
}

/// The JSON keeps the order the fields had when the lists were inline.
impl Serialize for Lost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Lost", 7)?;
        st.serialize_field("request", &self.request)?;
        st.serialize_field("reply", &self.reply)?;
        st.serialize_field("fragments", &self.fragments)?;
        st.serialize_field("request_seqs", self.request_seqs())?;
        st.serialize_field("reply_seqs", self.reply_seqs())?;
        st.serialize_field("request_unverified", &self.request_unverified)?;
        st.serialize_field("reply_unverified", &self.reply_unverified)?;
        st.end()
    }
}

/// Sequence numbers of lost packets listed per hop and direction; the counts are always complete.
pub const MAX_LOST_SEQS: usize = 100;

impl Lost {
    /// Sequence numbers of the lost requests, in the order sent (at most [`MAX_LOST_SEQS`]).
    pub fn request_seqs(&self) -> &[u16] {
        self.seqs.as_ref().map_or(&[], |s| &s[0])
    }

    /// Sequence numbers of the lost replies, in the order sent (at most [`MAX_LOST_SEQS`]).
    pub fn reply_seqs(&self) -> &[u16] {
        self.seqs.as_ref().map_or(&[], |s| &s[1])
    }

    /// The lost sequence numbers of `dir`.
    pub fn seqs(&self, dir: Direction) -> &[u16] {
        match dir {
            Direction::Request => self.request_seqs(),
            Direction::Reply => self.reply_seqs(),
        }
    }

    /// Counts a lost packet of `dir` and lists its sequence number while the list has room.
    pub fn add(&mut self, dir: Direction, seq: u16) {
        let (count, i) = match dir {
            Direction::Request => (&mut self.request, 0),
            Direction::Reply => (&mut self.reply, 1),
        };
        *count += 1;
        let seqs = &mut self.seqs.get_or_insert_with(Default::default)[i];
        if seqs.len() < MAX_LOST_SEQS {
            seqs.push(seq);
        }
    }

    /// Counts a packet of `dir` missing where the capture may not have been running.
    pub fn add_unverified(&mut self, dir: Direction) {
        match dir {
            Direction::Request => self.request_unverified += 1,
            Direction::Reply => self.reply_unverified += 1,
        }
    }

    /// Counts a missing packet: lost when the far capture was running, else unverified.
    pub fn missing(&mut self, dir: Direction, seq: u16, capture_running: bool) {
        if capture_running {
            self.add(dir, seq);
        } else {
            self.add_unverified(dir);
        }
    }
}

/// Two consecutive points of a flow's path (request direction) and what happened between them.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub from: Name,
    pub to: Name,
    pub translations: Vec<Translation>,
    /// Median request TTL at `from` minus at `to`: 0 on one link, 1 per routed hop.
    pub ttl_delta: Option<i32>,
    pub latency_ns: Latency,
    pub lost: Lost,
}

/// How a flow's points were tied together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Matched {
    /// The same packets were found at several points.
    Packet,
    /// No packet was seen at two points (captures taken one at a time): matched by destination.
    Flow,
}

/// The flow's identity where the path starts.
#[derive(Clone, Debug, Serialize)]
pub struct Origin {
    pub point: Name,
    pub protocol: Protocol,
    #[serde(serialize_with = "ip_text")]
    pub src: IpAddr,
    #[serde(serialize_with = "ip_text")]
    pub dst: IpAddr,
    /// The echo identifier (0 for TCP and UDP).
    pub id: u16,
    /// The initiator's and the responder's port (TCP, UDP; `None` for ICMP).
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// What one point saw of a flow.
#[derive(Clone, Debug, Serialize)]
pub struct PathPoint {
    pub point: Name,
    /// The flow's addresses here; `None` (written `""`) at a point the flow never reached, added
    /// to show where its packets were lost. Held as [`Addr`] (a third of an `IpAddr`'s room).
    #[serde(serialize_with = "addr_or_empty")]
    pub src: Option<Addr>,
    #[serde(serialize_with = "addr_or_empty")]
    pub dst: Option<Addr>,
    /// The echo identifiers seen here (empty for TCP and UDP); held in place up to four, without
    /// an allocation per point of every flow.
    pub ids: PointIds,
    /// The initiator's and the responder's port here (TCP, UDP; `None` for ICMP).
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub ttl: Option<u8>,
    /// Counts per point are `u32` (a flow holds one of these per point: room counts): four
    /// billion packets of one flow at one point would take far more memory than a budget allows.
    pub requests: u32,
    pub replies: u32,
    /// Round-trip time seen at this point: an echo request to its reply; TCP: a segment to
    /// the first acknowledgement of it; UDP: a datagram to the next one back.
    pub rtt_ns: Option<Stats>,
    pub first_ns: Option<i64>,
    /// TCP: SYN to SYN-ACK at this point (the first handshake seen).
    pub handshake_ns: Option<i64>,
    /// TCP: segments seen again at this point, later (a retransmission), both directions.
    pub retransmissions: u32,
    /// TCP: RST segments seen at this point.
    pub resets: u32,
}

/// A path point's echo identifiers: nearly always one.
pub type PointIds = smallvec::SmallVec<[u16; 4]>;

/// An address as text, `""` for none.
pub fn addr_text(a: Option<IpAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

/// A translated value as its text: an address as [`ip_text`] writes it, an id or port as its number.
fn value_text<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Value::Addr(a) => ip_text(a, s),
        Value::Id(_) | Value::Port(_) => s.collect_str(v),
    }
}

fn addr_or_empty<S: serde::Serializer>(a: &Option<Addr>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        Some(a) => ip_text(&a.ip(), s),
        None => s.serialize_str(""),
    }
}

/// An address as its text, as `Display` writes it: IPv4 put together digit by digit (the JSON
/// of 100,000 flows writes well over a million addresses, and `Display` through the formatter
/// took about 5% of the run), IPv6 by `Display`.
fn ip_text<S: serde::Serializer>(ip: &IpAddr, s: S) -> Result<S::Ok, S::Error> {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    buf[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    buf[n] = b'0' + o / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + o % 10;
                n += 1;
            }
            // Digits and dots: always UTF-8.
            s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
        }
        IpAddr::V6(v6) => s.collect_str(v6),
    }
}

/// One echo flow (one pinging host, one destination, one identifier at its origin) across the points.
#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    pub origin: Origin,
    /// Point names in the request direction.
    pub path: Vec<Name>,
    pub points: Vec<PathPoint>,
    /// Distinct request packets (journeys) and reply packets seen anywhere.
    pub requests: u64,
    pub replies: u64,
    pub matched: Matched,
    pub hops: Vec<Hop>,
    /// ICMP errors the flow's requests drew (time exceeded, unreachable, packet too big).
    pub errors: Vec<ErrorFinding>,
    /// TCP: each RST, where it was first seen and what sent it as far as the points tell.
    pub resets: Vec<ResetFinding>,
    /// Things about this flow a person should know (ambiguous order, clock doubts).
    pub notes: Vec<String>,
}

/// Flows with one path and the same kinds of translation on the same hops: how the table,
/// Mermaid and HTML group many flows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowGroup {
    pub path: Vec<Name>,
    /// (kind, from, to) per hop, each kind once per hop.
    pub translations: Vec<(TranslationKind, Name, Name)>,
}

impl Flow {
    pub fn group(&self) -> FlowGroup {
        let mut translations = Vec::new();
        for h in &self.hops {
            let mut kinds: Vec<TranslationKind> = h.translations.iter().map(|t| t.kind).collect();
            kinds.dedup();
            translations.extend(kinds.into_iter().map(|k| (k, h.from.clone(), h.to.clone())));
        }
        FlowGroup {
            path: self.path.clone(),
            translations,
        }
    }
}

/// A translation summed over flows: "SNAT a → b between X and Y".
#[derive(Clone, Debug, Serialize)]
pub struct NatFinding {
    pub kind: TranslationKind,
    pub from: Name,
    pub to: Name,
    #[serde(serialize_with = "value_text")]
    pub before: Value,
    #[serde(serialize_with = "value_text")]
    pub after: Value,
    pub flows: u64,
    pub packets: u64,
    pub of: u64,
    pub replies: u64,
    pub replies_reversed: u64,
    /// Replies that reached `to` without `after` (see [`Translation::replies_misaddressed`]).
    pub replies_misaddressed: u64,
    /// True when replies were seen at both points and every one had the translation undone.
    pub reply_reversed: bool,
    pub matched: Matched,
    /// The protocols of the flows it was seen on, in the order [`Protocol::ALL`] lists them.
    pub protocols: Vec<Protocol>,
    /// The rule that made this translation (`--rules`); `None` without rules or when none did.
    /// Boxed, like `explanation`: most findings have neither, and 100,000 findings (one per
    /// source host behind an SNAT) would carry 300 empty bytes each.
    pub explained_by: Option<Box<RuleCitation>>,
    /// What the rules say of it (`None` without `--rules`).
    pub explanation: Option<Box<RuleExplanation>>,
    /// `--rules`: the raw-table rule (NOTRACK) that kept replies which came back to this
    /// translation out of connection tracking, so it was not undone; `None` when no rule did.
    pub replies_untracked_by: Option<Box<RuleCitation>>,
}

/// A nat rule (or chain policy), or a raw-table NOTRACK, quoted from a dump given with `--rules`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RuleCitation {
    /// The namespace: the part of the dump's file name before the first dot.
    pub namespace: String,
    pub file: String,
    /// 1-based line in a text dump; `None` for `nft -j` JSON, which names the rule by handle.
    pub line: Option<usize>,
    pub handle: Option<u64>,
    pub chain: String,
    /// The rule as written (nft syntax for JSON dumps).
    pub rule: String,
}

/// `FILE line N: RULE` (`handle N` for an `nft -j` rule), as the rules' sentences quote it.
impl fmt::Display for RuleCitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.handle) {
            (Some(l), _) => write!(f, "{} line {l}: {}", self.file, self.rule),
            (None, Some(h)) => write!(f, "{} handle {h}: {}", self.file, self.rule),
            (None, None) => write!(f, "{}: {}", self.file, self.rule),
        }
    }
}

/// How the rules account for what the packets show on one hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleVerdict {
    /// A rule makes exactly the change seen (or no rule translates and nothing changed).
    Explained,
    /// A rule matched but translates to something else than the packets show.
    Contradicted,
    /// A rule should have translated, the packets show no change.
    MissingTranslation,
    /// No rule makes the change, or no rules are known for the hop.
    Unexplained,
    /// Evaluation reached a match or target natcorr does not evaluate.
    Unevaluable,
}

/// The rules' account of one translation or hop: the verdict, the rule it rests on, and the
/// sentence saying both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleExplanation {
    pub verdict: RuleVerdict,
    pub rule: Option<RuleCitation>,
    pub text: String,
    /// Flows whose packets on this hop got this verdict, and flows checked.
    pub flows: u64,
    pub of: u64,
}

/// A hop where the rules and the packets disagree (or the rules cannot be evaluated), found by
/// `--rules`: contradictions of a translation seen, and translations a rule should have made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleProblem {
    pub from: Name,
    pub to: Name,
    #[serde(flatten)]
    pub explanation: RuleExplanation,
}

/// What makes translations one NAT finding: kind, hop (from, to), before and after. The one
/// definition: findings are summed by it, and rules and reports look findings up by it.
pub type NatKey<'a> = (TranslationKind, &'a str, &'a str, Value, Value);

impl NatFinding {
    pub fn key(&self) -> NatKey<'_> {
        (self.kind, &self.from, &self.to, self.before, self.after)
    }
}

impl Translation {
    /// The key of the finding this translation on `hop` adds to.
    pub fn key<'a>(&'a self, hop: &'a Hop) -> NatKey<'a> {
        (self.kind, &hop.from, &hop.to, self.before, self.after)
    }
}

impl fmt::Display for NatFinding {
    /// A translation in a few words: "SNAT a → b between X and Y".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {} between {} and {}",
            self.kind, self.before, self.after, self.from, self.to
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// A problem with an input: which file, where in it, why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}: {}", self.file)?;
        if let Some(r) = self.record {
            write!(f, ": record {r}")?;
        }
        if let Some(o) = self.offset {
            write!(f, " (byte {o})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A capture point's clock offset from the reference clock (positive: its clock is ahead).
#[derive(Clone, Debug, Serialize)]
pub struct ClockOffset {
    pub point: String,
    pub offset_ns: i64,
    /// Echo exchanges seen at both ends the estimate rests on (0 when given).
    pub pairs: u64,
    pub source: OffsetSource,
}

/// Where a clock offset came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetSource {
    /// Estimated from the packets.
    Estimated,
    /// Given with --clock-offset.
    Given,
}

impl fmt::Display for OffsetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffsetSource::Estimated => "estimated",
            OffsetSource::Given => "given",
        })
    }
}

/// What an `--expect` rule came to.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub rule: String,
    pub passed: bool,
    /// What was found: the evidence when it passed, what was there instead when it failed.
    pub found: String,
}

/// Everything natcorr concluded: what every report renders.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// Version of this JSON shape; see the README's changelog.
    pub schema_version: u32,
    pub points: Vec<Point>,
    pub flows: Vec<Flow>,
    pub nat: Vec<NatFinding>,
    /// Capture points whose clock was off and by how much; their timestamps were corrected.
    pub clock_offsets: Vec<ClockOffset>,
    /// `--expect` rules and what they came to (empty without rules).
    pub expectations: Vec<Verdict>,
    pub warnings: Vec<Diagnostic>,
    /// Namespaces whose dumps `--rules` loaded (empty without `--rules`).
    pub rule_namespaces: Vec<String>,
    /// Hops where the `--rules` dumps do not explain what the packets show: contradictions,
    /// translations a rule should have made, changes no rule makes (empty without `--rules`).
    pub rule_problems: Vec<RuleProblem>,
    /// Things the data left undecided, not tied to one file.
    pub notes: Vec<String>,
    /// One row per observation, when asked for (`--format csv|jsonl`); not part of the JSON.
    #[serde(skip)]
    pub packets: Vec<PacketRow>,
    /// How long each stage took (`--timings`); not part of the JSON.
    #[serde(skip)]
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

/// One observation with the flow and journey (packet) it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct PacketRow {
    pub observation: Observation,
    /// 1-based, as in the report's FLOW n.
    pub flow: u32,
    /// The same packet at every point has one journey number (unique in the output).
    pub journey: u64,
}

/// A row reads as its observation: `r.point`, `r.src`.
impl std::ops::Deref for PacketRow {
    type Target = Observation;
    fn deref(&self) -> &Observation {
        &self.observation
    }
}

/// The JSON output's `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

impl Analysis {
    /// True when some input could not be used at all.
    pub fn has_errors(&self) -> bool {
        self.warnings.iter().any(|d| d.severity == Severity::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let text = |ip: IpAddr| {
            let mut out = Vec::new();
            ip_text(&ip, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        let octets = [0u8, 1, 9, 10, 42, 99, 100, 101, 199, 200, 250, 255];
        for a in octets {
            for b in octets {
                let ip = IpAddr::from([a, b, 255 - a, b / 3]);
                assert_eq!(text(ip), format!("\"{ip}\""));
            }
        }
        let v6: IpAddr = "2001:db8::ff".parse().unwrap();
        assert_eq!(text(v6), "\"2001:db8::ff\"");
    }
}
