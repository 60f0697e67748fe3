//! The LLM threat detectors on untrusted text: the classifiers, hidden-text and output
//! inspection and the canary search never panic, spans stay inside the input and on character
//! boundaries, and scores are probabilities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_threat::output::Allowlist;
use rampart_threat::{Classifier, canary, hidden, output};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    for a in [Classifier::injection().assess(text), Classifier::indirect().document(text)] {
        assert!((0.0..=1.0).contains(&a.score), "score {}", a.score);
        assert!(a.start <= a.end && a.end <= text.len());
        assert!(text.is_char_boundary(a.start) && text.is_char_boundary(a.end));
        for e in &a.evidence {
            assert!(e.start <= e.end && e.end <= text.len());
        }
    }
    for h in hidden::find(text) {
        assert!(h.start < h.end && h.end <= text.len());
    }
    let stripped = hidden::strip(text);
    assert!(hidden::find(&stripped).is_empty());
    let allow = Allowlist {
        hosts: vec!["*.example.com".into()],
    };
    for u in output::find(text, &allow) {
        assert!(u.start < u.end && u.end <= text.len());
    }
    let _ = canary::find(text, "rampart-canary-0123456789abcdef");
    let _ = canary::echo(text, text);
});
