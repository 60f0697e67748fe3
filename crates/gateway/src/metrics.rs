//! Prometheus metrics of the gateway, served at `/metrics` on the admin port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of an exchange.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExchangeLabels {
    /// Provider id or `api`.
    pub provider: String,
    /// allow, monitor, redact or block.
    pub decision: String,
}

/// Labels of a finding.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    /// Data class name.
    pub class: String,
    /// request or response.
    pub direction: String,
}

/// Labels of an error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What failed: upstream, downstream, inspection, internal.
    pub kind: String,
}

/// Labels of a policy reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// ok (a new set is in force), unchanged, or error (the old set stays).
    pub result: String,
}

/// Labels of a limits decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// admitted, refused or unavailable.
    pub result: String,
}

/// Labels by provider (`api` for API routes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// Provider id or `api`.
    pub provider: String,
}

/// Labels of a response status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Provider id or `api`.
    pub provider: String,
    /// The HTTP status code returned to the caller.
    pub code: String,
}

/// Labels of a decision by a policy rule.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// `policy/rule`.
    pub rule: String,
    /// allow, monitor, redact or block.
    pub decision: String,
}

/// Labels of token counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// Provider id.
    pub provider: String,
    /// A model of the price table, else `other` (so callers cannot grow the label set).
    pub model: String,
    /// input or output.
    pub kind: String,
}

/// Labels of spend.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Provider id.
    pub provider: String,
    /// A model of the price table, else `other`.
    pub model: String,
}

/// A histogram family by provider.
pub type DurationFamily = Family<ProviderLabels, Histogram, fn() -> Histogram>;

/// Latency buckets, in seconds.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    /// Exchanges by provider and decision.
    pub exchanges: Family<ExchangeLabels, Counter>,
    /// Findings by class and direction.
    pub findings: Family<FindingLabels, Counter>,
    /// Errors by kind.
    pub errors: Family<ErrorLabels, Counter>,
    /// Time the gateway adds to a request before forwarding it (inspection), in seconds.
    pub inspect_seconds: Histogram,
    /// Policy reloads by result.
    pub policy_reloads: Family<ReloadLabels, Counter>,
    /// Limits decisions by result.
    pub limits: Family<LimitLabels, Counter>,
    /// Audit events lost: the writer's queue was full, or the event could not be written.
    pub audit_dropped: Counter,
    /// Failed writes (or rotations) of the audit log.
    pub audit_write_errors: Counter,
    /// Exchanges discovery did not fold in because its queue was full.
    pub discovery_dropped: Counter,
    /// Time from request head to the end of the response, by provider.
    pub request_seconds: DurationFamily,
    /// Time the upstream took to answer with its response head, by provider.
    pub upstream_seconds: DurationFamily,
    /// Responses by provider and status code.
    pub responses: Family<StatusLabels, Counter>,
    /// Exchanges by the policy rule that decided them and the decision.
    pub rule_decisions: Family<RuleLabels, Counter>,
    /// Tokens the providers reported, by provider, model and kind.
    pub tokens: Family<TokenLabels, Counter>,
    /// Spend at list prices in US dollars, by provider and model.
    pub cost_usd: Family<ModelLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    registry: Registry,
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rampart");
        let exchanges = Family::<ExchangeLabels, Counter>::default();
        let findings = Family::<FindingLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let inspect_seconds = Histogram::new([
            0.000_01, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
        ]);
        registry.register(
            "exchanges",
            "Exchanges by provider and decision",
            exchanges.clone(),
        );
        registry.register(
            "findings",
            "Findings by data class and direction",
            findings.clone(),
        );
        registry.register("errors", "Errors by kind", errors.clone());
        registry.register(
            "request_inspection_seconds",
            "Time spent inspecting a request body",
            inspect_seconds.clone(),
        );
        let policy_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy reloads by result (ok, unchanged, error)",
            policy_reloads.clone(),
        );
        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limit_decisions",
            "Limits decisions by result (admitted, refused, unavailable)",
            limits.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_dropped",
            "Audit events lost (queue full or not written)",
            audit_dropped.clone(),
        );
        let audit_write_errors = Counter::default();
        registry.register(
            "audit_write_errors",
            "Failed writes or rotations of the audit log",
            audit_write_errors.clone(),
        );
        let discovery_dropped = Counter::default();
        registry.register(
            "discovery_dropped",
            "Exchanges left out of the live inventory (its queue was full)",
            discovery_dropped.clone(),
        );
        let request_seconds: DurationFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from request head to the end of the response, by provider",
            request_seconds.clone(),
        );
        let upstream_seconds: DurationFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time the upstream took to send its response head, by provider",
            upstream_seconds.clone(),
        );
        let responses = Family::<StatusLabels, Counter>::default();
        registry.register(
            "responses",
            "Responses by provider and HTTP status code",
            responses.clone(),
        );
        let rule_decisions = Family::<RuleLabels, Counter>::default();
        registry.register(
            "rule_decisions",
            "Exchanges by the policy rule that decided them and the decision",
            rule_decisions.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens the providers reported, by provider, model and kind",
            tokens.clone(),
        );
        let cost_usd = Family::<ModelLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "cost_usd",
            "Spend at list prices in US dollars, by provider and model",
            cost_usd.clone(),
        );
        Metrics {
            request_seconds,
            upstream_seconds,
            responses,
            rule_decisions,
            tokens,
            cost_usd,
            exchanges,
            findings,
            errors,
            inspect_seconds,
            policy_reloads,
            limits,
            audit_dropped,
            audit_write_errors,
            discovery_dropped,
            registry,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one policy reload.
    pub fn reload(&self, result: &str) {
        self.policy_reloads
            .get_or_create(&ReloadLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Counts one limits decision.
    pub fn limit(&self, result: &str) {
        self.limits
            .get_or_create(&LimitLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Counts one error.
    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels { kind: kind.into() })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
