//! `--format json`: the whole analysis as one JSON document (schema in the README).

use super::{Render, RenderError};
use crate::model::{
    Analysis, ClockOffset, Diagnostic, Flow, NatFinding, Point, RuleProblem, Verdict,
};
use rayon::prelude::*;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use std::io::Write;

/// Indented for a person's terminal, else compact (one line): a file or a pipe is read by a
/// program, and indentation doubles the size (545 MB instead of 276 MB for 86k flows).
pub struct Json {
    pub pretty: bool,
}

impl Render for Json {
    fn render(&self, analysis: &Analysis) -> Result<String, RenderError> {
        let mut out = Vec::new();
        self.write_to(analysis, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Streamed: a document for 100,000 flows is hundreds of megabytes.
    fn write_to(&self, analysis: &Analysis, out: &mut dyn Write) -> Result<(), RenderError> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        if self.pretty {
            serde_json::to_writer_pretty(&mut out, analysis)
        } else {
            serde_json::to_writer(&mut out, &Document::of(analysis))
        }
        .map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}

/// The analysis as its derived `Serialize` writes it, key for key, except that the flows (the
/// bulk of a large document) are serialized on every core, a batch at a time, and written in
/// order. A field added to `Analysis` is added here too: `tests/reports.rs`
/// (`compact_json_is_the_analysis_serialized_byte_for_byte`) holds the two to the same bytes.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    points: &'a [Point],
    flows: Flows<'a>,
    nat: &'a [NatFinding],
    clock_offsets: &'a [ClockOffset],
    expectations: &'a [Verdict],
    warnings: &'a [Diagnostic],
    rule_namespaces: &'a [String],
    rule_problems: &'a [RuleProblem],
    notes: &'a [String],
}

impl<'a> Document<'a> {
    fn of(a: &'a Analysis) -> Self {
        Document {
            schema_version: a.schema_version,
            points: &a.points,
            flows: Flows(&a.flows),
            nat: &a.nat,
            clock_offsets: &a.clock_offsets,
            expectations: &a.expectations,
            warnings: &a.warnings,
            rule_namespaces: &a.rule_namespaces,
            rule_problems: &a.rule_problems,
            notes: &a.notes,
        }
    }
}

/// Flows serialized in parallel this many at a time: at most two batches are held in memory
/// (a few tens of megabytes of JSON), never the whole document.
const FLOWS_PER_BATCH: usize = 8192;

struct Flows<'a>(&'a [Flow]);

type Rendered = Result<Vec<Box<serde_json::value::RawValue>>, serde_json::Error>;

impl Serialize for Flows<'_> {
    /// Each batch is rendered on the cores while the one before it is written.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let render = |batch: &[Flow]| -> Rendered {
            let rendered = batch.par_iter().map(serde_json::value::to_raw_value);
            rendered.collect()
        };
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let mut batches = self.0.chunks(FLOWS_PER_BATCH);
        std::thread::scope(|scope| {
            let mut pending = batches.next().map(|b| scope.spawn(move || render(b)));
            while let Some(rendering) = pending.take() {
                let rendered = rendering
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    .map_err(S::Error::custom)?;
                pending = batches.next().map(|b| scope.spawn(move || render(b)));
                for flow in &rendered {
                    seq.serialize_element(flow)?;
                }
            }
            Ok(())
        })?;
        seq.end()
    }
}
