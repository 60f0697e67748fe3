//! Compiled limits (`kind: RuntimeLimit`): what the limiter enforces for the exchanges of the
//! policies that reference them. Pure data; the limits crate counts.

use serde::Serialize;

/// A dimension a limit keeps separate budgets by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPart {
    /// The caller's API-key id.
    Caller,
    /// The caller's workload.
    Workload,
    /// The caller's namespace.
    Namespace,
    /// The caller's address.
    Ip,
    /// The route name.
    Route,
    /// The provider.
    Provider,
    /// The model.
    Model,
}

impl KeyPart {
    /// Every dimension, as written in `spec.key`.
    pub const ALL: [(&'static str, KeyPart); 7] = [
        ("caller", KeyPart::Caller),
        ("workload", KeyPart::Workload),
        ("namespace", KeyPart::Namespace),
        ("ip", KeyPart::Ip),
        ("route", KeyPart::Route),
        ("provider", KeyPart::Provider),
        ("model", KeyPart::Model),
    ];
}

/// GCRA parameters: one request per `interval_ms / count`, bursts up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// Requests per interval.
    pub count: u64,
    /// The interval in milliseconds.
    pub interval_ms: u64,
    /// The largest burst.
    pub burst: u64,
}

/// A budget of one quantity per calendar window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// What is counted.
    pub what: Quantity,
    /// The window.
    pub window: Window,
    /// The most allowed per window.
    pub max: u64,
}

/// What a budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Prompt tokens.
    InputTokens,
    /// Generated tokens.
    OutputTokens,
    /// Both.
    TotalTokens,
    /// Spend in micro-dollars (USD × 10⁶).
    SpendMicros,
}

/// A calendar window in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The current minute.
    Minute,
    /// The current day.
    Day,
    /// The current month.
    Month,
}

/// One compiled `RuntimeLimit`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limit {
    /// Its name.
    pub name: String,
    /// Dimensions of its key; empty: one budget for all.
    pub key: Vec<KeyPart>,
    /// Requests per interval.
    pub requests: Option<Rate>,
    /// Requests in flight at once.
    pub concurrent: Option<u64>,
    /// Token and spend budgets.
    pub budgets: Vec<Budget>,
    /// Largest request in tokens.
    pub max_tokens_per_request: Option<u64>,
}

/// Parses `1s`, `250ms`, `10m`, `1h`, `1d` into milliseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms).filter(|&v| v > 0)
}
