//! The compiled scanner: every detector's pattern in one multi-pattern regex automaton.
//!
//! One leftmost-first [`meta::Regex`] holds all patterns (byte-oriented, Unicode off, so its
//! lazy DFA runs on any input including invalid UTF-8). Validators and context checks run only
//! on hits. When a hit is rejected, the other patterns that match at the same position are tried
//! (found with a second, all-matches automaton), and the search resumes one byte later, so a
//! rejected candidate never hides a real one. Every pattern has a bounded maximum length, which
//! bounds the work per position and lets the streaming scanner hold back a fixed window.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use rampart_core::{DataClass, Span};
use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind, PatternID, PatternSet};

use crate::detector::Detector;
use crate::hash::HashKey;
use crate::validate;

/// Bytes before a hit searched for context words.
pub const CONTEXT_BEFORE: usize = 48;
/// Bytes after a hit searched for context words.
pub const CONTEXT_AFTER: usize = 32;
/// Patterns longer than this must start with a literal (see [`Scanner::long_anchors`]).
pub const LONG_PATTERN: usize = 1024;

/// How much a context word raises a hit's score.
const CONTEXT_BOOST: f32 = 0.15;
/// Words against a hit count only this close before it.
const AGAINST_WINDOW: usize = 16;
/// How much a word against lowers a hit's score.
const AGAINST_PENALTY: f32 = 0.35;

/// Settings of a compiled scanner.
#[derive(Clone, Debug)]
pub struct ScannerConfig {
    /// Hits scoring below this are dropped.
    pub min_score: f32,
    /// Key for the keyed hash of values.
    pub hash_key: HashKey,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            min_score: 0.5,
            hash_key: HashKey::default(),
        }
    }
}

/// What is wrong with one detector of a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The detector's id.
    pub detector: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A registry that does not compile: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("detector registry does not compile: {}", .diagnostics.iter().map(|d| format!("{}: {}", d.detector, d.message)).collect::<Vec<_>>().join("; "))]
pub struct BuildError {
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

/// A raw-layer hit: a detector, the span of its value, and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Index of the detector in [`Scanner::detectors`].
    pub detector: usize,
    /// The value's span.
    pub span: Span,
    /// Confidence after context.
    pub score: f32,
}

/// All detectors of a registry compiled into one automaton. Build once, share behind `Arc` or a
/// `static`; scanning takes `&self` and is thread-safe.
#[derive(Debug)]
pub struct Scanner {
    detectors: Vec<&'static Detector>,
    re: Regex,
    all: Regex,
    value_group: Vec<Option<usize>>,
    words: AhoCorasick,
    word_owners: Vec<Vec<(usize, bool)>>,
    max_len: usize,
    long_anchors: Option<AhoCorasick>,
    long_max: usize,
    config: ScannerConfig,
}

impl Scanner {
    /// Compiles the given detectors. Reports every bad detector (pattern that does not parse,
    /// can match empty, is unbounded, or is long without a literal start; duplicate id).
    pub fn new(
        detectors: impl IntoIterator<Item = &'static Detector>,
        config: ScannerConfig,
    ) -> Result<Scanner, BuildError> {
        let detectors: Vec<&'static Detector> = detectors.into_iter().collect();
        let mut diagnostics = Vec::new();
        let mut max_len = 0;
        let mut long_max = 0;
        let mut long_literals: Vec<Vec<u8>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let parser_config = syntax::Config::new().unicode(false).utf8(false);
        for d in &detectors {
            if !seen.insert(d.id) {
                diagnostics.push(diag(
                    d,
                    "duplicate detector id; give each detector a unique id".into(),
                ));
            }
            let hir = match regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(d.pattern)
            {
                Ok(hir) => hir,
                Err(e) => {
                    diagnostics.push(diag(d, format!("pattern does not parse: {e}")));
                    continue;
                }
            };
            let props = hir.properties();
            if props.minimum_len().unwrap_or(0) == 0 {
                diagnostics.push(diag(
                    d,
                    "pattern can match the empty string; require at least one byte".into(),
                ));
            }
            match props.maximum_len() {
                None => diagnostics.push(diag(
                    d,
                    "pattern has no maximum length; bound every repetition (`{0,200}` instead of `*`)".into(),
                )),
                Some(n) if n > LONG_PATTERN => {
                    let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
                    match seq.literals() {
                        Some(lits) if !lits.is_empty() && lits.iter().all(|l| l.len() >= 3) => {
                            long_literals.extend(lits.iter().map(|l| l.as_bytes().to_vec()));
                            long_max = long_max.max(n);
                        }
                        _ => diagnostics.push(diag(
                            d,
                            format!("pattern may be {n} bytes long but does not start with a literal of 3+ bytes; start long patterns with a fixed prefix"),
                        )),
                    }
                }
                Some(n) => max_len = max_len.max(n),
            }
            if !(0.0..=1.0).contains(&d.score) {
                diagnostics.push(diag(d, format!("score {} is outside 0..=1", d.score)));
            }
            if d.context.required && d.context.words.is_empty() {
                diagnostics.push(diag(
                    d,
                    "context is required but no context words are given".into(),
                ));
            }
        }
        if !diagnostics.is_empty() {
            return Err(BuildError { diagnostics });
        }
        let patterns: Vec<&str> = detectors.iter().map(|d| d.pattern).collect();
        let build = |kind: MatchKind| {
            Regex::builder()
                .syntax(parser_config)
                .configure(
                    Regex::config()
                        .match_kind(kind)
                        .utf8_empty(false)
                        .hybrid_cache_capacity(8 << 20),
                )
                .build_many(&patterns)
        };
        let re = build(MatchKind::LeftmostFirst).map_err(|e| BuildError {
            diagnostics: vec![Diagnostic {
                detector: "*",
                message: format!("patterns do not compile together: {e}"),
            }],
        })?;
        let all = build(MatchKind::All).map_err(|e| BuildError {
            diagnostics: vec![Diagnostic {
                detector: "*",
                message: format!("patterns do not compile together: {e}"),
            }],
        })?;
        let value_group = (0..detectors.len())
            .map(|i| re.group_info().to_index(PatternID::must(i), "v"))
            .collect();

        let mut word_list: Vec<String> = Vec::new();
        let mut word_owners: Vec<Vec<(usize, bool)>> = Vec::new();
        for (i, d) in detectors.iter().enumerate() {
            for (words, against) in [(d.context.words, false), (d.context.against, true)] {
                for w in words {
                    let w = w.to_ascii_lowercase();
                    let idx = match word_list.iter().position(|x| *x == w) {
                        Some(idx) => idx,
                        None => {
                            word_list.push(w);
                            word_owners.push(Vec::new());
                            word_list.len() - 1
                        }
                    };
                    word_owners[idx].push((i, against));
                }
            }
        }
        let words = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(AcMatchKind::Standard)
            .build(&word_list)
            .expect("context words compile");
        let long_anchors = if long_literals.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&long_literals).expect("long-pattern literals compile"))
        };
        Ok(Scanner {
            detectors,
            re,
            all,
            value_group,
            words,
            word_owners,
            max_len,
            long_anchors,
            long_max,
            config,
        })
    }

    /// The compiled registry, built once per process.
    pub fn builtin() -> &'static Scanner {
        static SCANNER: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
        SCANNER.get_or_init(|| {
            Scanner::new(crate::detectors::all(), ScannerConfig::default())
                .expect("the built-in registry compiles (checked by tests)")
        })
    }

    /// The detectors, indexed as in [`Hit::detector`].
    pub fn detectors(&self) -> &[&'static Detector] {
        &self.detectors
    }

    /// The scanner's settings.
    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    /// Longest match of any pattern that is not a long (literal-anchored) one.
    pub fn max_short_len(&self) -> usize {
        self.max_len
    }

    /// Longest match of a long pattern (0 when there is none).
    pub fn max_long_len(&self) -> usize {
        self.long_max
    }

    /// Finds the literal starts of long patterns in `hay[from..]`; the streaming scanner holds
    /// back from the first one whose match could still be in progress.
    pub fn long_anchors(&self, hay: &[u8], from: usize) -> Option<usize> {
        let ac = self.long_anchors.as_ref()?;
        ac.find_iter(&hay[from..])
            .map(|m| m.start() + from)
            .find(|&start| start + self.long_max >= hay.len())
    }

    /// Scans all of `hay` on its raw bytes, appending hits in order. Hits never overlap.
    pub fn scan_raw(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        self.scan_until(hay, 0, hay.len(), hits);
    }

    /// Scans `hay` from `from`, accepting only hits that start before `limit`, and returns where
    /// a later call must resume. Bytes before `from` are context only. When `hay` holds at least
    /// [`Scanner::max_short_len`] + [`CONTEXT_AFTER`] + 2 bytes past `limit` and no long pattern
    /// is in progress before `limit`, the hits are exactly those a scan of the whole stream would
    /// report in this range: the streaming scanner relies on it.
    pub fn scan_until(&self, hay: &[u8], from: usize, limit: usize, hits: &mut Vec<Hit>) -> usize {
        let mut pos = from;
        let mut caps = self.re.create_captures();
        let mut set = PatternSet::new(self.re.pattern_len());
        while pos < limit {
            let Some(m) = self.re.search(&Input::new(hay).range(pos..)) else {
                return limit;
            };
            if m.start() >= limit {
                return limit;
            }
            if let Some(hit) =
                self.check(hay, m.pattern(), Span::new(m.start(), m.end()), &mut caps)
            {
                pos = m.end();
                hits.push(hit);
                continue;
            }
            // Rejected: try the other patterns that match at the same start.
            set.clear();
            let anchored = Input::new(hay).range(m.start()..).anchored(Anchored::Yes);
            self.all.which_overlapping_matches(&anchored, &mut set);
            let mut accepted = None;
            for pid in set.iter().filter(|&p| p != m.pattern()) {
                let input = Input::new(hay)
                    .range(m.start()..)
                    .anchored(Anchored::Pattern(pid));
                if let Some(alt) = self.re.search(&input) {
                    if let Some(hit) =
                        self.check(hay, pid, Span::new(alt.start(), alt.end()), &mut caps)
                    {
                        accepted = Some((hit, alt.end()));
                        break;
                    }
                }
            }
            match accepted {
                Some((hit, end)) => {
                    hits.push(hit);
                    pos = end;
                }
                None => pos = m.start() + 1,
            }
        }
        pos
    }

    /// Validates one match of detector `pid` at `span`, returning a hit when it is accepted.
    fn check(&self, hay: &[u8], pid: PatternID, span: Span, caps: &mut Captures) -> Option<Hit> {
        let idx = pid.as_usize();
        let det = self.detectors[idx];
        let value = match self.value_group[idx] {
            Some(group) => {
                let input = Input::new(hay)
                    .range(span.start..span.end)
                    .anchored(Anchored::Pattern(pid));
                self.re.search_captures(&input, caps);
                let g = caps.get_group(group)?;
                Span::new(g.start, g.end)
            }
            None => span,
        };
        if value.is_empty() {
            return None;
        }
        let bytes = &hay[value.start..value.end];
        if let Some(validator) = det.validator {
            if !validator(bytes) {
                return None;
            }
        }
        if det.min_entropy > 0.0 && validate::entropy(bytes) < det.min_entropy {
            return None;
        }
        let score = self.score(hay, idx, span)?;
        (score >= self.config.min_score).then_some(Hit {
            detector: idx,
            span: value,
            score,
        })
    }

    /// The score of a validated hit of detector `idx` after context words, or `None` when the
    /// detector needs context and none is near.
    fn score(&self, hay: &[u8], idx: usize, span: Span) -> Option<f32> {
        let det = self.detectors[idx];
        if det.context.words.is_empty() && det.context.against.is_empty() {
            return Some(det.score);
        }
        let lo = span.start.saturating_sub(CONTEXT_BEFORE);
        let hi = (span.end + CONTEXT_AFTER).min(hay.len());
        // distances (in bytes) from the hit back to the nearest word for and against it
        let mut for_before: Option<usize> = None;
        let mut for_after = false;
        let mut against_before: Option<usize> = None;
        for m in self.words.find_overlapping_iter(&hay[lo..hi]) {
            let (ws, we) = (lo + m.start(), lo + m.end());
            // whole words only; `_` and `-` separate words
            let before_ok = ws == 0 || !hay[ws - 1].is_ascii_alphanumeric();
            let after_ok = we == hay.len() || !hay[we].is_ascii_alphanumeric();
            if !before_ok || !after_ok || (ws < span.end && we > span.start) {
                continue;
            }
            for &(owner, is_against) in &self.word_owners[m.pattern().as_usize()] {
                if owner != idx {
                    continue;
                }
                match (is_against, we <= span.start) {
                    (false, true) => {
                        let d = span.start - we;
                        for_before = Some(for_before.map_or(d, |x| x.min(d)));
                    }
                    (false, false) => for_after = true,
                    (true, true) if span.start - we <= AGAINST_WINDOW => {
                        let d = span.start - we;
                        against_before = Some(against_before.map_or(d, |x| x.min(d)));
                    }
                    (true, _) => {}
                }
            }
        }
        // the nearest label before a value is the one it belongs to: `ssn=... ts=254268414`
        let against = against_before.is_some_and(|a| for_before.is_none_or(|f| a < f));
        let near = for_after || (for_before.is_some() && !against);
        if det.context.required && !near {
            return None;
        }
        let mut score = det.score;
        if near {
            score = (score + CONTEXT_BOOST).min(1.0);
        }
        if against {
            score -= AGAINST_PENALTY;
        }
        Some(score)
    }

    /// The class of detector `idx`.
    pub fn class(&self, idx: usize) -> DataClass {
        self.detectors[idx].class
    }
}

fn diag(d: &Detector, message: String) -> Diagnostic {
    Diagnostic {
        detector: d.id,
        message,
    }
}
