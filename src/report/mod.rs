//! Reports: renderings of one [`Analysis`], each behind the [`Render`] trait. One format, one
//! file; adding a format touches one new file and one arm of [`Format::renderer`].

mod html;
mod json;
mod junit;
mod ladder;
mod mermaid;
mod rows;
mod sections;
mod table;

pub use html::Html;
pub use junit::Junit;
pub use ladder::Ladder;
pub use rows::COLUMNS;

use crate::model::{
    Addr, Analysis, Name, NatFinding, NatKey, Point, RuleVerdict, TranslationKind, Value,
};
pub use crate::units::{fmt_ns, fmt_time};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::io::Write;
use std::net::IpAddr;

/// A rendering of the analysis.
pub trait Render {
    fn render(&self, analysis: &Analysis) -> Result<String, RenderError>;

    /// Writes the rendering into `out`. Reports that can grow with the input (JSON, one row per
    /// packet) stream it, so their size never has to fit in memory at once; the others render
    /// whole first, so a report that cannot be drawn writes nothing.
    fn write_to(&self, analysis: &Analysis, out: &mut dyn Write) -> Result<(), RenderError> {
        let text = self.render(analysis)?;
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

/// Why a report could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("there is no journey {0} (journeys are numbered as in --format csv)")]
    NoJourney(u64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The report printed on standard output (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for a person.
    Table,
    /// One JSON document, documented in the README (schema_version 1); indented on a terminal.
    Json,
    /// One CSV row per packet seen at a point, with its flow and journey (for pandas, DuckDB).
    Csv,
    /// The same rows as JSON Lines.
    Jsonl,
    /// A Mermaid sequence diagram of each path and its translations (renders in GitHub/GitLab).
    Mermaid,
}

impl Format {
    /// Whether this format lists every packet (the analysis must keep per-packet rows).
    pub fn per_packet(self) -> bool {
        matches!(self, Format::Csv | Format::Jsonl)
    }

    /// The report of this format; `all_flows` lists every flow in the table, `color` adds ANSI
    /// colors, `width` is the terminal's, which the table fits and which indents the JSON
    /// (`None`: not a terminal: full width, compact JSON).
    pub fn renderer(self, all_flows: bool, color: bool, width: Option<usize>) -> Box<dyn Render> {
        match self {
            Format::Table => Box::new(table::Table {
                all_flows,
                color,
                width,
            }),
            Format::Json => Box::new(json::Json {
                pretty: width.is_some(),
            }),
            Format::Csv => Box::new(rows::Rows { jsonl: false }),
            Format::Jsonl => Box::new(rows::Rows { jsonl: true }),
            Format::Mermaid => Box::new(mermaid::Mermaid),
        }
    }
}

/// The capture points in path order: the first flow's path, then the points other flows add
/// (in their paths' order), then points no flow crossed, as they were given.
pub fn points_in_path_order(a: &Analysis) -> Vec<&Point> {
    let by_name: HashMap<&str, &Point> = a.points.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut seen: HashSet<&str> = HashSet::default();
    let mut out = Vec::with_capacity(a.points.len());
    let names = a.flows.iter().flat_map(|f| f.path.iter().map(Name::as_str));
    for name in names.chain(a.points.iter().map(|p| p.name.as_str())) {
        if let Some(p) = by_name.get(name) {
            if seen.insert(name) {
                out.push(*p);
            }
        }
    }
    out
}

/// Translations listed one sentence each; above this many (and without `all`), one line per
/// hop and kind summarises them.
pub const LISTED_TRANSLATIONS: usize = 8;

/// The NAT findings as lines a person reads: one sentence each when there are few (or `all`),
/// else one line per hop and kind — many hosts behind one NAT give one line, not thousands.
pub fn nat_lines(a: &Analysis, all: bool) -> Vec<String> {
    let nat = &a.nat;
    if all || nat.len() <= LISTED_TRANSLATIONS {
        let hosts = rewritten_hosts(a);
        return nat
            .iter()
            .flat_map(|n| {
                let mut line = nat_sentence(n);
                // Which host's identifier it was (two hosts behind one SNAT may share one).
                if let Some(h) = hosts.get(&n.key()) {
                    let h: Vec<String> = h.iter().map(IpAddr::to_string).collect();
                    line.push_str(&format!(" — the identifier of {}'s requests", h.join(", ")));
                }
                if n.kind == TranslationKind::Sport {
                    line.push_str(&port_rewrite(a, n));
                }
                let why = n.explanation.as_ref().map(|e| format!("  ↳ {}", e.text));
                let untracked = n.replies_untracked_by.as_ref().map(|r| {
                    format!("  ↳ replies not translated back: {r} takes them out of connection tracking")
                });
                std::iter::once(line).chain(why).chain(untracked)
            })
            .collect();
    }
    let mut groups: Vec<Vec<&NatFinding>> = Vec::new();
    let mut index: HashMap<_, usize> = HashMap::default();
    for n in nat {
        let slot = *index
            .entry((n.kind, n.from.as_str(), n.to.as_str()))
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[slot].push(n);
    }
    groups
        .iter()
        .flat_map(|g| std::iter::once(nat_group_line(g)).chain(group_explanation(g)))
        .collect()
}

/// Per identifier rewrite (its finding's key): the hosts (flow origins) whose requests
/// carried it.
fn rewritten_hosts(a: &Analysis) -> HashMap<NatKey<'_>, Vec<IpAddr>> {
    let mut out: HashMap<NatKey<'_>, Vec<IpAddr>> = HashMap::default();
    for f in &a.flows {
        for h in &f.hops {
            for t in h
                .translations
                .iter()
                .filter(|t| t.kind == TranslationKind::Id)
            {
                let hosts = out.entry(t.key(h)).or_default();
                if !hosts.contains(&f.origin.src) {
                    hosts.push(f.origin.src);
                }
            }
        }
    }
    out
}

/// Whose source port a port rewrite changed, and why NAT had to: the connection that already
/// held that address and port beyond the hop (" — the source port of 192.168.65.126:40000;
/// another connection held 169.254.43.17:40000 (flow 1)").
fn port_rewrite(a: &Analysis, n: &NatFinding) -> String {
    let at = |f: &crate::model::Flow, point: &str| f.points.iter().position(|p| p.point == point);
    let mut whose = Vec::new();
    let mut held = Vec::new();
    for (i, f) in a.flows.iter().enumerate() {
        let rewrote = f
            .hops
            .iter()
            .any(|h| h.translations.iter().any(|t| t.key(h) == n.key()));
        if !rewrote {
            continue;
        }
        if let Some(p) = at(f, &n.from).map(|k| &f.points[k]) {
            whose.push(sections::endpoint(p.src.map(Addr::ip), p.src_port));
        }
        // Another flow with this flow's outside address (and destination) and the old port.
        let Some(out) = at(f, &n.to).map(|k| &f.points[k]) else {
            continue;
        };
        for (j, g) in a.flows.iter().enumerate().filter(|(j, _)| *j != i) {
            if let Some(q) = at(g, &n.to).map(|k| &g.points[k]) {
                if q.src == out.src
                    && q.src_port.map(Value::Port) == Some(n.before)
                    && q.dst == out.dst
                    && q.dst_port == out.dst_port
                {
                    let text = format!(
                        "{} (flow {})",
                        sections::endpoint(q.src.map(Addr::ip), q.src_port),
                        j + 1
                    );
                    if !held.contains(&text) {
                        held.push(text);
                    }
                }
            }
        }
    }
    let mut s = String::new();
    if !whose.is_empty() {
        whose.dedup();
        s.push_str(&format!(" — the source port of {}", whose.join(", ")));
    }
    if !held.is_empty() {
        s.push_str(&format!("; another connection held {}", held.join(", ")));
    }
    s
}

/// What the rules said of a group of findings (`--rules`): the one rule that explains all of
/// them, or how many were not explained.
fn group_explanation(g: &[&NatFinding]) -> Option<String> {
    let explained: Vec<_> = g.iter().filter_map(|n| n.explanation.as_ref()).collect();
    if explained.is_empty() {
        return None;
    }
    let ok = explained
        .iter()
        .filter(|e| e.verdict == RuleVerdict::Explained)
        .count();
    let first = explained[0];
    if ok == g.len() && explained.iter().all(|e| e.rule == first.rule) {
        Some(format!("  ↳ {} (all {ok})", first.text))
    } else {
        Some(format!(
            "  ↳ {ok} of {} explained by the rules; RULES lists the others",
            g.len()
        ))
    }
}

/// One line for the findings of one hop and kind.
fn nat_group_line(g: &[&NatFinding]) -> String {
    if let [one] = g {
        return nat_sentence(one);
    }
    let sum = |f: fn(&NatFinding) -> u64| g.iter().map(|n| f(n)).sum::<u64>();
    let (flows, packets, of) = (sum(|n| n.flows), sum(|n| n.packets), sum(|n| n.of));
    let (replies, reversed) = (sum(|n| n.replies), sum(|n| n.replies_reversed));
    let mut afters: Vec<Value> = g.iter().map(|n| n.after).collect();
    afters.sort_unstable();
    afters.dedup();
    let to = if afters.len() == 1 {
        afters[0].to_string()
    } else {
        format!("{} values", afters.len())
    };
    let back = if replies == 0 {
        "no replies seen at both points".to_string()
    } else if reversed == replies {
        "replies translated back".to_string()
    } else {
        format!("{reversed}/{replies} replies translated back")
    };
    format!(
        "{} {} different values → {to} between {} and {} ({flows} flows, {packets}/{of} requests; {back}; --flows or --format json lists each)",
        g[0].kind,
        g.len(),
        g[0].from,
        g[0].to
    )
}

/// The sentence that names one translation.
pub fn nat_sentence(n: &NatFinding) -> String {
    // Requests are echo requests; for TCP and UDP, the initiator's packets.
    let (one, many) = match n.protocols[..] {
        [p] => sections::nouns(p, crate::model::Direction::Request),
        _ => ("request", "requests"),
    };
    let what = match n.matched {
        crate::model::Matched::Packet => format!("{}/{} {many}", n.packets, n.of),
        crate::model::Matched::Flow => format!(
            "{}, matched by destination",
            crate::text::count(n.packets, one, many)
        ),
    };
    let on = match n.protocols[..] {
        [crate::model::Protocol::Icmp] | [] => String::new(),
        _ => format!(
            "{} ",
            n.protocols
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("+")
        ),
    };
    let flows = if n.flows > 1 {
        format!("{} flows, ", n.flows)
    } else {
        String::new()
    };
    let back = if n.replies == 0 {
        "no replies seen at both points".to_string()
    } else if n.reply_reversed {
        "replies translated back".to_string()
    } else {
        let not = if n.replies_reversed > 0 {
            format!(
                "only {}/{} replies translated back",
                n.replies_reversed, n.replies
            )
        } else {
            "replies NOT translated back".to_string()
        };
        // Replies that never came back to the translated value: the hop had nothing to undo,
        // a hop nearer the responder left its own translation in place.
        let carrying = match n.kind {
            TranslationKind::Snat => format!("addressed to {}", n.after),
            TranslationKind::Dnat => format!("from {}", n.after),
            TranslationKind::Id => format!("with id {}", n.after),
            TranslationKind::Sport => format!("to port {}", n.after),
            TranslationKind::Dport => format!("from port {}", n.after),
        };
        match n.replies_misaddressed {
            0 => not,
            m if m == n.replies => format!("{not}: none reached {} {carrying}", n.to),
            m => format!("{not}: {m} reached {} not {carrying}", n.to),
        }
    };
    format!(
        "{on}{} {} → {} between {} and {} ({flows}{what}; {back})",
        n.kind, n.before, n.after, n.from, n.to
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(fmt_ns(999), "999ns");
        assert_eq!(fmt_ns(35_400), "35µs");
        assert_eq!(fmt_ns(1_250_000), "1.25ms");
        assert_eq!(fmt_ns(-3_200_000_000), "-3.20s");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(
            fmt_time(1_552_602_847_158_564_000),
            "2019-03-14 22:34:07.158564"
        );
    }
}
