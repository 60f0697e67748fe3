//! Markdown and HTML constructs that make a client fetch a URL, parsed the way a renderer reads
//! them: inline destinations with balanced parentheses, backslash escapes, angle brackets,
//! titles and white space; reference definitions; tags with quoted attribute values.
//!
//! The output detectors use these to find where a URL really ends, so that removing an image or
//! a link takes its whole URL with it and leaves no query string behind.

use std::ops::Range;

/// Deepest nesting of parentheses followed inside a destination (CommonMark allows 32).
const MAX_PAREN_DEPTH: usize = 32;

/// Where an inline link or image destination lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The URL, without angle brackets.
    pub url: Range<usize>,
    /// The end of the construct: just past its closing `)`, or, when nothing closes it, the end
    /// of the URL (removing up to here still takes the whole URL).
    pub end: usize,
    /// Whether a `)` closed it.
    pub closed: bool,
}

/// A reference definition (`[label]: url "title"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The label, without brackets.
    pub label: Range<usize>,
    /// The URL, without angle brackets.
    pub url: Range<usize>,
    /// The end of the definition (its title included), before the line break.
    pub end: usize,
}

/// Parses an inline destination from `at`, just past the `(` of `[text](` or `![alt](`: white
/// space (line breaks included), the URL (`<…>`, or raw with balanced parentheses and
/// backslash escapes), an optional title (`"…"`, `'…'` or `(…)`) and the closing `)`. `None`
/// when no URL follows.
pub fn inline_destination(b: &[u8], at: usize) -> Option<Destination> {
    let (url, after) = url_at(b, skip_space(b, at), raw_end)?;
    let mut i = skip_space(b, after);
    if i > after
        && let Some(t) = title_end(b, i)
    {
        i = skip_space(b, t);
    }
    Some(match b.get(i) {
        Some(b')') => Destination {
            url,
            end: i + 1,
            closed: true,
        },
        _ => Destination {
            url,
            end: after,
            closed: false,
        },
    })
}

/// Parses a reference definition that starts at `at`, a line start: up to three spaces,
/// `[label]:`, the URL (on the same line or the next), an optional title, and nothing else
/// but white space to the end of its line.
pub fn reference_definition(b: &[u8], at: usize) -> Option<Definition> {
    let mut i = at;
    while i < at + 3 && b.get(i) == Some(&b' ') {
        i += 1;
    }
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let label_start = i + 1;
    let mut j = label_start;
    while j < b.len() && j - label_start <= 999 {
        match b[j] {
            b'\\' => j += 2,
            b'[' => return None,
            b']' => break,
            _ => j += 1,
        }
    }
    if b.get(j) != Some(&b']') || b.get(j + 1) != Some(&b':') || j == label_start {
        return None;
    }
    let label = label_start..j;
    let (url, after) = url_at(b, skip_line_space(b, j + 2), |b, start| {
        start + b[start..].iter().take_while(|c| !is_space(**c)).count()
    })?;
    let mut end = after;
    let t = skip_line_space(b, after);
    if t > after
        && let Some(te) = title_end(b, t)
        && line_rest_blank(b, te)
    {
        end = te;
    }
    if !line_rest_blank(b, end) {
        return None;
    }
    // trailing blanks of the line go with it
    while matches!(b.get(end), Some(b' ' | b'\t')) {
        end += 1;
    }
    Some(Definition { label, url, end })
}

/// The end of the HTML tag that starts at `at` (its `<`), just past the `>` that closes it;
/// `>` inside quoted attribute values does not close it.
pub fn tag_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            // a quote opens a value only after `=` (and white space)
            None if (c == b'"' || c == b'\'') && value_follows(b, at, i) => quote = Some(c),
            None if c == b'>' => return Some(i + 1),
            None => {}
        }
        i += 1;
    }
    None
}

/// The value of attribute `name` (ASCII, case-insensitive) in `tag`, a whole tag from `<` to
/// `>`, without its quotes.
pub fn attribute<'a>(tag: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut i = 1 + tag
        .get(1..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| !is_space(**c) && **c != b'/' && **c != b'>')
        .count();
    while i < tag.len() {
        while i < tag.len() && (is_space(tag[i]) || tag[i] == b'/') {
            i += 1;
        }
        let n0 = i;
        while i < tag.len() && !is_space(tag[i]) && !b"=>/".contains(&tag[i]) {
            i += 1;
        }
        let key = &tag[n0..i];
        if key.is_empty() {
            i += 1;
            continue;
        }
        i = skip_space(tag, i);
        if tag.get(i) != Some(&b'=') {
            continue;
        }
        i = skip_space(tag, i + 1);
        let value = match tag.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let len = tag[i + 1..].iter().take_while(|c| **c != q).count();
                let v = &tag[i + 1..i + 1 + len];
                i += len + 2;
                v
            }
            _ => {
                let len = tag[i..]
                    .iter()
                    .take_while(|c| !is_space(**c) && **c != b'>')
                    .count();
                let v = &tag[i..i + len];
                i += len;
                v
            }
        };
        if key.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(value);
        }
    }
    None
}

/// The URLs an `<img>` tag makes a browser fetch: its `src` and every candidate of `srcset`.
pub fn image_sources(tag: &[u8]) -> impl Iterator<Item = &[u8]> {
    let src = attribute(tag, "src").into_iter();
    let set = attribute(tag, "srcset")
        .into_iter()
        .flat_map(|s| s.split(|c| *c == b','))
        .filter_map(|cand| {
            let cand = trim(cand);
            let len = cand.iter().take_while(|c| !is_space(**c)).count();
            (len > 0).then(|| &cand[..len])
        });
    src.chain(set)
}

/// Whether a client would fetch `url` from another site with data in it: an absolute
/// `http(s)://` or protocol-relative `//` URL whose query string or fragment is not empty.
pub fn fetches_with_data(url: &[u8]) -> bool {
    let url = trim(url);
    let rest = strip_prefix_ci(url, b"https://")
        .or_else(|| strip_prefix_ci(url, b"http://"))
        .or_else(|| url.strip_prefix(b"//"));
    let Some(rest) = rest else { return false };
    match rest.iter().position(|c| *c == b'?' || *c == b'#') {
        Some(q) => q > 0 && rest[q + 1..].iter().any(|c| !b"?#&)>".contains(c)),
        None => false,
    }
}

/// Whether a whole HTML tag (`<` to `>`) runs script or loads active content when a browser
/// renders it: a `script`, `iframe`, `object`, `embed`, `frame`, `frameset` or `base` tag, a
/// `meta` refresh, an inline event handler (`onerror=`, `onload=`…) on any tag, or a script
/// URL (`javascript:`, also spelled with character references or tabs) in an attribute a
/// browser follows or loads.
pub fn active_tag(tag: &[u8]) -> bool {
    let name_len = tag
        .iter()
        .skip(1)
        .skip_while(|c| is_space(**c))
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
        .count();
    let start = 1 + tag.iter().skip(1).take_while(|c| is_space(**c)).count();
    let name = tag
        .get(start..start + name_len)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(
        name.as_slice(),
        b"script" | b"iframe" | b"object" | b"embed" | b"frame" | b"frameset" | b"base"
    ) || (name == b"meta" && attribute(tag, "http-equiv").is_some())
    {
        return true;
    }
    let lower = tag.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if has(b"javascript:") || has(b"vbscript:") {
        return true;
    }
    if URL_ATTRIBUTES.iter().any(|name| {
        attribute(tag, name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(script_url)
    }) {
        return true;
    }
    // an event handler: a word `on` + 3..20 lowercase letters, then `=`
    lower
        .split(|c| is_space(*c) || *c == b'"' || *c == b'\'' || *c == b'/')
        .any(|w| {
            w.starts_with(b"on")
                && w.len() > 3
                && w[2..].split(|c| *c == b'=').next().is_some_and(|n| {
                    (3..=20).contains(&n.len()) && n.iter().all(u8::is_ascii_lowercase)
                })
                && w.contains(&b'=')
        })
}

/// The attributes whose value a browser follows or loads as a URL.
pub const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    // SVG animation sets an attribute (an `href`) to these
    "values",
    "to",
    "from",
];

/// Whether a URL runs script when a browser follows or loads it (`javascript:`, `vbscript:`,
/// `data:text/html`), its scheme read as the browser reads it (`url_head`).
pub fn script_url(url: &str) -> bool {
    let head = url_head(url);
    ["javascript:", "vbscript:", "data:text/html"]
        .iter()
        .any(|p| head.starts_with(p))
}

/// The first characters of `url` as a browser reads its scheme, lowercase: character
/// references decoded (HTML attributes and Markdown destinations both decode them; numeric
/// ones may lack their `;` in an attribute), tabs and line breaks removed (the URL parser drops
/// them), leading spaces and control characters skipped. So `java&#x09;script:` and
/// `&#106;avascript:` read as `javascript:`. Only what a scheme can be made of is decoded: the
/// named references for ASCII letters do not exist, and `&colon;`, `&Tab;`, `&NewLine;` are
/// the named ones that matter here.
fn url_head(url: &str) -> String {
    const LEN: usize = 16;
    let b = url.as_bytes();
    let mut out = String::with_capacity(LEN);
    let mut i = 0;
    while i < b.len() && out.len() < LEN {
        let (c, next) = if b[i] == b'&' {
            char_ref(&b[i..]).map_or(('&', i + 1), |(c, n)| (c, i + n))
        } else {
            let c = url[i..].chars().next().unwrap_or('\u{fffd}');
            (c, i + c.len_utf8())
        };
        i = next;
        match c {
            '\t' | '\n' | '\r' => {}
            c if out.is_empty() && c <= ' ' => {}
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// A character reference at the start of `b` (`&#106;`, `&#x6A`, `&colon;`): the character
/// and its length.
fn char_ref(b: &[u8]) -> Option<(char, usize)> {
    for (name, c) in [
        (&b"&colon;"[..], ':'),
        (b"&tab;", '\t'),
        (b"&newline;", '\n'),
    ] {
        if b.len() >= name.len() && b[..name.len()].eq_ignore_ascii_case(name) {
            return Some((c, name.len()));
        }
    }
    let rest = b.strip_prefix(b"&#")?;
    let (hex, digits) = match rest.first() {
        Some(b'x' | b'X') => (true, &rest[1..]),
        _ => (false, rest),
    };
    let n = digits
        .iter()
        .take_while(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        })
        .count();
    if n == 0 {
        return None;
    }
    let text = std::str::from_utf8(&digits[..n]).ok()?;
    let value = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok();
    let semi = usize::from(digits.get(n) == Some(&b';'));
    let len = 2 + usize::from(hex) + n + semi;
    // out of range, a surrogate or NUL: the replacement character, as a browser reads it
    let c = value
        .filter(|&v| v != 0)
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    Some((c, len))
}

/// What follows the host of a URL: its path, query and fragment (`?d=1` too, with no path).
fn after_host(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, r)| {
        r.find(['/', '?', '#']).map_or("", |i| &r[i..])
    })
}

/// Whether a URL carries data (an image that loads it sends the data at once): a query string
/// or fragment with a value, or a path segment that is long and dense like an encoded value.
pub fn carries_data(url: &str) -> bool {
    let after_host = after_host(url);
    if let Some((_, q)) = after_host.split_once(['?', '#'])
        && q.chars().filter(|c| c.is_alphanumeric()).count() >= 4
    {
        return true;
    }
    after_host.split('/').any(dense_segment)
}

/// A path segment of 32 or more bytes, nine tenths of them characters of an encoding.
fn dense_segment(seg: &str) -> bool {
    seg.len() >= 32
        && seg
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '+' | '=' | '_' | '-'))
            .count()
            * 10
            >= seg.len() * 9
}

/// Whether a URL carries a payload rather than ordinary parameters (a link that exfiltrates on
/// click): a query or fragment value of 24 or more dense characters (base64, percent-encoded
/// text), or a long dense path segment, unless it reads as words or a well-known identifier
/// ([`plain`]): search queries, article slugs and commit links are what answers link to.
pub fn carries_payload(url: &str) -> bool {
    let after_host = after_host(url);
    let dense = |v: &str| {
        v.len() >= 24
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '%' | '+' | '/' | '=' | '_' | '-' | '.')
            })
            && !plain(v)
    };
    if let Some((_, q)) = after_host.split_once(['?', '#'])
        && q.split(['&', ';', '#'])
            .any(|kv| dense(kv.split_once('=').map_or(kv, |(_, v)| v)))
    {
        return true;
    }
    let path = after_host.split(['?', '#']).next().unwrap_or("");
    path.split('/').any(|seg| dense_segment(seg) && !plain(seg))
}

/// Whether a dense value reads as words or a well-known identifier rather than an encoding: a
/// slug or search query (three or more pieces between `-`, `_`, `+`, `.` or a percent-encoded
/// byte, each a word or a token of at most 12 letters and digits, at least half of them words),
/// letters only (a CamelCase page name, with its
/// extension), a hex digest of 32, 40 or 64 digits (a content hash, a commit) or a UUID.
fn plain(v: &str) -> bool {
    let stem = match v.rsplit_once('.') {
        Some((stem, ext))
            if (1..=5).contains(&ext.len()) && ext.bytes().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => v,
    };
    // a digest (an avatar's `<md5>.jpg`, a commit) or a UUID: an identifier
    let hex = |s: &str| s.bytes().all(|c| c.is_ascii_hexdigit());
    if matches!(stem.len(), 32 | 40 | 64) && hex(stem) {
        return true;
    }
    let groups: Vec<&str> = stem.split('-').collect();
    if groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g)) {
        return true;
    }
    // letters only, maybe with a file extension: CamelCase page names
    // (`ObjectsinRequesterPaysBuckets.html`); an encoding of 32+ characters without a digit is
    // rare (base64 of text almost always has some)
    if !stem.is_empty() && stem.bytes().all(|c| c.is_ascii_alphabetic()) {
        return true;
    }
    // percent-encoded bytes (`%20`, `%28`) separate words like the punctuation they encode
    let b = v.as_bytes();
    let mut spaced = String::with_capacity(v.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            spaced.push(' ');
            i += 3;
        } else {
            spaced.push(b[i] as char);
            i += 1;
        }
    }
    let pieces: Vec<&str> = spaced
        .split(['-', '_', '+', '.', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    // words and short tokens (`s3`, `sigv4`, an article number), at least half of them words:
    // random base64url text cut at its `-` and `_` is rarely letters only
    let word = |p: &str| p.bytes().all(|c| c.is_ascii_alphabetic());
    pieces.len() >= 3
        && pieces
            .iter()
            .all(|p| p.len() <= 12 && p.bytes().all(|c| c.is_ascii_alphanumeric()) || word(p))
        && pieces.iter().filter(|p| word(p)).count() * 2 >= pieces.len()
}

/// The text of a label normalized for matching (ASCII case folded, runs of white space as one
/// space, trimmed): `[Foo  Bar]` and `[foo bar]` name the same definition.
pub fn normalize_label(label: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len());
    for w in label.split(|c| is_space(*c)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend(w.iter().map(u8::to_ascii_lowercase));
    }
    out
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

/// Skips spaces and tabs, and at most one line break.
fn skip_line_space(b: &[u8], mut i: usize) -> usize {
    let mut breaks = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => {}
            b'\r' | b'\n' if breaks == 0 => {
                breaks += 1;
                if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => break,
        }
        i += 1;
    }
    i
}

fn line_rest_blank(b: &[u8], i: usize) -> bool {
    b[i.min(b.len())..]
        .iter()
        .take_while(|c| **c != b'\n' && **c != b'\r')
        .all(|c| *c == b' ' || *c == b'\t')
}

/// The URL that starts at `start`, in angle brackets or raw up to `raw_end`, and the position
/// just past it (past its `>`).
fn url_at(
    b: &[u8],
    start: usize,
    raw_end: fn(&[u8], usize) -> usize,
) -> Option<(Range<usize>, usize)> {
    let (url, after) = if b.get(start) == Some(&b'<') {
        let close = angle_end(b, start)?;
        (start + 1..close, close + 1)
    } else {
        let end = raw_end(b, start.min(b.len()));
        (start..end, end)
    };
    (!url.is_empty()).then_some((url, after))
}

/// The position of the `>` closing an angle-bracket URL that opens at `at`.
fn angle_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'>' => return Some(i),
            b'<' | b'\n' | b'\r' => return None,
            _ => i += 1,
        }
    }
    None
}

/// The end of a raw destination: at white space, a control character, or a `)` that closes
/// no `(` of its own.
fn raw_end(b: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1).is_some_and(|c| c.is_ascii_punctuation()) => {
                i += 2;
                continue;
            }
            c if c <= b' ' || c == 0x7f => break,
            b'(' if depth < MAX_PAREN_DEPTH => depth += 1,
            b'(' => break,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The end of a link title that opens at `at`, just past its closing delimiter.
fn title_end(b: &[u8], at: usize) -> Option<usize> {
    let close = match b.get(at)? {
        b'"' => b'"',
        b'\'' => b'\'',
        b'(' => b')',
        _ => return None,
    };
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == close => return Some(i + 1),
            b'(' if close == b')' => return None,
            _ => i += 1,
        }
    }
    None
}

/// Whether a quote at `i` inside the tag that opens at `at` starts an attribute value.
fn value_follows(b: &[u8], at: usize, i: usize) -> bool {
    b[at..i]
        .iter()
        .rev()
        .find(|c| !is_space(**c))
        .is_some_and(|c| *c == b'=')
}

/// `s` without the white space (space, tab, line breaks) at either end.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().take_while(|c| is_space(**c)).count();
    let end = s.len()
        - s[start..]
            .iter()
            .rev()
            .take_while(|c| is_space(**c))
            .count();
    &s[start..end]
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
#[path = "markup_tests.rs"]
mod tests;
