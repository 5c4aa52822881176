//! `--ladder N`: journey N (numbered as in `--format csv`) and its reply drawn across the capture
//! points in the terminal, like a flow graph; what each hop rewrote is marked.

use super::{fmt_ns, sections, Render, RenderError};
use crate::model::{Analysis, Direction, Flow, PacketRow, Protocol, TranslationKind};
use std::fmt::Write;

const COL: usize = 18;

fn cell(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(COL - 2)
        .collect();
    format!("{s:^COL$}")
}

/// Journey N and its reply, drawn across the capture points.
pub struct Ladder {
    pub journey: u64,
}

impl Render for Ladder {
    fn render(&self, a: &Analysis) -> Result<String, RenderError> {
        ladder(a, self.journey).ok_or(RenderError::NoJourney(self.journey))
    }
}

/// The ladder, or `None` when no journey has that number.
fn ladder(a: &Analysis, journey: u64) -> Option<String> {
    let first = a.packets.iter().find(|r| r.journey == journey)?;
    let flow = &a.flows[first.flow as usize - 1];
    let col = |r: &PacketRow| {
        flow.path
            .iter()
            .position(|p| *p == a.points[r.point as usize].name)
    };
    // The exchange: the request journey and its reply (or the other way round).
    let rows: Vec<&PacketRow> = a.packets.iter().filter(|r| r.flow == first.flow).collect();
    let partner = sections::partner(&rows, first);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "journey {journey}{} · flow {} · {} {} · {} (fields a hop changed are marked *)\n",
        partner.map(|p| format!(" and {p}")).unwrap_or_default(),
        first.flow,
        sections::number_word(flow.origin.protocol),
        first.seq,
        sections::flow_title(flow)
    );
    let header: String = flow.path.iter().map(|p| cell(p)).collect();
    let _ = writeln!(o, "{:>10}  {header}", "time");
    for dir in [Direction::Request, Direction::Reply] {
        let mut steps: Vec<&PacketRow> = a
            .packets
            .iter()
            .filter(|r| {
                (r.journey == journey || Some(r.journey) == partner)
                    && r.dir == dir
                    && col(r).is_some()
            })
            .collect();
        steps.sort_by_key(|r| {
            let c = col(r).unwrap_or(0) as i64;
            if dir == Direction::Request {
                c
            } else {
                -c
            }
        });
        let t0 = a
            .packets
            .iter()
            .filter(|r| r.journey == journey || Some(r.journey) == partner)
            .map(|r| r.ts_ns)
            .min()
            .unwrap_or(0);
        for (k, r) in steps.iter().enumerate() {
            let c = col(r).unwrap_or(0);
            let mut line = vec![' '; COL * flow.path.len()];
            for (i, p) in flow.path.iter().enumerate() {
                let _ = p;
                line[i * COL + COL / 2] = '|';
            }
            let prev = k.checked_sub(1).map(|p| steps[p]);
            if let Some(p) = prev {
                let pc = col(p).unwrap_or(0);
                let (lo, hi) = (pc.min(c) * COL + COL / 2, pc.max(c) * COL + COL / 2);
                for ch in &mut line[lo + 1..hi] {
                    *ch = '-';
                }
                if c > pc {
                    line[hi - 1] = '>';
                } else {
                    line[lo + 1] = '<';
                }
            }
            line[c * COL + COL / 2] = 'o';
            let mark = |changed: bool, s: String| if changed { format!("*{s}*") } else { s };
            let what = match prev {
                Some(p) => {
                    let changed: Vec<TranslationKind> = p.changes(r).map(|c| c.kind).collect();
                    let has = |k| changed.contains(&k);
                    // Changes are of the fields as they are on the wire.
                    let (sport, dport) = (has(TranslationKind::Sport), has(TranslationKind::Dport));
                    let ids = match flow.origin.protocol {
                        Protocol::Icmp => format!(
                            "id {}",
                            mark(has(TranslationKind::Id), r.icmp_id.to_string())
                        ),
                        _ => format!(
                            "{} > {}",
                            mark(sport, r.sport.to_string()),
                            mark(dport, r.dport.to_string())
                        ),
                    };
                    format!(
                        "{} > {} {ids} ttl {}",
                        mark(has(TranslationKind::Snat), r.src.to_string()),
                        mark(has(TranslationKind::Dnat), r.dst.to_string()),
                        r.ttl
                    )
                }
                None => format!(
                    "{} {} > {} {} ttl {}",
                    sections::packet_word(flow.origin.protocol, dir),
                    r.src,
                    r.dst,
                    sections::packet_fields(r),
                    r.ttl
                ),
            };
            let line: String = line.into_iter().collect();
            let _ = writeln!(
                o,
                "{:>10}  {}  {what}",
                format!("+{}", fmt_ns(r.ts_ns - t0)),
                line.trim_end()
            );
        }
        if let Some(last) = steps.last() {
            vanished(&mut o, flow, dir, col(last).unwrap_or(0), last.seq);
        }
    }
    Some(o)
}

/// A packet that stopped before the end of its path: an `x` on the lane where it was not
/// seen, and whether the hop lost it or the capture there may have missed it.
fn vanished(o: &mut String, flow: &Flow, dir: Direction, at: usize, seq: u16) {
    let Some(v) = sections::vanished(flow, dir, at, seq) else {
        return;
    };
    let mut line = vec![' '; COL * flow.path.len()];
    for i in 0..flow.path.len() {
        line[i * COL + COL / 2] = '|';
    }
    line[v.next * COL + COL / 2] = 'x';
    let what = sections::nouns(flow.origin.protocol, dir).0;
    let why = if v.lost {
        format!(
            "{what} lost between {} and {}",
            flow.path[at], flow.path[v.next]
        )
    } else {
        format!(
            "{what} not seen at {} or beyond (not counted as lost: see LOSS)",
            flow.path[v.next]
        )
    };
    let line: String = line.into_iter().collect();
    let _ = writeln!(o, "{:>10}  {}  {why}", "", line.trim_end());
}
