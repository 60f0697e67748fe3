//! Whole-buffer scanning and redaction of arbitrary bytes: no panic, spans in bounds, findings
//! sorted and disjoint, and redaction replaces exactly the findings' spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_detect::{HashKey, Redactor, ScanOptions, Scanner, Strategy};

fuzz_target!(|data: &[u8]| {
    let scanner = Scanner::builtin();
    let opts = ScanOptions { max_input: 1 << 20, ..ScanOptions::default() };
    let Ok(scan) = scanner.scan(data, &opts) else { return };
    let mut prev_end = 0;
    for f in scan.findings() {
        assert!(f.span.start >= prev_end && f.span.end <= scan.text.len() && f.span.start < f.span.end);
        prev_end = f.span.end;
    }
    let mut out = Vec::new();
    scan.redact(&mut Redactor::new(Strategy::Mask, HashKey::default()), &mut out);
    // the bytes outside findings are kept, in order
    let mut kept = 0;
    let mut cursor = 0;
    for f in scan.findings() {
        kept += f.span.start - cursor;
        cursor = f.span.end;
    }
    kept += scan.text.len() - cursor;
    assert!(out.len() >= kept);
    if scan.found.is_empty() {
        assert_eq!(&out[..], &scan.text[..]);
    }
});
