//! The YAML shape of a policy document, as written. Every field a user can get wrong carries its
//! source location ([`Spanned`]) so validation can point at it; `compile` turns these into the
//! checked form.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// One `RuntimePolicy` document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document {
    /// Must be `rampart.dev/v1`.
    pub api_version: Spanned<String>,
    /// Must be `RuntimePolicy`.
    pub kind: Spanned<String>,
    /// Name, labels.
    pub metadata: Metadata,
    /// What the policy selects and decides.
    pub spec: Spec,
}

/// Kubernetes-style metadata.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique among all documents loaded together.
    pub name: Spanned<String>,
    /// Free-form; kept for the CRD form.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The body of a policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// `enforce` (default) or `monitor`.
    pub mode: Option<Spanned<String>>,
    /// `closed` or `open`: what happens to exchanges that cannot be inspected.
    pub fail: Option<Spanned<String>>,
    /// `redact` (redact and continue) or `block` (block the whole flow when a rule redacts).
    pub flow: Option<Spanned<String>>,
    /// Default redaction strategy of this policy's `redact` rules.
    pub strategy: Option<Spanned<String>>,
    /// Which exchanges the policy applies to; empty selects all.
    #[serde(default)]
    pub selector: Selector,
    /// Actions per data class, detector or group.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Egress allow and deny lists.
    pub egress: Option<Egress>,
    /// CEL conditions over the exchange and its findings.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Thresholds of the LLM threat detectors.
    #[serde(default)]
    pub llm: BTreeMap<String, LlmThreshold>,
    /// Names of the limits that apply to the selected exchanges.
    #[serde(default)]
    pub limits: Vec<Spanned<String>>,
    /// When this policy blocks an exchange of a Kubernetes pod, quarantine the pod (the
    /// gateway asks Rampart's controller).
    pub quarantine: Option<Spanned<bool>>,
}

/// Which exchanges a policy applies to. Every field given must match (AND); within a list, any
/// entry may match (OR).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    /// `request` or `response`.
    pub direction: Option<Spanned<String>>,
    /// Route names: a provider id or an API route name (globs).
    #[serde(default)]
    pub routes: Vec<Spanned<String>>,
    /// The request's host (globs).
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Path templates: `/users/{id}`, `/v1/**`.
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    /// HTTP methods.
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    /// Provider ids: openai, anthropic, gemini, cohere.
    #[serde(default)]
    pub providers: Vec<Spanned<String>>,
    /// Model names (globs).
    #[serde(default)]
    pub models: Vec<Spanned<String>>,
    /// Who calls.
    pub callers: Option<CallerSelector>,
    /// Egress destination hosts (globs).
    #[serde(default)]
    pub destinations: Vec<Spanned<String>>,
    /// Abuse signals the caller raised (any of them): a policy that throttles or blocks
    /// suspicious callers.
    #[serde(default)]
    pub signals: Vec<Spanned<String>>,
}

/// Caller identity constraints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallerSelector {
    /// API-key ids (globs).
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
    /// Workload names (globs).
    #[serde(default)]
    pub workloads: Vec<Spanned<String>>,
    /// Namespaces (globs).
    #[serde(default)]
    pub namespaces: Vec<Spanned<String>>,
    /// Service accounts (globs).
    #[serde(default)]
    pub service_accounts: Vec<Spanned<String>>,
    /// Labels the caller must carry, all of them.
    #[serde(default)]
    pub labels: BTreeMap<String, Spanned<String>>,
    /// Source address ranges.
    #[serde(default)]
    pub cidrs: Vec<Spanned<String>>,
}

/// An action for the findings it matches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// Shown by `explain` and in audit events; defaults to `rules[N]`.
    pub name: Option<String>,
    /// Data class names.
    #[serde(default)]
    pub classes: Vec<Spanned<String>>,
    /// Detector ids (globs).
    #[serde(default)]
    pub detectors: Vec<Spanned<String>>,
    /// Detector groups.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// `allow`, `monitor`, `redact` or `block`.
    pub action: Spanned<String>,
    /// Redaction strategy (redact only).
    pub strategy: Option<Spanned<String>>,
    /// Findings below this confidence do not match.
    pub min_score: Option<Spanned<f64>>,
}

/// Egress governance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Egress {
    /// Destinations allowed (globs); when given, others are `unlisted`.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Destinations always blocked (globs).
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// `block` (default) or `flag`: what happens to destinations not on `allow`.
    pub unlisted: Option<Spanned<String>>,
}

/// A CEL condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Condition {
    /// Shown by `explain` and in audit events.
    pub name: Spanned<String>,
    /// A CEL expression that yields a bool.
    pub when: Spanned<String>,
    /// `block` or `monitor`.
    pub action: Spanned<String>,
    /// Reason recorded when the condition holds.
    pub reason: Option<String>,
}

/// A threshold for one LLM threat detector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LlmThreshold {
    /// Scores at or above this trigger the action.
    pub threshold: Spanned<f64>,
    /// `allow`, `monitor`, `redact` or `block`.
    pub action: Spanned<String>,
    /// `systemPromptLeak` only: insert a canary token into system prompts and look for it in
    /// responses.
    pub canary: Option<Spanned<bool>>,
    /// `unsafeOutput` only: hosts that output may link to and load images from (`*.example.com`
    /// matches subdomains). Without it, links are not checked and images only when their URL
    /// carries data.
    #[serde(default)]
    pub allow_hosts: Vec<Spanned<String>>,
}

/// The kind of a document, read first to choose how to parse the rest.
#[derive(Debug, Deserialize)]
pub struct Kind {
    /// `RuntimePolicy` or `RuntimeLimit`.
    pub kind: Option<Spanned<String>>,
}

/// One `RuntimeLimit` document: rate, concurrency, token and spend limits that policies
/// reference by name (`spec.limits`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitDocument {
    /// Must be `rampart.dev/v1`.
    pub api_version: Spanned<String>,
    /// `RuntimeLimit`.
    pub kind: Spanned<String>,
    /// Name, labels.
    pub metadata: Metadata,
    /// The limits.
    pub spec: LimitSpec,
}

/// What a limit counts, per key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitSpec {
    /// What a separate budget is kept for: any of caller, workload, namespace, ip, route,
    /// provider, model; empty: one budget for all.
    #[serde(default)]
    pub key: Vec<Spanned<String>>,
    /// Requests per interval (GCRA).
    pub requests: Option<RequestRate>,
    /// Requests in flight at once.
    pub concurrent: Option<Spanned<u64>>,
    /// Token budgets.
    pub tokens: Option<TokenBudgets>,
    /// Spend budgets in USD.
    pub spend: Option<SpendBudget>,
    /// Largest request: estimated input tokens plus the output tokens it asks for.
    pub max_tokens_per_request: Option<Spanned<u64>>,
}

/// `count` requests per `per`, with bursts of up to `burst`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRate {
    /// Requests per interval.
    pub count: Spanned<u64>,
    /// The interval: `1s`, `10s`, `1m`, `1h`, `1d`.
    pub per: Spanned<String>,
    /// Requests allowed at once after a quiet period; default `count`.
    pub burst: Option<Spanned<u64>>,
}

/// Token budgets by kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBudgets {
    /// Prompt tokens.
    pub input: Option<Windows>,
    /// Generated tokens.
    pub output: Option<Windows>,
    /// Both.
    pub total: Option<Windows>,
}

/// Budgets per calendar window (UTC).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Windows {
    /// Per minute.
    pub per_minute: Option<Spanned<u64>>,
    /// Per day.
    pub per_day: Option<Spanned<u64>>,
}

/// Spend budgets in USD.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpendBudget {
    /// Per UTC day.
    pub per_day: Option<Spanned<f64>>,
    /// Per UTC calendar month.
    pub per_month: Option<Spanned<f64>>,
}
