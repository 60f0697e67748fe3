//! The static registry: every detector Rampart ships, listed once.
//!
//! Groups are plain `&[Detector]` slices kept beside the code they describe; [`all`] walks them
//! in registry order. Order matters only as a tie-break: when two patterns match at the same
//! position, the one listed first is tried first (specific key formats come before generic
//! keyword detectors).

use crate::detector::Detector;

pub mod llm;
pub mod pii;
pub mod secrets;

/// The groups of the registry, in order.
pub static GROUPS: &[(&str, &[Detector])] = &[
    ("secrets: AI providers", secrets::ai::DETECTORS),
    ("secrets: cloud", secrets::cloud::DETECTORS),
    ("secrets: source hosting and CI", secrets::code::DETECTORS),
    ("secrets: chat and collaboration", secrets::chat::DETECTORS),
    (
        "secrets: payments and commerce",
        secrets::payments::DETECTORS,
    ),
    (
        "secrets: messaging and email",
        secrets::messaging::DETECTORS,
    ),
    (
        "secrets: SaaS and developer tools",
        secrets::saas::DETECTORS,
    ),
    (
        "secrets: keys, tokens and connection strings",
        secrets::crypto::DETECTORS,
    ),
    ("personal data", pii::DETECTORS),
    ("secrets: generic", secrets::generic::DETECTORS),
    // last: at one position a value wins over the markup that holds it
    ("LLM output", llm::DETECTORS),
];

/// Every detector, in registry order.
pub fn all() -> impl Iterator<Item = &'static Detector> {
    GROUPS.iter().flat_map(|(_, group)| group.iter())
}
