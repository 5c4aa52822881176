//! Evaluates a namespace's nat rules for one observed hop as the kernel does for the first packet of a connection, and compares the translation with the packets.

use std::net::IpAddr;

use super::addr::Interface;
use super::table::{
    Action, Chain, CtState, Family, Hook, IfacePattern, Match, NatTarget, Rule, Table, Test,
    Verdict,
};
use super::{
    AddrRange, Change, Endpoint, Explanation, Location, Masquerade, Namespace, NatAction, Proto,
    Query, RuleRef, RuleSet, Translation, UnevaluableReason, UnexplainedReason,
};

/// The kernel refuses rulesets that nest jumps deeper; deeper here means a loop in the dump.
const MAX_DEPTH: usize = 64;

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
/// Protocols whose first four transport bytes are source and destination ports.
const PORTED: &[u8] = &[TCP, UDP, 33, 132, 136];

/// Order as in netfilter: the nat base chains of PREROUTING (DNAT, REDIRECT; the out-interface
/// is not known yet) in priority order, then those of POSTROUTING (SNAT, MASQUERADE; both
/// interfaces known, as the kernel passes the in-device there too). Per hook the first chain
/// that translates wins; one that accepts without translating hands over to the next.
pub(crate) fn explain(set: &RuleSet, q: &Query) -> Explanation {
    let family = Family::of(q.before.src);
    let same_family = [q.before.dst, q.after.src, q.after.dst]
        .iter()
        .all(|a| Family::of(*a) == family);
    if !same_family {
        return unexplained(UnexplainedReason::FamilyChanged);
    }
    let (name, ns) = match namespace(set, q) {
        Ok(found) => found,
        Err(why) => return unexplained(*why),
    };
    let ctx = Ctx {
        name,
        ns,
        tables: &ns.tables,
        q,
        family,
        reply: false,
    };
    if !ns
        .tables
        .iter()
        .any(|t| t.family.covers(family) && t.chains.iter().any(|c| c.base.is_some()))
    {
        return unexplained(UnexplainedReason::NoNatRules {
            namespace: name.to_string(),
            ipv6: family == Family::V6,
        });
    }
    // PREROUTING sees the packet as it came in, before any translation.
    let pre = Packet::entering(q);
    let dnat = match ctx.side(Hook::Prerouting, &pre) {
        Ok(made) => made.map(|(rule, _)| rule),
        Err(e) => return *e,
    };
    // POSTROUTING sees the destination as DNAT left it, which the packets show.
    let post = Packet {
        dst: q.after.dst,
        dport: q.after.dport,
        out_iface: Some(q.out_iface),
        dnat_done: q.before.dst != q.after.dst || q.before.dport != q.after.dport,
        ..pre
    };
    let (snat, masquerade) = match ctx.side(Hook::Postrouting, &post) {
        Ok(Some((rule, made))) => (Some(rule), masqueraded_to(&made, q.after.src)),
        Ok(None) => (None, None),
        Err(e) => return *e,
    };
    Explanation::Explained {
        namespace: name.to_string(),
        snat,
        dnat,
        masquerade,
    }
}

/// The raw-table rule that takes the reply `q` (as it entered the namespace: `before`) out of
/// connection tracking: the first NOTRACK its raw PREROUTING chains reach. `None` when no rule
/// does, when the walk reaches a rule natcorr cannot evaluate first, or when the namespace is
/// not known.
pub(crate) fn untracked_reply(set: &RuleSet, q: &Query) -> Option<RuleRef> {
    let family = Family::of(q.before.src);
    let (name, ns) = namespace(set, q).ok()?;
    let ctx = Ctx {
        name,
        ns,
        tables: &ns.raw,
        q,
        family,
        reply: true,
    };
    let p = Packet::entering(q);
    match ctx.hook(Hook::Prerouting, &p) {
        Outcome::Nat(t, c, r) if matches!(r.action, Action::NoTrack) => Some(ctx.rule_ref(t, c, r)),
        _ => None,
    }
}

/// The address a MASQUERADE rule chose: the one of its interface's that the packets show
/// (`agrees` has checked it is one of them).
fn masqueraded_to(made: &Translation, src: IpAddr) -> Option<Masquerade> {
    match (made.action, &made.via) {
        (NatAction::Masquerade, Some(iface)) => Some(Masquerade {
            iface: iface.clone(),
            addr: src,
        }),
        _ => None,
    }
}

fn unexplained(why: UnexplainedReason) -> Explanation {
    Explanation::Unexplained { why }
}

/// The one namespace holding both interfaces. Without any address dump, a lone namespace is
/// taken to be the hop's: the user gave natcorr one router's rules.
fn namespace<'s>(
    set: &'s RuleSet,
    q: &Query,
) -> Result<(&'s str, &'s Namespace), Box<UnexplainedReason>> {
    let ins = set.namespaces_with(q.in_iface);
    let outs = set.namespaces_with(q.out_iface);
    let both: Vec<&str> = ins.iter().filter(|n| outs.contains(n)).copied().collect();
    let name = match (both.as_slice(), ins.first(), outs.first()) {
        ([one], _, _) => *one,
        ([], Some(a), Some(b)) => {
            return Err(Box::new(UnexplainedReason::SplitNamespaces {
                in_iface: q.in_iface.to_string(),
                in_namespace: a.to_string(),
                out_iface: q.out_iface.to_string(),
                out_namespace: b.to_string(),
            }))
        }
        (several, _, _) if several.len() > 1 => {
            return Err(Box::new(UnexplainedReason::AmbiguousNamespace {
                namespaces: several.iter().map(|n| n.to_string()).collect(),
            }))
        }
        ([], None, None)
            if !set.namespaces.values().any(|ns| ns.has_addr_dump) && set.namespaces.len() == 1 =>
        {
            set.namespaces
                .keys()
                .next()
                .map(String::as_str)
                .unwrap_or_default()
        }
        (_, None, _) => {
            return Err(Box::new(UnexplainedReason::UnknownInterface {
                iface: q.in_iface.to_string(),
            }))
        }
        _ => {
            return Err(Box::new(UnexplainedReason::UnknownInterface {
                iface: q.out_iface.to_string(),
            }))
        }
    };
    match set.namespaces.get_key_value(name) {
        Some((name, ns)) => Ok((name.as_str(), ns)),
        None => Err(Box::new(UnexplainedReason::UnknownInterface {
            iface: q.in_iface.to_string(),
        })),
    }
}

/// The packet as one hook sees it.
#[derive(Debug, Clone, Copy)]
struct Packet<'q> {
    src: IpAddr,
    dst: IpAddr,
    sport: Option<u16>,
    dport: Option<u16>,
    in_iface: Option<&'q str>,
    out_iface: Option<&'q str>,
    /// conntrack's DNAT status bit: set once PREROUTING translated the destination.
    dnat_done: bool,
}

impl<'q> Packet<'q> {
    /// The packet as PREROUTING sees it: as it came in, before any translation.
    fn entering(q: &Query<'q>) -> Self {
        Packet {
            src: q.before.src,
            dst: q.before.dst,
            sport: q.before.sport,
            dport: q.before.dport,
            in_iface: Some(q.in_iface),
            out_iface: None,
            dnat_done: false,
        }
    }
}

struct Ctx<'a> {
    name: &'a str,
    ns: &'a Namespace,
    /// The tables a hook runs: the nat tables, or the raw tables for [`untracked_reply`].
    tables: &'a [Table],
    q: &'a Query<'a>,
    family: Family,
    /// The packet is an echo reply (ICMP type 0 or 129), not the request that opened the flow.
    reply: bool,
}

/// How a walk through a chain ended.
enum Flow<'t> {
    /// Fell off the end or hit RETURN: the caller goes on.
    Return,
    Verdict(Outcome<'t>),
}

/// How one hook's nat chains ended for the packet.
enum Outcome<'t> {
    /// A rule that translates (in the raw table: a NOTRACK, which ends the walk the same way).
    Nat(&'t Table, &'t Chain, &'t Rule),
    Accept(Option<(&'t Table, &'t Chain, &'t Rule)>),
    Drop(&'t Table, &'t Chain, Option<&'t Rule>),
    Unevaluable(&'t Table, &'t Chain, &'t Rule, UnevaluableReason),
}

/// Three-valued: a match natcorr cannot evaluate neither holds nor fails.
enum Truth {
    Yes,
    No,
    Unknown(UnevaluableReason),
}

impl<'a> Ctx<'a> {
    /// Evaluates one hook and compares its translation with the packets: `Ok` with the rule
    /// that explains the change and the translation it makes (or `None` for no change and no
    /// rule), `Err` with the verdict.
    fn side(
        &self,
        hook: Hook,
        p: &Packet,
    ) -> Result<Option<(RuleRef, Translation)>, Box<Explanation>> {
        let source = hook == Hook::Postrouting;
        let (from, to) = if source {
            (
                Endpoint {
                    addr: self.q.before.src,
                    port: self.q.before.sport,
                },
                Endpoint {
                    addr: self.q.after.src,
                    port: self.q.after.sport,
                },
            )
        } else {
            (
                Endpoint {
                    addr: self.q.before.dst,
                    port: self.q.before.dport,
                },
                Endpoint {
                    addr: self.q.after.dst,
                    port: self.q.after.dport,
                },
            )
        };
        let change = if source {
            Change::Source { from, to }
        } else {
            Change::Destination { from, to }
        };
        match self.hook(hook, p) {
            Outcome::Unevaluable(t, c, r, why) => Err(Box::new(Explanation::Unevaluable {
                rule: self.rule_ref(t, c, r),
                why,
            })),
            Outcome::Drop(t, c, r) => Err(Box::new(Explanation::Contradicted {
                rule: match r {
                    Some(r) => self.rule_ref(t, c, r),
                    None => self.policy_ref(t, c),
                },
                expected: Translation {
                    action: NatAction::Drop,
                    addrs: Vec::new(),
                    ports: None,
                    via: None,
                },
                observed: to,
            })),
            Outcome::Accept(stopped) => {
                if from == to {
                    return Ok(None);
                }
                if source && from.addr == to.addr {
                    return Err(Box::new(unexplained(
                        UnexplainedReason::RenumberedWithoutRule {
                            namespace: self.name.to_string(),
                            change,
                        },
                    )));
                }
                Err(Box::new(unexplained(UnexplainedReason::NoRuleMatched {
                    namespace: self.name.to_string(),
                    change,
                    accepted_by: stopped.map(|(t, c, r)| self.rule_ref(t, c, r)),
                })))
            }
            Outcome::Nat(t, c, r) => {
                let rule = self.rule_ref(t, c, r);
                let expected = match self.translation(&r.action, p) {
                    Ok(x) => x,
                    Err(why) => return Err(Box::new(Explanation::Unevaluable { rule, why })),
                };
                if agrees(&expected, from, to) {
                    Ok(Some((rule, expected)))
                } else if from == to {
                    Err(Box::new(Explanation::MissingTranslation { rule, expected }))
                } else {
                    Err(Box::new(Explanation::Contradicted {
                        rule,
                        expected,
                        observed: to,
                    }))
                }
            }
        }
    }

    /// Runs the nat base chains of one hook in priority order.
    fn hook(&self, hook: Hook, p: &Packet) -> Outcome<'a> {
        let mut chains: Vec<(&Table, &Chain, i32)> = self
            .tables
            .iter()
            .filter(|t| t.family.covers(self.family))
            .flat_map(|t| {
                t.chains.iter().filter_map(move |c| {
                    c.base
                        .filter(|b| b.hook == hook)
                        .map(|b| (t, c, b.priority))
                })
            })
            .collect();
        chains.sort_by_key(|(_, _, prio)| *prio);
        let mut accepted = None;
        for (table, chain, _) in chains {
            let outcome = match self.walk(table, chain, p, 0) {
                Flow::Verdict(v) => v,
                Flow::Return => match chain.base.map(|b| b.policy) {
                    Some(Verdict::Drop) => Outcome::Drop(table, chain, None),
                    _ => Outcome::Accept(None),
                },
            };
            match outcome {
                Outcome::Accept(by) => accepted = accepted.or(by),
                other => return other,
            }
        }
        Outcome::Accept(accepted)
    }

    fn walk(&self, table: &'a Table, chain: &'a Chain, p: &Packet, depth: usize) -> Flow<'a> {
        for rule in &chain.rules {
            match self.holds(&rule.matches, p) {
                Truth::No => continue,
                Truth::Unknown(why) => {
                    return Flow::Verdict(Outcome::Unevaluable(table, chain, rule, why))
                }
                Truth::Yes => {}
            }
            let (target, goto) = match &rule.action {
                Action::Continue => continue,
                Action::Accept => {
                    return Flow::Verdict(Outcome::Accept(Some((table, chain, rule))))
                }
                Action::Drop => return Flow::Verdict(Outcome::Drop(table, chain, Some(rule))),
                Action::Return => return Flow::Return,
                // nft's `snat ip to …` in an inet table does nothing to an IPv6 packet.
                Action::Snat(targets) | Action::Dnat(targets)
                    if !targets.iter().any(|t| self.fits(t)) =>
                {
                    continue
                }
                Action::Snat(_)
                | Action::Dnat(_)
                | Action::Masquerade(_)
                | Action::Redirect(_)
                | Action::NoTrack => return Flow::Verdict(Outcome::Nat(table, chain, rule)),
                Action::Unsupported(what) => {
                    let why = UnevaluableReason::Target { what: what.clone() };
                    return Flow::Verdict(Outcome::Unevaluable(table, chain, rule, why));
                }
                Action::Jump(target) => (target, false),
                Action::Goto(target) => (target, true),
            };
            let Some(next) = table.chain(target) else {
                let why = UnevaluableReason::MissingChain {
                    chain: target.clone(),
                };
                return Flow::Verdict(Outcome::Unevaluable(table, chain, rule, why));
            };
            if depth >= MAX_DEPTH {
                return Flow::Verdict(Outcome::Unevaluable(
                    table,
                    chain,
                    rule,
                    UnevaluableReason::TooDeep,
                ));
            }
            match self.walk(table, next, p, depth + 1) {
                Flow::Verdict(v) => return Flow::Verdict(v),
                // A goto does not come back here: its RETURN returns from this chain.
                Flow::Return if goto => return Flow::Return,
                Flow::Return => {}
            }
        }
        Flow::Return
    }

    /// All matches must hold; one that fails settles it even next to one natcorr cannot evaluate.
    fn holds(&self, matches: &[Match], p: &Packet) -> Truth {
        let mut unknown = None;
        for m in matches {
            let t = match (self.test(&m.test, p), m.negated) {
                (Truth::Yes, true) => Truth::No,
                (Truth::No, true) => Truth::Yes,
                (t, _) => t,
            };
            match t {
                Truth::No => return Truth::No,
                Truth::Unknown(why) => unknown = unknown.or(Some(why)),
                Truth::Yes => {}
            }
        }
        unknown.map_or(Truth::Yes, Truth::Unknown)
    }

    fn test(&self, test: &Test, p: &Packet) -> Truth {
        let proto = self.proto();
        let yes = |b: bool| if b { Truth::Yes } else { Truth::No };
        let port = |ranges: &[super::PortRange], port: Option<u16>| {
            if !PORTED.contains(&proto) {
                return Truth::No;
            }
            match port {
                Some(port) => yes(ranges.iter().any(|r| r.contains(port))),
                None => Truth::Unknown(UnevaluableReason::PortUnknown),
            }
        };
        match test {
            Test::Src(spans) => yes(spans.iter().any(|s| s.contains(p.src))),
            Test::Dst(spans) => yes(spans.iter().any(|s| s.contains(p.dst))),
            Test::InIface(pats) => yes(pats.iter().any(|i| IfacePattern::matches(i, p.in_iface))),
            Test::OutIface(pats) => yes(pats.iter().any(|i| IfacePattern::matches(i, p.out_iface))),
            Test::Protocol(protos) => yes(protos.contains(&proto)),
            Test::Sport(ranges) => port(ranges, p.sport),
            Test::Dport(ranges) => port(ranges, p.dport),
            Test::AnyPort(ranges) => match (port(ranges, p.sport), port(ranges, p.dport)) {
                (Truth::Yes, _) | (_, Truth::Yes) => Truth::Yes,
                (Truth::Unknown(why), _) | (_, Truth::Unknown(why)) => Truth::Unknown(why),
                _ => Truth::No,
            },
            // The nat table sees the echo request that opened the flow; the NOTRACK lookup walks
            // the raw table with its reply.
            Test::IcmpType(types) => {
                let echo = match (proto, self.reply) {
                    (ICMP, false) => 8,
                    (ICMP, true) => 0,
                    (ICMPV6, false) => 128,
                    (ICMPV6, true) => 129,
                    _ => return Truth::No,
                };
                yes(types.contains(&echo))
            }
            Test::CtState(states) => self.ct_state(states, p),
            Test::AddrType { dst, types } => self.addr_type(*dst, types, p),
            Test::Nfproto(f) => yes(*f == self.family),
            Test::Unsupported(what) => {
                Truth::Unknown(UnevaluableReason::Match { what: what.clone() })
            }
        }
    }

    fn fits(&self, target: &NatTarget) -> bool {
        target
            .addrs
            .is_none_or(|a| Family::of(a.first) == self.family)
    }

    fn proto(&self) -> u8 {
        match (self.q.proto, self.family) {
            (Proto::Icmp, Family::V6) => ICMPV6,
            (Proto::Icmp, _) => ICMP,
            (Proto::Tcp, _) => TCP,
            (Proto::Udp, _) => UDP,
            (Proto::Other(n), _) => n,
        }
    }

    /// Any of the states; SNAT/DNAT are known from the packets, the others only from the query.
    fn ct_state(&self, states: &[CtState], p: &Packet) -> Truth {
        let mut unknown = false;
        for s in states {
            let holds = match s {
                CtState::Dnat => Some(p.dnat_done),
                // The source is translated after POSTROUTING has run.
                CtState::Snat => Some(false),
                CtState::New => self.q.new_connection,
                CtState::Established => self.q.new_connection.map(|new| !new),
                CtState::Related | CtState::Invalid | CtState::Untracked => {
                    self.q.new_connection.map(|_| false)
                }
            };
            match holds {
                Some(true) => return Truth::Yes,
                Some(false) => {}
                None => unknown = true,
            }
        }
        if unknown {
            let names: Vec<String> = states
                .iter()
                .map(|s| format!("{s:?}").to_uppercase())
                .collect();
            Truth::Unknown(UnevaluableReason::ConnectionStateUnknown {
                what: format!("--ctstate {}", names.join(",")),
            })
        } else {
            Truth::No
        }
    }

    /// Only LOCAL: an address of this namespace (or loopback), from the address dump.
    fn addr_type(&self, dst: bool, types: &[String], p: &Packet) -> Truth {
        let what = || {
            format!(
                "-m addrtype --{}-type {}",
                if dst { "dst" } else { "src" },
                types.join(",")
            )
        };
        if types.len() != 1 || types[0] != "LOCAL" {
            return Truth::Unknown(UnevaluableReason::Match { what: what() });
        }
        if !self.ns.has_addr_dump {
            return Truth::Unknown(UnevaluableReason::NoAddressDump {
                namespace: self.name.to_string(),
            });
        }
        let addr = if dst { p.dst } else { p.src };
        let local = addr.is_loopback()
            || self
                .ns
                .interfaces
                .iter()
                .any(|i| i.addrs.iter().any(|a| a.addr == addr));
        if local {
            Truth::Yes
        } else {
            Truth::No
        }
    }

    /// The translation the rule's target makes, with MASQUERADE and REDIRECT resolved
    /// against the interfaces' addresses.
    fn translation(&self, action: &Action, p: &Packet) -> Result<Translation, UnevaluableReason> {
        let v6 = self.family == Family::V6;
        let ranges =
            |targets: &[NatTarget], keep: IpAddr| -> (Vec<AddrRange>, Option<super::PortRange>) {
                // A target without an address (`:8080`) keeps the address.
                let addrs = targets
                    .iter()
                    .map(|t| t.addrs.unwrap_or(AddrRange::single(keep)))
                    .collect();
                (addrs, targets.iter().find_map(|t| t.ports))
            };
        match action {
            Action::Snat(targets) => {
                let (addrs, ports) = ranges(targets, p.src);
                Ok(Translation {
                    action: NatAction::Snat,
                    addrs,
                    ports,
                    via: None,
                })
            }
            Action::Dnat(targets) => {
                let (addrs, ports) = ranges(targets, p.dst);
                Ok(Translation {
                    action: NatAction::Dnat,
                    addrs,
                    ports,
                    via: None,
                })
            }
            Action::Masquerade(ports) => {
                let iface = self.iface(self.q.out_iface)?;
                let addrs: Vec<AddrRange> = iface
                    .global_addrs(v6)
                    .into_iter()
                    .map(AddrRange::single)
                    .collect();
                if addrs.is_empty() {
                    return Err(UnevaluableReason::NoAddress {
                        iface: iface.name.clone(),
                        ipv6: v6,
                    });
                }
                Ok(Translation {
                    action: NatAction::Masquerade,
                    addrs,
                    ports: *ports,
                    via: Some(iface.name.clone()),
                })
            }
            Action::Redirect(ports) => {
                let iface = self.iface(self.q.in_iface)?;
                let Some(addr) = iface.primary_addr(v6) else {
                    return Err(UnevaluableReason::NoAddress {
                        iface: iface.name.clone(),
                        ipv6: v6,
                    });
                };
                Ok(Translation {
                    action: NatAction::Redirect,
                    addrs: vec![AddrRange::single(addr)],
                    ports: *ports,
                    via: Some(iface.name.clone()),
                })
            }
            other => Err(UnevaluableReason::Target {
                what: format!("{other:?}"),
            }),
        }
    }

    fn iface(&self, name: &str) -> Result<&'a Interface, UnevaluableReason> {
        if !self.ns.has_addr_dump {
            return Err(UnevaluableReason::NoAddressDump {
                namespace: self.name.to_string(),
            });
        }
        self.ns
            .interfaces
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| UnevaluableReason::NoAddress {
                iface: name.to_string(),
                ipv6: self.family == Family::V6,
            })
    }

    fn rule_ref(&self, table: &Table, chain: &Chain, rule: &Rule) -> RuleRef {
        RuleRef {
            namespace: self.name.to_string(),
            file: table.file.clone(),
            location: rule.location,
            chain: chain.name.clone(),
            rule: rule.text.clone(),
        }
    }

    fn policy_ref(&self, table: &Table, chain: &Chain) -> RuleRef {
        RuleRef {
            namespace: self.name.to_string(),
            file: table.file.clone(),
            location: chain.base.map_or(Location::Line(0), |b| b.policy_at),
            chain: chain.name.clone(),
            rule: chain.policy_text.clone(),
        }
    }
}

/// Whether what the packets show is what the rule makes. Without a port range SNAT keeps the
/// port when it can and conntrack picks another on a clash, so any port agrees; DNAT and
/// REDIRECT without one keep the destination port.
fn agrees(expected: &Translation, from: Endpoint, to: Endpoint) -> bool {
    let addr_ok = expected.addrs.iter().any(|r| r.contains(to.addr));
    let port_ok = match (expected.ports, expected.action) {
        (Some(range), _) => to.port.is_none_or(|p| range.contains(p)),
        (None, NatAction::Snat | NatAction::Masquerade) => true,
        (None, _) => to.port == from.port,
    };
    addr_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::super::{iptables, nft, Endpoints};
    use super::*;
    use crate::rules::addr;

    fn lines(text: &str) -> Vec<(usize, String)> {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect()
    }

    /// A one-namespace rule set from iptables text and `ip -o addr` text.
    fn set_of(rules: &str, addrs: Option<&str>) -> RuleSet {
        let mut ns = Namespace::default();
        let mut warn = |_: Option<usize>, m: String| panic!("warning: {m}");
        ns.tables = iptables::parse("r", &lines(rules), &mut warn);
        if let Some(a) = addrs {
            ns.has_addr_dump = true;
            ns.interfaces = addr::parse(&lines(a), &mut warn);
        }
        let mut set = RuleSet::default();
        set.namespaces.insert("r".into(), ns);
        set
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ends(src: &str, dst: &str, sport: Option<u16>, dport: Option<u16>) -> Endpoints {
        Endpoints {
            src: ip(src),
            dst: ip(dst),
            sport,
            dport,
        }
    }

    fn icmp<'a>(
        in_iface: &'a str,
        out_iface: &'a str,
        before: (&str, &str),
        after: (&str, &str),
    ) -> Query<'a> {
        Query {
            in_iface,
            out_iface,
            proto: Proto::Icmp,
            before: ends(before.0, before.1, Some(100), None),
            after: ends(after.0, after.1, Some(100), None),
            new_connection: None,
        }
    }

    const ADDRS: &str = "\
2: in0    inet 10.0.0.1/24 scope global in0\\ x
2: in0    inet 10.0.0.9/24 scope global secondary in0\\ x
3: out0    inet 203.0.113.5/24 scope global out0\\ x
3: out0    inet6 2001:db8::5/64 scope global out0\\ x
3: out0    inet6 fe80::5/64 scope link out0\\ x
";

    fn line_of(e: &Explanation) -> Option<Location> {
        match e {
            Explanation::Explained { snat: Some(r), .. }
            | Explanation::Explained { dnat: Some(r), .. } => Some(r.location),
            Explanation::Contradicted { rule, .. }
            | Explanation::MissingTranslation { rule, .. }
            | Explanation::Unevaluable { rule, .. } => Some(rule.location),
            _ => None,
        }
    }

    #[test]
    fn snat_through_user_chains_is_explained() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-N a\n-N b\n-A POSTROUTING -j a\n-A a -j b\n-A b -s 10.9.0.0/16 -j SNAT --to-source 1.1.1.1\n-A a -s 10.0.0.0/8 -j SNAT --to-source 203.0.113.7\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("203.0.113.7", "8.8.8.8"),
        ));
        assert!(
            matches!(&e, Explanation::Explained { snat: Some(r), dnat: None, .. } if r.location == Location::Line(7) && r.chain == "a"),
            "{e:?}"
        );
    }

    #[test]
    fn a_different_address_contradicts_and_no_change_is_missing() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING -s 10.0.0.0/8 -j SNAT --to-source 203.0.113.7\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("203.0.113.8", "8.8.8.8"),
        ));
        match &e {
            Explanation::Contradicted {
                expected, observed, ..
            } => {
                assert_eq!(expected.to_string(), "SNAT to 203.0.113.7");
                assert_eq!(observed.to_string(), "203.0.113.8:100");
            }
            other => panic!("{other:?}"),
        }
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("10.0.0.2", "8.8.8.8"),
        ));
        assert!(matches!(e, Explanation::MissingTranslation { .. }), "{e:?}");
    }

    #[test]
    fn port_ranges_are_checked_and_a_free_port_is_fine_without_one() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING -p udp -j SNAT --to-source 1.2.3.4-1.2.3.6:40000-40100\n-A POSTROUTING -j SNAT --to-source 5.5.5.5\n",
            None,
        );
        let mut q = Query {
            in_iface: "in0",
            out_iface: "out0",
            proto: Proto::Udp,
            before: ends("10.0.0.2", "8.8.8.8", Some(5000), Some(53)),
            after: ends("1.2.3.5", "8.8.8.8", Some(40050), Some(53)),
            new_connection: Some(true),
        };
        assert!(matches!(
            set.explain(&q),
            Explanation::Explained { snat: Some(_), .. }
        ));
        q.after.sport = Some(5000);
        assert!(matches!(set.explain(&q), Explanation::Contradicted { .. }));
        q.proto = Proto::Tcp;
        q.after = ends("5.5.5.5", "8.8.8.8", Some(61000), Some(53));
        assert!(matches!(
            set.explain(&q),
            Explanation::Explained { snat: Some(_), .. }
        ));
    }

    #[test]
    fn dnat_and_snat_on_one_hop() {
        let set = set_of(
            "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-A PREROUTING -i in0 -d 10.0.0.1 -p tcp --dport 80 -j DNAT --to-destination 192.168.1.5:8080\n-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE\n",
            Some(ADDRS),
        );
        let q = Query {
            in_iface: "in0",
            out_iface: "out0",
            proto: Proto::Tcp,
            before: ends("10.0.0.2", "10.0.0.1", Some(33000), Some(80)),
            after: ends("203.0.113.5", "192.168.1.5", Some(33000), Some(8080)),
            new_connection: None,
        };
        let e = set.explain(&q);
        assert!(
            matches!(&e, Explanation::Explained { snat: Some(s), dnat: Some(d), .. } if s.location == Location::Line(4) && d.location == Location::Line(3)),
            "{e:?}"
        );
        // The DNAT went to another port than the rule says.
        let mut wrong = q;
        wrong.after.dport = Some(8081);
        let e = set.explain(&wrong);
        assert!(
            matches!(&e, Explanation::Contradicted { expected, .. } if expected.to_string() == "DNAT to 192.168.1.5 port 8080"),
            "{e:?}"
        );
        // No DNAT: ctstate DNAT is false, so no MASQUERADE either, as the packets show.
        let mut plain = q;
        plain.before.dst = ip("8.8.8.8");
        plain.after = plain.before;
        assert!(matches!(
            set.explain(&plain),
            Explanation::Explained {
                snat: None,
                dnat: None,
                ..
            }
        ));
    }

    #[test]
    fn masquerade_takes_the_out_interface_address() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING -o out+ -j MASQUERADE\n",
            Some(ADDRS),
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("203.0.113.5", "8.8.8.8"),
        ));
        let Explanation::Explained {
            snat: Some(_),
            masquerade: Some(m),
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((m.iface.as_str(), m.addr), ("out0", ip("203.0.113.5")));
        assert!(
            e.to_string()
                .ends_with("-j MASQUERADE (masquerades to out0's address 203.0.113.5)"),
            "{e}"
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("203.0.113.6", "8.8.8.8"),
        ));
        assert!(
            matches!(&e, Explanation::Contradicted { expected, .. } if expected.to_string() == "MASQUERADE to 203.0.113.5 (address of out0)"),
            "{e:?}"
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("fd00::2", "2001:db8:9::1"),
            ("2001:db8::5", "2001:db8:9::1"),
        ));
        assert!(
            matches!(
                &e,
                Explanation::Unexplained {
                    why: UnexplainedReason::NoNatRules { ipv6: true, .. }
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn masquerade_without_addresses_is_unevaluable() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING -j MASQUERADE\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("203.0.113.5", "8.8.8.8"),
        ));
        assert!(
            matches!(
                &e,
                Explanation::Unevaluable {
                    why: UnevaluableReason::NoAddressDump { .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn redirect_goes_to_the_in_interface_primary_address() {
        let set = set_of(
            "-P PREROUTING ACCEPT\n-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3128\n",
            Some(ADDRS),
        );
        let q = Query {
            in_iface: "in0",
            out_iface: "out0",
            proto: Proto::Tcp,
            before: ends("10.0.0.2", "93.184.216.34", Some(40000), Some(80)),
            after: ends("10.0.0.2", "10.0.0.1", Some(40000), Some(3128)),
            new_connection: Some(true),
        };
        assert!(matches!(
            set.explain(&q),
            Explanation::Explained { dnat: Some(_), .. }
        ));
    }

    #[test]
    fn accept_before_the_nat_rule_leaves_a_change_unexplained() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING ! -i qg-1 ! -o qg-1 -m conntrack ! --ctstate DNAT -j ACCEPT\n-A POSTROUTING -j SNAT --to-source 1.1.1.1\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        match e {
            Explanation::Unexplained {
                why:
                    UnexplainedReason::NoRuleMatched {
                        accepted_by: Some(r),
                        ..
                    },
            } => {
                assert_eq!(r.location, Location::Line(2))
            }
            other => panic!("{other:?}"),
        }
        // Going out of qg-1 the ACCEPT does not match, so the SNAT does.
        let e = set.explain(&icmp(
            "in0",
            "qg-1",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        assert!(matches!(e, Explanation::Explained { snat: Some(_), .. }));
        // Coming in on qg-1 (the kernel passes the in-device to POSTROUTING): no SNAT either.
        let e = set.explain(&icmp(
            "qg-1",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        assert!(matches!(e, Explanation::Explained { snat: Some(_), .. }));
    }

    #[test]
    fn unknown_matches_and_targets_are_named_not_guessed() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-A POSTROUTING -d 9.9.9.9 -m mark --mark 1 -j ACCEPT\n-A POSTROUTING -m mark --mark 1 -j ACCEPT\n-A POSTROUTING -j SNAT --to-source 1.1.1.1\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        match &e {
            Explanation::Unevaluable {
                rule,
                why: UnevaluableReason::Match { what },
            } => {
                assert_eq!(
                    rule.location,
                    Location::Line(3),
                    "line 2 fails on -d whatever the mark"
                );
                assert_eq!(what, "-m mark --mark 1");
            }
            other => panic!("{other:?}"),
        }
        let set = set_of(
            "-P PREROUTING ACCEPT\n-A PREROUTING -j NETMAP --to 10.1.0.0/16\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("10.0.0.2", "8.8.8.8"),
        ));
        assert!(
            matches!(
                &e,
                Explanation::Unevaluable {
                    why: UnevaluableReason::Target { .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn connection_state_needs_the_query_to_say() {
        let set = set_of("-P POSTROUTING ACCEPT\n-A POSTROUTING -m state --state NEW -j SNAT --to-source 1.1.1.1\n", None);
        let mut q = icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        );
        assert!(matches!(
            set.explain(&q),
            Explanation::Unevaluable {
                why: UnevaluableReason::ConnectionStateUnknown { .. },
                ..
            }
        ));
        q.new_connection = Some(true);
        assert!(matches!(
            set.explain(&q),
            Explanation::Explained { snat: Some(_), .. }
        ));
        q.new_connection = Some(false);
        assert!(matches!(set.explain(&q), Explanation::Unexplained { .. }));
    }

    #[test]
    fn goto_returns_past_its_caller_and_policy_drop_contradicts() {
        let set = set_of(
            "-P POSTROUTING DROP\n-N g\n-A POSTROUTING -g g\n-A POSTROUTING -j SNAT --to-source 1.1.1.1\n-A g -j RETURN\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        match &e {
            Explanation::Contradicted { rule, expected, .. } => {
                assert_eq!(expected.action, NatAction::Drop);
                assert_eq!(rule.rule, "-P POSTROUTING DROP");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loops_and_missing_chains_are_unevaluable() {
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-N a\n-A POSTROUTING -j a\n-A a -j a\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("10.0.0.2", "8.8.8.8"),
        ));
        assert!(
            matches!(
                &e,
                Explanation::Unevaluable {
                    why: UnevaluableReason::TooDeep,
                    ..
                }
            ),
            "{e:?}"
        );
        let set = set_of(
            "-P POSTROUTING ACCEPT\n-N a\n-A POSTROUTING -g nowhere\n",
            None,
        );
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("10.0.0.2", "8.8.8.8"),
        ));
        assert!(
            matches!(
                &e,
                Explanation::Unevaluable {
                    why: UnevaluableReason::MissingChain { .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_renumbered_id_without_rule_is_said_so() {
        let set = set_of("-P POSTROUTING ACCEPT\n", None);
        let mut q = icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("10.0.0.2", "8.8.8.8"),
        );
        q.after.sport = Some(101);
        assert!(matches!(
            set.explain(&q),
            Explanation::Unexplained {
                why: UnexplainedReason::RenumberedWithoutRule { .. }
            }
        ));
        assert_eq!(line_of(&set.explain(&q)), None);
    }

    #[test]
    fn nft_chains_run_in_priority_order_and_an_accept_hands_over() {
        let json = r#"{"nftables": [
 {"table": {"family": "inet", "name": "a", "handle": 1}},
 {"chain": {"family": "inet", "table": "a", "name": "late", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 200, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "a", "name": "early", "handle": 2, "type": "nat", "hook": "postrouting", "prio": 50, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "a", "chain": "late", "handle": 3, "expr": [{"snat": {"family": "ip", "addr": "1.1.1.1"}}]}},
 {"rule": {"family": "inet", "table": "a", "chain": "early", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.3"}}, {"snat": {"family": "ip", "addr": "2.2.2.2"}}]}},
 {"rule": {"family": "inet", "table": "a", "chain": "early", "handle": 5, "expr": [{"accept": null}]}}
]}"#;
        let ns = Namespace {
            tables: nft::parse("n.json", json, &mut |_, m| panic!("{m}")),
            ..Namespace::default()
        };
        let mut set = RuleSet::default();
        set.namespaces.insert("n".into(), ns);
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.2", "8.8.8.8"),
            ("1.1.1.1", "8.8.8.8"),
        ));
        assert_eq!(line_of(&e), Some(Location::Handle(3)), "{e:?}");
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("10.0.0.3", "8.8.8.8"),
            ("2.2.2.2", "8.8.8.8"),
        ));
        assert_eq!(line_of(&e), Some(Location::Handle(4)), "{e:?}");
        // An IPv6 packet: `ip saddr` does not match it and `snat ip` would not apply.
        let e = set.explain(&icmp(
            "in0",
            "out0",
            ("fd00::3", "2001:db8::1"),
            ("fd00::3", "2001:db8::1"),
        ));
        assert!(
            matches!(
                e,
                Explanation::Explained {
                    snat: None,
                    dnat: None,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
