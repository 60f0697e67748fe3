//! Request metadata as the gateway treats it: arbitrary bytes scanned as a header value, a URI
//! path or a query string with the built-in scanner, everything found masked with
//! [`Scan::redact`], and the result scanned again.
//!
//! Properties checked:
//! - no panic, and every finding's span lies inside the scanned text;
//! - no byte is introduced that was neither in the input nor in the mask alphabet, so a valid
//!   header value stays one (no CR, LF, NUL or other control byte) and redaction never turns
//!   one header line into two;
//! - a valid path stays a valid path, and a valid query stays a valid query once the quotes
//!   [`Scan::redact`] writes around a redacted JSON number are percent-encoded (a query that is
//!   a JSON array gets them; see docs/FUZZING.md);
//! - the mask itself is never a finding: no finding of the second scan lies inside a
//!   replacement;
//! - the second scan finds nothing of a redacted class that the first scan did not already have
//!   a reason to miss: every such finding comes from a detector that weighs context words (the
//!   mask names a class, and a shorter text brings distant words nearer), or stands next to a
//!   replacement (a value that only ended at a word boundary once its neighbour was masked).
//!   A plain "nothing of a redacted class is found again" is not true, as docs/FUZZING.md shows.
#![no_main]

use std::collections::HashSet;

use http::HeaderValue;
use http::uri::PathAndQuery;
use libfuzzer_sys::fuzz_target;
use rampart_core::{DataClass, Span};
use rampart_detect::{HashKey, Redactor, Scan, ScanOptions, Scanner, Strategy};

/// Where the bytes stand in a request.
#[derive(Clone, Copy, Debug)]
enum Place {
    HeaderValue,
    Path,
    Query,
}

/// The bytes a mask replacement is made of (`[REDACTED:CLASS_NAME]`), and the quotes around a
/// redacted JSON number.
fn is_mask_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || matches!(b, b'[' | b']' | b':' | b'_' | b'"')
}

/// Whether `bytes` is what the gateway could have received at `place`.
fn is_valid(place: Place, bytes: &[u8]) -> bool {
    match place {
        Place::HeaderValue => HeaderValue::from_bytes(bytes).is_ok(),
        Place::Path => {
            bytes.first() == Some(&b'/')
                && !bytes.contains(&b'?')
                && PathAndQuery::try_from(bytes).is_ok_and(|pq| pq.path().as_bytes() == bytes)
        }
        Place::Query => {
            let mut uri = b"/?".to_vec();
            uri.extend_from_slice(bytes);
            PathAndQuery::try_from(&uri[..])
                .is_ok_and(|pq| pq.query().map(str::as_bytes) == Some(bytes))
        }
    }
}

/// Masks every finding of `scan`; returns the output and the spans of the replacements in it.
fn redact(scan: &Scan<'_>) -> (Vec<u8>, Vec<Span>) {
    let mut out = Vec::with_capacity(scan.text.len());
    scan.redact(
        &mut Redactor::new(Strategy::Mask, HashKey::default()),
        &mut out,
    );
    // the replacements, found again from the kept bytes between them
    let mut spans = Vec::with_capacity(scan.found.len());
    let (mut cursor, mut at) = (0, 0);
    for f in scan.findings() {
        at += f.span.start - cursor;
        let mask_len = out[at..]
            .iter()
            .position(|&b| b == b']')
            .expect("a mask ends with ]")
            + 1;
        let quoted = out[at] == b'"';
        let len = mask_len + usize::from(quoted);
        spans.push(Span::new(at, at + len));
        at += len;
        cursor = f.span.end;
    }
    assert_eq!(
        out.len() - at,
        scan.text.len() - cursor,
        "bytes after the last finding changed"
    );
    assert_eq!(&out[at..], &scan.text[cursor..]);
    (out, spans)
}

fuzz_target!(|input: (u8, &[u8])| {
    let (place, data) = input;
    let place = match place % 3 {
        0 => Place::HeaderValue,
        1 => Place::Path,
        _ => Place::Query,
    };
    let scanner = Scanner::builtin();
    let opts = ScanOptions::default();
    let Ok(scan) = scanner.scan(data, &opts) else {
        return;
    };
    for f in scan.findings() {
        assert!(f.span.start < f.span.end && f.span.end <= scan.text.len());
    }
    if scan.found.is_empty() {
        return;
    }
    let (out, masks) = redact(&scan);

    // a value that is a whole compressed stream is scanned, and redacted, in its decompressed
    // form (docs/FUZZING.md): the exchange core drops such a header when the result is not a
    // header value and percent-encodes a path or query, so only the bytes are checked here
    if scan.text != data {
        let had: HashSet<u8> = scan.text.iter().copied().collect();
        for &b in &out {
            assert!(had.contains(&b) || is_mask_byte(b), "redaction introduced byte {b:#04x}");
        }
        return;
    }
    // no new bytes, so a valid header value, path or query stays valid
    let had: HashSet<u8> = data.iter().copied().collect();
    for &b in &out {
        assert!(
            had.contains(&b) || is_mask_byte(b),
            "redaction introduced byte {b:#04x} at {place:?}"
        );
    }
    if is_valid(place, data) {
        match place {
            Place::HeaderValue => assert!(is_valid(place, &out), "header value made invalid"),
            // a path starts with `/`, so it is never read as JSON
            Place::Path => assert!(is_valid(place, &out), "path made invalid"),
            // the one exception: the quotes written around a redacted number when the query is
            // a JSON array (docs/FUZZING.md); with those encoded, the query is valid
            Place::Query => {
                let mut encoded = Vec::with_capacity(out.len());
                for &b in &out {
                    match b {
                        b'"' => encoded.extend_from_slice(b"%22"),
                        _ => encoded.push(b),
                    }
                }
                assert!(is_valid(place, &encoded), "query made invalid");
            }
        }
    }

    // scanned again: the masks are not findings, and what is found again has a reason
    let Ok(again) = scanner.scan(&out, &opts) else {
        return;
    };
    // the output read as a whole compressed stream: its spans are not offsets of `out`
    // (fuzzing builds of miniz_oxide skip the zlib checksum, so any bytes that start with a
    // zlib header and inflate to something count as one here)
    if again.text != out {
        return;
    }
    let redacted: HashSet<(DataClass, &str)> =
        scan.findings().map(|f| (f.class, f.detector)).collect();
    let detectors = scanner.detectors();
    for g in again.findings() {
        assert!(
            !masks
                .iter()
                .any(|m| m.start <= g.span.start && g.span.end <= m.end),
            "a mask was found as {} by {}",
            g.class.name(),
            g.detector
        );
        if !redacted.contains(&(g.class, g.detector)) {
            continue;
        }
        let weighs_context = detectors
            .iter()
            .find(|d| d.id == g.detector)
            .is_some_and(|d| !d.context.words.is_empty() || !d.context.against.is_empty());
        let next_to_mask = masks
            .iter()
            .any(|m| g.span.start <= m.end && m.start <= g.span.end);
        assert!(
            weighs_context || next_to_mask,
            "{} by {} found again at {:?} away from every mask",
            g.class.name(),
            g.detector,
            g.span
        );
    }
});
