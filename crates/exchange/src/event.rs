//! What one exchange leaves behind: its audit event (findings with class, detector, score
//! and keyed hash, never a raw value), the outcome that says why it ended as it did, and the
//! [`ExchangeSink`] seam every consumer of finished exchanges (the audit log today,
//! discovery next) plugs into.

use rampart_core::{Action, Direction, Finding};
use serde::Serialize;

/// Why an exchange ended as it did: one value per exchange, written to the audit event as a
/// short snake_case code ([`Outcome::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found that policy acts on.
    Clean,
    /// Values were redacted and the exchange went on.
    Redacted,
    /// Policy blocked the request or the response.
    Blocked,
    /// The destination is on a deny list (or off an allow list).
    EgressDenied,
    /// An AI provider reached other than through a provider route.
    ShadowAi,
    /// A destination no egress list names, in a policy that flags those.
    EgressUnlisted,
    /// No provider or API route matches the path.
    NoRoute,
    /// The forward proxy is off, or refused the destination or port.
    ForwardProxyRefused,
    /// The request body did not arrive in time.
    RequestTimeout,
    /// The request body is larger than the inspection limit.
    RequestTooLarge,
    /// The request body could not be read.
    RequestReadError,
    /// Fail-open: a body over the inspection limit was forwarded uninspected.
    UninspectedTooLargeFailOpen,
    /// Fail-open: a body that could not be decoded was forwarded uninspected.
    UninspectedFailOpen,
    /// A body that cannot be decoded for inspection was refused.
    UninspectableBody,
    /// A provider call whose JSON does not parse was refused.
    MalformedJson,
    /// Fail-open: a provider call whose JSON does not parse was forwarded.
    MalformedJsonFailOpen,
    /// The request may use more tokens than a limit allows per request.
    MaxTokensPerRequest,
    /// A rate, concurrency, token or spend limit is reached.
    RateLimited,
    /// The limits store is unavailable and the limited request was refused.
    LimitsUnavailable,
    /// The request could not be built for the upstream.
    BadUpstreamRequest,
    /// The upstream could not be reached.
    UpstreamError,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The response was too large, too slow, broken or encoded beyond inspection.
    ResponseUninspectable,
    /// Fail-open: a response that could not be decoded was passed uninspected.
    ResponseUninspectedFailOpen,
    /// The client went away (reset, disconnect, cut at shutdown) before the exchange ended.
    ClientGone,
    /// A `CONNECT` tunnel was opened.
    Tunnel,
    /// A `CONNECT` tunnel to an AI provider's host.
    TunnelAiProvider,
    /// A `CONNECT` without `host:port`.
    BadConnect,
    /// The tunnel's destination could not be reached.
    TunnelUnreachable,
}

impl Outcome {
    /// The code written to the audit event.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::Redacted => "redacted",
            Outcome::Blocked => "rampart_blocked",
            Outcome::EgressDenied => "egress_denied",
            Outcome::ShadowAi => "shadow_ai",
            Outcome::EgressUnlisted => "egress_unlisted",
            Outcome::NoRoute => "no_route",
            Outcome::ForwardProxyRefused => "forward_proxy_refused",
            Outcome::RequestTimeout => "request_timeout",
            Outcome::RequestTooLarge => "request_too_large",
            Outcome::RequestReadError => "request_read_error",
            Outcome::UninspectedTooLargeFailOpen => "uninspected_too_large_fail_open",
            Outcome::UninspectedFailOpen => "uninspected_fail_open",
            Outcome::UninspectableBody => "uninspectable_body",
            Outcome::MalformedJson => "malformed_json",
            Outcome::MalformedJsonFailOpen => "malformed_json_fail_open",
            Outcome::MaxTokensPerRequest => "max_tokens_per_request",
            Outcome::RateLimited => "rate_limited",
            Outcome::LimitsUnavailable => "limits_unavailable",
            Outcome::BadUpstreamRequest => "bad_upstream_request",
            Outcome::UpstreamError => "upstream_error",
            Outcome::UpstreamTimeout => "upstream_timeout",
            Outcome::ResponseUninspectable => "response_uninspectable",
            Outcome::ResponseUninspectedFailOpen => "response_uninspected_fail_open",
            Outcome::ClientGone => "client_gone",
            Outcome::Tunnel => "tunnel",
            Outcome::TunnelAiProvider => "tunnel_ai_provider",
            Outcome::BadConnect => "bad_connect",
            Outcome::TunnelUnreachable => "tunnel_unreachable",
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Where finished exchanges go. Implementations must not block the exchange: they queue
/// (bounded, counting what they drop) and do their IO elsewhere.
pub trait ExchangeSink: Send + Sync {
    /// Takes one finished exchange's event (shared: every sink gets the same one).
    fn record(&self, event: std::sync::Arc<AuditEvent>);
}

/// A finding as recorded: where it was seen and what was done, no value.
#[derive(Clone, Debug, Serialize)]
pub struct AuditFinding {
    /// Request or response.
    pub direction: Direction,
    /// Where in the exchange (`body`, `header:x-note`, `query`, `stream`).
    pub location: String,
    /// What was done about it.
    pub action: Action,
    /// What monitor-mode policies would have done, when that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Action>,
    /// The policy rule that decided (`policy/rule`); absent when no rule matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The finding itself (class, detector, span, score, keyed hash).
    #[serde(flatten)]
    pub finding: Finding,
    /// For LLM threats: the structural signals behind the score, with their spans.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<rampart_threat::inspect::EvidenceOut>,
}

/// The record of one exchange.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch when the exchange began.
    pub ts_ms: u128,
    /// Exchange id, unique per process run.
    pub id: String,
    /// `openai`, `anthropic`, ..., or `api` for API routes.
    pub provider: String,
    /// The model the request named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Request method and path (no query: it may hold sensitive values).
    pub method: String,
    /// Request path.
    pub path: String,
    /// The destination host (the upstream, or the forward proxy's target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The destination port, when the request or route names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// How the request authenticated: `bearer`, `basic`, `api_key`, `cookie`, `none`, ...
    /// (the kind only).
    pub auth: &'static str,
    /// Who called: peer address and a keyed hash of the API key, never the key.
    pub caller: Caller,
    /// The one decision.
    pub decision: Action,
    /// Why the exchange ended as it did.
    pub reason: Outcome,
    /// False when monitor-mode policies would have done more than was done.
    pub enforced: bool,
    /// What the decision would be if monitor-mode policies were enforced too, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Action>,
    /// The policy rule or condition behind the decision (`policy/rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Version of the policy set that decided.
    pub policy_version: String,
    /// Token and spend accounting, when limits applied: the estimate reserved at admission
    /// and what was settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsRecord>,
    /// Abuse signals the caller raised (OWASP LLM10:2025, API4:2023, API6:2023).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// HTTP status returned to the caller.
    pub status: u16,
    /// Everything found, both directions.
    pub findings: Vec<AuditFinding>,
    /// Tokens the provider reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRecord>,
    /// Time from request head to the end of the response, in milliseconds.
    pub latency_ms: f64,
    /// What went wrong, when something did (no sensitive content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The JSON bodies lent to discovery (sampled exchanges only). In memory only: never
    /// written to the audit log or anywhere else.
    #[serde(skip)]
    pub bodies: Option<Box<Bodies>>,
}

/// An exchange's inspected JSON bodies, lent to discovery to describe their schemas.
#[derive(Clone, Default)]
pub struct Bodies {
    /// The request body, as inspected (decoded).
    pub request: Option<bytes::Bytes>,
    /// The response body, as inspected (decoded), before any redaction.
    pub response: Option<bytes::Bytes>,
}

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // lengths only: the bodies hold raw values
        f.debug_struct("Bodies")
            .field("request", &self.request.as_ref().map(|b| b.len()))
            .field("response", &self.response.as_ref().map(|b| b.len()))
            .finish()
    }
}

/// The caller of an exchange.
#[derive(Clone, Debug, Serialize)]
pub struct Caller {
    /// Peer IP address.
    pub ip: String,
    /// A configured caller's id, or a keyed hash of the credential an unknown caller
    /// presented, for correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The caller's workload, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The caller's namespace, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Estimate versus actual of an exchange under limits.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LimitsRecord {
    /// Reserved at admission: estimated input tokens, requested output tokens, cost.
    pub estimate: rampart_limits::Usage,
    /// Settled: the provider's usage, or the estimate when it reported none.
    pub actual: rampart_limits::Usage,
    /// `reported` (provider usage), `estimated` (counted streamed text or the input
    /// estimate) or `none` (nothing reached the provider).
    pub source: &'static str,
}

/// Token usage as recorded.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct UsageRecord {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
}
