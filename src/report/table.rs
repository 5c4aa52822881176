//! The default report: tables a person reads at a glance.

use super::{fmt_ns, fmt_time, nat_sentence, Render};
use crate::model::{Analysis, Flow, Matched, Severity, Stats};
use std::fmt::Write;
use tabled::builder::Builder;
use tabled::settings::Style;

/// More flows than this are grouped by path and translations unless `--flows` is given.
const DETAILED_FLOWS: usize = 5;

pub struct Table {
    pub all_flows: bool,
}

fn table(rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::new();
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    t.to_string()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn stats_cell(s: &Option<Stats>) -> String {
    match s {
        Some(s) => format!(
            "{} / {} / {}  (n={})",
            fmt_ns(s.median),
            fmt_ns(s.p95),
            fmt_ns(s.max),
            s.count
        ),
        None => "-".to_string(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Render for Table {
    fn render(&self, a: &Analysis) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "natcorr · {} · {} · {}\n",
            plural(a.points.len(), "capture point", "capture points"),
            plural(a.flows.len(), "flow", "flows"),
            plural(a.nat.len(), "translation", "translations")
        );
        points(&mut o, a);
        if a.flows.len() > DETAILED_FLOWS && !self.all_flows {
            groups(&mut o, a);
        } else {
            for (i, f) in a.flows.iter().enumerate() {
                flow(&mut o, i + 1, f);
            }
        }
        nat(&mut o, a);
        loss(&mut o, a);
        if !a.notes.is_empty() {
            let _ = writeln!(o, "NOTES");
            for n in &a.notes {
                let _ = writeln!(o, "  {n}");
            }
            o.push('\n');
        }
        warnings(&mut o, a);
        o
    }
}

fn points(o: &mut String, a: &Analysis) {
    let mut rows = vec![vec![
        "point",
        "file",
        "link",
        "packets",
        "echoes",
        "first (UTC)",
        "span",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>()];
    for p in &a.points {
        rows.push(vec![
            p.name.clone(),
            p.file.clone(),
            p.link_type.clone(),
            p.packets.to_string(),
            p.echo_packets.to_string(),
            opt(p.first_ns.map(fmt_time)),
            match (p.first_ns, p.last_ns) {
                (Some(s), Some(e)) => fmt_ns(e - s),
                _ => "-".to_string(),
            },
        ]);
    }
    let _ = writeln!(o, "CAPTURE POINTS\n{}\n", table(rows));
}

fn flow(o: &mut String, n: usize, f: &Flow) {
    let how = match f.matched {
        Matched::Packet => "matched packet by packet",
        Matched::Flow => "matched by destination only (no packet seen at two points)",
    };
    let _ = writeln!(
        o,
        "FLOW {n}  {} → {}  id {} at {}  ·  {} requests, {} replies  ·  {how}",
        f.origin.src, f.origin.dst, f.origin.id, f.origin.point, f.requests, f.replies
    );
    let mut rows = vec![[
        "point",
        "src",
        "dst",
        "id",
        "ttl",
        "req",
        "rep",
        "rtt median",
        "change from previous point",
        "hop latency req (median / p95 / max)",
        "lost",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for (i, p) in f.points.iter().enumerate() {
        let hop = i.checked_sub(1).and_then(|h| f.hops.get(h));
        let change = match hop {
            None => String::new(),
            Some(h) if h.translations.is_empty() => match h.ttl_delta {
                Some(0) => "none (same link)".to_string(),
                Some(d) => format!("none (routed, ttl -{d})"),
                None => "none".to_string(),
            },
            Some(h) => h
                .translations
                .iter()
                .map(|t| format!("{} {} → {}", t.kind, t.before, t.after))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let ids = p
            .ids
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            p.point.clone(),
            p.src.clone(),
            p.dst.clone(),
            ids,
            opt(p.ttl),
            p.requests.to_string(),
            p.replies.to_string(),
            opt(p.rtt_ns.map(|s| fmt_ns(s.median))),
            change,
            hop.map(|h| stats_cell(&h.latency_ns.request))
                .unwrap_or_default(),
            hop.map(|h| {
                if h.lost.request + h.lost.reply == 0 {
                    String::new()
                } else {
                    format!("{} req, {} rep", h.lost.request, h.lost.reply)
                }
            })
            .unwrap_or_default(),
        ]);
    }
    let _ = writeln!(o, "{}", table(rows));
    for note in &f.notes {
        let _ = writeln!(o, "  note: {note}");
    }
    o.push('\n');
}

fn groups(o: &mut String, a: &Analysis) {
    let mut groups: Vec<(String, String, Vec<&Flow>)> = Vec::new();
    for f in &a.flows {
        let path = f.path.join(" → ");
        let tr = f
            .hops
            .iter()
            .flat_map(|h| {
                let mut kinds: Vec<_> = h.translations.iter().map(|t| t.kind.to_string()).collect();
                kinds.dedup();
                kinds
                    .into_iter()
                    .map(move |k| format!("{k} {}→{}", h.from, h.to))
            })
            .collect::<Vec<_>>()
            .join("\n");
        match groups.iter_mut().find(|g| g.0 == path && g.1 == tr) {
            Some(g) => g.2.push(f),
            None => groups.push((path, tr, vec![f])),
        }
    }
    let mut rows = vec![[
        "flows",
        "path (request direction)",
        "translations",
        "requests",
        "replies",
        "lost req/rep",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for (path, tr, fs) in &groups {
        let lost: (u64, u64) = fs.iter().flat_map(|f| &f.hops).fold((0, 0), |acc, h| {
            (acc.0 + h.lost.request, acc.1 + h.lost.reply)
        });
        rows.push(vec![
            fs.len().to_string(),
            path.clone(),
            if tr.is_empty() {
                "none".to_string()
            } else {
                tr.clone()
            },
            fs.iter().map(|f| f.requests).sum::<u64>().to_string(),
            fs.iter().map(|f| f.replies).sum::<u64>().to_string(),
            format!("{}/{}", lost.0, lost.1),
        ]);
    }
    let _ = writeln!(
        o,
        "FLOWS ({} flows in {} groups; --flows lists every flow)\n{}\n",
        a.flows.len(),
        groups.len(),
        table(rows)
    );
}

fn nat(o: &mut String, a: &Analysis) {
    let _ = writeln!(o, "NAT");
    if a.nat.is_empty() {
        let _ = writeln!(o, "  no translation seen");
    }
    for n in &a.nat {
        let _ = writeln!(o, "  {}", nat_sentence(n));
    }
    o.push('\n');
}

fn loss(o: &mut String, a: &Analysis) {
    let mut lines = Vec::new();
    for (i, f) in a.flows.iter().enumerate() {
        for h in &f.hops {
            if h.lost.request > 0 {
                lines.push(format!(
                    "flow {}: {} request(s) lost between {} and {}",
                    i + 1,
                    h.lost.request,
                    h.from,
                    h.to
                ));
            }
            if h.lost.reply > 0 {
                lines.push(format!(
                    "flow {}: {} reply(ies) lost between {} and {}",
                    i + 1,
                    h.lost.reply,
                    h.to,
                    h.from
                ));
            }
        }
    }
    let _ = writeln!(o, "LOSS");
    if lines.is_empty() {
        let _ = writeln!(o, "  no packet lost between capture points");
    }
    for l in lines {
        let _ = writeln!(o, "  {l}");
    }
    o.push('\n');
}

fn warnings(o: &mut String, a: &Analysis) {
    if a.warnings.is_empty() {
        return;
    }
    let errors = a
        .warnings
        .iter()
        .filter(|w| w.severity == Severity::Error)
        .count();
    let _ = writeln!(o, "WARNINGS ({} errors)", errors);
    for w in &a.warnings {
        let _ = writeln!(o, "  {w}");
    }
}
