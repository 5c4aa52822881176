//! Tunnels that carry the echo inside: GRE (with key, sequence, ERSPAN), VXLAN and Geneve.
//! Headers are read smoltcp-style: length checked once, then named fields.

/// What a tunnel header leads to.
pub enum Inner<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
    None,
}

const ETH_BRIDGING: u16 = 0x6558;
const ERSPAN_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;
/// Cisco MetaData (SGT): 8 bytes, starting with the EtherType of what follows.
const CISCO_METADATA: u16 = 0x8909;

mod gre {
    pub const FLAGS: usize = 0;
    pub const PROTOCOL: std::ops::Range<usize> = 2..4;
    pub const BASE_LEN: usize = 4;
    pub const CHECKSUM_PRESENT: u8 = 0x80;
    pub const KEY_PRESENT: u8 = 0x20;
    pub const SEQ_PRESENT: u8 = 0x10;
}

/// The GRE payload (RFC 2784/2890; ERSPAN types II and III).
pub fn gre(p: &[u8]) -> Inner<'_> {
    if p.len() < gre::BASE_LEN {
        return Inner::None;
    }
    let flags = p[gre::FLAGS];
    let proto = u16::from_be_bytes([p[gre::PROTOCOL.start], p[gre::PROTOCOL.start + 1]]);
    let mut len = gre::BASE_LEN;
    for bit in [gre::CHECKSUM_PRESENT, gre::KEY_PRESENT, gre::SEQ_PRESENT] {
        if flags & bit != 0 {
            len += 4;
        }
    }
    let Some(rest) = p.get(len..) else {
        return Inner::None;
    };
    match proto {
        0x0800 | 0x86dd => Inner::Ip(rest),
        ETH_BRIDGING => Inner::Ethernet(rest),
        CISCO_METADATA => match rest.get(..2) {
            Some([0x08, 0x00]) | Some([0x86, 0xdd]) => rest.get(8..).map_or(Inner::None, Inner::Ip),
            _ => Inner::None,
        },
        // ERSPAN II has an 8-byte header; III 12 bytes plus an optional 8-byte subheader.
        ERSPAN_II => rest.get(8..).map_or(Inner::None, Inner::Ethernet),
        ERSPAN_III => {
            let Some(&b) = rest.get(11) else {
                return Inner::None;
            };
            let skip = if b & 0x01 != 0 { 20 } else { 12 };
            rest.get(skip..).map_or(Inner::None, Inner::Ethernet)
        }
        _ => Inner::None,
    }
}

mod udp {
    pub const DST_PORT: std::ops::Range<usize> = 2..4;
    pub const LEN: usize = 8;
}

pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;

/// The frame inside VXLAN (RFC 7348) or Geneve (RFC 8926), from a UDP datagram.
pub fn udp(p: &[u8]) -> Inner<'_> {
    if p.len() < udp::LEN + 8 {
        return Inner::None;
    }
    let port = u16::from_be_bytes([p[udp::DST_PORT.start], p[udp::DST_PORT.start + 1]]);
    let body = &p[udp::LEN..];
    match port {
        VXLAN_PORT => Inner::Ethernet(&body[8..]),
        GENEVE_PORT => {
            // Version/option length (4-byte words), flags, protocol type.
            let opt_len = usize::from(body[0] & 0x3f) * 4;
            let proto = u16::from_be_bytes([body[2], body[3]]);
            let Some(inner) = body.get(8 + opt_len..) else {
                return Inner::None;
            };
            match proto {
                ETH_BRIDGING => Inner::Ethernet(inner),
                0x0800 | 0x86dd => Inner::Ip(inner),
                _ => Inner::None,
            }
        }
        _ => Inner::None,
    }
}
