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
    changes(text).next()?;
    Some(build(text, 0, text.len()))
}

/// The normalized views of the parts of `text` around the characters the view changes, so a
/// long text with one hidden character costs a view of a few hundred bytes, not a copy of
/// itself. Each part reaches `reach` bytes before its first change and after its last (then on
/// to ASCII white space, at most `reach` bytes further); parts that touch are merged. Spans of
/// each view map to offsets of `text`. Empty when nothing would change.
pub fn views(text: &[u8], reach: usize) -> Vec<View> {
    let mut out = Vec::new();
    if text.is_ascii() {
        return out;
    }
    let mut part: Option<(usize, usize)> = None;
    for at in changes(text) {
        let from = widen_back(text, at.saturating_sub(reach), reach);
        let to = widen_forward(text, (at + reach).min(text.len()), reach);
        part = match part {
            Some((s, e)) if from <= e => Some((s, to.max(e))),
            Some((s, e)) => {
                out.push(build(text, s, e));
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((s, e)) = part {
        out.push(build(text, s, e));
    }
    out
}

/// Offsets of the characters the view drops or folds, in order.
fn changes(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() {
            let k = ascii_prefix(&text[i..]);
            if k == text.len() - i {
                i = text.len();
                return None;
            }
            let at = i + k;
            match char_at(text, at) {
                Some((c, len)) => {
                    i = at + len;
                    if fold(c) != Fold::Keep {
                        return Some(at);
                    }
                }
                None => i = at + 1,
            }
        }
        None
    })
}

/// The length of the ASCII prefix of `bytes`: 32 bytes are checked at a time (an OR the
/// compiler vectorizes), then the block holding the first other byte byte by byte.
pub fn ascii_prefix(bytes: &[u8]) -> usize {
    let mut i = 0;
    for block in bytes.chunks_exact(32) {
        if block.iter().fold(0u8, |a, &b| a | b) & 0x80 != 0 {
            break;
        }
        i += 32;
    }
    i + bytes[i..]
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(bytes.len() - i)
}

/// The character starting at `at`, and its length; `None` for bytes that are not UTF-8.
fn char_at(text: &[u8], at: usize) -> Option<(char, usize)> {
    let len = utf8_len(text[at]);
    let c = std::str::from_utf8(text.get(at..at + len)?)
        .ok()?
        .chars()
        .next()?;
    Some((c, len))
}

/// `at` moved back to just after ASCII white space found within `reach` bytes, else to the
/// start of the character holding it.
fn widen_back(text: &[u8], at: usize, reach: usize) -> usize {
    let floor = at.saturating_sub(reach);
    if let Some(k) = text[floor..at].iter().rposition(u8::is_ascii_whitespace) {
        return floor + k + 1;
    }
    let mut at = at;
    while at > 0 && at < text.len() && (0x80..0xC0).contains(&text[at]) {
        at -= 1;
    }
    at
}

/// `at` moved on to ASCII white space found within `reach` bytes, else to the end of the
/// character holding it.
fn widen_forward(text: &[u8], at: usize, reach: usize) -> usize {
    let ceil = (at + reach).min(text.len());
    if let Some(k) = text[at..ceil].iter().position(u8::is_ascii_whitespace) {
        return at + k;
    }
    let mut at = at;
    while at < text.len() && (0x80..0xC0).contains(&text[at]) {
        at += 1;
    }
    at
}

/// The view of `text[start..end]`, mapped to offsets of `text`.
fn build(text: &[u8], start: usize, end: usize) -> View {
    let mut v = View::with_capacity(end - start);
    let mut i = start;
    while i < end {
        // the ASCII run up to the next non-ASCII byte is copied as it is
        let run = ascii_prefix(&text[i..end]);
        v.push_verbatim(&text[i..i + run], i);
        i += run;
        if i == end {
            break;
        }
        let Some((ch, len)) = char_at(text, i).filter(|&(_, len)| i + len <= end) else {
            v.push_verbatim(&text[i..i + 1], i);
            i += 1;
            continue;
        };
        match fold(ch) {
            Fold::Drop => {}
            Fold::Ascii(a) => v.push_escape(&[a], i, len),
            Fold::Keep => v.push_verbatim(&text[i..i + len], i),
        }
        i += len;
    }
    v.finish(end);
    v
}

/// Copies `input` to `out` the way the streaming scanner reads it: runs of invisible characters
/// that sit between two printable ASCII characters (after folding; `prev` is the byte before
/// `input`, if any) are dropped, and every character that [`fold`]s to an ASCII byte (Unicode
/// digits, full-width forms, look-alike letters) is written as that byte, after which
/// `folded(at, original)` is told where it went in `out` and which bytes it stood for, so the
/// caller can release the original bytes wherever nothing was found. Emoji ZWJ sequences,
/// Persian ZWNJ and bidi marks in non-ASCII text stay as they are. Returns how many bytes of
/// `input` were consumed: a trailing run of invisible characters or an incomplete UTF-8
/// sequence is left for the caller to pass again with the bytes that follow (or to copy as it
/// is when the input ends).
pub fn fold_stream(
    input: &[u8],
    prev: Option<u8>,
    out: &mut Vec<u8>,
    mut folded: impl FnMut(usize, &[u8]),
) -> usize {
    let printable = |b: u8| (0x20..=0x7E).contains(&b);
    let mut prev = prev;
    let mut i = 0;
    while i < input.len() {
        let run = ascii_prefix(&input[i..]);
        if run > 0 {
            out.extend_from_slice(&input[i..i + run]);
            prev = Some(input[i + run - 1]);
            i += run;
            continue;
        }
        // a run of invisible characters from i to j
        let mut j = i;
        let next = loop {
            let len = utf8_len(input[j]);
            let Some(bytes) = input.get(j..j + len) else {
                // incomplete at the end: wait for the rest
                return i;
            };
            match std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(c) => match fold(c) {
                    Fold::Drop => j += len,
                    other => break Some((other, len)),
                },
                None => break None,
            }
            if j == input.len() {
                return i;
            }
        };
        if j == i {
            match next {
                Some((Fold::Ascii(a), len)) => {
                    out.push(a);
                    folded(out.len() - 1, &input[i..i + len]);
                    prev = Some(a);
                    i += len;
                }
                Some((_, len)) => {
                    out.extend_from_slice(&input[i..i + len]);
                    prev = Some(input[i + len - 1]);
                    i += len;
                }
                None => {
                    // not UTF-8: one byte as it is
                    out.push(input[i]);
                    prev = Some(input[i]);
                    i += 1;
                }
            }
            continue;
        }
        let after = match next {
            Some((Fold::Ascii(a), _)) => Some(a),
            _ => None,
        };
        if !(prev.is_some_and(printable) && after.is_some_and(printable)) {
            out.extend_from_slice(&input[i..j]);
            prev = Some(input[j - 1]);
        }
        i = j;
    }
    input.len()
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

    /// What the streaming scanner releases where nothing was found: the folded view with each
    /// folded byte put back as the bytes it stood for.
    fn strip(input: &str) -> String {
        let (folded, subs, used) = fold_all(input.as_bytes(), None);
        let mut out = Vec::new();
        let mut cursor = 0;
        for (at, orig) in subs {
            out.extend_from_slice(&folded[cursor..at]);
            out.extend_from_slice(&orig);
            cursor = at + 1;
        }
        out.extend_from_slice(&folded[cursor..]);
        out.extend_from_slice(&input.as_bytes()[used..]);
        String::from_utf8(out).unwrap()
    }

    /// Where each folded byte is, and the bytes it stood for.
    type Subs = Vec<(usize, Vec<u8>)>;

    fn fold_all(input: &[u8], prev: Option<u8>) -> (Vec<u8>, Subs, usize) {
        let mut out = Vec::new();
        let mut subs = Vec::new();
        let used = fold_stream(input, prev, &mut out, |at, orig| {
            subs.push((at, orig.to_vec()))
        });
        (out, subs, used)
    }

    #[test]
    fn streams_fold_unicode_digits_and_look_alikes_and_remember_the_originals() {
        let (folded, subs, used) = fold_all("ssn ５３６-９０-４３９９ ok".as_bytes(), None);
        assert_eq!(used, "ssn ５３６-９０-４３９９ ok".len());
        assert_eq!(folded, b"ssn 536-90-4399 ok");
        assert_eq!(subs.len(), 9);
        assert_eq!(subs[0], (4, "５".as_bytes().to_vec()));
        // a hidden character between a folded digit and an ASCII one is dropped too
        let (folded, _, _) = fold_all("４\u{200b}-1".as_bytes(), None);
        assert_eq!(folded, b"4-1");
        let (folded, subs, _) = fold_all("ghр_x".as_bytes(), None);
        assert_eq!(folded, b"ghp_x");
        assert_eq!(subs, vec![(2, "р".as_bytes().to_vec())]);
        assert_eq!(strip("ghр_x ５３６"), "ghр_x ５３６");
    }

    #[test]
    fn streams_drop_invisible_characters_only_between_ascii() {
        for (input, expected) in [
            ("536-90-\u{200b}4399", "536-90-4399"),
            (
                "AKIA4HBW\u{202c}\u{200b}6E62M7NGFVGF",
                "AKIA4HBW6E62M7NGFVGF",
            ),
            ("4111 \u{200b}1111", "4111 1111"),
            ("👨\u{200d}👩", "👨\u{200d}👩"),
            ("می\u{200c}خواهم", "می\u{200c}خواهم"),
            ("\u{200f}שלום\u{200e} ok", "\u{200f}שלום\u{200e} ok"),
            ("end\u{200b}", "end\u{200b}"),
        ] {
            assert_eq!(strip(input), expected, "{input:?}");
        }
    }

    #[test]
    fn streams_hold_a_trailing_invisible_run_until_the_next_byte() {
        let mut out = Vec::new();
        let input = "ab\u{200b}".as_bytes();
        assert_eq!(fold_stream(input, None, &mut out, |_, _| {}), 2);
        assert_eq!(out, b"ab");
        // an incomplete character is held too
        let mut out = Vec::new();
        assert_eq!(
            fold_stream(&"ab\u{200b}".as_bytes()[..3], None, &mut out, |_, _| {}),
            2
        );
        let mut out = Vec::new();
        assert_eq!(
            fold_stream("\u{200b}c".as_bytes(), Some(b'b'), &mut out, |_, _| {}),
            4
        );
        assert_eq!(out, b"c");
    }

    #[test]
    fn views_cover_only_the_parts_around_changes() {
        let filler = "lorem ipsum dolor sit amet ".repeat(40);
        let text = format!("{filler}ssn 536-90-\u{200b}4399 {filler}ＡＢ end");
        let views = views(text.as_bytes(), 64);
        assert_eq!(views.len(), 2);
        let first = String::from_utf8(views[0].text.clone()).unwrap();
        assert!(first.contains("ssn 536-90-4399"), "{first}");
        assert!(first.len() < 200, "{first}");
        let at = views[0]
            .text
            .windows(11)
            .position(|w| w == b"536-90-4399")
            .unwrap();
        let span = views[0].to_encoded(Span::new(at, at + 11));
        assert_eq!(&text[span.start..span.end], "536-90-\u{200b}4399");
        assert!(
            String::from_utf8(views[1].text.clone())
                .unwrap()
                .ends_with("AB end")
        );
        assert!(super::views("plain ascii".as_bytes(), 64).is_empty());
        assert!(super::views("日本語 “quoted”".as_bytes(), 64).is_empty());
    }

    #[test]
    fn invalid_utf8_is_kept() {
        let v = view(b"\xff\xfe a\xe2\x80\x8bb").unwrap();
        assert_eq!(v.text, b"\xff\xfe ab");
    }
}
