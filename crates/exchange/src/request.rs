//! The request phases: `request_body` (decode, scan, decide, rewrite) and `admit` (limits).
//! The body is decoded once, scanned once, and parsed once into the view every later consumer
//! reads (threat inspection, limits, canary, rewrite); what is forwarded is what was scanned.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use rampart_core::{Action, DataClass, Direction, Strategy};
use rampart_detect::decode::compress::{self, Compression};
use rampart_detect::{HashKey, Redactor, Scan, ScanOptions};
use rampart_limits::abuse::CallKind;
use rampart_limits::{Check, Plan, tokens};
use rampart_llm::Operation;
use rampart_policy::Selection;
use serde_json::Value;

use crate::engine::{CREDENTIAL_HEADERS, Engine, HOP_BY_HOP};
use crate::event::{Outcome, UsageRecord};
use crate::exchange::{Exchange, Fault, LimitState};
use crate::refusal::{Code, Refusal};

/// The UTF-8 byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `body` without a leading UTF-8 byte-order mark (receivers skip it; the body forwarded is
/// the one inspected).
pub(crate) fn without_bom(body: Bytes) -> Bytes {
    if body.starts_with(UTF8_BOM) {
        body.slice(UTF8_BOM.len()..)
    } else {
        body
    }
}

/// Why a request body could not be read (the front end reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// It did not arrive in time.
    Timeout,
    /// It is larger than the front end reads.
    TooLarge,
    /// The connection broke or the framing was invalid.
    Broken,
}

/// What the admission phase needs from the front end.
#[derive(Debug)]
pub enum Admission {
    /// No limit applies: go on.
    Free,
    /// Ask the limiter to decide this plan, then call [`Exchange::admitted`].
    Check(Plan),
    /// Refused before the limiter is asked.
    Refuse(Refusal),
}

/// A redactor that replaces what `sel` redacts and keeps the rest.
pub fn redactor(sel: &Selection, key: &HashKey) -> Redactor {
    let sel = sel.clone();
    Redactor::new(Strategy::Mask, key.clone()).choosing(Arc::new(move |class, detector, score| {
        // output markup and canary tokens are about answers: a request keeps them
        if sel.direction() == Direction::Request
            && matches!(class, DataClass::UnsafeOutput | DataClass::SystemPromptLeak)
        {
            return None;
        }
        sel.redaction(class, detector, score)
    }))
}

/// `bytes` made safe for a URI path: every byte outside the unreserved set, `/`, `:` and
/// `@` is percent-encoded.
pub fn path_safe(bytes: &[u8]) -> String {
    uri_safe(bytes, b"-._~/:@%")
}

/// `bytes` made safe for a URI query: every byte outside the unreserved set and the query's
/// delimiters is percent-encoded (a redaction may bring quotes, as in a JSON-looking query).
pub fn query_safe(bytes: &[u8]) -> String {
    uri_safe(bytes, b"-._~/:@%!$&'()*+,;=?")
}

fn uri_safe(bytes: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The encoding named by a `Content-Encoding` header, lowercased; `None` for identity.
pub fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v != "identity")
}

/// Decodes a body by its `Content-Encoding`, within the decompression limits; says why not.
pub fn decode_body(encoding: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    let kind = match encoding {
        "gzip" | "x-gzip" => Compression::Gzip,
        "deflate" => match compress::sniff(raw) {
            Some(Compression::Zlib) => Compression::Zlib,
            _ => Compression::RawDeflate,
        },
        "br" => Compression::Brotli,
        other => {
            return Err(format!(
                "content-encoding {other:?} cannot be inspected; send identity, gzip, deflate or br"
            ));
        }
    };
    compress::decompress(raw, kind, compress::Limits::default()).map_err(|e| e.to_string())
}

impl Engine {
    /// `scan.text` with what `sel` redacts replaced.
    pub fn redacted(&self, scan: &Scan<'_>, sel: &Selection) -> Vec<u8> {
        let mut out = Vec::with_capacity(scan.text.len());
        scan.redact(&mut redactor(sel, &self.hash_key), &mut out);
        out
    }

    /// Whether none of `headers` (names and values) holds a finding: one scan over all of
    /// them, so clean headers cost one scanner call.
    pub fn headers_clean<'h>(
        &self,
        headers: impl Iterator<Item = (&'h HeaderName, &'h HeaderValue)>,
    ) -> bool {
        let mut joined = Vec::new();
        for (name, value) in headers {
            joined.extend_from_slice(name.as_str().as_bytes());
            joined.extend_from_slice(b": ");
            joined.extend_from_slice(value.as_bytes());
            // far enough apart that no context word reaches from one value to the next
            joined.push(b'\n');
            joined.extend_from_slice(&[b' '; 64]);
        }
        self.scanner
            .scan(&joined, &ScanOptions::default())
            .is_ok_and(|s| s.found.is_empty())
    }
}

impl Exchange {
    /// The body size the front end should read: the inspection limit, or with fail-open up
    /// to `uninspected` to forward what is too large to inspect.
    pub fn body_cap(&self, engine: &Engine, uninspected: usize) -> usize {
        if self.fail_open() {
            uninspected.max(engine.limits.max_request_body)
        } else {
            engine.limits.max_request_body
        }
    }

    /// The request body could not be read.
    pub fn request_unread(&mut self, engine: &Engine, why: ReadError) -> Refusal {
        self.fault(Fault::Downstream);
        match why {
            ReadError::Timeout => self.refuse(
                Outcome::RequestTimeout,
                Action::Block,
                408,
                Code::RequestTimeout,
                "the request body did not arrive in time",
            ),
            ReadError::TooLarge => self.refuse(
                Outcome::RequestTooLarge,
                Action::Block,
                413,
                Code::RequestTooLarge,
                format!(
                    "the request body is larger than the inspection limit of {} bytes",
                    engine.limits.max_request_body
                ),
            ),
            ReadError::Broken => self.refuse(
                Outcome::RequestReadError,
                Action::Block,
                400,
                Code::BadRequest,
                "the request body could not be read",
            ),
        }
    }

    /// request_body: decodes the body (every encoding receivers accept; a UTF-8 byte-order
    /// mark dropped), scans it, its headers, path and query; inspects what models read for
    /// LLM threats; takes the decision; and prepares what is forwarded — the scanned bytes,
    /// rewritten only where policy redacts. `headers` are the request's.
    pub fn request_body(
        &mut self,
        engine: &Engine,
        headers: &HeaderMap,
        raw: Bytes,
    ) -> Result<(), Refusal> {
        self.out.headers = headers.clone();
        if raw.len() > engine.limits.max_request_body {
            // only reachable with fail-open
            self.fault(Fault::Inspection);
            self.outcome = Outcome::UninspectedTooLargeFailOpen;
            self.error = Some(format!(
                "the body ({} bytes) is larger than the inspection limit ({} bytes)",
                raw.len(),
                engine.limits.max_request_body
            ));
            self.raise(Action::Monitor);
            self.out.body = raw;
            return Ok(());
        }
        let encoding = content_encoding(headers);
        let decoded: Option<Vec<u8>> = match encoding.as_deref() {
            None => None,
            Some(enc) => match decode_body(enc, &raw) {
                Ok(bytes) => Some(bytes),
                Err(why) => {
                    self.fault(Fault::Inspection);
                    if self.fail_open() {
                        self.outcome = Outcome::UninspectedFailOpen;
                        self.error = Some(why);
                        self.raise(Action::Monitor);
                        self.out.body = raw;
                        return Ok(());
                    }
                    return Err(self.refuse(
                        Outcome::UninspectableBody,
                        Action::Block,
                        415,
                        Code::Uninspectable,
                        why,
                    ));
                }
            },
        };
        // the body inspected is the body forwarded: decoded (its encoding header then goes),
        // a byte-order mark dropped
        let (text, decoded) = match decoded {
            Some(d) => (without_bom(Bytes::from(d)), true),
            None => (without_bom(raw), false),
        };
        self.sample(engine, &text, Direction::Request);
        let scan = match engine.scanner.scan(&text, &ScanOptions::default()) {
            Ok(scan) => scan,
            Err(e) => {
                self.fault(Fault::Inspection);
                return Err(self.refuse(
                    Outcome::UninspectableBody,
                    Action::Block,
                    415,
                    Code::Uninspectable,
                    e.to_string(),
                ));
            }
        };
        let provider = self.provider().cloned();
        let path = self.meta.path.clone();
        // the one parse every consumer of a provider call shares (an API route's body is
        // parsed only if a limit needs its token estimate)
        let json: Option<Value> = if text.is_empty() || provider.is_none() {
            None
        } else {
            serde_json::from_slice(&text).ok()
        };
        // a provider call whose JSON does not parse cannot be inspected as the provider would
        // read it
        let declared_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.to_ascii_lowercase().contains("json"));
        let operation = provider
            .as_ref()
            .map_or(Operation::Other, |p| p.operation(&path));
        if provider.is_some() && json.is_none() && !text.is_empty() && declared_json {
            self.fault(Fault::Inspection);
            if self.fail_open() {
                self.outcome = Outcome::MalformedJsonFailOpen;
            } else {
                return Err(self.refuse(
                    Outcome::MalformedJson,
                    Action::Block,
                    400,
                    Code::MalformedJson,
                    "the request body is not valid JSON",
                ));
            }
        }
        if let Some(p) = &provider {
            self.model = p.model(&path, json.as_ref().unwrap_or(&Value::Null));
            self.streaming = p.streaming(
                &path,
                &self.out.query,
                json.as_ref().unwrap_or(&Value::Null),
            );
        }
        // abuse and model-extraction signals of this caller (per replica)
        let kind = match operation {
            Operation::Embedding => CallKind::Embedding,
            Operation::Other if provider.is_none() => CallKind::Other,
            _ => CallKind::Generation,
        };
        let prompt = match (&json, kind) {
            (Some(v), CallKind::Generation) => last_message(v),
            _ => String::new(),
        };
        let signals =
            engine
                .abuse
                .observe_request(&self.identity(), kind, &prompt, crate::now_ms() as u64);
        self.meta.signals = signals.iter().map(|s| (*s).to_owned()).collect();
        // with the model known and the signals raised, model and signal selectors can match
        if self.policies.reads_model_or_signals()
            && (self.model.is_some() || !self.meta.signals.is_empty())
        {
            self.meta.model = self.model.clone();
            self.sel = self.policies.select(&self.meta);
        }

        // decide: body, headers, query; canary tokens and output markup are about responses
        let body_action = self.judge(
            Direction::Request,
            "body",
            scan.findings()
                .filter(|f| {
                    !matches!(
                        f.class,
                        DataClass::UnsafeOutput | DataClass::SystemPromptLeak
                    )
                })
                .cloned(),
            Action::Block,
        );
        let redact_body = body_action == Action::Redact;
        // text in UTF-16 inside the body (a multipart part, a field a receiver transcodes)
        // cannot be redacted in place: what policy would redact in it blocks the request
        let wide_block = self.judge_wide_text(engine, &text) >= Action::Redact;
        // LLM threats in what the model reads: user messages, tool results, documents, uploads
        let inspect_llm =
            self.sel.inspects_threats() && provider.is_some() && operation != Operation::Other;
        let parts = match (&json, &provider) {
            (Some(v), Some(p)) if inspect_llm => {
                crate::llm::request_parts(p.as_ref(), operation, v)
            }
            (None, _) if inspect_llm && operation == Operation::Upload && !text.is_empty() => {
                vec![crate::llm::Part {
                    role: crate::llm::Role::Upload,
                    pointer: String::new(),
                    text: String::from_utf8_lossy(&text).into_owned(),
                }]
            }
            _ => Vec::new(),
        };
        let threats = crate::llm::inspect_request(&parts, &text, &engine.hash_key);
        let llm_action = self.judge_threats(Direction::Request, threats, Action::Block);
        self.system = crate::llm::system_prompt(&parts);
        let canary_on = self.sel.canary() && json.is_some() && provider.is_some();
        self.inspect_request_metadata(engine, headers);

        // the exchange's decision: every finding's verdict, the flow setting, the conditions
        let d = self.decide(Direction::Request);
        // a body that is not JSON (a multipart upload) cannot be rewritten: what policy would
        // redact in it blocks it instead
        let decision = if wide_block {
            Action::Block
        } else if llm_action == Action::Redact && json.is_none() {
            for f in self.findings.iter_mut().filter(|f| {
                f.direction == Direction::Request
                    && f.finding.class.is_threat()
                    && f.action == Action::Redact
            }) {
                f.action = Action::Block;
            }
            Action::Block
        } else {
            d.action
        };
        if decision == Action::Block {
            let worst = self
                .findings
                .iter()
                .find(|f| f.action == Action::Block)
                .map(|f| {
                    format!(
                        "{} ({}) found in {}",
                        f.finding.class.name(),
                        f.finding.detector,
                        f.location
                    )
                })
                .unwrap_or_else(|| d.reason.clone());
            return Err(self.refuse(
                Outcome::Blocked,
                Action::Block,
                403,
                Code::Blocked,
                format!("request blocked by policy: {worst}"),
            ));
        }
        if decision == Action::Redact {
            self.outcome = Outcome::Redacted;
        }
        self.raise(decision);

        // the body to forward: personal data redacted in place, then what policy redacts of
        // the LLM threats and the canary, on the parsed body
        let rewrite_llm = llm_action == Action::Redact && json.is_some();
        if redact_body || rewrite_llm || canary_on {
            let mut out = Vec::with_capacity(text.len());
            if redact_body {
                scan.redact(&mut redactor(&self.sel, &engine.hash_key), &mut out);
            } else {
                out.extend_from_slice(&text);
            }
            // the parsed view is reused unless the bytes changed under it
            let view = if redact_body {
                serde_json::from_slice::<Value>(&out).ok()
            } else {
                json.clone()
            };
            if (rewrite_llm || canary_on)
                && let Some(mut v) = view
            {
                let mut changed = false;
                if rewrite_llm && let Some(p) = &provider {
                    changed |= crate::llm::rewrite(
                        p.as_ref(),
                        &mut v,
                        None,
                        operation,
                        &self.sel,
                        &mut redactor(&self.sel, &engine.hash_key),
                        &engine.hash_key,
                    );
                }
                if canary_on && let Some(p) = &provider {
                    let token = rampart_threat::canary::token();
                    if crate::llm::insert_canary(p.as_ref(), operation, &mut v, &token).is_some() {
                        self.canary = Some(token);
                        changed = true;
                    }
                }
                if changed && let Ok(bytes) = serde_json::to_vec(&v) {
                    out = bytes;
                }
            }
            self.out.body = Bytes::from(out);
            self.out.decoded = decoded;
        } else {
            self.out.body = text.clone();
            self.out.decoded = decoded;
        }
        if self.out.decoded {
            self.out.headers.remove(header::CONTENT_ENCODING);
        }
        self.body = text;
        self.json = json;
        Ok(())
    }

    /// Headers (names and values), the path and the query: a value with a finding policy
    /// redacts is redacted in what is forwarded; a header name with one drops its header;
    /// the audit event keeps the redacted path and model only.
    fn inspect_request_metadata(&mut self, engine: &Engine, headers: &HeaderMap) {
        let inspected = |name: &HeaderName| {
            !CREDENTIAL_HEADERS.contains(&name.as_str()) && !HOP_BY_HOP.contains(&name.as_str())
        };
        // one scan over every inspected header; each header again only if it holds something
        if !engine.headers_clean(headers.iter().filter(|(n, _)| inspected(n))) {
            for (name, value) in headers.iter().filter(|(n, _)| inspected(n)) {
                if let Ok(n) = engine
                    .scanner
                    .scan(name.as_str().as_bytes(), &ScanOptions::default())
                    && !n.found.is_empty()
                    && self.judge(
                        Direction::Request,
                        "header_name",
                        n.findings().cloned(),
                        Action::Block,
                    ) >= Action::Redact
                {
                    self.out.headers.remove(name);
                    continue;
                }
                let Ok(s) = engine
                    .scanner
                    .scan(value.as_bytes(), &ScanOptions::default())
                else {
                    continue;
                };
                if s.found.is_empty() {
                    continue;
                }
                let worst = self.judge(
                    Direction::Request,
                    &format!("header:{name}"),
                    s.findings().cloned(),
                    Action::Block,
                );
                if worst == Action::Redact {
                    let replaced = engine.redacted(&s, &self.sel);
                    match HeaderValue::from_bytes(&replaced) {
                        Ok(v) => {
                            self.out.headers.insert(name.clone(), v);
                        }
                        // a redacted value that is no longer a header value (it was redacted
                        // in a decoded form) is not forwarded at all
                        Err(_) => {
                            self.out.headers.remove(name);
                        }
                    }
                }
            }
        }
        let path = self.meta.path.clone();
        if let Ok(s) = engine
            .scanner
            .scan(path.as_bytes(), &ScanOptions::default())
            && !s.found.is_empty()
            && self.judge(
                Direction::Request,
                "path",
                s.findings().cloned(),
                Action::Block,
            ) >= Action::Redact
        {
            let redacted = path_safe(&engine.redacted(&s, &self.sel));
            self.audit_path = redacted.clone();
            self.out.path = redacted;
            if let Some(m) = self.model.take()
                && let Ok(ms) = engine.scanner.scan(m.as_bytes(), &ScanOptions::default())
            {
                self.model = Some(path_safe(&engine.redacted(&ms, &self.sel)));
            }
        }
        let query = self.out.query.clone();
        if !query.is_empty()
            && let Ok(s) = engine
                .scanner
                .scan(query.as_bytes(), &ScanOptions::default())
            && self.judge(
                Direction::Request,
                "query",
                s.findings().cloned(),
                Action::Block,
            ) == Action::Redact
        {
            // a replacement may bring quotes (a value inside JSON-looking text is masked as a
            // JSON string): what is not safe in a query is percent-encoded
            self.out.query = query_safe(&engine.redacted(&s, &self.sel));
        }
    }

    /// Scans the UTF-16 readings of a body dense in NUL bytes (both byte orders, both
    /// alignments) and records what they hold, each finding raised to block because it cannot
    /// be rewritten in place; returns the strongest action policy gives them.
    fn judge_wide_text(&mut self, engine: &Engine, text: &[u8]) -> Action {
        let nuls = memchr::memchr_iter(0, text).count();
        if nuls < 8 || nuls * 16 < text.len() {
            return Action::Allow;
        }
        let mut worst = Action::Allow;
        for offset in 0..2 {
            for le in [true, false] {
                let units: Vec<u16> = text
                    .get(offset..)
                    .unwrap_or_default()
                    .chunks_exact(2)
                    .map(|c| {
                        if le {
                            u16::from_le_bytes([c[0], c[1]])
                        } else {
                            u16::from_be_bytes([c[0], c[1]])
                        }
                    })
                    .collect();
                let wide = String::from_utf16_lossy(&units);
                let Ok(s) = engine
                    .scanner
                    .scan(wide.as_bytes(), &ScanOptions::default())
                else {
                    continue;
                };
                if s.found.is_empty() {
                    continue;
                }
                let before = self.findings.len();
                let w = self.judge(
                    Direction::Request,
                    "body:utf-16",
                    s.findings().cloned(),
                    Action::Block,
                );
                if w >= Action::Redact {
                    for f in &mut self.findings[before..] {
                        if f.action >= Action::Redact {
                            f.action = Action::Block;
                        }
                    }
                }
                worst = worst.max(w);
            }
        }
        worst
    }

    /// admit, first half: the limits the policies reference and what the request may use
    /// (token estimate from the parsed body, priced); a request over a per-request token cap
    /// is refused here.
    pub fn admission(&mut self, engine: &Engine) -> Admission {
        let limits = self.sel.limits();
        if limits.is_empty() {
            return Admission::Free;
        }
        let pid = self.provider().map_or("api", |p| p.id());
        if self.json.is_none() && !self.body.is_empty() {
            self.json = serde_json::from_slice(&self.body).ok();
        }
        let body = self.json.as_ref();
        let input = body.map_or(0, |b| tokens::estimate_input(pid, self.model.as_deref(), b));
        let output = body
            .and_then(|b| tokens::requested_output(pid, b))
            .unwrap_or(0);
        let expect = engine.priced(pid, self.model.as_deref(), input, output);
        if let Some((name, max)) = limits.iter().find_map(|l| {
            l.max_tokens_per_request
                .filter(|&m| input + output > m)
                .map(|m| (l.name.clone(), m))
        }) {
            self.decided_by = Some(format!("limit/{name}"));
            return Admission::Refuse(self.refuse(
                Outcome::MaxTokensPerRequest,
                Action::Block,
                400,
                Code::MaxTokens,
                format!(
                    "the request may use {} tokens (about {input} in, up to {output} out); limit {name} allows {max} per request",
                    input + output
                ),
            ));
        }
        self.limits = Some(LimitState {
            ticket: rampart_limits::Ticket::default(),
            expect,
            headers: None,
        });
        Admission::Check(rampart_limits::plan(
            limits,
            &self.meta,
            expect,
            self.id.clone(),
        ))
    }

    /// admit, second half: the limiter's answer to the plan. A refusal answers 429 in the
    /// provider's shape with `Retry-After` and the rate-limit headers.
    pub fn admitted(
        &mut self,
        plan: &Plan,
        answer: Result<rampart_limits::Outcome, rampart_limits::BackendError>,
    ) -> Result<(), Refusal> {
        match answer {
            Ok(rampart_limits::Outcome::Admitted { ticket, remaining }) => {
                if let Some(l) = &mut self.limits {
                    l.ticket = ticket;
                    l.headers = rampart_limits::headers(plan, &remaining);
                }
                Ok(())
            }
            Ok(rampart_limits::Outcome::Denied(d)) => {
                // nothing was admitted: nothing to settle
                self.limits = None;
                let (i, check) = &plan.checks[d.check];
                let name = &plan.limits[*i].name;
                let what = match check {
                    Check::Rate { .. } => "requests per interval".to_owned(),
                    Check::Concurrency { .. } => "requests in flight".to_owned(),
                    Check::Budget { what, window, .. } => {
                        format!("{} per {}", quantity_name(*what), window_name(*window))
                    }
                };
                self.decided_by = Some(format!("limit/{name}"));
                let retry_s = d.retry_after_ms.div_ceil(1_000).max(1);
                let mut r = self.refuse(
                    Outcome::RateLimited,
                    Action::Block,
                    429,
                    Code::RateLimited,
                    format!("limit {name} ({what}) is reached; retry in {retry_s} s"),
                );
                r.retry_after_s = Some(retry_s);
                r.ratelimit = rampart_limits::headers(
                    plan,
                    &[rampart_limits::Remaining {
                        check: d.check,
                        remaining: 0,
                        reset_ms: d.retry_after_ms,
                    }],
                );
                Err(r)
            }
            Err(e) => {
                self.limits = None;
                self.fault(Fault::Limits);
                self.error = Some(e.to_string());
                Err(self.refuse(
                    Outcome::LimitsUnavailable,
                    Action::Block,
                    503,
                    Code::LimitsUnavailable,
                    "the limits store is unavailable and limited requests are refused until it is back",
                ))
            }
        }
    }

    /// The provider's usage from a parsed answer, and whether it stopped at the maximum
    /// length (a model-extraction signal).
    pub(crate) fn read_usage(&mut self, engine: &Engine, v: &Value) {
        if let Some(p) = self.provider() {
            self.usage = p.usage(v).map(|u| UsageRecord {
                input: u.input,
                output: u.output,
            });
            if rampart_llm::hit_max_length(v) {
                engine
                    .abuse
                    .observe_truncated(&self.identity(), crate::now_ms() as u64);
            }
        }
    }
}

/// The last message (or input) of a generation request, as JSON text: the words the
/// near-duplicate fingerprint reads (the few JSON key words in it are the same in every
/// call).
fn last_message(v: &Value) -> String {
    let last = ["messages", "contents"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_array).and_then(|a| a.last()))
        .or_else(|| v.get("input"));
    last.map(|l| l.to_string()).unwrap_or_default()
}

fn quantity_name(q: rampart_policy::Quantity) -> &'static str {
    match q {
        rampart_policy::Quantity::InputTokens => "input tokens",
        rampart_policy::Quantity::OutputTokens => "output tokens",
        rampart_policy::Quantity::TotalTokens => "tokens",
        rampart_policy::Quantity::SpendMicros => "spend",
    }
}

fn window_name(w: rampart_policy::Window) -> &'static str {
    match w {
        rampart_policy::Window::Minute => "minute",
        rampart_policy::Window::Day => "day",
        rampart_policy::Window::Month => "month",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacted_queries_and_paths_stay_valid_uris() {
        let q = super::query_safe(br#"["[REDACTED:CREDIT_CARD]",1]&a=b c"#);
        assert_eq!(q, "%5B%22%5BREDACTED:CREDIT_CARD%5D%22,1%5D&a=b%20c");
        assert!(http::uri::PathAndQuery::try_from(format!("/x?{q}")).is_ok());
        assert_eq!(super::path_safe(b"/a b/\"c"), "/a%20b/%22c");
    }
}
