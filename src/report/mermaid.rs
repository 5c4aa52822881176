//! `--format mermaid`: a sequence diagram per path (flows that share a path and translations are
//! drawn once), with each translation noted on its hop. GitHub and GitLab render it in tickets.

use super::{Render, RenderError};
use crate::model::{Analysis, Flow, FlowGroup};
use rustc_hash::FxHashMap as HashMap;
use std::fmt::Write;

pub struct Mermaid;

/// Mermaid treats some characters as syntax; labels keep to safe ones.
fn label(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ';' | '#' | '"' | '<' | '>' | '{' | '}' | '\n' | '\r' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

fn diagram(o: &mut String, f: &Flow, count: usize) {
    let _ = writeln!(o, "```mermaid\nsequenceDiagram");
    let title = format!(
        "{} (at {}), {}",
        super::sections::flow_title(f),
        f.origin.point,
        crate::text::count(count as u64, "flow", "flows")
    );
    let _ = writeln!(o, "    title {}", label(&title));
    for (i, p) in f.path.iter().enumerate() {
        let _ = writeln!(o, "    participant P{i} as {}", label(p));
    }
    let n = f.path.len();
    let req = super::sections::nouns(f.origin.protocol, crate::model::Direction::Request);
    let rep = super::sections::nouns(f.origin.protocol, crate::model::Direction::Reply);
    for (i, h) in f.hops.iter().enumerate() {
        let median = h
            .latency_ns
            .request
            .map(|s| format!(" ({})", super::fmt_ns(s.median)))
            .unwrap_or_default();
        let _ = writeln!(o, "    P{i}->>P{}: {}{median}", i + 1, req.0);
        for t in &h.translations {
            let _ = writeln!(
                o,
                "    Note over P{i},P{}: {} {} → {}",
                i + 1,
                t.kind,
                label(&t.before.to_string()),
                label(&t.after.to_string())
            );
        }
        if h.lost.request > 0 {
            let _ = writeln!(
                o,
                "    Note over P{i},P{}: {} lost",
                i + 1,
                crate::text::count(h.lost.request, req.0, req.1)
            );
        }
    }
    if f.replies > 0 {
        for i in (1..n).rev() {
            let _ = writeln!(o, "    P{i}-->>P{}: {}", i - 1, rep.0);
        }
    }
    for e in &f.errors {
        let _ = writeln!(
            o,
            "    Note over P0: {} from {} ({} {})",
            e.kind,
            label(&e.reporter.to_string()),
            super::sections::number_word(f.origin.protocol),
            e.seq
        );
    }
    let _ = writeln!(o, "```");
}

impl Render for Mermaid {
    fn render(&self, a: &Analysis) -> Result<String, RenderError> {
        Ok(self.text(a))
    }
}

impl Mermaid {
    fn text(&self, a: &Analysis) -> String {
        let mut o = String::new();
        // One diagram per distinct path and set of translations.
        let mut drawn: Vec<(usize, &Flow)> = Vec::new();
        let mut index: HashMap<FlowGroup, usize> = HashMap::default();
        for f in &a.flows {
            match index.entry(f.group()) {
                std::collections::hash_map::Entry::Occupied(e) => drawn[*e.get()].0 += 1,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(drawn.len());
                    drawn.push((1, f));
                }
            }
        }
        for (count, f) in drawn {
            diagram(&mut o, f, count);
            o.push('\n');
        }
        if a.flows.is_empty() {
            o.push_str("```mermaid\nsequenceDiagram\n    Note over natcorr: no flow found\n```\n");
        }
        o
    }
}
