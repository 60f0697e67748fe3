//! Server-sent events inspected as they flow. The streamed text of each event (found by the
//! provider adapter: generated text, and tool-call arguments, each its own channel) goes
//! through one streaming scanner per channel, so a value split across events or TCP chunks is
//! still caught; each event is re-emitted with the text that is safe to release so far, and
//! text held back is released in a synthesized event of the same shape before the event that
//! ends the block. Everything else in an event is scanned as a whole and redacted in place.

use std::borrow::Cow;
use std::sync::Arc;

use rampart_core::Finding;
use rampart_detect::{Redactor, ScanOptions, Scanner, StreamScanner};
use rampart_llm::{Provider, Usage};
use serde_json::Value;

/// Largest single event accepted; a longer one is passed on as is after a scan of its bytes.
const MAX_EVENT: usize = 1 << 20;

/// What inspecting one stream applies: how values are replaced (a fresh redactor per
/// channel; it keeps what policy does not redact) and which findings end the stream.
#[derive(Clone)]
pub struct StreamRules {
    redactor: Arc<dyn Fn() -> Redactor + Send + Sync>,
    blocks: Arc<dyn Fn(&Finding) -> bool + Send + Sync>,
}

impl StreamRules {
    /// Rules from a redactor factory and a block predicate.
    pub fn new(
        redactor: impl Fn() -> Redactor + Send + Sync + 'static,
        blocks: impl Fn(&Finding) -> bool + Send + Sync + 'static,
    ) -> StreamRules {
        StreamRules {
            redactor: Arc::new(redactor),
            blocks: Arc::new(blocks),
        }
    }

    /// A new redactor.
    pub fn redactor(&self) -> Redactor {
        (self.redactor)()
    }

    /// Whether `finding` ends the stream.
    pub fn blocks(&self, finding: &Finding) -> bool {
        (self.blocks)(finding)
    }
}

impl std::fmt::Debug for StreamRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamRules")
    }
}

/// Rewrites one SSE response stream.
pub struct SseRewriter {
    provider: Arc<dyn Provider>,
    scanner: &'static Scanner,
    /// One streaming scanner per channel of the current block, with the last event that
    /// carried that channel (event name, data), to shape synthesized events.
    channels: Vec<Channel>,
    rules: StreamRules,
    /// Redacts the fields outside the text stream.
    redactor: Redactor,
    /// Bytes of an unfinished event.
    pending: Vec<u8>,
    /// Findings outside the text stream (other fields of events).
    other: Vec<Finding>,
    usage: Option<Usage>,
    /// Event shapes (an event with its text emptied) already scanned and found clean: the
    /// chunks of one answer differ only in their text, so each shape is scanned once.
    clean_shapes: Vec<Vec<u8>>,
    /// Scratch space for the shape of the current event.
    shape: Vec<u8>,
    /// Findings of `other` already checked against the block rule.
    other_checked: usize,
    /// The stream was ended by a block rule: nothing more is emitted.
    blocked: bool,
    /// Characters of text released.
    text_chars: usize,
    /// An event said the answer was cut at the maximum length.
    truncated: bool,
}

/// One stream of text inside the events: generated text, or one tool call's arguments.
struct Channel {
    id: String,
    scanner: StreamScanner<'static>,
    /// The last event that carried this channel, to shape the event that releases held-back
    /// text.
    template: Template,
    /// Released bytes that end inside a UTF-8 character, held for the next event.
    carry: Vec<u8>,
    /// Findings of `scanner` already checked against the block rules.
    checked: usize,
}

/// An event to shape synthesized ones after.
#[derive(Default)]
struct Template {
    /// The event's name (`event:` line), if it had one.
    name: Option<Vec<u8>>,
    /// The event's data: with every text string emptied (`""`) when `hole` is set, or as it
    /// was written (redacted), to be parsed again, when it is not.
    shape: Vec<u8>,
    /// Where this channel's emptied string starts in `shape`.
    hole: Option<usize>,
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
    /// A rewriter for one response of `provider`. A finding the rules block ends the stream:
    /// the event holding it is not sent; an error event in the provider's shape (its SDKs
    /// raise on it) is sent instead, and nothing after it.
    pub fn new(
        provider: Arc<dyn Provider>,
        scanner: &'static Scanner,
        rules: StreamRules,
    ) -> SseRewriter {
        SseRewriter {
            provider,
            scanner,
            channels: Vec::new(),
            redactor: rules.redactor(),
            rules,
            pending: Vec::new(),
            other: Vec::new(),
            usage: None,
            clean_shapes: Vec::new(),
            shape: Vec::new(),
            other_checked: 0,
            blocked: false,
            text_chars: 0,
            truncated: false,
        }
    }

    /// Characters of streamed text released so far (all channels), for counting output
    /// tokens when the provider reports no usage.
    pub fn text_chars(&self) -> usize {
        self.text_chars
    }

    /// Whether an event said the answer was cut at the maximum length.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Whether a block rule ended the stream.
    pub fn blocked(&self) -> bool {
        self.blocked
    }

    /// Checks the findings not checked yet against the block rules; on a hit, ends the stream
    /// with the provider's error event.
    fn check_block(&mut self, out: &mut Vec<u8>) -> bool {
        let rules = &self.rules;
        let mut hit = None;
        for c in &mut self.channels {
            let found = c.scanner.findings();
            if hit.is_none() {
                hit = found[c.checked..]
                    .iter()
                    .find(|f| rules.blocks(f))
                    .map(|f| f.detector);
            }
            c.checked = found.len();
        }
        if hit.is_none() {
            hit = self.other[self.other_checked..]
                .iter()
                .find(|f| rules.blocks(f))
                .map(|f| f.detector);
        }
        self.other_checked = self.other.len();
        let Some(detector) = hit else {
            return false;
        };
        self.blocked = true;
        let (name, data) = self.provider.stream_error(
            "rampart_blocked",
            &format!("the response was blocked by policy: {detector} found in the stream"),
        );
        if let Some(n) = name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&serde_json::to_vec(&data).unwrap_or_default());
        out.extend_from_slice(b"\n\n");
        true
    }

    /// Feeds bytes from upstream; appends complete, rewritten events to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.blocked {
            return;
        }
        self.pending.extend_from_slice(chunk);
        while !self.blocked
            && let Some((end, sep)) = event_end(&self.pending)
        {
            let event: Vec<u8> = self.pending.drain(..end + sep).collect();
            self.event(&event[..end], out);
        }
        if !self.blocked && self.pending.len() > MAX_EVENT {
            // not SSE after all, or an absurd event: pass it on, redacted as a whole
            let bytes = std::mem::take(&mut self.pending);
            self.raw(&bytes, out);
        }
    }

    /// Ends the stream: releases held-back text and any unfinished event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.blocked {
            return;
        }
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
        let mut name: Option<&[u8]> = None;
        let mut data: Vec<&[u8]> = Vec::new();
        let mut other_lines: Vec<&[u8]> = Vec::new();
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(v) = line.strip_prefix(b"data:") {
                data.push(v.strip_prefix(b" ").unwrap_or(v));
            } else if let Some(v) = line.strip_prefix(b"event:") {
                name = Some(v.strip_prefix(b" ").unwrap_or(v));
            } else if !line.is_empty() {
                other_lines.push(line);
            }
        }
        let joined: Cow<'_, [u8]> = match data.as_slice() {
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.join(&b'\n')),
        };
        let json: Option<Value> = if data.is_empty() {
            None
        } else {
            serde_json::from_slice(&joined).ok()
        };
        let name_str = name.map(String::from_utf8_lossy);
        if let Some(u) = json.as_ref().and_then(|j| self.provider.usage(j)) {
            self.usage = Some(u);
        }
        if json.as_ref().is_some_and(rampart_llm::hit_max_length) {
            self.truncated = true;
        }
        if self.provider.ends_text(name_str.as_deref(), json.as_ref()) {
            self.flush(out);
            if self.blocked {
                return;
            }
        }
        let write_head = |out: &mut Vec<u8>| {
            for line in &other_lines {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            if let Some(n) = name {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(n);
                out.push(b'\n');
            }
        };
        let Some(mut v) = json else {
            let body = (!data.is_empty()).then(|| self.scan_other(joined.into_owned()));
            if self.check_block(out) {
                return;
            }
            write_head(out);
            if let Some(body) = body {
                for line in body.split(|&b| b == b'\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
            out.push(b'\n');
            return;
        };
        // the text of each channel goes through that channel's streaming scanner
        let parts = self.provider.stream_parts(&v);
        let mut released: Vec<String> = Vec::with_capacity(parts.len());
        for (id, text) in &parts {
            let k = self.channel(id);
            let channel = &mut self.channels[k];
            let mut r = std::mem::take(&mut channel.carry);
            channel.scanner.feed(text.as_bytes(), &mut r);
            let text = whole_chars(r, &mut channel.carry);
            self.text_chars += text.chars().count();
            released.push(text);
        }
        if self.check_block(out) {
            return;
        }
        // fast path: the event as written, with only the text strings replaced
        if let Some(spans) = text_spans(&joined, &parts) {
            let mut shape = std::mem::take(&mut self.shape);
            shape.clear();
            let mut at = 0;
            let mut holes = Vec::with_capacity(spans.len());
            for &(s, e, _) in &spans {
                shape.extend_from_slice(&joined[at..s]);
                holes.push(shape.len());
                shape.extend_from_slice(b"\"\"");
                at = e;
            }
            shape.extend_from_slice(&joined[at..]);
            let clean = self.clean_shapes.iter().any(|c| c == &shape) || {
                let clean = self.is_clean(&shape);
                if clean && self.clean_shapes.len() < SHAPES {
                    self.clean_shapes.push(shape.clone());
                }
                clean
            };
            if clean {
                for (&(_, _, p), &hole) in spans.iter().zip(&holes) {
                    let id = &parts[p].0;
                    if let Some(c) = self.channels.iter_mut().find(|c| &c.id == id) {
                        c.template.name = name.map(<[u8]>::to_vec);
                        c.template.shape.clear();
                        c.template.shape.extend_from_slice(&shape);
                        c.template.hole = Some(hole);
                    }
                }
                write_head(out);
                out.extend_from_slice(b"data: ");
                let mut at = 0;
                for &(s, e, p) in &spans {
                    out.extend_from_slice(&joined[at..s]);
                    serde_json::to_writer(&mut *out, &released[p])
                        .expect("writing a string to memory");
                    at = e;
                }
                out.extend_from_slice(&joined[at..]);
                out.extend_from_slice(b"\n\n");
                self.shape = shape;
                return;
            }
            self.shape = shape;
        }
        // general path: the parsed event, rewritten and written again, scanned as a whole
        for ((id, _), text) in parts.iter().zip(&released) {
            self.provider.set_stream_part(&mut v, id, text);
        }
        let body = serde_json::to_vec(&v).unwrap_or_default();
        let body = self.scan_other(body);
        if self.check_block(out) {
            return;
        }
        for (id, _) in &parts {
            if let Some(c) = self.channels.iter_mut().find(|c| &c.id == id) {
                c.template.name = name.map(<[u8]>::to_vec);
                c.template.shape.clear();
                c.template.shape.extend_from_slice(&body);
                c.template.hole = None;
            }
        }
        write_head(out);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\n\n");
    }

    /// The index of channel `id` of the current block, opened on first use.
    fn channel(&mut self, id: &str) -> usize {
        if let Some(k) = self.channels.iter().position(|c| c.id == id) {
            return k;
        }
        let scanner = StreamScanner::new(self.scanner, self.new_redactor());
        self.channels.push(Channel {
            id: id.to_owned(),
            scanner,
            template: Template::default(),
            carry: Vec::new(),
            checked: 0,
        });
        self.channels.len() - 1
    }

    /// Releases held-back text of every channel, each in an event shaped like the last event
    /// that carried it; the next block starts with fresh scanners.
    fn flush(&mut self, out: &mut Vec<u8>) {
        for mut channel in std::mem::take(&mut self.channels) {
            let mut rest = std::mem::take(&mut channel.carry);
            channel.scanner.finish(&mut rest);
            // findings checked before are not block findings (the stream would have ended)
            self.other
                .extend(channel.scanner.findings().iter().cloned());
            if self.blocked || self.check_block(out) {
                continue;
            }
            if rest.is_empty() {
                continue;
            }
            let rest = String::from_utf8_lossy(&rest);
            self.text_chars += rest.chars().count();
            let t = &channel.template;
            let mut data = Vec::with_capacity(t.shape.len() + rest.len() + 8);
            match t.hole {
                // a clean shape with this channel's string emptied at `hole`
                Some(hole) => {
                    data.extend_from_slice(&t.shape[..hole]);
                    serde_json::to_writer(&mut data, &*rest).expect("writing a string to memory");
                    data.extend_from_slice(&t.shape[hole + 2..]);
                }
                None => {
                    let Ok(mut v) = serde_json::from_slice::<Value>(&t.shape) else {
                        continue;
                    };
                    // the template may carry other channels' pieces, released already
                    for (id, _) in self.provider.stream_parts(&v) {
                        self.provider.set_stream_part(&mut v, &id, "");
                    }
                    self.provider.set_stream_part(&mut v, &channel.id, &rest);
                    data = serde_json::to_vec(&v).unwrap_or_default();
                }
            }
            if let Some(n) = &t.name {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(n);
                out.push(b'\n');
            }
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\n\n");
        }
    }

    fn new_redactor(&self) -> Redactor {
        self.rules.redactor()
    }

    /// Whether bytes hold no finding at all.
    fn is_clean(&self, bytes: &[u8]) -> bool {
        self.scanner
            .scan(bytes, &ScanOptions::default())
            .is_ok_and(|scan| scan.found.is_empty())
    }

    /// Scans bytes outside the text stream as a whole; returns them with what policy redacts
    /// replaced.
    fn scan_other(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let Ok(scan) = self.scanner.scan(&bytes, &ScanOptions::default()) else {
            return bytes;
        };
        if scan.found.is_empty() {
            return bytes;
        }
        self.other.extend(scan.findings().cloned());
        let mut out = Vec::with_capacity(bytes.len());
        scan.redact(&mut self.redactor, &mut out);
        out
    }

    fn raw(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let body = self.scan_other(bytes.to_vec());
        out.extend_from_slice(&body);
    }
}

/// `bytes` up to the last whole UTF-8 character; an incomplete character at the end is moved to
/// `carry` (the scanner releases at byte offsets, and a character may straddle two events).
fn whole_chars(mut bytes: Vec<u8>, carry: &mut Vec<u8>) -> String {
    match std::str::from_utf8(&bytes) {
        Ok(_) => {}
        Err(e) if e.error_len().is_none() => {
            carry.extend_from_slice(&bytes[e.valid_up_to()..]);
            bytes.truncate(e.valid_up_to());
        }
        Err(_) => return String::from_utf8_lossy(&bytes).into_owned(),
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// Where each part's text string lies in `data`, as written: `(start, end, part)` sorted by
/// start, when every span can be told for certain; `None` sends the event down the general path.
///
/// A string is located by searching for its JSON form as serde_json writes it. That form is the
/// only one possible when `data` holds no `\u` escape and no escaped `/` (the other escapes
/// have one short form each), so a single occurrence is the field itself. Data with a raw
/// line break (an event of several `data:` lines) is not spliced either.
fn text_spans(data: &[u8], parts: &[(String, String)]) -> Option<Vec<(usize, usize, usize)>> {
    if parts.is_empty()
        || memchr::memchr(b'\n', data).is_some()
        || memchr::memmem::find(data, b"\\u").is_some()
        || memchr::memmem::find(data, b"\\/").is_some()
    {
        return None;
    }
    let mut spans = Vec::with_capacity(parts.len());
    let mut form = Vec::new();
    for (p, (_, text)) in parts.iter().enumerate() {
        form.clear();
        serde_json::to_writer(&mut form, text).ok()?;
        // occurrences are counted overlapping: `":"` is found in `{"k":":"}` twice
        let finder = memchr::memmem::Finder::new(&form);
        let start = finder.find(data)?;
        if finder.find(&data[start + 1..]).is_some() {
            return None;
        }
        spans.push((start, start + form.len(), p));
    }
    spans.sort_unstable();
    spans.windows(2).all(|w| w[0].1 <= w[1].0).then_some(spans)
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
        let mut s = String::new();
        for args in ["{\"key\": \"AKIA4HBW", "6E62M7NGFVGF\", ", "\"n\": 1}"] {
            let v = serde_json::json!({"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":args}}]},"finish_reason":null}]});
            s.push_str(&format!("data: {v}\n\n"));
        }
        s.push_str("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
        let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
        let out = rewrite(&mut r, s.as_bytes());
        let args = joined(&out, "/choices/0/delta/tool_calls/0/function/arguments");
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
            let mut r = rewriter(Box::new(rampart_llm::openai::OpenAi));
            let mut out = Vec::new();
            r.push(&input[..cut], &mut out);
            r.push(&input[cut..], &mut out);
            r.finish(&mut out);
            assert_eq!(texts(&out), pieces.concat(), "cut {cut}");
        }
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
}
