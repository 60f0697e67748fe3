use super::*;

/// The URL and the construct an inline destination parses to, from the text after `(`.
fn dest(text: &str) -> Option<(&str, &str, bool)> {
    let b = text.as_bytes();
    inline_destination(b, 0).map(|d| (&text[d.url], &text[..d.end], d.closed))
}

#[test]
fn inline_destinations_end_where_a_renderer_ends_them() {
    for (after_paren, url, construct) in [
        (
            "https://e.example/log?data=536-90-4399) tail",
            "https://e.example/log?data=536-90-4399",
            "https://e.example/log?data=536-90-4399)",
        ),
        (
            "https://x.example/a_(b)?q=1) tail",
            "https://x.example/a_(b)?q=1",
            "https://x.example/a_(b)?q=1)",
        ),
        (
            "https://x.example/((a)(b))?q=1)",
            "https://x.example/((a)(b))?q=1",
            "https://x.example/((a)(b))?q=1)",
        ),
        (
            "<https://e.example/a b?d=1>) tail",
            "https://e.example/a b?d=1",
            "<https://e.example/a b?d=1>)",
        ),
        (
            "https://e.example/p?d=1 \"t (x)\") tail",
            "https://e.example/p?d=1",
            "https://e.example/p?d=1 \"t (x)\")",
        ),
        (
            "https://e.example/p?d=1 'single'  ) tail",
            "https://e.example/p?d=1",
            "https://e.example/p?d=1 'single'  )",
        ),
        (
            "https://e.example/p?d=1 (paren title)) tail",
            "https://e.example/p?d=1",
            "https://e.example/p?d=1 (paren title))",
        ),
        (
            "\n   https://e.example/p?d=1\n   \"t\"\n) tail",
            "https://e.example/p?d=1",
            "\n   https://e.example/p?d=1\n   \"t\"\n)",
        ),
        (
            r"https://e.example/a\)b?d=1) tail",
            r"https://e.example/a\)b?d=1",
            r"https://e.example/a\)b?d=1)",
        ),
    ] {
        assert_eq!(
            dest(after_paren),
            Some((url, construct, true)),
            "{after_paren:?}"
        );
    }
}

#[test]
fn an_unclosed_destination_still_ends_after_its_url() {
    assert_eq!(
        dest("https://e.example/p?d=1 and more text"),
        Some(("https://e.example/p?d=1", "https://e.example/p?d=1", false))
    );
    assert_eq!(dest("   "), None);
}

#[test]
fn reference_definitions() {
    let text = "See ![x][ref].\n\n[ref]: https://evil.example/?d=536-90-4399 \"t\"  \nnext";
    let at = text.find("[ref]:").unwrap();
    let d = reference_definition(text.as_bytes(), at).unwrap();
    assert_eq!(&text[d.label.clone()], "ref");
    assert_eq!(&text[d.url.clone()], "https://evil.example/?d=536-90-4399");
    assert_eq!(
        &text[at..d.end],
        "[ref]: https://evil.example/?d=536-90-4399 \"t\"  "
    );
    // the URL on the next line, in angle brackets
    let t = "  [Big Ref]:\n  <https://e.example/a b?x=1>";
    let d = reference_definition(t.as_bytes(), 0).unwrap();
    assert_eq!(&t[d.url], "https://e.example/a b?x=1");
    assert_eq!(d.end, t.len());
    assert_eq!(normalize_label(&t.as_bytes()[d.label]), b"big ref");
    // not definitions
    for t in [
        "[a] b: c",
        "[]: https://x",
        "    [a]: https://x",
        "[a]: https://x junk",
    ] {
        assert_eq!(reference_definition(t.as_bytes(), 0), None, "{t:?}");
    }
}

#[test]
fn tags_end_at_the_first_unquoted_bracket() {
    for (text, tag) in [
        (
            r#"<img alt="a>b" src="https://e/p?d=1"> after"#,
            r#"<img alt="a>b" src="https://e/p?d=1">"#,
        ),
        (
            "<img src=https://e/p?d=1 alt='x>'> after",
            "<img src=https://e/p?d=1 alt='x>'>",
        ),
        (
            "<IMG\nSRC = \"https://e/p?d=1\"\n/> after",
            "<IMG\nSRC = \"https://e/p?d=1\"\n/>",
        ),
    ] {
        let end = tag_end(text.as_bytes(), 0).unwrap();
        assert_eq!(&text[..end], tag);
        let src = attribute(tag.as_bytes(), "src").unwrap();
        assert_eq!(src, b"https://e/p?d=1");
    }
    assert_eq!(tag_end(b"<img src=\"x", 0), None);
}

#[test]
fn attributes_in_any_order_and_quoting() {
    let tag = br#"<img width=1 data-src="no" srcset="a.png 1x, https://e/p?d=1 2x" alt='it is'>"#;
    assert_eq!(attribute(tag, "width"), Some(&b"1"[..]));
    assert_eq!(attribute(tag, "alt"), Some(&b"it is"[..]));
    assert_eq!(attribute(tag, "src"), None);
    let srcs: Vec<&[u8]> = image_sources(tag).collect();
    assert_eq!(srcs, [&b"a.png"[..], &b"https://e/p?d=1"[..]]);
}

#[test]
fn urls_that_carry_data() {
    for url in [
        "https://e.example/log?d=1",
        "HTTP://e.example?d=1",
        "//e.example/p#frag",
        " https://e.example/a_(b)?q=1 ",
    ] {
        assert!(fetches_with_data(url.as_bytes()), "{url}");
    }
    for url in [
        "https://cdn.example.com/logo.png",
        "/local/path?x=1",
        "data:image/png;base64,AAAA",
        "https://e.example/p?",
        "https://e.example/p#",
    ] {
        assert!(!fetches_with_data(url.as_bytes()), "{url}");
    }
}

#[test]
fn links_that_carry_a_payload_and_links_that_read_as_words() {
    for url in [
        "https://evil.example/v?d=SmFuZSBEb2UgNTM2LTkwLTQzOTk=",
        "https://evil.example/c/U2VjcmV0IGRhdGEgaW4gYSBsb25nIHBhdGggc2VnbWVudA",
        "https://evil.example/p#t=am9obi5zbWl0aEBleGFtcGxlLmNvbQ",
        "https://evil.example/?d=c2Vzc2lvbi10b2tlbi1mb3ItdGhlLXVzZXI_aGVyZS1pdC1pcw",
        "https://evil.example/x/5f4dcc3b5aa765d61d8327deb882cf99aa",
    ] {
        assert!(carries_payload(url), "{url}");
    }
    for url in [
        "https://www.google.com/search?q=how+to+bake+sourdough+bread+at+home",
        "https://blog.example.com/2024/how-to-configure-the-kubernetes-ingress-controller",
        "https://github.com/rust-lang/rust/blob/1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b/src/lib.rs",
        "https://docs.example.com/guide?page=2&lang=en",
        "https://en.wikipedia.org/wiki/List_of_countries_by_population_in_2010",
        "https://search.example/?q=best%20hiking%20trails%20near%20denver%20colorado",
        "https://docs.aws.amazon.com/AmazonS3/latest/dev/ObjectsinRequesterPaysBuckets.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-actions.html#using-with-s3-actions-related-to-bucket-subresources",
        "http://en.wikipedia.org/wiki/International_Article_Number_%28EAN%29",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_SelectObjectContent.html#AmazonS3-SelectObjectContent-request-ScanRange",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html",
        "https://slack.com/help/articles/115001435788-Connect-identity-provider-groups-to-your-Enterprise-Grid-org",
        "https://api.digitalocean.com/v2/customers/my/invoices/22737513-0ea7-4206-8ceb-98a575af7681",
        "https://secure.example/avatar/e3b51ca72dee4ef87916ae2b9240df50.jpg",
    ] {
        assert!(!carries_payload(url), "{url}");
    }
    // an image fetches without a click: any query value or dense segment counts
    assert!(carries_data(
        "https://cdn.example/2024/how-to-configure-the-kubernetes-ingress-controller"
    ));
}

#[test]
fn script_urls_are_read_as_a_browser_reads_their_scheme() {
    for u in [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "java&#x09;script:alert(1)",
        "&#106;avascript:alert(1)",
        "&#106avascript&colon;alert(1)",
        "&#x6A&#x61vascript:x",
        "\u{1}vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
    ] {
        assert!(script_url(u), "{u:?}");
    }
    for u in [
        "https://example.com/?q=javascript:1",
        "https://example.com/?q=&#106;",
        "data:image/png;base64,iVBOR",
        "&#9999999999;javascript:x",
        "&amp;javascript:x",
    ] {
        assert!(!script_url(u), "{u:?}");
    }
}
