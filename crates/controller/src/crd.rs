//! Rampart's custom resources: `RuntimePolicy`, `RuntimeLimit` and `Quarantine`
//! (`rampart.dev/v1`). The CRDs are generated from these types (`rampart k8s crds`, and the
//! Helm chart's `crds/`). The policy kinds mirror the documents `rampart up --policy` reads,
//! field for field, so one YAML file is both a policy file and a custom resource; a test holds
//! the shipped policies to that.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A status condition, as Kubernetes conventions shape it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` for policies and limits; `Applied` for quarantines.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason: `Compiled`, `Invalid`, `Isolated`, `PodNotFound`, ...
    pub reason: String,
    /// For people: what went wrong, with `file:line` of the document where known.
    #[serde(default)]
    pub message: String,
    /// RFC 3339.
    #[serde(default)]
    pub last_transition_time: String,
}

/// The status the controller writes on policies and limits.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStatus {
    /// The generation the conditions describe.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether the document compiled, and why not.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// What a policy selects and decides (docs/POLICY.md): the `spec` of a policy file.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "rampart.dev",
    version = "v1",
    kind = "RuntimePolicy",
    namespaced,
    status = "DocumentStatus",
    shortname = "rpol",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimePolicySpec {
    /// `enforce` (default) or `monitor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `closed` or `open`: what happens to exchanges that cannot be inspected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<String>,
    /// `redact` or `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Default redaction strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Which exchanges the policy applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// Actions per data class, detector or group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Egress allow and deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
    /// CEL conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CelCondition>,
    /// LLM threat thresholds by detector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub llm: BTreeMap<String, LlmThreshold>,
    /// Names of the limits that apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// Quarantine the calling pod when this policy blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<bool>,
}

/// Which exchanges a policy applies to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    /// `request` or `response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Route names (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// Hosts (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Path templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// HTTP methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Provider ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Models (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Who calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callers: Option<CallerSelector>,
    /// Egress destinations (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// Abuse signals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
}

/// Caller identity constraints.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallerSelector {
    /// API-key ids (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Workloads (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<String>,
    /// Namespaces (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Service accounts (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Labels the caller must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Source address ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
}

/// An action for the findings it matches.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// Shown in audit events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Detector ids (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
    /// Detector groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `allow`, `monitor`, `redact` or `block`.
    pub action: String,
    /// Redaction strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Findings below this confidence do not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
}

/// Egress governance.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Egress {
    /// Destinations allowed (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Destinations always blocked (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// `block` or `flag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlisted: Option<String>,
}

/// A CEL condition.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CelCondition {
    /// Its name.
    pub name: String,
    /// A CEL expression yielding a bool.
    pub when: String,
    /// `block` or `monitor`.
    pub action: String,
    /// Reason recorded when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A threshold for one LLM threat detector.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LlmThreshold {
    /// Scores at or above this trigger the action.
    pub threshold: f64,
    /// `allow`, `monitor`, `redact` or `block`.
    pub action: String,
    /// `systemPromptLeak` only: insert a canary token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<bool>,
    /// `unsafeOutput` only: hosts output may link to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_hosts: Vec<String>,
}

/// Rate, concurrency, token and spend limits that policies reference by name (docs/LIMITS.md).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "rampart.dev",
    version = "v1",
    kind = "RuntimeLimit",
    namespaced,
    status = "DocumentStatus",
    shortname = "rlim"
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeLimitSpec {
    /// What a separate budget is kept for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// Requests per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestRate>,
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u64>,
    /// Token budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenBudgets>,
    /// Spend budgets in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpendBudget>,
    /// Largest request in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_request: Option<u64>,
}

/// `count` requests per `per`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRate {
    /// Requests per interval.
    pub count: u64,
    /// `1s`, `10s`, `1m`, `1h`, `1d`.
    pub per: String,
    /// Burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

/// Token budgets by kind.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBudgets {
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Windows>,
    /// Generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Windows>,
    /// Both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Windows>,
}

/// Budgets per UTC window.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Windows {
    /// Per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    /// Per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
}

/// Spend budgets in USD.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpendBudget {
    /// Per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<f64>,
    /// Per UTC month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month: Option<f64>,
}

/// A pod cut off the network: labelled, and selected by a NetworkPolicy that denies ingress
/// and egress except what is configured (DNS, Rampart). Deleting it releases the pod.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "rampart.dev",
    version = "v1",
    kind = "Quarantine",
    namespaced,
    status = "QuarantineStatus",
    shortname = "rq",
    printcolumn = r#"{"name":"Pod","type":"string","jsonPath":".spec.pod"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".spec.reason"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QuarantineSpec {
    /// The pod, in the Quarantine's namespace.
    pub pod: String,
    /// Why (a policy's reason, or a person's words).
    pub reason: String,
    /// Who asked: a user, or `policy/<name>` for a policy's decision.
    pub requested_by: String,
}

/// Where a quarantine stands.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineStatus {
    /// `Isolated`, `PodNotFound` or `Failed`.
    #[serde(default)]
    pub phase: String,
    /// The NetworkPolicy that isolates the pod.
    #[serde(default)]
    pub network_policy: String,
    /// `Applied`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// The three CRDs as YAML documents, in one stream.
pub fn crds_yaml() -> String {
    use kube::CustomResourceExt;
    [RuntimePolicy::crd(), RuntimeLimit::crd(), Quarantine::crd()]
        .iter()
        .map(|c| {
            format!(
                "---\n{}",
                serde_saphyr::to_string(c).unwrap_or_else(|e| format!("# {e}\n"))
            )
        })
        .collect()
}
