//! The exchange pipeline: one request in, one decision, one audit event.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rampart_core::{Action, DataClass, Direction, Finding, Strategy};
use rampart_detect::decode::compress::{self, Compression};
use rampart_detect::{Redactor, Scan, ScanOptions};
use rampart_limits::abuse::CallKind;
use rampart_limits::{Check, Outcome, Usage, tokens};
use rampart_llm::Provider;
use rampart_policy::{EgressVerdict, Exchange, FailMode, PolicySet, Selection};
use serde_json::{Value, json};

use crate::Gateway;
use crate::audit::{AuditEvent, AuditFinding, Caller, LimitsRecord, UsageRecord};
use crate::body::{ChannelBody, GatewayBody, full};
use crate::metrics::{ExchangeLabels, FindingLabels};
use crate::sse::{SseRewriter, StreamRules};

/// Headers that carry the caller's credentials for the upstream: passed through, never
/// scanned, never logged.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
];

/// The UTF-8 byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Hop-by-hop headers, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-authorization",
    "proxy-authenticate",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Where a request goes.
enum Route {
    /// A provider, at a base URL.
    Provider(Arc<dyn Provider>, String),
    /// An API route (or the forward proxy, named `egress`), at a base URL.
    Api { name: String, base: String },
}

/// The record of an exchange, filled phase by phase and written in `finish`.
struct Record {
    id: String,
    started: Instant,
    ts_ms: u128,
    provider: String,
    model: Option<String>,
    method: String,
    path: String,
    caller: Caller,
    findings: Vec<AuditFinding>,
    reason: String,
    error: Option<String>,
    usage: Option<UsageRecord>,
    /// The policy set the exchange took at its start (kept to its end, reloads or not).
    policies: Arc<PolicySet>,
    /// What policies select the exchange by.
    ex: Exchange,
    /// What monitor-mode policies would have made the decision.
    would: Action,
    decided_by: Option<String>,
    /// What the limits admitted, to settle at the end.
    limits: Option<LimitState>,
    /// Characters of streamed text released, to count output when the provider reports none.
    streamed_chars: usize,
    /// The canary token inserted into the system prompt, if policy asked for one.
    canary: Option<String>,
    /// The request's system prompt, to recognise it in responses.
    system: Option<String>,
}

/// An admitted exchange's hold on its limits.
struct LimitState {
    ticket: rampart_limits::Ticket,
    expect: Usage,
    headers: Option<(String, String)>,
}

impl Record {
    /// Records findings seen at `location`, each with the action `sel` gives it (at most
    /// `cap`); returns the strongest enforced action.
    fn judge(
        &mut self,
        sel: &Selection,
        direction: Direction,
        location: &str,
        findings: impl IntoIterator<Item = Finding>,
        cap: Action,
    ) -> Action {
        let mut worst = Action::Allow;
        for finding in findings {
            let v = sel.verdict(&finding);
            // LLM threat scores under every threshold are not findings
            if finding.class.is_threat() && v.enforced.origin.is_none() && v.would.origin.is_none()
            {
                continue;
            }
            let action = v.enforced.action.min(cap);
            worst = worst.max(action);
            self.would = self.would.max(v.would.action);
            self.findings.push(AuditFinding {
                direction,
                location: location.to_owned(),
                action,
                would: (v.would.action != action).then_some(v.would.action),
                rule: v.enforced.origin.map(|o| sel.origin_name(o)),
                finding,
                evidence: Vec::new(),
            });
        }
        worst
    }

    /// Records LLM threat findings, each at its JSON pointer, with its evidence; returns the
    /// strongest enforced action.
    fn judge_threats(
        &mut self,
        sel: &Selection,
        direction: Direction,
        threats: Vec<crate::llm::Located>,
        cap: Action,
    ) -> Action {
        let mut worst = Action::Allow;
        for (pointer, t) in threats {
            let before = self.findings.len();
            worst =
                worst.max(self.judge(sel, direction, &format!("body:{pointer}"), [t.finding], cap));
            if let Some(f) = self.findings.get_mut(before) {
                f.evidence = t.evidence;
            }
        }
        worst
    }

    /// The findings recorded so far in `direction`.
    fn found(&self, direction: Direction) -> Vec<Finding> {
        self.findings
            .iter()
            .filter(|f| f.direction == direction)
            .map(|f| f.finding.clone())
            .collect()
    }

    /// Takes the exchange-level decision (conditions included) for `direction`.
    fn decide(&mut self, sel: &Selection, direction: Direction) -> rampart_policy::Decision {
        // the selection knows its direction; the exchange's metadata is the same both ways
        let d = sel.decide(&self.ex, &self.found(direction));
        self.would = self.would.max(d.would);
        if !d.decided_by.is_empty() && d.action >= Action::Redact {
            self.decided_by = Some(d.decided_by.clone());
        }
        d
    }
}

/// The host of a base URL checked at start-up (`https://api.openai.com:443/v1` ->
/// `api.openai.com`), without parsing it again per request.
fn host_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Who abuse signals are kept for: the caller's key id, else its address.
fn identity(ex: &Exchange) -> String {
    ex.caller
        .key_id
        .clone()
        .or_else(|| ex.caller.ip.map(|ip| ip.to_string()))
        .unwrap_or_default()
}

/// The credential the caller presented (bearer token or API-key header), if any.
fn credential(headers: &HeaderMap) -> Option<&[u8]> {
    let v = CREDENTIAL_HEADERS
        .iter()
        .filter_map(|h| headers.get(*h))
        .next()?
        .as_bytes();
    Some(v.strip_prefix(b"Bearer ").unwrap_or(v))
}

/// `bytes` made safe for a URI path: every byte outside the unreserved set, `/`, `:` and
/// `@` is percent-encoded.
fn path_safe(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/:@%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A redactor that replaces what `sel` redacts and keeps the rest.
pub(crate) fn redactor(sel: &Selection, key: &rampart_detect::HashKey) -> Redactor {
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

impl Gateway {
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        if req.method() == http::Method::CONNECT {
            return self.connect(req, peer).await;
        }
        // request_head: route, caller, the policies that apply
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        // HTTP/1 forward-proxy requests name their destination (`GET http://host/path`); HTTP/2
        // requests always carry scheme and authority, and are for the gateway itself
        let origin = match (parts.version, parts.uri.scheme_str(), parts.uri.authority()) {
            (v, Some(scheme), Some(authority)) if v < http::Version::HTTP_2 => Some((
                format!("{scheme}://{authority}"),
                authority.host().to_owned(),
            )),
            _ => None,
        };
        if let Some((_, host)) = &origin
            && let Err(why) = self.proxy_destination(host, None).await
        {
            let rec = self.new_record(
                "egress",
                parts.method.as_str(),
                &path,
                self.policies.current(),
                Exchange::default(),
                "forward_proxy_refused",
            );
            return self.finish(
                rec,
                Action::Block,
                problem(StatusCode::FORBIDDEN, why.0, &why.1),
            );
        }
        let route = match &origin {
            Some((base, _)) => Some(match self.providers.iter().find(|p| p.matches(&path)) {
                Some(p) => Route::Provider(p.clone(), base.clone()),
                None => Route::Api {
                    name: "egress".into(),
                    base: base.clone(),
                },
            }),
            None => self.route(&path),
        };
        let (provider_id, route_name) = match &route {
            Some(Route::Provider(p, _)) => (p.id(), p.id().to_owned()),
            Some(Route::Api { name, .. }) => ("api", name.clone()),
            None => ("none", String::new()),
        };
        let destination = match (&origin, &route) {
            (Some((_, host)), _) => Some(host.clone()),
            (None, Some(Route::Provider(_, base) | Route::Api { base, .. })) => {
                Some(host_of(base).to_owned())
            }
            _ => None,
        };
        let host = parts.uri.host().map(str::to_owned).or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned())
        });
        let caller = self.callers.identify(
            peer.ip(),
            credential(&parts.headers),
            &self.hash_key,
            self.key_id(&parts.headers),
        );
        let ex = Exchange {
            direction: Some(Direction::Request),
            route: (!route_name.is_empty()).then_some(route_name),
            host,
            path: path.clone(),
            method: parts.method.as_str().to_owned(),
            provider: match &route {
                Some(Route::Provider(p, _)) => Some(p.id().to_owned()),
                _ => None,
            },
            model: None,
            caller,
            destination,
            signals: Vec::new(),
        };
        let policies = self.policies.current();
        let sel = policies.select(&ex);
        let mut rec = self.new_record(
            provider_id,
            parts.method.as_str(),
            &path,
            policies.clone(),
            ex,
            "clean",
        );
        let provider = match &route {
            Some(Route::Provider(p, _)) => Some(p.clone()),
            _ => None,
        };
        if let Some(dest) = rec.ex.destination.clone() {
            match sel.egress(&dest) {
                (EgressVerdict::Block, origin) => {
                    rec.reason = "egress_denied".into();
                    rec.decided_by = origin.map(|o| sel.origin_name(o));
                    let resp = self.refuse(
                        provider.as_deref(),
                        StatusCode::FORBIDDEN,
                        "rampart_egress_denied",
                        &format!("egress to {dest} is not allowed by policy"),
                    );
                    return self.finish(rec, Action::Block, resp);
                }
                (EgressVerdict::Flag, origin) => {
                    rec.reason = if rampart_llm::is_ai_host(&dest) {
                        "shadow_ai".into()
                    } else {
                        "egress_unlisted".into()
                    };
                    rec.decided_by = origin.map(|o| sel.origin_name(o));
                    rec.would = rec.would.max(Action::Monitor);
                }
                (EgressVerdict::Allow, _) => {}
            }
        }
        let Some(route) = route else {
            rec.reason = "no_route".into();
            let resp = problem(
                StatusCode::NOT_FOUND,
                "no_route",
                "no provider or API route matches this path; configure `routes` or use a provider path such as /v1/chat/completions",
            );
            return self.finish(rec, Action::Allow, resp);
        };
        let limits = &self.config.limits;
        let fail_open = sel.fail() == FailMode::Open;

        // request_body: read within limits; with fail-open, bodies over the inspection limit
        // are still read (up to `max_uninspected_body`) to be forwarded uninspected
        let cap = if fail_open {
            limits.max_uninspected_body.max(limits.max_request_body)
        } else {
            limits.max_request_body
        };
        let read = tokio::time::timeout(
            Duration::from_millis(limits.request_body_timeout_ms),
            Limited::new(body, cap).collect(),
        )
        .await;
        let raw: Bytes = match read {
            Err(_) => {
                self.metrics.error("downstream");
                rec.reason = "request_timeout".into();
                return self.end_refused(
                    rec,
                    Action::Block,
                    provider.as_deref(),
                    StatusCode::REQUEST_TIMEOUT,
                    "rampart_request_timeout",
                    "the request body did not arrive in time",
                );
            }
            Ok(Err(e)) => {
                let too_large = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                self.metrics.error("downstream");
                rec.reason = if too_large {
                    "request_too_large"
                } else {
                    "request_read_error"
                }
                .into();
                let resp = if too_large {
                    self.refuse(
                        provider.as_deref(),
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "rampart_request_too_large",
                        &format!(
                            "the request body is larger than the inspection limit of {} bytes",
                            limits.max_request_body
                        ),
                    )
                } else {
                    self.refuse(
                        provider.as_deref(),
                        StatusCode::BAD_REQUEST,
                        "rampart_bad_request",
                        "the request body could not be read",
                    )
                };
                return self.finish(rec, Action::Block, resp);
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        if raw.len() > limits.max_request_body {
            // only reachable with fail-open
            self.metrics.error("inspection");
            rec.reason = "uninspected_too_large_fail_open".into();
            rec.error = Some(format!(
                "the body ({} bytes) is larger than the inspection limit ({} bytes)",
                raw.len(),
                limits.max_request_body
            ));
            return self
                .forward(rec, route, provider, parts, query, raw, Action::Monitor)
                .await;
        }

        // decode the body for inspection
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let decoded: Option<Vec<u8>> = match encoding.as_deref() {
            None | Some("" | "identity") => None,
            Some(enc) => match decode_body(enc, &raw) {
                Ok(bytes) => Some(bytes),
                Err(why) => {
                    self.metrics.error("inspection");
                    if fail_open {
                        rec.reason = "uninspected_fail_open".into();
                        rec.error = Some(why);
                        return self
                            .forward(rec, route, provider, parts, query, raw, Action::Monitor)
                            .await;
                    }
                    rec.reason = "uninspectable_body".into();
                    return self.end_refused(
                        rec,
                        Action::Block,
                        provider.as_deref(),
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "rampart_uninspectable",
                        &why,
                    );
                }
            },
        };
        // a UTF-8 byte-order mark is dropped: receivers skip it, and the body forwarded is
        // the one inspected
        let decoded = match decoded {
            Some(d) if d.starts_with(UTF8_BOM) => Some(d[UTF8_BOM.len()..].to_vec()),
            None if raw.starts_with(UTF8_BOM) => Some(raw[UTF8_BOM.len()..].to_vec()),
            other => other,
        };
        let text: &[u8] = decoded.as_deref().unwrap_or(&raw);
        let t0 = Instant::now();
        let scan = match self.scanner.scan(text, &ScanOptions::default()) {
            Ok(scan) => scan,
            Err(e) => {
                self.metrics.error("inspection");
                rec.reason = "uninspectable_body".into();
                return self.end_refused(
                    rec,
                    Action::Block,
                    provider.as_deref(),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "rampart_uninspectable",
                    &e.to_string(),
                );
            }
        };
        // what the adapters and the limits read; the rest is validated and skipped
        let head = request_head(text);
        let json: Option<Value> = head.as_ref().map(|h| h.fields.clone());
        // a provider call whose JSON does not parse cannot be inspected as the provider would
        // read it
        let declared_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.contains("json"));
        if provider.is_some() && json.is_none() && !text.is_empty() && declared_json {
            self.metrics.error("inspection");
            if fail_open {
                rec.reason = "malformed_json_fail_open".into();
            } else {
                rec.reason = "malformed_json".into();
                return self.end_refused(
                    rec,
                    Action::Block,
                    provider.as_deref(),
                    StatusCode::BAD_REQUEST,
                    "rampart_malformed_json",
                    "the request body is not valid JSON",
                );
            }
        }
        if let (Some(p), Some(j)) = (&provider, &json) {
            rec.model = p.model(&path, j);
        } else if let Some(p) = &provider {
            rec.model = p.model(&path, &Value::Null);
        }
        let streaming = provider
            .as_ref()
            .is_some_and(|p| p.streaming(&path, &query, json.as_ref().unwrap_or(&Value::Null)));
        // abuse and model-extraction signals of this caller (per replica)
        let kind = match &provider {
            Some(_) if path.contains("embed") => CallKind::Embedding,
            Some(_) => CallKind::Generation,
            None => CallKind::Other,
        };
        // the last message as written: its words are what the fingerprint reads (the few JSON
        // key words in it are the same in every call)
        let prompt = match (&head, kind) {
            (Some(h), CallKind::Generation) => h.last.map_or("", |raw| raw.get()),
            _ => "",
        };
        let signals =
            self.abuse
                .observe_request(&identity(&rec.ex), kind, prompt, crate::now_ms() as u64);
        rec.ex.signals = signals.iter().map(|s| (*s).to_owned()).collect();
        // with the model known and the signals raised, model and signal selectors can match
        let sel = if policies.reads_model_or_signals()
            && (rec.model.is_some() || !rec.ex.signals.is_empty())
        {
            rec.ex.model = rec.model.clone();
            policies.select(&rec.ex)
        } else {
            sel
        };

        // decide: body, headers, query; canary tokens and output markup are about responses
        let body_action = rec.judge(
            &sel,
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
        let wide_block = self.judge_wide_text(&mut rec, &sel, text) >= Action::Redact;
        // LLM threats in what the model reads: user messages, tool results, documents, uploads
        let inspect_llm = sel.inspects_threats();
        let full: Option<Value> = match &provider {
            Some(_) if inspect_llm && !text.is_empty() => serde_json::from_slice(text).ok(),
            _ => None,
        };
        let texts = match &full {
            Some(v) => crate::llm::request_parts(&path, v),
            None if inspect_llm
                && provider.is_some()
                && crate::llm::is_upload(&path)
                && !text.is_empty() =>
            {
                vec![crate::llm::Part {
                    role: crate::llm::Role::Upload,
                    pointer: String::new(),
                    text: String::from_utf8_lossy(text).into_owned(),
                }]
            }
            None => Vec::new(),
        };
        let threats = crate::llm::inspect_request(&texts, text, &self.hash_key);
        let llm_action = rec.judge_threats(&sel, Direction::Request, threats, Action::Block);
        rec.system = crate::llm::system_prompt(&texts);
        let canary_on = sel.canary() && full.is_some();
        let mut headers = parts.headers.clone();
        let mut redacted_uri: Option<http::Uri> = None;
        // one scan over every inspected header value; each header again only if it holds
        // something
        let headers_clean = self.headers_clean(parts.headers.iter().filter(|(name, _)| {
            !CREDENTIAL_HEADERS.contains(&name.as_str()) && !HOP_BY_HOP.contains(&name.as_str())
        }));
        for (name, value) in parts.headers.iter().filter(|_| !headers_clean) {
            // credentials pass through; hop-by-hop headers are not forwarded at all
            if CREDENTIAL_HEADERS.contains(&name.as_str()) || HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            // a name that carries a finding takes its header out of what is forwarded
            if let Ok(n) = self
                .scanner
                .scan(name.as_str().as_bytes(), &ScanOptions::default())
                && !n.found.is_empty()
            {
                let worst = rec.judge(
                    &sel,
                    Direction::Request,
                    "header_name",
                    n.findings().cloned(),
                    Action::Block,
                );
                if worst >= Action::Redact {
                    headers.remove(name);
                    continue;
                }
            }
            let Ok(s) = self.scanner.scan(value.as_bytes(), &ScanOptions::default()) else {
                continue;
            };
            if s.found.is_empty() {
                continue;
            }
            let worst = rec.judge(
                &sel,
                Direction::Request,
                &format!("header:{name}"),
                s.findings().cloned(),
                Action::Block,
            );
            if worst == Action::Redact {
                let replaced = self.redacted(&s, &sel);
                if let Ok(v) = HeaderValue::from_bytes(&replaced) {
                    headers.insert(name.clone(), v);
                }
            }
        }
        // the path: a value in a segment is redacted there (or blocks the request), and the
        // audit event keeps the redacted path and model only
        if let Ok(s) = self.scanner.scan(path.as_bytes(), &ScanOptions::default())
            && !s.found.is_empty()
        {
            let worst = rec.judge(
                &sel,
                Direction::Request,
                "path",
                s.findings().cloned(),
                Action::Block,
            );
            if worst >= Action::Redact {
                let redacted = path_safe(&self.redacted(&s, &sel));
                rec.path = redacted.clone();
                if let Some(m) = rec.model.take()
                    && let Ok(ms) = self.scanner.scan(m.as_bytes(), &ScanOptions::default())
                {
                    rec.model = Some(path_safe(&self.redacted(&ms, &sel)));
                }
                if let Ok(pq) = http::uri::PathAndQuery::try_from(redacted.as_str()) {
                    let mut uri = parts.uri.clone().into_parts();
                    uri.path_and_query = Some(pq);
                    if let Ok(u) = http::Uri::from_parts(uri) {
                        redacted_uri = Some(u);
                    }
                }
            }
        }
        let mut query = query;
        if !query.is_empty()
            && let Ok(s) = self.scanner.scan(query.as_bytes(), &ScanOptions::default())
        {
            let worst = rec.judge(
                &sel,
                Direction::Request,
                "query",
                s.findings().cloned(),
                Action::Block,
            );
            if worst == Action::Redact {
                // replacements are ASCII without spaces or quotes: safe in a query string
                query = String::from_utf8_lossy(&self.redacted(&s, &sel)).into_owned();
            }
        }
        // the exchange's decision: every finding's verdict, the flow setting, the conditions
        let d = rec.decide(&sel, Direction::Request);
        // a body that is not JSON (a multipart upload) cannot be rewritten: what policy would
        // redact in it blocks it instead
        let decision = if wide_block {
            Action::Block
        } else if llm_action == Action::Redact && full.is_none() {
            for f in rec.findings.iter_mut().filter(|f| {
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
        self.metrics
            .inspect_seconds
            .observe(t0.elapsed().as_secs_f64());

        if decision == Action::Block {
            let worst = rec
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
            rec.reason = "rampart_blocked".into();
            return self.end_refused(
                rec,
                Action::Block,
                provider.as_deref(),
                StatusCode::FORBIDDEN,
                "rampart_blocked",
                &format!("request blocked by policy: {worst}"),
            );
        } else if decision == Action::Redact {
            rec.reason = "redacted".into();
        }

        // limits: admitted (and budgets reserved) before anything goes upstream
        let rec = match self.limit(rec, &sel, provider.as_deref(), text).await {
            Ok(rec) => rec,
            Err(refused) => return refused,
        };

        // the body to forward: personal data redacted in place, then what policy redacts of
        // the LLM threats and the canary, on the parsed body
        let mut rec = rec;
        let mut parts = parts;
        parts.headers = headers;
        if let Some(u) = redacted_uri {
            parts.uri = u;
        }
        let rewrite_llm = llm_action == Action::Redact && full.is_some();
        let (forward_body, rewritten) = if redact_body || rewrite_llm || canary_on {
            let mut out = Vec::with_capacity(text.len());
            if redact_body {
                scan.redact(&mut redactor(&sel, &self.hash_key), &mut out);
            } else {
                out.extend_from_slice(text);
            }
            if (rewrite_llm || canary_on)
                && let Ok(mut v) = serde_json::from_slice::<Value>(&out)
            {
                let mut changed = false;
                if rewrite_llm {
                    changed |= crate::llm::rewrite(
                        &mut v,
                        None,
                        &path,
                        &sel,
                        &mut redactor(&sel, &self.hash_key),
                        &self.hash_key,
                    );
                }
                if canary_on && let Some(p) = &provider {
                    let token = rampart_threat::canary::token();
                    if crate::llm::insert_canary(p.id(), &path, &mut v, &token).is_some() {
                        rec.canary = Some(token);
                        changed = true;
                    }
                }
                if changed && let Ok(bytes) = serde_json::to_vec(&v) {
                    out = bytes;
                }
            }
            (Bytes::from(out), true)
        } else if decoded.is_some()
            && encoding
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "identity")
        {
            // only a byte-order mark was dropped
            (Bytes::copy_from_slice(text), false)
        } else {
            (raw, false)
        };
        if rewritten && decoded.is_some() {
            parts.headers.remove(header::CONTENT_ENCODING);
        }
        tracing::debug!(id = %rec.id, streaming, "forwarding");
        self.forward(rec, route, provider, parts, query, forward_body, decision)
            .await
    }

    /// Admits the exchange under the limits its policies reference: requests per interval,
    /// concurrency, token and spend budgets (reserving the estimate), max tokens per request.
    /// A refusal answers 429 in the provider's shape with `Retry-After` and the ratelimit
    /// headers.
    async fn limit(
        &self,
        mut rec: Record,
        sel: &Selection,
        provider: Option<&dyn Provider>,
        text: &[u8],
    ) -> Result<Record, Response<GatewayBody>> {
        let limits = sel.limits();
        if limits.is_empty() {
            return Ok(rec);
        }
        // the whole body, for the token estimate (only when limits apply)
        let parsed: Option<Value> = serde_json::from_slice(text).ok();
        let body = parsed.as_ref();
        let pid = provider.map_or("api", |p| p.id());
        let input = body.map_or(0, |b| tokens::estimate_input(pid, rec.model.as_deref(), b));
        let output = body
            .and_then(|b| tokens::requested_output(pid, b))
            .unwrap_or(0);
        let expect = self.priced(pid, rec.model.as_deref(), input, output);
        if let Some((name, max)) = limits.iter().find_map(|l| {
            l.max_tokens_per_request
                .filter(|&m| input + output > m)
                .map(|m| (l.name.clone(), m))
        }) {
            rec.reason = "max_tokens_per_request".into();
            rec.decided_by = Some(format!("limit/{name}"));
            self.metrics.limit("refused");
            return Err(self.end_refused(
                rec,
                Action::Block,
                provider,
                StatusCode::BAD_REQUEST,
                "rampart_max_tokens",
                &format!(
                    "the request may use {} tokens (about {input} in, up to {output} out); limit {name} allows {max} per request",
                    input + output
                ),
            ));
        }
        let plan = rampart_limits::plan(limits, &rec.ex, expect, rec.id.clone());
        match self.limiter.admit(&plan).await {
            Ok(Outcome::Admitted { ticket, remaining }) => {
                self.metrics.limit("admitted");
                rec.limits = Some(LimitState {
                    ticket,
                    expect,
                    headers: rampart_limits::headers(&plan, &remaining),
                });
                Ok(rec)
            }
            Ok(Outcome::Denied(d)) => {
                self.metrics.limit("refused");
                let (i, check) = &plan.checks[d.check];
                let name = &plan.limits[*i].name;
                let what = match check {
                    Check::Rate { .. } => "requests per interval".to_owned(),
                    Check::Concurrency { .. } => "requests in flight".to_owned(),
                    Check::Budget { what, window, .. } => {
                        format!("{} per {}", quantity_name(*what), window_name(*window))
                    }
                };
                rec.reason = "rate_limited".into();
                rec.decided_by = Some(format!("limit/{name}"));
                let retry_s = d.retry_after_ms.div_ceil(1_000).max(1);
                let mut resp = self.refuse(
                    provider,
                    StatusCode::TOO_MANY_REQUESTS,
                    "rampart_rate_limited",
                    &format!("limit {name} ({what}) is reached; retry in {retry_s} s"),
                );
                let h = resp.headers_mut();
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_s));
                if let Some((policy, state)) = rampart_limits::headers(
                    &plan,
                    &[rampart_limits::Remaining {
                        check: d.check,
                        remaining: 0,
                        reset_ms: d.retry_after_ms,
                    }],
                ) {
                    insert_ratelimit(h, &policy, &state);
                }
                Err(self.finish(rec, Action::Block, resp))
            }
            Err(e) => {
                self.metrics.limit("unavailable");
                self.metrics.error("limits");
                rec.reason = "limits_unavailable".into();
                rec.error = Some(e.to_string());
                Err(self.end_refused(
                    rec,
                    Action::Block,
                    provider,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rampart_limits_unavailable",
                    "the limits store is unavailable and limited requests are refused until it is back",
                ))
            }
        }
    }

    /// upstream, response_head, response_body, finish.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        self: Arc<Self>,
        mut rec: Record,
        route: Route,
        provider: Option<Arc<dyn Provider>>,
        parts: http::request::Parts,
        query: String,
        body: Bytes,
        decision: Action,
    ) -> Response<GatewayBody> {
        let base = match &route {
            Route::Provider(_, base) | Route::Api { base, .. } => base.clone(),
        };
        let uri = if query.is_empty() {
            format!("{base}{}", parts.uri.path())
        } else {
            format!("{base}{}?{query}", parts.uri.path())
        };
        let mut req = Request::builder().method(parts.method.clone()).uri(&uri);
        let injected = provider.as_ref().and_then(|p| self.keys.get(p.id()));
        for (name, value) in parts.headers.iter() {
            let replaced = injected.is_some() && CREDENTIAL_HEADERS.contains(&name.as_str());
            if !HOP_BY_HOP.contains(&name.as_str()) && !replaced {
                req = req.header(name, value);
            }
        }
        if let Some((name, value)) = injected {
            req = req.header(name, value);
        }
        req = req.header(header::CONTENT_LENGTH, body.len());
        let req = match req.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                rec.error = Some(e.to_string());
                rec.reason = "bad_upstream_request".into();
                return self.end_refused(
                    rec,
                    decision,
                    provider.as_deref(),
                    StatusCode::BAD_GATEWAY,
                    "rampart_upstream_error",
                    "the request could not be forwarded",
                );
            }
        };
        let limits = &self.config.limits;
        let upstream = tokio::time::timeout(
            Duration::from_millis(limits.upstream_timeout_ms),
            self.client.request(req),
        )
        .await;
        let resp = match upstream {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                self.metrics.error("upstream");
                rec.error = Some(format!("upstream: {e}"));
                rec.reason = "upstream_error".into();
                return self.end_refused(
                    rec,
                    decision,
                    provider.as_deref(),
                    StatusCode::BAD_GATEWAY,
                    "rampart_upstream_error",
                    "the upstream could not be reached",
                );
            }
            Err(_) => {
                self.metrics.error("upstream");
                rec.reason = "upstream_timeout".into();
                return self.end_refused(
                    rec,
                    decision,
                    provider.as_deref(),
                    StatusCode::GATEWAY_TIMEOUT,
                    "rampart_upstream_timeout",
                    "the upstream did not answer in time",
                );
            }
        };

        // response_head
        let (rparts, rbody) = resp.into_parts();
        let mut headers = HeaderMap::new();
        for (name, value) in rparts.headers.iter() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some((policy, state)) = rec.limits.as_ref().and_then(|l| l.headers.as_ref()) {
            insert_ratelimit(&mut headers, policy, state);
        }
        let is_sse = rparts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.get(..17)
                    .is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream"))
            });
        let encoding = rparts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity");
        let mut rex = rec.ex.clone();
        rex.direction = Some(Direction::Response);
        let rsel = rec.policies.select(&rex);
        self.inspect_response_headers(&mut rec, &rsel, &mut headers);

        if is_sse && encoding.is_none() {
            // API routes' event streams: each event's data scanned whole, escapes decoded
            let p = provider
                .clone()
                .unwrap_or_else(|| Arc::new(rampart_llm::generic::GenericJson));
            return self.stream_response(rec, rsel, p, rparts.status, headers, rbody, decision);
        }
        // chunked text (no length announced, not JSON, not encoded) flows through the
        // streaming scanner instead of being read whole
        let text_like = rparts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/") || v.starts_with("application/x-ndjson"));
        if text_like && encoding.is_none() && !rparts.headers.contains_key(header::CONTENT_LENGTH) {
            return self.stream_text(rec, rsel, rparts.status, headers, rbody, decision);
        }

        // response_body, whole
        let read = tokio::time::timeout(
            Duration::from_millis(limits.response_body_timeout_ms),
            Limited::new(rbody, limits.max_response_body).collect(),
        )
        .await;
        let raw = match read {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(_)) | Err(_) => {
                self.metrics.error("upstream");
                rec.reason = "response_uninspectable".into();
                return self.end_refused(
                    rec,
                    decision,
                    provider.as_deref(),
                    StatusCode::BAD_GATEWAY,
                    "rampart_response_uninspectable",
                    "the upstream response was too large, too slow or broken to inspect",
                );
            }
        };
        let decoded = match encoding.as_deref() {
            None => None,
            Some(enc) => match decode_body(enc, &raw) {
                Ok(b) => Some(b),
                Err(why) => {
                    self.metrics.error("inspection");
                    if rsel.fail() == FailMode::Open {
                        rec.error = Some(why);
                        rec.reason = "response_uninspected_fail_open".into();
                        return self.finish(rec, decision, build(rparts.status, headers, raw));
                    }
                    rec.reason = "response_uninspectable".into();
                    return self.end_refused(
                        rec,
                        decision,
                        provider.as_deref(),
                        StatusCode::BAD_GATEWAY,
                        "rampart_response_uninspectable",
                        &why,
                    );
                }
            },
        };
        // a byte-order mark is dropped: clients skip it, and what is inspected is what is sent
        let decoded = decoded.map(|d| match d.strip_prefix(UTF8_BOM) {
            Some(rest) => rest.to_vec(),
            None => d,
        });
        let raw = if decoded.is_none() && raw.starts_with(UTF8_BOM) {
            raw.slice(UTF8_BOM.len()..)
        } else {
            raw
        };
        let text: &[u8] = decoded.as_deref().unwrap_or(&raw);
        let rjson: Option<Value> = match &provider {
            Some(_) => serde_json::from_slice::<Value>(text).ok(),
            None => None,
        };
        if let (Some(p), Some(v)) = (&provider, &rjson) {
            rec.usage = p.usage(v).map(|u| UsageRecord {
                input: u.input,
                output: u.output,
            });
            if rampart_llm::hit_max_length(v) {
                self.abuse
                    .observe_truncated(&identity(&rec.ex), crate::now_ms() as u64);
            }
        }
        let Ok(scan) = self.scanner.scan(text, &ScanOptions::default()) else {
            rec.reason = "response_uninspectable".into();
            return self.end_refused(
                rec,
                decision,
                provider.as_deref(),
                StatusCode::BAD_GATEWAY,
                "rampart_response_uninspectable",
                "the upstream response could not be decoded for inspection",
            );
        };
        let body_action = rec.judge(
            &rsel,
            Direction::Response,
            "body",
            scan.findings().cloned(),
            Action::Block,
        );
        // LLM threats in the answer: unsafe output, system-prompt leaks, hidden text
        let allow = crate::llm::allowlist(&rsel);
        let canary = rec.canary.clone();
        let system = rec.system.clone();
        let cx = crate::llm::ResponseContext {
            canary: canary.as_deref(),
            system: system.as_deref(),
            allow: &allow,
        };
        let llm_action = match &rjson {
            Some(v) if rsel.inspects_threats() => {
                let already: Vec<Finding> = scan.findings().cloned().collect();
                let threats = crate::llm::inspect_response(
                    &crate::llm::response_parts(v),
                    text,
                    &cx,
                    &already,
                    &self.hash_key,
                );
                rec.judge_threats(&rsel, Direction::Response, threats, Action::Block)
            }
            _ => Action::Allow,
        };
        let rdecision = rec.decide(&rsel, Direction::Response).action;
        let decision = decision.max(rdecision);
        if rdecision == Action::Block {
            rec.reason = "rampart_blocked".into();
            return self.end_refused(
                rec,
                decision,
                provider.as_deref(),
                StatusCode::BAD_GATEWAY,
                "rampart_blocked",
                "the response was blocked by policy",
            );
        }
        let rewrite_llm = llm_action == Action::Redact && rjson.is_some();
        let body = if body_action == Action::Redact || rewrite_llm {
            if rec.reason == "clean" {
                rec.reason = "redacted".into();
            }
            headers.remove(header::CONTENT_ENCODING);
            let mut out = if body_action == Action::Redact {
                self.redacted(&scan, &rsel)
            } else {
                text.to_vec()
            };
            if rewrite_llm && let Ok(mut v) = serde_json::from_slice::<Value>(&out) {
                let changed = crate::llm::rewrite(
                    &mut v,
                    Some(&cx),
                    "",
                    &rsel,
                    &mut redactor(&rsel, &self.hash_key),
                    &self.hash_key,
                );
                if changed && let Ok(bytes) = serde_json::to_vec(&v) {
                    out = bytes;
                }
            }
            Bytes::from(out)
        } else {
            raw
        };
        self.finish(rec, decision, build(rparts.status, headers, body))
    }

    /// Scans the UTF-16 readings of a body dense in NUL bytes (both byte orders, both
    /// alignments) and records what they hold, each finding raised to block because it cannot
    /// be rewritten in place; returns the strongest action policy gives them.
    fn judge_wide_text(&self, rec: &mut Record, sel: &Selection, text: &[u8]) -> Action {
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
                let Ok(s) = self.scanner.scan(wide.as_bytes(), &ScanOptions::default()) else {
                    continue;
                };
                if s.found.is_empty() {
                    continue;
                }
                let before = rec.findings.len();
                let w = rec.judge(
                    sel,
                    Direction::Request,
                    "body:utf-16",
                    s.findings().cloned(),
                    Action::Block,
                );
                if w >= Action::Redact {
                    for f in &mut rec.findings[before..] {
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

    /// Whether none of `headers` (names and values) holds a finding: one scan over all of
    /// them, so clean headers cost one scanner call.
    fn headers_clean<'h>(
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

    /// Response headers (`Set-Cookie` included) are scanned like request headers: a value
    /// with a finding policy redacts is redacted, a name with one is dropped, and a header
    /// whose value cannot be rewritten is dropped.
    fn inspect_response_headers(
        &self,
        rec: &mut Record,
        rsel: &Selection,
        headers: &mut HeaderMap,
    ) {
        if self.headers_clean(headers.iter()) {
            return;
        }
        let names: Vec<HeaderName> = headers.keys().cloned().collect();
        for name in names {
            if let Ok(n) = self
                .scanner
                .scan(name.as_str().as_bytes(), &ScanOptions::default())
                && !n.found.is_empty()
                && rec.judge(
                    rsel,
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
                let Ok(s) = self.scanner.scan(value.as_bytes(), &ScanOptions::default()) else {
                    changed = true;
                    continue;
                };
                if s.found.is_empty() {
                    out.push(value);
                    continue;
                }
                let worst = rec.judge(
                    rsel,
                    Direction::Response,
                    &format!("header:{name}"),
                    s.findings().cloned(),
                    Action::Redact,
                );
                if worst >= Action::Redact {
                    changed = true;
                    if let Ok(v) = HeaderValue::from_bytes(&self.redacted(&s, rsel)) {
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

    /// An SSE response rewritten event by event as it flows.
    #[allow(clippy::too_many_arguments)]
    fn stream_response(
        self: Arc<Self>,
        rec: Record,
        rsel: Selection,
        provider: Arc<dyn Provider>,
        status: StatusCode,
        headers: HeaderMap,
        body: Incoming,
        decision: Action,
    ) -> Response<GatewayBody> {
        let rewriter = SseRewriter::new(provider, self.scanner, self.stream_rules(&rsel));
        self.relay(rec, rsel, status, headers, body, decision, rewriter)
    }

    /// Stream rules from a selection: its redactions, its blocks.
    fn stream_rules(&self, sel: &Selection) -> StreamRules {
        let (for_redactor, for_blocks) = (sel.clone(), sel.clone());
        let key = self.hash_key.clone();
        StreamRules::new(
            move || redactor(&for_redactor, &key),
            move |f| for_blocks.blocks(f),
        )
    }

    /// Sends a response on while `rewrite` inspects it frame by frame (idle timeout between
    /// frames); records the exchange when the stream ends.
    #[allow(clippy::too_many_arguments)]
    fn relay(
        self: Arc<Self>,
        rec: Record,
        rsel: Selection,
        status: StatusCode,
        mut headers: HeaderMap,
        mut body: Incoming,
        decision: Action,
        mut rewrite: impl Rewrite + Send + 'static,
    ) -> Response<GatewayBody> {
        headers.remove(header::CONTENT_LENGTH);
        let (tx, channel) = ChannelBody::new();
        let idle = Duration::from_millis(self.config.limits.stream_idle_timeout_ms);
        let gw = self.clone();
        tokio::spawn(async move {
            let mut rec = rec;
            let mut error = None;
            loop {
                let frame = match tokio::time::timeout(idle, body.frame()).await {
                    Err(_) => {
                        error = Some("the upstream stream stalled".to_owned());
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        error = Some(format!("upstream stream: {e}"));
                        break;
                    }
                    Ok(Some(Ok(frame))) => frame,
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let out = rewrite.push(data);
                if !out.is_empty() && tx.send(Ok(out)).await.is_err() {
                    error = Some("the caller went away".to_owned());
                    break;
                }
                if rewrite.blocked() {
                    // the rest of the upstream's answer is not read
                    break;
                }
            }
            let out = rewrite.finish();
            let blocked = rewrite.blocked();
            if !out.is_empty() {
                let _ = tx.send(Ok(out)).await;
            }
            if blocked && !rewrite.ends_in_shape() {
                let _ = tx
                    .send(Err(std::io::Error::other(
                        "the response was blocked by policy",
                    )
                    .into()))
                    .await;
            }
            if let Some(e) = &error {
                gw.metrics.error("upstream");
                let _ = tx.send(Err(std::io::Error::other(e.clone()).into())).await;
            }
            // a block rule ends a stream only where the rewriter can end it in the stream's
            // own shape; elsewhere the value is redacted and the stream goes on
            let cap = if blocked {
                Action::Block
            } else {
                Action::Redact
            };
            rec.judge(
                &rsel,
                Direction::Response,
                "stream",
                rewrite.findings(),
                cap,
            );
            // what was done cannot exceed what the stream allowed (text already sent stays)
            let rdecision = rec.decide(&rsel, Direction::Response).action.min(cap);
            if blocked {
                rec.reason = "rampart_blocked".into();
            } else if rdecision == Action::Redact && rec.reason == "clean" {
                rec.reason = "redacted".into();
            }
            rec.usage = rewrite.usage().map(|u| UsageRecord {
                input: u.input,
                output: u.output,
            });
            rec.streamed_chars = rewrite.text_chars();
            if rewrite.truncated() {
                gw.abuse
                    .observe_truncated(&identity(&rec.ex), crate::now_ms() as u64);
            }
            rec.error = error;
            gw.record(rec, decision.max(rdecision), status.as_u16());
        });
        let mut resp = Response::new(http_body_util::BodyExt::boxed(channel));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    /// A `CONNECT` tunnel: allowed or refused by destination host, recorded either way. The
    /// tunnel carries TLS the gateway does not decrypt.
    async fn connect(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        let target = req
            .uri()
            .authority()
            .map(|a| (a.host().to_owned(), a.port_u16().unwrap_or(443)));
        let ex = Exchange {
            direction: Some(Direction::Request),
            route: Some("egress".into()),
            host: target.as_ref().map(|(h, _)| h.clone()),
            path: String::new(),
            method: "CONNECT".into(),
            caller: self.callers.identify(
                peer.ip(),
                credential(req.headers()),
                &self.hash_key,
                self.key_id(req.headers()),
            ),
            destination: target.as_ref().map(|(h, _)| h.clone()),
            ..Exchange::default()
        };
        let policies = self.policies.current();
        let sel = policies.select(&ex);
        let mut rec = self.new_record(
            "egress",
            "CONNECT",
            &req.uri().to_string(),
            policies.clone(),
            ex,
            "tunnel",
        );
        let Some((host, port)) = target else {
            rec.reason = "bad_connect".into();
            let resp = problem(
                StatusCode::BAD_REQUEST,
                "rampart_bad_connect",
                "CONNECT needs host:port",
            );
            return self.finish(rec, Action::Block, resp);
        };
        if rampart_llm::is_ai_host(&host) {
            // AI use that bypasses the provider routes: visible, governable by the lists
            rec.reason = "tunnel_ai_provider".into();
        }
        let (verdict, origin) = sel.egress(&host);
        rec.decided_by = origin.map(|o| sel.origin_name(o));
        match verdict {
            EgressVerdict::Block => {
                rec.reason = "egress_denied".into();
                let resp = problem(
                    StatusCode::FORBIDDEN,
                    "rampart_egress_denied",
                    &format!("egress to {host} is not allowed by policy"),
                );
                return self.finish(rec, Action::Block, resp);
            }
            EgressVerdict::Flag if rec.reason == "tunnel_ai_provider" => {
                rec.reason = "shadow_ai".into();
            }
            EgressVerdict::Flag => rec.reason = "egress_unlisted".into(),
            EgressVerdict::Allow => {}
        }
        let addrs = match self.proxy_destination(&host, Some(port)).await {
            Ok(addrs) => addrs,
            Err((code, why)) => {
                rec.reason = "forward_proxy_refused".into();
                return self.finish(
                    rec,
                    Action::Block,
                    problem(StatusCode::FORBIDDEN, code, &why),
                );
            }
        };
        let decision = if rec.reason == "tunnel" {
            Action::Allow
        } else {
            Action::Monitor
        };
        let upstream = match tokio::time::timeout(
            Duration::from_millis(self.config.limits.upstream_timeout_ms),
            tokio::net::TcpStream::connect(&addrs[..]),
        )
        .await
        {
            Ok(Ok(s)) => s,
            _ => {
                self.metrics.error("upstream");
                rec.reason = "tunnel_unreachable".into();
                let resp = problem(
                    StatusCode::BAD_GATEWAY,
                    "rampart_upstream_error",
                    &format!("{host}:{port} could not be reached"),
                );
                return self.finish(rec, decision, resp);
            }
        };
        self.record(rec, decision, 200);
        tokio::spawn(async move {
            let mut req = req;
            match hyper::upgrade::on(&mut req).await {
                Ok(upgraded) => {
                    let mut client = hyper_util::rt::TokioIo::new(upgraded);
                    let mut upstream = upstream;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
        });
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::OK;
        resp
    }

    /// Checks a destination a client names through the forward proxy: the proxy must be on,
    /// a tunnel's port allowed, and every address the host resolves to public unless
    /// `allow_private`; returns the addresses to connect to (checked, so a second lookup
    /// cannot change them) or the refusal's code and message.
    async fn proxy_destination(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<Vec<SocketAddr>, (&'static str, String)> {
        let fp = &self.config.forward_proxy;
        if !fp.enabled {
            return Err((
                "rampart_forward_proxy_off",
                "forward-proxy requests and CONNECT are off; set forward_proxy.enabled: true in the configuration to serve them".into(),
            ));
        }
        if let Some(p) = port
            && !fp.connect_ports.contains(&p)
        {
            return Err((
                "rampart_port_refused",
                format!(
                    "CONNECT to port {p} is not allowed; add it to forward_proxy.connect_ports"
                ),
            ));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((bare, port.unwrap_or(80))).await
        {
            Ok(a) => a.collect(),
            Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            return Err((
                "rampart_upstream_error",
                format!("{host} could not be resolved"),
            ));
        }
        if !fp.allow_private && addrs.iter().any(|a| crate::config::is_restricted(a.ip())) {
            return Err((
                "rampart_destination_refused",
                format!(
                    "{host} is a loopback, private, link-local or metadata address; set forward_proxy.allow_private: true to allow it"
                ),
            ));
        }
        Ok(addrs)
    }

    /// A chunked text response scanned and redacted as it flows (raw bytes, no layers).
    fn stream_text(
        self: Arc<Self>,
        rec: Record,
        rsel: Selection,
        status: StatusCode,
        headers: HeaderMap,
        body: Incoming,
        decision: Action,
    ) -> Response<GatewayBody> {
        let rules = self.stream_rules(&rsel);
        let text = TextRewrite {
            scanner: rampart_detect::StreamScanner::new(self.scanner, rules.redactor()),
            rules,
            blocked: false,
        };
        self.relay(rec, rsel, status, headers, body, decision, text)
    }

    fn route(&self, path: &str) -> Option<Route> {
        if let Some(r) = self
            .config
            .routes
            .iter()
            .filter(|r| path.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
        {
            let base = r.upstream.trim_end_matches('/').to_owned();
            // a provider path under a broad route is still a provider call (inspected by role,
            // limited, streamed per channel), sent to the route's upstream
            if let Some(p) = self.providers.iter().find(|p| p.matches(path)) {
                return Some(Route::Provider(p.clone(), base));
            }
            return Some(Route::Api {
                name: r.route_name(),
                base,
            });
        }
        let p = self.providers.iter().find(|p| p.matches(path))?;
        Some(Route::Provider(p.clone(), self.upstreams[p.id()].clone()))
    }

    /// Token counts with their cost from the price table (0 for a model it does not list).
    /// Unlisted models (and calls that name none) are priced at the provider's highest
    /// listed prices, so a spend limit is never bypassed by a name missing from the table.
    fn priced(&self, provider: &str, model: Option<&str>, input: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            cost_micros: self.prices.cost(provider, model, input, output).micros,
        }
    }

    /// A keyed hash of the caller's credential, never the credential.
    fn key_id(&self, headers: &HeaderMap) -> Option<String> {
        let v = credential(headers)?;
        Some(self.hash_key.hash(DataClass::Secret, v).to_string()[..12].to_owned())
    }

    fn redacted(&self, scan: &Scan<'_>, sel: &Selection) -> Vec<u8> {
        let mut out = Vec::with_capacity(scan.text.len());
        scan.redact(&mut redactor(sel, &self.hash_key), &mut out);
        out
    }

    /// An error answer in the provider's shape (or a JSON problem for API routes).
    fn refuse(
        &self,
        provider: Option<&dyn Provider>,
        status: StatusCode,
        code: &str,
        message: &str,
    ) -> Response<GatewayBody> {
        match provider {
            Some(p) => {
                let body = p.error(status.as_u16(), code, message);
                json_response(status, &body, "application/json")
            }
            None => problem(status, code, message),
        }
    }

    /// The record of a new exchange, begun now.
    fn new_record(
        &self,
        provider: &str,
        method: &str,
        path: &str,
        policies: Arc<PolicySet>,
        ex: Exchange,
        reason: &str,
    ) -> Record {
        let caller = Caller {
            ip: ex.caller.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            key_id: ex.caller.key_id.clone(),
            workload: ex.caller.workload.clone(),
            namespace: ex.caller.namespace.clone(),
        };
        Record {
            id: format!(
                "{:x}-{}",
                self.started_ms,
                self.next_id.fetch_add(1, Ordering::Relaxed)
            ),
            started: Instant::now(),
            ts_ms: crate::now_ms(),
            provider: provider.to_owned(),
            model: None,
            method: method.to_owned(),
            path: path.to_owned(),
            caller,
            findings: Vec::new(),
            reason: reason.to_owned(),
            error: None,
            usage: None,
            policies,
            ex,
            would: Action::Allow,
            decided_by: None,
            limits: None,
            streamed_chars: 0,
            canary: None,
            system: None,
        }
    }

    /// Ends an exchange with an error answer in the provider's shape (`rec.reason` says why).
    fn end_refused(
        &self,
        rec: Record,
        decision: Action,
        provider: Option<&dyn Provider>,
        status: StatusCode,
        code: &str,
        message: &str,
    ) -> Response<GatewayBody> {
        let resp = self.refuse(provider, status, code, message);
        self.finish(rec, decision, resp)
    }

    /// finish: one decision, metrics, one audit event.
    fn finish(
        &self,
        rec: Record,
        decision: Action,
        resp: Response<GatewayBody>,
    ) -> Response<GatewayBody> {
        self.record(rec, decision, resp.status().as_u16());
        resp
    }

    fn record(&self, rec: Record, decision: Action, status: u16) {
        let would = rec.would.max(decision);
        let limits = rec.limits.as_ref().map(|l| {
            // settle with the provider's usage; without it, count the streamed text
            let pid = rec.ex.provider.as_deref().unwrap_or("api");
            let (input, output, source) = match rec.usage {
                Some(u) => (u.input, u.output, "reported"),
                None if rec.streamed_chars > 0 => (
                    l.expect.input,
                    tokens::estimate_text(pid, rec.streamed_chars),
                    "estimated",
                ),
                None if status < 400 => (l.expect.input, 0, "estimated"),
                // refused or failed upstream: nothing was used
                None => (0, 0, "none"),
            };
            let actual = self.priced(pid, rec.model.as_deref(), input, output);
            let limiter = self.limiter.clone();
            let ticket = l.ticket.clone();
            tokio::spawn(async move { limiter.settle(&ticket, actual).await });
            LimitsRecord {
                estimate: l.expect,
                actual,
                source,
            }
        });
        self.metrics
            .exchanges
            .get_or_create(&ExchangeLabels {
                provider: rec.provider.clone(),
                decision: format!("{decision:?}").to_ascii_lowercase(),
            })
            .inc();
        for f in &rec.findings {
            self.metrics
                .findings
                .get_or_create(&FindingLabels {
                    class: f.finding.class.name().into(),
                    direction: match f.direction {
                        Direction::Request => "request".into(),
                        Direction::Response => "response".into(),
                    },
                })
                .inc();
        }
        self.audit.record(AuditEvent {
            ts_ms: rec.ts_ms,
            id: rec.id,
            provider: rec.provider,
            model: rec.model,
            method: rec.method,
            path: rec.path,
            caller: rec.caller,
            decision,
            reason: rec.reason,
            enforced: would == decision,
            would: (would != decision).then_some(would),
            decided_by: rec.decided_by,
            policy_version: rec.policies.version().to_owned(),
            limits,
            signals: rec.ex.signals,
            status,
            findings: rec.findings,
            usage: rec.usage,
            latency_ms: rec.started.elapsed().as_secs_f64() * 1e3,
            error: rec.error,
        });
    }
}

/// Adds the `RateLimit-Policy` and `RateLimit` headers (IETF httpapi draft).
fn insert_ratelimit(h: &mut HeaderMap, policy: &str, state: &str) {
    if let (Ok(p), Ok(s)) = (HeaderValue::from_str(policy), HeaderValue::from_str(state)) {
        h.insert(HeaderName::from_static("ratelimit-policy"), p);
        h.insert(HeaderName::from_static("ratelimit"), s);
    }
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

fn build(status: StatusCode, mut headers: HeaderMap, body: Bytes) -> Response<GatewayBody> {
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

fn json_response(status: StatusCode, body: &Value, ctype: &'static str) -> Response<GatewayBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    headers.insert(
        HeaderName::from_static("x-rampart-decision"),
        HeaderValue::from_static("refused"),
    );
    build(status, headers, Bytes::from(bytes))
}

/// An RFC 9457 problem response for API routes.
fn problem(status: StatusCode, code: &str, detail: &str) -> Response<GatewayBody> {
    json_response(
        status,
        &json!({"type": "about:blank", "title": code, "status": status.as_u16(), "detail": detail, "code": code}),
        "application/problem+json",
    )
}

/// The parts of a request body the gateway reads before forwarding: the fields adapters read
/// (model, stream flag, output token caps) and the raw last message (for abuse signals). The
/// rest of the document is checked for validity and skipped without being built.
struct RequestHead<'a> {
    /// model, stream, max_tokens, max_completion_tokens, max_output_tokens, generationConfig.
    fields: Value,
    /// The last element of `messages`, `contents` or `input`, as written.
    last: Option<&'a serde_json::value::RawValue>,
}

/// `None` when the body is not valid JSON.
fn request_head(text: &[u8]) -> Option<RequestHead<'_>> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        model: Option<Value>,
        stream: Option<Value>,
        max_tokens: Option<Value>,
        max_completion_tokens: Option<Value>,
        max_output_tokens: Option<Value>,
        #[serde(rename = "generationConfig")]
        generation_config: Option<Value>,
        #[serde(borrow)]
        messages: Option<Vec<&'a serde_json::value::RawValue>>,
        #[serde(borrow)]
        contents: Option<Vec<&'a serde_json::value::RawValue>>,
        #[serde(borrow)]
        input: Option<&'a serde_json::value::RawValue>,
    }
    match serde_json::from_slice::<Head>(text) {
        Ok(head) => {
            let mut v = serde_json::Map::new();
            for (k, field) in [
                ("model", head.model),
                ("stream", head.stream),
                ("max_tokens", head.max_tokens),
                ("max_completion_tokens", head.max_completion_tokens),
                ("max_output_tokens", head.max_output_tokens),
                ("generationConfig", head.generation_config),
            ] {
                if let Some(f) = field {
                    v.insert(k.into(), f);
                }
            }
            let last = head
                .messages
                .and_then(|m| m.last().copied())
                .or_else(|| head.contents.and_then(|c| c.last().copied()))
                .or(head.input);
            Some(RequestHead {
                fields: Value::Object(v),
                last,
            })
        }
        // valid JSON that is not an object (an array, a string): nothing to read from it
        Err(_) => serde_json::from_slice::<serde::de::IgnoredAny>(text)
            .ok()
            .map(|_| RequestHead {
                fields: Value::Null,
                last: None,
            }),
    }
}

/// Decodes a body by its `Content-Encoding`, within the decompression limits; says why not.
fn decode_body(encoding: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
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

/// A response inspected as it flows: bytes in, bytes to send on out.
trait Rewrite {
    /// Takes the next chunk from upstream; returns what may be sent now.
    fn push(&mut self, chunk: Bytes) -> Bytes;
    /// The stream ended: returns the rest.
    fn finish(&mut self) -> Bytes;
    /// Everything found.
    fn findings(&self) -> Vec<rampart_core::Finding>;
    /// Tokens the provider reported, if it did.
    fn usage(&self) -> Option<rampart_llm::Usage>;
    /// Whether a block rule ended the stream (nothing more is read or sent).
    fn blocked(&self) -> bool {
        false
    }
    /// Characters of text released so far (generated text, for token counting).
    fn text_chars(&self) -> usize {
        0
    }
    /// Whether the answer was cut at the maximum length.
    fn truncated(&self) -> bool {
        false
    }
    /// Whether a blocked stream ends in a shape the caller understands (an error event);
    /// when not, the response is cut off.
    fn ends_in_shape(&self) -> bool {
        false
    }
}

impl Rewrite for SseRewriter {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let mut out = Vec::new();
        SseRewriter::push(self, &chunk, &mut out);
        Bytes::from(out)
    }

    fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        SseRewriter::finish(self, &mut out);
        Bytes::from(out)
    }

    fn findings(&self) -> Vec<rampart_core::Finding> {
        SseRewriter::findings(self)
    }

    fn usage(&self) -> Option<rampart_llm::Usage> {
        SseRewriter::usage(self)
    }

    fn blocked(&self) -> bool {
        SseRewriter::blocked(self)
    }

    fn ends_in_shape(&self) -> bool {
        true
    }

    fn text_chars(&self) -> usize {
        SseRewriter::text_chars(self)
    }

    fn truncated(&self) -> bool {
        SseRewriter::truncated(self)
    }
}

/// Raw text through the streaming scanner; in monitor mode the bytes pass as they came and
/// findings are only recorded.
/// A block rule ends the response: text has no error shape, so the response is cut off (the
/// caller sees an incomplete body) and the held-back text is not sent.
struct TextRewrite {
    scanner: rampart_detect::StreamScanner<'static>,
    rules: StreamRules,
    blocked: bool,
}

impl TextRewrite {
    fn hits_block(&mut self) -> bool {
        self.blocked = self.blocked || self.scanner.findings().iter().any(|f| self.rules.blocks(f));
        self.blocked
    }
}

impl Rewrite for TextRewrite {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let mut out = Vec::new();
        self.scanner.feed(&chunk, &mut out);
        if self.hits_block() {
            Bytes::new()
        } else {
            Bytes::from(out)
        }
    }

    fn finish(&mut self) -> Bytes {
        if self.blocked {
            return Bytes::new();
        }
        let mut out = Vec::new();
        self.scanner.finish(&mut out);
        if self.hits_block() {
            Bytes::new()
        } else {
            Bytes::from(out)
        }
    }

    fn blocked(&self) -> bool {
        self.blocked
    }

    fn findings(&self) -> Vec<rampart_core::Finding> {
        self.scanner.findings().to_vec()
    }

    fn usage(&self) -> Option<rampart_llm::Usage> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_of_base_urls() {
        for (base, host) in [
            ("https://api.openai.com", "api.openai.com"),
            ("http://127.0.0.1:9000", "127.0.0.1"),
            (
                "https://user:pw@internal.example:8443/v1?x=1",
                "internal.example",
            ),
            ("http://[::1]:8080/api", "::1"),
        ] {
            assert_eq!(super::host_of(base), host);
        }
    }
}
