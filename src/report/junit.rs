//! `--junit FILE`: the expectations as JUnit XML, one test case each, for CI systems.

use super::{Render, RenderError};
use crate::model::{Analysis, Verdict};
use crate::text::xml;

pub struct Junit;

impl Render for Junit {
    fn render(&self, analysis: &Analysis) -> Result<String, RenderError> {
        Ok(junit(&analysis.expectations))
    }
}

/// The outcomes as JUnit XML: one test case per expectation.
fn junit(outcomes: &[Verdict]) -> String {
    let failures = outcomes.iter().filter(|o| !o.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += &format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\">\n",
        outcomes.len()
    );
    x += &format!(
        "  <testsuite name=\"natcorr expectations\" tests=\"{}\" failures=\"{failures}\">\n",
        outcomes.len()
    );
    for o in outcomes {
        x += &format!(
            "    <testcase classname=\"natcorr.expect\" name=\"{}\">",
            xml(&o.rule)
        );
        if o.passed {
            x += &format!("<system-out>{}</system-out>", xml(&o.found));
        } else {
            x += &format!(
                "<failure message=\"{}\">{}</failure>",
                xml(&o.found),
                xml(&o.found)
            );
        }
        x += "</testcase>\n";
    }
    x += "  </testsuite>\n</testsuites>\n";
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_counted_and_escaped() {
        let x = junit(&[
            Verdict {
                rule: "loss=0".into(),
                passed: false,
                found: "3 lost <x>".into(),
            },
            Verdict {
                rule: "a".into(),
                passed: true,
                found: "ok".into(),
            },
        ]);
        assert!(x.contains("tests=\"2\" failures=\"1\""));
        assert!(x.contains("<failure message=\"3 lost &lt;x&gt;\">"));
    }
}
