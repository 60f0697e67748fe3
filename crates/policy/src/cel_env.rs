//! The CEL context conditions are evaluated in (documented in docs/POLICY.md):
//!
//! | variable | type | what |
//! |---|---|---|
//! | `direction` | string | `request` or `response` |
//! | `request` | map | `method`, `path`, `host`, `route`, `provider`, `model`, `destination` (strings, `""` when unknown) |
//! | `caller` | map | `ip`, `key_id`, `workload`, `namespace`, `service_account` (strings), `labels` (map) |
//! | `findings` | list of maps | `class`, `detector`, `severity` (strings), `score` (double) |
//! | `counts` | map | findings per class name, every class present (0 when none) |
//! | `total` | int | number of findings |
//! | `max_score` | double | highest finding score, 0 when none |
//! | `signals` | list of strings | abuse signals the caller raised (`volume_spike`, `near_duplicate_prompts`, `max_length_generations`, `embedding_enumeration`) |

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::objects::Key;
use cel::{Context, Env, ExecutionError, Program, Value};
use rampart_core::{DataClass, Direction, Finding};

use crate::select::Exchange;

/// The variables a condition may use.
pub(crate) const VARIABLES: [&str; 8] = [
    "direction",
    "request",
    "caller",
    "findings",
    "counts",
    "total",
    "max_score",
    "signals",
];

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Names bound by comprehension macros (`findings.exists(f, ...)`): not context variables.
pub(crate) fn comprehension_variables(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for mac in ["exists_one(", "exists(", "all(", "map(", "filter("] {
        let mut rest = source;
        while let Some(i) = rest.find(mac) {
            let after = &rest[i + mac.len()..];
            if let Some(comma) = after.find(',') {
                let name = after[..comma].trim();
                if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    names.push(name.to_owned());
                }
            }
            rest = after;
        }
    }
    names
}

/// The bit of each variable in a [`uses`] mask.
fn bit(name: &str) -> u8 {
    VARIABLES
        .iter()
        .position(|v| *v == name)
        .map_or(0, |i| 1 << i)
}

/// Which context variables `program` reads, as a bit mask (see [`VARIABLES`]).
pub(crate) fn uses(program: &Program) -> u8 {
    program
        .references()
        .variables()
        .into_iter()
        .fold(0, |m, v| m | bit(v))
}

/// A context holding the variables of `mask` for the exchange and its findings; built once
/// per decision and shared by every condition.
pub(crate) fn context(
    mask: u8,
    ex: &Exchange,
    direction: Direction,
    findings: &[Finding],
) -> Context<'static, 'static> {
    let mut cx = Context::with_env(ENV.clone());
    bind(&mut cx, mask, ex, direction, findings);
    cx
}

/// Evaluates `program` in `cx`: `Ok(bool)`, or why it could not.
pub(crate) fn eval(program: &Program, cx: &Context<'_, '_>) -> Result<bool, String> {
    match program.execute(cx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("yields {:?}, not a bool", other.type_of())),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `program` on a sample exchange to catch type errors at compile time. Missing keys are
/// not errors here (they depend on the exchange).
pub(crate) fn dry_run(program: &Program) -> Result<(), String> {
    let ex = Exchange {
        direction: Some(Direction::Request),
        route: Some("openai".into()),
        host: Some("api.openai.com".into()),
        path: "/v1/chat/completions".into(),
        method: "POST".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o".into()),
        ..Exchange::default()
    };
    let sample = Finding {
        class: DataClass::UsSsn,
        detector: "us_ssn",
        span: rampart_core::Span::new(0, 11),
        score: 0.9,
        severity: rampart_core::Severity::High,
        owasp: &[],
        hash: rampart_core::ValueHash([0; 16]),
        layers: Vec::new(),
    };
    let cx = context(
        u8::MAX,
        &ex,
        Direction::Request,
        std::slice::from_ref(&sample),
    );
    match program.execute(&cx) {
        Ok(Value::Bool(_)) => Ok(()),
        Ok(other) => Err(format!("it yields {:?}, not a bool", other.type_of())),
        Err(ExecutionError::NoSuchKey(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn bind(
    cx: &mut Context<'_, '_>,
    mask: u8,
    ex: &Exchange,
    direction: Direction,
    findings: &[Finding],
) {
    let s = |v: Option<&str>| Value::String(Arc::new(v.unwrap_or("").to_owned()));
    let wants = |name: &str| mask & bit(name) != 0;
    if wants("total") {
        cx.add_variable_from_value("total", Value::Int(findings.len() as i64));
    }
    if wants("max_score") {
        let max = findings
            .iter()
            .map(|f| f64::from(f.score))
            .fold(0.0, f64::max);
        cx.add_variable_from_value("max_score", Value::Float(max));
    }
    if wants("counts") {
        let mut counts: HashMap<Key, Value> = DataClass::ALL
            .iter()
            .map(|c| {
                let n = findings.iter().filter(|f| f.class == *c).count();
                (Key::from(c.name().to_owned()), Value::Int(n as i64))
            })
            .collect();
        counts.shrink_to_fit();
        cx.add_variable_from_value("counts", counts);
    }
    if wants("findings") {
        let list: Vec<Value> = findings
            .iter()
            .map(|f| {
                let mut m: HashMap<Key, Value> = HashMap::with_capacity(4);
                m.insert("class".into(), s(Some(f.class.name())));
                m.insert("detector".into(), s(Some(f.detector)));
                m.insert("severity".into(), s(Some(f.severity.name())));
                m.insert("score".into(), Value::Float(f64::from(f.score)));
                m.into()
            })
            .collect();
        cx.add_variable_from_value("findings", list);
    }
    if wants("signals") {
        let list: Vec<Value> = ex.signals.iter().map(|x| s(Some(x))).collect();
        cx.add_variable_from_value("signals", list);
    }
    if wants("direction") {
        cx.add_variable_from_value(
            "direction",
            match direction {
                Direction::Request => "request",
                Direction::Response => "response",
            },
        );
    }
    if wants("request") {
        let mut request: HashMap<Key, Value> = HashMap::with_capacity(7);
        request.insert("method".into(), s(Some(&ex.method)));
        request.insert("path".into(), s(Some(&ex.path)));
        request.insert("host".into(), s(ex.host.as_deref()));
        request.insert("route".into(), s(ex.route.as_deref()));
        request.insert("provider".into(), s(ex.provider.as_deref()));
        request.insert("model".into(), s(ex.model.as_deref()));
        request.insert("destination".into(), s(ex.destination.as_deref()));
        cx.add_variable_from_value("request", request);
    }
    if wants("caller") {
        let c = &ex.caller;
        let mut caller: HashMap<Key, Value> = HashMap::with_capacity(6);
        caller.insert("ip".into(), s(c.ip.map(|ip| ip.to_string()).as_deref()));
        caller.insert("key_id".into(), s(c.key_id.as_deref()));
        caller.insert("workload".into(), s(c.workload.as_deref()));
        caller.insert("namespace".into(), s(c.namespace.as_deref()));
        caller.insert("service_account".into(), s(c.service_account.as_deref()));
        let labels: HashMap<Key, Value> = c
            .labels
            .iter()
            .map(|(k, v)| (Key::from(k.clone()), s(Some(v))))
            .collect();
        caller.insert("labels".into(), labels.into());
        cx.add_variable_from_value("caller", caller);
    }
}
