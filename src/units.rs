//! Times and durations for people. Inside, everything is `i64` nanoseconds; this is the one place
//! that formats them (reports, notes, expectations).

use chrono::DateTime;

/// A duration for people: `812µs`, `1.25ms`, `3.2s`.
pub fn fmt_ns(ns: i64) -> String {
    let a = ns.unsigned_abs() as f64;
    let sign = if ns < 0 { "-" } else { "" };
    if a < 1_000.0 {
        format!("{sign}{a}ns")
    } else if a < 1_000_000.0 {
        format!("{sign}{:.0}µs", a / 1e3)
    } else if a < 1_000_000_000.0 {
        format!("{sign}{:.2}ms", a / 1e6)
    } else {
        format!("{sign}{:.2}s", a / 1e9)
    }
}

/// A timestamp for people, UTC, to the microsecond.
pub fn fmt_time(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}
