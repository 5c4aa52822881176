//! `--format json`: the whole analysis as one JSON document (schema in the README).

use super::{Render, RenderError};
use crate::model::Analysis;

pub struct Json;

impl Render for Json {
    fn render(&self, analysis: &Analysis) -> Result<String, RenderError> {
        Ok(self.text(analysis))
    }
}

impl Json {
    fn text(&self, analysis: &Analysis) -> String {
        // Serializing plain data (strings, integers, vectors) cannot fail.
        let mut s = serde_json::to_string_pretty(analysis).unwrap_or_default();
        s.push('\n');
        s
    }
}
