//! The gated scanner reports exactly what the plain leftmost-first reference reports.

use proptest::prelude::*;
use rampart_detect::{Scanner, detectors};

mod common;

fn check(text: &[u8]) {
    let s = Scanner::builtin();
    let (mut gated, mut reference) = (Vec::new(), Vec::new());
    s.scan_raw(text, &mut gated);
    s.scan_raw_reference(text, &mut reference);
    assert_eq!(gated, reference, "on {:?}", String::from_utf8_lossy(text));
}

#[test]
fn examples_and_corpora_agree_with_reference() {
    for d in detectors::all() {
        for t in d.positives.iter().chain(d.negatives) {
            check(t.as_bytes());
        }
    }
    for row in common::faker_rows() {
        check(row.text.as_bytes());
    }
    for case in common::gitleaks_cases() {
        check(case.text.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Random mixes of example fragments, digits, separators and words.
    #[test]
    fn random_mixes_agree_with_reference(parts in prop::collection::vec(prop_oneof![
        prop::sample::select(detectors::all().flat_map(|d| d.positives.iter().chain(d.negatives)).copied().collect::<Vec<_>>()).prop_map(|s| s.to_string()),
        "[0-9 .()+:-]{1,16}",
        "[a-zA-Z_]{1,12}",
        "[A-Za-z0-9+/=@:._-]{1,40}",
    ], 1..12)) {
        let text = parts.join(" ");
        let s = Scanner::builtin();
        let (mut gated, mut reference) = (Vec::new(), Vec::new());
        s.scan_raw(text.as_bytes(), &mut gated);
        s.scan_raw_reference(text.as_bytes(), &mut reference);
        prop_assert_eq!(gated, reference);
    }
}
