//! The normalized view of text that hides values behind Unicode: invisible characters dropped,
//! Unicode decimal digits and full-width forms folded to ASCII, look-alike letters of other
//! scripts folded to the ASCII letter they imitate (case kept). `AKIA4HBW` + U+202C +
//! `6E62M7NGFVGF`, `５３６-９０-４３９９` and `ghр_…` (Cyrillic `р`) all read as ASCII here.
//!
//! The view is a [`View`] like the other decoders': a finding in it maps back to the smallest
//! span of the original bytes that carries it, hidden characters inside the value included.
//! Pure ASCII text has no view (the scan's hot path never builds one).

use super::View;
use crate::confusable::confusable;

/// What the view does with one character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    /// An invisible character (zero-width, bidi control, soft hyphen, tag): dropped.
    Drop,
    /// A character that stands for this ASCII byte.
    Ascii(u8),
    /// Kept as it is.
    Keep,
}

/// How the view treats `c`.
pub fn fold(c: char) -> Fold {
    let cp = c as u32;
    if c.is_ascii() {
        return Fold::Ascii(cp as u8);
    }
    if is_invisible(cp) {
        return Fold::Drop;
    }
    if let Some(d) = decimal_digit(cp) {
        return Fold::Ascii(b'0' + d);
    }
    // full-width ASCII keeps its case exactly
    if (0xFF01..=0xFF5E).contains(&cp) {
        return Fold::Ascii((cp - 0xFF01 + 0x21) as u8);
    }
    match confusable(c) {
        Some(a) if a.is_ascii() => {
            let a = a as u8;
            Fold::Ascii(if c.is_uppercase() {
                a.to_ascii_uppercase()
            } else {
                a
            })
        }
        _ => Fold::Keep,
    }
}

/// The normalized view of `text`, or `None` when it would equal `text` (all ASCII, or nothing
/// to drop or fold). Bytes that are not valid UTF-8 are kept as they are.
pub fn view(text: &[u8]) -> Option<View> {
    if text.is_ascii() {
        return None;
    }
    let mut v = View::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        // the ASCII run up to the next non-ASCII byte is copied as it is
        let run = text[i..]
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(text.len() - i);
        v.push_verbatim(&text[i..i + run], i);
        i += run;
        if i == text.len() {
            break;
        }
        let len = utf8_len(text[i]);
        let ch = text
            .get(i..i + len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.chars().next());
        let Some(ch) = ch else {
            v.push_verbatim(&text[i..i + 1], i);
            i += 1;
            continue;
        };
        match fold(ch) {
            Fold::Drop => changed = true,
            Fold::Ascii(a) => {
                v.push_escape(&[a], i, len);
                changed = true;
            }
            Fold::Keep => v.push_verbatim(&text[i..i + len], i),
        }
        i += len;
    }
    v.finish(text.len());
    changed.then_some(v)
}

/// Zero-width characters, bidi controls, the soft hyphen, invisible operators and tag
/// characters: they render as nothing, so they can sit inside a value unseen.
fn is_invisible(cp: u32) -> bool {
    matches!(cp,
        0x00AD | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069
        | 0xFEFF | 0xE0000..=0xE007F)
}

/// The value of a Unicode decimal digit of the common scripts (Arabic-Indic, Indic scripts,
/// Thai, Lao, Tibetan, Myanmar, Khmer, Mongolian, full-width, mathematical).
fn decimal_digit(cp: u32) -> Option<u8> {
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
        0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0xFF10,
    ];
    if (0x1D7CE..=0x1D7FF).contains(&cp) {
        return Some(((cp - 0x1D7CE) % 10) as u8);
    }
    ZEROS
        .iter()
        .find(|&&z| (z..z + 10).contains(&cp))
        .map(|&z| (cp - z) as u8)
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use rampart_core::Span;

    use super::*;

    /// The view's text, and the original span of the view's whole text.
    fn check(input: &str, expected: Option<&str>) {
        let got = view(input.as_bytes()).map(|v| String::from_utf8(v.text).unwrap());
        assert_eq!(got.as_deref(), expected, "{input:?}");
    }

    #[test]
    fn ascii_and_plain_unicode_text_have_no_view() {
        check("AKIA4HBW6E62M7NGFVGF", None);
        check("日本語のテキスト、こんにちは。", None);
        check("", None);
    }

    #[test]
    fn invisible_characters_are_dropped() {
        check("AKIA4HBW\u{202c}6E62M7NGFVGF", Some("AKIA4HBW6E62M7NGFVGF"));
        check("536-90-\u{200b}4399", Some("536-90-4399"));
        check("a\u{ad}b\u{feff}c\u{2066}d\u{e0041}e", Some("abcde"));
    }

    #[test]
    fn digits_and_full_width_forms_fold_to_ascii() {
        check("５３６－９０－４３９９", Some("536-90-4399"));
        check("٥٣٦-٩٠-٤٣٩٩", Some("536-90-4399"));
        check("\u{1d7d3}\u{1d7d1}", Some("53"));
        check("ＡＫＩＡｘ", Some("AKIAx"));
    }

    #[test]
    fn look_alike_letters_fold_keeping_case() {
        check("АКIA", Some("AKIA"));
        check("ghр_", Some("ghp_"));
        check("ѕk-", Some("sk-"));
    }

    #[test]
    fn spans_map_back_over_hidden_characters() {
        let input = "x 536-90-\u{200b}4399 y";
        let v = view(input.as_bytes()).unwrap();
        let at = v
            .text
            .windows(11)
            .position(|w| w == b"536-90-4399")
            .unwrap();
        let span = v.to_encoded(Span::new(at, at + 11));
        assert_eq!(&input[span.start..span.end], "536-90-\u{200b}4399");
        let input = "k=５３６";
        let v = view(input.as_bytes()).unwrap();
        let span = v.to_encoded(Span::new(2, 5));
        assert_eq!(&input[span.start..span.end], "５３６");
    }

    #[test]
    fn invalid_utf8_is_kept() {
        let v = view(b"\xff\xfe a\xe2\x80\x8bb").unwrap();
        assert_eq!(v.text, b"\xff\xfe ab");
    }
}
