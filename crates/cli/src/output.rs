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
    /// Stable across runs and keys, and moves with the line: see [`fingerprint`].
    pub fingerprint: String,
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
    /// Findings left out because their line carries an allow comment.
    pub allowed: usize,
}

impl FileReport {
    /// The report of a scanned input, with more findings (LLM threats) of its text. Findings
    /// may overlap and span lines; positions are found in time linear in the text for sorted
    /// starts (one cursor for starts, one for ends).
    pub fn with(name: &str, scan: &Scan<'_>, extra: Vec<Finding>) -> FileReport {
        let text = &scan.text;
        let mut all: Vec<Finding> = scan.findings().cloned().chain(extra).collect();
        all.sort_by_key(|f| (f.span.start, f.span.end));
        let lines = Lines::new(text);
        let spans: Vec<(usize, usize, &'static str)> = all
            .iter()
            .map(|f| (f.span.start, f.span.end, f.class.name()))
            .collect();
        let (mut starts, mut ends) = (Cursor::default(), Cursor::default());
        let mut seen: std::collections::HashMap<[u8; 32], usize> = Default::default();
        let mut allowed = 0;
        // whether the line of the last finding carries an allow comment: looked up once per
        // line (a minified file is one line, and every finding is on it)
        let mut allow_cache: Option<(usize, bool)> = None;
        let mut findings = Vec::with_capacity(all.len());
        for f in all {
            let start = f.span.start.min(text.len());
            let end = f.span.end.clamp(start, text.len());
            let (line, column) = starts.position(&lines, text, start);
            let (end_line, end_column) = ends.position(&lines, text, end);
            let (ls, le) = lines.bounds(line - 1, text.len());
            let allow = match allow_cache {
                Some((l, a)) if l == line => a,
                _ => {
                    let a = allow_comment(&text[ls..le]);
                    allow_cache = Some((line, a));
                    a
                }
            };
            if allow {
                allowed += 1;
                continue;
            }
            let key = fingerprint(name, &f, text, (start, end), (ls, le), &spans);
            let n = seen.entry(key).or_default();
            *n += 1;
            findings.push(Located {
                fingerprint: format!("{}:{}", hex(&key[..16]), n),
                finding: f,
                line,
                column,
                end_line,
                end_column,
            });
        }
        FileReport {
            name: name.to_string(),
            findings,
            error: None,
            decompressed: scan.decompressed,
            allowed,
        }
    }

    /// The report of an input that could not be scanned.
    pub fn error(name: &str, message: String) -> FileReport {
        FileReport {
            name: name.to_string(),
            findings: Vec::new(),
            error: Some(message),
            decompressed: false,
            allowed: 0,
        }
    }
}

/// The byte offsets where the lines of a text start.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &[u8]) -> Lines {
        Lines(
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', text).map(|i| i + 1))
                .collect(),
        )
    }

    /// The 0-based line of byte `at`, and where that line starts.
    fn of(&self, at: usize) -> (usize, usize) {
        let i = self.0.partition_point(|&s| s <= at).saturating_sub(1);
        (i, self.0[i])
    }

    /// Where 0-based line `i` starts and ends (before its line break).
    fn bounds(&self, i: usize, len: usize) -> (usize, usize) {
        let start = self.0[i.min(self.0.len() - 1)];
        let end = self.0.get(i + 1).map_or(len, |&next| next - 1);
        (start, end.max(start))
    }
}

/// Comments that accept the findings of their line, as users of other scanners write them:
/// `rampart:allow`, `gitleaks:allow`, `pragma: allowlist secret` (detect-secrets).
fn allow_comment(line: &[u8]) -> bool {
    [
        "rampart:allow",
        "gitleaks:allow",
        "pragma: allowlist secret",
    ]
    .iter()
    .any(|m| memchr::memmem::find(line, m.as_bytes()).is_some())
}

/// A finding's fingerprint: BLAKE3 of the path, the detector and the finding's line (at most
/// [`CONTEXT`] bytes either side of it, for minified files) with every finding there replaced
/// by its class name. No value goes in (not even hashed), no key is needed, the line number
/// does not count (inserting lines above keeps it), and the caller numbers repeats of one
/// fingerprint in a file.
fn fingerprint(
    path: &str,
    f: &Finding,
    text: &[u8],
    (start, end): (usize, usize),
    (ls, le): (usize, usize),
    spans: &[(usize, usize, &str)],
) -> [u8; 32] {
    // `start..end` and `ls..le` lie in the text; the window does too
    let ws = ls.max(start.saturating_sub(CONTEXT)).min(le);
    let we = le.min(end.saturating_add(CONTEXT)).max(ws);
    let mut h = blake3::Hasher::new();
    h.update(b"rampart-fingerprint/v1\0");
    h.update(path.trim_start_matches("./").as_bytes());
    h.update(b"\0");
    h.update(f.detector.as_bytes());
    h.update(b"\0");
    // spans are sorted by start; one that overlaps the window starts at most a long finding's
    // length before it
    let lo = spans.partition_point(|s| s.0 + MAX_SPAN < ws);
    let hi = spans.partition_point(|s| s.0 < we);
    let mut at = ws;
    for &(s, e, class) in &spans[lo..hi] {
        if e <= at {
            continue;
        }
        let (s, e) = (s.clamp(at, we), e.clamp(at, we));
        h.update(&text[at..s]);
        h.update(class.as_bytes());
        at = e;
    }
    h.update(&text[at..we]);
    *h.finalize().as_bytes()
}

/// Bytes of a finding's line on either side of it that its fingerprint reads.
const CONTEXT: usize = 160;
/// Longest finding the fingerprint masks whole when it starts before the window.
const MAX_SPAN: usize = 64 * 1024;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The last position asked for, so the next one on the same line counts only the characters
/// in between.
#[derive(Default)]
struct Cursor {
    line: usize,
    at: usize,
    column: usize,
}

impl Cursor {
    /// 1-based line and column (Unicode code points) of byte `at`.
    fn position(&mut self, lines: &Lines, text: &[u8], at: usize) -> (usize, usize) {
        let (line, line_start) = lines.of(at);
        // on the line of the last position, count only what lies between (either way): a
        // minified file is one long line
        let column = if line == self.line && self.at >= line_start {
            if at >= self.at {
                self.column + chars(&text[self.at..at])
            } else {
                self.column - chars(&text[at..self.at])
            }
        } else {
            chars(&text[line_start..at])
        };
        *self = Cursor { line, at, column };
        (line + 1, column + 1)
    }
}

/// Code points in `b` read as UTF-8: the bytes that start a character (a stray continuation
/// byte counts as none).
fn chars(b: &[u8]) -> usize {
    b.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
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
        "fingerprint": l.fingerprint,
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
                "partialFingerprints": {"rampart/v1": l.fingerprint},
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rampart_core::{DataClass, Span};
    use rampart_detect::{HashKey, ScanOptions};

    /// Line and column of `at` counted from the start, the plain way.
    fn naive(text: &[u8], at: usize) -> (usize, usize) {
        let line = text[..at].iter().filter(|&&c| c == b'\n').count() + 1;
        let start = text[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        (line, chars(&text[start..at]) + 1)
    }

    fn finding(span: Span) -> Finding {
        let class = DataClass::PromptInjection;
        Finding {
            class,
            detector: "prompt_injection",
            span,
            score: 0.95,
            severity: rampart_core::Severity::High,
            owasp: class.owasp(),
            hash: HashKey::default().hash(class, b"x"),
            layers: Vec::new(),
        }
    }

    proptest! {
        /// Overlapping, nested and multi-line spans, in any order, anywhere in any text:
        /// no panic, and every position is the one counted from the start.
        #[test]
        fn positions_of_any_spans(
            text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(0xC3u8), Just(0xA9u8)], 0..200),
            spans in proptest::collection::vec((0usize..220, 0usize..220), 0..12),
        ) {
            let scan = rampart_detect::Scanner::builtin().scan(&text, &ScanOptions::default()).unwrap();
            let extra: Vec<Finding> = spans.iter().map(|&(a, b)| finding(Span::new(a.min(b), a.max(b)))).collect();
            let report = FileReport::with("t", &scan, extra);
            let t = &scan.text;
            for l in &report.findings {
                let s = l.finding.span.start.min(t.len());
                let e = l.finding.span.end.clamp(s, t.len());
                prop_assert_eq!((l.line, l.column), naive(t, s));
                prop_assert_eq!((l.end_line, l.end_column), naive(t, e));
            }
        }
    }
}
