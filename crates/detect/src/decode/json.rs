//! JSON: string values decoded (`\n`, `\"`, `\uXXXX` with surrogate pairs), structure kept, and
//! number tokens recorded so a redacted number can be written back as a string.

use rampart_core::Span;

use super::View;

/// A JSON document prepared for scanning.
#[derive(Clone, Debug)]
pub struct JsonDoc {
    /// The document with string escapes decoded in place; `None` when it has no escape, so the
    /// input itself is the text to scan.
    pub view: Option<View>,
    /// Spans of number tokens, in input offsets.
    pub numbers: Vec<Span>,
}

/// True when the input starts (after white space) like a JSON object or array.
pub fn looks_like_json(input: &[u8]) -> bool {
    matches!(
        input.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Tokenizes a JSON document. Returns `None` when it is not JSON (a bad token, a bad escape, an
/// unterminated string); the caller then scans the raw bytes.
pub fn parse(input: &[u8]) -> Option<JsonDoc> {
    if !looks_like_json(input) {
        return None;
    }
    let escapes = memchr::memchr(b'\\', input).is_some();
    let mut view = escapes.then(|| View::with_capacity(input.len()));
    let mut numbers = Vec::new();
    let mut i = 0;
    let copy = |view: &mut Option<View>, from: usize, to: usize| {
        if let Some(v) = view.as_mut() {
            v.push_verbatim(&input[from..to], from);
        }
    };
    while i < input.len() {
        match input[i] {
            b'"' => {
                copy(&mut view, i, i + 1);
                i += 1;
                loop {
                    let rel = memchr::memchr2(b'"', b'\\', &input[i..])?;
                    copy(&mut view, i, i + rel);
                    i += rel;
                    if input[i] == b'"' {
                        copy(&mut view, i, i + 1);
                        i += 1;
                        break;
                    }
                    i = unescape(input, i, view.as_mut())?;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < input.len()
                    && matches!(input[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                numbers.push(Span::new(start, i));
                copy(&mut view, start, i);
            }
            b't' | b'f' | b'n' => {
                let start = i;
                while i < input.len() && input[i].is_ascii_lowercase() {
                    i += 1;
                }
                if !matches!(&input[start..i], b"true" | b"false" | b"null") {
                    return None;
                }
                copy(&mut view, start, i);
            }
            b'{' | b'}' | b'[' | b']' | b':' | b',' | b' ' | b'\t' | b'\n' | b'\r' => {
                copy(&mut view, i, i + 1);
                i += 1;
            }
            _ => return None,
        }
    }
    if let Some(v) = view.as_mut() {
        v.finish(input.len());
    }
    Some(JsonDoc { view, numbers })
}

/// Decodes the escape at `input[i]` (a backslash) into `view`; returns the offset after it.
fn unescape(input: &[u8], i: usize, view: Option<&mut View>) -> Option<usize> {
    let kind = *input.get(i + 1)?;
    let (bytes, len): ([u8; 4], usize);
    let consumed;
    match kind {
        b'"' | b'\\' | b'/' => {
            (bytes, len) = ([kind, 0, 0, 0], 1);
            consumed = 2;
        }
        b'b' | b'f' | b'n' | b'r' | b't' => {
            let b = match kind {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                _ => b'\t',
            };
            (bytes, len) = ([b, 0, 0, 0], 1);
            consumed = 2;
        }
        b'u' => {
            let hi = hex4(input.get(i + 2..i + 6)?)?;
            let (cp, used) = if (0xD800..0xDC00).contains(&hi) {
                // a surrogate pair, or a lone high surrogate (decoded as U+FFFD)
                match input.get(i + 6..i + 8) {
                    Some(b"\\u") => match input.get(i + 8..i + 12).and_then(hex4) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 12)
                        }
                        _ => (0xFFFD, 6),
                    },
                    _ => (0xFFFD, 6),
                }
            } else if (0xDC00..0xE000).contains(&hi) {
                (0xFFFD, 6)
            } else {
                (hi, 6)
            };
            let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
            let mut buf = [0u8; 4];
            len = c.encode_utf8(&mut buf).len();
            bytes = buf;
            consumed = used;
        }
        _ => return None,
    }
    if let Some(v) = view {
        v.push_escape(&bytes[..len], i, consumed);
    }
    Some(i + consumed)
}

fn hex4(h: &[u8]) -> Option<u32> {
    if h.len() != 4 {
        return None;
    }
    h.iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + (b as char).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_map_back() {
        let input = br#"{"ssn": "123\u002d45-6789\n", "n": 4111111111111111}"#;
        let doc = parse(input).unwrap();
        let view = doc.view.unwrap();
        let text = String::from_utf8(view.text.clone()).unwrap();
        assert_eq!(
            text,
            "{\"ssn\": \"123-45-6789\n\", \"n\": 4111111111111111}"
        );
        let s = text.find("123-45-6789").unwrap();
        let enc = view.to_encoded(Span::new(s, s + 11));
        assert_eq!(&input[enc.start..enc.end], br"123\u002d45-6789");
        assert_eq!(doc.numbers.len(), 1);
        assert_eq!(
            &input[doc.numbers[0].start..doc.numbers[0].end],
            b"4111111111111111"
        );
    }

    #[test]
    fn surrogate_pairs_and_multibyte() {
        let doc = parse(br#"["\ud83d\ude00 \u00e9"]"#).unwrap();
        assert_eq!(
            String::from_utf8(doc.view.unwrap().text).unwrap(),
            "[\"\u{1F600} \u{e9}\"]"
        );
        let doc = parse(br#"["\ud83d x"]"#).unwrap();
        assert_eq!(
            String::from_utf8(doc.view.unwrap().text).unwrap(),
            "[\"\u{FFFD} x\"]"
        );
    }

    #[test]
    fn not_json_is_none() {
        for bad in [
            &b"hello"[..],
            b"{\"a\": \"unterminated",
            b"{\"a\": \"\\q\"}",
            b"{\"a\": nope}",
        ] {
            assert!(parse(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(
            parse(b"{\"a\": [1, 2.5e3, true, null]}")
                .unwrap()
                .view
                .is_none()
        );
    }
}
