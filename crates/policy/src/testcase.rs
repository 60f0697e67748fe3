//! Policy tests kept beside the policies (`*_test.yaml`), like `opa test`: each case is an
//! exchange (metadata, and a body to scan or findings given outright) with the decision
//! expected.
//!
//! ```yaml
//! policies: [../default.yaml]     # relative to this file; default: the policies beside it
//! tests:
//!   - name: an SSN to OpenAI is redacted
//!     exchange: {direction: request, provider: openai, route: openai, method: POST,
//!                path: /v1/chat/completions, model: gpt-4o}
//!     body: "my ssn is 536-90-4399"
//!     expect: {decision: redact, redacted: [US_SSN], decidedBy: default/pii}
//! ```

use rampart_core::{Action, DataClass, Finding};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::decide::action_name;
use crate::select::Exchange;
use crate::{Diagnostic, Diagnostics, EgressVerdict, Level, PolicySet, Source};

/// A file of test cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    policies: Vec<String>,
    tests: Vec<Spanned<TestCase>>,
}

/// A parsed test file.
#[derive(Debug)]
pub struct Tests {
    /// The policy files and folders the cases test, relative to the test file; empty: the
    /// policy files in the test file's folder.
    pub policies: Vec<String>,
    /// The cases, in order.
    pub cases: Vec<Located>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestCase {
    /// What the case checks.
    pub name: String,
    /// The exchange's metadata.
    #[serde(default)]
    pub exchange: Exchange,
    /// Text the caller scans for findings (the built-in scanner).
    pub body: Option<String>,
    /// Findings given outright, instead of or besides `body`.
    #[serde(default)]
    pub findings: Vec<GivenFinding>,
    /// What must come out.
    pub expect: Expect,
}

/// A finding stated in a test case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenFinding {
    /// Data class name.
    pub class: String,
    /// Detector id.
    pub detector: String,
    /// Confidence, 1 when left out.
    #[serde(default = "one")]
    pub score: f32,
}

fn one() -> f32 {
    1.0
}

/// The expected outcome; fields left out are not checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    /// allow, monitor, redact or block.
    pub decision: Option<String>,
    /// What monitor-mode policies would make it.
    pub would: Option<String>,
    /// `policy/rule` or `policy/condition`.
    pub decided_by: Option<String>,
    /// Classes redacted (exactly these).
    pub redacted: Option<Vec<String>>,
    /// allow, flag or block, for `exchange.destination`.
    pub egress: Option<String>,
}

/// A parsed case with where it was written.
#[derive(Debug)]
pub struct Located {
    /// `file:line`.
    pub place: String,
    /// The case.
    pub case: TestCase,
}

/// Parses a test file; diagnostics say where it is wrong.
pub fn parse(source: &Source) -> Result<Tests, Diagnostics> {
    match serde_saphyr::from_str::<TestFile>(&source.text) {
        Ok(file) => Ok(Tests {
            policies: file.policies,
            cases: file
                .tests
                .into_iter()
                .map(|t| Located {
                    place: format!("{}:{}", source.name, t.referenced.line()),
                    case: t.value,
                })
                .collect(),
        }),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as u32, l.column() as u32))
                .unwrap_or((1, 1));
            Err(Diagnostics(vec![Diagnostic {
                level: Level::Error,
                file: source.name.clone(),
                line,
                column,
                message: e.to_string().lines().next().unwrap_or("").to_owned(),
                hint: Some(
                    "a test file holds `tests:`, a list of {name, exchange, body or findings, expect}; see docs/POLICY.md"
                        .into(),
                ),
            }]))
        }
    }
}

impl GivenFinding {
    /// As a finding (span 0..0, no hash).
    pub fn to_finding(&self) -> Result<Finding, String> {
        let class = DataClass::from_name(&self.class)
            .ok_or_else(|| format!("unknown data class `{}`", self.class))?;
        Ok(Finding {
            class,
            // test findings live as long as the test run
            detector: Box::leak(self.detector.clone().into_boxed_str()),
            span: rampart_core::Span::new(0, 0),
            score: self.score,
            severity: rampart_core::Severity::High,
            owasp: class.owasp(),
            hash: rampart_core::ValueHash([0; 16]),
            layers: Vec::new(),
        })
    }
}

impl TestCase {
    /// Decides the case with `set` over `findings`; `Err` lists every mismatch.
    pub fn check(
        &self,
        set: &std::sync::Arc<PolicySet>,
        findings: &[Finding],
    ) -> Result<(), String> {
        let sel = set.select(&self.exchange);
        let d = sel.decide(&self.exchange, findings);
        let mut wrong = Vec::new();
        let e = &self.expect;
        if let Some(want) = &e.decision
            && want != action_name(d.action)
        {
            wrong.push(format!(
                "decision: want {want}, got {} ({})",
                action_name(d.action),
                explain_by(&d.decided_by)
            ));
        }
        if let Some(want) = &e.would
            && want != action_name(d.would)
        {
            wrong.push(format!("would: want {want}, got {}", action_name(d.would)));
        }
        if let Some(want) = &e.decided_by
            && want != &d.decided_by
        {
            wrong.push(format!(
                "decidedBy: want {want}, got {}",
                explain_by(&d.decided_by)
            ));
        }
        if let Some(want) = &e.redacted {
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            let mut got: Vec<&str> = d.redacted.iter().map(|c| c.name()).collect();
            want.sort_unstable();
            got.sort_unstable();
            if want != got {
                wrong.push(format!("redacted: want {want:?}, got {got:?}"));
            }
        }
        if let Some(want) = &e.egress {
            match &self.exchange.destination {
                None => wrong.push("egress is expected but the exchange has no destination".into()),
                Some(host) => {
                    let got = match sel.egress(host).0 {
                        EgressVerdict::Allow => "allow",
                        EgressVerdict::Flag => "flag",
                        EgressVerdict::Block => "block",
                    };
                    if want != got {
                        wrong.push(format!("egress: want {want}, got {got}"));
                    }
                }
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

fn explain_by(by: &str) -> &str {
    if by.is_empty() { "no rule" } else { by }
}

/// Whether an action name is valid in `expect`.
pub fn is_action(name: &str) -> bool {
    [
        Action::Allow,
        Action::Monitor,
        Action::Redact,
        Action::Block,
    ]
    .iter()
    .any(|&a| action_name(a) == name)
}
