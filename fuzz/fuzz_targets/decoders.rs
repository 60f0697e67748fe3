//! Every decoder on arbitrary bytes: no panic, and every mapped span stays inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::Span;
use rampart_detect::decode::{base64, compress, json, unicode, url};

fuzz_target!(|data: &[u8]| {
    if let Some(doc) = json::parse(data) {
        if let Some(view) = doc.view {
            for i in 0..view.text.len() {
                let s = view.to_encoded(Span::new(i, (i + 7).min(view.text.len())));
                assert!(s.start <= s.end && s.end <= data.len());
            }
        }
        for n in doc.numbers {
            assert!(n.end <= data.len());
        }
    }
    for region in url::regions(data) {
        let view = url::decode(data, region);
        for i in 0..view.text.len() {
            let s = view.to_encoded(Span::new(i, i + 1));
            assert!(s.start >= region.start && s.end <= region.end);
        }
    }
    for run in base64::candidates(data) {
        let _ = base64::decode_text(&data[run.start..run.end], 1 << 16);
        let limits = compress::Limits { max_output: 1 << 20, max_ratio: 1000 };
        if let Some(out) = base64::decode_blob(&data[run.start..run.end], 1 << 16, limits) {
            assert!(out.len() <= 1 << 16);
        }
    }
    if let Some(view) = unicode::view(data) {
        for i in 0..view.text.len() {
            let s = view.to_encoded(Span::new(i, (i + 5).min(view.text.len())));
            assert!(s.start <= s.end && s.end <= data.len());
        }
    }
    let mut out = Vec::new();
    let used = unicode::strip_hidden(data, None, &mut out);
    assert!(used <= data.len() && out.len() <= used);
    if let Some(kind) = compress::sniff(data) {
        let limits = compress::Limits { max_output: 1 << 20, max_ratio: 1000 };
        if let Ok(out) = compress::decompress(data, kind, limits) {
            assert!(out.len() <= 1 << 20);
        }
    }
});
