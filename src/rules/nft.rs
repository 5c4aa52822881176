//! Parses the nat chains of `nft -j list ruleset` JSON (families ip, ip6, inet), and the filter
//! chains that run before connection tracking (for their `notrack`).

use serde_json::Value;

use super::table::{
    icmp_type, parse_nat_target, parse_net, parse_port_range, protocol_number, Action, AddrSpan,
    Base, Chain, CtState, Family, Hook, IfacePattern, Match, NatTarget, Rule, Source, Table,
    TableKind, Test, Verdict, CONNTRACK_PRIORITY,
};
use super::{AddrRange, Location, PortRange};

/// Parses every table that holds a nat base chain; other tables are not the nat table's.
pub(crate) fn parse(
    file: &str,
    text: &str,
    warn: &mut dyn FnMut(Option<usize>, String),
) -> Vec<Table> {
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            warn(Some(e.line()), format!("not JSON: {e}"));
            return Vec::new();
        }
    };
    let Some(items) = root.get("nftables").and_then(Value::as_array) else {
        warn(
            None,
            "JSON without an \"nftables\" array: not `nft -j list ruleset` output".into(),
        );
        return Vec::new();
    };
    let mut tables: Vec<Table> = Vec::new();
    let mut sets: Vec<NamedSet> = Vec::new();
    let mut skipped_rules = 0usize;
    // Filter chains before conntrack: (family, table, chain); split into raw tables below.
    let mut raw_chains: Vec<(Family, String, String)> = Vec::new();
    for item in items {
        if let Some(t) = item.get("table") {
            let (Some(family), Some(name)) = (family(t), str_field(t, "name")) else {
                continue;
            };
            tables.push(Table {
                family,
                kind: TableKind::Nat,
                name: name.to_string(),
                source: Source::Nft,
                file: file.to_string(),
                chains: Vec::new(),
            });
        } else if let Some(s) = item.get("set") {
            if let (Some(family), Some(table), Some(name)) =
                (family(s), str_field(s, "table"), str_field(s, "name"))
            {
                sets.push(NamedSet {
                    family,
                    table: table.to_string(),
                    name: name.to_string(),
                    elems: s.get("elem").and_then(Value::as_array).cloned(),
                });
            }
        } else if let Some(c) = item.get("chain") {
            let Some(table) = find_table(&mut tables, c) else {
                continue;
            };
            let Some(name) = str_field(c, "name") else {
                continue;
            };
            let base = chain_base(c);
            if let Some((_, TableKind::Raw)) = base {
                raw_chains.push((table.family, table.name.clone(), name.to_string()));
            }
            table.chains.push(Chain {
                name: name.to_string(),
                base: base.map(|(b, _)| b),
                policy_text: format!(
                    "chain {name} {{ type {} hook {} priority {}; policy {}; }}",
                    str_field(c, "type").unwrap_or("?"),
                    str_field(c, "hook").unwrap_or("?"),
                    c.get("prio").and_then(Value::as_i64).unwrap_or(0),
                    str_field(c, "policy").unwrap_or("accept"),
                ),
                rules: Vec::new(),
            });
        } else if let Some(r) = item.get("rule") {
            let Some(table) = find_table(&mut tables, r) else {
                continue;
            };
            let (Some(chain), Some(exprs)) = (
                str_field(r, "chain"),
                r.get("expr").and_then(Value::as_array),
            ) else {
                skipped_rules += 1;
                continue;
            };
            let handle = r.get("handle").and_then(Value::as_u64).unwrap_or(0);
            let table_name = table.name.clone();
            let family = table.family;
            let rule = rule(exprs, handle, &|name| {
                sets.iter()
                    .find(|s| s.family == family && s.table == table_name && s.name == name)
                    .and_then(|s| s.elems.clone())
            });
            match table.chain_mut(chain) {
                Some(c) => c.rules.push(rule),
                None => skipped_rules += 1,
            }
        }
    }
    if skipped_rules > 0 {
        warn(
            None,
            format!("{skipped_rules} rules without a known chain or expressions: skipped"),
        );
    }
    let mut raw = Vec::new();
    for t in &mut tables {
        let is_raw = |c: &Chain| {
            raw_chains
                .iter()
                .any(|(f, tn, cn)| *f == t.family && *tn == t.name && *cn == c.name)
        };
        if t.chains.iter().any(is_raw) {
            // The raw part: its base chains and every regular chain (a jump may go there).
            raw.push(Table {
                kind: TableKind::Raw,
                chains: t
                    .chains
                    .iter()
                    .filter(|c| is_raw(c) || c.base.is_none())
                    .cloned()
                    .collect(),
                ..t.clone()
            });
            t.chains.retain(|c| !is_raw(c));
        }
        // `notrack` does nothing in a nat chain (conntrack has run): it is no verdict there.
        for c in &mut t.chains {
            for r in &mut c.rules {
                if matches!(r.action, Action::NoTrack) {
                    r.action = Action::Continue;
                }
            }
        }
    }
    tables.retain(|t| t.chains.iter().any(|c| c.base.is_some()));
    tables.extend(raw);
    tables
}

struct NamedSet {
    family: Family,
    table: String,
    name: String,
    elems: Option<Vec<Value>>,
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn family(v: &Value) -> Option<Family> {
    match str_field(v, "family")? {
        "ip" => Some(Family::V4),
        "ip6" => Some(Family::V6),
        "inet" => Some(Family::Inet),
        _ => None,
    }
}

fn find_table<'t>(tables: &'t mut [Table], v: &Value) -> Option<&'t mut Table> {
    let family = family(v)?;
    let name = str_field(v, "table")?;
    tables
        .iter_mut()
        .find(|t| t.family == family && t.name == name)
}

/// Only chains of type nat translate; a filter chain on the same hook is not ours, except one
/// on prerouting or output before conntrack's priority: a raw chain, where `notrack` acts.
fn chain_base(c: &Value) -> Option<(Base, TableKind)> {
    let priority = c.get("prio").and_then(Value::as_i64).unwrap_or(0);
    let (kind, hook) = match (str_field(c, "type")?, str_field(c, "hook")?) {
        ("nat", "prerouting") => (TableKind::Nat, Hook::Prerouting),
        ("nat", "postrouting") => (TableKind::Nat, Hook::Postrouting),
        ("nat", "output") => (TableKind::Nat, Hook::Output),
        ("nat", "input") => (TableKind::Nat, Hook::Input),
        ("filter", "prerouting") if priority < CONNTRACK_PRIORITY => {
            (TableKind::Raw, Hook::Prerouting)
        }
        ("filter", "output") if priority < CONNTRACK_PRIORITY => (TableKind::Raw, Hook::Output),
        _ => return None,
    };
    let base = Base {
        hook,
        priority: i32::try_from(priority).unwrap_or(0),
        policy: match str_field(c, "policy") {
            Some("drop") => Verdict::Drop,
            _ => Verdict::Accept,
        },
        policy_at: Location::Handle(c.get("handle").and_then(Value::as_u64).unwrap_or(0)),
    };
    Some((base, kind))
}

/// Reads a rule's expressions: matches in order, then the first verdict or nat statement.
fn rule(exprs: &[Value], handle: u64, set: &dyn Fn(&str) -> Option<Vec<Value>>) -> Rule {
    let mut matches = Vec::new();
    let mut action = None;
    let mut words = Vec::new();
    for expr in exprs {
        words.push(render(expr));
        if action.is_some() {
            continue;
        }
        let Some((key, body)) = expr.as_object().and_then(|o| o.iter().next()) else {
            matches.push(Match::new(Test::Unsupported(render(expr))));
            continue;
        };
        match key.as_str() {
            "match" => matches.extend(match_expr(body, set)),
            "counter" | "log" | "mangle" => {}
            "notrack" => action = Some(Action::NoTrack),
            "accept" => action = Some(Action::Accept),
            "drop" | "reject" => action = Some(Action::Drop),
            "return" => action = Some(Action::Return),
            "continue" => {}
            "jump" | "goto" => {
                let target = str_field(body, "target").unwrap_or("").to_string();
                action = Some(if key == "jump" {
                    Action::Jump(target)
                } else {
                    Action::Goto(target)
                });
            }
            "snat" | "dnat" => {
                action = Some(match nat_target(body) {
                    Some(t) if key == "snat" => Action::Snat(vec![t]),
                    Some(t) => Action::Dnat(vec![t]),
                    None => Action::Unsupported(render(expr)),
                })
            }
            "masquerade" | "redirect" => {
                let ports = match body.get("port") {
                    None | Some(Value::Null) => Ok(None),
                    Some(p) => port_range(p).map(Some).ok_or(()),
                };
                action = Some(match ports {
                    Ok(p) if key == "masquerade" => Action::Masquerade(p),
                    Ok(p) => Action::Redirect(p),
                    Err(()) => Action::Unsupported(render(expr)),
                });
            }
            "xt" if str_field(body, "type") == Some("match") => {
                matches.push(Match::new(Test::Unsupported(render(expr))));
            }
            "xt" | "queue" | "vmap" | "tproxy" => action = Some(Action::Unsupported(render(expr))),
            _ => matches.push(Match::new(Test::Unsupported(render(expr)))),
        }
    }
    Rule {
        location: Location::Handle(handle),
        text: words.join(" "),
        matches,
        action: action.unwrap_or(Action::Continue),
    }
}

/// One `match` expression; several tests when nft's implicit dependencies apply (`tcp dport`
/// also tests the protocol, `ip saddr` the family).
fn match_expr(body: &Value, set: &dyn Fn(&str) -> Option<Vec<Value>>) -> Vec<Match> {
    let unsupported = || vec![Match::new(Test::Unsupported(render_match(body)))];
    let op = str_field(body, "op").unwrap_or("==");
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else {
        return unsupported();
    };
    let negated = match op {
        "==" | "in" => false,
        "!=" => true,
        "<" | ">" | "<=" | ">=" => {
            // Only port comparisons: `tcp dport < 1024`.
            let Some(n) = right.as_u64().and_then(|n| u16::try_from(n).ok()) else {
                return unsupported();
            };
            let range = match op {
                "<" if n > 0 => PortRange {
                    first: 0,
                    last: n - 1,
                },
                "<=" => PortRange { first: 0, last: n },
                ">" if n < u16::MAX => PortRange {
                    first: n + 1,
                    last: u16::MAX,
                },
                ">=" => PortRange {
                    first: n,
                    last: u16::MAX,
                },
                _ => return unsupported(),
            };
            return match port_left(left) {
                Some((deps, sport)) => with_deps(deps, false, port_test(sport, vec![range])),
                None => unsupported(),
            };
        }
        _ => return unsupported(),
    };
    let values = match values(right, set) {
        Some(v) => v,
        None => return unsupported(),
    };
    let test = if let Some(p) = left.get("payload") {
        let proto = str_field(p, "protocol").unwrap_or("");
        let field = str_field(p, "field").unwrap_or("");
        match (proto, field) {
            ("ip" | "ip6", "saddr" | "daddr") => {
                let fam = if proto == "ip" {
                    Family::V4
                } else {
                    Family::V6
                };
                let Some(spans) = addr_spans(&values) else {
                    return unsupported();
                };
                let test = if field == "saddr" {
                    Test::Src(spans)
                } else {
                    Test::Dst(spans)
                };
                return with_deps(vec![Test::Nfproto(fam)], negated, test);
            }
            ("ip", "protocol") | ("ip6", "nexthdr") => {
                let fam = if proto == "ip" {
                    Family::V4
                } else {
                    Family::V6
                };
                let Some(protos) = protocols(&values) else {
                    return unsupported();
                };
                return with_deps(vec![Test::Nfproto(fam)], negated, Test::Protocol(protos));
            }
            ("icmp" | "icmpv6", "type") => {
                let v6 = proto == "icmpv6";
                let types: Option<Vec<u8>> = values
                    .iter()
                    .map(|v| match v {
                        Elem::Str(s) => icmp_type(s, v6),
                        Elem::Num(n) => u8::try_from(*n).ok(),
                        _ => None,
                    })
                    .collect();
                let Some(types) = types else {
                    return unsupported();
                };
                return with_deps(
                    vec![Test::Protocol(vec![if v6 { 58 } else { 1 }])],
                    negated,
                    Test::IcmpType(types),
                );
            }
            (_, "sport" | "dport") => {
                let Some((deps, sport)) = port_left(left) else {
                    return unsupported();
                };
                let Some(ranges) = port_ranges(&values) else {
                    return unsupported();
                };
                return with_deps(deps, negated, port_test(sport, ranges));
            }
            _ => return unsupported(),
        }
    } else if let Some(m) = left.get("meta") {
        match str_field(m, "key").unwrap_or("") {
            "iifname" | "iif" => Test::InIface(ifaces(&values)),
            "oifname" | "oif" => Test::OutIface(ifaces(&values)),
            "l4proto" => match protocols(&values) {
                Some(p) => Test::Protocol(p),
                None => return unsupported(),
            },
            "nfproto" | "protocol" => {
                let fams: Vec<Family> = values
                    .iter()
                    .filter_map(|v| match v {
                        Elem::Str(s) if s == "ipv4" || s == "ip" => Some(Family::V4),
                        Elem::Str(s) if s == "ipv6" || s == "ip6" => Some(Family::V6),
                        _ => None,
                    })
                    .collect();
                match fams.as_slice() {
                    [f] => Test::Nfproto(*f),
                    _ => return unsupported(),
                }
            }
            _ => return unsupported(),
        }
    } else if let Some(ct) = left.get("ct") {
        match str_field(ct, "key").unwrap_or("") {
            "state" | "status" => {
                let states: Option<Vec<CtState>> = values
                    .iter()
                    .map(|v| match v {
                        Elem::Str(s) => CtState::parse(s),
                        _ => None,
                    })
                    .collect();
                match states {
                    Some(s) => Test::CtState(s),
                    None => return unsupported(),
                }
            }
            _ => return unsupported(),
        }
    } else {
        return unsupported();
    };
    vec![Match { negated, test }]
}

/// The dependencies hold whatever the negation: `tcp dport != 22` still needs TCP.
fn with_deps(deps: Vec<Test>, negated: bool, test: Test) -> Vec<Match> {
    let mut out: Vec<Match> = deps.into_iter().map(Match::new).collect();
    out.push(Match { negated, test });
    out
}

fn port_left(left: &Value) -> Option<(Vec<Test>, bool)> {
    let p = left.get("payload")?;
    let sport = match str_field(p, "field")? {
        "sport" => true,
        "dport" => false,
        _ => return None,
    };
    let deps = match str_field(p, "protocol")? {
        "th" => Vec::new(),
        proto => vec![Test::Protocol(vec![protocol_number(proto)?])],
    };
    Some((deps, sport))
}

fn port_test(sport: bool, ranges: Vec<PortRange>) -> Test {
    if sport {
        Test::Sport(ranges)
    } else {
        Test::Dport(ranges)
    }
}

/// A right-hand side flattened: a value, a set, an array of flags, a named set.
#[derive(Debug, Clone)]
enum Elem {
    Str(String),
    Num(u64),
    Prefix(String, u8),
    Range(String, String),
}

fn values(right: &Value, set: &dyn Fn(&str) -> Option<Vec<Value>>) -> Option<Vec<Elem>> {
    match right {
        Value::String(s) if s.starts_with('@') => {
            let elems = set(&s[1..])?;
            elems.iter().map(elem).collect()
        }
        Value::Array(items) => items.iter().map(elem).collect(),
        Value::Object(o) if o.contains_key("set") => {
            o.get("set")?.as_array()?.iter().map(elem).collect()
        }
        other => Some(vec![elem(other)?]),
    }
}

fn elem(v: &Value) -> Option<Elem> {
    match v {
        Value::String(s) => Some(Elem::Str(s.clone())),
        Value::Number(n) => n.as_u64().map(Elem::Num),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
                Some(Elem::Prefix(str_field(p, "addr")?.to_string(), len))
            } else if let Some(r) = o.get("range").and_then(Value::as_array) {
                let text = |v: &Value| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                Some(Elem::Range(text(r.first()?)?, text(r.get(1)?)?))
            } else if let Some(e) = o.get("elem") {
                // Set elements with a timeout or comment: `{"elem": {"val": …}}`.
                elem(e.get("val")?)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn addr_spans(values: &[Elem]) -> Option<Vec<AddrSpan>> {
    values
        .iter()
        .map(|v| match v {
            Elem::Str(s) => parse_net(s).ok(),
            Elem::Prefix(a, len) => parse_net(&format!("{a}/{len}")).ok(),
            Elem::Range(a, b) => Some(AddrSpan::Range(AddrRange {
                first: a.parse().ok()?,
                last: b.parse().ok()?,
            })),
            Elem::Num(_) => None,
        })
        .collect()
}

fn port_ranges(values: &[Elem]) -> Option<Vec<PortRange>> {
    values
        .iter()
        .map(|v| match v {
            Elem::Num(n) => {
                let p = u16::try_from(*n).ok()?;
                Some(PortRange { first: p, last: p })
            }
            Elem::Range(a, b) => parse_port_range(&format!("{a}-{b}")).ok(),
            _ => None,
        })
        .collect()
}

fn protocols(values: &[Elem]) -> Option<Vec<u8>> {
    values
        .iter()
        .map(|v| match v {
            Elem::Str(s) => protocol_number(s),
            Elem::Num(n) => u8::try_from(*n).ok(),
            _ => None,
        })
        .collect()
}

fn ifaces(values: &[Elem]) -> Vec<IfacePattern> {
    values
        .iter()
        .filter_map(|v| match v {
            Elem::Str(s) => Some(IfacePattern::parse(s, '*')),
            _ => None,
        })
        .collect()
}

/// `{"addr": "1.2.3.4", "port": 80}`; an address map or expression is not evaluated.
fn nat_target(body: &Value) -> Option<NatTarget> {
    let addrs = match body.get("addr") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_nat_target(s).ok()?.addrs,
        Some(v) => match elem(v)? {
            Elem::Range(a, b) => Some(AddrRange {
                first: a.parse().ok()?,
                last: b.parse().ok()?,
            }),
            _ => return None,
        },
    };
    let ports = match body.get("port") {
        None | Some(Value::Null) => None,
        Some(p) => Some(port_range(p)?),
    };
    if addrs.is_none() && ports.is_none() {
        return None;
    }
    Some(NatTarget { addrs, ports })
}

fn port_range(v: &Value) -> Option<PortRange> {
    match elem(v)? {
        Elem::Num(n) => {
            let p = u16::try_from(n).ok()?;
            Some(PortRange { first: p, last: p })
        }
        Elem::Range(a, b) => parse_port_range(&format!("{a}-{b}")).ok(),
        _ => None,
    }
}

/// Writes an expression back in nft's own syntax, so a report quotes the rule as `nft list`
/// would show it.
fn render(expr: &Value) -> String {
    let Some((key, body)) = expr.as_object().and_then(|o| o.iter().next()) else {
        return expr.to_string();
    };
    match key.as_str() {
        "match" => render_match(body),
        "counter" => "counter".into(),
        "accept" | "drop" | "return" | "continue" | "masquerade" | "redirect" if body.is_null() => {
            key.clone()
        }
        "jump" | "goto" => format!("{key} {}", str_field(body, "target").unwrap_or("?")),
        "snat" | "dnat" | "masquerade" | "redirect" => {
            let mut s = key.clone();
            if let Some(f) = str_field(body, "family") {
                s.push(' ');
                s.push_str(f);
            }
            let addr = body.get("addr").map(render_value);
            let port = body.get("port").map(render_value);
            match (addr, port) {
                (Some(a), Some(p)) => s.push_str(&format!(" to {a}:{p}")),
                (Some(a), None) => s.push_str(&format!(" to {a}")),
                (None, Some(p)) => s.push_str(&format!(" to :{p}")),
                (None, None) => {}
            }
            s
        }
        "xt" => format!(
            "xt {} {}",
            str_field(body, "type").unwrap_or("?"),
            str_field(body, "name").unwrap_or("?")
        ),
        _ => expr.to_string(),
    }
}

fn render_match(body: &Value) -> String {
    let left = body.get("left").map(render_value).unwrap_or_default();
    let right = body.get("right").map(render_value).unwrap_or_default();
    let quoted = body
        .get("left")
        .and_then(|l| l.get("meta"))
        .and_then(|m| str_field(m, "key"))
        .is_some_and(|k| k.ends_with("ifname"))
        && body.get("right").is_some_and(Value::is_string);
    let right = if quoted {
        format!("\"{right}\"")
    } else {
        right
    };
    match str_field(body, "op").unwrap_or("==") {
        "==" | "in" => format!("{left} {right}"),
        op => format!("{left} {op} {right}"),
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(render_value).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            if let Some(p) = o.get("payload") {
                format!(
                    "{} {}",
                    str_field(p, "protocol").unwrap_or("?"),
                    str_field(p, "field").unwrap_or("?")
                )
            } else if let Some(m) = o.get("meta") {
                let key = str_field(m, "key").unwrap_or("?");
                if matches!(key, "iifname" | "oifname" | "iif" | "oif" | "mark") {
                    key.to_string()
                } else {
                    format!("meta {key}")
                }
            } else if let Some(ct) = o.get("ct") {
                format!("ct {}", str_field(ct, "key").unwrap_or("?"))
            } else if let Some(p) = o.get("prefix") {
                format!(
                    "{}/{}",
                    str_field(p, "addr").unwrap_or("?"),
                    p.get("len").map(render_value).unwrap_or_default()
                )
            } else if let Some(r) = o.get("range").and_then(Value::as_array) {
                r.iter().map(render_value).collect::<Vec<_>>().join("-")
            } else if let Some(s) = o.get("set").and_then(Value::as_array) {
                format!(
                    "{{ {} }}",
                    s.iter().map(render_value).collect::<Vec<_>>().join(", ")
                )
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(text: &str) -> (Vec<Table>, Vec<(Option<usize>, String)>) {
        let mut warnings = Vec::new();
        let tables = parse("t.json", text, &mut |l, m| warnings.push((l, m)));
        (tables, warnings)
    }

    const RULESET: &str = r#"{"nftables": [
 {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "n", "handle": 3}},
 {"table": {"family": "ip", "name": "filter", "handle": 4}},
 {"table": {"family": "bridge", "name": "b", "handle": 5}},
 {"chain": {"family": "ip", "table": "filter", "name": "fwd", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
 {"set": {"family": "inet", "name": "s", "table": "n", "type": "ipv4_addr", "handle": 4, "elem": ["198.51.100.7", {"prefix": {"addr": "10.0.0.0", "len": 8}}]}},
 {"chain": {"family": "inet", "table": "n", "name": "pre", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "n", "name": "post", "handle": 2, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "drop"}},
 {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 5, "expr": [
   {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth*"}},
   {"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [8000, 8010]}]}}},
   {"counter": {"packets": 0, "bytes": 0}},
   {"dnat": {"family": "ip", "addr": "192.168.1.2", "port": 80}}]}},
 {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 6, "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@s"}},
   {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
   {"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 2}},
   {"return": null}]}},
 {"rule": {"family": "inet", "table": "n", "chain": "post", "handle": 7, "expr": [
   {"match": {"op": "<", "left": {"payload": {"protocol": "th", "field": "sport"}}, "right": 1024}},
   {"snat": {"family": "ip", "addr": {"range": ["1.2.3.4", "1.2.3.6"]}, "port": {"range": [1000, 2000]}}}]}},
 {"rule": {"family": "inet", "table": "n", "chain": "post", "handle": 8, "expr": [{"masquerade": {"port": 5000}}]}},
 {"rule": {"family": "inet", "table": "n", "chain": "post", "handle": 9, "expr": [{"xt": {"type": "target", "name": "SNAT"}}]}},
 {"rule": {"family": "inet", "table": "n", "chain": "nowhere", "handle": 10, "expr": []}}
]}"#;

    #[test]
    fn reads_nat_chains_and_their_rules() {
        let (tables, warnings) = parse_json(RULESET);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(tables.len(), 1, "only the table with nat chains");
        let t = &tables[0];
        assert_eq!(t.family, Family::Inet);
        let pre = t.chain("pre").unwrap();
        assert_eq!(pre.base.unwrap().priority, -100);
        let r = &pre.rules[0];
        assert_eq!(r.location, Location::Handle(5));
        assert_eq!(
            r.text,
            "iifname \"eth*\" tcp dport != { 22, 8000-8010 } counter dnat ip to 192.168.1.2:80"
        );
        assert_eq!(
            r.matches[0].test,
            Test::InIface(vec![IfacePattern::Prefix("eth".into())])
        );
        assert_eq!(r.matches[1], Match::new(Test::Protocol(vec![6])));
        assert_eq!(
            r.matches[2],
            Match {
                negated: true,
                test: Test::Dport(vec![
                    PortRange {
                        first: 22,
                        last: 22
                    },
                    PortRange {
                        first: 8000,
                        last: 8010
                    }
                ])
            }
        );
        assert!(
            matches!(&r.action, Action::Dnat(t) if t[0].ports == Some(PortRange { first: 80, last: 80 }))
        );
        let r = &pre.rules[1];
        assert_eq!(r.matches[0].test, Test::Nfproto(Family::V4));
        assert!(matches!(&r.matches[1].test, Test::Src(s) if s.len() == 2));
        assert_eq!(
            r.matches[2].test,
            Test::CtState(vec![CtState::Established, CtState::Related])
        );
        assert_eq!(r.matches[3].test, Test::Unsupported("mark 2".into()));
        assert_eq!(r.action, Action::Return);
        let post = t.chain("post").unwrap();
        assert_eq!(post.base.unwrap().policy, Verdict::Drop);
        assert_eq!(
            post.rules[0].matches[0].test,
            Test::Sport(vec![PortRange {
                first: 0,
                last: 1023
            }])
        );
        assert!(
            matches!(&post.rules[0].action, Action::Snat(t) if t[0].addrs.unwrap().last.to_string() == "1.2.3.6")
        );
        assert_eq!(
            post.rules[1].action,
            Action::Masquerade(Some(PortRange {
                first: 5000,
                last: 5000
            }))
        );
        assert_eq!(
            post.rules[2].action,
            Action::Unsupported("xt target SNAT".into())
        );
    }

    #[test]
    fn bad_json_is_a_warning() {
        let (tables, warnings) = parse_json("{\"nftables\": [");
        assert!(tables.is_empty());
        assert_eq!(warnings.len(), 1);
        let (_, warnings) = parse_json("{\"other\": 1}");
        assert!(warnings[0].1.contains("nftables"));
    }
}
