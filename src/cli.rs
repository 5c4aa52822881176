//! The command line: every flag and subcommand defined and documented once, here; `--help`, the
//! man page and the completions come from these definitions. Turns the command line into a
//! validated [`Plan`] before anything is read or written.

use crate::expect::Expectation;
use crate::model::{Diagnostic, Input, Options, Protocol, Protocols, Severity};
use crate::report::{Format, Html, Junit, Ladder, Render};
use crate::text::sanitize;
use clap::builder::TypedValueParser;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "natcorr",
    version,
    args_conflicts_with_subcommands = true,
    about = "Follow ICMP echoes across packet captures taken at several points of a path, through NAT",
    long_about = "natcorr reads tcpdump captures (pcap or pcapng) taken at several points of one path, \
finds the same echo request and reply at every point even where NAT rewrote addresses or the ICMP \
identifier, and reports the path order, where each translation (SNAT, DNAT, identifier rewrite) \
happened, whether replies were translated back, per-hop latency and loss.",
    after_help = "Examples:\n  \
natcorr captures/seed/*.pcap                      the seed's four router interfaces and the destination\n  \
natcorr --format json captures/plain/*.pcap | jq .nat\n  \
natcorr --point vm=/tmp/a.pcap --point router=/tmp/b.pcap\n  \
tcpdump -i eth0 -w - icmp | natcorr -              one capture from standard input\n\n\
Inputs may be gzip- or zstd-compressed (recognized by content). Problems with an input are\n\
reported by file, record and byte offset; the rest of the file and the other files are still used.\n\n\
Shell completions and a man page: natcorr completions bash|zsh|fish, natcorr man.\n\n\
CI check:  natcorr --expect 'snat ha-*>qg-*' --expect 'no-nat qg-*>ex-*' --expect loss=0 \\\n  \
             --junit expectations.xml captures/plain/*.pcap\n\n\
Exit codes: 0 analysis done (warnings allowed) and every expectation met; 1 an expectation not\n\
met; 2 an input could not be used at all, the command line or a rule was wrong, or (with\n\
--strict) an input had problems."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Capture files (pcap or pcapng, any extension). Each file is a capture point named after the
    /// pcapng interface name, else the file name without extension; a `tcpdump -i any` file yields
    /// one point per interface (`NAME#ifN`).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Read FILE as capture point NAME (repeatable). Overrides the name natcorr would pick.
    #[arg(long = "point", value_name = "NAME=FILE",
          value_parser = clap::builder::OsStringValueParser::new().try_map(parse_point))]
    pub points: Vec<(String, PathBuf)>,

    /// The clock of POINT's capture host is SECONDS ahead of the others (negative: behind); its
    /// timestamps are corrected before timing (repeatable). Without it, natcorr estimates offsets
    /// where the timing is impossible on one clock. All points of one file share the offset.
    #[arg(long = "clock-offset", value_name = "POINT=SECONDS", value_parser = parse_offset)]
    pub clock_offsets: Vec<(String, i64)>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Analyse only these protocols (comma-separated: icmp, tcp, udp; default: all three). ICMP
    /// errors are read whichever is chosen, and tied to the echo, TCP or UDP packet they quote.
    #[arg(long = "protocol", value_name = "LIST", value_parser = parse_protocols)]
    pub protocols: Option<Protocols>,

    /// List every flow in detail (by default, many flows are grouped by path and translations).
    #[arg(long)]
    pub flows: bool,

    /// Write the report to FILE instead of standard output. The file is replaced whole
    /// (written aside, then renamed), so an interrupted run never leaves half a report.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// Also write a self-contained HTML report to FILE (paths with their translations, a ladder of
    /// each flow's first exchange, latency per hop, loss, problems); nothing in it is fetched.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,

    /// Check RULE against the analysis; an unmet rule makes the exit code 1 (repeatable). Rules:
    /// `snat|dnat|id|sport|dport FROM>TO`, `no-nat FROM>TO` (point-name globs), `loss OP N`,
    /// `hop-latency OP DURATION`, `rtt OP DURATION`, `nat-count OP N`, `flows OP N`, `explained`;
    /// OP is one of = == != < <= > >=. A rule may end in a protocol (icmp, tcp, udp) to check
    /// only that protocol's flows. Example: --expect 'snat ha-*>qg-*' --expect 'loss=0 tcp'.
    #[arg(long = "expect", value_name = "RULE", value_parser = parse_rule)]
    pub expect: Vec<Expectation>,

    /// Read expectations from FILE, one rule per line (`#` starts a comment).
    #[arg(long = "expect-file", value_name = "FILE")]
    pub expect_file: Vec<std::path::PathBuf>,

    /// Explain each translation by the nat rule that made it: FILE is an `iptables-save` or
    /// `ip6tables-save` dump, `iptables -t nat -S` output, `nft -j list ruleset` JSON, or
    /// `ip addr` / `ip -o addr` output, recognised by content. Files whose names share the part
    /// before the first dot describe one namespace (`qrouter.iptables-save`,
    /// `qrouter.ip-addr.txt`); its address dump says which interfaces (capture points) are in
    /// it. Repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,

    /// Write the expectations as JUnit XML to FILE (one test case each), for CI systems.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,

    /// Draw journey N (the same packet at every point, numbered as in --format csv) and its reply
    /// as a ladder in the terminal, the fields each hop changed marked; with --html, the report's
    /// ladder for that flow shows this journey.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ladder: Option<u64>,

    /// No progress bar (it is shown on a terminal for inputs over 64 MB).
    #[arg(short, long)]
    pub quiet: bool,

    /// Print how long each stage took (read and decode, correlate, clock offsets, infer, report)
    /// to standard error.
    #[arg(long)]
    pub timings: bool,

    /// Stop reading inputs once the analysis would use more than SIZE bytes of memory (K, M, G
    /// suffixes; default: half the machine's memory). What was read is still analyzed, with an
    /// error that says where reading stopped (exit code 2).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Treat warnings about the inputs (a cut record, a skipped block, …) as errors: exit code 2.
    #[arg(long)]
    pub strict: bool,
}

/// What natcorr can do instead of analyzing captures.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Decode captures into one Parquet file of observations (echoes and ICMP errors, the
    /// capture points, the problems met), to analyze later in their place (`natcorr
    /// OUT.parquet …`) or to query with DuckDB or Spark. `-` reads standard input.
    Extract {
        /// The Parquet file to write (replaced whole, never over an input).
        #[arg(short, long, value_name = "OUT.parquet")]
        output: PathBuf,
        /// Capture files (pcap, pcapng, maybe gzip/zstd; - is standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the shell completion script for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

impl Command {
    /// The completion script or man page (nothing for `extract`, which main runs).
    pub fn generate(self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Command::Completions { shell } => {
                clap_complete::generate(shell, &mut Cli::command(), "natcorr", &mut out)
            }
            Command::Man => out = man_page()?,
            Command::Extract { .. } => {}
        }
        Ok(out)
    }
}

/// The man page: clap_mangen's, with each option's value in the SYNOPSIS (`--point
/// NAME=FILE`) and the examples kept as laid out (no refilling).
fn man_page() -> std::io::Result<Vec<u8>> {
    let command = Cli::command();
    let mut raw = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut raw)?;
    let mut page = String::from_utf8_lossy(&raw).into_owned();
    let roff = |s: &str| s.replace('-', "\\-");
    for arg in command.get_arguments() {
        let (Some(long), Some(values)) = (arg.get_long(), arg.get_value_names()) else {
            continue;
        };
        if !arg.get_action().takes_values() {
            continue;
        }
        let value: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        let flag = format!("\\fB\\-\\-{}\\fR]", roff(long));
        let with = format!(
            "\\fB\\-\\-{}\\fR \\fI{}\\fR]",
            roff(long),
            roff(&value.join(" "))
        );
        page = page.replacen(&flag, &with, 1);
    }
    if let Some(at) = page.find(".SH EXTRA\n") {
        let body = at + ".SH EXTRA\n".len();
        let end = page[body..]
            .find("\n.SH ")
            .map_or(page.len(), |e| body + e + 1);
        page.insert_str(end, ".fi\n");
        page.insert_str(body, ".nf\n");
    }
    Ok(page.into_bytes())
}

fn parse_offset(s: &str) -> Result<(String, i64), String> {
    let (point, secs) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected POINT=SECONDS, got {s:?}"))?;
    let secs: f64 = secs
        .parse()
        .map_err(|_| format!("{secs:?} is not a number of seconds"))?;
    if point.is_empty() || !secs.is_finite() || secs.abs() > 1e9 {
        return Err(format!("expected POINT=SECONDS, got {s:?}"));
    }
    Ok((sanitize(point), (secs * 1e9).round() as i64))
}

fn parse_protocols(s: &str) -> Result<Protocols, String> {
    let list: Vec<Protocol> = s
        .split(',')
        .map(|w| {
            Protocol::from_keyword(w.trim())
                .ok_or_else(|| format!("unknown protocol `{w}` (expected icmp, tcp or udp)"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Protocols::of(&list))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{:?} is not a size (e.g. 512M, 4G)", sanitize(s))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{:?} is not a size (e.g. 512M, 4G)", sanitize(s)))
}

/// Half the machine's memory (`MemTotal` in /proc/meminfo), or 8 GiB where that is unknown.
fn default_memory_budget() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024 / 2)
}

fn parse_rule(s: &str) -> Result<Expectation, String> {
    s.parse().map_err(|e: crate::expect::ParseError| e.why)
}

fn parse_point(s: std::ffi::OsString) -> Result<(String, PathBuf), String> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = s.as_bytes();
    let shown = sanitize(&s.to_string_lossy());
    let Some(at) = bytes.iter().position(|&b| b == b'=') else {
        return Err(format!("expected NAME=FILE, got {shown:?}"));
    };
    let (name, file) = (&bytes[..at], &bytes[at + 1..]);
    let name = std::str::from_utf8(name)
        .map_err(|_| format!("the point name in {shown:?} is not UTF-8"))?;
    if name.is_empty() || file.is_empty() {
        return Err(format!("expected NAME=FILE, got {shown:?}"));
    }
    Ok((
        sanitize(name),
        PathBuf::from(std::ffi::OsString::from_vec(file.to_vec())),
    ))
}

/// A run, checked: what to read, with which options, what to check and what to write where.
pub struct Plan {
    /// Problems of the command line that do not stop the run (a file given twice).
    pub notices: Vec<Diagnostic>,
    pub inputs: Vec<Input>,
    pub options: Options,
    pub rules: Vec<Expectation>,
    /// Reports written to files (`--html`, `--junit`), in that order.
    pub files: Vec<(PathBuf, Box<dyn Render>)>,
    /// The report for standard output, or for `-o FILE`.
    pub main: Box<dyn Render>,
    pub output: Option<PathBuf>,
    /// The report on standard output lists the warnings itself (the table on a terminal), so
    /// they need not be repeated on standard error.
    pub report_lists_warnings: bool,
}

impl Plan {
    /// Every file a report will be written to.
    pub fn outputs(&self) -> Vec<&std::path::Path> {
        self.files
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(self.output.as_deref())
            .collect()
    }

    /// Every input's path (`-` is standard input), the `--rules` dumps too: never an output.
    pub fn input_paths(&self) -> Vec<&std::path::Path> {
        let rules = self.options.rules.iter().map(PathBuf::as_path);
        self.inputs
            .iter()
            .map(|i| i.path.as_path())
            .chain(rules)
            .collect()
    }
}

impl Cli {
    /// The run this command line asks for; `terminal` is the width of standard output when it
    /// is a person's terminal (`None` otherwise), `color` that it takes colors. Errors (exit code 2) say what is wrong before
    /// anything is read or written.
    pub fn plan(&self, terminal: Option<usize>, color: bool) -> Result<Plan, String> {
        let (inputs, repeated) = self.inputs();
        if inputs.is_empty() {
            return Err("no capture files given (see natcorr --help)".to_string());
        }
        if inputs.iter().filter(|i| i.path.as_os_str() == "-").count() > 1 {
            return Err(
                "standard input (-) is given more than once; it can be read only once".into(),
            );
        }
        if self.ladder.is_some() && self.format != Format::Table {
            return Err(format!(
                "--ladder draws in the terminal and cannot be combined with --format {}",
                self.format
                    .to_possible_value()
                    .map_or("?".into(), |v| v.get_name().to_string())
            ));
        }
        let mut rules = self.expect.clone();
        for path in &self.expect_file {
            let shown = sanitize(&path.to_string_lossy());
            let parsed = crate::expect::read_file(path).map_err(|e| format!("{shown}: {e}"))?;
            rules.extend(parsed);
        }
        let mut files: Vec<(PathBuf, Box<dyn Render>)> = Vec::new();
        if let Some(path) = &self.html {
            files.push((
                path.clone(),
                Box::new(Html {
                    chosen: self.ladder,
                }),
            ));
        }
        if let Some(path) = &self.junit {
            files.push((path.clone(), Box::new(Junit)));
        }
        let main: Box<dyn Render> = match self.ladder {
            Some(journey) => Box::new(Ladder { journey }),
            None => self.format.renderer(
                self.flows,
                color && self.output.is_none(),
                terminal.filter(|_| self.output.is_none()),
            ),
        };
        let notices = repeated
            .iter()
            .map(|p| Diagnostic {
                file: sanitize(&p.to_string_lossy()),
                severity: Severity::Warning,
                record: None,
                offset: None,
                message: "given more than once: read once".to_string(),
            })
            .collect();
        Ok(Plan {
            inputs,
            notices,
            options: self.options(),
            rules,
            files,
            main,
            output: self.output.clone(),
            report_lists_warnings: terminal.is_some()
                && self.output.is_none()
                && self.ladder.is_none()
                && self.format == Format::Table,
        })
    }

    /// What the analysis needs from the command line besides the files.
    pub fn options(&self) -> Options {
        Options {
            clock_offsets: self.clock_offsets.clone(),
            per_packet: self.format.per_packet() || self.html.is_some() || self.ladder.is_some(),
            max_memory: Some(self.max_memory.unwrap_or_else(default_memory_budget)),
            rules: self.rules.clone(),
            protocols: self.protocols.unwrap_or_default(),
        }
    }

    /// The inputs in command-line order; a file named by `--point` is read once, under that name.
    /// A file given twice (the same path, or one file by two paths) is read once; those are
    /// returned beside the inputs, to be warned about.
    pub fn inputs(&self) -> (Vec<Input>, Vec<PathBuf>) {
        let mut inputs: Vec<Input> = Vec::new();
        let mut repeated = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for f in &self.files {
            // Canonical paths find `./a.pcap` and `a.pcap`; standard input given twice is an
            // error of its own (see `plan`).
            let identity = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            if f.as_os_str() != "-" && !seen.insert(identity) {
                repeated.push(f.clone());
                continue;
            }
            inputs.push(Input {
                path: f.clone(),
                name: None,
            });
        }
        for (name, file) in &self.points {
            match inputs.iter_mut().find(|i| &i.path == file) {
                Some(i) => i.name = Some(name.clone()),
                None => inputs.push(Input {
                    path: file.clone(),
                    name: Some(name.clone()),
                }),
            }
        }
        (inputs, repeated)
    }
}
