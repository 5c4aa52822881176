//! The hot path: most frames of a busy capture are TCP, UDP or ARP. A few byte reads decide that
//! a frame cannot hold an ICMP echo, an ICMP error or a tunnel that could; only the rest are
//! sliced properly. When in doubt (short frames, extension headers, fragments) it says yes.

use super::tunnel::{GENEVE_PORT, VXLAN_PORT};
use crate::model::{Protocol, Protocols};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const VLAN_TAGS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const MAX_TAGS: usize = 2;

/// IP protocol numbers that are, or may carry, ICMP: ICMP, IPv4/IPv6-in-IP, GRE, ICMPv6 and the
/// IPv6 extension headers (hop-by-hop, routing, fragment, ESP-less auth, destination options);
/// and TCP when it is analysed.
fn interesting_protocol(p: u8, protocols: Protocols) -> bool {
    matches!(p, 1 | 4 | 41 | 47 | 58 | 0 | 43 | 44 | 51 | 60)
        || (p == 6 && protocols.contains(Protocol::Tcp))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// UDP to the VXLAN or Geneve port, starting at `udp` (any UDP when UDP is analysed).
fn tunnel_port(d: &[u8], udp: usize, protocols: Protocols) -> bool {
    protocols.contains(Protocol::Udp)
        || matches!(be16(d, udp + 2), Some(VXLAN_PORT | GENEVE_PORT) | None)
}

/// False when the Ethernet frame cannot hold a packet of `protocols`, an ICMP error or a tunnel.
pub fn ethernet_may_carry(d: &[u8], protocols: Protocols) -> bool {
    let mut at = 12;
    let mut ethertype = match be16(d, at) {
        Some(t) => t,
        None => return true,
    };
    for _ in 0..MAX_TAGS {
        if !VLAN_TAGS.contains(&ethertype) {
            break;
        }
        at += 4;
        ethertype = match be16(d, at) {
            Some(t) => t,
            None => return true,
        };
    }
    let ip = at + 2;
    match ethertype {
        ETHERTYPE_IPV4 => {
            let (Some(&vihl), Some(&proto)) = (d.get(ip), d.get(ip + 9)) else {
                return true;
            };
            match proto {
                17 => tunnel_port(d, ip + usize::from(vihl & 0x0f) * 4, protocols),
                p => interesting_protocol(p, protocols),
            }
        }
        ETHERTYPE_IPV6 => match d.get(ip + 6) {
            Some(17) => tunnel_port(d, ip + 40, protocols),
            Some(&p) => interesting_protocol(p, protocols),
            None => true,
        },
        t if VLAN_TAGS.contains(&t) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tags: &[u16], ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0; 12];
        for &t in tags {
            f.extend(t.to_be_bytes());
            f.extend([0, 106]);
        }
        f.extend(ethertype.to_be_bytes());
        f.extend(ip);
        f
    }

    fn v4(proto: u8, dport: u16) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        ip.extend([0x30, 0x39]);
        ip.extend(dport.to_be_bytes());
        ip
    }

    fn ethernet_may_carry_echo(d: &[u8]) -> bool {
        ethernet_may_carry(d, Protocols::of(&[Protocol::Icmp]))
    }

    #[test]
    fn keeps_tcp_and_udp_when_they_are_analysed() {
        let all = Protocols::ALL;
        assert!(ethernet_may_carry(&frame(&[], 0x0800, &v4(6, 443)), all));
        assert!(ethernet_may_carry(&frame(&[], 0x0800, &v4(17, 53)), all));
        let tcp = Protocols::of(&[Protocol::Tcp]);
        assert!(ethernet_may_carry(&frame(&[], 0x0800, &v4(6, 443)), tcp));
        assert!(!ethernet_may_carry(&frame(&[], 0x0800, &v4(17, 53)), tcp));
        assert!(!ethernet_may_carry(&frame(&[], 0x0806, &[0; 28]), all));
    }

    #[test]
    fn skips_plain_traffic_keeps_what_may_hold_an_echo() {
        assert!(!ethernet_may_carry_echo(&frame(&[], 0x0800, &v4(6, 443))));
        assert!(!ethernet_may_carry_echo(&frame(&[], 0x0800, &v4(17, 53))));
        assert!(!ethernet_may_carry_echo(&frame(&[], 0x0806, &[0; 28])));
        assert!(ethernet_may_carry_echo(&frame(&[], 0x0800, &v4(1, 0))));
        assert!(ethernet_may_carry_echo(&frame(
            &[0x8100],
            0x0800,
            &v4(1, 0)
        )));
        assert!(ethernet_may_carry_echo(&frame(
            &[0x88a8, 0x8100],
            0x0800,
            &v4(47, 0)
        )));
        assert!(!ethernet_may_carry_echo(&frame(
            &[0x8100],
            0x0800,
            &v4(6, 80)
        )));
        assert!(ethernet_may_carry_echo(&frame(
            &[],
            0x0800,
            &v4(17, VXLAN_PORT)
        )));
        assert!(ethernet_may_carry_echo(&frame(
            &[],
            0x0800,
            &v4(17, GENEVE_PORT)
        )));
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        v6.extend([0; 32]);
        assert!(ethernet_may_carry_echo(&frame(&[], 0x86dd, &v6)));
        v6[6] = 6;
        assert!(!ethernet_may_carry_echo(&frame(&[], 0x86dd, &v6)));
        v6[6] = 44;
        assert!(
            ethernet_may_carry_echo(&frame(&[], 0x86dd, &v6)),
            "fragment header"
        );
        assert!(ethernet_may_carry_echo(&[0; 10]), "too short to tell");
    }
}
