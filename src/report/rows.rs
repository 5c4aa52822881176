//! `--format csv` and `--format jsonl`: one row per packet seen at a capture point, with the flow
//! (numbered as in the table) and the journey (the same packet at every point shares it).

use super::{fmt_time, Render, RenderError};
use crate::model::{Analysis, Direction};
use std::io::Write;

pub struct Rows {
    pub jsonl: bool,
}

/// The columns, in order (also the JSONL keys). TCP and UDP columns came later, at the end;
/// for echoes they are 0 (and `protocol` is `icmp`).
pub const COLUMNS: [&str; 19] = [
    "point",
    "time_ns",
    "time_utc",
    "direction",
    "src",
    "dst",
    "icmp_id",
    "seq",
    "ttl",
    "ip_id",
    "icmp_len",
    "flow",
    "journey",
    "protocol",
    "sport",
    "dport",
    "tcp_seq",
    "tcp_ack",
    "tcp_flags",
];

fn csv_field(s: &str) -> String {
    let s = crate::text::sanitize(s);
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl Render for Rows {
    fn render(&self, a: &Analysis) -> Result<String, RenderError> {
        let mut out = Vec::with_capacity(a.packets.len() * 120);
        self.write_to(a, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Streamed, one row at a time: there is a row per packet.
    fn write_to(&self, a: &Analysis, out: &mut dyn Write) -> Result<(), RenderError> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        if !self.jsonl {
            writeln!(out, "{}", COLUMNS.join(","))?;
        }
        for r in &a.packets {
            let point = &a.points[r.point as usize].name;
            let dir = match r.dir {
                Direction::Request => "request",
                Direction::Reply => "reply",
            };
            let time = fmt_time(r.ts_ns);
            if self.jsonl {
                let row = serde_json::json!({
                    "point": point, "time_ns": r.ts_ns, "time_utc": time, "direction": dir,
                    "src": r.src.to_string(), "dst": r.dst.to_string(), "icmp_id": r.icmp_id, "seq": r.seq,
                    "ttl": r.ttl, "ip_id": r.ip_id, "icmp_len": r.icmp_len, "flow": r.flow, "journey": r.journey,
                    "protocol": r.proto.keyword(), "sport": r.sport, "dport": r.dport,
                    "tcp_seq": r.tcp_seq, "tcp_ack": r.tcp_ack, "tcp_flags": r.tcp_flags,
                });
                writeln!(out, "{row}")?;
            } else {
                writeln!(
                    out,
                    "{},{},{time},{dir},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(point),
                    r.ts_ns,
                    r.src,
                    r.dst,
                    r.icmp_id,
                    r.seq,
                    r.ttl,
                    r.ip_id,
                    r.icmp_len,
                    r.flow,
                    r.journey,
                    r.proto.keyword(),
                    r.sport,
                    r.dport,
                    r.tcp_seq,
                    r.tcp_ack,
                    r.tcp_flags
                )?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_cleaned() {
        assert_eq!(csv_field("eth0"), "eth0");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("x\u{1b}[2J"), "x\u{fffd}[2J");
    }
}
