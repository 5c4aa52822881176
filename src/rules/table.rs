//! The nat rules as natcorr evaluates them, whichever dump (iptables text or nft JSON) they came from.

use std::net::{IpAddr, Ipv4Addr};

use super::{AddrRange, Location, PortRange};

/// Which packets a table sees: iptables tables are one family, nft `inet` tables both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
    Inet,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn covers(self, packet: Family) -> bool {
        self == Family::Inet || self == packet
    }

    pub fn nft_name(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
            Family::Inet => "inet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Iptables,
    Nft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    Prerouting,
    Input,
    Output,
    Postrouting,
}

/// What a table's base chains do: translate (nat), or run before connection tracking (raw:
/// iptables `*raw`, nft filter chains at a priority before conntrack's), where NOTRACK acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    Nat,
    Raw,
}

/// conntrack's priority on the prerouting and output hooks: a chain before it is a raw chain.
pub(crate) const CONNTRACK_PRIORITY: i64 = -200;

#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub family: Family,
    pub kind: TableKind,
    pub name: String,
    pub source: Source,
    pub file: String,
    pub chains: Vec<Chain>,
}

impl Table {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }
}

/// A base chain is attached to a hook; the kernel runs the nat base chains of one hook in
/// priority order until one translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base {
    pub hook: Hook,
    pub priority: i32,
    pub policy: Verdict,
    /// Where the policy is written (`-P`, `:CHAIN POLICY`, the nft chain).
    pub policy_at: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
}

#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub name: String,
    pub base: Option<Base>,
    /// The policy line as written, quoted when the policy decides.
    pub policy_text: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub location: Location,
    pub text: String,
    /// All must hold (both iptables and nft rules are conjunctions).
    pub matches: Vec<Match>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Match {
    pub negated: bool,
    pub test: Test,
}

impl Match {
    pub fn new(test: Test) -> Self {
        Match {
            negated: false,
            test,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    Src(Vec<AddrSpan>),
    Dst(Vec<AddrSpan>),
    InIface(Vec<IfacePattern>),
    OutIface(Vec<IfacePattern>),
    /// IP protocol numbers, any of them.
    Protocol(Vec<u8>),
    Sport(Vec<PortRange>),
    Dport(Vec<PortRange>),
    /// Either port (`-m multiport --ports`).
    AnyPort(Vec<PortRange>),
    /// ICMP / ICMPv6 types, any of them.
    IcmpType(Vec<u8>),
    CtState(Vec<CtState>),
    /// `-m addrtype --src-type/--dst-type`: only LOCAL is evaluated.
    AddrType {
        dst: bool,
        types: Vec<String>,
    },
    /// nft's implicit dependency of `ip …`/`ip6 …` matches, and `meta nfproto`.
    Nfproto(Family),
    /// Something natcorr does not evaluate, as written.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrSpan {
    Net { addr: IpAddr, prefix: u8 },
    Range(AddrRange),
}

impl AddrSpan {
    pub fn contains(&self, x: IpAddr) -> bool {
        match *self {
            AddrSpan::Range(r) => r.contains(x),
            AddrSpan::Net { addr, prefix } => match (addr, x) {
                (IpAddr::V4(a), IpAddr::V4(x)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    u32::from(a) & mask == u32::from(x) & mask
                }
                (IpAddr::V6(a), IpAddr::V6(x)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                    u128::from(a) & mask == u128::from(x) & mask
                }
                _ => false,
            },
        }
    }

    pub fn is_v6(&self) -> bool {
        match self {
            AddrSpan::Net { addr, .. } => addr.is_ipv6(),
            AddrSpan::Range(r) => r.first.is_ipv6(),
        }
    }
}

/// `eth0` exactly, or `eth+` (iptables) / `eth*` (nft): every name starting `eth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IfacePattern {
    Exact(String),
    Prefix(String),
}

impl IfacePattern {
    pub fn parse(s: &str, wildcard: char) -> Self {
        match s.strip_suffix(wildcard) {
            Some(prefix) => IfacePattern::Prefix(prefix.to_string()),
            None => IfacePattern::Exact(s.to_string()),
        }
    }

    /// `None` is no interface (`-o` in PREROUTING), which matches no name.
    pub fn matches(&self, iface: Option<&str>) -> bool {
        match (self, iface) {
            (_, None) => false,
            (IfacePattern::Exact(name), Some(i)) => name == i,
            (IfacePattern::Prefix(p), Some(i)) => i.starts_with(p.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
    Snat,
    Dnat,
}

impl CtState {
    pub fn parse(s: &str) -> Option<CtState> {
        Some(match s.to_ascii_lowercase().as_str() {
            "new" => CtState::New,
            "established" => CtState::Established,
            "related" => CtState::Related,
            "invalid" => CtState::Invalid,
            "untracked" => CtState::Untracked,
            "snat" => CtState::Snat,
            "dnat" => CtState::Dnat,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// No verdict: LOG, MARK, counter … and rules without a target.
    Continue,
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
    /// Several `--to-source` are alternatives (old kernels round-robin them).
    Snat(Vec<NatTarget>),
    Dnat(Vec<NatTarget>),
    Masquerade(Option<PortRange>),
    Redirect(Option<PortRange>),
    /// The raw table's `NOTRACK` (`CT --notrack`, nft `notrack`): the packet bypasses
    /// connection tracking, so no NAT is applied or undone for it.
    NoTrack,
    /// A target natcorr does not evaluate, as written.
    Unsupported(String),
}

/// One `--to-source`/`--to-destination` value: either part may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NatTarget {
    pub addrs: Option<AddrRange>,
    pub ports: Option<PortRange>,
}

/// Protocol names as iptables and nft print them.
pub(crate) fn protocol_number(s: &str) -> Option<u8> {
    Some(match s.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        "dccp" => 33,
        other => return other.parse().ok(),
    })
}

/// ICMP types natcorr can meet as the first packet of a connection, by name or number.
pub(crate) fn icmp_type(s: &str, v6: bool) -> Option<u8> {
    let name = s.split('/').next().unwrap_or(s);
    Some(match (name.to_ascii_lowercase().as_str(), v6) {
        ("echo-request", false) => 8,
        ("echo-reply", false) => 0,
        ("echo-request", true) => 128,
        ("echo-reply", true) => 129,
        (other, _) => return other.parse().ok(),
    })
}

/// `10.0.0.0/8`, `10.0.0.1`, `10.0.0.0/255.0.0.0`, `fd00::/64`.
pub(crate) fn parse_net(s: &str) -> Result<AddrSpan, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| format!("not an address: {s}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return Err(format!("prefix too long: {s}")),
            Err(_) => match p.parse::<Ipv4Addr>() {
                Ok(mask) if addr.is_ipv4() && contiguous(u32::from(mask)) => {
                    u32::from(mask).count_ones() as u8
                }
                _ => return Err(format!("not a prefix: {s}")),
            },
        },
    };
    Ok(AddrSpan::Net { addr, prefix })
}

fn contiguous(mask: u32) -> bool {
    mask.leading_ones() + mask.trailing_zeros() == 32
}

/// `80`, `1000:2000`, `:1023`, `1024:` (iptables), `1000-2000` (NAT targets).
pub(crate) fn parse_port_range(s: &str) -> Result<PortRange, String> {
    let bad = || format!("not a port or range: {s}");
    let port = |p: &str, default: u16| -> Result<u16, String> {
        if p.is_empty() {
            Ok(default)
        } else {
            p.parse().map_err(|_| bad())
        }
    };
    let (first, last) = match s.split_once([':', '-']) {
        Some((a, b)) => (port(a, 0)?, port(b, u16::MAX)?),
        None => {
            let p = port(s, 0)?;
            if s.is_empty() {
                return Err(bad());
            }
            (p, p)
        }
    };
    if first > last {
        return Err(bad());
    }
    Ok(PortRange { first, last })
}

/// `a`, `a-b`, `a:p`, `a-b:p-q`, `:p`, `[v6]:p`, `[v6]-[v6]:p-q`, `v6-v6`.
pub(crate) fn parse_nat_target(s: &str) -> Result<NatTarget, String> {
    let bad = || format!("not an address[:port] range: {s}");
    let (addr_part, port_part) = if s.starts_with('[') {
        match s.rfind(']') {
            Some(end) => match s[end + 1..].strip_prefix(':') {
                Some(ports) => (&s[..=end], Some(ports)),
                None if end + 1 == s.len() => (s, None),
                None => return Err(bad()),
            },
            None => return Err(bad()),
        }
    } else if s.matches(':').count() > 1 {
        (s, None)
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let addr = |a: &str| -> Result<IpAddr, String> {
        a.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad())
    };
    let addrs = if addr_part.is_empty() {
        None
    } else {
        let (first, last) = match split_range(addr_part) {
            Some((a, b)) => (addr(a)?, addr(b)?),
            None => {
                let a = addr(addr_part)?;
                (a, a)
            }
        };
        if first.is_ipv4() != last.is_ipv4() {
            return Err(bad());
        }
        Some(AddrRange { first, last })
    };
    let ports = match port_part {
        Some(p) => Some(parse_port_range(p)?),
        None => None,
    };
    if addrs.is_none() && ports.is_none() {
        return Err(bad());
    }
    Ok(NatTarget { addrs, ports })
}

/// Splits `a-b` where both sides are addresses (IPv6 addresses contain no `-`).
fn split_range(s: &str) -> Option<(&str, &str)> {
    s.split_once('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nets_contain_their_addresses() {
        let net = parse_net("192.168.64.0/23").unwrap();
        assert!(net.contains(ip("192.168.65.125")));
        assert!(!net.contains(ip("192.168.66.1")));
        assert!(!net.contains(ip("::1")));
        assert!(parse_net("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(parse_net("10.0.0.0/255.0.0.0")
            .unwrap()
            .contains(ip("10.2.3.4")));
        assert!(parse_net("fd00::/64").unwrap().contains(ip("fd00::5")));
        assert_eq!(
            parse_net("1.2.3.4").unwrap(),
            AddrSpan::Net {
                addr: ip("1.2.3.4"),
                prefix: 32
            }
        );
        assert!(parse_net("1.2.3.4/33").is_err());
        assert!(parse_net("example.com").is_err());
        assert!(parse_net("10.0.0.0/255.0.255.0").is_err());
    }

    #[test]
    fn port_ranges_in_both_spellings() {
        assert_eq!(
            parse_port_range("80").unwrap(),
            PortRange {
                first: 80,
                last: 80
            }
        );
        assert_eq!(
            parse_port_range("1000:2000").unwrap(),
            PortRange {
                first: 1000,
                last: 2000
            }
        );
        assert_eq!(
            parse_port_range(":1023").unwrap(),
            PortRange {
                first: 0,
                last: 1023
            }
        );
        assert_eq!(
            parse_port_range("1024:").unwrap(),
            PortRange {
                first: 1024,
                last: 65535
            }
        );
        assert_eq!(
            parse_port_range("5-6").unwrap(),
            PortRange { first: 5, last: 6 }
        );
        assert!(parse_port_range("9:1").is_err());
        assert!(parse_port_range("").is_err());
        assert!(parse_port_range("http").is_err());
    }

    #[test]
    fn nat_targets() {
        let t = parse_nat_target("203.0.113.7-203.0.113.9:40000-40100").unwrap();
        assert_eq!(
            t.addrs,
            Some(AddrRange {
                first: ip("203.0.113.7"),
                last: ip("203.0.113.9")
            })
        );
        assert_eq!(
            t.ports,
            Some(PortRange {
                first: 40000,
                last: 40100
            })
        );
        let t = parse_nat_target("169.254.43.17").unwrap();
        assert_eq!(t.addrs, Some(AddrRange::single(ip("169.254.43.17"))));
        assert_eq!(t.ports, None);
        let t = parse_nat_target(":8080").unwrap();
        assert_eq!(
            (t.addrs, t.ports),
            (
                None,
                Some(PortRange {
                    first: 8080,
                    last: 8080
                })
            )
        );
        let t = parse_nat_target("2001:db8::1").unwrap();
        assert_eq!(t.addrs, Some(AddrRange::single(ip("2001:db8::1"))));
        let t = parse_nat_target("[2001:db8::1]-[2001:db8::5]:80-81").unwrap();
        assert_eq!(
            t.addrs,
            Some(AddrRange {
                first: ip("2001:db8::1"),
                last: ip("2001:db8::5")
            })
        );
        assert_eq!(
            t.ports,
            Some(PortRange {
                first: 80,
                last: 81
            })
        );
        let t = parse_nat_target("2001:db8::1-2001:db8::3").unwrap();
        assert_eq!(t.addrs.unwrap().last, ip("2001:db8::3"));
        assert!(parse_nat_target("nowhere").is_err());
        assert!(parse_nat_target("1.2.3.4-::1").is_err());
        assert!(parse_nat_target("[::1").is_err());
    }

    #[test]
    fn interface_wildcards() {
        assert!(IfacePattern::parse("ha-+", '+').matches(Some("ha-2b8cf5e0-b1")));
        assert!(!IfacePattern::parse("ha-+", '+').matches(Some("qg-0")));
        assert!(IfacePattern::parse("eth9", '*').matches(Some("eth9")));
        assert!(!IfacePattern::parse("eth9", '*').matches(None));
    }

    #[test]
    fn names_of_protocols_and_icmp_types() {
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("ipv6-icmp"), Some(58));
        assert_eq!(protocol_number("47"), Some(47));
        assert_eq!(protocol_number("bogus"), None);
        assert_eq!(icmp_type("echo-request", false), Some(8));
        assert_eq!(icmp_type("echo-request", true), Some(128));
        assert_eq!(icmp_type("8/0", false), Some(8));
        assert_eq!(CtState::parse("DNAT"), Some(CtState::Dnat));
    }
}
