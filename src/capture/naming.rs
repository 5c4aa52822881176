//! Naming capture points: from the pcapng interface name, else from the file name.

use crate::text::sanitize;
use std::path::Path;

/// The stem of a capture file: `captures/qg-0aeca8b7-8a.pcap` → `qg-0aeca8b7-8a`.
/// Only known capture extensions are removed, so `eth2.106` keeps its dot. Standard input
/// (`-`) is `stdin`.
pub fn file_stem(path: &str) -> String {
    if path == "-" {
        return "stdin".to_string();
    }
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let mut stem = name.as_str();
    for ext in [".gz", ".zst"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    for ext in [".pcapng", ".pcap", ".cap", ".ntar", ".dmp"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    sanitize(if stem.is_empty() { &name } else { stem })
}

/// The name of a capture point.
/// `if_name` is the pcapng interface name, `multi` says the file holds several points
/// (then `index` tells them apart: `STEM#ifN`).
pub fn point_name(path: &str, if_name: Option<&str>, multi: bool, index: u32) -> String {
    match if_name {
        Some(n) if !n.is_empty() && n != "any" => sanitize(n),
        _ if multi => format!("{}#if{index}", file_stem(path)),
        _ => file_stem(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_keep_interface_dots() {
        assert_eq!(file_stem("captures/seed/eth2.106.pcap"), "eth2.106");
        assert_eq!(file_stem("/x/qg-0aeca8b7-8a.pcap"), "qg-0aeca8b7-8a");
        assert_eq!(file_stem("a.pcapng.gz"), "a");
        assert_eq!(file_stem("weird"), "weird");
        assert_eq!(file_stem("-"), "stdin");
    }

    #[test]
    fn names_from_interfaces() {
        assert_eq!(point_name("f.pcapng", Some("eth0"), false, 0), "eth0");
        assert_eq!(point_name("f.pcapng", Some("any"), false, 0), "f");
        assert_eq!(point_name("any.pcap", None, true, 7), "any#if7");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(sanitize("ev\u{1b}[31mil\n"), "ev\u{fffd}[31mil\u{fffd}");
    }
}
