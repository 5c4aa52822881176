//! Text that came from outside (files, packets, the command line) made safe to show: for a
//! terminal, for CSV/JSON, and for XML/HTML.

/// Removes control characters (terminal escapes, newlines) and bidirectional-text controls
/// (which can make a terminal show text in another order than it is) from outside text.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if unsafe_char(c) { '\u{fffd}' } else { c })
        .collect()
}

/// [`sanitize`] for a message of several lines: newlines and tabs stay.
pub fn sanitize_lines(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if unsafe_char(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Characters that must never reach a terminal or a report from outside text.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes text for XML and HTML (control characters become U+FFFD).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if unsafe_char(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `n` and the noun for it: "1 request", "2 requests".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_controls_never_pass() {
        assert_eq!(sanitize("ev\u{1b}[31mil\n"), "ev\u{fffd}[31mil\u{fffd}");
        assert_eq!(sanitize("a\u{202e}b\u{2066}c"), "a\u{fffd}b\u{fffd}c");
        assert_eq!(
            sanitize_lines("x\u{1b}]0;t\u{7}\ny"),
            "x\u{fffd}]0;t\u{fffd}\ny"
        );
        assert_eq!(xml("<a\u{202e}>"), "&lt;a\u{fffd}&gt;");
    }
}
