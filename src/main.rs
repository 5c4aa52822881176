//! Thin: command line → analysis → report → exit code.

use clap::Parser;
use natcorr::cli::{Cli, Format};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
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
    let analysis = natcorr::analyze_with(&inputs, &cli.options());
    let start = std::time::Instant::now();
    let out = natcorr::report::render(&analysis, cli.format, cli.flows);
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
    ExitCode::from(if failed { 2 } else { 0 })
}
