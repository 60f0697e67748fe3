//! Rate, concurrency, token and spend limits that hold exactly across gateway replicas.
//!
//! A [`Plan`] lists the checks of the limits that apply to one exchange (from the policies
//! selected for it). A backend decides the plan in one step: every check passes and every
//! counter moves, or nothing moves and the first failing check is reported. Admission returns a
//! [`Ticket`]; settling the ticket releases the concurrency lease and replaces each budget's
//! reservation with what the exchange really used, so counters end equal to actual usage.
//!
//! - **Requests per interval**: GCRA (one theoretical arrival time per key); exact.
//! - **Concurrency**: a lease per exchange with an expiry, so a crashed replica's leases lapse.
//! - **Token and spend budgets** per UTC minute, day or month: admission reserves the estimate
//!   (input tokens, requested output tokens, estimated cost) and refuses when the reservation
//!   does not fit; settlement adds `actual − reserved`. A budget can be overshot only by the
//!   amount in-flight exchanges use beyond what they reserved (see docs/LIMITS.md).
//!
//! Backends: [`local::LocalBackend`] (in memory, one process) and [`redis::RedisBackend`] (one
//! Redis or a Redis Cluster; one Lua script per admission and per settlement: one round trip
//! each, one per hash slot in a cluster). [`Limiter`] picks the
//! backend and falls back when Redis fails.
#![forbid(unsafe_code)]

pub mod abuse;
pub mod local;
pub mod price;
pub mod redis;
pub mod testing;
pub mod tokens;
pub mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rampart_policy::{Exchange, KeyPart, Limit, Quantity, Window};
use serde::Serialize;

/// One check of one limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// GCRA: one request per `emission_us`, bursts within `tolerance_us`.
    Rate {
        /// The key.
        key: String,
        /// Microseconds between requests at the sustained rate.
        emission_us: u64,
        /// How far ahead of now the theoretical arrival time may run.
        tolerance_us: u64,
    },
    /// At most `max` exchanges in flight.
    Concurrency {
        /// The key.
        key: String,
        /// The most in flight.
        max: u64,
    },
    /// A budget per calendar window: `reserve` must fit under `max`.
    Budget {
        /// The key, without the window id.
        key: String,
        /// What is counted.
        what: Quantity,
        /// The window.
        window: Window,
        /// The most per window.
        max: u64,
        /// What this exchange reserves.
        reserve: u64,
    },
}

/// What an exchange is expected to use, for reservations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Cost in micro-dollars.
    pub cost_micros: u64,
}

impl Usage {
    /// The amount of `what` in this usage.
    pub fn of(&self, what: Quantity) -> u64 {
        match what {
            Quantity::InputTokens => self.input,
            Quantity::OutputTokens => self.output,
            Quantity::TotalTokens => self.input + self.output,
            Quantity::SpendMicros => self.cost_micros,
        }
    }
}

/// The checks of one exchange.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The limits, in the order checks refer to them.
    pub limits: Vec<Arc<Limit>>,
    /// (index into `limits`, check).
    pub checks: Vec<(usize, Check)>,
    /// The concurrency lease's id (the exchange id).
    pub lease: String,
    /// How long a lease lives if the exchange never settles (a crashed replica).
    pub lease_ttl_ms: u64,
}

/// How much of a checked limit is left after an admission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Remaining {
    /// Index into the plan's checks.
    pub check: usize,
    /// What is left (requests, tokens, micro-dollars, leases).
    pub remaining: u64,
    /// Milliseconds until the quota is fully restored.
    pub reset_ms: u64,
}

/// Why an exchange was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// Index into the plan's checks.
    pub check: usize,
    /// Milliseconds until retrying can succeed.
    pub retry_after_ms: u64,
}

/// What the exchange holds after admission, to settle at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ticket {
    /// The lease id.
    pub lease: String,
    /// Concurrency keys holding the lease.
    pub leases: Vec<String>,
    /// Budget counters (full key with the window) and what was reserved in each.
    pub reserved: Vec<(String, Quantity, u64)>,
    /// Which backend admitted it (settlement goes to the same one).
    pub backend: BackendKind,
}

/// The backend that admitted a ticket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In memory.
    #[default]
    Local,
    /// Redis.
    Redis,
    /// Nothing was counted (fail-open fallback, or no checks).
    None,
}

/// A backend's answer to a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed; counters moved.
    Admitted {
        /// To settle at the end of the exchange.
        ticket: Ticket,
        /// What is left of each check.
        remaining: Vec<Remaining>,
    },
    /// A check failed; nothing moved.
    Denied(Denial),
}

/// A backend failed (Redis unreachable, timed out, or answered nonsense).
#[derive(Debug, thiserror::Error)]
#[error("limits backend: {0}")]
pub struct BackendError(pub String);

/// What to do when the shared backend fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Count in this process only until the backend is back (each replica enforces the
    /// limits on its own share of traffic).
    #[default]
    Local,
    /// Admit everything, count nothing.
    Open,
    /// Refuse every limited exchange.
    Closed,
}

/// The key a limit keeps its counters under for an exchange: `rl:{name|part|…}`. The braces
/// are a Redis Cluster hash tag, so every counter of one limit instance (its GCRA time, its
/// leases, its budgets of every window) lives in one hash slot and one script decides them;
/// braces in names and values are escaped so the tag always ends where the key part does.
pub fn key_of(limit: &Limit, ex: &Exchange) -> String {
    let mut key = String::from("rl:{");
    escape_into(&limit.name, &mut key);
    for part in &limit.key {
        let c = &ex.caller;
        let value = match part {
            KeyPart::Caller => c.key_id.clone(),
            KeyPart::Workload => c.workload.clone(),
            KeyPart::Namespace => c.namespace.clone(),
            KeyPart::Ip => c.ip.map(|ip| ip.to_string()),
            KeyPart::Route => ex.route.clone(),
            KeyPart::Provider => ex.provider.clone(),
            KeyPart::Model => ex.model.clone(),
        };
        key.push('|');
        escape_into(value.as_deref().unwrap_or("-"), &mut key);
    }
    key.push('}');
    key
}

/// Appends `value` with the separators of a key (`|`, `:`), the hash tag's braces and `%`
/// percent-encoded.
pub(crate) fn escape_into(value: &str, key: &mut String) {
    for ch in value.chars() {
        match ch {
            '|' => key.push_str("%7C"),
            ':' => key.push_str("%3A"),
            '%' => key.push_str("%25"),
            '{' => key.push_str("%7B"),
            '}' => key.push_str("%7D"),
            c => key.push(c),
        }
    }
}

/// The checks of `limits` for an exchange expected to use `expect`.
pub fn plan(limits: Vec<Arc<Limit>>, ex: &Exchange, expect: Usage, lease: String) -> Plan {
    let mut checks = Vec::new();
    for (i, limit) in limits.iter().enumerate() {
        let key = key_of(limit, ex);
        if let Some(r) = limit.requests {
            let emission_us = (r.interval_ms * 1_000 / r.count).max(1);
            checks.push((
                i,
                Check::Rate {
                    key: format!("{key}:gcra"),
                    emission_us,
                    tolerance_us: emission_us * (r.burst - 1),
                },
            ));
        }
        if let Some(max) = limit.concurrent {
            checks.push((
                i,
                Check::Concurrency {
                    key: format!("{key}:conc"),
                    max,
                },
            ));
        }
        for b in &limit.budgets {
            checks.push((
                i,
                Check::Budget {
                    key: format!("{key}:{}:{}", quantity_code(b.what), window::code(b.window)),
                    what: b.what,
                    window: b.window,
                    max: b.max,
                    reserve: expect.of(b.what),
                },
            ));
        }
    }
    Plan {
        limits,
        checks,
        lease,
        lease_ttl_ms: 15 * 60 * 1_000,
    }
}

fn quantity_code(q: Quantity) -> &'static str {
    match q {
        Quantity::InputTokens => "in",
        Quantity::OutputTokens => "out",
        Quantity::TotalTokens => "tok",
        Quantity::SpendMicros => "usd",
    }
}

/// Counts of a limiter's backend use, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Decisions by the shared backend.
    pub shared: AtomicU64,
    /// Decisions made by the fallback because the shared backend failed.
    pub fallback: AtomicU64,
    /// Shared backend errors.
    pub errors: AtomicU64,
}

/// The limiter: the shared backend when configured, with its fallback, else in memory.
pub struct Limiter {
    local: local::LocalBackend,
    shared: Option<redis::RedisBackend>,
    fallback: Fallback,
    /// Until when (ms since the epoch) the shared backend is skipped after a failure.
    skip_until_ms: AtomicU64,
    /// Backend use.
    pub counters: Counters,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("shared", &self.shared.is_some())
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// How long the shared backend is skipped after it failed, before it is tried again.
const RETRY_SHARED: Duration = Duration::from_secs(1);

impl Limiter {
    /// An in-memory limiter.
    pub fn local() -> Limiter {
        Limiter {
            local: local::LocalBackend::new(),
            shared: None,
            fallback: Fallback::Local,
            skip_until_ms: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// A limiter sharing its counters through Redis, falling back as `fallback` says.
    pub fn shared(backend: redis::RedisBackend, fallback: Fallback) -> Limiter {
        Limiter {
            shared: Some(backend),
            fallback,
            ..Limiter::local()
        }
    }

    /// Whether a shared backend is configured.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Sends what `tracker` counted for the abuse signals that need the global view to the
    /// shared store and gives it the totals of every replica back (at most `max` identities per
    /// call; a front end calls this every few hundred milliseconds, off the request path).
    /// Does nothing without a shared store or while it is skipped after a failure; a failure
    /// is counted and the counts of that call are dropped (signals are evidence, not limits).
    pub async fn share_counts(&self, tracker: &abuse::Tracker, max: usize) {
        let Some(shared) = &self.shared else {
            return;
        };
        if now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return;
        }
        let pending = tracker.take_pending(max);
        if pending.is_empty() {
            return;
        }
        match shared.share_counts(&pending).await {
            Ok(totals) => {
                for (p, (r, e)) in pending.iter().zip(totals) {
                    tracker.apply_shared(&p.identity, p.minute, r, e);
                }
            }
            Err(_) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Where the counters live: `memory`, `redis` or `redis-cluster`.
    pub fn store(&self) -> &'static str {
        match &self.shared {
            None => "memory",
            Some(b) if b.is_cluster() => "redis-cluster",
            Some(_) => "redis",
        }
    }

    /// Decides a plan. `Err` only when the shared backend failed and the fallback is
    /// `closed`.
    pub async fn admit(&self, plan: &Plan) -> Result<Outcome, BackendError> {
        if plan.checks.is_empty() {
            return Ok(Outcome::Admitted {
                ticket: Ticket {
                    backend: BackendKind::None,
                    ..Ticket::default()
                },
                remaining: Vec::new(),
            });
        }
        let Some(shared) = &self.shared else {
            return Ok(self.local.admit(plan, now_us()));
        };
        if now_ms() >= self.skip_until_ms.load(Ordering::Relaxed) {
            match shared.admit(plan).await {
                Ok(outcome) => {
                    self.counters.shared.fetch_add(1, Ordering::Relaxed);
                    return Ok(outcome);
                }
                Err(e) => self.shared_failed(&e),
            }
        }
        self.counters.fallback.fetch_add(1, Ordering::Relaxed);
        match self.fallback {
            Fallback::Local => Ok(self.local.admit(plan, now_us())),
            Fallback::Open => Ok(Outcome::Admitted {
                ticket: Ticket {
                    backend: BackendKind::None,
                    ..Ticket::default()
                },
                remaining: Vec::new(),
            }),
            Fallback::Closed => Err(BackendError(
                "the shared limits store is unavailable and the fallback is closed".into(),
            )),
        }
    }

    /// Settles a ticket with what the exchange used.
    pub async fn settle(&self, ticket: &Ticket, used: Usage) {
        match ticket.backend {
            BackendKind::None => {}
            BackendKind::Local => self.local.settle(ticket, used),
            BackendKind::Redis => {
                if let Some(shared) = &self.shared
                    && let Err(e) = shared.settle(ticket, used).await
                {
                    // the reservation stays counted: the budget errs on the safe side
                    self.shared_failed(&e);
                }
            }
        }
    }

    fn shared_failed(&self, e: &BackendError) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let until = now_ms() + RETRY_SHARED.as_millis() as u64;
        let before = self.skip_until_ms.swap(until, Ordering::Relaxed);
        if before < now_ms() {
            tracing::warn!(error = %e, fallback = ?self.fallback, "limits: the shared store failed; using the fallback for a while");
        }
    }

    /// Current counters (key -> value), for the admin API: the shared store's when
    /// configured and reachable, else this process's.
    pub async fn usage(&self) -> Vec<(String, i64)> {
        if let Some(shared) = &self.shared
            && let Ok(u) = shared.usage().await
        {
            return u;
        }
        self.local.usage(now_us())
    }
}

/// Microseconds since the epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    now_us() / 1_000
}

/// The `RateLimit-Policy` and `RateLimit` header values (IETF httpapi ratelimit headers
/// draft) for the checks of a plan that counts requests or budgets.
pub fn headers(plan: &Plan, remaining: &[Remaining]) -> Option<(String, String)> {
    let mut policy = Vec::new();
    let mut state = Vec::new();
    for r in remaining {
        let Some((i, check)) = plan.checks.get(r.check) else {
            continue;
        };
        let name = &plan.limits[*i].name;
        let (item, quota, window_s) = match check {
            Check::Rate { .. } => {
                let rate = plan.limits[*i].requests.expect("a rate check has a rate");
                (
                    format!("{name}-requests"),
                    rate.count,
                    rate.interval_ms / 1_000,
                )
            }
            Check::Budget {
                what, window, max, ..
            } => (
                format!("{name}-{}-{}", quantity_code(*what), window::code(*window)),
                *max,
                match window {
                    Window::Minute => 60,
                    Window::Day => 86_400,
                    Window::Month => 2_592_000,
                },
            ),
            Check::Concurrency { .. } => continue,
        };
        policy.push(format!("\"{item}\";q={quota};w={}", window_s.max(1)));
        state.push(format!(
            "\"{item}\";r={};t={}",
            r.remaining,
            r.reset_ms.div_ceil(1_000)
        ));
    }
    (!policy.is_empty()).then(|| (policy.join(", "), state.join(", ")))
}
