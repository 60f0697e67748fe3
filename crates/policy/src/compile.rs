//! Parsing, validation and compilation of policy documents into a [`PolicySet`]. Every problem
//! becomes a [`Diagnostic`] with its place and a hint; compilation goes on after an error so
//! one run reports them all (a document whose YAML does not parse reports that one error).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rampart_core::{Action, DataClass, Direction, Strategy};
use serde_saphyr::Spanned;

use crate::doc::{self, Document};
use crate::groups;
use crate::limit::{Budget, KeyPart, Limit, Quantity, Rate, Window};
use crate::select::{CompiledSelector, Globs, PathTemplate};
use crate::{Diagnostic, Diagnostics, EgressVerdict, FailMode, Flow, Level, Mode, Source, cel_env};

/// What the compiler checks names against.
#[derive(Clone, Copy, Debug, Default)]
pub struct Catalog<'a> {
    /// Detector ids that exist; empty skips the check.
    pub detectors: &'a [&'a str],
}

/// The LLM threat detectors a policy may set thresholds for.
pub const LLM_DETECTORS: [&str; 7] = [
    "promptInjection",
    "jailbreak",
    "indirectInjection",
    "systemPromptLeak",
    "hiddenText",
    "unsafeOutput",
    "poisoning",
];

/// The rule an `llm` threshold stands for: the key's findings at or above the threshold get the
/// action. `promptInjection` names the class (any injection finding), the others name their
/// detectors, so a more specific key wins over `promptInjection` for its findings.
fn llm_rule(key: &str, threshold: f32, action: Action) -> Option<Rule> {
    let class = |c: DataClass| 1u32 << class_index(c);
    let glob = |g: &str| {
        let mut b = GlobSetBuilder::new();
        b.add(GlobBuilder::new(g).build().ok()?);
        b.build().ok()
    };
    let (exact, globs, classes, strategy): (Vec<String>, Option<GlobSet>, u32, Strategy) = match key
    {
        "promptInjection" => (
            vec![],
            None,
            class(DataClass::PromptInjection),
            Strategy::Mask,
        ),
        "jailbreak" => (vec!["jailbreak".into()], None, 0, Strategy::Mask),
        "indirectInjection" => (vec![], glob("indirect_*"), 0, Strategy::Mask),
        "poisoning" => (vec!["poisoned_content".into()], None, 0, Strategy::Mask),
        "systemPromptLeak" => (
            vec![],
            None,
            class(DataClass::SystemPromptLeak),
            Strategy::Mask,
        ),
        "hiddenText" => (vec![], None, class(DataClass::HiddenText), Strategy::Remove),
        "unsafeOutput" => (
            vec![],
            None,
            class(DataClass::UnsafeOutput),
            Strategy::Remove,
        ),
        _ => return None,
    };
    Some(Rule {
        name: format!("llm.{key}"),
        exact,
        globs,
        classes,
        group_classes: 0,
        group_globs: None,
        action,
        strategy,
        min_score: threshold,
    })
}

/// A compiled, validated set of policies: the snapshot the gateway swaps on reload.
#[derive(Debug)]
pub struct PolicySet {
    pub(crate) policies: Vec<Policy>,
    pub(crate) limits: Vec<Arc<Limit>>,
    /// Warnings of the compilation.
    pub warnings: Vec<Diagnostic>,
    version: String,
}

impl PolicySet {
    /// Whether the enforce-mode policy `name` asks to quarantine the pods it blocks
    /// (`spec.quarantine`). `name` may be a `policy/rule` origin.
    pub fn quarantines(&self, name: &str) -> bool {
        let policy = name.split('/').next().unwrap_or(name);
        self.policies
            .iter()
            .any(|p| p.name == policy && p.quarantine && p.mode == Mode::Enforce)
    }
}

/// One compiled policy.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) mode: Mode,
    pub(crate) fail: Option<FailMode>,
    pub(crate) flow: Option<Flow>,
    pub(crate) selector: CompiledSelector,
    pub(crate) specificity: u32,
    pub(crate) rules: Vec<Rule>,
    pub(crate) egress: Option<Egress>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) llm: BTreeMap<String, (f32, Action)>,
    /// Insert canary tokens into system prompts (`llm.systemPromptLeak.canary`).
    pub(crate) canary: bool,
    /// Hosts output may point to (`llm.unsafeOutput.allowHosts`).
    pub(crate) allow_hosts: Vec<String>,
    pub(crate) limits: Vec<String>,
    /// Quarantine the calling pod when this policy blocks.
    pub(crate) quarantine: bool,
    /// Where each limit reference is written: (name, line, column).
    pub(crate) limit_refs: Vec<(String, u32, u32)>,
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) exact: Vec<String>,
    pub(crate) globs: Option<GlobSet>,
    /// Bit `i` set: class `DataClass::ALL[i]` matches.
    pub(crate) classes: u32,
    pub(crate) group_classes: u32,
    pub(crate) group_globs: Option<GlobSet>,
    pub(crate) action: Action,
    pub(crate) strategy: Strategy,
    pub(crate) min_score: f32,
}

/// Rule-match specificity: how precisely a rule named the finding.
pub(crate) const BY_DETECTOR: u8 = 4;
pub(crate) const BY_DETECTOR_GLOB: u8 = 3;
pub(crate) const BY_CLASS: u8 = 2;
pub(crate) const BY_GROUP: u8 = 1;

impl Rule {
    /// How precisely this rule names a finding of `class` from `detector` with `score`; `None`
    /// when it does not match.
    pub(crate) fn specificity(&self, class: DataClass, detector: &str, score: f32) -> Option<u8> {
        if score < self.min_score {
            return None;
        }
        let bit = 1u32 << class_index(class);
        if self.exact.iter().any(|d| d == detector) {
            Some(BY_DETECTOR)
        } else if self.globs.as_ref().is_some_and(|g| g.is_match(detector)) {
            Some(BY_DETECTOR_GLOB)
        } else if self.classes & bit != 0 {
            Some(BY_CLASS)
        } else if self.group_classes & bit != 0
            || self
                .group_globs
                .as_ref()
                .is_some_and(|g| g.is_match(detector))
        {
            Some(BY_GROUP)
        } else {
            None
        }
    }
}

/// Compiled egress lists.
#[derive(Debug)]
pub(crate) struct Egress {
    pub(crate) allow: Option<GlobSet>,
    pub(crate) deny: Option<GlobSet>,
    pub(crate) unlisted: EgressVerdict,
}

/// A compiled CEL condition.
pub(crate) struct Condition {
    /// The context variables the program reads (bit mask).
    pub(crate) uses: u8,
    pub(crate) name: String,
    pub(crate) source: String,
    pub(crate) program: cel::Program,
    pub(crate) action: Action,
    pub(crate) reason: String,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.name)
            .field("when", &self.source)
            .field("action", &self.action)
            .finish()
    }
}

pub(crate) fn class_index(class: DataClass) -> usize {
    DataClass::ALL
        .iter()
        .position(|&c| c == class)
        .expect("every class is in ALL")
}

impl PolicySet {
    /// Parses, validates and compiles `sources`. On any error returns every diagnostic
    /// (errors and warnings); on success the set keeps its warnings.
    pub fn compile(sources: &[Source], catalog: &Catalog<'_>) -> Result<PolicySet, Diagnostics> {
        let mut cx = Compiler {
            diags: Vec::new(),
            catalog,
        };
        let mut policies = Vec::new();
        let mut limits: Vec<(Limit, String, u32)> = Vec::new();
        for source in sources {
            for (offset, text) in documents(&source.text) {
                let at = Place {
                    file: &source.name,
                    offset,
                };
                let kind = serde_saphyr::from_str::<doc::Kind>(text)
                    .ok()
                    .and_then(|k| k.kind)
                    .map(|k| k.value);
                if kind.as_deref() == Some("RuntimeLimit") {
                    match serde_saphyr::from_str::<doc::LimitDocument>(text) {
                        Ok(doc) => {
                            if let Some(l) = cx.limit(doc, &at) {
                                limits.push(l);
                            }
                        }
                        Err(e) => cx.yaml_error(&source.name, offset, &e),
                    }
                    continue;
                }
                match serde_saphyr::from_str::<Document>(text) {
                    Ok(doc) => {
                        if let Some(p) = cx.policy(doc, &at) {
                            policies.push(p);
                        }
                    }
                    Err(e) => {
                        let (line, column) = e
                            .location()
                            .map(|l| (l.line() as u32, l.column() as u32))
                            .unwrap_or((1, 1));
                        cx.diags.push(Diagnostic {
                            level: Level::Error,
                            file: source.name.clone(),
                            line: line + offset,
                            column,
                            message: first_line(&e.to_string()),
                            hint: Some(yaml_hint(&e.to_string())),
                        });
                    }
                }
            }
        }
        // limit names are unique, and every reference names one
        let mut known: HashMap<&str, (&str, u32)> = HashMap::new();
        for (l, file, line) in &limits {
            if let Some((f, ln)) = known.insert(&l.name, (file, *line)) {
                cx.diags.push(Diagnostic {
                    level: Level::Error,
                    file: file.clone(),
                    line: *line,
                    column: 1,
                    message: format!("a limit named `{}` is already defined", l.name),
                    hint: Some(format!(
                        "the first is at {f}:{ln}; give each limit its own metadata.name"
                    )),
                });
            }
        }
        for p in &policies {
            for (name, line, column) in &p.limit_refs {
                if !known.contains_key(name.as_str()) {
                    let names: Vec<&str> = known.keys().copied().collect();
                    cx.diags.push(Diagnostic {
                        level: Level::Error,
                        file: p.file.clone(),
                        line: *line,
                        column: *column,
                        message: format!(
                            "policy `{}` references the unknown limit `{name}`",
                            p.name
                        ),
                        hint: Some(if names.is_empty() {
                            "define it in a `kind: RuntimeLimit` document loaded with the policies"
                                .into()
                        } else {
                            format!("limits defined: {}", names.join(", "))
                        }),
                    });
                }
            }
        }
        // names are unique
        let mut seen: HashMap<&str, (&str, u32)> = HashMap::new();
        for p in &policies {
            if let Some((file, line)) = seen.insert(&p.name, (&p.file, p.line)) {
                cx.diags.push(Diagnostic {
                    level: Level::Error,
                    file: p.file.clone(),
                    line: p.line,
                    column: 1,
                    message: format!("a policy named `{}` is already defined", p.name),
                    hint: Some(format!(
                        "the first is at {file}:{line}; give each policy its own metadata.name"
                    )),
                });
            }
        }
        // in the order of the files, as written
        let order: HashMap<&str, usize> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        cx.diags
            .sort_by_key(|d| (order.get(d.file.as_str()).copied(), d.line, d.column));
        if cx.diags.iter().any(|d| d.level == Level::Error) {
            return Err(Diagnostics(cx.diags));
        }
        // most specific first: selection walks them in this order
        policies.sort_by_key(|p| std::cmp::Reverse(p.specificity));
        Ok(PolicySet {
            policies,
            limits: limits.into_iter().map(|(l, ..)| Arc::new(l)).collect(),
            warnings: cx.diags,
            version: fingerprint(sources),
        })
    }

    /// A content hash of the sources: changes whenever a policy file does.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The names of the policies, most specific first.
    pub fn names(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.name.as_str()).collect()
    }

    /// The names of the policies in enforce mode (the others only monitor).
    pub fn enforcing(&self) -> Vec<&str> {
        self.policies
            .iter()
            .filter(|p| p.mode == Mode::Enforce)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Whether any selector reads the model or abuse signals (known only once the body is
    /// read): when none does, one selection per direction is enough.
    pub fn reads_model_or_signals(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.selector.models.0.is_some() || !p.selector.signals.is_empty())
    }

    /// The names of the limits defined.
    pub fn limit_names(&self) -> Vec<&str> {
        self.limits.iter().map(|l| l.name.as_str()).collect()
    }

    /// Every limit defined.
    pub fn all_limits(&self) -> &[Arc<crate::limit::Limit>] {
        &self.limits
    }

    /// Shares the set (selections keep it alive).
    pub fn shared(self) -> Arc<PolicySet> {
        Arc::new(self)
    }
}

/// The version a set compiled from `sources` gets: a hash of their names and texts, so a
/// reload can tell unchanged files without compiling them.
pub fn fingerprint(sources: &[Source]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for s in sources {
        s.name.hash(&mut hasher);
        s.text.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// The documents of a YAML text: each with the number of lines before it.
fn documents(text: &str) -> Vec<(u32, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 0u32;
    let mut pos = 0;
    for (line_no, line) in (0u32..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") {
            docs.push((start_line, &text[start..pos]));
            start = pos + line.len();
            start_line = line_no + 1;
        }
        pos += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs.retain(|(_, t)| {
        t.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// The first line of a YAML error, without the `error: line N column M:` prefix the place is
/// reported in anyway.
fn first_line(s: &str) -> String {
    let mut line = s.lines().next().unwrap_or(s).trim();
    line = line.strip_prefix("error: ").unwrap_or(line);
    if line.starts_with("line ")
        && let Some((_, rest)) = line.split_once(": ")
    {
        line = rest;
    }
    line.to_owned()
}

fn yaml_hint(message: &str) -> String {
    if message.contains("unknown field") {
        "check the spelling against docs/POLICY.md; fields are camelCase".into()
    } else if message.contains("missing field") {
        "every document needs apiVersion, kind, metadata.name and spec".into()
    } else {
        "the document is not valid YAML of a RuntimePolicy; see docs/POLICY.md".into()
    }
}

/// Where the document being compiled is.
struct Place<'a> {
    file: &'a str,
    offset: u32,
}

struct Compiler<'c> {
    diags: Vec<Diagnostic>,
    catalog: &'c Catalog<'c>,
}

impl Compiler<'_> {
    fn error<T>(&mut self, at: &Place<'_>, node: &Spanned<T>, message: String, hint: &str) {
        self.push(Level::Error, at, node, message, hint);
    }

    fn warn<T>(&mut self, at: &Place<'_>, node: &Spanned<T>, message: String, hint: &str) {
        self.push(Level::Warning, at, node, message, hint);
    }

    fn push<T>(
        &mut self,
        level: Level,
        at: &Place<'_>,
        node: &Spanned<T>,
        message: String,
        hint: &str,
    ) {
        self.diags.push(Diagnostic {
            level,
            file: at.file.to_owned(),
            line: node.referenced.line() as u32 + at.offset,
            column: node.referenced.column() as u32,
            message,
            hint: (!hint.is_empty()).then(|| hint.to_owned()),
        });
    }

    fn policy(&mut self, doc: Document, at: &Place<'_>) -> Option<Policy> {
        let before = self.errors();
        self.head(
            at,
            &doc.api_version,
            &doc.kind,
            &doc.metadata.name,
            "RuntimePolicy",
            "policy",
        );
        let name = &doc.metadata.name;
        let spec = doc.spec;
        let mode = match &spec.mode {
            None => Mode::Enforce,
            Some(m) => match m.value.as_str() {
                "enforce" => Mode::Enforce,
                "monitor" => Mode::Monitor,
                _ => {
                    self.error(
                        at,
                        m,
                        format!("unknown mode `{}`", m.value),
                        "use `enforce` or `monitor`",
                    );
                    Mode::Enforce
                }
            },
        };
        let fail = spec.fail.as_ref().and_then(|f| match f.value.as_str() {
            "closed" => Some(FailMode::Closed),
            "open" => Some(FailMode::Open),
            _ => {
                self.error(
                    at,
                    f,
                    format!("unknown fail mode `{}`", f.value),
                    "use `closed` or `open`",
                );
                None
            }
        });
        let flow = spec.flow.as_ref().and_then(|f| match f.value.as_str() {
            "redact" => Some(Flow::Redact),
            "block" => Some(Flow::Block),
            _ => {
                self.error(
                    at,
                    f,
                    format!("unknown flow `{}`", f.value),
                    "use `redact` (redact and continue) or `block` (block the whole flow)",
                );
                None
            }
        });
        let strategy = match &spec.strategy {
            None => Strategy::Mask,
            Some(s) => self.strategy(at, s).unwrap_or(Strategy::Mask),
        };
        let selector = self.selector(&spec.selector, at);
        let mut rules: Vec<Rule> = spec
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.rule(r, i, strategy, at))
            .collect();
        let egress = spec.egress.as_ref().map(|e| self.egress(e, at));
        let conditions = spec
            .conditions
            .iter()
            .filter_map(|c| self.condition(c, at))
            .collect();
        let mut llm = BTreeMap::new();
        let mut canary = false;
        let mut allow_hosts = Vec::new();
        for (key, t) in &spec.llm {
            if !LLM_DETECTORS.contains(&key.as_str()) {
                let hint = match nearest(key, &LLM_DETECTORS) {
                    Some(n) => format!("did you mean `{n}`? one of: {}", LLM_DETECTORS.join(", ")),
                    None => format!("one of: {}", LLM_DETECTORS.join(", ")),
                };
                self.error(
                    at,
                    &t.threshold,
                    format!("unknown LLM detector `{key}`"),
                    &hint,
                );
            }
            if !(0.0..=1.0).contains(&t.threshold.value) {
                self.error(
                    at,
                    &t.threshold,
                    format!("threshold {} is outside 0..1", t.threshold.value),
                    "scores are calibrated probabilities in 0..1",
                );
            }
            if let Some(c) = &t.canary {
                if key != "systemPromptLeak" {
                    self.error(
                        at,
                        c,
                        format!("`canary` applies to `systemPromptLeak`, not `{key}`"),
                        "move it under `llm.systemPromptLeak`",
                    );
                }
                canary |= c.value;
            }
            if let Some(h) = t.allow_hosts.first()
                && key != "unsafeOutput"
            {
                self.error(
                    at,
                    h,
                    format!("`allowHosts` applies to `unsafeOutput`, not `{key}`"),
                    "move it under `llm.unsafeOutput`",
                );
            }
            for h in &t.allow_hosts {
                let bare = h.value.strip_prefix("*.").unwrap_or(&h.value);
                if bare.is_empty() || bare.contains(['/', ':', ' ', '*']) {
                    self.error(
                        at,
                        h,
                        format!("`{}` is not a host name", h.value),
                        "write a host (`docs.example.com`) or a subdomain wildcard (`*.example.com`)",
                    );
                }
                allow_hosts.push(h.value.to_ascii_lowercase());
            }
            let action = self.action(at, &t.action).unwrap_or(Action::Block);
            llm.insert(key.clone(), (t.threshold.value as f32, action));
            if let Some(rule) = llm_rule(key, t.threshold.value as f32, action) {
                rules.push(rule);
            }
        }
        let mut limits = Vec::new();
        let mut limit_refs = Vec::new();
        for l in &spec.limits {
            if !is_dns_label(&l.value) {
                self.error(
                    at,
                    l,
                    format!("`{}` is not a valid limit name", l.value),
                    "limit names are lower-case letters, digits and `-`",
                );
            }
            limits.push(l.value.clone());
            limit_refs.push((
                l.value.clone(),
                l.referenced.line() as u32 + at.offset,
                l.referenced.column() as u32,
            ));
        }
        if self.errors() > before {
            return None;
        }
        let specificity = selector.specificity();
        Some(Policy {
            name: name.value.clone(),
            file: at.file.to_owned(),
            line: name.referenced.line() as u32 + at.offset,
            mode,
            fail,
            flow,
            selector,
            specificity,
            rules,
            egress,
            conditions,
            llm,
            canary,
            allow_hosts,
            limits,
            quarantine: spec.quarantine.as_ref().is_some_and(|q| q.value),
            limit_refs,
        })
    }

    /// Checks what every document starts with: apiVersion, kind and a name that is a DNS label.
    fn head(
        &mut self,
        at: &Place<'_>,
        api_version: &Spanned<String>,
        kind: &Spanned<String>,
        name: &Spanned<String>,
        want_kind: &str,
        what: &str,
    ) {
        if api_version.value != "rampart.dev/v1" {
            self.error(
                at,
                api_version,
                format!("unsupported apiVersion `{}`", api_version.value),
                "use `apiVersion: rampart.dev/v1`",
            );
        }
        if kind.value != want_kind {
            self.error(
                at,
                kind,
                format!("unsupported kind `{}`", kind.value),
                &format!("use `kind: {want_kind}`"),
            );
        }
        if !is_dns_label(&name.value) {
            self.error(
                at,
                name,
                format!("`{}` is not a valid {what} name", name.value),
                "lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
            );
        }
    }

    fn yaml_error(&mut self, file: &str, offset: u32, e: &serde_saphyr::Error) {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((1, 1));
        self.diags.push(Diagnostic {
            level: Level::Error,
            file: file.to_owned(),
            line: line + offset,
            column,
            message: first_line(&e.to_string()),
            hint: Some(yaml_hint(&e.to_string())),
        });
    }

    fn limit(&mut self, doc: doc::LimitDocument, at: &Place<'_>) -> Option<(Limit, String, u32)> {
        let before = self.errors();
        self.head(
            at,
            &doc.api_version,
            &doc.kind,
            &doc.metadata.name,
            "RuntimeLimit",
            "limit",
        );
        let name = &doc.metadata.name;
        let spec = doc.spec;
        let mut key = Vec::new();
        for k in &spec.key {
            match KeyPart::ALL.iter().find(|(n, _)| *n == k.value) {
                Some((_, part)) if !key.contains(part) => key.push(*part),
                Some(_) => self.warn(
                    at,
                    k,
                    format!("`{}` is listed twice", k.value),
                    "list each key part once",
                ),
                None => {
                    let names: Vec<&str> = KeyPart::ALL.iter().map(|(n, _)| *n).collect();
                    self.error(
                        at,
                        k,
                        format!("unknown key part `{}`", k.value),
                        &format!("one of: {}", names.join(", ")),
                    );
                }
            }
        }
        let positive = |cx: &mut Self, v: &Spanned<u64>, what: &str| {
            if v.value == 0 {
                cx.error(
                    at,
                    v,
                    format!("{what} must be at least 1"),
                    "a limit of 0 refuses everything; remove the policy's reference instead",
                );
            }
            v.value
        };
        let requests = spec.requests.as_ref().and_then(|r| {
            let count = positive(self, &r.count, "requests.count");
            let interval_ms = match crate::limit::parse_duration(&r.per.value) {
                Some(ms) => ms,
                None => {
                    self.error(
                        at,
                        &r.per,
                        format!("`{}` is not a duration", r.per.value),
                        "for example 1s, 10s, 1m, 1h or 1d",
                    );
                    return None;
                }
            };
            let burst = r
                .burst
                .as_ref()
                .map_or(count, |b| positive(self, b, "requests.burst"));
            Some(Rate {
                count,
                interval_ms,
                burst,
            })
        });
        let concurrent = spec
            .concurrent
            .as_ref()
            .map(|c| positive(self, c, "concurrent"));
        let mut budgets = Vec::new();
        if let Some(t) = &spec.tokens {
            for (what, windows) in [
                (Quantity::InputTokens, &t.input),
                (Quantity::OutputTokens, &t.output),
                (Quantity::TotalTokens, &t.total),
            ] {
                let Some(w) = windows else { continue };
                for (window, max) in [(Window::Minute, &w.per_minute), (Window::Day, &w.per_day)] {
                    if let Some(max) = max {
                        let max = positive(self, max, "a token budget");
                        budgets.push(Budget { what, window, max });
                    }
                }
            }
        }
        if let Some(s) = &spec.spend {
            for (window, usd) in [(Window::Day, &s.per_day), (Window::Month, &s.per_month)] {
                let Some(usd) = usd else { continue };
                if !(usd.value > 0.0 && usd.value < 1e9) {
                    self.error(
                        at,
                        usd,
                        format!("spend {} is not a positive amount of USD", usd.value),
                        "for example `perDay: 25` or `perMonth: 500.50`",
                    );
                    continue;
                }
                budgets.push(Budget {
                    what: Quantity::SpendMicros,
                    window,
                    max: (usd.value * 1e6).round() as u64,
                });
            }
        }
        let max_tokens_per_request = spec
            .max_tokens_per_request
            .as_ref()
            .map(|m| positive(self, m, "maxTokensPerRequest"));
        if self.errors() == before
            && requests.is_none()
            && concurrent.is_none()
            && budgets.is_empty()
            && max_tokens_per_request.is_none()
        {
            self.error(
                at,
                name,
                format!("limit `{}` limits nothing", name.value),
                "give it requests, concurrent, tokens, spend or maxTokensPerRequest",
            );
        }
        if self.errors() > before {
            return None;
        }
        Some((
            Limit {
                name: name.value.clone(),
                key,
                requests,
                concurrent,
                budgets,
                max_tokens_per_request,
            },
            at.file.to_owned(),
            name.referenced.line() as u32 + at.offset,
        ))
    }

    fn errors(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.level == Level::Error)
            .count()
    }

    fn strategy(&mut self, at: &Place<'_>, s: &Spanned<String>) -> Option<Strategy> {
        let found = Strategy::from_name(&s.value);
        if found.is_none() {
            let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
            self.error(
                at,
                s,
                format!("unknown redaction strategy `{}`", s.value),
                &format!("one of: {}", names.join(", ")),
            );
        }
        found
    }

    fn action(&mut self, at: &Place<'_>, a: &Spanned<String>) -> Option<Action> {
        let action = match a.value.as_str() {
            "allow" => Action::Allow,
            "monitor" => Action::Monitor,
            "redact" => Action::Redact,
            "block" => Action::Block,
            _ => {
                self.error(
                    at,
                    a,
                    format!("unknown action `{}`", a.value),
                    "one of: allow, monitor, redact, block",
                );
                return None;
            }
        };
        Some(action)
    }

    fn globs(&mut self, at: &Place<'_>, items: &[Spanned<String>], what: &str) -> Globs {
        Globs(self.globset(at, items, what, true))
    }

    fn globset(
        &mut self,
        at: &Place<'_>,
        items: &[Spanned<String>],
        what: &str,
        case_insensitive: bool,
    ) -> Option<GlobSet> {
        if items.is_empty() {
            return None;
        }
        let mut set = GlobSetBuilder::new();
        for item in items {
            if item.value.is_empty() {
                self.error(
                    at,
                    item,
                    format!("an empty {what}"),
                    "remove it, or write `*` for any",
                );
                continue;
            }
            match GlobBuilder::new(&item.value)
                .case_insensitive(case_insensitive)
                .literal_separator(false)
                .build()
            {
                Ok(g) => {
                    set.add(g);
                }
                Err(e) => self.error(
                    at,
                    item,
                    format!(
                        "`{}` is not a valid {what} pattern: {}",
                        item.value,
                        e.kind()
                    ),
                    "patterns use `*` for any run of characters, `?` for one, `{a,b}` for either",
                ),
            }
        }
        set.build().ok()
    }

    fn selector(&mut self, s: &doc::Selector, at: &Place<'_>) -> CompiledSelector {
        let direction = s.direction.as_ref().and_then(|d| match d.value.as_str() {
            "request" => Some(Direction::Request),
            "response" => Some(Direction::Response),
            _ => {
                self.error(
                    at,
                    d,
                    format!("unknown direction `{}`", d.value),
                    "use `request` or `response`, or leave it out for both",
                );
                None
            }
        });
        let mut paths = Vec::new();
        for p in &s.paths {
            match PathTemplate::parse(&p.value) {
                Ok(t) => paths.push(t),
                Err(why) => self.error(
                    at,
                    p,
                    format!("bad path template `{}`: {why}", p.value),
                    "for example `/v1/chat/completions`, `/users/{id}` or `/v1/**`",
                ),
            }
        }
        let mut methods = Vec::new();
        for m in &s.methods {
            let upper = m.value.to_ascii_uppercase();
            if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                self.error(
                    at,
                    m,
                    format!("`{}` is not an HTTP method", m.value),
                    "for example GET, POST, PUT",
                );
            }
            methods.push(upper);
        }
        let mut providers = Vec::new();
        for p in &s.providers {
            if !PROVIDERS.contains(&p.value.as_str()) {
                self.error(
                    at,
                    p,
                    format!("unknown provider `{}`", p.value),
                    &format!("one of: {}", PROVIDERS.join(", ")),
                );
            }
            providers.push(p.value.clone());
        }
        let empty = doc::CallerSelector::default();
        let callers = s.callers.as_ref().unwrap_or(&empty);
        let mut cidrs = Vec::new();
        for c in &callers.cidrs {
            match c
                .value
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => cidrs.push(n),
                Err(_) => self.error(
                    at,
                    c,
                    format!("`{}` is not an address range", c.value),
                    "for example 10.0.0.0/8, 192.168.1.7 or fd00::/8",
                ),
            }
        }
        CompiledSelector {
            direction,
            routes: self.globs(at, &s.routes, "route"),
            hosts: self.globs(at, &s.hosts, "host"),
            paths,
            methods,
            providers,
            models: Globs(self.globset(at, &s.models, "model", false)),
            keys: Globs(self.globset(at, &callers.keys, "key id", false)),
            workloads: Globs(self.globset(at, &callers.workloads, "workload", false)),
            namespaces: Globs(self.globset(at, &callers.namespaces, "namespace", false)),
            service_accounts: Globs(self.globset(
                at,
                &callers.service_accounts,
                "service account",
                false,
            )),
            labels: callers
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            cidrs,
            destinations: self.globs(at, &s.destinations, "destination"),
            signals: s
                .signals
                .iter()
                .filter_map(|sig| {
                    if SIGNALS.contains(&sig.value.as_str()) {
                        Some(sig.value.clone())
                    } else {
                        self.error(
                            at,
                            sig,
                            format!("unknown signal `{}`", sig.value),
                            &format!("one of: {}", SIGNALS.join(", ")),
                        );
                        None
                    }
                })
                .collect(),
        }
    }

    fn rule(
        &mut self,
        r: &doc::Rule,
        index: usize,
        default_strategy: Strategy,
        at: &Place<'_>,
    ) -> Option<Rule> {
        let before = self.errors();
        let name = r.name.clone().unwrap_or_else(|| format!("rules[{index}]"));
        if r.classes.is_empty() && r.detectors.is_empty() && r.groups.is_empty() {
            self.error(
                at,
                &r.action,
                format!("rule `{name}` matches nothing"),
                "give it `classes`, `detectors` or `groups`",
            );
        }
        let mut classes = 0u32;
        for c in &r.classes {
            match DataClass::from_name(&c.value) {
                Some(class) => classes |= 1 << class_index(class),
                None => {
                    let names: Vec<&str> = DataClass::ALL.iter().map(|c| c.name()).collect();
                    let hint = match nearest(&c.value.to_ascii_uppercase(), &names) {
                        Some(n) => format!("did you mean `{n}`? classes: {}", names.join(", ")),
                        None => format!("classes: {}", names.join(", ")),
                    };
                    self.error(at, c, format!("unknown data class `{}`", c.value), &hint);
                }
            }
        }
        let mut exact = Vec::new();
        let mut patterns = Vec::new();
        for d in &r.detectors {
            let known = self.catalog.detectors;
            if d.value.contains(['*', '?', '[', '{']) {
                patterns.push(d.clone());
                if !known.is_empty()
                    && let Ok(g) = GlobBuilder::new(&d.value).build()
                {
                    let m = g.compile_matcher();
                    if !known.iter().any(|k| m.is_match(k)) {
                        self.warn(
                            at,
                            d,
                            format!("detector pattern `{}` matches no detector", d.value),
                            "`rampart detectors` lists every detector id",
                        );
                    }
                }
            } else {
                if !known.is_empty() && !known.contains(&d.value.as_str()) {
                    let hint = match nearest(&d.value, known) {
                        Some(n) => {
                            format!("did you mean `{n}`? `rampart detectors` lists every id")
                        }
                        None => "`rampart detectors` lists every detector id".into(),
                    };
                    self.error(at, d, format!("unknown detector `{}`", d.value), &hint);
                }
                exact.push(d.value.clone());
            }
        }
        let globs = self.globset(at, &patterns, "detector", false);
        let mut group_classes = 0u32;
        let mut group_patterns: Vec<&str> = Vec::new();
        for g in &r.groups {
            match groups::group(&g.value) {
                Some(group) => {
                    for &c in group.classes {
                        group_classes |= 1 << class_index(c);
                    }
                    group_patterns.extend(group.detectors);
                }
                None => {
                    let names: Vec<&str> = groups::GROUPS.iter().map(|g| g.name).collect();
                    self.error(
                        at,
                        g,
                        format!("unknown group `{}`", g.value),
                        &format!("groups: {}", names.join(", ")),
                    );
                }
            }
        }
        let group_globs = if group_patterns.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for p in group_patterns {
                b.add(
                    GlobBuilder::new(p)
                        .build()
                        .expect("built-in group globs are valid"),
                );
            }
            b.build().ok()
        };
        let action = self.action(at, &r.action);
        let strategy = match &r.strategy {
            None => default_strategy,
            Some(s) => {
                if action.is_some_and(|a| a != Action::Redact) {
                    self.warn(
                        at,
                        s,
                        format!("rule `{name}` has a strategy but does not redact"),
                        "a strategy only matters with `action: redact`",
                    );
                }
                self.strategy(at, s).unwrap_or(default_strategy)
            }
        };
        let min_score = match &r.min_score {
            None => 0.0,
            Some(m) if (0.0..=1.0).contains(&m.value) => m.value as f32,
            Some(m) => {
                self.error(
                    at,
                    m,
                    format!("minScore {} is outside 0..1", m.value),
                    "scores are confidences in 0..1; 0.5 is a common floor",
                );
                0.0
            }
        };
        if self.errors() > before {
            return None;
        }
        Some(Rule {
            name,
            exact,
            globs,
            classes,
            group_classes,
            group_globs,
            action: action?,
            strategy,
            min_score,
        })
    }

    fn egress(&mut self, e: &doc::Egress, at: &Place<'_>) -> Egress {
        let unlisted = match &e.unlisted {
            None => EgressVerdict::Block,
            Some(u) => match u.value.as_str() {
                "block" => EgressVerdict::Block,
                "flag" => EgressVerdict::Flag,
                _ => {
                    self.error(
                        at,
                        u,
                        format!("unknown egress verdict `{}`", u.value),
                        "use `block` (refuse destinations not on `allow`) or `flag` (allow and record them)",
                    );
                    EgressVerdict::Block
                }
            },
        };
        Egress {
            allow: self.globset(at, &e.allow, "destination", true),
            deny: self.globset(at, &e.deny, "destination", true),
            unlisted,
        }
    }

    fn condition(&mut self, c: &doc::Condition, at: &Place<'_>) -> Option<Condition> {
        let action = self.action(at, &c.action);
        if let Some(a) = action
            && !matches!(a, Action::Block | Action::Monitor)
        {
            self.error(
                at,
                &c.action,
                format!("condition `{}` may only `block` or `monitor`", c.name.value),
                "conditions decide about the whole exchange; per-value redaction is a rule's job",
            );
        }
        let program = match cel::Program::compile(&c.when.value) {
            Ok(p) => p,
            Err(e) => {
                let msg = e
                    .errors
                    .first()
                    .map(|e| e.msg.clone())
                    .unwrap_or_else(|| "syntax error".into());
                self.error(
                    at,
                    &c.when,
                    format!("condition `{}`: CEL does not parse: {msg}", c.name.value),
                    "see the CEL context in docs/POLICY.md; strings are quoted, `&&`/`||` combine",
                );
                return None;
            }
        };
        let unknown: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .filter(|v| !cel_env::VARIABLES.contains(v))
            .map(str::to_owned)
            .collect();
        let declared = cel_env::comprehension_variables(&c.when.value);
        let unknown: Vec<String> = unknown
            .into_iter()
            .filter(|v| !declared.contains(v))
            .collect();
        if !unknown.is_empty() {
            self.error(
                at,
                &c.when,
                format!(
                    "condition `{}` uses unknown variable{} {}",
                    c.name.value,
                    if unknown.len() > 1 { "s" } else { "" },
                    unknown.join(", ")
                ),
                &format!("the context has: {}", cel_env::VARIABLES.join(", ")),
            );
            return None;
        }
        if let Err(why) = cel_env::dry_run(&program) {
            self.error(
                at,
                &c.when,
                format!(
                    "condition `{}` fails on a sample exchange: {why}",
                    c.name.value
                ),
                "a condition must yield a bool; see the CEL context in docs/POLICY.md",
            );
            return None;
        }
        Some(Condition {
            uses: cel_env::uses(&program),
            name: c.name.value.clone(),
            source: c.when.value.clone(),
            program,
            action: action?,
            reason: c
                .reason
                .clone()
                .unwrap_or_else(|| format!("condition {} holds", c.name.value)),
        })
    }
}

/// Abuse signals a selector may name (see docs/LIMITS.md).
pub const SIGNALS: [&str; 4] = [
    "volume_spike",
    "near_duplicate_prompts",
    "max_length_generations",
    "embedding_enumeration",
];

/// Provider ids a selector may name.
pub const PROVIDERS: [&str; 4] = ["openai", "anthropic", "gemini", "cohere"];

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The candidate closest to `word` by edit distance, when it is close.
pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let (best, distance) = candidates
        .iter()
        .map(|c| (*c, edit_distance(word, c)))
        .min_by_key(|&(_, d)| d)?;
    (distance <= word.len().max(3) / 3).then_some(best)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
