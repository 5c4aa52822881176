//! Thin: command line → analysis → report → exit code.

use clap::{CommandFactory, Parser};
use natcorr::cli::{Cli, Format};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `natcorr completions SHELL` and `natcorr man`: generated from the same flag definitions.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("completions") => return completions(args.get(2).map(String::as_str)),
        Some("man") => {
            let man = clap_mangen::Man::new(Cli::command());
            let mut out = Vec::new();
            return match man
                .render(&mut out)
                .and_then(|_| std::io::stdout().write_all(&out))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("natcorr: {e}");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let inputs = cli.inputs();
    if inputs.is_empty() {
        eprintln!("natcorr: no capture files given (see natcorr --help)");
        return ExitCode::from(2);
    }
    let mut rules = cli.expect.clone();
    for path in &cli.expect_file {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                natcorr::expect::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))
            });
        match parsed {
            Ok(r) => rules.extend(r),
            Err(e) => {
                eprintln!("natcorr: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut analysis = analyze(&cli, &inputs);
    analysis.expectations = rules.iter().map(|r| r.check(&analysis)).collect();
    if let Some(path) = &cli.html {
        if let Err(e) = natcorr::output::write_atomic(
            path,
            natcorr::report::html(&analysis, cli.ladder).as_bytes(),
        ) {
            eprintln!("natcorr: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(path) = &cli.junit {
        if let Err(e) = natcorr::output::write_atomic(
            path,
            natcorr::expect::junit(&analysis.expectations).as_bytes(),
        ) {
            eprintln!("natcorr: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let start = std::time::Instant::now();
    let out = match cli.ladder {
        Some(n) => {
            match natcorr::report::ladder(&analysis, n) {
                Some(text) => text,
                None => {
                    eprintln!("natcorr: there is no journey {n} (journeys are numbered as in --format csv)");
                    return ExitCode::from(2);
                }
            }
        }
        None => {
            // Colors for a person at a terminal only, never with NO_COLOR (no-color.org).
            use std::io::IsTerminal;
            let color = cli.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            natcorr::report::render(&analysis, cli.format, cli.flows, color)
        }
    };
    if cli.timings {
        for (stage, t) in analysis
            .timings
            .iter()
            .chain([&("report", start.elapsed())])
        {
            eprintln!("natcorr: {stage:<16} {:>9.3} ms", t.as_secs_f64() * 1e3);
        }
    }
    if let Some(path) = &cli.output {
        if let Err(e) = natcorr::output::write_atomic(path, out.as_bytes()) {
            eprintln!("natcorr: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    } else {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(out.as_bytes())
            .and_then(|_| stdout.flush())
        {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("natcorr: cannot write the report: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // Problems go to stderr too, unless the table on the terminal already lists them.
    if cli.format != Format::Table || cli.output.is_some() {
        for w in &analysis.warnings {
            eprintln!("natcorr: {w}");
        }
    }
    let failed = analysis.has_errors() || (cli.strict && !analysis.warnings.is_empty());
    let unmet = analysis.expectations.iter().any(|e| !e.passed);
    ExitCode::from(if failed {
        2
    } else if unmet {
        1
    } else {
        0
    })
}

/// Inputs larger than this get a progress bar on a terminal.
const PROGRESS_ABOVE: u64 = 64 << 20;

/// The analysis, with a progress bar on stderr when it is a terminal and the inputs are large.
fn analyze(cli: &Cli, inputs: &[natcorr::scan::Input]) -> natcorr::model::Analysis {
    use std::io::IsTerminal;
    let total: u64 = inputs
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum();
    if cli.quiet || total <= PROGRESS_ABOVE || !std::io::stderr().is_terminal() {
        return natcorr::analyze_with(inputs, &cli.options());
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let analysis = natcorr::analyze_with_progress(inputs, &cli.options(), &|n| bar.inc(n));
    bar.finish_and_clear();
    analysis
}

fn completions(shell: Option<&str>) -> ExitCode {
    use clap_complete::Shell;
    let shell = match shell {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        Some("elvish") => Shell::Elvish,
        Some("powershell") => Shell::PowerShell,
        _ => {
            eprintln!("natcorr: usage: natcorr completions bash|zsh|fish|elvish|powershell");
            return ExitCode::from(2);
        }
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "natcorr",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}
