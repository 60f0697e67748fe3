//! Server-sent events inspected as they flow. The stream is framed as the WHATWG
//! event-stream interpretation reads it, and nothing is sent on unscanned (comments and
//! unknown fields are dropped; an event too large to inspect ends the stream). The streamed
//! text of each event (found by the provider adapter: every text-bearing field of every
//! choice, block, candidate or output item, each its own channel) goes
//! through one streaming scanner per channel, so a value split across events or TCP chunks is
//! still caught; each event is re-emitted with the text that is safe to release so far, and
//! text held back is released in a synthesized event of the same shape before the event that
//! ends the block. Everything else in an event is scanned as a whole and redacted in place.

use std::sync::Arc;

use rampart_core::Finding;
use rampart_detect::{Redactor, ScanOptions, Scanner, StreamScanner};
use rampart_llm::{Provider, Usage};
use serde_json::Value;

/// Largest single event accepted by default (the bytes of its lines, each line end counted as
/// one byte); a longer one ends the stream as a block does (see
/// [`SseRewriter::with_max_event`]).
pub const MAX_EVENT: usize = 1 << 20;

/// The UTF-8 byte order mark a stream may start with (skipped, as browsers do).
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    /// The event being read, field by field.
    current: Fields,
    /// Largest event accepted.
    max_event: usize,
    /// The stream's first bytes were checked for a byte order mark.
    started: bool,
    /// The last line ended with a CR that was the last byte read: a LF first in the next
    /// chunk belongs to it.
    after_cr: bool,
    /// Event names already scanned and found clean.
    clean_names: Vec<Vec<u8>>,
    /// Bytes could not be scanned (a corrupt or oversized compressed value): the stream ends.
    unscannable: bool,
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

/// The fields of one event as the WHATWG event-stream interpretation reads them.
#[derive(Default)]
struct Fields {
    /// `data:` lines, joined with `\n`, if there was one.
    data: Option<Vec<u8>>,
    /// The last `event:` value.
    name: Option<Vec<u8>>,
    /// The last `id:` value.
    id: Option<Vec<u8>>,
    /// The last valid `retry:` value (ASCII digits).
    retry: Option<Vec<u8>>,
    /// Bytes of the event's lines so far.
    size: usize,
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
            current: Fields::default(),
            max_event: MAX_EVENT,
            started: false,
            after_cr: false,
            clean_names: Vec::new(),
            unscannable: false,
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

    /// The same rewriter with another limit on the size of one event (default [`MAX_EVENT`]):
    /// a larger event cannot be inspected and ends the stream with the provider's error event.
    pub fn with_max_event(mut self, bytes: usize) -> SseRewriter {
        self.max_event = bytes;
        self
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
        if self.unscannable {
            self.end_stream(
                "the response was blocked by policy: a stream event could not be inspected",
                out,
            );
            return true;
        }
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
        self.end_stream(
            &format!("the response was blocked by policy: {detector} found in the stream"),
            out,
        );
        true
    }

    /// Ends the stream with the provider's error event; nothing is emitted after it.
    fn end_stream(&mut self, message: &str, out: &mut Vec<u8>) {
        self.blocked = true;
        let (name, data) = self.provider.stream_error("rampart_blocked", message);
        if let Some(n) = name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&serde_json::to_vec(&data).unwrap_or_default());
        out.extend_from_slice(b"\n\n");
    }

    /// Feeds bytes from upstream; appends complete, rewritten events to `out`.
    ///
    /// The bytes are read as the WHATWG event-stream interpretation reads them: lines end in
    /// CRLF, LF or a lone CR, a blank line ends an event, a leading byte order mark is
    /// skipped. Every byte sent on has been scanned: `data` as described on the type, event
    /// names and `id` values as a whole (redacted as policy says), `retry` values are digits;
    /// comments and unknown fields are dropped. Output lines end in `\n`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        if self.blocked {
            return;
        }
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        self.pending.extend_from_slice(chunk);
        if !self.started {
            if self.pending.len() < BOM.len() && BOM.starts_with(&self.pending) {
                return;
            }
            self.started = true;
            if self.pending.starts_with(BOM) {
                self.pending.drain(..BOM.len());
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let mut at = 0;
        while !self.blocked
            && let Some(p) = memchr::memchr2(b'\n', b'\r', &pending[at..])
        {
            let end = at + p;
            let mut next = end + 1;
            if pending[end] == b'\r' {
                match pending.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.line(&pending[at..end], out);
            at = next;
        }
        if self.blocked {
            return;
        }
        self.pending = pending;
        self.pending.drain(..at);
        if self.current.size + self.pending.len() > self.max_event {
            self.too_large(out);
        }
    }

    /// Ends the stream: an unfinished last line and event are read and scanned like any
    /// other (never copied as they are), then held-back text is released.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.blocked {
            return;
        }
        self.started = true;
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line, out);
        }
        if !self.blocked {
            self.dispatch(out);
        }
        if !self.blocked {
            self.flush(out);
        }
    }

    /// One line of the stream, without its line end.
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        self.current.size += line.len() + 1;
        if self.current.size > self.max_event {
            self.too_large(out);
            return;
        }
        if line[0] == b':' {
            // a comment: dropped
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        let f = &mut self.current;
        match field {
            b"data" => match &mut f.data {
                Some(d) => {
                    d.push(b'\n');
                    d.extend_from_slice(value);
                }
                None => f.data = Some(value.to_vec()),
            },
            b"event" => f.name = Some(value.to_vec()),
            // an id with a NUL is ignored by clients
            b"id" if !value.contains(&0) => f.id = Some(value.to_vec()),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                f.retry = Some(value.to_vec());
            }
            // unknown fields are dropped
            _ => {}
        }
    }

    /// The end of an event (a blank line, or the end of the stream).
    fn dispatch(&mut self, out: &mut Vec<u8>) {
        let fields = std::mem::take(&mut self.current);
        if fields.data.is_none() && fields.name.is_none() && fields.id.is_none() {
            if let Some(r) = fields.retry {
                out.extend_from_slice(b"retry: ");
                out.extend_from_slice(&r);
                out.extend_from_slice(b"\n\n");
            }
            return;
        }
        self.event(fields, out);
    }

    /// An event over the size limit: it cannot be inspected, so the stream ends.
    fn too_large(&mut self, out: &mut Vec<u8>) {
        self.pending.clear();
        self.current = Fields::default();
        self.end_stream(
            &format!(
                "the response was blocked by policy: a stream event over {} bytes cannot be inspected",
                self.max_event
            ),
            out,
        );
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

    fn event(&mut self, fields: Fields, out: &mut Vec<u8>) {
        // the head (id, retry, event name) as it will be written: scanned, redacted
        let mut head = Vec::new();
        if let Some(id) = &fields.id {
            let id = self.scan_other(id.clone());
            write_field(&mut head, b"id", &id);
        }
        if let Some(r) = &fields.retry {
            write_field(&mut head, b"retry", r);
        }
        let out_name = fields.name.as_ref().map(|n| self.scan_name(n));
        if let Some(n) = &out_name {
            write_field(&mut head, b"event", n);
        }
        let name: Option<&[u8]> = out_name.as_deref();
        let has_data = fields.data.is_some();
        let joined: Vec<u8> = fields.data.unwrap_or_default();
        let data: &[u8] = &joined;
        let json: Option<Value> = if has_data {
            serde_json::from_slice(data).ok()
        } else {
            None
        };
        let name_str = fields.name.as_deref().map(String::from_utf8_lossy);
        if let Some(u) = json.as_ref().and_then(|j| self.provider.usage(j)) {
            self.usage = Some(u);
        }
        if json.as_ref().is_some_and(rampart_llm::hit_max_length) {
            self.truncated = true;
        }
        if self.check_block(out) {
            return;
        }
        if self.provider.ends_text(name_str.as_deref(), json.as_ref()) {
            match &json {
                Some(v) => self.flush_where(out, |p, c| p.ends_channel(v, c)),
                None => self.flush(out),
            }
            if self.blocked {
                return;
            }
        }
        let write_head = |out: &mut Vec<u8>| out.extend_from_slice(&head);
        let Some(mut v) = json else {
            // not JSON (`[DONE]`, plain text): scanned as a whole
            let body = has_data.then(|| self.scan_other(joined.clone()));
            if self.check_block(out) {
                return;
            }
            write_head(out);
            if let Some(body) = body {
                write_field(out, b"data", &body);
            }
            out.push(b'\n');
            return;
        };
        // values that repeat the text piece by piece cannot be redacted with it: removed
        let echoes = self.provider.stream_echoes(&v);
        for pointer in &echoes {
            if let Some(slot) = v.pointer_mut(pointer) {
                *slot = Value::Null;
            }
        }
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
        if let Some(spans) = text_spans(data, &parts).filter(|_| echoes.is_empty()) {
            let mut shape = std::mem::take(&mut self.shape);
            shape.clear();
            let mut at = 0;
            let mut holes = Vec::with_capacity(spans.len());
            for &(s, e, _) in &spans {
                shape.extend_from_slice(&data[at..s]);
                holes.push(shape.len());
                shape.extend_from_slice(b"\"\"");
                at = e;
            }
            shape.extend_from_slice(&data[at..]);
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
                    out.extend_from_slice(&data[at..s]);
                    serde_json::to_writer(&mut *out, &released[p])
                        .expect("writing a string to memory");
                    at = e;
                }
                out.extend_from_slice(&data[at..]);
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
        write_field(out, b"data", &body);
        out.push(b'\n');
    }

    /// The index of channel `id` of the current block, opened on first use.
    fn channel(&mut self, id: &str) -> usize {
        if let Some(k) = self.channels.iter().position(|c| c.id == id) {
            return k;
        }
        let mut scanner = StreamScanner::new(self.scanner, self.new_redactor());
        // a tool call's arguments are data for a program, not an answer a client renders:
        // markup in them (an agent writing HTML) stays
        if id.rsplit('/').next().is_some_and(|last| {
            last.starts_with("tool:")
                || last.contains("arguments")
                || last.contains("tool_call_input")
        }) {
            scanner = scanner.not_an_answer();
        }
        // a later block continues the text a client shows: it does not start a line
        if self.text_chars > 0 {
            scanner = scanner.mid_line();
        }
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
        self.flush_where(out, |_, _| true);
    }

    /// As [`SseRewriter::flush`], for the channels `ends` names; the others keep their
    /// scanners and held-back text.
    fn flush_where(&mut self, out: &mut Vec<u8>, ends: impl Fn(&dyn Provider, &str) -> bool) {
        let (ending, open): (Vec<Channel>, Vec<Channel>) = std::mem::take(&mut self.channels)
            .into_iter()
            .partition(|c| ends(&*self.provider, &c.id));
        self.channels = open;
        for mut channel in ending {
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
                write_field(out, b"event", n);
            }
            write_field(out, b"data", &data);
            out.push(b'\n');
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
    /// replaced. Bytes that cannot be scanned (a corrupt or oversized compressed value) are
    /// not returned, and the next [`SseRewriter::check_block`] ends the stream.
    fn scan_other(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let Ok(scan) = self.scanner.scan(&bytes, &ScanOptions::default()) else {
            self.unscannable = true;
            return Vec::new();
        };
        if scan.found.is_empty() {
            return bytes;
        }
        self.other.extend(scan.findings().cloned());
        let mut out = Vec::with_capacity(bytes.len());
        scan.redact(&mut self.redactor, &mut out);
        out
    }

    /// An event name, scanned as a whole (names repeat: clean ones are remembered).
    fn scan_name(&mut self, name: &[u8]) -> Vec<u8> {
        if self.clean_names.iter().any(|n| n == name) {
            return name.to_vec();
        }
        let scanned = self.scan_other(name.to_vec());
        if scanned == name && self.clean_names.len() < SHAPES {
            self.clean_names.push(name.to_vec());
        }
        scanned
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

/// Writes `field: value` lines: one per line of `value` (a redacted value keeps no line
/// break of its own; any CR or LF in it starts a new line of the same field).
fn write_field(out: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    for line in value.split(|&b| b == b'\n' || b == b'\r') {
        out.extend_from_slice(field);
        out.extend_from_slice(b": ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
