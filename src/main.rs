//! Thin: command line → analysis → verdicts → reports → exit code.

use clap::Parser;
use natcorr::cli::Cli;
use natcorr::output::{self, warn};
use std::process::ExitCode;
use std::time::Instant;

/// Exit codes: 0 done, 1 an expectation not met, 2 unusable input, command line or output.
const UNMET: u8 = 1;
const FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // clap's message quotes what was typed: cleaned like every other message.
            eprint!("{}", natcorr::text::sanitize_lines(&e.render().to_string()));
            return ExitCode::from(FAILED);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    if let Some(command) = cli.command {
        return match command.generate().and_then(|text| output::stdout(&text)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    }
    let plan = match cli.plan(output::color()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    output::install_signal_cleanup();
    if let Err(e) = output::check_outputs(&plan.outputs(), &plan.input_paths()) {
        return fail(e);
    }
    let progress = output::Progress::new(&plan.inputs, cli.quiet);
    let mut analysis =
        natcorr::analyze_with_progress(&plan.inputs, &plan.options, &|n| progress.inc(n));
    progress.finish();
    analysis.expectations = plan.rules.iter().map(|r| r.check(&analysis)).collect();
    for (path, report) in &plan.files {
        let written = report
            .render(&analysis)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                output::write_output(path, text.as_bytes()).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            return fail(e);
        }
    }
    let start = Instant::now();
    let text = match plan.main.render(&analysis) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if cli.timings {
        let report = ("report", start.elapsed());
        for (stage, t) in analysis.timings.iter().chain([&report]) {
            warn(format_args!(
                "{stage:<16} {:>9.3} ms",
                t.as_secs_f64() * 1e3
            ));
        }
    }
    let written = match &plan.output {
        Some(path) => output::write_output(path, text.as_bytes()).map_err(|e| e.to_string()),
        None => {
            output::stdout(text.as_bytes()).map_err(|e| format!("cannot write the report: {e}"))
        }
    };
    if let Err(e) = written {
        return fail(e);
    }
    // Problems always reach stderr, unless the table on the person's terminal already lists them.
    let table_on_terminal = plan.output.is_none()
        && cli.ladder.is_none()
        && cli.format == natcorr::report::Format::Table
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !table_on_terminal {
        for w in &analysis.warnings {
            warn(w);
        }
    }
    if analysis.has_errors() || (cli.strict && !analysis.warnings.is_empty()) {
        ExitCode::from(FAILED)
    } else if analysis.expectations.iter().any(|e| !e.passed) {
        ExitCode::from(UNMET)
    } else {
        ExitCode::SUCCESS
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    warn(e);
    ExitCode::from(FAILED)
}
