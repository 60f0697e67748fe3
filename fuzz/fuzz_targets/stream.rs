//! The streaming scanner on arbitrary bytes and chunkings releases exactly what the
//! whole-buffer scan writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_detect::stream::redact_raw;
use rampart_detect::{HashKey, Redactor, Scanner, Strategy, StreamScanner};

fuzz_target!(|input: (Vec<u8>, Vec<u16>)| {
    let (data, cuts) = input;
    let scanner = Scanner::builtin();
    let mut whole = Vec::new();
    redact_raw(scanner, &data, &mut Redactor::new(Strategy::Mask, HashKey::default()), &mut whole);
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| usize::from(c) % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut s = StreamScanner::new(scanner, Redactor::new(Strategy::Mask, HashKey::default()));
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        s.feed(&data[prev..c], &mut out);
        prev = c;
    }
    s.feed(&data[prev..], &mut out);
    s.finish(&mut out);
    assert_eq!(out, whole);
});
