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

use rampart_core::{Action, Finding};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::decide::action_name;
use crate::names::{self, ACTION_NAMES, EGRESS_NAMES, Names, PROVIDER_NAMES, SIGNAL_NAMES};
use crate::select::Exchange;
use crate::{Catalog, Diagnostic, Diagnostics, EgressVerdict, Level, PolicySet, Source};

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
    /// Data class name, with where it was written.
    pub class: Spanned<String>,
    /// Detector id, with where it was written.
    pub detector: Spanned<String>,
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
    /// The test file's name.
    pub file: String,
    /// The case's 1-based line.
    pub line: u32,
    /// The case's 1-based column.
    pub column: u32,
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
                    file: source.name.clone(),
                    line: t.referenced.line() as u32,
                    column: t.referenced.column() as u32,
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

/// Parses a test file and checks every closed name in it ([`check_names`]): the diagnostics
/// of both, or the cases.
pub fn parse_checked(source: &Source, catalog: &Catalog<'_>) -> Result<Tests, Diagnostics> {
    let tests = parse(source)?;
    let diags = check_names(&tests, catalog);
    if diags.is_empty() {
        Ok(tests)
    } else {
        Err(Diagnostics(diags))
    }
}

/// Every name in the cases that is outside its closed set, as errors with a close-match hint:
/// finding classes and detector ids (against `catalog`, unless it is empty), the exchange's
/// provider and signals, and the expected decision, `would`, redacted classes and egress
/// verdict. The same check as policies get, so a case cannot pass by naming a detector that
/// does not exist.
pub fn check_names(tests: &Tests, catalog: &Catalog<'_>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let detectors = names::detector_names(catalog.detectors);
    for located in &tests.cases {
        let case = &located.case;
        // names of the case as a whole are reported at the case's line
        let mut at_case = |result: Result<(), names::UnknownName>| {
            if let Err(e) = result {
                diags.push(error(&located.file, located.line, located.column, e));
            }
        };
        let check = |set: &Names<'_>, name: &str| set.check(name);
        if let Some(p) = &case.exchange.provider {
            at_case(check(&PROVIDER_NAMES, p));
        }
        for s in &case.exchange.signals {
            at_case(check(&SIGNAL_NAMES, s));
        }
        let e = &case.expect;
        for a in [&e.decision, &e.would].into_iter().flatten() {
            at_case(check(&ACTION_NAMES, a));
        }
        if let Some(v) = &e.egress {
            at_case(check(&EGRESS_NAMES, v));
        }
        for c in e.redacted.iter().flatten() {
            at_case(names::check_class(c).map(|_| ()));
        }
        for f in &case.findings {
            let place =
                |s: &Spanned<String>| (s.referenced.line() as u32, s.referenced.column() as u32);
            if let Err(e) = names::check_class(&f.class.value) {
                let (line, column) = place(&f.class);
                diags.push(error(&located.file, line, column, e));
            }
            if let Err(e) = detectors.check(&f.detector.value) {
                let (line, column) = place(&f.detector);
                diags.push(error(&located.file, line, column, e));
            }
        }
    }
    diags
}

fn error(file: &str, line: u32, column: u32, e: names::UnknownName) -> Diagnostic {
    Diagnostic {
        level: Level::Error,
        file: file.to_owned(),
        line,
        column,
        message: e.message(),
        hint: Some(e.hint),
    }
}

impl GivenFinding {
    /// As a finding (span 0..0, no hash).
    pub fn to_finding(&self) -> Result<Finding, String> {
        let class = names::check_class(&self.class.value).map_err(|e| e.to_string())?;
        Ok(Finding {
            class,
            // test findings live as long as the test run
            detector: Box::leak(self.detector.value.clone().into_boxed_str()),
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
