//! The inventory document in the other formats `rampart discover` prints: a text summary, an
//! OpenAPI 3.1 document reconstructed from traffic, and the flow graph as Mermaid or Graphviz
//! DOT.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::inventory::Document;

/// A summary for people: endpoints grouped by host, then AI use and flows.
pub fn text(doc: &Document) -> String {
    let mut out = String::new();
    let mut by_host: BTreeMap<&str, Vec<&crate::inventory::Endpoint>> = BTreeMap::new();
    for e in &doc.endpoints {
        by_host.entry(&e.host).or_default().push(e);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &doc.endpoints {
        *counts.entry(e.status).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "{} endpoints on {} hosts ({})",
        doc.endpoints.len(),
        by_host.len(),
        counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (host, eps) in by_host {
        let _ = writeln!(
            out,
            "\n{}",
            if host.is_empty() { "(any host)" } else { host }
        );
        for e in eps {
            let classes: Vec<&str> = e
                .request_classes
                .iter()
                .chain(&e.response_classes)
                .map(String::as_str)
                .collect();
            let _ = writeln!(
                out,
                "  {:<7} {:<50} {:<10} {:>6} calls  auth {:<12} risk {:>3}{}",
                e.method,
                e.path,
                e.status,
                e.calls,
                e.auth.join(","),
                e.risk,
                if classes.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", classes.join(", "))
                }
            );
        }
    }
    if !doc.ai.is_empty() {
        let _ = writeln!(out, "\nAI use");
        for a in &doc.ai {
            let _ = writeln!(
                out,
                "  {:<40} {:<18} {:>6} calls  {}  models: {}",
                a.host,
                a.provider,
                a.calls,
                if a.via_gateway {
                    "via gateway"
                } else {
                    "NOT via gateway (shadow AI)"
                },
                a.models.join(", ")
            );
        }
    }
    for (kind, title) in [
        ("data_store", "Data stores"),
        ("third_party", "Third-party APIs"),
    ] {
        let nodes: Vec<_> = doc.nodes.iter().filter(|n| n.kind == kind).collect();
        if !nodes.is_empty() {
            let _ = writeln!(out, "\n{title}");
            for n in nodes {
                let _ = writeln!(
                    out,
                    "  {}{}",
                    n.id,
                    n.store
                        .as_deref()
                        .map(|s| format!("  ({s})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if !doc.lineage.is_empty() {
        let _ = writeln!(out, "\nLineage (third-party data carried on)");
        for l in &doc.lineage {
            let _ = writeln!(
                out,
                "  {}: {} -> {} -> {} ({})  {} calls",
                l.class, l.source, l.via, l.sink, l.sink_kind, l.calls
            );
        }
    }
    let sensitive: Vec<_> = doc.flows.iter().filter(|f| !f.classes.is_empty()).collect();
    if !sensitive.is_empty() {
        let _ = writeln!(out, "\nSensitive data flows");
        for f in sensitive {
            let _ = writeln!(
                out,
                "  {} -> {}  {} calls  [{}]",
                f.from,
                f.to,
                f.calls,
                f.classes.join(", ")
            );
        }
    }
    out
}

/// An OpenAPI 3.1 document of what traffic showed: one server per host, the endpoints as
/// operations with their path parameters and inferred body schemas. Endpoints never seen are
/// left out; shadow and zombie ones carry `x-rampart-status`.
pub fn openapi(doc: &Document) -> Value {
    let mut hosts: Vec<&str> = doc
        .endpoints
        .iter()
        .filter(|e| e.calls > 0)
        .map(|e| e.host.as_str())
        .collect();
    hosts.sort();
    hosts.dedup();
    let mut paths = Map::new();
    for e in doc.endpoints.iter().filter(|e| e.calls > 0) {
        // with several hosts, a path two hosts serve holds both hosts' operations (each names
        // its host in `x-rampart-host`; the last one seen of a method wins)
        let item = paths
            .entry(e.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter(|s| crate::template::is_param(s))
            .map(|s| {
                json!({"name": &s[1..s.len() - 1], "in": "path", "required": true,
                       "schema": {"type": "string"}})
            })
            .collect();
        let mut op = Map::new();
        op.insert("x-rampart-host".into(), json!(e.host));
        op.insert("x-rampart-status".into(), json!(e.status));
        op.insert("x-rampart-calls".into(), json!(e.calls));
        if e.status == "zombie" {
            op.insert("deprecated".into(), json!(true));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(s) = &e.request_schema {
            op.insert(
                "requestBody".into(),
                json!({"content": {"application/json": {"schema": s}}}),
            );
        }
        let mut responses = Map::new();
        for code in e.responses.keys() {
            let mut r = Map::new();
            r.insert(
                "description".into(),
                json!(format!("seen {} times", e.responses[code])),
            );
            if let Some(s) = &e.response_schema
                && code.starts_with('2')
            {
                r.insert("content".into(), json!({"application/json": {"schema": s}}));
            }
            responses.insert(code.clone(), Value::Object(r));
        }
        if responses.is_empty() {
            responses.insert("default".into(), json!({"description": "no response seen"}));
        }
        op.insert("responses".into(), Value::Object(responses));
        item.insert(e.method.to_ascii_lowercase(), Value::Object(op));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Reconstructed from traffic by rampart discover", "version": "observed"},
        "servers": hosts.iter().map(|h| json!({"url": format!("https://{h}")})).collect::<Vec<_>>(),
        "paths": paths,
    })
}

/// An edge's label: its calls and the classes it carried.
fn flow_label(f: &crate::inventory::Flow) -> String {
    if f.classes.is_empty() {
        format!("{} calls", f.calls)
    } else {
        format!("{} calls: {}", f.calls, f.classes.join(", "))
    }
}

/// A node id safe in both graph languages.
fn node(name: &str) -> String {
    let mut id = String::from("n_");
    for c in name.chars() {
        id.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    id
}

/// The flow graph in Mermaid (`flowchart LR`): callers, hosts and AI providers, edges labelled
/// with the data classes and call counts.
pub fn mermaid(doc: &Document) -> String {
    let mut out = String::from("flowchart LR\n");
    // node shapes: stores as cylinders, AI providers as circles, third parties as
    // parallelograms
    for n in &doc.nodes {
        let label = n.id.replace('"', "'");
        let shape = match n.kind {
            "data_store" => format!("[(\"{label}\")]"),
            "ai_provider" => format!("((\"{label}\"))"),
            "third_party" => format!("[/\"{label}\"/]"),
            "identity" => format!("([\"{label}\"])"),
            _ => format!("[\"{label}\"]"),
        };
        let _ = writeln!(out, "  {}{shape}", node(&n.id));
    }
    for f in &doc.flows {
        let label = flow_label(f);
        let _ = writeln!(
            out,
            "  {} -->|\"{}\"| {}",
            node(&f.from),
            label.replace('"', "'"),
            node(&f.to),
        );
    }
    for a in &doc.ai {
        let _ = writeln!(
            out,
            "  {} -.->|\"{}\"| {}((\"{}\"))",
            node(&a.host),
            if a.via_gateway {
                "via gateway"
            } else {
                "shadow AI"
            },
            node(&format!("ai_{}", a.provider)),
            a.provider
        );
    }
    out
}

/// The flow graph in Graphviz DOT.
pub fn dot(doc: &Document) -> String {
    let mut out = String::from("digraph rampart {\n  rankdir=LR;\n");
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    for n in &doc.nodes {
        let shape = match n.kind {
            "data_store" => "cylinder",
            "ai_provider" => "ellipse",
            "third_party" => "parallelogram",
            "identity" => "oval",
            _ => "box",
        };
        let _ = writeln!(out, "  \"{}\" [shape={shape}];", esc(&n.id));
    }
    for f in &doc.flows {
        let label = flow_label(f);
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"{}];",
            esc(&f.from),
            esc(&f.to),
            esc(&label),
            if f.classes.is_empty() {
                ""
            } else {
                ", color=red"
            }
        );
    }
    for a in &doc.ai {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [style=dashed, label=\"{}\"];",
            esc(&a.host),
            esc(&format!("AI: {}", a.provider)),
            if a.via_gateway {
                "via gateway"
            } else {
                "shadow AI"
            }
        );
    }
    out.push_str("}\n");
    out
}

/// The flow graph as data: nodes (identities, services, third-party APIs, AI providers and
/// data stores, with their kinds) and edges (flows with their data classes and calls; AI use
/// from a host to its provider; lineage from a third-party source to a store or AI sink).
pub fn graph(doc: &Document) -> Value {
    let mut nodes: BTreeMap<String, Value> =
        doc.nodes.iter().map(|n| (n.id.clone(), json!(n))).collect();
    let mut edges = Vec::new();
    for f in &doc.flows {
        edges.push(json!({"from": f.from, "to": f.to, "kind": "data", "classes": f.classes, "calls": f.calls}));
    }
    for a in &doc.ai {
        let provider = format!("ai:{}", a.provider);
        nodes.insert(
            provider.clone(),
            json!({"id": provider, "kind": "ai_provider"}),
        );
        edges.push(
            json!({"from": a.host, "to": provider, "kind": "ai", "models": a.models,
                          "calls": a.calls, "via_gateway": a.via_gateway}),
        );
    }
    for l in &doc.lineage {
        edges.push(
            json!({"from": l.source, "to": l.sink, "kind": "lineage", "via": l.via,
                          "classes": [l.class], "calls": l.calls}),
        );
    }
    json!({
        "nodes": nodes.into_values().collect::<Vec<_>>(),
        "edges": edges,
    })
}

/// The endpoints of `doc` that match every filter given (`status`, `host`, `method`, and
/// `class`: a data class either way).
pub fn filter_endpoints<'d>(
    doc: &'d Document,
    status: Option<&str>,
    host: Option<&str>,
    method: Option<&str>,
    class: Option<&str>,
) -> Vec<&'d crate::inventory::Endpoint> {
    doc.endpoints
        .iter()
        .filter(|e| status.is_none_or(|s| e.status == s))
        .filter(|e| host.is_none_or(|h| e.host.eq_ignore_ascii_case(h)))
        .filter(|e| method.is_none_or(|m| e.method.eq_ignore_ascii_case(m)))
        .filter(|e| {
            class.is_none_or(|c| {
                e.request_classes
                    .iter()
                    .chain(&e.response_classes)
                    .any(|x| x == c)
            })
        })
        .collect()
}

/// Every finding of `doc` with its endpoint, filtered (`severity`: that level or above;
/// `owasp`, `class`, `host`, `detector`: equal), most severe and most frequent first.
pub fn findings(
    doc: &Document,
    severity: Option<&str>,
    owasp: Option<&str>,
    class: Option<&str>,
    host: Option<&str>,
    detector: Option<&str>,
) -> Vec<Value> {
    let rank = |s: &str| match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    };
    let floor = severity.map_or(0, rank);
    let mut out: Vec<(i32, u64, Value)> = Vec::new();
    for e in &doc.endpoints {
        if host.is_some_and(|h| !e.host.eq_ignore_ascii_case(h)) {
            continue;
        }
        for f in &e.findings {
            if rank(&f.severity) < floor
                || owasp.is_some_and(|o| !f.owasp.iter().any(|x| x == o))
                || class.is_some_and(|c| f.class != c)
                || detector.is_some_and(|d| f.detector != d)
            {
                continue;
            }
            out.push((
                rank(&f.severity),
                f.count,
                json!({"host": e.host, "method": e.method, "path": e.path, "status": e.status,
                       "detector": f.detector, "class": f.class, "direction": f.direction,
                       "severity": f.severity, "owasp": f.owasp, "count": f.count,
                       "first_seen": f.first_seen, "last_seen": f.last_seen}),
            ));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}
