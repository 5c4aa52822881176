//! Reports: renderings of one [`Analysis`]. One format, one file; adding a format touches one
//! new file and one arm of [`render`].

mod html;
mod json;
mod ladder;
mod mermaid;
mod rows;
mod table;

pub use ladder::ladder;
pub use rows::COLUMNS;

use crate::cli::Format;
use crate::model::{Analysis, NatFinding};
pub use crate::units::{fmt_ns, fmt_time};

/// A report format.
pub trait Render {
    fn render(&self, analysis: &Analysis) -> String;
}

/// The self-contained HTML report (`--html FILE`); `chosen` is a journey to draw as a ladder.
pub fn html(analysis: &Analysis, chosen: Option<u64>) -> String {
    html::Html { chosen }.render(analysis)
}

/// Renders `analysis`; `color` adds ANSI colors to the table (only for a terminal).
pub fn render(analysis: &Analysis, format: Format, all_flows: bool, color: bool) -> String {
    match format {
        Format::Table => table::Table { all_flows, color }.render(analysis),
        Format::Json => json::Json.render(analysis),
        Format::Csv => rows::Rows { jsonl: false }.render(analysis),
        Format::Jsonl => rows::Rows { jsonl: true }.render(analysis),
        Format::Mermaid => mermaid::Mermaid.render(analysis),
    }
}

/// A translation in a few words: "SNAT a → b between X and Y".
pub fn nat_short(n: &NatFinding) -> String {
    format!(
        "{} {} → {} between {} and {}",
        n.kind, n.before, n.after, n.from, n.to
    )
}

/// The sentence that names one translation.
pub fn nat_sentence(n: &NatFinding) -> String {
    let what = match n.matched {
        crate::model::Matched::Packet => format!("{}/{} requests", n.packets, n.of),
        crate::model::Matched::Flow => format!("{} requests, matched by destination", n.packets),
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
    } else if n.replies_reversed > 0 {
        format!(
            "only {}/{} replies translated back",
            n.replies_reversed, n.replies
        )
    } else {
        "replies NOT translated back".to_string()
    };
    format!(
        "{} {} → {} between {} and {} ({flows}{what}; {back})",
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
