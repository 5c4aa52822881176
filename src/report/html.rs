//! `--html FILE`: one self-contained HTML file to attach to a ticket. CSS is inline, the diagrams
//! are inline SVG, there is no script and nothing is fetched; every string from a capture is
//! escaped.

use super::{fmt_ns, fmt_time, nat_lines, points_in_path_order, sections, Render, RenderError};
use crate::model::{
    Analysis, Flow, NatKey, PacketRow, RuleExplanation, RuleVerdict, Severity, TranslationKind,
};
use crate::text::{count, xml as esc};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt::Write;

pub struct Html {
    /// A journey to draw (`--ladder N`) in its flow, instead of the flow's first exchange.
    pub chosen: Option<u64>,
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f24;max-width:1400px}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.nat{color:#b35900;font-weight:600}.why{list-style:none;color:#57606a;font-family:ui-monospace,monospace;font-size:.9em}.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}\
.bar{display:inline-block;height:10px;background:#54aeff;vertical-align:middle}.bar.p95{background:#0969da}\
.note{color:#57606a}svg text{font:12px system-ui,sans-serif}code{background:#f6f8fa;padding:0 3px}";

impl Render for Html {
    fn render(&self, a: &Analysis) -> Result<String, RenderError> {
        Ok(self.text(a))
    }
}

impl Html {
    fn text(&self, a: &Analysis) -> String {
        let mut o = String::new();
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
             <title>natcorr report</title><style>{CSS}</style></head><body>\n"
        );
        let _ = writeln!(
            o,
            "<h1>natcorr report</h1><p>{} · {} · {} · {} with inputs</p>",
            count(a.points.len() as u64, "capture point", "capture points"),
            count(a.flows.len() as u64, "flow", "flows"),
            count(a.nat.len() as u64, "translation", "translations"),
            count(a.warnings.len() as u64, "problem", "problems")
        );
        expectations(&mut o, a);
        let _ = writeln!(o, "<h2>NAT</h2>");
        if a.nat.is_empty() {
            let _ = writeln!(o, "<p>No translation seen.</p>");
        }
        let _ = writeln!(o, "<ul>");
        // Many hosts behind one NAT: one line per hop and kind (the JSON lists each).
        for line in nat_lines(a, false) {
            // The rule that explains a translation (`--rules`) is drawn under it.
            match line.strip_prefix("  ↳ ") {
                Some(why) => {
                    let _ = writeln!(o, "<li class=\"why\">↳ {}</li>", esc(why));
                }
                None => {
                    let _ = writeln!(o, "<li class=\"nat\">{}</li>", esc(&line));
                }
            }
        }
        let _ = writeln!(o, "</ul>");
        if !a.rule_problems.is_empty() {
            let _ = writeln!(o, "<h2>Rules: what the dumps do not explain</h2><ul>");
            for p in &a.rule_problems {
                let e = &p.explanation;
                let _ = writeln!(
                    o,
                    "<li class=\"bad\">{} → {}: {} ({} of {} flows)</li>",
                    esc(&p.from),
                    esc(&p.to),
                    esc(&e.text),
                    e.flows,
                    e.of
                );
            }
            let _ = writeln!(o, "</ul>");
        }
        // Loss first after NAT: the finding a ticket most needs.
        loss_and_routers(&mut o, a);
        points(&mut o, a);
        let rules = explanations(a);
        // Latency bars on one scale across the flows drawn.
        let scale = a
            .flows
            .iter()
            .take(MAX_FLOWS)
            .flat_map(|f| &f.hops)
            .filter_map(|h| h.latency_ns.request.map(|s| s.p95))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        for (i, f) in a.flows.iter().enumerate().take(MAX_FLOWS) {
            flow(&mut o, a, &rules, scale, i, f, self.chosen);
        }
        if a.flows.len() > MAX_FLOWS {
            let _ = writeln!(
                o,
                "<p class=\"note\">{} more flows: see <code>--format json</code>.</p>",
                a.flows.len() - MAX_FLOWS
            );
        }
        clocks_and_problems(&mut o, a);
        let _ = writeln!(o, "</body></html>");
        o
    }
}

/// Flows drawn in full; the rest are counted.
const MAX_FLOWS: usize = 20;

fn expectations(o: &mut String, a: &Analysis) {
    if a.expectations.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<h2>Expectations</h2><table><tr><th></th><th>rule</th><th>found</th></tr>"
    );
    for e in &a.expectations {
        let (class, mark) = if e.passed {
            ("ok", "PASS")
        } else {
            ("bad", "FAIL")
        };
        let _ = writeln!(
            o,
            "<tr><td class=\"{class}\">{mark}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&e.rule),
            esc(&e.found)
        );
    }
    let _ = writeln!(o, "</table>");
}

fn points(o: &mut String, a: &Analysis) {
    // TCP and UDP columns only when some point decoded any.
    let (tcp, udp) = (
        a.points.iter().any(|p| p.tcp_packets > 0),
        a.points.iter().any(|p| p.udp_packets > 0),
    );
    let th = |on: bool, name: &str| {
        if on {
            format!("<th>{name}</th>")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        o,
        "<h2>Capture points</h2><table><tr><th>point</th><th>file</th><th>link</th><th>packets</th><th>echoes</th>{}{}<th>first (UTC)</th></tr>",
        th(tcp, "TCP"),
        th(udp, "UDP")
    );
    for p in points_in_path_order(a) {
        let td = |on: bool, n: u64| {
            if on {
                format!("<td>{n}</td>")
            } else {
                String::new()
            }
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}{}<td>{}</td></tr>",
            esc(&p.name),
            esc(&p.file),
            esc(&p.link_type),
            p.packets,
            p.echo_packets,
            td(tcp, p.tcp_packets),
            td(udp, p.udp_packets),
            p.first_ns.map(fmt_time).unwrap_or_default()
        );
    }
    let _ = writeln!(o, "</table>");
}

/// What the rules said of each NAT finding (`--rules`), by (kind, from, to, before, after).
type Explanations<'a> = HashMap<NatKey<'a>, &'a RuleExplanation>;

fn explanations(a: &Analysis) -> Explanations<'_> {
    a.nat
        .iter()
        .filter_map(|n| n.explanation.as_deref().map(|e| (n.key(), e)))
        .collect()
}

fn flow(
    o: &mut String,
    a: &Analysis,
    rules: &Explanations,
    max: f64,
    i: usize,
    f: &Flow,
    chosen: Option<u64>,
) {
    let _ = writeln!(
        o,
        "<h2>Flow {}: {} (at {})</h2><p>{}, matched {}</p>",
        i + 1,
        esc(&sections::flow_title(f)),
        esc(&f.origin.point),
        esc(&sections::flow_counts(f)),
        if f.matched == crate::model::Matched::Packet {
            "packet by packet"
        } else {
            "by destination only"
        }
    );
    for line in sections::tcp_lines(f) {
        let _ = writeln!(o, "<p class=\"tcp\">{}</p>", esc(&line));
    }
    path_svg(o, f);
    // Round-trip time at each point, in path order.
    let rtts: Vec<String> = f
        .points
        .iter()
        .map(|p| {
            let rtt = p.rtt_ns.map_or("-".to_string(), |s| fmt_ns(s.median));
            format!("{} <b>{rtt}</b>", esc(&p.point))
        })
        .collect();
    let _ = writeln!(
        o,
        "<p class=\"rtt\">RTT (median) at each point: {}</p>",
        rtts.join(" · ")
    );
    let _ = writeln!(o, "<table><tr><th>hop</th><th>translations</th><th>TTL drop</th><th>request latency median / p95</th><th>reply median</th><th>lost</th></tr>");
    for h in &f.hops {
        let tr: Vec<String> = h
            .translations
            .iter()
            .map(|t| {
                // The rule that made it, on the hop (`--rules`).
                let key = t.key(h);
                let why = rules.get(&key).map_or(String::new(), |e| {
                    let class = if e.verdict == RuleVerdict::Explained {
                        "why"
                    } else {
                        "bad"
                    };
                    format!("<br><span class=\"{class}\">↳ {}</span>", esc(&e.text))
                });
                format!(
                    "<span class=\"nat\">{} {} → {}</span>{why}",
                    t.kind,
                    esc(&t.before.to_string()),
                    esc(&t.after.to_string())
                )
            })
            .collect();
        let lat = match h.latency_ns.request {
            Some(s) => format!(
                "<span class=\"bar\" style=\"width:{:.0}px\"></span><span class=\"bar p95\" style=\"width:{:.0}px\"></span> {} / {}",
                200.0 * s.median as f64 / max,
                (200.0 * (s.p95 - s.median) as f64 / max).max(0.0),
                fmt_ns(s.median),
                fmt_ns(s.p95)
            ),
            None => "-".to_string(),
        };
        let lost = lost_cell(f.origin.protocol, h);
        let _ = writeln!(
            o,
            "<tr><td>{} → {}</td><td>{}</td><td>{}</td><td>{lat}</td><td>{}</td><td>{lost}</td></tr>",
            esc(&h.from),
            esc(&h.to),
            tr.join("<br>"),
            h.ttl_delta.map(|d| d.to_string()).unwrap_or_default(),
            h.latency_ns.reply.map(|s| fmt_ns(s.median)).unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(o, "</table>");
    for e in &f.errors {
        let _ = writeln!(
            o,
            "<p>ICMP {} (code {}) from <b>{}</b> for {} {}{}, seen at {}</p>",
            e.kind,
            e.code,
            esc(&e.reporter.to_string()),
            sections::number_word(f.origin.protocol),
            e.seq,
            e.probe_ttl
                .map(|t| format!(" (ttl {t})"))
                .unwrap_or_default(),
            esc(&e.points.join(", "))
        );
    }
    for n in &f.notes {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(n));
    }
    ladder_svg(o, a, i as u32 + 1, f, chosen);
    // A flow that lost packets also shows the first lost one, ending where it vanished.
    if let Some(journey) = first_lost_journey(a, i as u32 + 1, f).filter(|&j| Some(j) != chosen) {
        ladder_svg(o, a, i as u32 + 1, f, Some(journey));
    }
}

/// What a hop of a flow of protocol `p` lost, with the packets' numbers; empty when nothing.
fn lost_cell(p: crate::model::Protocol, h: &crate::model::Hop) -> String {
    let mut parts = Vec::new();
    for (dir, n, seqs) in [
        (
            crate::model::Direction::Request,
            h.lost.request,
            h.lost.request_seqs(),
        ),
        (
            crate::model::Direction::Reply,
            h.lost.reply,
            h.lost.reply_seqs(),
        ),
    ] {
        if n > 0 {
            let (one, many) = sections::nouns(p, dir);
            parts.push(format!(
                "{} lost ({})",
                count(n, one, many),
                sections::numbered(p, seqs, u64::from(n))
            ));
        }
    }
    if h.lost.fragments > 0 {
        parts.push(format!(
            "{} lost",
            count(h.lost.fragments, "fragment", "fragments")
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("<span class=\"bad\">{}</span>", esc(&parts.join("; ")))
    }
}

/// The path as boxes, each hop's translations written on its arrow.
fn path_svg(o: &mut String, f: &Flow) {
    let w = 170;
    let width = f.path.len() * w + 20;
    let _ = writeln!(
        o,
        "<svg width=\"{width}\" height=\"120\" role=\"img\" aria-label=\"path\">"
    );
    for (i, p) in f.path.iter().enumerate() {
        let x = 10 + i * w;
        let _ = writeln!(o, "<rect x=\"{x}\" y=\"10\" width=\"130\" height=\"34\" rx=\"5\" fill=\"#ddf4ff\" stroke=\"#0969da\"/><text x=\"{}\" y=\"32\" text-anchor=\"middle\">{}</text>", x + 65, esc(&short(p, 20)));
    }
    for (i, h) in f.hops.iter().enumerate() {
        let x = 10 + i * w + 130;
        let lost = h.lost.request + h.lost.reply + h.lost.fragments;
        let stroke = if lost > 0 { "#cf222e" } else { "#57606a" };
        let _ = writeln!(o, "<line x1=\"{x}\" y1=\"27\" x2=\"{}\" y2=\"27\" stroke=\"{stroke}\" marker-end=\"url(#arrow)\"/>", x + 40);
        if lost > 0 {
            // The loss on the hop where it happened: a red cross and the count.
            let _ = writeln!(
                o,
                "<text x=\"{}\" y=\"22\" fill=\"#cf222e\" font-weight=\"bold\" text-anchor=\"middle\">✕</text><text x=\"{}\" y=\"{}\" fill=\"#cf222e\">{} lost</text>",
                x + 20,
                x - 100,
                62 + 16 * h.translations.len(),
                lost
            );
        }
        for (k, t) in h.translations.iter().enumerate() {
            let _ = writeln!(
                o,
                "<text x=\"{}\" y=\"{}\" fill=\"#b35900\">{} → {}</text>",
                x - 100,
                62 + 16 * k,
                t.kind,
                esc(&short(&t.after.to_string(), 22))
            );
        }
    }
    let _ = writeln!(o, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#57606a\"/></marker></defs></svg>");
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// A ladder of the flow's first exchange: one column per point, one arrow per hop in time order,
/// the fields a hop changed in orange.
fn ladder_svg(o: &mut String, a: &Analysis, flow: u32, f: &Flow, chosen: Option<u64>) {
    if f.matched == crate::model::Matched::Flow && f.path.len() > 1 {
        // No packet was seen at two points: a ladder would be empty lanes.
        let _ = writeln!(o, "<h3>No ladder</h3><p class=\"note\">No packet of this flow was seen at two capture points (the captures were taken one at a time), so no packet can be followed from point to point; each point's own exchanges:</p><table><tr><th>point</th><th>requests</th><th>replies</th><th>RTT median</th><th>first seen (UTC)</th></tr>");
        for p in &f.points {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.point),
                p.requests,
                p.replies,
                p.rtt_ns.map_or("-".to_string(), |s| fmt_ns(s.median)),
                p.first_ns.map(fmt_time).unwrap_or_default()
            );
        }
        let _ = writeln!(o, "</table>");
        return;
    }
    let rows: Vec<&PacketRow> = a.packets.iter().filter(|r| r.flow == flow).collect();
    let col = |name: &str| f.path.iter().position(|p| p == name);
    let last = f.path.len().saturating_sub(1);
    // Built once: a long flow has many packets, and every candidate exchange asks.
    let ended: HashSet<u64> = rows
        .iter()
        .filter(|r| col(&a.points[r.point as usize].name) == Some(last))
        .map(|r| r.journey)
        .collect();
    // Echo replies by sequence number, found once (each candidate exchange asks).
    let mut replies: HashMap<u16, u64> = HashMap::default();
    for r in rows
        .iter()
        .filter(|r| r.dir == crate::model::Direction::Reply)
    {
        replies.entry(r.seq).or_insert(r.journey);
    }
    let reached_end = |journey: u64| ended.contains(&journey);
    let reply_of = |r: &PacketRow| {
        if f.origin.protocol == crate::model::Protocol::Icmp {
            replies.get(&r.seq).copied()
        } else {
            sections::partner(&rows, r)
        }
    };
    // The chosen journey, else the first exchange whose request reached the end and was
    // answered, else the first packet.
    let pick = rows
        .iter()
        .find(|r| Some(r.journey) == chosen)
        .or_else(|| {
            // A few candidates: finding a TCP/UDP partner walks the flow's rows.
            rows.iter()
                .filter(|r| r.dir == crate::model::Direction::Request && reached_end(r.journey))
                .take(64)
                .find(|r| reply_of(r).is_some())
        })
        .or(rows.first());
    let Some(first) = pick.copied() else { return };
    let req = first.journey;
    let rep = reply_of(first).filter(|&r| r != req);
    let mut steps: Vec<&PacketRow> = rows
        .iter()
        .copied()
        .filter(|r| r.journey == req || Some(r.journey) == rep)
        .collect();
    // Requests along the path, replies back along it (timestamps of one link can tie).
    steps.sort_by_key(|r| {
        let c = col(&a.points[r.point as usize].name).unwrap_or(0) as i64;
        (r.journey != req, if r.journey == req { c } else { -c })
    });
    let w = 170;
    let width = f.path.len() * w + 260;
    let marks = vanished(a, f, &steps, req);
    let height = 50 + (steps.len() + marks.len()) * 34;
    let journeys = match rep {
        Some(r) => format!("journeys {req}, {r}"),
        None => format!("journey {req}"),
    };
    let _ = writeln!(o, "<h3>Ladder: {} {} ({journeys})</h3><svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"ladder\">", sections::number_word(f.origin.protocol), first.seq);
    for (i, p) in f.path.iter().enumerate() {
        let x = 75 + i * w;
        let _ = writeln!(o, "<text x=\"{x}\" y=\"16\" text-anchor=\"middle\">{}</text><line x1=\"{x}\" y1=\"24\" x2=\"{x}\" y2=\"{}\" stroke=\"#d0d7de\"/>", esc(&short(p, 20)), height - 5);
    }
    let t0 = steps[0].ts_ns;
    for (k, pair) in steps.windows(2).enumerate() {
        let (x, y) = (pair[0], pair[1]);
        if x.journey != y.journey {
            continue;
        }
        let (Some(cx), Some(cy)) = (
            col(&a.points[x.point as usize].name),
            col(&a.points[y.point as usize].name),
        ) else {
            continue;
        };
        let yy = 44 + k * 34;
        let (x1, x2) = (75 + cx * w, 75 + cy * w);
        let mut label = format!("+{}", fmt_ns(y.ts_ns - t0));
        let changed: Vec<String> = x
            .changes(y)
            .map(|c| {
                let field = match c.kind {
                    TranslationKind::Snat => "src",
                    TranslationKind::Dnat => "dst",
                    TranslationKind::Id => "id",
                    TranslationKind::Sport => "sport",
                    TranslationKind::Dport => "dport",
                };
                format!("{field} {}", c.after)
            })
            .collect();
        if !changed.is_empty() {
            label = format!("{label}  {}", changed.join(", "));
        }
        let color = if changed.is_empty() {
            "#57606a"
        } else {
            "#b35900"
        };
        let _ = writeln!(
            o,
            "<line x1=\"{x1}\" y1=\"{yy}\" x2=\"{x2}\" y2=\"{yy}\" stroke=\"{color}\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/><text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            x1.min(x2) + 4,
            yy - 5,
            esc(&label)
        );
    }
    // Where a packet of the exchange vanished: a red dashed line to a cross on the next lane.
    for (m, (from, to, text)) in marks.iter().enumerate() {
        let yy = 44 + (steps.len() - 1 + m) * 34;
        let (x1, x2) = (75 + from * w, 75 + to * w);
        let _ = writeln!(
            o,
            "<line x1=\"{x1}\" y1=\"{yy}\" x2=\"{x2}\" y2=\"{yy}\" stroke=\"#cf222e\" stroke-width=\"2\" stroke-dasharray=\"5,4\"/><text x=\"{x2}\" y=\"{}\" fill=\"#cf222e\" font-weight=\"bold\" text-anchor=\"middle\">✕</text><text x=\"{}\" y=\"{}\" fill=\"#cf222e\">{}</text>",
            yy + 5,
            x1.min(x2) + 4,
            yy - 5,
            esc(text)
        );
    }
    let _ = writeln!(o, "</svg>");
}

/// The first packet of the flow that a hop lost (a request, else a reply).
fn first_lost_journey(a: &Analysis, flow: u32, f: &Flow) -> Option<u64> {
    use crate::model::Direction;
    let lost = |dir: Direction, seq: u16| f.hops.iter().any(|h| h.lost.seqs(dir).contains(&seq));
    a.packets
        .iter()
        .find(|r| r.flow == flow && lost(r.dir, r.seq))
        .map(|r| r.journey)
}

/// For the request and the reply of the exchange drawn: the lane where it was last seen, the
/// next lane, where it was not, and why (lost on that hop, or maybe only not captured).
fn vanished(a: &Analysis, f: &Flow, steps: &[&PacketRow], req: u64) -> Vec<(usize, usize, String)> {
    let col = |r: &PacketRow| {
        f.path
            .iter()
            .position(|p| *p == a.points[r.point as usize].name)
    };
    let mut out = Vec::new();
    for request in [true, false] {
        let Some(last) = steps.iter().rev().find(|r| (r.journey == req) == request) else {
            continue;
        };
        let Some(at) = col(last) else { continue };
        let Some(v) = sections::vanished(f, last.dir, at, last.seq) else {
            continue;
        };
        let what = sections::nouns(f.origin.protocol, last.dir).0;
        let number = sections::number_word(f.origin.protocol);
        let why = if v.lost {
            format!(
                "{number} {} {what} lost between {} and {}",
                last.seq, f.path[at], f.path[v.next]
            )
        } else {
            format!(
                "{number} {} {what} not seen at {} (maybe not captured: see Loss)",
                last.seq, f.path[v.next]
            )
        };
        out.push((at, v.next, why));
    }
    out
}

/// The terminal's LOSS and ROUTERS sections.
fn loss_and_routers(o: &mut String, a: &Analysis) {
    let loss = sections::loss(a);
    let _ = writeln!(o, "<h2>Loss</h2>");
    if let Some(summary) = &loss.summary {
        let _ = writeln!(o, "<p>{}</p>", esc(summary));
    }
    if !loss.lines.is_empty() {
        let _ = writeln!(o, "<ul>");
        for l in loss.lines.iter().take(MAX_LOSS_LINES) {
            let _ = writeln!(o, "<li class=\"bad\">{}</li>", esc(l));
        }
        if loss.lines.len() > MAX_LOSS_LINES {
            let _ = writeln!(
                o,
                "<li>… and {} more (see <code>--format json</code>)</li>",
                loss.lines.len() - MAX_LOSS_LINES
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    if !loss.unverified.is_empty() {
        let _ = writeln!(o, "<p>{}:</p><ul>", esc(sections::UNVERIFIED));
        for l in loss.unverified.iter().take(MAX_LOSS_LINES) {
            let _ = writeln!(o, "<li class=\"note\">{}</li>", esc(l));
        }
        let _ = writeln!(o, "</ul>");
    }
    let routes = sections::routers(a);
    if !routes.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Routers that answered</h2><p>ICMP errors, by the TTL the request left with.</p>"
        );
        for r in routes.iter().take(MAX_FLOWS) {
            let _ = writeln!(
                o,
                "<h3>{}</h3><table><tr><th>TTL</th><th>who</th><th>answer</th></tr>",
                esc(&r.route)
            );
            for (ttl, who, what) in &r.answers {
                let _ = writeln!(
                    o,
                    "<tr><td>{ttl}</td><td>{}</td><td>{}</td></tr>",
                    esc(who),
                    esc(&what.to_string())
                );
            }
            let _ = writeln!(o, "</table>");
        }
    }
}

/// Loss lines listed in the HTML; the rest are counted.
const MAX_LOSS_LINES: usize = 20;

fn clocks_and_problems(o: &mut String, a: &Analysis) {
    if !a.clock_offsets.is_empty() {
        let _ = writeln!(o, "<h2>Clocks</h2><ul>");
        for c in &a.clock_offsets {
            let _ = writeln!(
                o,
                "<li>{}: {} {} ({}, {} pairs)</li>",
                esc(&c.point),
                fmt_ns(c.offset_ns.abs()),
                if c.offset_ns >= 0 { "ahead" } else { "behind" },
                c.source,
                c.pairs
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    if !a.warnings.is_empty() || !a.notes.is_empty() {
        let _ = writeln!(o, "<h2>Problems and notes</h2><ul>");
        for w in &a.warnings {
            let class = if w.severity == Severity::Error {
                "bad"
            } else {
                "note"
            };
            let _ = writeln!(o, "<li class=\"{class}\">{}</li>", esc(&w.to_string()));
        }
        for n in &a.notes {
            let _ = writeln!(o, "<li class=\"note\">{}</li>", esc(n));
        }
        let _ = writeln!(o, "</ul>");
    }
}
