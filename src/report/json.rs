//! `--format json`: the whole analysis as one JSON document (schema in the README).

use super::{Render, RenderError};
use crate::model::Analysis;
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
            serde_json::to_writer(&mut out, analysis)
        }
        .map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}
