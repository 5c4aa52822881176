//! Unit tests of each inference job on hand-built observations.

#[allow(unused_imports)]
use super::*;
