//! Whole-buffer scanning through the decoding layers, and redaction that keeps documents valid.

use rampart_core::{DataClass, Layer};
use rampart_detect::{DecodeError, HashKey, Redactor, ScanOptions, Scanner, Strategy};

fn redact(input: &[u8], strategy: Strategy) -> (Vec<u8>, Vec<(DataClass, Vec<Layer>)>) {
    let scan = Scanner::builtin()
        .scan(input, &ScanOptions::default())
        .unwrap();
    let mut out = Vec::new();
    scan.redact(&mut Redactor::new(strategy, HashKey::default()), &mut out);
    (
        out,
        scan.findings()
            .map(|f| (f.class, f.layers.clone()))
            .collect(),
    )
}

#[test]
fn a_redacted_json_number_becomes_a_string() {
    let (out, found) = redact(br#"{"card": 4111111111111111, "n": 3}"#, Strategy::Mask);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"card": "[REDACTED:CREDIT_CARD]", "n": 3}"#
    );
    serde_json::from_slice::<serde_json::Value>(&out).unwrap();
    assert_eq!(found[0].0, DataClass::CreditCard);
}

#[test]
fn escaped_values_are_found_and_replaced_whole() {
    let input = br#"{"q": "my ssn is 536\u002d90\u002d4399 ok"}"#;
    let (out, found) = redact(input, Strategy::Partial);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"q": "my ssn is ***-**-4399 ok"}"#
    );
    assert_eq!(found, vec![(DataClass::UsSsn, vec![Layer::Json])]);
}

#[test]
fn base64_and_percent_encoded_values_are_found() {
    let (out, found) = redact(
        b"blob=c3NuIDUzNi05MC00Mzk5IGFuZCBtb3Jl&to=jo%40example.com",
        Strategy::Mask,
    );
    let out = String::from_utf8(out).unwrap();
    assert!(
        !out.contains("c3NuIDUz") && !out.contains("jo%40example"),
        "{out}"
    );
    assert!(
        found.contains(&(DataClass::UsSsn, vec![Layer::Url, Layer::Base64]))
            || found.contains(&(DataClass::UsSsn, vec![Layer::Base64])),
        "{found:?}"
    );
    assert!(
        found.contains(&(DataClass::EmailAddress, vec![Layer::Url])),
        "{found:?}"
    );
}

#[test]
fn gzip_bodies_are_decompressed_and_bombs_refused() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"key ghp_R2d9xKq7LmPz4WvT8bYc3NfJ6hGs1aEo5uQi")
        .unwrap();
    let gz = e.finish().unwrap();
    let scan = Scanner::builtin()
        .scan(&gz, &ScanOptions::default())
        .unwrap();
    assert!(scan.decompressed);
    assert_eq!(
        scan.findings().next().unwrap().layers,
        vec![Layer::Compressed]
    );

    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![b' '; 64 << 20]).unwrap();
    let bomb = e.finish().unwrap();
    let err = Scanner::builtin()
        .scan(&bomb, &ScanOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Ratio { .. } | DecodeError::TooLarge { .. }
        ),
        "{err}"
    );
}

#[test]
fn oversized_input_is_a_clear_error() {
    let opts = ScanOptions {
        max_input: 10,
        ..ScanOptions::default()
    };
    let err = Scanner::builtin().scan(b"0123456789ab", &opts).unwrap_err();
    assert_eq!(err, DecodeError::InputTooLarge { len: 12, limit: 10 });
    assert!(err.to_string().contains("split it or raise the limit"));
}

#[test]
fn invalid_utf8_is_scanned_not_rejected() {
    let mut input = b"\xff\xfe ssn 536-90-4399 \xc3".to_vec();
    input.extend_from_slice(b" end");
    let (out, found) = redact(&input, Strategy::Mask);
    assert_eq!(found[0].0, DataClass::UsSsn);
    assert!(out.starts_with(b"\xff\xfe ssn [REDACTED:US_SSN]"));
}

/// A password ends at any byte a value cannot hold (a control byte, a bracket, a parenthesis),
/// not only at a quote or white space: every assignment of a repeated password is redacted,
/// whatever follows it (found by the metadata fuzz target).
#[test]
fn a_password_ends_at_any_delimiter_and_every_repeat_is_redacted() {
    for text in [
        &b"'_password:secretuuo@55?\0'_password:secretuuo@55?\0\0\x80:\xfa5\xd0]::"[..],
        b"use (password: Xk9#mQ2v!) and [password: Xk9#mQ2v!] and {password: Xk9#mQ2v!}",
        b"password=Xk9#mQ2v!\x01 password=Xk9#mQ2v!\x7f",
    ] {
        let (out, _) = redact(text, Strategy::Mask);
        let shown = String::from_utf8_lossy(&out);
        assert!(
            !shown.contains("secretuuo") && !shown.contains("Xk9#mQ2v"),
            "{shown:?}"
        );
    }
}

#[test]
fn a_value_inside_an_image_or_link_is_found_as_itself() {
    // a request keeps markup, so a key in an image URL must be named and redacted on its own;
    // an answer loses the whole construct (the pieces around the value are findings too)
    for text in [
        &b"![a](https://x.example/p?k=AKIA4HBW6E62M7NGFVGF)"[..],
        b"[docs](https://x.example/p?k=AKIA4HBW6E62M7NGFVGF&d=SmFuZSBEb2UgNTM2LTkwLTQzOTk)",
        b"<img src=\"https://x.example/p?k=AKIA4HBW6E62M7NGFVGF\">",
        b"see https://x.example/p?ssn=536-90-4399&d=SmFuZSBEb2UgNTM2LTkwLTQzOTk now",
    ] {
        let (out, found) = redact(text, Strategy::Mask);
        let shown = String::from_utf8_lossy(&out);
        assert!(
            !shown.contains("AKIA4HBW6E62M7NGFVGF") && !shown.contains("536-90-4399"),
            "{shown:?}"
        );
        assert!(
            found
                .iter()
                .any(|(class, _)| matches!(class, DataClass::Secret | DataClass::UsSsn)),
            "{} {found:?}",
            String::from_utf8_lossy(text)
        );
    }
    // with nothing sensitive inside, the construct is the finding and goes whole
    let (out, found) = redact(
        b"Open [this](https://evil.example/v?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk=) or https://evil.example/c?t=dGhlIHNlY3JldCB0b2tlbiBpcyBoZXJl now",
        Strategy::Mask,
    );
    let shown = String::from_utf8_lossy(&out);
    assert!(!shown.contains("evil.example"), "{shown:?}");
    assert!(
        shown.starts_with("Open ") && shown.ends_with(" now"),
        "{shown:?}"
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|(c, _)| *c == DataClass::UnsafeOutput));
}

#[test]
fn a_finding_policy_keeps_is_written_back_as_it_was_and_json_stays_valid() {
    // a request keeps output markup: the pieces of an `<img>` around a redacted key come back
    // with their JSON escapes, not decoded
    let input = br#"{"content":"see <img src=\"https://i.example/?t=ghp_R8x2Lq9ZmT4vWc7NpK1sYb3HdF6gJ0eUaQ5i\"> now"}"#;
    let scan = Scanner::builtin()
        .scan(input, &ScanOptions::default())
        .unwrap();
    assert!(scan.findings().any(|f| f.class == DataClass::UnsafeOutput));
    let keep_markup: rampart_detect::Chooser = std::sync::Arc::new(|class, _, _| {
        (class != DataClass::UnsafeOutput).then_some(Strategy::Mask)
    });
    let mut out = Vec::new();
    scan.redact(
        &mut Redactor::new(Strategy::Mask, HashKey::default()).choosing(keep_markup),
        &mut out,
    );
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(
        v["content"],
        "see <img src=\"https://i.example/?t=[REDACTED:SECRET]\"> now"
    );
}

/// A large JSON document scanned on several threads gives exactly the findings of one thread,
/// values in escaped strings and base64 blobs included.
#[test]
fn large_texts_scanned_on_threads_find_what_one_thread_finds() {
    let mut doc = String::from("[");
    let mut n = 0;
    while doc.len() < rampart_detect::scan::PARALLEL_MIN + (1 << 20) {
        if n > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            r#"{{"id":{n},"owner":"owner{n}@example.org","note":"call +44 20 7946 {:04} \"now\"","key":"AKIAIOSFODNN7EXAMPL{}","blob":"QUtJQUlPU0ZPRE5ON0VYQU1QTEU=","pad":"{}"}}"#,
            n % 10_000,
            n % 10,
            "lorem ipsum dolor sit amet ".repeat(n % 40),
        ));
        n += 1;
    }
    let one = Scanner::builtin()
        .scan(doc.as_bytes(), &ScanOptions::default())
        .unwrap();
    let opts = ScanOptions {
        threads: 3,
        ..ScanOptions::default()
    };
    let three = Scanner::builtin().scan(doc.as_bytes(), &opts).unwrap();
    assert!(one.found.len() > 1000, "{} findings", one.found.len());
    let spans = |s: &rampart_detect::scan::Scan<'_>| -> Vec<_> {
        s.findings()
            .map(|f| (f.span, f.detector, f.layers.clone()))
            .collect()
    };
    assert_eq!(spans(&one), spans(&three));
}

/// Markup only a rendered answer cares about never takes the bytes of a value in a
/// whole-buffer scan: a key that starts inside a long `<script` opening and runs past where
/// that match would end is still found.
#[test]
fn a_value_straddling_stream_only_markup_is_found_in_whole_buffers() {
    let key = "ghp_KglOAKeaXhAgljjxglxiOLXlGEPPMSapUc3c";
    for pad in [380, 390, 395, 399] {
        let text = format!("<script {} {key} rest", "a".repeat(pad - 8));
        let scan = Scanner::builtin()
            .scan(text.as_bytes(), &ScanOptions::default())
            .unwrap();
        let found: Vec<&str> = scan.findings().map(|f| f.detector).collect();
        assert!(
            scan.findings()
                .any(|f| &text[f.span.start..f.span.end] == key),
            "pad {pad}: {found:?}"
        );
    }
}
