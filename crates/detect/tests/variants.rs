//! Values typed the way people and attackers type them: split by invisible characters, in
//! full-width or other Unicode digits, with look-alike letters, dotted, truncated, or base64 of
//! gzip. Each must be found with a span over the original bytes, and redaction must remove it
//! whole; benign text in the same scripts must not produce findings.

use std::io::Write;

use base64::Engine as _;
use proptest::prelude::*;
use rampart_detect::decode::unicode;
use rampart_detect::{HashKey, Redactor, ScanOptions, Scanner, Strategy};

/// Scans `input` and returns (detector id, covered text) of every finding.
fn findings(input: &str) -> Vec<(&'static str, String)> {
    let scan = Scanner::builtin()
        .scan(input.as_bytes(), &ScanOptions::default())
        .unwrap();
    scan.findings()
        .map(|f| {
            let text = String::from_utf8_lossy(&scan.text[f.span.start..f.span.end]).into_owned();
            (f.detector, text)
        })
        .collect()
}

/// `expected` lists (detector, exact original text of the finding's span).
fn check(input: &str, expected: &[(&str, &str)]) {
    let got = findings(input);
    let want: Vec<(&str, String)> = expected.iter().map(|(d, t)| (*d, t.to_string())).collect();
    assert_eq!(got, want, "input {input:?}");
}

/// Redacts `input`, and asserts the value (as ASCII, after hidden characters are dropped and
/// look-alikes folded) is nowhere in the output, in any form.
fn check_redacted(input: &str, value: &str) {
    let scan = Scanner::builtin()
        .scan(input.as_bytes(), &ScanOptions::default())
        .unwrap();
    let mut out = Vec::new();
    scan.redact(
        &mut Redactor::new(Strategy::Mask, HashKey::default()),
        &mut out,
    );
    let folded = |b: &[u8]| -> Vec<u8> { unicode::view(b).map_or_else(|| b.to_vec(), |v| v.text) };
    let out_folded = folded(&out);
    let value_folded = folded(value.as_bytes());
    assert!(
        !out_folded
            .windows(value_folded.len())
            .any(|w| w == value_folded.as_slice()),
        "{value:?} survives in {:?}",
        String::from_utf8_lossy(&out)
    );
    // the alphanumerics of the value, in order, are gone too (no partial leftovers)
    let core: Vec<u8> = value_folded
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let out_core: Vec<u8> = out_folded
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    assert!(
        !out_core.windows(core.len()).any(|w| w == core.as_slice()),
        "digits/letters of {value:?} survive in {:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn values_split_by_invisible_characters_are_found_whole() {
    check(
        "AWS_ACCESS_KEY_ID=AKIA4HBW\u{202c}6E62M7NGFVGF",
        &[("aws_access_key_id", "AKIA4HBW\u{202c}6E62M7NGFVGF")],
    );
    check(
        "ssn 536-90-\u{200b}4399",
        &[("us_ssn", "536-90-\u{200b}4399")],
    );
    check(
        "card 4111\u{200b}1111 1111 1111",
        &[("credit_card", "4111\u{200b}1111 1111 1111")],
    );
    check(
        "mail ada.love\u{200b}lace@example.org now",
        &[("email_address", "ada.love\u{200b}lace@example.org")],
    );
    check(
        "ssn 5\u{ad}3\u{2060}6-9\u{feff}0-43\u{200d}99",
        &[("us_ssn", "5\u{ad}3\u{2060}6-9\u{feff}0-43\u{200d}99")],
    );
    check(
        "key AKIA4HBW\u{e0041}\u{e0042}6E62M7NGFVGF",
        &[(
            "aws_access_key_id",
            "AKIA4HBW\u{e0041}\u{e0042}6E62M7NGFVGF",
        )],
    );
}

#[test]
fn invisible_characters_escaped_in_json_are_found_whole() {
    check(
        r#"{"key": "AKIA4HBW\u202c6E62M7NGFVGF"}"#,
        &[("aws_access_key_id", r"AKIA4HBW\u202c6E62M7NGFVGF")],
    );
    check(
        r#"{"ssn": "536-90-\u200b4399"}"#,
        &[("us_ssn", r"536-90-\u200b4399")],
    );
}

#[test]
fn unicode_digits_and_full_width_forms_are_found() {
    check(
        "ssn ５３６-９０-４３９９",
        &[("us_ssn", "５３６-９０-４３９９")],
    );
    check(
        "ssn ５３６－９０－４３９９",
        &[("us_ssn", "５３６－９０－４３９９")],
    );
    check("ssn ٥٣٦-٩٠-٤٣٩٩", &[("us_ssn", "٥٣٦-٩٠-٤٣٩٩")]);
    check(
        "card ４１１１ １１１１ １１１１ １１１１",
        &[("credit_card", "４１１１ １１１１ １１１１ １１１１")],
    );
    check(
        "ssn \u{1d7d3}\u{1d7d1}\u{1d7d4}-\u{1d7d7}\u{1d7ce}-\u{1d7d2}\u{1d7d1}\u{1d7d7}\u{1d7d7}",
        &[(
            "us_ssn",
            "\u{1d7d3}\u{1d7d1}\u{1d7d4}-\u{1d7d7}\u{1d7ce}-\u{1d7d2}\u{1d7d1}\u{1d7d7}\u{1d7d7}",
        )],
    );
    check(
        "key ＡＫＩＡ４ＨＢＷ６Ｅ６２Ｍ７ＮＧＦＶＧＦ",
        &[(
            "aws_access_key_id",
            "ＡＫＩＡ４ＨＢＷ６Ｅ６２Ｍ７ＮＧＦＶＧＦ",
        )],
    );
}

#[test]
fn look_alike_letters_inside_tokens_are_found() {
    // Cyrillic А and К
    check(
        "key \u{410}\u{41a}IA4HBW6E62M7NGFVGF",
        &[("aws_access_key_id", "\u{410}\u{41a}IA4HBW6E62M7NGFVGF")],
    );
    let ghp = "ghp_T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE";
    let plain = findings(&format!("token {ghp}"));
    assert_eq!(plain.len(), 1, "{plain:?}");
    // Cyrillic р
    let hostile = ghp.replacen('p', "\u{440}", 1);
    check(
        &format!("token {hostile}"),
        &[(plain[0].0, hostile.as_str())],
    );
    let sk = "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";
    let plain = findings(&format!("key {sk}"));
    assert_eq!(plain.len(), 1, "{plain:?}");
    // Cyrillic ѕ
    let hostile = sk.replacen('s', "\u{455}", 1);
    check(&format!("key {hostile}"), &[(plain[0].0, hostile.as_str())]);
}

#[test]
fn dotted_ssns_and_cards_are_found() {
    check("ssn 536.90.4399", &[("us_ssn", "536.90.4399")]);
    check(
        "card 4111.1111.1111.1111",
        &[("credit_card", "4111.1111.1111.1111")],
    );
}

#[test]
fn any_twenty_character_aws_key_id_is_found() {
    check(
        "AWS_ACCESS_KEY_ID=AKIA0HBW1E89M7NGF0GF",
        &[("aws_access_key_id", "AKIA0HBW1E89M7NGF0GF")],
    );
    check("aws_access_key: AKIAIOSFODNN7EXAMPLE", &[]);
    check("TODAYINASIAASACKOFRICEFELLOVER", &[]);
}

#[test]
fn truncated_private_keys_are_found_with_all_their_lines() {
    let body = "rJufj/sydESZ4qSJ1S1g4mzQ+L8cUSGfzkUOWGJmHX8Q6Rm4ZYy87cs/D3u++uRa\n\
                dzPCjui6U721a4gkV31T7MKKcKYcdRChzYkhbKFs/8rqSYdHfobbzLlwRvwuGDhO\n\
                UdggxcPvgAU6iK45lt5Q6AGGWzaYZU6/UgCl+gk5uZ16HXsoK/gjQEHzVIfYbGaf";
    let key = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}");
    let found = findings(&format!("log: {key}\n[truncated]"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "private_key_pem_partial");
    assert!(found[0].1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(found[0].1.trim_end().ends_with("YbGaf"), "{:?}", found[0].1);
    for line in body.lines() {
        check_redacted(&format!("log: {key}\n[truncated]"), line);
    }
}

#[test]
fn base64_of_gzip_and_zlib_is_inflated_and_redacted_whole() {
    let text = b"customer ssn 536-90-4399, card 4111 1111 1111 1111";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text).unwrap();
    let gz = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text).unwrap();
    let z = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
    for blob in [gz, z] {
        let input = format!(r#"{{"payload": "{blob}"}}"#);
        let found = findings(&input);
        assert!(!found.is_empty(), "{found:?}");
        assert!(found.iter().all(|(_, t)| *t == blob), "{found:?}");
        check_redacted(&input, &blob);
    }
}

#[test]
fn redaction_removes_hidden_and_folded_values_in_every_form() {
    for (input, value) in [
        (
            "id AKIA4HBW\u{202c}6E62M7NGFVGF end",
            "AKIA4HBW6E62M7NGFVGF",
        ),
        ("ssn 536-90-\u{200b}4399 end", "536-90-4399"),
        ("card 4111\u{200b}1111 1111 1111 end", "4111 1111 1111 1111"),
        ("ssn ５３６-９０-４３９９ end", "536-90-4399"),
        (
            "id \u{410}\u{41a}IA4HBW6E62M7NGFVGF end",
            "AKIA4HBW6E62M7NGFVGF",
        ),
        ("ssn 536.90.4399 end", "536.90.4399"),
        (
            r#"{"k": "AKIA4HBW\u202c6E62M7NGFVGF"}"#,
            "AKIA4HBW6E62M7NGFVGF",
        ),
    ] {
        check_redacted(input, value);
        // JSON stays valid
        if input.starts_with('{') {
            let scan = Scanner::builtin()
                .scan(input.as_bytes(), &ScanOptions::default())
                .unwrap();
            let mut out = Vec::new();
            scan.redact(
                &mut Redactor::new(Strategy::Mask, HashKey::default()),
                &mut out,
            );
            serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        }
    }
}

#[test]
fn benign_unicode_text_produces_no_findings() {
    for text in [
        // emoji ZWJ sequences
        "family 👨\u{200d}👩\u{200d}👧\u{200d}👦 and 🏳\u{fe0f}\u{200d}🌈 flags",
        // Persian with ZWNJ
        "می\u{200c}خواهم این کتاب\u{200c}ها را بخوانم",
        // RTL marks in Arabic and Hebrew
        "\u{200f}مرحبا بالعالم\u{200f} and \u{200f}שלום עולם\u{200e} ok",
        // full-width CJK punctuation
        "こんにちは、世界！（テスト）：「はい」。",
        // version numbers, IPs, dotted dates
        "version 1.2.3.4 on 10.20.30.40, released 2024.01.15 and 15.01.2024",
        "build 10.0.19041.1 of 1.2.3 and 2.10.300.4000",
        // Russian and Greek prose with look-alikes
        "Привет, как дела? Καλημέρα κόσμε",
        // Arabic-Indic numbers in prose
        "العدد ١٢٣ والسنة ٢٠٢٤",
    ] {
        check(text, &[]);
    }
}

#[test]
fn values_found_both_raw_and_in_the_view_are_reported_once() {
    // the ASCII value is found in both the raw text and the view (made by the Cyrillic word)
    check("Привет ssn 536-90-4399", &[("us_ssn", "536-90-4399")]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Invisible characters inserted anywhere inside an SSN or an AWS key id never hide it, and
    /// the finding always covers the value from its first to its last character.
    #[test]
    fn invisible_characters_anywhere_never_hide_a_value(
        which in 0usize..2,
        cuts in proptest::collection::vec((0usize..20, 0usize..6), 1..4),
    ) {
        const INVISIBLE: [char; 6] = ['\u{200b}', '\u{200c}', '\u{2060}', '\u{feff}', '\u{202c}', '\u{ad}'];
        let (id, value) = [("us_ssn", "536-90-4399"), ("aws_access_key_id", "AKIA4HBW6E62M7NGFVGF")][which];
        let mut hidden = String::new();
        let inside: Vec<(usize, usize)> = cuts.iter().map(|&(at, k)| (1 + at % (value.len() - 1), k)).collect();
        for (i, c) in value.chars().enumerate() {
            for &(at, k) in &inside {
                if at == i {
                    hidden.push(INVISIBLE[k]);
                }
            }
            hidden.push(c);
        }
        let found = findings(&format!("value: {hidden} ."));
        prop_assert_eq!(found, vec![(id, hidden.clone())]);
    }
}
