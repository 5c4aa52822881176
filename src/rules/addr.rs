//! Parses `ip addr` and `ip -o addr` output into interfaces and their addresses, which tell a namespace's interfaces and what MASQUERADE and REDIRECT translate to.

use std::net::IpAddr;

use super::read::is_ip_addr_header;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interface {
    pub name: String,
    /// The kernel's interface index (`2:` in `ip addr`), which a `tcpdump -i any` capture
    /// records per packet.
    pub index: Option<u32>,
    /// In the order `ip` printed them, which is the kernel's: primaries before secondaries.
    pub addrs: Vec<IfAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
    pub scope: Scope,
    pub secondary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Global,
    Site,
    Link,
    Host,
    Other,
}

impl Interface {
    /// What MASQUERADE may pick: the kernel takes a global address of the out-interface
    /// (which one depends on the next hop, which natcorr does not know).
    pub fn global_addrs(&self, v6: bool) -> Vec<IpAddr> {
        let mut addrs: Vec<&IfAddr> = self
            .addrs
            .iter()
            .filter(|a| a.addr.is_ipv6() == v6 && a.scope == Scope::Global)
            .collect();
        // Primaries first: the kernel prefers them.
        addrs.sort_by_key(|a| a.secondary);
        addrs.into_iter().map(|a| a.addr).collect()
    }

    /// What REDIRECT sends to: the first (primary) address of the in-interface.
    pub fn primary_addr(&self, v6: bool) -> Option<IpAddr> {
        self.addrs
            .iter()
            .filter(|a| a.addr.is_ipv6() == v6)
            .find(|a| !a.secondary)
            .map(|a| a.addr)
    }
}

/// Adds an interface, merging it with one of the same name from another dump of the namespace.
pub(crate) fn merge(into: &mut Vec<Interface>, iface: Interface) {
    match into.iter_mut().find(|i| i.name == iface.name) {
        Some(existing) => {
            for a in iface.addrs {
                if !existing.addrs.iter().any(|e| e.addr == a.addr) {
                    existing.addrs.push(a);
                }
            }
        }
        None => into.push(iface),
    }
}

pub(crate) fn parse(
    lines: &[(usize, String)],
    warn: &mut dyn FnMut(Option<usize>, String),
) -> Vec<Interface> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut current: Option<usize> = None;
    for (number, line) in lines {
        let number = *number;
        if line.trim().is_empty() {
            continue;
        }
        if is_ip_addr_header(line) {
            let index = line
                .split(':')
                .next()
                .and_then(|i| i.trim().parse::<u32>().ok());
            let Some((name, rest)) = header(line) else {
                warn(Some(number), format!("not an `ip addr` line: {line}"));
                current = None;
                continue;
            };
            merge(
                &mut interfaces,
                Interface {
                    name: name.to_string(),
                    index,
                    addrs: Vec::new(),
                },
            );
            current = interfaces.iter().position(|i| i.name == name);
            // `ip -o addr` puts the address on the header line; `\` separates what `ip addr`
            // prints on following lines.
            for part in rest.split('\\') {
                address(part, number, current.map(|i| &mut interfaces[i]), warn);
            }
        } else if line.starts_with(char::is_whitespace) {
            address(line, number, current.map(|i| &mut interfaces[i]), warn);
        } else {
            warn(Some(number), format!("not an `ip addr` line: {line}"));
        }
    }
    interfaces
}

/// `2: eth0@if5: <…> mtu …` → (`eth0`, rest); `2: eth0    inet …` → (`eth0`, `inet …`).
fn header(line: &str) -> Option<(&str, &str)> {
    let (_, rest) = line.split_once(':')?;
    let rest = rest.trim_start();
    let end = rest.find(|c: char| c == ':' || c.is_whitespace())?;
    let name = &rest[..end];
    // veth and VLAN names print as `eth2.106@if2`: the part after @ is the peer.
    let name = name.split('@').next().unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    Some((name, &rest[end..]))
}

/// Reads an `inet`/`inet6` line into the interface; other lines (link/, valid_lft, flags) carry
/// nothing natcorr needs.
fn address(
    text: &str,
    number: usize,
    iface: Option<&mut Interface>,
    warn: &mut dyn FnMut(Option<usize>, String),
) {
    let mut words = text.split_whitespace();
    let Some(family) = words.next() else { return };
    if family != "inet" && family != "inet6" {
        return;
    }
    let Some(iface) = iface else {
        warn(Some(number), "address before any interface".into());
        return;
    };
    let Some(local) = words.next() else {
        warn(Some(number), format!("{family} without an address"));
        return;
    };
    let rest: Vec<&str> = words.collect();
    // Point-to-point: `inet 10.0.0.1 peer 10.0.0.2/32`; the prefix belongs to the peer.
    let (addr, prefix) = match local.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()),
        None => (local, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        warn(Some(number), format!("not an address: {local}"));
        return;
    };
    if addr.is_ipv6() != (family == "inet6") {
        warn(Some(number), format!("{family} with address {addr}"));
        return;
    }
    let scope = match rest
        .iter()
        .position(|w| *w == "scope")
        .and_then(|i| rest.get(i + 1))
    {
        Some(&"global") => Scope::Global,
        Some(&"site") => Scope::Site,
        Some(&"link") => Scope::Link,
        Some(&"host") => Scope::Host,
        Some(_) => Scope::Other,
        None => Scope::Global,
    };
    let entry = IfAddr {
        addr,
        prefix: prefix.unwrap_or(if addr.is_ipv6() { 128 } else { 32 }),
        scope,
        secondary: rest.contains(&"secondary"),
    };
    if !iface.addrs.iter().any(|a| a.addr == addr) {
        iface.addrs.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect()
    }

    fn parse_text(text: &str) -> (Vec<Interface>, Vec<(Option<usize>, String)>) {
        let mut warnings = Vec::new();
        let ifaces = parse(&lines(text), &mut |l, m| warnings.push((l, m)));
        (ifaces, warnings)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_ip_addr_with_and_without_flags() {
        let (ifaces, warnings) = parse_text(
            "\
2182112: ha-2b8cf5e0-b1:  mtu 1400 qdisc htb state UNKNOWN group default qlen 1000
    link/ether fa:16:3e:8e:51:d7 brd ff:ff:ff:ff:ff:ff
    inet 192.168.65.124/23 brd 192.168.65.255 scope global ha-2b8cf5e0-b1
       valid_lft forever preferred_lft forever
    inet 192.168.64.1/23 scope global secondary ha-2b8cf5e0-b1
    inet6 fe80::f816:3eff:fe8e:51d7/64 scope link
20: eth2.106@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
    inet 236.115.121.34/25 brd 236.115.121.127 scope global eth2.106
    inet 10.0.0.1 peer 10.0.0.2/32 scope global eth2.106
",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(ifaces.len(), 2);
        let ha = &ifaces[0];
        assert_eq!(ha.name, "ha-2b8cf5e0-b1");
        assert_eq!(ha.addrs.len(), 3);
        assert_eq!(ha.addrs[0].prefix, 23);
        assert!(ha.addrs[1].secondary);
        assert_eq!(ha.addrs[2].scope, Scope::Link);
        assert_eq!(ha.primary_addr(false), Some(ip("192.168.65.124")));
        assert_eq!(ha.global_addrs(true), Vec::<IpAddr>::new());
        assert_eq!(ifaces[1].name, "eth2.106");
        assert_eq!(
            ifaces[1].global_addrs(false),
            vec![ip("236.115.121.34"), ip("10.0.0.1")]
        );
        assert_eq!(ifaces[1].addrs[1].prefix, 32);
    }

    #[test]
    fn reads_ip_o_addr() {
        let (ifaces, warnings) = parse_text(
            "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
7: eth9    inet 203.0.113.5/24 scope global eth9\\       valid_lft forever preferred_lft forever
7: eth9    inet 203.0.113.6/24 scope global secondary eth9\\       valid_lft forever preferred_lft forever
7: eth9    inet6 2001:db8:1::1/64 scope global nodad \\       valid_lft forever preferred_lft forever
",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(ifaces.len(), 2);
        assert_eq!(ifaces[1].addrs.len(), 3);
        assert_eq!(
            ifaces[1].global_addrs(false),
            vec![ip("203.0.113.5"), ip("203.0.113.6")]
        );
        assert_eq!(ifaces[1].global_addrs(true), vec![ip("2001:db8:1::1")]);
        assert_eq!(ifaces[0].addrs[0].scope, Scope::Host);
    }

    #[test]
    fn odd_lines_are_warnings() {
        let (ifaces, warnings) = parse_text(
            "    inet 1.2.3.4/8\n3: x:  mtu 1\n    inet nope/8\n    inet6 1.2.3.4/8\nweird\n",
        );
        assert_eq!(ifaces.len(), 1);
        assert!(ifaces[0].addrs.is_empty());
        assert_eq!(warnings.len(), 4, "{warnings:?}");
    }

    #[test]
    fn two_dumps_of_one_namespace_merge() {
        let mut all = Vec::new();
        let (a, _) = parse_text("2: eth0: <UP> mtu 1500\n    inet 10.0.0.1/24 scope global eth0\n");
        let (b, _) = parse_text("2: eth0    inet 10.0.0.1/24 scope global eth0\\ x\n3: eth1    inet 10.1.0.1/24 scope global eth1\n");
        for i in a.into_iter().chain(b) {
            merge(&mut all, i);
        }
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].addrs.len(), 1);
    }
}
