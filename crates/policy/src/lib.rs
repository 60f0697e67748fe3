//! Policy as code: `RuntimePolicy` documents (YAML shaped like Kubernetes resources) are parsed,
//! validated with every diagnostic at once (file:line:column and a hint), and compiled into a
//! [`PolicySet`] snapshot. For one exchange, [`PolicySet::select`] picks the policies whose
//! selectors match; the [`Selection`] then gives each finding its action (allow, monitor, redact
//! with a strategy, or block) and the exchange its [`Decision`], CEL conditions included, and
//! can explain which rule decided and why.
//!
//! Precedence: the most specific selector wins (the number of selector fields a policy
//! constrains); within one policy, the most specific match (detector id, then detector glob,
//! then class, then group); block beats allow at equal specificity. Policies in `monitor` mode
//! never change traffic: what they would do is reported beside the enforced decision.
//!
//! Pure: no IO. Callers read the files and pass their text.
#![forbid(unsafe_code)]

mod cel_env;
mod compile;
mod decide;
pub mod doc;
mod groups;
pub mod limit;
pub mod names;
mod select;
pub mod testcase;

pub use compile::{Catalog, LLM_DETECTORS, PROVIDERS, PolicySet, SIGNALS, fingerprint};
pub use decide::{Decision, Explanation, FindingVerdict, Origin, Selection, Verdict};
pub use groups::GROUPS;
pub use limit::{Budget, KeyPart, Limit, Quantity, Rate, Window};
pub use select::{Caller, Exchange};

use std::fmt;

/// One policy file's text and the name it is reported under.
#[derive(Clone, Debug)]
pub struct Source {
    /// The file name (or any label) diagnostics print.
    pub name: String,
    /// The YAML text; several documents separated by `---` lines.
    pub text: String,
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The policy set cannot be used.
    Error,
    /// Probably a mistake; the set still compiles.
    Warning,
}

/// One problem found while compiling policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// The source's name.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every diagnostic of a compilation that failed (errors, and the warnings beside them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.level == Level::Error)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Whether a policy changes traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Decisions are carried out.
    Enforce,
    /// Decisions are recorded only.
    Monitor,
}

/// What happens to exchanges that cannot be inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Refused with a clear error.
    Closed,
    /// Forwarded uninspected and recorded.
    Open,
}

/// What a `redact` rule does to the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Replace the values and let the exchange continue.
    Redact,
    /// Block the whole exchange instead.
    Block,
}

/// What happens to an egress destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EgressVerdict {
    /// Allowed (on the allow list, or no list applies).
    Allow,
    /// Allowed and recorded as unlisted (shadow AI when it is an AI host).
    Flag,
    /// Refused.
    Block,
}
