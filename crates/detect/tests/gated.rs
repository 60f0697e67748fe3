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

/// Candidates are gathered a block at a time: any block size finds what one whole-input pass
/// finds, matches that straddle a block's end included.
#[test]
fn blocks_of_any_size_agree_with_reference() {
    let mut text = String::new();
    for d in detectors::all() {
        for t in d.positives.iter().chain(d.negatives) {
            text.push_str(t);
            text.push('\n');
        }
    }
    for row in common::faker_rows().into_iter().take(300) {
        text.push_str(&row.text);
        text.push(' ');
    }
    let s = Scanner::builtin();
    let mut reference = Vec::new();
    s.scan_raw_reference(text.as_bytes(), &mut reference);
    for block in [1, 7, 64, 1000, 4096] {
        let mut blocks = Vec::new();
        s.scan_raw_in_blocks(text.as_bytes(), block, &mut blocks);
        assert_eq!(blocks, reference, "block size {block}");
    }
}

/// A text cut into pieces scanned on threads of their own gives one pass's hits, matches
/// across the cuts included.
#[test]
fn pieces_scanned_at_once_agree_with_reference() {
    let mut text = String::new();
    for d in detectors::all() {
        for t in d.positives.iter().chain(d.negatives) {
            text.push_str(t);
            text.push(' ');
        }
    }
    let s = Scanner::builtin();
    let mut reference = Vec::new();
    s.scan_raw_reference(text.as_bytes(), &mut reference);
    for segments in [1, 2, 3, 17, 200, 2000] {
        let mut pieces = Vec::new();
        s.scan_raw_segmented(text.as_bytes(), None, segments, true, &mut pieces);
        assert_eq!(pieces, reference, "{segments} pieces");
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
        prop_assert_eq!(&gated, &reference);
        for block in [1, 5, 33] {
            let mut blocks = Vec::new();
            s.scan_raw_in_blocks(text.as_bytes(), block, &mut blocks);
            prop_assert_eq!(&blocks, &reference, "block size {}", block);
        }
        for segments in [2, 4, 9] {
            let mut pieces = Vec::new();
            s.scan_raw_segmented(text.as_bytes(), None, segments, true, &mut pieces);
            prop_assert_eq!(&pieces, &reference, "{} pieces", segments);
        }
    }
}
