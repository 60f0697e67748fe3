//! The response phases: `upstream_failed`, `response_head` (headers inspected, whole or
//! streamed), `response_body` (whole answers) and `stream_ended` (streamed ones).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use rampart_core::{Action, Direction};
use rampart_detect::ScanOptions;
use rampart_llm::Provider;
use serde_json::Value;
use std::sync::Arc;

use crate::engine::{Engine, HOP_BY_HOP};
use crate::event::{Outcome, UsageRecord};
use crate::exchange::{Exchange, Fault};
use crate::refusal::{Code, Refusal};
use crate::request::{content_encoding, decode_body, redactor, without_bom};
use crate::sse::SseRewriter;
use crate::stream::{Rewrite, TextRewrite, stream_rules};

/// Why the upstream gave no answer.
#[derive(Clone, Debug)]
pub enum UpstreamFailure {
    /// The request could not be built (the message says why).
    BadRequest(String),
    /// The upstream could not be reached (the message says why).
    Unreachable(String),
    /// No answer in time.
    Timeout,
}

/// How the response body is to be handled.
pub enum ResponseBody {
    /// Read it whole and hand it to [`Exchange::response_body`].
    Whole,
    /// Pump it through this rewriter as it arrives, then call [`Exchange::stream_ended`].
    Stream(Box<dyn Rewrite>),
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream ended it (or a block rule did).
    Done,
    /// The upstream went silent longer than the idle timeout.
    Stalled,
    /// The upstream's stream broke (the message says how).
    Broken(String),
    /// The caller went away.
    ClientGone,
}

impl StreamEnd {
    /// What went wrong, for the audit event and the caller's stream error (`None` when
    /// nothing did, or only the caller left).
    pub fn error(&self) -> Option<String> {
        match self {
            StreamEnd::Stalled => Some("the upstream stream stalled".into()),
            StreamEnd::Broken(e) => Some(format!("upstream stream: {e}")),
            StreamEnd::Done | StreamEnd::ClientGone => None,
        }
    }
}

/// Whether a media type is an event stream (any case, parameters allowed).
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.get(..17)
                .is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream"))
        })
}

impl Exchange {
    /// The upstream gave no answer.
    pub fn upstream_failed(&mut self, why: UpstreamFailure) -> Refusal {
        let decision = self.decision;
        match why {
            UpstreamFailure::BadRequest(e) => {
                self.error = Some(e);
                self.refuse(
                    Outcome::BadUpstreamRequest,
                    decision,
                    502,
                    Code::UpstreamError,
                    "the request could not be forwarded",
                )
            }
            UpstreamFailure::Unreachable(e) => {
                self.fault(Fault::Upstream);
                self.error = Some(format!("upstream: {e}"));
                self.refuse(
                    Outcome::UpstreamError,
                    decision,
                    502,
                    Code::UpstreamError,
                    "the upstream could not be reached",
                )
            }
            UpstreamFailure::Timeout => {
                self.fault(Fault::Upstream);
                self.refuse(
                    Outcome::UpstreamTimeout,
                    decision,
                    504,
                    Code::UpstreamTimeout,
                    "the upstream did not answer in time",
                )
            }
        }
    }

    /// response_head: takes the response selection, inspects the headers (`Set-Cookie`
    /// included), adds the rate-limit headers, and says how the body is to be read. Returns
    /// the headers to send.
    pub fn response_head(
        &mut self,
        engine: &Engine,
        upstream: &HeaderMap,
    ) -> (HeaderMap, ResponseBody) {
        let mut headers = HeaderMap::new();
        for (name, value) in upstream.iter() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some((policy, state)) = self.ratelimit_headers().cloned()
            && let (Ok(p), Ok(s)) = (
                HeaderValue::from_str(&policy),
                HeaderValue::from_str(&state),
            )
        {
            headers.insert(HeaderName::from_static("ratelimit-policy"), p);
            headers.insert(HeaderName::from_static("ratelimit"), s);
        }
        self.meta.direction = Some(Direction::Response);
        self.sel = self.policies.select(&self.meta);
        self.inspect_response_headers(engine, &mut headers);
        let encoded = content_encoding(upstream).is_some();
        if is_event_stream(upstream) && !encoded {
            // API routes' event streams: each event's data scanned whole, escapes decoded
            let p: Arc<dyn Provider> = self
                .provider()
                .cloned()
                .unwrap_or_else(|| Arc::new(rampart_llm::generic::GenericJson));
            let rw = SseRewriter::new(p, engine.scanner, stream_rules(&self.sel, &engine.hash_key));
            headers.remove(header::CONTENT_LENGTH);
            return (headers, ResponseBody::Stream(Box::new(rw)));
        }
        // chunked text (no length announced, not JSON, not encoded) flows through the
        // streaming scanner instead of being read whole
        let text_like = upstream
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/") || v.starts_with("application/x-ndjson"));
        if text_like && !encoded && !upstream.contains_key(header::CONTENT_LENGTH) {
            let rw = TextRewrite::new(engine.scanner, stream_rules(&self.sel, &engine.hash_key));
            headers.remove(header::CONTENT_LENGTH);
            return (headers, ResponseBody::Stream(Box::new(rw)));
        }
        (headers, ResponseBody::Whole)
    }

    /// Response headers (`Set-Cookie` included) are scanned like request headers: a value
    /// with a finding policy redacts is redacted, a name with one is dropped, and a header
    /// whose value cannot be rewritten is dropped.
    fn inspect_response_headers(&mut self, engine: &Engine, headers: &mut HeaderMap) {
        if engine.headers_clean(headers.iter()) {
            return;
        }
        let names: Vec<HeaderName> = headers.keys().cloned().collect();
        for name in names {
            if let Ok(n) = engine
                .scanner
                .scan(name.as_str().as_bytes(), &ScanOptions::default())
                && !n.found.is_empty()
                && self.judge(
                    Direction::Response,
                    "header_name",
                    n.findings().cloned(),
                    Action::Redact,
                ) >= Action::Redact
            {
                headers.remove(&name);
                continue;
            }
            let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
            let mut changed = false;
            let mut out = Vec::with_capacity(values.len());
            for value in values {
                let Ok(s) = engine
                    .scanner
                    .scan(value.as_bytes(), &ScanOptions::default())
                else {
                    changed = true;
                    continue;
                };
                if s.found.is_empty() {
                    out.push(value);
                    continue;
                }
                let worst = self.judge(
                    Direction::Response,
                    &format!("header:{name}"),
                    s.findings().cloned(),
                    Action::Redact,
                );
                if worst >= Action::Redact {
                    changed = true;
                    if let Ok(v) = HeaderValue::from_bytes(&engine.redacted(&s, &self.sel)) {
                        out.push(v);
                    }
                } else {
                    out.push(value);
                }
            }
            if changed {
                headers.remove(&name);
                for v in out {
                    headers.append(name.clone(), v);
                }
            }
        }
    }

    /// The whole response body could not be read (too large, too slow, broken).
    pub fn response_unread(&mut self) -> Refusal {
        self.fault(Fault::Upstream);
        self.response_uninspectable(
            "the upstream response was too large, too slow or broken to inspect",
        )
    }

    /// A response that cannot be inspected is refused (what was enforced so far stands).
    fn response_uninspectable(&mut self, why: impl Into<String>) -> Refusal {
        let decision = self.decision;
        self.refuse(
            Outcome::ResponseUninspectable,
            decision,
            502,
            Code::ResponseUninspectable,
            why,
        )
    }

    /// response_body, whole: decodes (a byte-order mark dropped), scans, inspects the
    /// assistant texts for LLM threats, decides, and returns the body to send (rewritten only
    /// where policy redacts). `headers` are those `response_head` returned.
    pub fn response_body(
        &mut self,
        engine: &Engine,
        headers: &mut HeaderMap,
        raw: Bytes,
    ) -> Result<Bytes, Refusal> {
        let decoded = match content_encoding(headers).as_deref() {
            None => None,
            Some(enc) => match decode_body(enc, &raw) {
                Ok(b) => Some(b),
                Err(why) => {
                    self.fault(Fault::Inspection);
                    if self.fail_open() {
                        self.error = Some(why);
                        self.outcome = Outcome::ResponseUninspectedFailOpen;
                        return Ok(raw);
                    }
                    return Err(self.response_uninspectable(why));
                }
            },
        };
        // a byte-order mark is dropped: clients skip it, and what is inspected is what is sent
        let decoded = decoded.map(|d| without_bom(Bytes::from(d)));
        let raw = if decoded.is_none() {
            without_bom(raw)
        } else {
            raw
        };
        self.sample(
            engine,
            decoded.as_ref().unwrap_or(&raw),
            Direction::Response,
        );
        let text: &[u8] = decoded.as_deref().unwrap_or(&raw);
        let json: Option<Value> = match self.provider() {
            Some(_) => serde_json::from_slice::<Value>(text).ok(),
            None => None,
        };
        if let Some(v) = &json {
            self.read_usage(engine, v);
        }
        let Ok(scan) = engine.scanner.scan(text, &ScanOptions::default()) else {
            return Err(self.response_uninspectable(
                "the upstream response could not be decoded for inspection",
            ));
        };
        let body_action = self.judge(
            Direction::Response,
            "body",
            scan.findings().cloned(),
            Action::Block,
        );
        // LLM threats in the answer: unsafe output, system-prompt leaks, hidden text
        let allow = crate::llm::allowlist(&self.sel);
        let canary = self.canary.clone();
        let system = self.system.clone();
        let cx = crate::llm::ResponseContext {
            canary: canary.as_deref(),
            system: system.as_deref(),
            allow: &allow,
        };
        let provider = self.provider().cloned();
        let llm_action = match (&json, &provider) {
            (Some(v), Some(p)) if self.sel.inspects_threats() => {
                let already = &scan.found;
                let threats = crate::llm::inspect_response(
                    &crate::llm::response_parts(p.as_ref(), v),
                    text,
                    &cx,
                    already,
                    &engine.hash_key,
                );
                self.judge_threats(Direction::Response, threats, Action::Block)
            }
            _ => Action::Allow,
        };
        let rdecision = self.decide(Direction::Response).action;
        if rdecision == Action::Block {
            return Err(self.refuse(
                Outcome::Blocked,
                Action::Block,
                502,
                Code::Blocked,
                "the response was blocked by policy",
            ));
        }
        self.raise(rdecision);
        let rewrite_llm = llm_action == Action::Redact && json.is_some();
        if body_action != Action::Redact && !rewrite_llm {
            return Ok(raw);
        }
        if self.outcome == Outcome::Clean {
            self.outcome = Outcome::Redacted;
        }
        headers.remove(header::CONTENT_ENCODING);
        let mut out = if body_action == Action::Redact {
            engine.redacted(&scan, &self.sel)
        } else {
            text.to_vec()
        };
        if rewrite_llm {
            // the parsed answer is reused unless the bytes changed under it
            let view = if body_action == Action::Redact {
                serde_json::from_slice::<Value>(&out).ok()
            } else {
                json
            };
            if let Some(mut v) = view
                && let Some(p) = &provider
            {
                let changed = crate::llm::rewrite(
                    p.as_ref(),
                    &mut v,
                    Some(&cx),
                    rampart_llm::Operation::Generation,
                    &self.sel,
                    &mut redactor(&self.sel, &engine.hash_key),
                    &engine.hash_key,
                );
                if changed && let Ok(bytes) = serde_json::to_vec(&v) {
                    out = bytes;
                }
            }
        }
        Ok(Bytes::from(out))
    }

    /// A streamed response ended: records what the rewriter found (a block rule ends a stream
    /// only where the rewriter can end it in the stream's own shape; elsewhere the value was
    /// redacted and the stream went on), the usage, the released text, and how it ended.
    pub fn stream_ended(&mut self, engine: &Engine, rewrite: &dyn Rewrite, end: StreamEnd) {
        let blocked = rewrite.blocked();
        let cap = if blocked {
            Action::Block
        } else {
            Action::Redact
        };
        self.judge(Direction::Response, "stream", rewrite.findings(), cap);
        // what was done cannot exceed what the stream allowed (text already sent stays)
        let rdecision = self.decide(Direction::Response).action.min(cap);
        if blocked {
            self.outcome = Outcome::Blocked;
        } else if rdecision == Action::Redact && self.outcome == Outcome::Clean {
            self.outcome = Outcome::Redacted;
        }
        self.raise(rdecision);
        self.usage = rewrite.usage().map(|u| UsageRecord {
            input: u.input,
            output: u.output,
        });
        self.streamed_chars = rewrite.text_chars();
        if rewrite.truncated() {
            engine
                .abuse
                .observe_truncated(&self.identity(), crate::now_ms() as u64);
        }
        if let Some(e) = end.error() {
            self.fault(Fault::Upstream);
            self.error = Some(e);
        } else if end == StreamEnd::ClientGone {
            self.client_gone();
        }
    }
}
