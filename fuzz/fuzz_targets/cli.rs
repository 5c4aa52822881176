//! The command line with real files, run the way src/main.rs runs it: parse, plan, check the
//! outputs against the inputs, analyze, check the rules, render and write every report.
//!
//! Input layout: byte 0 picks the number of arguments (0..=8); then that many NUL-terminated
//! arguments (any bytes, not necessarily UTF-8); the remaining bytes are the capture, written to
//! `@IN`. Placeholders inside the arguments are replaced by paths in a per-process directory
//! (`temp_dir()/natcorr-fuzz-PID`, made once, emptied and refilled before every run):
//!
//! - `@IN`    the capture (the remaining bytes)
//! - `@IN2`   a committed capture (captures/plain/qg-0aeca8b7-8a.pcap), so there are two points
//! - `@LINK`  a symlink to `@IN`
//! - `@HARD`  a hard link to `@IN`
//! - `@OLD`   an existing regular file that is not a capture (an output to replace)
//! - `@OUT1`, `@OUT2`  names not made yet
//! - `@MISSING` a name in a directory that does not exist
//! - `@DIR`   the directory itself
//!
//! Every path the command line names (inputs, `--expect-file`, outputs) must lie inside that
//! directory (no `..`, no `-`), otherwise the run is skipped: the fuzzer never reads a device or
//! standard input and never writes outside the directory.
//!
//! Invariants: no panic; the inputs (`@IN`, `@IN2`) are never changed, in particular when
//! `check_outputs` said an output is an input (`@IN` that was not read and does not look like
//! a capture may be replaced by a report the command line asked for); `@LINK` stays a symlink; an output written with
//! success holds exactly the rendered report; no temporary is left behind.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use natcorr::cli::Cli;
use natcorr::output::{check_outputs, write_output, OutputError};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

const MAX_ARGS: usize = 8;
const MAX_MEMORY: u64 = 64 << 20;
const IN2: &[u8] = include_bytes!("../../captures/plain/qg-0aeca8b7-8a.pcap");
const OLD: &[u8] = b"an old report, not a capture\n";

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("natcorr-fuzz-{}", std::process::id()));
        fs::create_dir_all(&d).expect("fuzz directory");
        d
    })
}

fn at(name: &str) -> PathBuf {
    dir().join(name)
}

/// Empties the directory and lays out the files the placeholders name.
fn reset(capture: &[u8]) {
    let d = dir();
    for entry in fs::read_dir(d).expect("read fuzz directory") {
        let p = entry.expect("entry").path();
        let meta = fs::symlink_metadata(&p).expect("stat");
        if meta.is_dir() {
            fs::remove_dir_all(&p).expect("remove dir");
        } else {
            fs::remove_file(&p).expect("remove");
        }
    }
    fs::write(at("in"), capture).expect("write @IN");
    fs::write(at("in2.pcap"), IN2).expect("write @IN2");
    fs::write(at("old.txt"), OLD).expect("write @OLD");
    std::os::unix::fs::symlink("in", at("link")).expect("symlink @LINK");
    fs::hard_link(at("in"), at("hard")).expect("hard link @HARD");
}

fn replace_all(arg: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len());
    let mut i = 0;
    while i < arg.len() {
        if arg[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(arg[i]);
            i += 1;
        }
    }
    out
}

fn expand(arg: &[u8]) -> OsString {
    // Longest first: @IN2 before @IN.
    let places: [(&[u8], PathBuf); 9] = [
        (b"@MISSING", at("no/such/report")),
        (b"@LINK", at("link")),
        (b"@HARD", at("hard")),
        (b"@OUT1", at("out1")),
        (b"@OUT2", at("out2.html")),
        (b"@OLD", at("old.txt")),
        (b"@IN2", at("in2.pcap")),
        (b"@IN", at("in")),
        (b"@DIR", dir().to_path_buf()),
    ];
    let mut bytes = arg.to_vec();
    for (name, path) in &places {
        bytes = replace_all(&bytes, name, path.as_os_str().as_bytes());
    }
    OsString::from_vec(bytes)
}

/// Inside the fuzz directory, without `..`: nothing else is read or written.
fn confined(p: &Path) -> bool {
    p.starts_with(dir()) && !p.components().any(|c| c == Component::ParentDir)
}

fn is_temporary(name: &[u8]) -> bool {
    name.starts_with(b".") && name.ends_with(b".tmp") && name.windows(9).any(|w| w == b".natcorr-")
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, mut rest)) = data.split_first() else { return };
    let count = usize::from(count) % (MAX_ARGS + 1);
    let mut args: Vec<OsString> = vec!["natcorr".into()];
    for _ in 0..count {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        args.push(expand(&rest[..end]));
        rest = rest.get(end + 1..).unwrap_or(&[]);
    }
    let capture = rest;

    let Ok(cli) = Cli::try_parse_from(&args) else { return };
    let paths: Vec<&Path> = cli
        .files
        .iter()
        .chain(cli.points.iter().map(|(_, f)| f))
        .chain(&cli.expect_file)
        .chain(&cli.output)
        .chain(&cli.html)
        .chain(&cli.junit)
        .map(PathBuf::as_path)
        .collect();
    if !paths.iter().all(|p| confined(p)) {
        return;
    }
    if let Some(command) = cli.command {
        let _ = command.generate();
        return;
    }

    reset(capture);
    let Ok(mut plan) = cli.plan(None, false) else { return };
    plan.options.max_memory = Some(plan.options.max_memory.map_or(MAX_MEMORY, |m| m.min(MAX_MEMORY)));

    let checked = check_outputs(&plan.outputs(), &plan.input_paths());
    let outputs: Vec<PathBuf> = plan.outputs().iter().map(|p| p.to_path_buf()).collect();
    let mut written: Vec<(PathBuf, String)> = Vec::new();
    let mut run = || {
        if let Err(e) = &checked {
            if let OutputError::IsInput { output, input } = e {
                assert!(outputs.contains(output), "IsInput names an output: {e}");
                assert!(plan.input_paths().contains(&input.as_path()), "IsInput names an input: {e}");
            }
            return;
        }
        let mut analysis = natcorr::analyze(&plan.inputs, &plan.options);
        // As src/main.rs: a rule naming no capture point is an error, else every rule's check.
        let Ok(verdicts) = natcorr::expect::check_all(&plan.rules, &analysis) else { return };
        analysis.expectations = verdicts;
        for (path, report) in &plan.files {
            let Ok(text) = report.render(&analysis) else { return };
            if write_output(path, text.as_bytes()).is_err() {
                return;
            }
            written.push((path.clone(), text));
        }
        let Ok(text) = plan.main.render(&analysis) else { return };
        if let Some(path) = &plan.output {
            if write_output(path, text.as_bytes()).is_ok() {
                written.push((path.clone(), text));
            }
        }
    };
    run();

    // The inputs are never changed, whatever check_outputs said.
    let verdict = match &checked {
        Ok(()) => "check_outputs passed".to_string(),
        Err(e) => format!("check_outputs: {e}"),
    };
    // @IN may be replaced only when the command line asked for it as an output and did not
    // read it (by any of its names), and it does not start like a capture.
    let in_file = fs::canonicalize(at("in")).ok();
    let read_in = plan
        .input_paths()
        .iter()
        .any(|p| fs::canonicalize(p).ok().is_some_and(|c| Some(c) == in_file));
    let replaced_as_asked = checked.is_ok() && !read_in && written.iter().any(|(p, _)| {
        fs::canonicalize(p).ok().is_some_and(|c| Some(c) == in_file)
    });
    if !replaced_as_asked {
        assert_eq!(fs::read(at("in")).expect("@IN still there"), capture, "@IN changed ({verdict}); args {args:?}");
    }
    assert_eq!(fs::read(at("in2.pcap")).expect("@IN2 still there"), IN2, "@IN2 changed ({verdict}); args {args:?}");
    assert!(
        fs::symlink_metadata(at("link")).expect("@LINK still there").file_type().is_symlink(),
        "@LINK no longer a symlink; args {args:?}"
    );
    // Every report written with success is there, whole.
    for (path, text) in &written {
        let got = fs::read(path).unwrap_or_default();
        assert!(got == text.as_bytes(), "{} does not hold its report; args {args:?}", path.display());
    }
    // No temporary left behind (unless the fuzzer named an output like one).
    for entry in fs::read_dir(dir()).expect("read fuzz directory") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if is_temporary(name.as_bytes()) && !outputs.iter().any(|o| o.file_name() == Some(&name)) {
            panic!("temporary {} left behind; args {args:?}", name.to_string_lossy());
        }
    }
});
