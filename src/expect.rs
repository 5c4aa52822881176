//! Expectations for pipelines: small rules checked against an analysis, each passing or failing
//! with what was found instead. A failed expectation makes the exit code 1.
//!
//! ```text
//! snat A>B          a source translation between a point matching glob A and one matching B
//! dnat A>B          a destination translation between them
//! id A>B            an ICMP identifier rewrite between them
//! sport A>B         a source-port rewrite between them (dport A>B: a destination-port one)
//! no-nat A>B        no translation of any kind between them
//! loss OP N         packets (requests and replies) lost between capture points, all flows
//! hop-latency OP D  the worst p95 hop latency, requests and replies, all hops (D: 250us, 5ms, 1s)
//! rtt OP D          the worst median round-trip time seen at any point
//! nat-count OP N    distinct translations found
//! flows OP N        flows found
//! explained         every translation explained by the `--rules` dumps, none contradicted,
//!                   no translation a rule should have made missing
//! OP is one of = == != < <= > >=; globs use * and ?; spaces around OP are allowed.
//! Any rule may end in a protocol, icmp, tcp or udp (`loss=0 tcp`): it is then checked on the
//! flows of that protocol only (and the translations seen on them).
//! ```

use crate::model::{Analysis, Matched, Point, Protocol, RuleVerdict, TranslationKind, Verdict};

/// One rule, as parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub text: String,
    rule: Rule,
    /// Checked on the flows of this protocol only.
    protocol: Option<Protocol>,
}

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    Nat(TranslationKind, String, String),
    NoNat(String, String),
    Count(Measure, Op, f64),
    Explained,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Measure {
    Loss,
    HopLatency,
    Rtt,
    NatCount,
    Flows,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// A rule that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read expectation {rule:?}: {why}")]
pub struct ParseError {
    pub rule: String,
    pub why: String,
}

impl std::str::FromStr for Expectation {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let t = text.trim();
        // A trailing protocol word narrows the rule to that protocol's flows.
        let (body, protocol) = match t.rsplit_once(char::is_whitespace) {
            Some((body, word)) => match Protocol::from_keyword(word) {
                Some(p) => (body.trim_end(), Some(p)),
                None => (t, None),
            },
            None => (t, None),
        };
        let rule = parse_rule(text, body)?;
        Ok(Expectation {
            text: t.to_string(),
            rule,
            protocol,
        })
    }
}

/// The rule of an expectation, without its protocol word (`text` is the whole, for errors).
fn parse_rule(text: &str, t: &str) -> Result<Rule, ParseError> {
    let err = |why: &str| ParseError {
        rule: text.to_string(),
        why: why.to_string(),
    };
    if t == "explained" {
        return Ok(Rule::Explained);
    }
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    if matches!(word, "snat" | "dnat" | "id" | "sport" | "dport" | "no-nat") {
        let kind = match word {
            "snat" => Some(TranslationKind::Snat),
            "dnat" => Some(TranslationKind::Dnat),
            "id" => Some(TranslationKind::Id),
            "sport" => Some(TranslationKind::Sport),
            "dport" => Some(TranslationKind::Dport),
            _ => None,
        };
        let (a, b) = rest
            .trim()
            .split_once('>')
            .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| err("expected two point globs as FROM>TO, e.g. ha-*>qg-*"))?;
        return Ok(match kind {
            Some(k) => Rule::Nat(k, a, b),
            None => Rule::NoNat(a, b),
        });
    }
    let at = t.find(['=', '!', '<', '>']).ok_or_else(|| {
            err("expected snat|dnat|id|sport|dport|no-nat FROM>TO, explained, or MEASURE OP VALUE such as loss=0 (then optionally icmp, tcp or udp)")
        })?;
    let (name, rest) = t.split_at(at);
    let measure = match name.trim() {
        "loss" => Measure::Loss,
        "hop-latency" => Measure::HopLatency,
        "rtt" => Measure::Rtt,
        "nat-count" => Measure::NatCount,
        "flows" => Measure::Flows,
        other => {
            return Err(err(&format!(
                "unknown measure {other:?} (loss, hop-latency, rtt, nat-count, flows)"
            )))
        }
    };
    let (op, value) = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|v| (*op, v.trim())))
    .ok_or_else(|| err("expected one of = == != < <= > >="))?;
    let value = match measure {
        Measure::HopLatency | Measure::Rtt => parse_duration(value)
            .ok_or_else(|| err("expected a duration such as 250us, 5ms or 1s"))?,
        _ => value
            .parse::<u64>()
            .map_err(|_| err("expected a whole number"))? as f64,
    };
    Ok(Rule::Count(measure, op, value))
}

/// Nanoseconds in "250us", "5ms", "1.5s", "800ns" ("µs" too).
fn parse_duration(s: &str) -> Option<f64> {
    let at = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(at);
    let n: f64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(n * mult)
}

/// `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Expectation {
    /// The rule's point globs that match no capture point: such a rule could never be checked,
    /// so it is an error of the command line (a typo), not a verdict.
    pub fn unmatched_globs<'a>(&'a self, points: &[Point]) -> Vec<&'a str> {
        let globs: Vec<&str> = match &self.rule {
            Rule::Nat(_, a, b) | Rule::NoNat(a, b) => vec![a, b],
            Rule::Count(..) | Rule::Explained => Vec::new(),
        };
        globs
            .into_iter()
            .filter(|g| !points.iter().any(|p| glob(g, &p.name)))
            .collect()
    }

    pub fn check(&self, a: &Analysis) -> Verdict {
        let only;
        let a = match self.protocol {
            Some(p) => {
                only = of_protocol(a, p);
                &only
            }
            None => a,
        };
        let (passed, found) = match &self.rule {
            Rule::Count(Measure::Flows, ..) => self.check_in(a),
            _ if a.flows.is_empty() && self.protocol.is_some() => (
                false,
                format!(
                    "not measured: no {} flow",
                    self.protocol.map(|p| p.to_string()).unwrap_or_default()
                ),
            ),
            _ => self.check_in(a),
        };
        Verdict {
            rule: self.text.clone(),
            passed,
            found,
        }
    }

    /// Whether the rule holds on `a` (already narrowed to its protocol), and what was found.
    fn check_in(&self, a: &Analysis) -> (bool, String) {
        match &self.rule {
            Rule::Nat(kind, from, to) => {
                let (spans, hits) = translations_between(a, from, to, Some(*kind));
                if spans == 0 {
                    (false, not_between(from, to))
                } else if hits.is_empty() {
                    (false, describe_nat(a, *kind))
                } else {
                    (true, hits.join("; "))
                }
            }
            Rule::NoNat(from, to) => {
                let (spans, hits) = translations_between(a, from, to, None);
                if spans == 0 {
                    (false, not_between(from, to))
                } else if hits.is_empty() {
                    (
                        true,
                        format!(
                            "no translation there (every hop between them, {})",
                            crate::text::count(spans as u64, "flow", "flows")
                        ),
                    )
                } else {
                    (false, hits.join("; "))
                }
            }
            Rule::Count(Measure::Loss, op, want) => match loss_bounds(a) {
                Err(why) => (false, format!("not measured: {why}")),
                Ok((low, high, found)) => match (op.holds(low, *want), op.holds(high, *want)) {
                    (true, true) => (true, found),
                    (false, false) => (false, found),
                    _ => (false, format!("cannot tell: {found}")),
                },
            },
            Rule::Explained => explained(a),
            Rule::Count(measure, op, want) => match measure_value(a, *measure) {
                (Some(value), found) => (op.holds(value, *want), found),
                (None, why) => (false, format!("not measured: {why}")),
            },
        }
    }
}

/// The analysis as far as it concerns the flows of one protocol: those flows, the
/// translations seen on them and the rule problems of their hops.
fn of_protocol(a: &Analysis, p: Protocol) -> Analysis {
    let flows: Vec<_> = a
        .flows
        .iter()
        .filter(|f| f.origin.protocol == p)
        .cloned()
        .collect();
    let nat = a
        .nat
        .iter()
        .filter(|n| n.protocols.contains(&p))
        .cloned()
        .collect();
    let hops: std::collections::HashSet<(&str, &str)> = flows
        .iter()
        .flat_map(|f| f.hops.iter().map(|h| (h.from.as_str(), h.to.as_str())))
        .collect();
    let rule_problems = a
        .rule_problems
        .iter()
        .filter(|r| hops.contains(&(r.from.as_str(), r.to.as_str())))
        .cloned()
        .collect();
    Analysis {
        schema_version: a.schema_version,
        points: a.points.clone(),
        flows,
        nat,
        clock_offsets: Vec::new(),
        expectations: Vec::new(),
        warnings: Vec::new(),
        rule_namespaces: a.rule_namespaces.clone(),
        rule_problems,
        notes: Vec::new(),
        packets: Vec::new(),
        timings: Vec::new(),
    }
}

/// Every rule checked; an error (exit 2) when a rule names points that do not exist.
pub fn check_all(rules: &[Expectation], a: &Analysis) -> Result<Vec<Verdict>, String> {
    for rule in rules {
        let unmatched = rule.unmatched_globs(&a.points);
        if !unmatched.is_empty() {
            return Err(format!(
                "--expect {:?}: no capture point matches {}",
                rule.text,
                unmatched.join(" or ")
            ));
        }
    }
    Ok(rules.iter().map(|r| r.check(a)).collect())
}

/// `explained`: every translation tied to its rule, and no disagreement on any hop.
fn explained(a: &Analysis) -> (bool, String) {
    if a.rule_namespaces.is_empty() {
        return (
            false,
            "not measured: no --rules dumps given (or none could be read)".to_string(),
        );
    }
    let ok = a
        .nat
        .iter()
        .filter(|n| {
            n.explanation
                .as_ref()
                .is_some_and(|e| e.verdict == RuleVerdict::Explained)
        })
        .count();
    if a.rule_problems.is_empty() {
        return (
            true,
            format!(
                "{ok} of {} explained by the rules",
                crate::text::count(a.nat.len() as u64, "translation", "translations")
            ),
        );
    }
    let first = &a.rule_problems[0];
    (
        false,
        format!(
            "{ok} of {} explained; {}, first {} → {}: {}",
            crate::text::count(a.nat.len() as u64, "translation", "translations"),
            crate::text::count(a.rule_problems.len() as u64, "problem", "problems"),
            first.from,
            first.to,
            first.explanation.text
        ),
    )
}

fn not_between(from: &str, to: &str) -> String {
    format!("not measured: no flow passes a point matching {from} and then one matching {to}")
}

/// Every translation (of `kind`, or any) on the hops between a point matching `from` and a
/// later point of the same flow's path matching `to` (adjacent or not: all hops between are
/// covered), and how many flows have such a stretch of path.
fn translations_between(
    a: &Analysis,
    from: &str,
    to: &str,
    kind: Option<TranslationKind>,
) -> (usize, Vec<String>) {
    let mut spans = 0;
    let mut hits: Vec<String> = Vec::new();
    for f in &a.flows {
        let Some(i) = f.path.iter().position(|p| glob(from, p)) else {
            continue;
        };
        let Some(j) = f.path.iter().rposition(|p| glob(to, p)).filter(|&j| j > i) else {
            continue;
        };
        spans += 1;
        for h in &f.hops[i..j.min(f.hops.len())] {
            for t in h
                .translations
                .iter()
                .filter(|t| kind.is_none_or(|k| t.kind == k))
            {
                let text = format!(
                    "{} {} → {} between {} and {}",
                    t.kind, t.before, t.after, h.from, h.to
                );
                if !hits.contains(&text) {
                    hits.push(text);
                }
            }
        }
    }
    (spans, hits)
}

fn describe_nat(a: &Analysis, kind: TranslationKind) -> String {
    let same: Vec<String> = a
        .nat
        .iter()
        .filter(|n| n.kind == kind)
        .map(|n| format!("between {} and {}", n.from, n.to))
        .collect();
    if same.is_empty() {
        format!("no {kind} found")
    } else {
        format!("{kind} found only {}", same.join(", "))
    }
}

/// Loss as far as the packets prove it: at least the packets lost, at most those plus the
/// packets missing where a capture was not demonstrably running (unverified), unbounded when a
/// flow's points never saw the same packet; with what was found. An error when nothing at all
/// could be compared.
fn loss_bounds(a: &Analysis) -> Result<(f64, f64, String), String> {
    let compared = a
        .flows
        .iter()
        .any(|f| f.matched == Matched::Packet && !f.hops.is_empty());
    if !compared {
        return Err(
            "no packet was seen at two capture points, so loss between them cannot be compared"
                .to_string(),
        );
    }
    let (mut lost, mut unverified) = (0u64, 0u64);
    let mut places = Vec::new();
    let mut unknown = Vec::new();
    for (i, f) in a.flows.iter().enumerate() {
        if f.matched == Matched::Flow && !f.hops.is_empty() {
            unknown.push(format!("flow {}", i + 1));
            continue;
        }
        for h in &f.hops {
            let n = u64::from(h.lost.request) + u64::from(h.lost.reply);
            let u = u64::from(h.lost.request_unverified) + u64::from(h.lost.reply_unverified);
            lost += n;
            unverified += u;
            if n > 0 {
                places.push(format!(
                    "flow {}: {n} between {} and {}",
                    i + 1,
                    h.from,
                    h.to
                ));
            }
            if u > 0 {
                places.push(format!(
                    "flow {}: {u} unverified between {} and {}",
                    i + 1,
                    h.from,
                    h.to
                ));
            }
        }
    }
    let mut found = match (lost, unverified) {
        (0, 0) => "no packet lost".to_string(),
        (_, 0) => format!("{lost} lost ({})", places.join("; ")),
        _ => format!(
            "{lost} lost, {unverified} unverified: missing where the capture was not demonstrably running ({})",
            places.join("; ")
        ),
    };
    if !unknown.is_empty() {
        found.push_str(&format!(
            "; not measured for {}: no packet seen at two of its points",
            unknown.join(", ")
        ));
    }
    let high = if unknown.is_empty() {
        (lost + unverified) as f64
    } else {
        f64::INFINITY
    };
    Ok((lost as f64, high, found))
}

/// The measured value and what was found, or `None` and why it could not be measured.
fn measure_value(a: &Analysis, m: Measure) -> (Option<f64>, String) {
    match m {
        Measure::Loss => match loss_bounds(a) {
            Ok((low, _, found)) => (Some(low), found),
            Err(why) => (None, why),
        },
        Measure::HopLatency => {
            let worst = a
                .flows
                .iter()
                .flat_map(|f| &f.hops)
                .flat_map(|h| {
                    [
                        (h, "request", &h.latency_ns.request),
                        (h, "reply", &h.latency_ns.reply),
                    ]
                })
                .filter_map(|(h, dir, s)| s.map(|s| (s.p95, h, dir)))
                .max_by_key(|(p95, ..)| *p95);
            match worst {
                Some((p95, h, dir)) => (
                    Some(p95 as f64),
                    format!(
                        "worst p95 {} ({dir}s, {} → {})",
                        crate::units::fmt_ns(p95),
                        h.from,
                        h.to
                    ),
                ),
                None => (
                    None,
                    "no hop latency: no packet was seen at both ends of a hop".to_string(),
                ),
            }
        }
        Measure::Rtt => {
            let worst = a
                .flows
                .iter()
                .flat_map(|f| &f.points)
                .filter_map(|p| p.rtt_ns.map(|s| (s.median, p)))
                .max_by_key(|(m, _)| *m);
            match worst {
                Some((m, p)) => (
                    Some(m as f64),
                    format!(
                        "worst median RTT {} at {}",
                        crate::units::fmt_ns(m),
                        p.point
                    ),
                ),
                None => (
                    None,
                    "no round trip: no request and its reply were seen at one point".to_string(),
                ),
            }
        }
        Measure::NatCount => (
            Some(a.nat.len() as f64),
            crate::text::count(a.nat.len() as u64, "translation", "translations"),
        ),
        Measure::Flows => (
            Some(a.flows.len() as f64),
            crate::text::count(a.flows.len() as u64, "flow", "flows"),
        ),
    }
}

/// Reads rules from a file's text: one per line, `#` starts a comment.
pub fn parse_file(text: &str) -> Result<Vec<Expectation>, ParseError> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::parse)
        .collect()
}

/// A rule file's line longer than this is not a rule (`--expect-file /dev/zero` must not eat
/// the memory).
const MAX_LINE: usize = 4096;
/// Rules one file may hold.
const MAX_RULES: usize = 10_000;

/// Reads rules from a file line by line, within bounds; errors name the line.
pub fn read_file(path: &std::path::Path) -> Result<Vec<Expectation>, String> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = std::io::BufReader::new(file);
    let mut rules = Vec::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("line {number}: cannot read: {e}"))?;
        if n == 0 {
            break;
        }
        if line.len() > MAX_LINE {
            return Err(format!(
                "line {number}: longer than {MAX_LINE} bytes: not a rule file"
            ));
        }
        let text =
            std::str::from_utf8(&line).map_err(|_| format!("line {number}: not UTF-8 text"))?;
        let rule = text.split('#').next().unwrap_or("").trim();
        if rule.is_empty() {
            continue;
        }
        if rules.len() == MAX_RULES {
            return Err(format!("line {number}: more than {MAX_RULES} rules"));
        }
        rules.push(
            rule.parse::<Expectation>()
                .map_err(|e| format!("line {number}: {e}"))?,
        );
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let e: Expectation = "snat ha-*>qg-*".parse().unwrap();
        assert_eq!(
            e.rule,
            Rule::Nat(TranslationKind::Snat, "ha-*".into(), "qg-*".into())
        );
        assert_eq!(
            "no-nat qg-* > ex-*".parse::<Expectation>().unwrap().rule,
            Rule::NoNat("qg-*".into(), "ex-*".into())
        );
        assert_eq!(
            "loss=0".parse::<Expectation>().unwrap().rule,
            Rule::Count(Measure::Loss, Op::Eq, 0.0)
        );
        assert_eq!(
            "hop-latency < 5ms".parse::<Expectation>().unwrap().rule,
            Rule::Count(Measure::HopLatency, Op::Lt, 5e6)
        );
        assert_eq!(
            "rtt<=250us".parse::<Expectation>().unwrap().rule,
            Rule::Count(Measure::Rtt, Op::Le, 250e3)
        );
        assert_eq!(
            "nat-count>=2".parse::<Expectation>().unwrap().rule,
            Rule::Count(Measure::NatCount, Op::Ge, 2.0)
        );
        for bad in [
            "snat",
            "snat ha-*",
            "latency<5",
            "loss=many",
            "hop-latency<5 parsecs",
            "snat >x",
            "frobnicate a>b",
        ] {
            assert!(bad.parse::<Expectation>().is_err(), "{bad}");
        }
        let e = "loss=many".parse::<Expectation>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read expectation \"loss=many\": expected a whole number"
        );
    }

    #[test]
    fn a_trailing_protocol_narrows_the_rule() {
        let e: Expectation = "loss=0 tcp".parse().unwrap();
        assert_eq!(e.protocol, Some(Protocol::Tcp));
        assert_eq!(e.rule, Rule::Count(Measure::Loss, Op::Eq, 0.0));
        assert_eq!(e.text, "loss=0 tcp");
        let e: Expectation = "sport ha-*>qg-* udp".parse().unwrap();
        assert_eq!(
            (e.rule, e.protocol),
            (
                Rule::Nat(TranslationKind::Sport, "ha-*".into(), "qg-*".into()),
                Some(Protocol::Udp)
            )
        );
        let e: Expectation = "dport eth2.* > ex-*".parse().unwrap();
        assert_eq!(e.protocol, None);
        assert!("loss=0 sctp".parse::<Expectation>().is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("ha-*", "ha-2b8cf5e0-b1"));
        assert!(glob("*", ""));
        assert!(glob("eth2.1??", "eth2.106"));
        assert!(!glob("qg-*", "ha-2b8cf5e0-b1"));
        assert!(glob("*l3d*", "ex-l3dngw"));
    }

    #[test]
    fn files() {
        let rules = parse_file("# CI check\nsnat ha-*>qg-*   # the qrouter\n\nloss=0\n").unwrap();
        assert_eq!(rules.len(), 2);
    }
}
