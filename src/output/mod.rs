//! Where reports and problems go (rendered by a [`Render`] of `report`, the stage before): standard output, files ([`files`]: never over an input, never
//! half-written, never replacing a device or FIFO), warnings on standard error, and the progress
//! bar.

mod files;

pub use files::{
    check_outputs, install_signal_cleanup, write_output, write_output_with, OutputError,
};

use crate::model::{Analysis, Input};
use crate::report::{Render, RenderError};
use std::fs;
use std::io::{self, IsTerminal, Write};

/// Prints a problem on standard error, prefixed with the program's name; whatever its origin
/// (a file name, a rule, a packet), no escape sequence or bidi control reaches the terminal.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!(
        "natcorr: {}",
        crate::text::sanitize_lines(&message.to_string())
    );
}

/// Writes a report to standard output; a closed pipe (`| head`) is not an error.
pub fn stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Writes a report to `path`, or to standard output; the error says which and why.
pub fn write(path: Option<&std::path::Path>, text: &str) -> Result<(), String> {
    write_with(path, |w| w.write_all(text.as_bytes()))
}

/// Like [`write`], for a report written piece by piece by `render` (never whole in memory).
pub fn write_with<F>(path: Option<&std::path::Path>, render: F) -> Result<(), String>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    match path {
        Some(path) => write_output_with(path, render).map_err(|e| e.to_string()),
        None => {
            let mut out = io::stdout().lock();
            match render(&mut out).and_then(|_| out.flush()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.map_err(|e| format!("cannot write the report: {e}")),
            }
        }
    }
}

/// Renders `report` into `path` (standard output without one), streaming. A report that cannot
/// be drawn says why in its own words, not as a write error.
pub fn write_report(
    report: &dyn Render,
    analysis: &Analysis,
    path: Option<&std::path::Path>,
) -> Result<(), String> {
    let mut undrawable = None;
    let written = write_with(path, |w| match report.write_to(analysis, w) {
        Ok(()) => Ok(()),
        Err(RenderError::Io(e)) => Err(e),
        Err(e) => {
            let message = e.to_string();
            undrawable = Some(message.clone());
            Err(io::Error::other(message))
        }
    });
    match undrawable {
        Some(message) => Err(message),
        None => written,
    }
}

/// `--timings`: how long each stage took, and the report, on standard error.
pub fn timings(stages: &[(&'static str, std::time::Duration)], report: std::time::Duration) {
    for (stage, t) in stages.iter().chain([&("report", report)]) {
        warn(format_args!(
            "{stage:<16} {:>9.3} ms",
            t.as_secs_f64() * 1e3
        ));
    }
}

/// Whether standard output is a person's terminal that takes colors (never with NO_COLOR,
/// no-color.org).
pub fn color() -> bool {
    terminal().is_some() && std::env::var_os("NO_COLOR").is_none()
}

/// The width of standard output when it is a terminal (`None` otherwise: a pipe or a file
/// gets the wide tables): the window's columns, else `COLUMNS`, else 80.
pub fn terminal() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize on a terminal fd; a failure leaves it zeroed.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    Some(match (ok && ws.ws_col > 0, columns) {
        (true, _) => usize::from(ws.ws_col),
        (false, Some(c)) => c,
        (false, None) => 80,
    })
}

/// Inputs larger than this get a progress bar on a terminal.
const PROGRESS_ABOVE: u64 = 64 << 20;

/// A progress bar on standard error while large inputs are read (only on a terminal).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(inputs: &[Input], quiet: bool) -> Self {
        let total: u64 = inputs
            .iter()
            .filter_map(|i| fs::metadata(&i.path).ok())
            .map(|m| m.len())
            .sum();
        if quiet || total <= PROGRESS_ABOVE || !io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    /// Counts `bytes` more read, never past the total: decompressed inputs hold more bytes than
    /// their files, and a large file read in parts may read a part again (`decode::split`).
    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            let total = bar.length().unwrap_or(u64::MAX);
            bar.set_position(bar.position().saturating_add(bytes).min(total));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
