//! The rules stage of the pipeline: every hop of every flow inside one namespace evaluated
//! against that namespace's nat rules; the verdicts attached to the NAT findings, the
//! disagreements listed as problems.

use std::collections::HashMap;

use crate::model::{
    Diagnostic, Flow, Name, NatFinding, NatKey, PathPoint, Point, Protocol, RuleCitation,
    RuleExplanation, RuleProblem, RuleVerdict, Severity, TranslationKind,
};

use super::{Endpoints, Explanation, Location, Proto, Query, RuleRef, RuleSet, UnexplainedReason};

/// What the rules said about the findings and hops: filled into `nat`, returned as problems.
pub fn explain_all<'a>(
    set: &'a RuleSet,
    points: &'a [Point],
    flows: &'a [Flow],
    nat: &mut [NatFinding],
) -> Vec<RuleProblem> {
    // A point is its interface, except the points of a `tcpdump -i any` capture
    // (`qrouter-any#if2`): those are the interface with that index in the namespace the file
    // is named after.
    let interface: HashMap<&str, &str> = points
        .iter()
        .filter_map(|p| {
            let index = p.interface.filter(|_| p.link_type == "LINUX_SLL2")?;
            let stem = p.name.strip_suffix(&format!("#if{index}"))?;
            Some((p.name.as_str(), set.interface_by_index(stem, index)?))
        })
        .collect();
    let iface = |point: &'a str| -> &'a str { interface.get(point).copied().unwrap_or(point) };
    // Read only while the flows are tallied; `nat` is filled in after.
    let finding_of: HashMap<NatKey, usize> =
        nat.iter().enumerate().map(|(i, n)| (n.key(), i)).collect();
    // Per finding: verdicts of the flows that showed it.
    let mut tallies: Vec<Tally> = vec![Tally::default(); nat.len()];
    // Per finding whose replies came back to it and were not translated back: the raw-table
    // rule that kept them out of conntrack (looked up once per finding).
    let mut untracked: Vec<Option<Option<RuleCitation>>> = vec![None; nat.len()];
    // Per hop without a translation, the disagreements (grouped by hop, verdict and rule).
    let mut problems: Vec<(Name, Name, Tally)> = Vec::new();
    let mut problem_of: HashMap<(Name, Name, RuleVerdict, Option<RuleCitation>), usize> =
        HashMap::new();
    for flow in flows {
        let at: HashMap<&str, &PathPoint> =
            flow.points.iter().map(|p| (p.point.as_str(), p)).collect();
        for hop in &flow.hops {
            let (Some(a), Some(b)) = (at.get(hop.from.as_str()), at.get(hop.to.as_str())) else {
                continue;
            };
            let proto = flow.origin.protocol;
            let Some(query) = query(proto, iface(&hop.from), iface(&hop.to), a, b) else {
                continue;
            };
            let e = set.explain(&query);
            if hop.translations.is_empty() {
                if !is_problem_without_translation(&e) {
                    continue;
                }
                let (verdict, rule, text) = parts(&e, None);
                let key = (hop.from.clone(), hop.to.clone(), verdict, rule.clone());
                let slot = *problem_of.entry(key).or_insert_with(|| {
                    problems.push((hop.from.clone(), hop.to.clone(), Tally::default()));
                    problems.len() - 1
                });
                problems[slot].2.add(verdict, rule, text);
                continue;
            }
            for t in &hop.translations {
                let key = t.key(hop);
                if let Some(&i) = finding_of.get(&key) {
                    let (verdict, rule, text) = parts(&e, Some(t.kind));
                    tallies[i].add(verdict, rule, text);
                    let left = t.replies > t.replies_reversed + t.replies_misaddressed;
                    if left && untracked[i].is_none() {
                        untracked[i] = Some(
                            reply_query(proto, iface(&hop.to), iface(&hop.from), b, a)
                                .and_then(|q| set.untracked_reply(&q))
                                .map(|r| citation(&r)),
                        );
                    }
                }
            }
        }
    }
    drop(finding_of);
    let mut out = Vec::new();
    for (n, rule) in nat.iter_mut().zip(untracked) {
        n.replies_untracked_by = rule.flatten().map(Box::new);
    }
    for (n, tally) in nat.iter_mut().zip(tallies) {
        let Some(e) = tally.explanation() else {
            continue;
        };
        if e.verdict == RuleVerdict::Explained {
            n.explained_by = e.rule.clone().map(Box::new);
        } else {
            out.push(RuleProblem {
                from: n.from.clone(),
                to: n.to.clone(),
                explanation: e.clone(),
            });
        }
        n.explanation = Some(Box::new(e));
    }
    for (from, to, tally) in problems {
        if let Some(explanation) = tally.explanation() {
            out.push(RuleProblem {
                from,
                to,
                explanation,
            });
        }
    }
    out
}

/// The dumps' own problems (unreadable lines, unknown files) as warnings on those files.
pub fn diagnostics(set: &RuleSet) -> Vec<Diagnostic> {
    set.warnings()
        .iter()
        .map(|w| Diagnostic {
            file: w.file.display().to_string(),
            severity: Severity::Warning,
            record: w.line.map(|l| l as u64),
            offset: None,
            message: match w.line {
                Some(line) => format!("line {line}: {}", w.message),
                None => w.message.clone(),
            },
        })
        .collect()
}

/// The verdicts of the flows that showed one translation (or crossed one hop).
#[derive(Clone, Default)]
struct Tally {
    /// The first explanation of each (verdict, rule), in order of first appearance, and how
    /// many flows got it.
    seen: Vec<(RuleVerdict, Option<RuleCitation>, String, u64)>,
    of: u64,
}

impl Tally {
    fn add(&mut self, verdict: RuleVerdict, rule: Option<RuleCitation>, text: String) {
        self.of += 1;
        match self
            .seen
            .iter_mut()
            .find(|(v, r, _, _)| *v == verdict && *r == rule)
        {
            Some(s) => s.3 += 1,
            None => self.seen.push((verdict, rule, text, 1)),
        }
    }

    /// The worst verdict any flow got (a contradiction outweighs every explained flow), with
    /// how many flows share it.
    fn explanation(&self) -> Option<RuleExplanation> {
        let worst = self
            .seen
            .iter()
            .max_by_key(|(v, _, _, n)| (severity(*v), *n))?;
        Some(RuleExplanation {
            verdict: worst.0,
            rule: worst.1.clone(),
            text: worst.2.clone(),
            flows: worst.3,
            of: self.of,
        })
    }
}

/// Which verdict a finding reports when its flows disagree: the one that needs a person.
fn severity(v: RuleVerdict) -> u8 {
    match v {
        RuleVerdict::Explained => 0,
        RuleVerdict::Unevaluable => 1,
        RuleVerdict::Unexplained => 2,
        RuleVerdict::MissingTranslation => 3,
        RuleVerdict::Contradicted => 4,
    }
}

/// A hop that shows no change is a problem only when a rule should have changed it, or when
/// natcorr could not tell; hops between namespaces or without rules say nothing.
fn is_problem_without_translation(e: &Explanation) -> bool {
    matches!(
        e,
        Explanation::MissingTranslation { .. }
            | Explanation::Contradicted { .. }
            | Explanation::Unevaluable { .. }
    )
}

/// The first request as it entered the hop (at its first point) and left it (at its second).
fn query<'a>(
    proto: Protocol,
    in_iface: &'a str,
    out_iface: &'a str,
    a: &PathPoint,
    b: &PathPoint,
) -> Option<Query<'a>> {
    // An echo's identifier stands in for its source port (conntrack treats it as one).
    let endpoints = |p: &PathPoint| -> Option<Endpoints> {
        Some(Endpoints {
            src: p.src?.ip(),
            dst: p.dst?.ip(),
            sport: match proto {
                Protocol::Icmp => p.ids.first().copied(),
                _ => p.src_port,
            },
            dport: p.dst_port,
        })
    };
    Some(Query {
        in_iface,
        out_iface,
        proto: match proto {
            Protocol::Icmp => Proto::Icmp,
            Protocol::Tcp => Proto::Tcp,
            Protocol::Udp => Proto::Udp,
        },
        before: endpoints(a)?,
        after: endpoints(b)?,
        // The nat table sees a connection's first packet only, which opened it.
        new_connection: Some(true),
    })
}

/// The first reply as it entered the hop at its far end (`b`, where the request left) and left
/// it at its near end (`a`): each point's addresses and ports turned around.
fn reply_query<'a>(
    proto: Protocol,
    in_iface: &'a str,
    out_iface: &'a str,
    b: &PathPoint,
    a: &PathPoint,
) -> Option<Query<'a>> {
    let turn = |e: Endpoints| Endpoints {
        src: e.dst,
        dst: e.src,
        sport: e.dport,
        dport: e.sport,
    };
    let q = query(proto, in_iface, out_iface, b, a)?;
    Some(Query {
        before: turn(q.before),
        after: turn(q.after),
        new_connection: Some(false),
        ..q
    })
}

fn citation(r: &RuleRef) -> RuleCitation {
    let (line, handle) = match r.location {
        Location::Line(n) => (Some(n), None),
        Location::Handle(h) => (None, Some(h)),
    };
    RuleCitation {
        namespace: r.namespace.clone(),
        file: r.file.clone(),
        line,
        handle,
        chain: r.chain.clone(),
        rule: r.rule.clone(),
    }
}

/// The verdict, the rule it rests on (for an explained translation of `kind`, the rule of
/// that side; an identifier rewrite is conntrack's part of the source NAT), and the sentence.
fn parts(
    e: &Explanation,
    kind: Option<TranslationKind>,
) -> (RuleVerdict, Option<RuleCitation>, String) {
    let text = e.to_string();
    match e {
        Explanation::Explained { snat, dnat, .. } => {
            let (snat, dnat) = (snat.as_ref(), dnat.as_ref());
            let rule = match kind {
                Some(TranslationKind::Dnat | TranslationKind::Dport) => dnat.or(snat),
                _ => snat.or(dnat),
            };
            (RuleVerdict::Explained, rule.map(citation), text)
        }
        Explanation::Contradicted { rule, .. } => {
            (RuleVerdict::Contradicted, Some(citation(rule)), text)
        }
        Explanation::MissingTranslation { rule, .. } => {
            (RuleVerdict::MissingTranslation, Some(citation(rule)), text)
        }
        Explanation::Unexplained { why } => {
            let rule = match why {
                UnexplainedReason::NoRuleMatched {
                    accepted_by: Some(r),
                    ..
                } => Some(citation(r)),
                _ => None,
            };
            (RuleVerdict::Unexplained, rule, text)
        }
        Explanation::Unevaluable { rule, .. } => {
            (RuleVerdict::Unevaluable, Some(citation(rule)), text)
        }
    }
}
