//! Closed sets of names (providers, data classes, detector ids, abuse signals, actions) checked
//! the same way wherever they are written: in policies, in their test cases and on the command
//! line. An unknown name gets a close-match hint when one exists.

use std::fmt;

use crate::compile::nearest;

/// A closed set of names.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    /// What one name is (`provider`, `data class`, `detector`), for messages.
    pub kind: &'static str,
    /// The names that exist.
    pub known: &'a [&'a str],
    /// Where to find the list when it is too long to print (`None`: printed in the hint).
    pub listed_by: Option<&'static str>,
}

/// A name outside its set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name is.
    pub kind: &'static str,
    /// The name as written.
    pub name: String,
    /// Close known names, closest first (at most three; empty when none is close).
    pub suggestions: Vec<String>,
    /// How to fix it: the close match and the known names (or where they are listed).
    pub hint: String,
}

impl UnknownName {
    /// `unknown KIND `NAME``, the diagnostic message without the hint.
    pub fn message(&self) -> String {
        format!("unknown {} `{}`", self.kind, self.name)
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.message(), self.hint)
    }
}

impl std::error::Error for UnknownName {}

impl Names<'_> {
    /// `Ok` when `name` is in the set (or the set is empty: nothing to check against).
    pub fn check(&self, name: &str) -> Result<(), UnknownName> {
        if self.known.is_empty() || self.known.contains(&name) {
            return Ok(());
        }
        let suggestions = suggest(name, self.known);
        let listing = match self.listed_by {
            Some(by) => by.to_owned(),
            None => format!("{}: {}", plural(self.kind), self.known.join(", ")),
        };
        let hint = match suggestions.as_slice() {
            [] => listing,
            [one] => format!("did you mean `{one}`? {listing}"),
            more => format!("did you mean {}? {listing}", quoted_or(more)),
        };
        Err(UnknownName {
            kind: self.kind,
            name: name.to_owned(),
            suggestions,
            hint,
        })
    }
}

/// The known names close to `name`: those that extend it (`github_pat` →
/// `github_pat_classic`), then the nearest by edit distance (also across case, for class
/// names); at most three.
fn suggest(name: &str, known: &[&str]) -> Vec<String> {
    let stem = format!("{name}_");
    let mut out: Vec<String> = known
        .iter()
        .filter(|k| k.starts_with(&stem))
        .take(3)
        .map(|k| (*k).to_owned())
        .collect();
    let near = nearest(name, known)
        .or_else(|| nearest(&name.to_ascii_uppercase(), known))
        .or_else(|| nearest(&name.to_ascii_lowercase(), known));
    if let Some(n) = near
        && out.len() < 3
        && !out.iter().any(|o| o == n)
    {
        out.push(n.to_owned());
    }
    out
}

fn quoted_or(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn plural(kind: &str) -> String {
    match kind.strip_suffix('s') {
        Some(_) => format!("{kind}es"),
        None => format!("{kind}s"),
    }
}

/// Provider ids ([`crate::PROVIDERS`]).
pub const PROVIDER_NAMES: Names<'static> = Names {
    kind: "provider",
    known: &crate::compile::PROVIDERS,
    listed_by: None,
};

/// Abuse signals ([`crate::SIGNALS`]).
pub const SIGNAL_NAMES: Names<'static> = Names {
    kind: "signal",
    known: &crate::compile::SIGNALS,
    listed_by: None,
};

/// Decisions a test case may expect.
pub const ACTION_NAMES: Names<'static> = Names {
    kind: "decision",
    known: &["allow", "monitor", "redact", "block"],
    listed_by: None,
};

/// Egress verdicts a test case may expect.
pub const EGRESS_NAMES: Names<'static> = Names {
    kind: "egress verdict",
    known: &["allow", "flag", "block"],
    listed_by: None,
};

/// Detector ids: `known` is the catalog's list.
pub fn detector_names<'a>(known: &'a [&'a str]) -> Names<'a> {
    Names {
        kind: "detector",
        known,
        listed_by: Some("`rampart detectors` lists every id"),
    }
}

/// Checks a data class name (`US_SSN`, `SECRET`, ...).
pub fn check_class(name: &str) -> Result<rampart_core::DataClass, UnknownName> {
    if let Some(c) = rampart_core::DataClass::from_name(name) {
        return Ok(c);
    }
    let known: Vec<&str> = rampart_core::DataClass::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    let err = Names {
        kind: "data class",
        known: &known,
        listed_by: None,
    }
    .check(name)
    .expect_err("a name from_name rejects is not in DataClass::ALL");
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_provider_gets_the_close_match_and_the_list() {
        let e = PROVIDER_NAMES.check("opnai").unwrap_err();
        assert_eq!(e.suggestions, ["openai"]);
        assert_eq!(
            e.to_string(),
            "unknown provider `opnai`; did you mean `openai`? providers: openai, anthropic, gemini, cohere"
        );
        let e = PROVIDER_NAMES.check("mistral").unwrap_err();
        assert!(e.suggestions.is_empty());
        assert!(e.hint.starts_with("providers: openai"), "{}", e.hint);
        assert!(PROVIDER_NAMES.check("gemini").is_ok());
    }

    #[test]
    fn a_detector_list_too_long_to_print_is_referred_to() {
        let known = ["github_personal_access_token", "us_ssn"];
        let e = detector_names(&known)
            .check("github_personal_acess_token")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown detector `github_personal_acess_token`; did you mean `github_personal_access_token`? `rampart detectors` lists every id"
        );
        // the ids that extend the name, then the closest spelling
        let known = [
            "github_pat_classic",
            "github_oauth_token",
            "github_pat_fine_grained",
            "gitlab_pat",
        ];
        let e = detector_names(&known).check("github_pat").unwrap_err();
        assert_eq!(
            e.hint,
            "did you mean `github_pat_classic`, `github_pat_fine_grained` or `gitlab_pat`? `rampart detectors` lists every id"
        );
        // an empty catalog checks nothing
        assert!(detector_names(&[]).check("anything").is_ok());
    }

    #[test]
    fn class_names_are_matched_across_case() {
        assert!(check_class("US_SSN").is_ok());
        let e = check_class("us_ssn").unwrap_err();
        assert_eq!(e.suggestions, ["US_SSN"]);
        assert!(e.hint.contains("data classes: "), "{}", e.hint);
    }
}
