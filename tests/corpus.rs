//! natcorr over every real-world capture in ../shared/corpus (public projects' test files):
//! each is analyzed or rejected with a clear message, never a panic, and where the manifest
//! counts ICMP echoes, natcorr counts the same. Skipped with a message when the corpus is absent.

mod common;

use common::*;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let dir = corpus_dir();
    dir.join("MANIFEST.tsv").is_file().then_some(dir)
}

#[test]
fn every_corpus_file_is_read_or_rejected_clearly() {
    let Some(dir) = corpus() else {
        skip_or_fail(
            "every_corpus_file_is_read_or_rejected_clearly",
            &format!("{} not found", corpus_dir().join("MANIFEST.tsv").display()),
        );
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file_col, count_col) = (col("file"), col("icmp_echo_count"));
    let mut checked = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let file = dir.join(cells[file_col]);
        let (code, json, stderr) = run_json(&[], std::slice::from_ref(&file));
        assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
        let echoes = total_echoes(&json);
        match cells[count_col].parse::<u64>() {
            Ok(expected) => {
                assert_eq!(
                    echoes,
                    expected,
                    "{}: echo count (stderr: {stderr})",
                    file.display()
                );
                // Exit 2 only when natcorr says which error made the file unusable.
                let errors = json["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|w| w["severity"] == "error")
                    .count();
                assert_eq!(
                    code,
                    if errors > 0 { 2 } else { 0 },
                    "{}: {stderr}",
                    file.display()
                );
            }
            Err(_) => {
                // Unreadable by tshark too: natcorr must say why, name the file, and exit 2.
                assert_eq!(code, 2, "{}", file.display());
                let w = &json["warnings"].as_array().unwrap()[0];
                assert_eq!(w["severity"], "error");
                assert!(stderr.contains(cells[file_col]), "{stderr}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 40, "manifest lists {checked} files");
}
