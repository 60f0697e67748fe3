//! Reports of `rampart scan`: human text, JSON and SARIF 2.1.0. None of them holds a raw value.

use rampart_core::Finding;
use rampart_detect::{Scan, Scanner};
use serde_json::json;

/// A finding with its line and column (1-based; columns count Unicode code points).
#[derive(Debug)]
pub struct Located {
    /// The finding.
    pub finding: Finding,
    /// Line of the first byte.
    pub line: usize,
    /// Column of the first byte.
    pub column: usize,
    /// Line of the last byte.
    pub end_line: usize,
    /// Column after the last byte.
    pub end_column: usize,
}

/// What one input gave.
#[derive(Debug)]
pub struct FileReport {
    /// Path or `<stdin>`.
    pub name: String,
    /// Findings, in order.
    pub findings: Vec<Located>,
    /// Why the input could not be scanned.
    pub error: Option<String>,
    /// The input was compressed; spans refer to its decompressed text.
    pub decompressed: bool,
}

impl FileReport {
    /// The report of a scanned input, with more findings (LLM threats) of its text.
    pub fn with(name: &str, scan: &Scan<'_>, extra: Vec<Finding>) -> FileReport {
        let text = &scan.text;
        let mut all: Vec<Finding> = scan.findings().cloned().chain(extra).collect();
        all.sort_by_key(|f| (f.span.start, f.span.end));
        let mut findings = Vec::new();
        let (mut line, mut line_start, mut pos) = (1, 0, 0);
        let mut advance = |to: usize| {
            while pos < to {
                match memchr_newline(&text[pos..to]) {
                    Some(i) => {
                        line += 1;
                        pos += i + 1;
                        line_start = pos;
                    }
                    None => pos = to,
                }
            }
            let column = String::from_utf8_lossy(&text[line_start..to])
                .chars()
                .count()
                + 1;
            (line, column)
        };
        for f in all {
            let (l, c) = advance(f.span.start);
            let (el, ec) = advance(f.span.end.max(f.span.start));
            findings.push(Located {
                finding: f,
                line: l,
                column: c,
                end_line: el,
                end_column: ec,
            });
        }
        FileReport {
            name: name.to_string(),
            findings,
            error: None,
            decompressed: scan.decompressed,
        }
    }

    /// The report of an input that could not be scanned.
    pub fn error(name: &str, message: String) -> FileReport {
        FileReport {
            name: name.to_string(),
            findings: Vec::new(),
            error: Some(message),
            decompressed: false,
        }
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// A score rounded to three decimals for output.
pub fn round(score: f32) -> f64 {
    (f64::from(score) * 1000.0).round() / 1000.0
}

/// One line per finding: `path:line:col: CLASS detector (severity, score) hash`.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    let mut total = 0;
    for r in reports {
        if let Some(e) = &r.error {
            out.push_str(&format!("{}: error: {e}\n", r.name));
        }
        for l in &r.findings {
            total += 1;
            let f = &l.finding;
            let layers = if f.layers.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = f
                    .layers
                    .iter()
                    .map(|x| format!("{x:?}").to_lowercase())
                    .collect();
                format!(" in {}", names.join("/"))
            };
            out.push_str(&format!(
                "{}:{}:{}: {} {} ({}, score {:.2}){} hash {}\n",
                r.name,
                l.line,
                l.column,
                f.class.name(),
                f.detector,
                f.severity.name(),
                f.score,
                layers,
                f.hash
            ));
        }
    }
    let files = reports.iter().filter(|r| !r.findings.is_empty()).count();
    out.push_str(&format!(
        "{total} finding(s) in {files} of {} input(s)\n",
        reports.len()
    ));
    out
}

fn finding_json(l: &Located) -> serde_json::Value {
    let f = &l.finding;
    json!({
        "class": f.class.name(),
        "detector": f.detector,
        "start": f.span.start,
        "end": f.span.end,
        "line": l.line,
        "column": l.column,
        "score": round(f.score),
        "severity": f.severity.name(),
        "owasp": f.owasp,
        "hash": f.hash,
        "layers": f.layers,
    })
}

/// One JSON document: `{"inputs": [{"path", "findings": [...], "error"?}], "summary": {...}}`.
pub fn json(reports: &[FileReport]) -> String {
    let inputs: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let mut v = json!({
                "path": r.name,
                "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
            });
            if let Some(e) = &r.error {
                v["error"] = json!(e);
            }
            if r.decompressed {
                v["decompressed"] = json!(true);
            }
            v
        })
        .collect();
    let total: usize = reports.iter().map(|r| r.findings.len()).sum();
    let doc = json!({
        "inputs": inputs,
        "summary": {
            "inputs": reports.len(),
            "findings": total,
            "errors": reports.iter().filter(|r| r.error.is_some()).count(),
        }
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// A SARIF 2.1.0 log with one rule per detector and one result per finding.
pub fn sarif(reports: &[FileReport], scanner: &Scanner) -> String {
    let rules: Vec<serde_json::Value> = scanner
        .detectors()
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.title,
                "shortDescription": {"text": d.title},
                "fullDescription": {"text": d.docs},
                "defaultConfiguration": {"level": level(d.severity)},
                "properties": {
                    "tags": std::iter::once(d.class.name()).chain(d.class.owasp().iter().map(|o| o.as_str())).collect::<Vec<_>>(),
                    "security-severity": security_severity(d.severity),
                }
            })
        })
        .collect();
    let index = |id: &str| {
        scanner
            .detectors()
            .iter()
            .position(|d| d.id == id)
            .unwrap_or(0)
    };
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for r in reports {
        if let Some(e) = &r.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": format!("{}: {e}", r.name)},
            }));
        }
        for l in &r.findings {
            let f = &l.finding;
            results.push(json!({
                "ruleId": f.detector,
                "ruleIndex": index(f.detector),
                "level": level(f.severity),
                "message": {"text": format!("{} found by {} (score {:.2}); value withheld, hash {}", f.class.name(), f.detector, f.score, f.hash)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&r.name)},
                        "region": {
                            "startLine": l.line,
                            "startColumn": l.column,
                            "endLine": l.end_line,
                            "endColumn": l.end_column,
                            "byteOffset": f.span.start,
                            "byteLength": f.span.len(),
                        }
                    }
                }],
                "partialFingerprints": {"rampartValueHash/v1": f.hash.to_string()},
                "properties": {"class": f.class.name(), "score": round(f.score), "owasp": f.owasp},
            }));
        }
    }
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/rampart-dev/rampart",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "invocations": [{"executionSuccessful": notifications.is_empty(), "toolExecutionNotifications": notifications}],
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn level(s: rampart_core::Severity) -> &'static str {
    use rampart_core::Severity::*;
    match s {
        Critical | High => "error",
        Medium => "warning",
        Low | Info => "note",
    }
}

fn security_severity(s: rampart_core::Severity) -> &'static str {
    use rampart_core::Severity::*;
    match s {
        Critical => "9.5",
        High => "8.0",
        Medium => "5.5",
        Low => "3.0",
        Info => "1.0",
    }
}

/// A relative URI for a path (SARIF wants forward slashes, no `./`).
fn uri(name: &str) -> String {
    name.trim_start_matches("./").replace('\\', "/")
}
