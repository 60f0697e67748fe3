//! Decisions: the policies selected for an exchange give each finding its action and the
//! exchange its decision; `explain` says which rule decided and why.

use std::fmt;
use std::sync::Arc;

use rampart_core::{Action, DataClass, Direction, Finding, Strategy};
use serde::Serialize;

use crate::compile::{Policy, PolicySet};
use crate::limit::Limit;
use crate::select::Exchange;
use crate::{EgressVerdict, FailMode, Flow, Mode, cel_env};

/// The policies that apply to one exchange in one direction. Cheap to clone; keeps the
/// snapshot it came from alive, so a reload never changes an exchange in flight.
#[derive(Clone, Debug)]
pub struct Selection {
    set: Arc<PolicySet>,
    /// Indices into `set.policies`, most specific first.
    matched: Vec<u16>,
    direction: Direction,
    flow: (Flow, Option<u16>),
    fail: FailMode,
}

/// Which policy and rule (or condition) decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    policy: u16,
    item: Item,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Rule(u16),
    Condition(u16),
    Flow,
    Egress,
}

/// What to do with one finding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// The action (after the flow setting: a redaction becomes a block in a `flow: block`
    /// policy).
    pub action: Action,
    /// How to redact, when the action is redact.
    pub strategy: Strategy,
    /// The rule that decided; `None` when no rule matched (the finding is monitored).
    pub origin: Option<Origin>,
}

/// One finding's verdicts: enforced, and what all policies (monitor-mode ones included) would
/// do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FindingVerdict {
    /// What is carried out: enforce-mode policies only.
    pub enforced: Verdict,
    /// What would be done if monitor-mode policies were enforced too.
    pub would: Verdict,
}

/// The decision for one exchange in one direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The strongest enforced action.
    pub action: Action,
    /// The strongest action if monitor-mode policies were enforced too.
    pub would: Action,
    /// `policy/rule` or `policy/condition` that decided `action` (the strongest); empty when
    /// nothing matched.
    pub decided_by: String,
    /// A short, machine-readable reason.
    pub reason: String,
    /// Classes to redact, for reports.
    pub redacted: Vec<DataClass>,
    /// Conditions that held (`policy/condition`).
    pub conditions: Vec<String>,
    /// Conditions that could not be evaluated, with why; they count as holding when the flow
    /// fails closed.
    pub errors: Vec<String>,
}

/// Why a decision came out as it did, for `rampart policy explain`.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The policies selected, most specific first: name, file:line, specificity, mode.
    pub selected: Vec<String>,
    /// One line per finding: its verdict and the rule behind it.
    pub findings: Vec<String>,
    /// One line per condition evaluated.
    pub conditions: Vec<String>,
    /// The decision.
    pub decision: Decision,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policies selected (most specific first):")?;
        if self.selected.is_empty() {
            writeln!(
                f,
                "  none: findings are recorded (monitor), nothing is changed"
            )?;
        }
        for s in &self.selected {
            writeln!(f, "  {s}")?;
        }
        writeln!(f, "findings:")?;
        if self.findings.is_empty() {
            writeln!(f, "  none")?;
        }
        for s in &self.findings {
            writeln!(f, "  {s}")?;
        }
        if !self.conditions.is_empty() {
            writeln!(f, "conditions:")?;
            for s in &self.conditions {
                writeln!(f, "  {s}")?;
            }
        }
        let d = &self.decision;
        write!(f, "decision: {}", action_name(d.action))?;
        if !d.decided_by.is_empty() {
            write!(f, " (by {}; {})", d.decided_by, d.reason)?;
        }
        if d.would != d.action {
            write!(
                f,
                "\nmonitor-mode policies would make it: {}",
                action_name(d.would)
            )?;
        }
        Ok(())
    }
}

/// The lower-case name of an action.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Monitor => "monitor",
        Action::Redact => "redact",
        Action::Block => "block",
    }
}

impl PolicySet {
    /// The policies whose selectors match `ex` (in `ex.direction`, request when unset).
    pub fn select(self: &Arc<Self>, ex: &Exchange) -> Selection {
        let direction = ex.direction.unwrap_or(Direction::Request);
        let matched: Vec<u16> = self
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                (p.selector.direction.is_none() || p.selector.direction == Some(direction))
                    && p.selector.matches(ex)
            })
            .map(|(i, _)| i as u16)
            .collect();
        // per-flow settings: the most specific enforce-mode policy that sets them
        let enforcing = || {
            matched
                .iter()
                .map(|&i| (i, &self.policies[i as usize]))
                .filter(|(_, p)| p.mode == Mode::Enforce)
        };
        let flow = enforcing()
            .find_map(|(i, p)| p.flow.map(|f| (f, Some(i))))
            .unwrap_or((Flow::Redact, None));
        // with no enforce-mode policy selected nothing may be refused: an exchange that cannot
        // be inspected passes and is recorded (monitor mode never changes traffic)
        let fail =
            enforcing()
                .find_map(|(_, p)| p.fail)
                .unwrap_or(if enforcing().next().is_none() {
                    FailMode::Open
                } else {
                    FailMode::Closed
                });
        Selection {
            set: self.clone(),
            matched,
            direction,
            flow,
            fail,
        }
    }
}

impl Selection {
    fn policy(&self, i: u16) -> &Policy {
        &self.set.policies[i as usize]
    }

    fn policies(&self) -> impl Iterator<Item = (u16, &Policy)> {
        self.matched.iter().map(|&i| (i, self.policy(i)))
    }

    /// The snapshot's version.
    pub fn version(&self) -> &str {
        self.set.version()
    }

    /// The direction this selection decides for.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether any policy was selected.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty()
    }

    /// What happens to exchanges that cannot be inspected.
    pub fn fail(&self) -> FailMode {
        self.fail
    }

    /// What a redaction does to the flow.
    pub fn flow(&self) -> Flow {
        self.flow.0
    }

    /// The verdicts for a finding of `class` from `detector` with `score`.
    pub fn verdict_for(&self, class: DataClass, detector: &str, score: f32) -> FindingVerdict {
        // best (policy specificity, rule specificity, action) among enforce-mode policies, and
        // among all
        type Best = Option<((u32, u8, Action), u16, u16)>;
        let mut enforced: Best = None;
        let mut would: Best = None;
        for (pi, p) in self.policies() {
            if let Some((key, ..)) = enforced
                && p.specificity < key.0
                && would.is_some_and(|(w, ..)| p.specificity < w.0)
            {
                break;
            }
            for (ri, r) in p.rules.iter().enumerate() {
                let Some(rs) = r.specificity(class, detector, score) else {
                    continue;
                };
                let key = (p.specificity, rs, r.action);
                let cand = Some((key, pi, ri as u16));
                if would.is_none_or(|(k, ..)| key > k) {
                    would = cand;
                }
                if p.mode == Mode::Enforce && enforced.is_none_or(|(k, ..)| key > k) {
                    enforced = cand;
                }
            }
        }
        let mut v = FindingVerdict {
            enforced: self.resolve(enforced),
            would: self.resolve(would),
        };
        // an LLM threat score that no rule's threshold reaches is not a finding
        if class.is_threat() {
            for x in [&mut v.enforced, &mut v.would] {
                if x.origin.is_none() {
                    x.action = Action::Allow;
                }
            }
        }
        v
    }

    fn resolve(&self, best: Option<((u32, u8, Action), u16, u16)>) -> Verdict {
        let Some((_, pi, ri)) = best else {
            return Verdict {
                action: Action::Monitor,
                strategy: Strategy::Mask,
                origin: None,
            };
        };
        let rule = &self.policy(pi).rules[ri as usize];
        let mut verdict = Verdict {
            action: rule.action,
            strategy: rule.strategy,
            origin: Some(Origin {
                policy: pi,
                item: Item::Rule(ri),
            }),
        };
        if rule.action == Action::Redact && self.flow.0 == Flow::Block {
            verdict.action = Action::Block;
            if let Some(fp) = self.flow.1 {
                verdict.origin = Some(Origin {
                    policy: fp,
                    item: Item::Flow,
                });
            }
        }
        verdict
    }

    /// The verdicts for `finding`.
    pub fn verdict(&self, finding: &Finding) -> FindingVerdict {
        self.verdict_for(finding.class, finding.detector, finding.score)
    }

    /// How to replace a value, or `None` to leave it: what enforce-mode policies redact.
    pub fn redaction(&self, class: DataClass, detector: &str, score: f32) -> Option<Strategy> {
        let v = self.verdict_for(class, detector, score).enforced;
        (v.action == Action::Redact).then_some(v.strategy)
    }

    /// Whether enforce-mode policies block a finding.
    pub fn blocks(&self, finding: &Finding) -> bool {
        self.verdict(finding).enforced.action == Action::Block
    }

    /// `policy/rule` for an origin.
    pub fn origin_name(&self, origin: Origin) -> String {
        let p = self.policy(origin.policy);
        match origin.item {
            Item::Rule(r) => format!("{}/{}", p.name, p.rules[r as usize].name),
            Item::Condition(c) => format!("{}/{}", p.name, p.conditions[c as usize].name),
            Item::Flow => format!("{}/flow", p.name),
            Item::Egress => format!("{}/egress", p.name),
        }
    }

    /// The egress verdict for a destination host: the most specific enforce-mode policy with
    /// an `egress` section decides; with none, everything is allowed.
    pub fn egress(&self, host: &str) -> (EgressVerdict, Option<Origin>) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        for (pi, p) in self.policies() {
            let (Mode::Enforce, Some(e)) = (p.mode, &p.egress) else {
                continue;
            };
            let origin = Some(Origin {
                policy: pi,
                item: Item::Egress,
            });
            if e.deny.as_ref().is_some_and(|d| d.is_match(&host)) {
                return (EgressVerdict::Block, origin);
            }
            return match &e.allow {
                Some(allow) if allow.is_match(&host) => (EgressVerdict::Allow, origin),
                Some(_) => (e.unlisted, origin),
                None => (EgressVerdict::Allow, origin),
            };
        }
        (EgressVerdict::Allow, None)
    }

    /// The threshold and action for an LLM threat detector (`promptInjection`, ...), from the
    /// most specific enforce-mode policy that sets one.
    pub fn llm(&self, detector: &str) -> Option<(f32, Action)> {
        self.policies()
            .filter(|(_, p)| p.mode == Mode::Enforce)
            .find_map(|(_, p)| p.llm.get(detector).copied())
    }

    /// Whether any selected policy can act on an LLM threat finding: it sets `llm` thresholds,
    /// names a threat class or the `llm_threats` group, names detectors itself (they may be
    /// threat detectors), or has conditions (they may read them). When none does, the threat
    /// detectors need not run. (The other groups' detector globs name key formats only.)
    pub fn inspects_threats(&self) -> bool {
        let mask = DataClass::ALL
            .iter()
            .filter(|c| c.is_threat())
            .fold(0u32, |m, &c| m | 1 << crate::compile::class_index(c));
        self.policies().any(|(_, p)| {
            !p.llm.is_empty()
                || !p.conditions.is_empty()
                || p.rules.iter().any(|r| {
                    r.classes & mask != 0
                        || r.group_classes & mask != 0
                        || !r.exact.is_empty()
                        || r.globs.is_some()
                })
        })
    }

    /// Whether a selected enforce-mode policy asks for canary tokens in system prompts
    /// (`llm.systemPromptLeak.canary`); monitor-mode policies never change traffic.
    pub fn canary(&self) -> bool {
        self.policies()
            .any(|(_, p)| p.canary && p.mode == Mode::Enforce)
    }

    /// The hosts output may link to and load images from (`llm.unsafeOutput.allowHosts` of the
    /// selected enforce-mode policies, merged).
    pub fn allow_hosts(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .policies()
            .filter(|(_, p)| p.mode == Mode::Enforce)
            .flat_map(|(_, p)| p.allow_hosts.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The limits the selected enforce-mode policies reference, each once.
    pub fn limits(&self) -> Vec<Arc<Limit>> {
        let mut out: Vec<Arc<Limit>> = Vec::new();
        for (_, p) in self.policies().filter(|(_, p)| p.mode == Mode::Enforce) {
            for name in &p.limits {
                if out.iter().any(|l| &l.name == name) {
                    continue;
                }
                if let Some(l) = self.set.limits.iter().find(|l| &l.name == name) {
                    out.push(l.clone());
                }
            }
        }
        out
    }

    /// The exchange's decision: every finding's verdict and every condition.
    pub fn decide(&self, ex: &Exchange, findings: &[Finding]) -> Decision {
        self.decide_inner(ex, findings, None)
    }

    /// The decision, with the reasoning behind it.
    pub fn explain(&self, ex: &Exchange, findings: &[Finding]) -> Explanation {
        let mut lines = Lines::default();
        let decision = self.decide_inner(ex, findings, Some(&mut lines));
        Explanation {
            selected: self
                .policies()
                .map(|(_, p)| {
                    format!(
                        "{} ({}:{}; specificity {}; {})",
                        p.name,
                        p.file,
                        p.line,
                        p.specificity,
                        match p.mode {
                            Mode::Enforce => "enforce",
                            Mode::Monitor => "monitor",
                        }
                    )
                })
                .collect(),
            findings: lines.findings,
            conditions: lines.conditions,
            decision,
        }
    }

    fn decide_inner(
        &self,
        ex: &Exchange,
        findings: &[Finding],
        mut lines: Option<&mut Lines>,
    ) -> Decision {
        let mut best: Option<(Action, Origin)> = None;
        let mut would = Action::Allow;
        let mut redacted = Vec::new();
        let take = |action: Action, origin: Option<Origin>, best: &mut Option<(Action, Origin)>| {
            if let Some(o) = origin
                && best.is_none_or(|(a, _)| action > a)
            {
                *best = Some((action, o));
            }
        };
        let mut worst = Action::Allow;
        for f in findings {
            let v = self.verdict(f);
            worst = worst.max(v.enforced.action);
            would = would.max(v.would.action);
            take(v.enforced.action, v.enforced.origin, &mut best);
            if v.enforced.action == Action::Redact && !redacted.contains(&f.class) {
                redacted.push(f.class);
            }
            if let Some(lines) = lines.as_deref_mut() {
                let by = v
                    .enforced
                    .origin
                    .map(|o| format!("by {}", self.origin_name(o)))
                    .unwrap_or_else(|| {
                        if f.class.is_threat() {
                            "under every threshold: not a finding".into()
                        } else {
                            "no rule matches: recorded".into()
                        }
                    });
                let mut line = format!(
                    "{} ({}, score {:.2}) at {}..{}: {} {by}",
                    f.class.name(),
                    f.detector,
                    f.score,
                    f.span.start,
                    f.span.end,
                    action_name(v.enforced.action),
                );
                if v.enforced.action == Action::Redact {
                    line.push_str(&format!(" [{}]", v.enforced.strategy.name()));
                }
                if v.would != v.enforced {
                    line.push_str(&format!(
                        "; monitor-mode {} would {}",
                        v.would
                            .origin
                            .map(|o| self.origin_name(o))
                            .unwrap_or_default(),
                        action_name(v.would.action)
                    ));
                }
                lines.findings.push(line);
            }
        }
        let mut conditions = Vec::new();
        let mut errors = Vec::new();
        // one CEL context for every condition, holding only the variables they read
        let uses = self
            .policies()
            .flat_map(|(_, p)| p.conditions.iter().map(|c| c.uses))
            .fold(0u8, |m, u| m | u);
        let has_conditions = self.policies().any(|(_, p)| !p.conditions.is_empty());
        let cx = has_conditions.then(|| cel_env::context(uses, ex, self.direction, findings));
        for (pi, p) in self.policies() {
            for (ci, c) in p.conditions.iter().enumerate() {
                let Some(cx) = &cx else { break };
                let outcome = cel_env::eval(&c.program, cx);
                let name = format!("{}/{}", p.name, c.name);
                let holds = match &outcome {
                    Ok(b) => *b,
                    Err(e) => {
                        errors.push(format!("{name}: {e}"));
                        self.fail == FailMode::Closed
                    }
                };
                if let Some(lines) = lines.as_deref_mut() {
                    lines.conditions.push(match &outcome {
                        Ok(b) => format!("{name} `{}`: {b}", c.source),
                        Err(e) => format!(
                            "{name} `{}`: error ({e}); counts as {holds} (fail {})",
                            c.source,
                            if self.fail == FailMode::Closed {
                                "closed"
                            } else {
                                "open"
                            }
                        ),
                    });
                }
                if !holds {
                    continue;
                }
                would = would.max(c.action);
                if p.mode == Mode::Enforce {
                    worst = worst.max(c.action);
                    conditions.push(name);
                    take(
                        c.action,
                        Some(Origin {
                            policy: pi,
                            item: Item::Condition(ci as u16),
                        }),
                        &mut best,
                    );
                }
            }
        }
        let would = would.max(worst);
        let (decided_by, reason) = match best {
            Some((_, o)) => {
                let reason = match o.item {
                    Item::Condition(c) => {
                        self.policy(o.policy).conditions[c as usize].reason.clone()
                    }
                    Item::Flow => "the flow blocks instead of redacting".into(),
                    _ => reason_code(worst).into(),
                };
                (self.origin_name(o), reason)
            }
            None => (String::new(), reason_code(worst).into()),
        };
        Decision {
            action: worst,
            would,
            decided_by,
            reason,
            redacted,
            conditions,
            errors,
        }
    }
}

#[derive(Default)]
struct Lines {
    findings: Vec<String>,
    conditions: Vec<String>,
}

fn reason_code(a: Action) -> &'static str {
    match a {
        Action::Allow => "clean",
        Action::Monitor => "recorded",
        Action::Redact => "redacted",
        Action::Block => "rampart_blocked",
    }
}
