//! Secret detectors: payments.

use crate::detector::Detector;

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[];
