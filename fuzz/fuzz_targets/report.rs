//! The reports of `rampart scan` (text, JSON, SARIF) over arbitrary text with its real
//! findings and arbitrary more: spans that overlap, nest, cross lines or end past the text, on
//! text that is not UTF-8. No panic; every position is inside the text's lines; the JSON and
//! SARIF reports parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::output::{self, FileReport};
use rampart_core::{DataClass, Finding, Severity, Span, ValueHash};
use rampart_detect::{ScanOptions, Scanner};

fuzz_target!(|data: &[u8]| {
    // the first byte says how many findings the next bytes describe, 5 bytes each
    let Some((&n, rest)) = data.split_first() else { return };
    // the SARIF report lists every detector's rule, which costs milliseconds: it is rendered
    // for one input in eight (the bits above the count)
    let with_sarif = n >> 4 == 0 || n >> 4 == 8;
    let n = usize::from(n % 16);
    if rest.len() < n * 5 {
        return;
    }
    let (specs, text) = rest.split_at(n * 5);
    let scanner = Scanner::builtin();
    let opts = ScanOptions { max_input: 1 << 20, ..ScanOptions::default() };
    let Ok(scan) = scanner.scan(text, &opts) else { return };
    let len = scan.text.len();
    let extra: Vec<Finding> = specs
        .chunks_exact(5)
        .map(|s| {
            let a = usize::from(u16::from_le_bytes([s[0], s[1]])) % (len + 8);
            let b = usize::from(u16::from_le_bytes([s[2], s[3]])) % (len + 8);
            let (start, end) = (a.min(b), a.max(b));
            let class = DataClass::ALL[usize::from(s[4]) % DataClass::ALL.len()];
            Finding {
                class,
                detector: "fuzz",
                span: Span::new(start, end),
                score: f32::from(s[4]) / 255.0,
                severity: Severity::High,
                owasp: class.owasp(),
                hash: ValueHash([0; 16]),
                layers: Vec::new(),
            }
        })
        .collect();
    let report = FileReport::with("fuzz/input.txt", &scan, extra);
    let lines = scan.text.split(|&b| b == b'\n').count();
    for f in &report.findings {
        assert!(f.line >= 1 && f.line <= lines && f.end_line >= f.line && f.end_line <= lines);
        assert!(f.column >= 1 && f.end_column >= 1);
    }
    let reports = [report];
    let _ = output::text(&reports);
    let json: serde_json::Value = serde_json::from_str(&output::json(&reports)).expect("JSON report parses");
    assert!(json["inputs"].is_array());
    if with_sarif {
        let sarif: serde_json::Value =
            serde_json::from_str(&output::sarif(&reports, &scanner)).expect("SARIF report parses");
        assert!(sarif["runs"].is_array());
    }
});
