//! Percent-encoding: query strings, form bodies and URLs with `%XX` escapes (and `+` for space).

use rampart_core::Span;

use super::View;

/// True for bytes that may appear in a URL, query string or form body.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%+=&;:/?#@!$'()*,[]".contains(&b)
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Finds the regions of `text` that hold percent-encoding: maximal runs of URL bytes that
/// contain at least one valid `%XX`.
pub fn regions(text: &[u8]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for pct in memchr::memchr_iter(b'%', text) {
        if pct + 2 >= text.len() || !is_hex(text[pct + 1]) || !is_hex(text[pct + 2]) {
            continue;
        }
        if out.last().is_some_and(|r| r.end > pct) {
            continue;
        }
        let mut start = pct;
        while start > 0 && is_url_byte(text[start - 1]) {
            start -= 1;
        }
        let mut end = pct;
        while end < text.len() && is_url_byte(text[end]) {
            end += 1;
        }
        out.push(Span::new(start, end));
    }
    out
}

/// Decodes `text[region]` (`%XX` to a byte, `+` to a space) into a view whose offsets are
/// offsets of `text`.
pub fn decode(text: &[u8], region: Span) -> View {
    let mut view = View::with_capacity(region.len());
    let mut i = region.start;
    while i < region.end {
        let run_end = memchr::memchr(b'%', &text[i..region.end]).map_or(region.end, |k| i + k);
        if run_end > i {
            let start = view.text.len();
            view.push_verbatim(&text[i..run_end], i);
            for b in &mut view.text[start..] {
                if *b == b'+' {
                    *b = b' ';
                }
            }
            i = run_end;
            continue;
        }
        // text[i] == '%'
        if i + 2 < region.end && is_hex(text[i + 1]) && is_hex(text[i + 2]) {
            let hex = |x: u8| (x as char).to_digit(16).unwrap_or(0) as u8;
            view.push_escape(&[hex(text[i + 1]) * 16 + hex(text[i + 2])], i, 3);
            i += 3;
        } else {
            view.push_verbatim(b"%", i);
            i += 1;
        }
    }
    view.finish(region.end);
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_and_maps_back() {
        let text = b"GET /x?email=jo%40example.com&q=a+b HTTP/1.1";
        let r = regions(text);
        assert_eq!(r.len(), 1);
        let v = decode(text, r[0]);
        let s = String::from_utf8(v.text.clone()).unwrap();
        assert_eq!(s, "/x?email=jo@example.com&q=a b");
        let at = s.find("jo@example.com").unwrap();
        let enc = v.to_encoded(Span::new(at, at + 14));
        assert_eq!(&text[enc.start..enc.end], b"jo%40example.com");
    }

    #[test]
    fn no_percent_no_region() {
        assert!(regions(b"plain text 100% sure").is_empty());
    }
}
