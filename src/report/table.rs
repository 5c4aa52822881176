//! The default report: tables a person reads at a glance.

use super::{fmt_ns, fmt_time, nat_lines, points_in_path_order, sections, Render, RenderError};
use crate::model::{Addr, Analysis, Flow, FlowGroup, Matched, OffsetSource, Severity, Stats};
use crate::text::count;
use rustc_hash::FxHashMap as HashMap;
use std::fmt::Write;
use tabled::builder::Builder;
use tabled::settings::{peaker::Priority, Style, Width};

/// More flows than this are grouped by path and translations unless `--flows` is given.
const DETAILED_FLOWS: usize = 5;

pub struct Table {
    pub all_flows: bool,
    /// ANSI colors: translations orange, unmet expectations red, met green.
    pub color: bool,
    /// The terminal's width, which every table fits; `None` (not a terminal): full width.
    pub width: Option<usize>,
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

/// Cells are wrapped down to this many columns before a column is left out instead.
const WRAP_TO: usize = 14;

/// The width of the table with every cell wider than [`WRAP_TO`] wrapped to it (borders and
/// padding: three columns per cell, one more at the end).
fn wrappable_width(rows: &[Vec<String>]) -> usize {
    let columns = rows.first().map_or(0, Vec::len);
    (0..columns)
        .map(|c| {
            let widest = rows.iter().map(|r| widest_line(&r[c])).max().unwrap_or(0);
            widest.min(WRAP_TO) + 3
        })
        .sum::<usize>()
        + 1
}

fn widest_line(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The table fitted to `width`: the columns named in `drop` (header's first line, least
/// useful first) are left out one by one until it fits, then the widest cells are wrapped; a
/// line under it names what was left out.
fn fitted(rows: Vec<Vec<String>>, width: Option<usize>, drop: &[&str]) -> String {
    let full = table(rows.clone());
    let Some(width) = width.filter(|&w| widest_line(&full) > w) else {
        return full;
    };
    let mut rows = rows;
    let mut dropped = Vec::new();
    let mut text = full;
    for name in drop {
        // Stop leaving columns out once wrapping the wide cells (to at most WRAP_TO columns
        // each) fits the table.
        if widest_line(&text) <= width || wrappable_width(&rows) <= width {
            break;
        }
        let header = rows
            .first()
            .map(|h| h.iter().position(|c| c.lines().next() == Some(*name)));
        if let Some(Some(c)) = header {
            for r in &mut rows {
                r.remove(c);
            }
            dropped.push(*name);
            text = table(rows.clone());
        }
    }
    if widest_line(&text) > width {
        let mut b = Builder::new();
        for r in rows {
            b.push_record(r);
        }
        let mut t = b.build();
        t.with(Style::rounded());
        t.with(
            Width::wrap(width)
                .priority(Priority::max(true))
                .keep_words(true),
        );
        text = t.to_string();
    }
    if !dropped.is_empty() {
        text.push_str(&format!(
            "\n  ({} left out to fit {width} columns; a wider terminal or a pipe shows them)",
            dropped.join(", ")
        ));
    }
    text
}

/// Drops the columns whose every data cell is empty or "-": a table shows what was measured.
fn without_empty_columns(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let width = rows.first().map_or(0, Vec::len);
    let keep: Vec<bool> = (0..width)
        .map(|c| {
            rows.iter()
                .skip(1)
                .any(|r| !matches!(r[c].as_str(), "" | "-"))
        })
        .collect();
    for r in &mut rows {
        let mut i = 0;
        r.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    rows
}

/// A count, or nothing when it is 0 (a column of nothing is left out).
fn blank_zero(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// "median / p95 (n)" of a latency, or "-".
fn stats_cell(s: &Option<Stats>) -> String {
    match s {
        Some(s) => format!("{} / {} ({})", fmt_ns(s.median), fmt_ns(s.p95), s.count),
        None => "-".to_string(),
    }
}

impl Render for Table {
    fn render(&self, a: &Analysis) -> Result<String, RenderError> {
        let text = self.text(a);
        Ok(match self.width {
            Some(width) => wrapped(&text, width),
            None => text,
        })
    }
}

/// Visible width of a line: escape sequences (colors) take no column.
fn visible_width(line: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match c {
            '\u{1b}' => in_escape = true,
            'm' if in_escape => in_escape = false,
            _ if in_escape => {}
            _ => n += 1,
        }
    }
    n
}

/// Every line wider than `width` broken at spaces, continuation lines indented two more than
/// the line; tables are already fitted (`fitted`) and a word longer than the line stays whole.
fn wrapped(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if visible_width(body) <= width {
            out.push_str(line);
            continue;
        }
        let indent = body.len() - body.trim_start().len();
        let hanging = " ".repeat((indent + 4).min(width / 2));
        let mut current = body[..indent].to_string();
        let mut used = indent;
        let mut first_word = true;
        for word in body[indent..].split(' ') {
            let w = visible_width(word);
            if !first_word && used + 1 + w > width {
                out.push_str(&current);
                out.push('\n');
                current = hanging.clone();
                used = hanging.len();
                first_word = true;
            }
            if !first_word {
                current.push(' ');
                used += 1;
            }
            current.push_str(word);
            used += w;
            first_word = false;
        }
        out.push_str(&current);
        out.push_str(newline);
    }
    out
}

impl Table {
    fn text(&self, a: &Analysis) -> String {
        let mut o = String::new();
        if a.has_errors() && a.points.iter().all(|p| p.packets == 0) {
            // Nothing was read: no empty sections that would look like findings.
            let _ = writeln!(o, "natcorr · nothing to analyze: no input could be read\n");
            warnings(&mut o, a);
            return o;
        }
        let _ = writeln!(
            o,
            "natcorr · {} · {} · {}\n",
            count(a.points.len() as u64, "capture point", "capture points"),
            count(a.flows.len() as u64, "flow", "flows"),
            count(a.nat.len() as u64, "translation", "translations")
        );
        points(&mut o, a, self.width);
        if a.flows.len() > DETAILED_FLOWS && !self.all_flows {
            groups(&mut o, a, self.width);
        } else {
            for (i, f) in a.flows.iter().enumerate() {
                flow(&mut o, i + 1, f, self.width);
            }
        }
        nat(&mut o, a, self.all_flows, self.color);
        routers(&mut o, a);
        clocks(&mut o, a);
        loss(&mut o, a, self.all_flows);
        rule_problems(&mut o, a);
        if !a.notes.is_empty() {
            let _ = writeln!(o, "NOTES");
            for n in &a.notes {
                let _ = writeln!(o, "  {n}");
            }
            o.push('\n');
        }
        expectations(&mut o, a, self.color);
        warnings(&mut o, a);
        o
    }
}

fn points(o: &mut String, a: &Analysis, width: Option<usize>) {
    let mut rows = vec![vec![
        "point",
        "file",
        "link",
        "packets",
        "echoes",
        "tcp",
        "udp",
        "fragments",
        "duplicates",
        "first (UTC)",
        "span",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>()];
    for p in points_in_path_order(a) {
        rows.push(vec![
            p.name.to_string(),
            if p.file == "-" {
                "standard input".to_string()
            } else {
                p.file.clone()
            },
            p.link_type.clone(),
            p.packets.to_string(),
            p.echo_packets.to_string(),
            blank_zero(p.tcp_packets),
            blank_zero(p.udp_packets),
            if p.fragments == 0 {
                String::new()
            } else {
                p.fragments.to_string()
            },
            if p.duplicates == 0 {
                String::new()
            } else {
                p.duplicates.to_string()
            },
            opt(p.first_ns.map(fmt_time)),
            match (p.first_ns, p.last_ns) {
                (Some(s), Some(e)) => fmt_ns(e - s),
                _ => "-".to_string(),
            },
        ]);
    }
    let _ = writeln!(
        o,
        "CAPTURE POINTS\n{}\n",
        fitted(
            without_empty_columns(rows),
            width,
            &[
                "link",
                "span",
                "duplicates",
                "fragments",
                "packets",
                "first (UTC)",
                "file"
            ]
        )
    );
}

fn flow(o: &mut String, n: usize, f: &Flow, width: Option<usize>) {
    let how = match f.matched {
        _ if f.path.len() == 1 => "seen at one point only",
        Matched::Packet => "matched packet by packet",
        Matched::Flow => "matched by destination only (no packet seen at two points)",
    };
    let _ = writeln!(
        o,
        "FLOW {n}  {} at {}  ·  {}  ·  {how}",
        sections::flow_title(f),
        f.origin.point,
        sections::flow_counts(f)
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
        "hop latency req\nmedian / p95 (n)",
        "hop latency reply\nmedian / p95 (n)",
        "lost",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for (i, p) in f.points.iter().enumerate() {
        let hop = i.checked_sub(1).and_then(|h| f.hops.get(h));
        let change = match hop {
            None => String::new(),
            Some(_) if p.requests + p.replies == 0 => "nothing of this flow arrived".to_string(),
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
            p.point.to_string(),
            sections::endpoint(p.src.map(Addr::ip), p.src_port),
            sections::endpoint(p.dst.map(Addr::ip), p.dst_port),
            ids,
            opt(p.ttl),
            p.requests.to_string(),
            p.replies.to_string(),
            opt(p.rtt_ns.map(|s| fmt_ns(s.median))),
            change,
            hop.map(|h| stats_cell(&h.latency_ns.request))
                .unwrap_or_default(),
            hop.map(|h| stats_cell(&h.latency_ns.reply))
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
    let least_useful = [
        "hop latency reply",
        "ttl",
        "rtt median",
        "dst",
        "id",
        "rep",
        "req",
    ];
    let _ = writeln!(
        o,
        "{}",
        fitted(without_empty_columns(rows), width, &least_useful)
    );
    for e in &f.errors {
        let ttl = e
            .probe_ttl
            .map(|t| format!(" (ttl {t})"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  ICMP {} (code {}) from {} for {} {}{ttl}, seen at {}",
            e.kind,
            e.code,
            e.reporter,
            sections::number_word(f.origin.protocol),
            e.seq,
            e.points.join(", ")
        );
    }
    for line in sections::tcp_lines(f) {
        let _ = writeln!(o, "  {line}");
    }
    for note in &f.notes {
        let _ = writeln!(o, "  note: {note}");
    }
    o.push('\n');
}

fn groups(o: &mut String, a: &Analysis, width: Option<usize>) {
    let mut groups: Vec<(FlowGroup, Vec<&Flow>)> = Vec::new();
    let mut index: HashMap<FlowGroup, usize> = HashMap::default();
    for f in &a.flows {
        let key = f.group();
        match index.get(&key) {
            Some(&i) => groups[i].1.push(f),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![f]));
            }
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
    for (group, fs) in &groups {
        let path = group.path.join(" → ");
        let tr = group
            .translations
            .iter()
            .map(|(k, from, to)| format!("{k} {from}→{to}"))
            .collect::<Vec<_>>()
            .join("\n");
        let lost: (u64, u64) = fs.iter().flat_map(|f| &f.hops).fold((0, 0), |acc, h| {
            (
                acc.0 + u64::from(h.lost.request),
                acc.1 + u64::from(h.lost.reply),
            )
        });
        rows.push(vec![
            fs.len().to_string(),
            path,
            if tr.is_empty() {
                "none".to_string()
            } else {
                tr
            },
            fs.iter().map(|f| f.requests).sum::<u64>().to_string(),
            fs.iter().map(|f| f.replies).sum::<u64>().to_string(),
            format!("{}/{}", lost.0, lost.1),
        ]);
    }
    let _ = writeln!(
        o,
        "FLOWS ({} in {}; --flows lists every flow)\n{}\n",
        count(a.flows.len() as u64, "flow", "flows"),
        count(groups.len() as u64, "group", "groups"),
        fitted(rows, width, &["lost req/rep", "replies"])
    );
}

/// More translations than this are summed up per hop and kind unless `--flows` is given.
fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn nat(o: &mut String, a: &Analysis, all: bool, color: bool) {
    let _ = writeln!(o, "NAT");
    if a.nat.is_empty() {
        let why = if a.flows.is_empty() {
            "no echo flow found, so no translation could be seen"
        } else if a.flows.iter().all(|f| f.path.len() < 2) {
            "cannot tell: every flow was seen at one capture point only"
        } else {
            "no translation seen"
        };
        let _ = writeln!(o, "  {why}");
    }
    for line in nat_lines(a, all) {
        let _ = writeln!(o, "  {}", paint(color, "33", &line));
    }
    o.push('\n');
}

/// A traceroute read from the captures: per source and destination, who answered each probe TTL.
fn routers(o: &mut String, a: &Analysis) {
    let routes = sections::routers(a);
    if routes.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "ROUTERS THAT ANSWERED (ICMP errors, by the TTL the request left with)"
    );
    for r in routes {
        let _ = writeln!(o, "  {}", r.route);
        for (ttl, who, what) in r.answers {
            let _ = writeln!(o, "    ttl {ttl:<3} {who:<40} {what}");
        }
    }
    o.push('\n');
}

fn clocks(o: &mut String, a: &Analysis) {
    if a.clock_offsets.is_empty() {
        return;
    }
    let _ = writeln!(o, "CLOCKS (timestamps corrected before timing)");
    for c in &a.clock_offsets {
        let dir = if c.offset_ns >= 0 { "ahead" } else { "behind" };
        let how = if c.source == OffsetSource::Given {
            "given with --clock-offset".to_string()
        } else {
            format!("estimated from {} request/reply pairs", c.pairs)
        };
        let _ = writeln!(
            o,
            "  {}: clock {} {dir} ({how})",
            c.point,
            fmt_ns(c.offset_ns.abs())
        );
    }
    o.push('\n');
}

fn loss(o: &mut String, a: &Analysis, all: bool) {
    let loss = sections::loss(a);
    let _ = writeln!(o, "LOSS");
    if let Some(summary) = &loss.summary {
        let _ = writeln!(o, "  {summary}");
    }
    listed(o, "  ", &loss.lines, all);
    if !loss.unverified.is_empty() {
        let _ = writeln!(o, "  {}:", sections::UNVERIFIED);
        listed(o, "    ", &loss.unverified, all);
    }
    o.push('\n');
}

/// `--rules`: where the dumps and the packets disagree, both sides said.
fn rule_problems(o: &mut String, a: &Analysis) {
    if a.rule_problems.is_empty() {
        return;
    }
    let _ = writeln!(o, "RULES (what the --rules dumps do not explain)");
    for p in &a.rule_problems {
        let e = &p.explanation;
        let _ = writeln!(
            o,
            "  {} → {}: {} ({} of {} flows)",
            p.from, p.to, e.text, e.flows, e.of
        );
    }
    o.push('\n');
}

/// Loss lines listed without `--flows`; the rest are counted (JSON and `--flows` list them).
const LISTED_LOSS_LINES: usize = 20;

/// Writes `lines`, all of them with `all`, else the first [`LISTED_LOSS_LINES`] and a count.
fn listed(o: &mut String, indent: &str, lines: &[String], all: bool) {
    let shown = if all || lines.len() <= LISTED_LOSS_LINES + 1 {
        lines.len()
    } else {
        LISTED_LOSS_LINES
    };
    for l in &lines[..shown] {
        let _ = writeln!(o, "{indent}{l}");
    }
    if shown < lines.len() {
        let _ = writeln!(
            o,
            "{indent}… and {} more (--flows or --format json lists every one)",
            lines.len() - shown
        );
    }
}

fn expectations(o: &mut String, a: &Analysis, color: bool) {
    if a.expectations.is_empty() {
        return;
    }
    let failed = a.expectations.iter().filter(|e| !e.passed).count();
    let _ = writeln!(
        o,
        "EXPECTATIONS ({} of {} met)",
        a.expectations.len() - failed,
        a.expectations.len()
    );
    for e in &a.expectations {
        let mark = if e.passed {
            paint(color, "32", "PASS")
        } else {
            paint(color, "1;31", "FAIL")
        };
        let _ = writeln!(o, "  {mark}  {}  — {}", e.rule, e.found);
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
    let others = a.warnings.len() - errors;
    let kinds: Vec<String> = [(errors, "error", "errors"), (others, "warning", "warnings")]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, one, many)| count(n as u64, one, many))
        .collect();
    let _ = writeln!(o, "WARNINGS ({})", kinds.join(", "));
    for w in &a.warnings {
        let _ = writeln!(o, "  {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Hop, Latency, Lost, Origin, SCHEMA_VERSION};

    fn flow(src: &str) -> Flow {
        Flow {
            origin: Origin {
                point: "a".into(),
                protocol: crate::model::Protocol::Icmp,
                src: src.parse().unwrap(),
                dst: "203.0.113.1".parse().unwrap(),
                id: 1,
                src_port: None,
                dst_port: None,
            },
            path: vec!["a".into(), "b".into()],
            points: Vec::new(),
            requests: 3,
            replies: 3,
            matched: Matched::Packet,
            hops: vec![Hop {
                from: "a".into(),
                to: "b".into(),
                translations: Vec::new(),
                ttl_delta: Some(1),
                latency_ns: Latency::default(),
                lost: {
                    let mut lost = Lost::default();
                    lost.add(crate::model::Direction::Request, 1);
                    lost
                },
            }],
            errors: Vec::new(),
            resets: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn analysis(n: usize) -> Analysis {
        Analysis {
            schema_version: SCHEMA_VERSION,
            points: Vec::new(),
            flows: (0..n).map(|i| flow(&format!("10.0.0.{i}"))).collect(),
            nat: Vec::new(),
            clock_offsets: Vec::new(),
            expectations: Vec::new(),
            warnings: Vec::new(),
            rule_namespaces: Vec::new(),
            rule_problems: Vec::new(),
            notes: Vec::new(),
            packets: Vec::new(),
            timings: Vec::new(),
        }
    }

    #[test]
    fn many_flows_are_grouped_unless_asked() {
        let grouped = Table {
            all_flows: false,
            color: false,
            width: None,
        }
        .text(&analysis(7));
        assert!(
            grouped.contains("FLOWS (7 flows in 1 group; --flows lists every flow)"),
            "{grouped}"
        );
        assert!(grouped.contains("│ 7     │ a → b"), "{grouped}");
        assert!(grouped.contains("│ 21       │ 21      │ 7/0"), "{grouped}");
        assert!(!grouped.contains("FLOW 1 "));
        let all = Table {
            all_flows: true,
            color: false,
            width: None,
        }
        .text(&analysis(7));
        assert!(all.contains("FLOW 7  10.0.0.6 → 203.0.113.1"), "{all}");
        let few = Table {
            all_flows: false,
            color: false,
            width: None,
        }
        .text(&analysis(2));
        assert!(few.contains("FLOW 2 "));
    }

    #[test]
    fn loss_of_many_flows_lists_twenty_lines_and_counts_the_rest() {
        let lost_lines = |t: &str| t.lines().filter(|l| l.contains("lost between")).count();
        let capped = Table {
            all_flows: false,
            color: false,
            width: None,
        }
        .text(&analysis(30));
        assert_eq!(lost_lines(&capped), LISTED_LOSS_LINES, "{capped}");
        assert!(
            capped.contains("  … and 10 more (--flows or --format json lists every one)"),
            "{capped}"
        );
        let all = Table {
            all_flows: true,
            color: false,
            width: None,
        }
        .text(&analysis(30));
        assert_eq!(lost_lines(&all), 30);
        assert!(!all.contains("more (--flows"));
        // One line over the cap is listed rather than counted.
        let one_over = Table {
            all_flows: false,
            color: false,
            width: None,
        }
        .text(&analysis(21));
        assert_eq!(lost_lines(&one_over), 21);
    }
}
