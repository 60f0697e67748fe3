//! Limit headroom for the admin API and the console: each counter of the limiter read back as
//! the limit it belongs to, the key it counts for (caller, workload, model, ...), what it
//! counts, how much is used and how much is left.

use std::sync::Arc;

use rampart_policy::limit::{KeyPart, Limit, Quantity, Window};
use serde_json::{Value, json};

/// Undoes the escaping of key parts (`%7C` `|`, `%3A` `:`, `%7B` `{`, `%7D` `}`, `%25` `%`).
fn unescape(s: &str) -> String {
    s.replace("%7C", "|")
        .replace("%3A", ":")
        .replace("%7B", "{")
        .replace("%7D", "}")
        .replace("%25", "%")
}

fn part_name(p: &KeyPart) -> &'static str {
    match p {
        KeyPart::Caller => "caller",
        KeyPart::Workload => "workload",
        KeyPart::Namespace => "namespace",
        KeyPart::Ip => "ip",
        KeyPart::Route => "route",
        KeyPart::Provider => "provider",
        KeyPart::Model => "model",
    }
}

fn quantity(code: &str) -> Option<Quantity> {
    Some(match code {
        "in" => Quantity::InputTokens,
        "out" => Quantity::OutputTokens,
        "tok" => Quantity::TotalTokens,
        "usd" => Quantity::SpendMicros,
        _ => return None,
    })
}

fn window(code: &str) -> Option<Window> {
    Some(match code {
        "m" => Window::Minute,
        "d" => Window::Day,
        "M" => Window::Month,
        _ => return None,
    })
}

/// The counters that belong to a loaded limit, with their headroom. Spend is in US dollars.
pub fn headroom(usage: &[(String, i64)], limits: &[Arc<Limit>]) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, used) in usage {
        let Some(rest) = key.strip_prefix("rl:{") else {
            continue;
        };
        let Some((inner, suffix)) = rest.split_once('}') else {
            continue;
        };
        let mut parts = inner.split('|');
        let name = unescape(parts.next().unwrap_or(""));
        let Some(limit) = limits.iter().find(|l| l.name == name) else {
            continue;
        };
        let values: Vec<String> = parts.map(unescape).collect();
        let for_: serde_json::Map<String, Value> = limit
            .key
            .iter()
            .zip(&values)
            .map(|(p, v)| (part_name(p).to_owned(), json!(v)))
            .collect();
        let used = (*used).max(0) as u64;
        // `:tok:d:<window>` for a budget, `:conc` for concurrency
        let mut codes = suffix.trim_start_matches(':').split(':');
        let (first, second) = (codes.next().unwrap_or(""), codes.next());
        let (what, max, scale) = match second.map(|w| (first, w)) {
            Some((q, w)) => {
                let (Some(q), Some(w)) = (quantity(q), window(w)) else {
                    continue;
                };
                let Some(b) = limit.budgets.iter().find(|b| b.what == q && b.window == w) else {
                    continue;
                };
                let what = format!(
                    "{} per {}",
                    match q {
                        Quantity::InputTokens => "input tokens",
                        Quantity::OutputTokens => "output tokens",
                        Quantity::TotalTokens => "tokens",
                        Quantity::SpendMicros => "spend (USD)",
                    },
                    match w {
                        Window::Minute => "minute",
                        Window::Day => "day",
                        Window::Month => "month",
                    }
                );
                let scale = if q == Quantity::SpendMicros { 1e6 } else { 1.0 };
                (what, b.max, scale)
            }
            None if suffix == ":conc" => match limit.concurrent {
                Some(max) => ("requests in flight".to_owned(), max, 1.0),
                None => continue,
            },
            None => continue,
        };
        out.push(json!({
            "limit": name,
            "for": for_,
            "what": what,
            "used": used as f64 / scale,
            "max": max as f64 / scale,
            "headroom": max.saturating_sub(used) as f64 / scale,
        }));
    }
    out
}
