//! The per-exchange context: what the phases learn, the findings with their verdicts, the one
//! decision, and `finish`, which turns it all into one audit event and what the limits must
//! settle.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use rampart_core::{Action, Direction, Finding};
use rampart_limits::{Ticket, Usage, tokens};
use rampart_llm::Provider;
use rampart_policy::{EgressVerdict, Exchange as Meta, PolicySet, Selection};

use crate::engine::Engine;
use crate::event::{AuditEvent, AuditFinding, Bodies, Caller, LimitsRecord, Outcome, UsageRecord};
use crate::refusal::{Code, Refusal};

/// Where a request goes.
#[derive(Clone)]
pub enum Route {
    /// A provider, at a base URL.
    Provider(Arc<dyn Provider>, String),
    /// An API route (or the forward proxy, named `egress`), at a base URL.
    Api {
        /// The route's name.
        name: String,
        /// Upstream base URL.
        base: String,
    },
}

impl Route {
    /// The upstream base URL.
    pub fn base(&self) -> &str {
        match self {
            Route::Provider(_, base) | Route::Api { base, .. } => base,
        }
    }
}

/// Which part of the system a failure belongs to (the front end counts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reading from the caller.
    Downstream,
    /// Decoding or scanning.
    Inspection,
    /// The upstream.
    Upstream,
    /// The limits store.
    Limits,
}

impl Fault {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Downstream => "downstream",
            Fault::Inspection => "inspection",
            Fault::Upstream => "upstream",
            Fault::Limits => "limits",
        }
    }
}

/// An admitted exchange's hold on its limits.
pub(crate) struct LimitState {
    pub ticket: Ticket,
    pub expect: Usage,
    pub headers: Option<(String, String)>,
}

/// One exchange, phase by phase. Every exchange ends in [`Exchange::finish`]; a front end
/// that loses its caller midway calls [`Exchange::client_gone`] first.
pub struct Exchange {
    pub(crate) id: String,
    pub(crate) started: Instant,
    pub(crate) ts_ms: u128,
    /// `openai`, …, `api`, `egress` or `none`.
    pub(crate) provider_id: String,
    pub(crate) model: Option<String>,
    pub(crate) method: String,
    /// The path as audited (redacted where it held a finding).
    pub(crate) audit_path: String,
    /// How the request authenticated (`bearer`, `api_key`, `cookie`, `none`, ...).
    pub(crate) auth: &'static str,
    pub(crate) findings: Vec<AuditFinding>,
    pub(crate) outcome: Outcome,
    pub(crate) error: Option<String>,
    pub(crate) usage: Option<UsageRecord>,
    /// The policy set the exchange took at its start (kept to its end, reloads or not).
    pub(crate) policies: Arc<PolicySet>,
    /// What policies select the exchange by.
    pub(crate) meta: Meta,
    /// The selection of the current direction.
    pub(crate) sel: Selection,
    /// What monitor-mode policies would have made the decision.
    pub(crate) would: Action,
    /// What was enforced so far.
    pub(crate) decision: Action,
    pub(crate) decided_by: Option<String>,
    pub(crate) limits: Option<LimitState>,
    /// Characters of streamed text released, to count output when the provider reports none.
    pub(crate) streamed_chars: usize,
    /// The canary token inserted into the system prompt, if policy asked for one.
    pub(crate) canary: Option<String>,
    /// The request's system prompt, to recognise it in responses.
    pub(crate) system: Option<String>,
    pub(crate) route: Option<Route>,
    pub(crate) faults: Vec<Fault>,
    /// The request as it will be forwarded.
    pub(crate) out: Outgoing,
    /// The inspected request body and its parsed JSON, shared by every later consumer.
    pub(crate) body: Bytes,
    pub(crate) json: Option<serde_json::Value>,
    pub(crate) streaming: bool,
    /// The JSON bodies lent to discovery, when this exchange was sampled.
    pub(crate) bodies: Option<Box<Bodies>>,
}

/// The request as forwarded: path, query, headers and body, after inspection.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// Path (redacted where a segment held a finding).
    pub path: String,
    /// Query string (redacted likewise), without `?`.
    pub query: String,
    /// Headers to forward (hop-by-hop ones included: the front end drops them).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Whether the body was rewritten from a decoded form (its `Content-Encoding` is gone).
    pub decoded: bool,
}

/// A finished exchange: its audit event, what the limits must settle, what failed.
#[derive(Debug)]
pub struct Finished {
    /// The event.
    pub event: AuditEvent,
    /// The ticket to settle and the usage to settle it with.
    pub settle: Option<(Ticket, Usage)>,
    /// Faults met on the way.
    pub faults: Vec<Fault>,
}

impl Exchange {
    /// An exchange begun now.
    pub(crate) fn begin(
        engine: &Engine,
        policies: Arc<PolicySet>,
        meta: Meta,
        route: Option<Route>,
        query: &str,
    ) -> Exchange {
        let provider_id = match &route {
            Some(Route::Provider(p, _)) => p.id(),
            Some(Route::Api { .. }) => "api",
            None if meta.method == "CONNECT" => "egress",
            None => "none",
        };
        let sel = policies.select(&meta);
        Exchange {
            id: engine.next_id(),
            started: Instant::now(),
            ts_ms: crate::now_ms(),
            provider_id: provider_id.to_owned(),
            model: None,
            method: meta.method.clone(),
            audit_path: meta.path.clone(),
            auth: "none",
            findings: Vec::new(),
            outcome: Outcome::Clean,
            error: None,
            usage: None,
            policies,
            sel,
            would: Action::Allow,
            decision: Action::Allow,
            decided_by: None,
            limits: None,
            streamed_chars: 0,
            canary: None,
            system: None,
            out: Outgoing {
                path: meta.path.clone(),
                query: query.to_owned(),
                ..Outgoing::default()
            },
            meta,
            route,
            faults: Vec::new(),
            body: Bytes::new(),
            json: None,
            streaming: false,
            bodies: None,
        }
    }

    /// Lends an inspected body to discovery when the engine's sampler lets it: the request's
    /// decides for the exchange; a body-less request is decided by its response.
    pub(crate) fn sample(&mut self, engine: &Engine, body: &Bytes, direction: Direction) {
        match (&mut self.bodies, direction) {
            (Some(b), Direction::Response) => {
                if body.len() <= crate::engine::Sampler::MAX_BODY {
                    b.response = Some(body.clone());
                }
            }
            (Some(_), Direction::Request) => {}
            (None, _) => {
                if engine.samples.take(body) {
                    let mut b = Bodies::default();
                    match direction {
                        Direction::Request => b.request = Some(body.clone()),
                        Direction::Response => b.response = Some(body.clone()),
                    }
                    self.bodies = Some(Box::new(b));
                }
            }
        }
    }

    /// The exchange id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why the exchange stands where it does.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// What was enforced so far.
    pub fn decision(&self) -> Action {
        self.decision
    }

    /// The route, once `request_head` found one.
    pub fn route(&self) -> Option<&Route> {
        self.route.as_ref()
    }

    /// The provider adapter, for provider calls.
    pub fn provider(&self) -> Option<&Arc<dyn Provider>> {
        match &self.route {
            Some(Route::Provider(p, _)) => Some(p),
            _ => None,
        }
    }

    /// The selection of the current direction.
    pub fn sel(&self) -> &Selection {
        &self.sel
    }

    /// Whether the policies let what cannot be inspected pass (fail open).
    pub fn fail_open(&self) -> bool {
        self.sel.fail() == rampart_policy::FailMode::Open
    }

    /// Whether the request asks for a streamed answer.
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// The `RateLimit-Policy` and `RateLimit` values of an admitted exchange.
    pub fn ratelimit_headers(&self) -> Option<&(String, String)> {
        self.limits.as_ref().and_then(|l| l.headers.as_ref())
    }

    /// Takes the request to forward out of the exchange.
    pub fn take_outgoing(&mut self) -> Outgoing {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    pub(crate) fn set_audit_path(&mut self, path: &str) {
        self.audit_path = path.to_owned();
    }

    pub(crate) fn decided_by_origin(&mut self, origin: Option<rampart_policy::Origin>) {
        self.decided_by = origin.map(|o| self.sel.origin_name(o));
    }

    /// Raises what was enforced to at least `action`.
    pub(crate) fn raise(&mut self, action: Action) {
        self.decision = self.decision.max(action);
    }

    /// Marks the exchange refused with `action` enforced, and returns it.
    pub(crate) fn refused(mut self, action: Action) -> Exchange {
        self.raise(action);
        self
    }

    /// Records a fault.
    pub(crate) fn fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// A refusal in the exchange's shape (the provider's error, or a problem document),
    /// recording `outcome` and enforcing `action`.
    pub(crate) fn refuse(
        &mut self,
        outcome: Outcome,
        action: Action,
        status: u16,
        code: Code,
        message: impl Into<String>,
    ) -> Refusal {
        self.outcome = outcome;
        self.raise(action);
        let r = Refusal::new(status, code, message);
        if self.provider().is_some() {
            r
        } else {
            r.as_problem()
        }
    }

    /// The egress lists and the route, after `request_head`.
    pub(crate) fn head_verdict(&mut self) -> Result<(), Refusal> {
        if let Some(dest) = self.meta.destination.clone() {
            match self.sel.egress(&dest) {
                (EgressVerdict::Block, origin) => {
                    self.decided_by_origin(origin);
                    return Err(self.refuse(
                        Outcome::EgressDenied,
                        Action::Block,
                        403,
                        Code::EgressDenied,
                        format!("egress to {dest} is not allowed by policy"),
                    ));
                }
                (EgressVerdict::Flag, origin) => {
                    self.outcome = if rampart_llm::is_ai_host(&dest) {
                        Outcome::ShadowAi
                    } else {
                        Outcome::EgressUnlisted
                    };
                    self.decided_by_origin(origin);
                    self.would = self.would.max(Action::Monitor);
                }
                (EgressVerdict::Allow, _) => {}
            }
        }
        if self.route.is_none() {
            self.outcome = Outcome::NoRoute;
            return Err(Refusal::new(
                404,
                Code::NoRoute,
                "no provider or API route matches this path; configure `routes` or use a provider path such as /v1/chat/completions",
            )
            .as_problem());
        }
        Ok(())
    }

    /// A forward-proxy destination refused by the front end (proxy off, port or address not
    /// allowed, not resolvable).
    pub fn forward_proxy_refused(&mut self, code: Code, message: impl Into<String>) -> Refusal {
        self.refuse(
            Outcome::ForwardProxyRefused,
            Action::Block,
            403,
            code,
            message,
        )
        .as_problem()
    }

    /// Records findings seen at `location`, each with the action the selection gives it (at
    /// most `cap`); returns the strongest enforced action.
    pub(crate) fn judge(
        &mut self,
        direction: Direction,
        location: &str,
        findings: impl IntoIterator<Item = Finding>,
        cap: Action,
    ) -> Action {
        let mut worst = Action::Allow;
        for finding in findings {
            let v = self.sel.verdict(&finding);
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
                rule: v.enforced.origin.map(|o| self.sel.origin_name(o)),
                finding,
                evidence: Vec::new(),
            });
        }
        worst
    }

    /// Records LLM threat findings, each at its JSON pointer, with its evidence; returns the
    /// strongest enforced action.
    pub(crate) fn judge_threats(
        &mut self,
        direction: Direction,
        threats: Vec<crate::llm::Located>,
        cap: Action,
    ) -> Action {
        let mut worst = Action::Allow;
        for (pointer, t) in threats {
            let before = self.findings.len();
            worst = worst.max(self.judge(direction, &format!("body:{pointer}"), [t.finding], cap));
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
    pub(crate) fn decide(&mut self, direction: Direction) -> rampart_policy::Decision {
        let d = self.sel.decide(&self.meta, &self.found(direction));
        self.would = self.would.max(d.would);
        if !d.decided_by.is_empty() && d.action >= Action::Redact {
            self.decided_by = Some(d.decided_by.clone());
        }
        d
    }

    /// The caller went away (a reset, a disconnect, a connection cut at shutdown) before the
    /// exchange ended.
    pub fn client_gone(&mut self) {
        self.outcome = Outcome::ClientGone;
        if self.error.is_none() {
            self.error = Some("the caller went away".into());
        }
    }

    /// Records what went wrong (no sensitive content).
    pub fn set_error(&mut self, error: impl Into<String>) {
        self.error = Some(error.into());
    }

    /// Who abuse signals are kept for: the caller's key id, else its address.
    pub(crate) fn identity(&self) -> String {
        self.meta
            .caller
            .key_id
            .clone()
            .or_else(|| self.meta.caller.ip.map(|ip| ip.to_string()))
            .unwrap_or_default()
    }

    /// finish: the one decision, the audit event, what the limits settle (the provider's
    /// usage; without it, the streamed text counted; nothing when nothing reached the
    /// provider).
    pub fn finish(self, engine: &Engine, status: u16) -> Finished {
        let decision = self.decision;
        let would = self.would.max(decision);
        let pid = self.meta.provider.as_deref().unwrap_or("api");
        let mut settle = None;
        let limits = self.limits.as_ref().map(|l| {
            let (input, output, source) = match self.usage {
                Some(u) => (u.input, u.output, "reported"),
                None if self.streamed_chars > 0 => (
                    l.expect.input,
                    tokens::estimate_text(pid, self.streamed_chars),
                    "estimated",
                ),
                None if status < 400 && self.outcome != Outcome::ClientGone => {
                    (l.expect.input, 0, "estimated")
                }
                // refused, failed upstream, or abandoned before an answer: nothing was used
                None => (0, 0, "none"),
            };
            let actual = engine.priced(pid, self.model.as_deref(), input, output);
            settle = Some((l.ticket.clone(), actual));
            LimitsRecord {
                estimate: l.expect,
                actual,
                source,
            }
        });
        let caller = Caller {
            ip: self
                .meta
                .caller
                .ip
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            key_id: self.meta.caller.key_id.clone(),
            workload: self.meta.caller.workload.clone(),
            namespace: self.meta.caller.namespace.clone(),
        };
        Finished {
            event: AuditEvent {
                ts_ms: self.ts_ms,
                id: self.id,
                provider: self.provider_id,
                model: self.model,
                method: self.method,
                path: self.audit_path,
                host: self.meta.destination.clone(),
                port: self.meta.port,
                auth: self.auth,
                caller,
                decision,
                reason: self.outcome,
                enforced: would == decision,
                would: (would != decision).then_some(would),
                decided_by: self.decided_by,
                policy_version: self.policies.version().to_owned(),
                limits,
                signals: self.meta.signals,
                status,
                findings: self.findings,
                usage: self.usage,
                latency_ms: self.started.elapsed().as_secs_f64() * 1e3,
                error: self.error,
                bodies: self.bodies,
            },
            settle,
            faults: self.faults,
        }
    }
}

impl Engine {
    /// Token counts with their cost from the price table. Unlisted models (and calls that
    /// name none) are priced at the provider's highest listed prices, so a spend limit is
    /// never bypassed by a name missing from the table.
    pub fn priced(&self, provider: &str, model: Option<&str>, input: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            cost_micros: self.prices.cost(provider, model, input, output).micros,
        }
    }
}
