//! Server-sent events inspected as they flow. The streamed text of each event (found by the
//! provider adapter: generated text, and tool-call arguments, each its own channel) goes
//! through one streaming scanner per channel, so a value split across events or TCP chunks is
//! still caught; each event is re-emitted with the text that is safe to release so far, and
//! text held back is released in a synthesized event of the same shape before the event that
//! ends the block. Everything else in an event is scanned as a whole and redacted in place.

use std::sync::Arc;

use rampart_core::{DataClass, Finding};
use rampart_detect::{HashKey, Redactor, ScanOptions, Scanner, Strategy, StreamScanner};
use rampart_llm::{Provider, Usage};
use serde_json::Value;

/// Largest single event accepted; a longer one is passed on as is after a scan of its bytes.
const MAX_EVENT: usize = 1 << 20;

/// Rewrites one SSE response stream.
pub struct SseRewriter {
    provider: Arc<dyn Provider>,
    scanner: &'static Scanner,
    /// One streaming scanner per channel of the current block, with the last event that
    /// carried that channel (event name, data), to shape synthesized events.
    channels: Vec<Channel>,
    redactor: Redactor,
    strategy: Strategy,
    key: HashKey,
    keep: Vec<DataClass>,
    /// Bytes of an unfinished event.
    pending: Vec<u8>,
    /// Redact (enforce) or only record (monitor).
    enforce: bool,
    /// Findings outside the text stream (other fields of events).
    other: Vec<Finding>,
    usage: Option<Usage>,
    /// Event shapes (an event with its text emptied) already scanned and found clean: the
    /// chunks of one answer differ only in their text, so each shape is scanned once.
    clean_shapes: Vec<Vec<u8>>,
}

/// One stream of text inside the events: generated text, or one tool call's arguments.
struct Channel {
    id: String,
    scanner: StreamScanner<'static>,
    /// The last event that carried this channel: its name and its data as written (parsed
    /// again only when a synthesized event is needed).
    template: (Option<String>, Vec<u8>),
}

/// Clean shapes remembered per stream.
const SHAPES: usize = 16;

impl std::fmt::Debug for SseRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseRewriter")
            .field("provider", &self.provider.id())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl SseRewriter {
    /// A rewriter for one response of `provider`.
    pub fn new(
        provider: Arc<dyn Provider>,
        scanner: &'static Scanner,
        strategy: Strategy,
        key: HashKey,
        keep: Vec<DataClass>,
        enforce: bool,
    ) -> SseRewriter {
        let redactor = |k: &HashKey| {
            keep.iter()
                .fold(Redactor::new(strategy, k.clone()), |r, &c| r.keep(c))
        };
        SseRewriter {
            provider,
            scanner,
            channels: Vec::new(),
            redactor: redactor(&key),
            strategy,
            key,
            keep,
            pending: Vec::new(),
            enforce,
            other: Vec::new(),
            usage: None,
            clean_shapes: Vec::new(),
        }
    }

    /// Feeds bytes from upstream; appends complete, rewritten events to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(chunk);
        while let Some((end, sep)) = event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end + sep).collect();
            self.event(&event[..end], out);
        }
        if self.pending.len() > MAX_EVENT {
            // not SSE after all, or an absurd event: pass it on, redacted as a whole
            let bytes = std::mem::take(&mut self.pending);
            self.raw(&bytes, out);
        }
    }

    /// Ends the stream: releases held-back text and any unfinished event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            self.event(&bytes, out);
        }
        self.flush(out);
    }

    /// Every finding so far: the text stream's and the other fields'.
    pub fn findings(&self) -> Vec<Finding> {
        let mut all: Vec<Finding> = self
            .channels
            .iter()
            .flat_map(|c| c.scanner.findings().iter().cloned())
            .collect();
        all.extend(self.other.iter().cloned());
        all
    }

    /// The last usage the stream reported.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn event(&mut self, block: &[u8], out: &mut Vec<u8>) {
        let mut name: Option<String> = None;
        let mut data: Vec<&[u8]> = Vec::new();
        let mut other_lines: Vec<&[u8]> = Vec::new();
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(v) = line.strip_prefix(b"data:") {
                data.push(v.strip_prefix(b" ").unwrap_or(v));
            } else if let Some(v) = line.strip_prefix(b"event:") {
                let v = v.strip_prefix(b" ").unwrap_or(v);
                name = Some(String::from_utf8_lossy(v).into_owned());
            } else if !line.is_empty() {
                other_lines.push(line);
            }
        }
        let joined = data.join(&b'\n');
        let json: Option<Value> = if data.is_empty() {
            None
        } else {
            serde_json::from_slice(&joined).ok()
        };
        if let Some(u) = json.as_ref().and_then(|j| self.provider.usage(j)) {
            self.usage = Some(u);
        }
        if self.provider.ends_text(name.as_deref(), json.as_ref()) {
            self.flush(out);
        }
        let write_head = |out: &mut Vec<u8>| {
            for line in &other_lines {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            if let Some(n) = &name {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(n.as_bytes());
                out.push(b'\n');
            }
        };
        match json {
            Some(mut v) => {
                let parts = self.provider.stream_parts(&v);
                for (id, text) in &parts {
                    let k = match self.channels.iter().position(|c| &c.id == id) {
                        Some(k) => k,
                        None => {
                            let scanner = StreamScanner::new(self.scanner, self.new_redactor());
                            self.channels.push(Channel {
                                id: id.clone(),
                                scanner,
                                template: (None, Vec::new()),
                            });
                            self.channels.len() - 1
                        }
                    };
                    let mut released = Vec::new();
                    self.channels[k]
                        .scanner
                        .feed(text.as_bytes(), &mut released);
                    if self.enforce {
                        self.provider.set_stream_part(
                            &mut v,
                            id,
                            &String::from_utf8_lossy(&released),
                        );
                    }
                }
                let body = serde_json::to_vec(&v).unwrap_or_default();
                let mut shape = v;
                for (id, _) in &parts {
                    self.provider.set_stream_part(&mut shape, id, "");
                }
                let shape = serde_json::to_vec(&shape).unwrap_or_default();
                let body = if self.clean_shapes.contains(&shape) {
                    body
                } else if self.is_clean(&shape) {
                    if self.clean_shapes.len() < SHAPES {
                        self.clean_shapes.push(shape);
                    }
                    body
                } else {
                    self.scan_other(body)
                };
                // the event as written (redacted) shapes synthesized ones
                for (id, _) in &parts {
                    if let Some(c) = self.channels.iter_mut().find(|c| &c.id == id) {
                        c.template = (name.clone(), body.clone());
                    }
                }
                write_head(out);
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\n\n");
            }
            None => {
                write_head(out);
                if !data.is_empty() {
                    let body = self.scan_other(joined);
                    for line in body.split(|&b| b == b'\n') {
                        out.extend_from_slice(b"data: ");
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    }
                }
                out.push(b'\n');
            }
        }
    }

    /// Releases held-back text of every channel, each in an event shaped like the last event
    /// that carried it; the next block starts with fresh scanners.
    fn flush(&mut self, out: &mut Vec<u8>) {
        for mut channel in std::mem::take(&mut self.channels) {
            let mut rest = Vec::new();
            channel.scanner.finish(&mut rest);
            self.other
                .extend(channel.scanner.findings().iter().cloned());
            if rest.is_empty() || !self.enforce {
                continue;
            }
            let (name, bytes) = channel.template;
            let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            // the template may carry other channels' pieces, released already
            for (id, _) in self.provider.stream_parts(&v) {
                self.provider.set_stream_part(&mut v, &id, "");
            }
            self.provider
                .set_stream_part(&mut v, &channel.id, &String::from_utf8_lossy(&rest));
            if let Some(n) = &name {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(n.as_bytes());
                out.push(b'\n');
            }
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
            out.extend_from_slice(b"\n\n");
        }
    }

    fn new_redactor(&self) -> Redactor {
        self.keep
            .iter()
            .fold(Redactor::new(self.strategy, self.key.clone()), |r, &c| {
                r.keep(c)
            })
    }

    /// Whether bytes hold no finding at all.
    fn is_clean(&self, bytes: &[u8]) -> bool {
        self.scanner
            .scan(bytes, &ScanOptions::default())
            .is_ok_and(|scan| scan.found.is_empty())
    }

    /// Scans bytes outside the text stream as a whole; returns them redacted (enforce) or as
    /// they were (monitor).
    fn scan_other(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let Ok(scan) = self.scanner.scan(&bytes, &ScanOptions::default()) else {
            return bytes;
        };
        if scan.found.is_empty() {
            return bytes;
        }
        self.other.extend(scan.findings().cloned());
        if !self.enforce {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        scan.redact(&mut self.redactor, &mut out);
        out
    }

    fn raw(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let body = self.scan_other(bytes.to_vec());
        out.extend_from_slice(&body);
    }
}

/// The end of the first complete event in `buf` and the length of its separator.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = memchr_nl(&buf[i..]) {
        let at = i + p;
        let rest = &buf[at + 1..];
        if rest.first() == Some(&b'\n') {
            return Some((at, 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((at, 3));
        }
        i = at + 1;
    }
    None
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter(p: Box<dyn Provider>) -> SseRewriter {
        SseRewriter::new(
            Arc::from(p),
            Scanner::builtin(),
            Strategy::Mask,
            HashKey::new([7; 32]),
            Vec::new(),
            true,
        )
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

    fn texts(out: &[u8]) -> String {
        let s = String::from_utf8_lossy(out);
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
        let mut r = SseRewriter::new(
            Arc::from(Box::new(rampart_llm::openai::OpenAi) as Box<dyn Provider>),
            Scanner::builtin(),
            Strategy::Mask,
            HashKey::new([7; 32]),
            Vec::new(),
            false,
        );
        let mut out = Vec::new();
        r.push(&input, &mut out);
        r.finish(&mut out);
        assert_eq!(
            texts(&out),
            "key 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 ok"
        );
        assert!(!r.findings().is_empty());
    }

    #[test]
    fn classes_the_policy_allows_pass_through_a_stream() {
        let input = openai_events(&["mail ada@example.org or ", "call; ssn 536-90-4399 done."]);
        let mut r = SseRewriter::new(
            Arc::from(Box::new(rampart_llm::openai::OpenAi) as Box<dyn Provider>),
            Scanner::builtin(),
            Strategy::Mask,
            HashKey::new([7; 32]),
            vec![DataClass::EmailAddress],
            true,
        );
        let mut out = Vec::new();
        r.push(&input, &mut out);
        r.finish(&mut out);
        assert_eq!(
            texts(&out),
            "mail ada@example.org or call; ssn [REDACTED:US_SSN] done."
        );
    }

    #[test]
    fn a_key_split_across_tool_call_argument_events_is_redacted() {
        let mut s = String::new();
        for args in ["{\"key\": \"AKIA4HBW", "6E62M7NGFVGF\", ", "\"n\": 1}"] {
            let v = serde_json::json!({"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":args}}]},"finish_reason":null}]});
            s.push_str(&format!("data: {v}\n\n"));
        }
        s.push_str("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
        let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
        let mut out = Vec::new();
        r.push(s.as_bytes(), &mut out);
        r.finish(&mut out);
        let out = String::from_utf8(out).unwrap();
        let mut args = String::new();
        for line in out.lines() {
            if let Some(d) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(d)
                && let Some(a) = v
                    .pointer("/choices/0/delta/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
            {
                args.push_str(a);
            }
        }
        assert!(!out.contains("AKIA4HBW"), "{out}");
        assert_eq!(args, "{\"key\": \"[REDACTED:SECRET]\", \"n\": 1}");
    }

    #[test]
    fn a_key_whole_in_one_tool_call_event_is_redacted() {
        let mut s = String::new();
        for args in [
            "{\"note\": \"call me\"}",
            "{\"key\": \"AKIA4HBW6E62M7NGFVGF\"}",
        ] {
            let v = serde_json::json!({"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":args}}]},"finish_reason":null}]});
            s.push_str(&format!("data: {v}\n\n"));
        }
        s.push_str("data: [DONE]\n\n");
        let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
        let mut out = Vec::new();
        r.push(s.as_bytes(), &mut out);
        r.finish(&mut out);
        let out = String::from_utf8(out).unwrap();
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
        let mut out = Vec::new();
        r.push(s.as_bytes(), &mut out);
        r.finish(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("ada@example.org"), "{out}");
        let stop = out.find("content_block_stop").unwrap();
        let last_text = out.rfind("text_delta").unwrap();
        assert!(
            last_text < stop,
            "held-back text comes before the block ends: {out}"
        );
        assert_eq!(r.usage().map(|u| u.input), Some(9));
    }
}
