//! The parts of the `rampart` command that other programs drive directly: the reports of
//! `rampart scan` (text, JSON and SARIF), exposed for the fuzz targets.
#![forbid(unsafe_code)]

pub mod output;
