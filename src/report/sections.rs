//! The report's findings as sentences, shared by the table and the HTML: who answered the
//! probes (a traceroute from the captures) and where packets were lost.

use crate::model::{Analysis, Direction, ErrorKind, Flow, Matched};
use crate::text::count;
use rustc_hash::FxHashMap as HashMap;

/// What answered a probe: a router's ICMP error, or the destination's echo reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Error(ErrorKind),
    EchoReply,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Error(kind) => kind.fmt(f),
            Answer::EchoReply => f.write_str("echo reply"),
        }
    }
}

/// A traceroute read from the captures: per source and destination, who answered each probe TTL.
pub fn routers(a: &Analysis) -> Vec<Route> {
    type Answers = Vec<(u8, String, Answer)>;
    let mut routes: Vec<((&str, &str), Answers)> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::default();
    for f in &a.flows {
        let key = (f.origin.src.as_str(), f.origin.dst.as_str());
        let mut answers: Answers = f
            .errors
            .iter()
            .map(|e| {
                (
                    e.probe_ttl.unwrap_or(0),
                    e.reporter.clone(),
                    Answer::Error(e.kind),
                )
            })
            .collect();
        if let Some(ttl) = f
            .points
            .first()
            .and_then(|p| p.ttl)
            .filter(|_| f.replies > 0)
        {
            answers.push((ttl, f.origin.dst.clone(), Answer::EchoReply));
        }
        match index.get(&key) {
            Some(&i) => routes[i].1.extend(answers),
            None => {
                index.insert(key, routes.len());
                routes.push((key, answers));
            }
        }
    }
    routes.retain(|r| r.1.iter().any(|(_, _, k)| *k != Answer::EchoReply));
    routes
        .into_iter()
        .map(|((src, dst), mut answers)| {
            answers.sort_by_cached_key(|(ttl, who, what)| (*ttl, who.clone(), what.to_string()));
            answers.dedup();
            Route {
                route: format!("{src} → {dst}"),
                answers,
            }
        })
        .collect()
}

/// One source and destination, and who answered each probe TTL (routers, then the echo reply).
pub struct Route {
    pub route: String,
    pub answers: Vec<(u8, String, Answer)>,
}

pub fn loss(a: &Analysis) -> Loss {
    let mut lines = Vec::new();
    let mut unverified = Vec::new();
    for (i, f) in a.flows.iter().enumerate() {
        for h in &f.hops {
            let flow = i + 1;
            let line = |n: u64, one: &str, many: &str, from: &str, to: &str, why: String| {
                format!(
                    "flow {flow}: {} lost between {from} and {to} ({why})",
                    count(n, one, many)
                )
            };
            if h.lost.request > 0 {
                let why = seq_list(&h.lost.request_seqs, h.lost.request);
                lines.push(line(
                    h.lost.request,
                    "request",
                    "requests",
                    &h.from,
                    &h.to,
                    why,
                ));
            }
            if h.lost.fragments > 0 {
                let why = "the packets' first fragments arrived".to_string();
                lines.push(line(
                    h.lost.fragments,
                    "fragment",
                    "fragments",
                    &h.from,
                    &h.to,
                    why,
                ));
            }
            if h.lost.reply > 0 {
                let why = seq_list(&h.lost.reply_seqs, h.lost.reply);
                lines.push(line(h.lost.reply, "reply", "replies", &h.to, &h.from, why));
            }
            for (n, one, many, at) in [
                (h.lost.request_unverified, "request", "requests", &h.to),
                (h.lost.reply_unverified, "reply", "replies", &h.from),
            ] {
                if n > 0 {
                    unverified.push(format!(
                        "flow {}: {} not seen at {at}, whose capture shows no packet before or after that moment",
                        i + 1,
                        count(n, one, many)
                    ));
                }
            }
        }
    }
    let summary = if a.flows.is_empty() {
        Some("no echo flow: nothing to compare".to_string())
    } else if !packets_compared(a) {
        Some("cannot tell: no packet was seen at two capture points (captures taken one at a time), so loss between them cannot be compared".to_string())
    } else if lines.is_empty() {
        Some("no packet lost between capture points".to_string())
    } else {
        None
    };
    Loss {
        summary,
        lines,
        unverified,
    }
}

/// "seq 3, 5" for lost packets whose numbers were kept (`seqs`, capped), "seq 3, 5, …" when
/// `n` were lost in all.
pub fn seq_list(seqs: &[u16], n: u64) -> String {
    let list = seqs
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if n as usize > seqs.len() {
        format!("seq {list}, …")
    } else {
        format!("seq {list}")
    }
}

/// The heading of the unverified packets.
pub const UNVERIFIED: &str = "unverified (maybe lost, maybe only not captured; not counted above)";

/// Where packets were lost: a summary when nothing was (or nothing can be told), one line per
/// flow and hop that lost packets, and the packets that may only not have been captured.
pub struct Loss {
    pub summary: Option<String>,
    pub lines: Vec<String>,
    pub unverified: Vec<String>,
}

/// Whether some flow's packets were found at two points, so loss and latency could be measured.
fn packets_compared(a: &Analysis) -> bool {
    a.flows
        .iter()
        .any(|f| f.matched == Matched::Packet && !f.hops.is_empty())
}

/// Where a packet that stopped at lane `at` of its flow's path went missing: the next lane in
/// its direction, and whether the hop between counted it lost (else it may only not have been
/// captured there). `None` when it reached the end of its path.
pub fn vanished(flow: &Flow, dir: Direction, at: usize, seq: u16) -> Option<Vanished> {
    let (next, hop) = match dir {
        Direction::Request if at + 1 < flow.path.len() => (at + 1, at),
        Direction::Reply if at > 0 => (at - 1, at - 1),
        _ => return None,
    };
    let h = flow.hops.get(hop)?;
    let seqs = match dir {
        Direction::Request => &h.lost.request_seqs,
        Direction::Reply => &h.lost.reply_seqs,
    };
    Some(Vanished {
        next,
        lost: seqs.contains(&seq),
    })
}

/// See [`vanished`].
pub struct Vanished {
    /// The lane (path index) where the packet was not seen.
    pub next: usize,
    /// The hop counted it lost.
    pub lost: bool,
}

/// "request" or "reply".
pub fn direction_word(dir: Direction) -> &'static str {
    match dir {
        Direction::Request => "request",
        Direction::Reply => "reply",
    }
}
