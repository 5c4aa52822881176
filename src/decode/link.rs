//! Link layers: how many bytes to peel off and what protocol follows, per LINKTYPE_.
//! Headers natcorr parses itself are read smoltcp-style: length checked once, fields by name.

/// The link layers natcorr understands, from a capture's LINKTYPE_ value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLayer {
    Ethernet,
    /// Linux cooked v1 (`tcpdump -i any`, libpcap < 1.10).
    LinuxSll,
    /// Linux cooked v2 (`tcpdump -i any`, libpcap ≥ 1.10): carries the interface index.
    LinuxSll2,
    /// IPv4 or IPv6, no link header (tun devices).
    RawIp,
    /// BSD loopback: a 4-byte address family in host (NULL) or network (LOOP) byte order.
    Null,
    Loop,
    Ppp,
    CiscoHdlc,
    FrameRelay,
    Ipnet,
    IpOverIb,
    Unsupported(u32),
}

impl LinkLayer {
    pub fn from_linktype(lt: u32) -> Self {
        match lt {
            1 => LinkLayer::Ethernet,
            113 => LinkLayer::LinuxSll,
            276 => LinkLayer::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkLayer::RawIp,
            0 => LinkLayer::Null,
            108 => LinkLayer::Loop,
            9 | 50 => LinkLayer::Ppp,
            104 => LinkLayer::CiscoHdlc,
            107 => LinkLayer::FrameRelay,
            226 => LinkLayer::Ipnet,
            242 => LinkLayer::IpOverIb,
            other => LinkLayer::Unsupported(other),
        }
    }
}

/// What is left of a frame once its link header is removed.
pub enum Stripped<'a> {
    /// An Ethernet frame, tags and all (etherparse slices it).
    Ethernet(&'a [u8]),
    /// A payload of the given EtherType, with the SLL2 interface index when there is one.
    Ether(Option<u32>, u16, &'a [u8]),
    /// An IP packet of either version.
    Ip(&'a [u8]),
    NotIp,
    Short(&'static str),
    Unsupported,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

mod sll {
    pub const PROTOCOL: std::ops::Range<usize> = 14..16;
    pub const LEN: usize = 16;
}

mod sll2 {
    pub const PROTOCOL: std::ops::Range<usize> = 0..2;
    pub const IFINDEX: std::ops::Range<usize> = 4..8;
    pub const LEN: usize = 20;
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// BSD address families for IPv4 and the several values BSDs use for IPv6.
fn af_to_ethertype(af: u32) -> Option<u16> {
    match af {
        2 => Some(ETHERTYPE_IPV4),
        10 | 24 | 28 | 30 => Some(ETHERTYPE_IPV6),
        _ => None,
    }
}

pub fn strip(link: LinkLayer, d: &[u8]) -> Stripped<'_> {
    match link {
        LinkLayer::Ethernet => Stripped::Ethernet(d),
        LinkLayer::LinuxSll => {
            if d.len() < sll::LEN {
                return Stripped::Short("Linux SLL");
            }
            Stripped::Ether(None, be16(&d[sll::PROTOCOL]), &d[sll::LEN..])
        }
        LinkLayer::LinuxSll2 => {
            if d.len() < sll2::LEN {
                return Stripped::Short("Linux SLL2");
            }
            let i = &d[sll2::IFINDEX];
            let ifindex = u32::from_be_bytes([i[0], i[1], i[2], i[3]]);
            Stripped::Ether(Some(ifindex), be16(&d[sll2::PROTOCOL]), &d[sll2::LEN..])
        }
        LinkLayer::RawIp => Stripped::Ip(d),
        LinkLayer::Null | LinkLayer::Loop => {
            if d.len() < 4 {
                return Stripped::Short("loopback");
            }
            let b = [d[0], d[1], d[2], d[3]];
            // NULL is in the writer's byte order, which the file does not say: try both.
            let af = if link == LinkLayer::Loop {
                u32::from_be_bytes(b)
            } else if u32::from_le_bytes(b) < 0x100 {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            match af_to_ethertype(af) {
                Some(et) => Stripped::Ether(None, et, &d[4..]),
                None => Stripped::NotIp,
            }
        }
        LinkLayer::Ppp => {
            // Address/control bytes 0xff 0x03 are optional.
            let d = if d.len() >= 2 && d[0] == 0xff && d[1] == 0x03 {
                &d[2..]
            } else {
                d
            };
            if d.len() < 2 {
                return Stripped::Short("PPP");
            }
            match be16(d) {
                0x0021 => Stripped::Ether(None, ETHERTYPE_IPV4, &d[2..]),
                0x0057 => Stripped::Ether(None, ETHERTYPE_IPV6, &d[2..]),
                _ => Stripped::NotIp,
            }
        }
        LinkLayer::CiscoHdlc => {
            if d.len() < 4 {
                return Stripped::Short("Cisco HDLC");
            }
            Stripped::Ether(None, be16(&d[2..4]), &d[4..])
        }
        LinkLayer::FrameRelay => {
            // Q.922 address (2 bytes), then either Cisco's EtherType or UI control 0x03 and an NLPID.
            if d.len() < 4 {
                return Stripped::Short("Frame Relay");
            }
            match (d[2], d[3]) {
                (0x03, 0xcc) => Stripped::Ether(None, ETHERTYPE_IPV4, &d[4..]),
                (0x03, 0x8e) => Stripped::Ether(None, ETHERTYPE_IPV6, &d[4..]),
                _ => match be16(&d[2..4]) {
                    et @ (ETHERTYPE_IPV4 | ETHERTYPE_IPV6) => Stripped::Ether(None, et, &d[4..]),
                    _ => Stripped::NotIp,
                },
            }
        }
        LinkLayer::Ipnet => {
            // Solaris ipnet: 24-byte header, address family at byte 1 (2 = IPv4, 26 = IPv6).
            if d.len() < 24 {
                return Stripped::Short("IPNET");
            }
            match d[1] {
                2 => Stripped::Ether(None, ETHERTYPE_IPV4, &d[24..]),
                26 => Stripped::Ether(None, ETHERTYPE_IPV6, &d[24..]),
                _ => Stripped::NotIp,
            }
        }
        LinkLayer::IpOverIb => {
            // 20-byte destination and source hardware addresses, EtherType, 2 reserved bytes.
            if d.len() < 44 {
                return Stripped::Short("IPoIB");
            }
            Stripped::Ether(None, be16(&d[40..42]), &d[44..])
        }
        LinkLayer::Unsupported(_) => Stripped::Unsupported,
    }
}
