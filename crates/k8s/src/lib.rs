//! Rampart's Kubernetes side: objects read from manifests (or listed from the API) as generic
//! JSON, posture checked against the OWASP Kubernetes Top 10 (2025) ([`posture`]), and AI
//! workloads recognised ([`ai`]). `rampart k8s audit` prints a [`Report`] as text, JSON or
//! SARIF. No output ever holds a secret value: checks name fields and variables only.
#![forbid(unsafe_code)]

pub mod ai;
pub mod manifest;
pub mod posture;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rampart_core::Severity;
use serde::Serialize;
use serde_json::{Value, json};

pub use ai::AiWorkload;
pub use manifest::{Object, ObjectRef};
pub use posture::Finding;

/// What an audit found: posture findings, most severe first, and the AI workloads.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Posture findings.
    pub findings: Vec<Finding>,
    /// Workloads that serve models or hold AI provider credentials.
    pub ai_workloads: Vec<AiWorkload>,
}

/// Audits a set of objects.
pub fn audit(objects: &[Object]) -> Report {
    Report {
        findings: posture::audit(objects),
        ai_workloads: objects.iter().filter_map(ai::recognise).collect(),
    }
}

/// An object as `Kind namespace/name` (`Kind name` when it has no namespace).
pub fn describe(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

/// The report for people.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for f in &report.findings {
        *counts.entry(f.severity).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "{} finding(s){}",
        report.findings.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                counts
                    .iter()
                    .rev()
                    .map(|(s, n)| format!("{n} {}", s.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    for f in &report.findings {
        let _ = writeln!(
            out,
            "{:<8} {} {:<26} {}{}: {}",
            f.severity.name().to_ascii_uppercase(),
            f.id,
            f.rule,
            describe(&f.object),
            f.container
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default(),
            f.message
        );
    }
    if !report.ai_workloads.is_empty() {
        let _ = writeln!(out, "\nAI workloads");
        for a in &report.ai_workloads {
            let _ = writeln!(
                out,
                "  {}: {}{}{}",
                describe(&a.object),
                a.server.as_deref().unwrap_or("AI client"),
                if a.models.is_empty() {
                    String::new()
                } else {
                    format!(", models {}", a.models.join(", "))
                },
                if a.credentials.is_empty() {
                    String::new()
                } else {
                    format!(", credentials {}", a.credentials.join(", "))
                }
            );
        }
    }
    out
}

/// The report as SARIF 2.1.0: one rule per check, one result per finding, located in the
/// manifest file and document it came from.
pub fn sarif(report: &Report, objects: &[Object]) -> Value {
    let mut rules: BTreeMap<&str, (&str, Severity)> = BTreeMap::new();
    for f in &report.findings {
        let e = rules.entry(f.rule).or_insert((f.id, f.severity));
        e.1 = e.1.max(f.severity);
    }
    let rule_index: BTreeMap<&str, usize> =
        rules.keys().enumerate().map(|(i, r)| (*r, i)).collect();
    let level = |s: Severity| match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    };
    let place = |o: &ObjectRef| objects.iter().find(|x| &x.id == o);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut location = json!({
                "logicalLocations": [{
                    "name": f.object.name,
                    "fullyQualifiedName": describe(&f.object),
                    "kind": "object",
                }]
            });
            if let Some(o) = place(&f.object).filter(|o| !o.file.is_empty()) {
                let mut physical = json!({"artifactLocation": {"uri": o.file}});
                if let Some(line) = o.line {
                    physical["region"] = json!({"startLine": line});
                }
                location["physicalLocation"] = physical;
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index[f.rule],
                "level": level(f.severity),
                "message": {"text": format!("{}{}: {}", describe(&f.object),
                    f.container.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(), f.message)},
                "locations": [location],
                "properties": {"owasp": f.id, "severity": f.severity.name(),
                               "container": f.container},
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "informationUri": "https://github.com/rampart-dev/rampart",
                "rules": rules.iter().map(|(rule, (id, sev))| json!({
                    "id": rule,
                    "name": rule,
                    "shortDescription": {"text": format!("{id} {rule}")},
                    "properties": {"owasp": id, "tags": ["kubernetes", "security", id]},
                    "defaultConfiguration": {"level": level(*sev)},
                })).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}
