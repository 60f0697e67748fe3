//! Every detector of the registry, checked against its own positive and negative examples.

use rampart_core::DataClass;
use rampart_detect::{ScanOptions, Scanner, ScannerConfig, detectors};

/// The detectors reporting in `text`: a whole-buffer scan, or for a stream-only detector a
/// stream fed in small chunks (where such detectors act).
fn detector_ids_in(d: &rampart_detect::Detector, text: &str) -> Vec<&'static str> {
    if d.stream_only {
        let mut s = rampart_detect::StreamScanner::new(
            Scanner::builtin(),
            rampart_detect::Redactor::new(
                rampart_detect::Strategy::Mask,
                rampart_detect::HashKey::default(),
            ),
        );
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(7) {
            s.feed(chunk, &mut out);
        }
        s.finish(&mut out);
        return s.findings().iter().map(|f| f.detector).collect();
    }
    let scan = Scanner::builtin()
        .scan(text.as_bytes(), &ScanOptions::default())
        .unwrap();
    scan.findings().map(|f| f.detector).collect()
}

#[test]
fn registry_compiles_without_diagnostics() {
    let scanner = Scanner::new(detectors::all(), ScannerConfig::default());
    if let Err(e) = scanner {
        panic!("{e}");
    }
}

#[test]
fn every_detector_is_documented_and_has_examples() {
    let mut problems = Vec::new();
    for d in detectors::all() {
        if d.docs.is_empty() {
            problems.push(format!("{}: no docs", d.id));
        }
        if d.positives.is_empty() || d.negatives.is_empty() {
            problems.push(format!("{}: needs positive and negative examples", d.id));
        }
        if !d
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.push(format!("{}: id must be snake_case", d.id));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn at_least_100_secret_formats() {
    let n = detectors::all()
        .filter(|d| d.class == DataClass::Secret)
        .count();
    assert!(n >= 100, "only {n} secret detectors");
}

#[test]
fn positives_are_found_by_their_detector() {
    let mut misses = Vec::new();
    for d in detectors::all() {
        for p in d.positives {
            let ids = detector_ids_in(d, p);
            if !ids.contains(&d.id) {
                misses.push(format!("{}: not found in {p:?} (found {ids:?})", d.id));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn negatives_are_not_reported_by_their_detector() {
    let mut hits = Vec::new();
    for d in detectors::all() {
        for n in d.negatives {
            if detector_ids_in(d, n).contains(&d.id) {
                hits.push(format!("{}: reported in negative {n:?}", d.id));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "{} false hits:\n{}",
        hits.len(),
        hits.join("\n")
    );
}

#[test]
fn a_bad_registry_reports_every_problem_at_once() {
    static BAD: &[rampart_detect::Detector] = &[
        rampart_detect::Detector::secret("unbounded", "x", r"tok_[a-z]+"),
        rampart_detect::Detector::secret("empty", "x", r"(?:ab)?"),
        rampart_detect::Detector::secret("no_prefix", "x", r"[a-z]{10}"),
        rampart_detect::Detector::secret("broken", "x", r"sk_(["),
        rampart_detect::Detector::secret("unbounded", "x", r"tok_[a-z]{4}"),
    ];
    let err = Scanner::new(BAD.iter(), ScannerConfig::default()).unwrap_err();
    let by: Vec<(&str, &str)> = err
        .diagnostics
        .iter()
        .map(|d| (d.detector, d.message.as_str()))
        .collect();
    let has = |id: &str, words: &str| by.iter().any(|(d, m)| *d == id && m.contains(words));
    assert!(has("unbounded", "no maximum length"), "{by:?}");
    assert!(has("empty", "empty string"), "{by:?}");
    assert!(has("no_prefix", "literal"), "{by:?}");
    assert!(has("broken", "does not parse"), "{by:?}");
    assert!(has("unbounded", "duplicate"), "{by:?}");
}

#[test]
fn stream_only_detectors_are_skipped_by_whole_buffer_scans() {
    for d in detectors::all().filter(|d| d.stream_only) {
        for p in d.positives {
            let scan = Scanner::builtin()
                .scan(p.as_bytes(), &ScanOptions::default())
                .unwrap();
            assert!(
                scan.findings().all(|f| f.detector != d.id),
                "{}: reported by a whole-buffer scan of {p:?}",
                d.id
            );
        }
    }
}
