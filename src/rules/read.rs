//! Reads one rule or address file within bounds and recognises its kind by content, not by name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::RuleWarning;

/// Longest line read from a text dump; a longer one is not a dump natcorr knows.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Largest file read; real nat dumps are kilobytes.
pub(crate) const MAX_FILE: u64 = 64 * 1024 * 1024;

/// The text kinds; `Lines` holds them as (1-based line number, text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// `iptables-save`, `ip6tables-save` or `iptables -t nat -S` output.
    Iptables,
    /// `ip addr` or `ip -o addr` output.
    IpAddr,
}

#[derive(Debug)]
pub(crate) enum Content {
    Nothing,
    /// `nft -j list ruleset` output.
    Json(String),
    Lines(TextKind, Vec<(usize, String)>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub line: usize,
    pub file: u64,
}

pub(crate) fn read(path: &Path) -> (Content, Vec<RuleWarning>) {
    match File::open(path) {
        Ok(file) => read_from(
            path,
            file,
            Limits {
                line: MAX_LINE,
                file: MAX_FILE,
            },
        ),
        Err(e) => (
            Content::Nothing,
            vec![warning(path, None, format!("cannot read: {e}"))],
        ),
    }
}

pub(crate) fn read_from(
    path: &Path,
    reader: impl Read,
    limits: Limits,
) -> (Content, Vec<RuleWarning>) {
    let mut warnings = Vec::new();
    let mut reader = BufReader::new(reader.take(limits.file + 1));
    let first = match first_byte(&mut reader) {
        Ok(b) => b,
        Err(e) => {
            warnings.push(warning(path, None, format!("cannot read: {e}")));
            return (Content::Nothing, warnings);
        }
    };
    if matches!(first, Some(b'{') | Some(b'[')) {
        let mut bytes = Vec::new();
        if let Err(e) = reader.read_to_end(&mut bytes) {
            warnings.push(warning(path, None, format!("cannot read: {e}")));
            return (Content::Nothing, warnings);
        }
        if bytes.len() as u64 > limits.file {
            warnings.push(warning(path, None, too_big(limits)));
            return (Content::Nothing, warnings);
        }
        return (
            Content::Json(String::from_utf8_lossy(&bytes).into_owned()),
            warnings,
        );
    }
    let lines = read_lines(path, reader, limits, &mut warnings);
    match kind_of(&lines) {
        Ok(kind) => (Content::Lines(kind, lines), warnings),
        Err(message) => {
            warnings.push(warning(path, None, message));
            (Content::Nothing, warnings)
        }
    }
}

/// Peeks at the first byte that is not white space, without consuming it.
fn first_byte(reader: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn read_lines(
    path: &Path,
    mut reader: impl BufRead,
    limits: Limits,
    warnings: &mut Vec<RuleWarning>,
) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut total: u64 = 0;
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        let read = (&mut reader)
            .take(limits.line as u64 + 2)
            .read_until(b'\n', &mut buf);
        match read {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) => {
                warnings.push(warning(
                    path,
                    Some(number),
                    format!("cannot read: {e}; stopped here"),
                ));
                break;
            }
        }
        if total > limits.file {
            warnings.push(warning(path, Some(number), too_big(limits)));
            break;
        }
        while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
            buf.pop();
        }
        if buf.len() > limits.line {
            warnings.push(warning(
                path,
                Some(number),
                format!(
                    "line longer than {} bytes: stopped reading this file",
                    limits.line
                ),
            ));
            break;
        }
        lines.push((number, String::from_utf8_lossy(&buf).into_owned()));
    }
    lines
}

/// The first line that is neither blank nor a comment tells the kind.
fn kind_of(lines: &[(usize, String)]) -> Result<TextKind, String> {
    let first = lines
        .iter()
        .map(|(_, l)| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = first else {
        // An empty dump is a namespace without rules (iptables-save prints nothing then).
        return Ok(TextKind::Iptables);
    };
    if first.starts_with('*')
        || first.starts_with(':')
        || first.starts_with("-P ")
        || first.starts_with("-N ")
        || first.starts_with("-A ")
        || first.starts_with('[')
    {
        return Ok(TextKind::Iptables);
    }
    if is_ip_addr_header(first) {
        return Ok(TextKind::IpAddr);
    }
    if first.starts_with("table ") {
        return Err("nft text ruleset: natcorr reads `nft -j list ruleset` (JSON)".into());
    }
    Err("not a dump natcorr knows (iptables-save, iptables -t nat -S, nft -j list ruleset, ip addr)".into())
}

/// `2: eth0: <…> mtu …` or `2: eth0    inet …` (`ip -o addr`).
pub(crate) fn is_ip_addr_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((index, rest)) => {
            !index.is_empty()
                && index.bytes().all(|b| b.is_ascii_digit())
                && rest.starts_with(' ')
                && !rest.trim().is_empty()
        }
        None => false,
    }
}

fn too_big(limits: Limits) -> String {
    format!("file larger than {} bytes: stopped reading it", limits.file)
}

fn warning(path: &Path, line: Option<usize>, message: String) -> RuleWarning {
    RuleWarning {
        file: path.to_path_buf(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, limits: Limits) -> (Content, Vec<RuleWarning>) {
        read_from(Path::new("t"), text.as_bytes(), limits)
    }

    const BIG: Limits = Limits {
        line: MAX_LINE,
        file: MAX_FILE,
    };

    #[test]
    fn recognises_each_kind_by_content() {
        let kind = |t: &str| match read_str(t, BIG).0 {
            Content::Lines(k, _) => Some(k),
            _ => None,
        };
        assert_eq!(
            kind("# Generated by iptables-save v1.8\n*nat\n"),
            Some(TextKind::Iptables)
        );
        assert_eq!(kind("-P PREROUTING ACCEPT\n"), Some(TextKind::Iptables));
        assert_eq!(
            kind("1: lo:  mtu 65536 qdisc noqueue\n"),
            Some(TextKind::IpAddr)
        );
        assert_eq!(
            kind("2: eth0    inet 10.0.0.1/24 scope global eth0\\ x\n"),
            Some(TextKind::IpAddr)
        );
        assert!(matches!(
            read_str("  {\"nftables\": []}", BIG).0,
            Content::Json(_)
        ));
        let (content, warnings) = read_str("table ip nat {\n}\n", BIG);
        assert!(matches!(content, Content::Nothing));
        assert!(warnings[0].message.contains("nft -j"));
        let (content, warnings) = read_str("", BIG);
        assert!(matches!(content, Content::Lines(TextKind::Iptables, _)));
        assert!(warnings.is_empty());
        let (content, warnings) = read_str("hello\n", BIG);
        assert!(matches!(content, Content::Nothing));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn stops_at_a_long_line_and_keeps_what_came_before() {
        let limits = Limits {
            line: 20,
            file: 1000,
        };
        let text = format!("-P PREROUTING ACCEPT\n-A X {}\n-A Y\n", "a".repeat(40));
        let (content, warnings) = read_str(&text, limits);
        let Content::Lines(_, lines) = content else {
            panic!("no lines")
        };
        assert_eq!(lines, vec![(1, "-P PREROUTING ACCEPT".to_string())]);
        assert_eq!(warnings[0].line, Some(2));
    }

    #[test]
    fn stops_at_the_size_bound() {
        let limits = Limits {
            line: 100,
            file: 30,
        };
        let text = "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-N x\n";
        let (content, warnings) = read_str(text, limits);
        let Content::Lines(_, lines) = content else {
            panic!("no lines")
        };
        assert_eq!(lines.len(), 1);
        assert!(warnings[0].message.contains("larger"));
        let (content, warnings) =
            read_str(&format!("{{\"nftables\": [{}]}}", " ".repeat(40)), limits);
        assert!(matches!(content, Content::Nothing));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn a_missing_file_is_a_warning() {
        let (content, warnings) = read(Path::new("/nonexistent/natcorr/rules"));
        assert!(matches!(content, Content::Nothing));
        assert!(warnings[0].message.starts_with("cannot read"));
    }
}
