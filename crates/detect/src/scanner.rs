//! The compiled scanner: every detector's pattern compiled into a few multi-pattern automata
//! behind cheap gates.
//!
//! Patterns are byte-oriented (Unicode off), so the automata run on any input, invalid UTF-8
//! included. Each detector has a [`Gate`] that says where its matches can start: at one of its
//! literal prefixes (one Aho-Corasick automaton over all prefixes), near a run of digits (with a
//! context word near, for context-gated detectors), near a hex colon, shortly before an inner
//! literal, or anywhere (a plain unanchored search). At each candidate position the literal's
//! owners, or the group's all-matches automaton, name the patterns that can match there; they are
//! tried in registry order, each with its own small automaton; validators and context checks run
//! only on those hits. The semantics are
//! those of one leftmost-first search over all patterns that, when a hit is rejected, tries
//! the other patterns matching at the same position and then resumes one byte later: a rejected
//! candidate never hides a real one. [`Scanner::scan_raw_reference`] is that search, written
//! plainly, and the tests check the gated scanner against it. Every pattern has a bounded
//! maximum length, which bounds the work per candidate and lets the streaming scanner hold back
//! a fixed window.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use rampart_core::{DataClass, Span};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind, PatternID, PatternSet};

use crate::detector::{Detector, Gate};
use crate::hash::HashKey;
use crate::skim::{self, TokenClass};
use crate::validate;

/// Bytes before a hit searched for context words.
pub const CONTEXT_BEFORE: usize = 48;
/// Bytes after a hit searched for context words.
pub const CONTEXT_AFTER: usize = 32;
/// Bytes before a value that a detector's [`Surroundings`](crate::detector::Surroundings) check
/// reads: enough for the name line above a Kubernetes `value:` (`- name: X_API_KEY` and its
/// indentation).
pub const SURROUNDINGS_BEFORE: usize = 96;
/// The most bytes before a value that any decision about it reads (context words or
/// surroundings); a stream keeps at least this much of what it released.
pub const LOOK_BEHIND: usize = if CONTEXT_BEFORE > SURROUNDINGS_BEFORE {
    CONTEXT_BEFORE
} else {
    SURROUNDINGS_BEFORE
};
/// Patterns longer than this must start with a literal (see [`Scanner::long_anchors`]).
pub const LONG_PATTERN: usize = 1024;
/// How far before the first digit of a run a [`Gate::Digit`] match may start.
pub const DIGIT_LOOKBACK: usize = 10;
/// Detectors whose matches may start further than this before their long token run keep the
/// plain literal gate (searching windows that wide would not save time).
const MAX_RUN_MARGIN: usize = 96;

/// Largest compiled NFA of a group of patterns. The built-in registry's largest group (every
/// literal-prefixed pattern) compiles to more than regex-automata's 10 MiB default, mostly
/// from the bounded repetitions of private keys, JWTs and the markup detectors; this leaves
/// room to grow without making memory unbounded.
const NFA_SIZE_LIMIT: usize = 24 << 20;

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
            // a fresh random key per process: no runtime scanner hashes with a known key;
            // callers that correlate across processes pass their own (`with_hash_key`)
            hash_key: HashKey::random(),
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

/// How a group finds its candidate positions.
#[derive(Clone, Debug)]
enum Candidates {
    /// Starts of literal prefixes: exact-case literals, and case-insensitive keywords.
    Literals(Vec<LiteralSet>),
    /// Word starts (and `+`, `(`) shortly before runs of digits; with a filter, context-gated
    /// patterns count only where one of their context words is near.
    Digits(Option<ContextFilter>),
    /// Word starts shortly before a colon between hex digits or colons.
    HexColons,
    /// Every position at most `within[k]` bytes before an occurrence of inner literal `k`.
    Inner(AhoCorasick, Vec<usize>),
    /// Every position: an unanchored search finds the next match.
    Scan,
}

/// One automaton over literal prefixes.
#[derive(Clone, Debug)]
struct LiteralSet {
    /// Finds the longest literal starting at a position.
    ac: AhoCorasick,
    /// Per literal: the detectors whose matches can start with it.
    owners: Vec<Vec<usize>>,
    /// Where the automaton searches.
    window: Window,
    /// One of the combined automata over every literal, searched instead of the others where
    /// their windows would cover most of the text.
    combined: bool,
    /// The literals of stream-only detectors: searched only in answers (whatever the text's
    /// density), so other scans pay nothing for them.
    answers_only: bool,
}

/// Where a literal set's matches can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Window {
    /// Every match holds a token run of [`skim::MIN_RUN`]+ bytes and starts at most this many
    /// bytes before it: only text near such runs is searched.
    Runs(usize),
    /// Every match holds one of [`ASSIGN`] at most this many bytes after its start (a keyword
    /// and then `=` or `:`): only text shortly before such bytes is searched.
    Assign(usize),
    /// Anywhere.
    All,
}

/// The bytes that follow a keyword in `key = value`, `key: value` and `<key>value`.
const ASSIGN: &[u8] = b":=<";
/// Keyword detectors whose `=`, `:` or `<` may come later than this keep the plain gate.
const MAX_ASSIGN_OFFSET: usize = 64;

/// The context words of the context-gated detectors of a digit group.
#[derive(Clone, Debug)]
struct ContextFilter {
    /// The words (case-insensitive).
    words: AhoCorasick,
    /// How far before a word a match may start: longest match plus the context after a hit.
    reach: usize,
    /// The longest word, in bytes.
    longest: usize,
    /// Per local pattern id: the detector needs a word near (`Gate::Context`).
    gated: Vec<bool>,
}

/// Detectors sharing a gate, compiled together.
#[derive(Clone, Debug)]
struct Group {
    candidates: Candidates,
    /// Leftmost-first automaton over the group's patterns, for `Scan` groups' unanchored search.
    re: Option<Regex>,
    /// All-matches automaton over the group's patterns: lists what matches at a position.
    all: Regex,
    /// Local pattern id -> detector index.
    ids: Vec<usize>,
}

/// One detector's own automaton: finds its span at a known start and its `v` capture group.
/// Small, so capture extraction never runs a big automaton.
#[derive(Clone, Debug)]
struct Single {
    re: Regex,
    value_group: Option<usize>,
}

/// All detectors of a registry compiled into gated automata. Build once, share behind `Arc` or
/// a `static`; scanning takes `&self` and is thread-safe.
#[derive(Clone, Debug)]
pub struct Scanner {
    detectors: Vec<&'static Detector>,
    singles: Vec<Single>,
    groups: Vec<Group>,
    words: AhoCorasick,
    word_owners: Vec<Vec<(usize, bool)>>,
    max_len: usize,
    long_anchors: Option<AhoCorasick>,
    long_max: usize,
    config: ScannerConfig,
    reference: std::sync::OnceLock<Regex>,
    anchored: std::sync::OnceLock<Option<regex_automata::hybrid::dfa::DFA>>,
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
        let mut prefixes: Vec<(Vec<Vec<u8>>, bool)> = Vec::new();
        let mut max_lens: Vec<usize> = Vec::new();
        // per detector: where its matches can start, from what every match is proven to
        // contain (see `skim`)
        let mut windows: Vec<Window> = Vec::new();
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
                    prefixes.push((Vec::new(), false));
                    max_lens.push(0);
                    windows.push(Window::All);
                    continue;
                }
            };
            if let Gate::Inner { literal, .. } = d.gate
                && literal.len() < 2
            {
                diagnostics.push(diag(
                    d,
                    "an inner-literal gate needs a literal of 2+ bytes".into(),
                ));
            }
            if d.gate == Gate::Prefix {
                match literal_prefixes(&hir) {
                    Some(lits) => prefixes.push(lits),
                    None => {
                        prefixes.push((Vec::new(), false));
                        diagnostics.push(diag(
                            d,
                            "pattern does not start with a literal of 2+ bytes; add a literal prefix (a vendor prefix or keyword) or set a gate such as Gate::Digit".into(),
                        ));
                    }
                }
            } else {
                prefixes.push((Vec::new(), false));
            }
            let props = hir.properties();
            max_lens.push(props.maximum_len().unwrap_or(0));
            // how far before its long token run a match may start
            let runs = skim::max_run_lead(&hir, TokenClass::Base64, skim::MIN_RUN)
                .filter(|&lead| lead <= MAX_RUN_MARGIN);
            let assign = skim::max_first_offset(&hir, ASSIGN).filter(|&n| n <= MAX_ASSIGN_OFFSET);
            windows.push(match (runs, assign) {
                (Some(m), _) => Window::Runs(m),
                (None, Some(n)) => Window::Assign(n),
                (None, None) => Window::All,
            });
            if d.gate == Gate::Context && !d.context.required {
                diagnostics.push(diag(
                    d,
                    "a context gate needs required context words (.require_context())".into(),
                ));
            }
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
        let groups = build_groups(&detectors, &prefixes, &max_lens, &windows)?;

        let mut singles = Vec::with_capacity(detectors.len());
        for d in &detectors {
            let re = compile(&[d.pattern], MatchKind::LeftmostFirst)?;
            let value_group = re.group_info().to_index(PatternID::ZERO, "v");
            singles.push(Single { re, value_group });
        }

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
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(AcMatchKind::Standard)
            .build(&word_list)
            .expect("context words compile");
        let long_anchors = if long_literals.is_empty() {
            None
        } else {
            // leftmost-first lets the automaton use its SIMD prefilter over the exact literals
            // (the case variants of `<img` among them); standard matching walked the
            // automaton over most bytes of prose
            Some(
                AhoCorasickBuilder::new()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .match_kind(AcMatchKind::LeftmostFirst)
                    .build(&long_literals)
                    .expect("long-pattern literals compile"),
            )
        };
        Ok(Scanner {
            detectors,
            singles,
            groups,
            words,
            word_owners,
            max_len,
            long_anchors,
            long_max,
            config,
            reference: std::sync::OnceLock::new(),
            anchored: std::sync::OnceLock::new(),
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

    /// The same compiled scanner with findings hashed under `key` (the compiled automata are
    /// shared, not rebuilt): what a gateway uses so its findings carry its own key.
    pub fn with_hash_key(&self, key: HashKey) -> Scanner {
        let mut s = self.clone();
        s.config.hash_key = key;
        s
    }

    /// The detectors, indexed as in [`Hit::detector`].
    pub fn detectors(&self) -> &[&'static Detector] {
        &self.detectors
    }

    /// The scanner's settings.
    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    /// A lazy DFA over every pattern, anchored, reporting all matches: walked from a position,
    /// it says whether any pattern could still match there (not dead yet) and where matches
    /// end. The streaming scanner uses it to hold back only text that could still change.
    /// `None` if it cannot be built (the streaming scanner then holds back its fixed window).
    pub fn anchored_dfa(&self) -> Option<&regex_automata::hybrid::dfa::DFA> {
        self.anchored
            .get_or_init(|| {
                use regex_automata::hybrid::dfa::DFA;
                let patterns: Vec<&str> = self.detectors.iter().map(|d| d.pattern).collect();
                DFA::builder()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .configure(
                        DFA::config()
                            .match_kind(MatchKind::All)
                            .cache_capacity(8 << 20),
                    )
                    .build_many(&patterns)
                    .ok()
            })
            .as_ref()
    }

    /// Longest match of any pattern that is not a long (literal-anchored) one.
    pub fn max_short_len(&self) -> usize {
        self.max_len
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
        self.scan_until_with(hay, from..limit, None, Pass::ANSWER, hits, None)
    }

    /// [`Scanner::scan_raw`] of a whole buffer (stream-only detectors do not match) with the
    /// token runs of `hay` already found: [`skim::long_runs`] of [`TokenClass::Base64`] and
    /// [`skim::MIN_RUN`] over all of `hay` (the layered scan shares them with the base64
    /// decoder).
    pub fn scan_raw_with_runs(&self, hay: &[u8], runs: &[(usize, usize)], hits: &mut Vec<Hit>) {
        self.scan_until_with(hay, 0..hay.len(), Some(runs), Pass::WHOLE, hits, None);
    }

    /// [`Scanner::scan_raw_with_runs`] on `segments` threads at once: `hay` is cut into that
    /// many pieces, each scanned on its own, and each piece's matches are joined to those
    /// before it as one pass would have made them. Where a match of one piece runs into the
    /// next, the next is scanned again from that match's end up to the first of its own
    /// matches that the rescan reaches without running past it; a scan's only state is the
    /// position it resumes from, so from there on the piece's matches are the one pass's.
    /// The hits are exactly those of one pass (of [`Scanner::scan_raw_with_runs`] without
    /// `answers`, of [`Scanner::scan_raw`] with it).
    pub fn scan_raw_segmented(
        &self,
        hay: &[u8],
        runs: Option<&[(usize, usize)]>,
        segments: usize,
        answers: bool,
        hits: &mut Vec<Hit>,
    ) {
        let pass = Pass {
            block: CANDIDATE_BLOCK,
            answers,
        };
        let n = segments.clamp(1, hay.len().max(1));
        if n == 1 {
            self.scan_until_with(hay, 0..hay.len(), runs, pass, hits, None);
            return;
        }
        let bounds: Vec<usize> = (0..=n).map(|k| k * hay.len() / n).collect();
        // per piece: its hits, the start of each top-level match with the number of hits
        // before it, and where the piece's scan stopped
        type Piece = (Vec<Hit>, Vec<(usize, usize)>, usize);
        let pieces: Vec<Piece> = std::thread::scope(|scope| {
            let handles: Vec<_> = bounds
                .windows(2)
                .skip(1)
                .map(|w| {
                    let (from, to) = (w[0], w[1]);
                    scope.spawn(move || {
                        let (mut hits, mut tops) = (Vec::new(), Vec::new());
                        let end = self.scan_until_with(
                            hay,
                            from..to,
                            runs,
                            pass,
                            &mut hits,
                            Some(&mut tops),
                        );
                        (hits, tops, end)
                    })
                })
                .collect();
            let end = self.scan_until_with(hay, 0..bounds[1], runs, pass, hits, None);
            let mut pieces = vec![(Vec::new(), Vec::new(), end)];
            pieces.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            );
            pieces
        });
        let mut e = pieces[0].2;
        for (k, (piece_hits, tops, piece_end)) in pieces.into_iter().enumerate().skip(1) {
            let (start, end) = (bounds[k], bounds[k + 1]);
            if e <= start {
                hits.extend(piece_hits);
                e = piece_end;
                continue;
            }
            loop {
                let j = tops.partition_point(|&(q, _)| q < e);
                let lim = tops.get(j).map_or(end, |&(q, _)| q);
                let p = self.scan_until_with(hay, e..lim, runs, pass, hits, None);
                match tops.get(j) {
                    // in step at the piece's j-th match: the rest of the piece is the one pass's
                    Some(&(_, before)) if p == lim => {
                        hits.extend_from_slice(&piece_hits[before..]);
                        e = piece_end;
                        break;
                    }
                    Some(_) => e = p,
                    // the whole piece was scanned again
                    None => {
                        e = p;
                        break;
                    }
                }
            }
        }
    }

    /// [`Scanner::scan_raw`] gathering candidates `block` bytes at a time (tests check that
    /// the block size never changes what is found).
    #[doc(hidden)]
    pub fn scan_raw_in_blocks(&self, hay: &[u8], block: usize, hits: &mut Vec<Hit>) {
        self.scan_until_with(
            hay,
            0..hay.len(),
            None,
            Pass {
                block: block.max(1),
                answers: true,
            },
            hits,
            None,
        );
    }

    fn scan_until_with(
        &self,
        hay: &[u8],
        std::ops::Range {
            start: from,
            end: limit,
        }: std::ops::Range<usize>,
        runs: Option<&[(usize, usize)]>,
        pass: Pass,
        hits: &mut Vec<Hit>,
        mut tops: Option<&mut Vec<(usize, usize)>>,
    ) -> usize {
        let limit = limit.min(hay.len());
        // per group: sorted candidates `(start, tag)`; a tag names the detectors of a literal
        // (`Literals`), else the group's all-matches automaton says what matches there.
        // `Scan` and `Context` groups find their next match with a search instead. Candidates
        // are gathered a block at a time, so their lists stay small on large inputs.
        let mut cands: Vec<Vec<(usize, u32)>> = vec![Vec::new(); self.groups.len()];
        let mut block_end = from;
        let mut next: Vec<usize> = vec![0; self.groups.len()];
        let mut scan_next: Vec<Option<usize>> = vec![None; self.groups.len()];
        let mut sets: Vec<PatternSet> = self
            .groups
            .iter()
            .map(|g| PatternSet::new(g.all.pattern_len()))
            .collect();
        let mut tries: Vec<usize> = Vec::new();
        let mut context = ContextWords::default();
        let mut pos = from;
        loop {
            if pos >= block_end && block_end < limit {
                block_end = pos.saturating_add(pass.block).min(limit);
                for (gi, g) in self.groups.iter().enumerate() {
                    if !matches!(g.candidates, Candidates::Scan) {
                        cands[gi] =
                            candidates(&g.candidates, hay, pos, block_end, runs, pass.answers);
                        next[gi] = 0;
                    }
                }
            }
            // the nearest candidate of every group at or after `pos`; a group whose candidates
            // of this block are used up has none before `block_end`
            let mut q = usize::MAX;
            for (gi, g) in self.groups.iter().enumerate() {
                let start = match g.candidates {
                    Candidates::Scan => {
                        if scan_next[gi].is_none_or(|s| s < pos) {
                            let re =
                                g.re.as_ref()
                                    .expect("scan groups have a leftmost-first automaton");
                            scan_next[gi] = Some(
                                re.search(&Input::new(hay).range(pos.min(hay.len())..))
                                    .map_or(usize::MAX, |m| m.start()),
                            );
                        }
                        scan_next[gi].unwrap_or(usize::MAX)
                    }
                    _ => {
                        let list = &cands[gi];
                        while next[gi] < list.len() && list[next[gi]].0 < pos {
                            next[gi] += 1;
                        }
                        list.get(next[gi]).map_or(block_end, |c| c.0)
                    }
                };
                q = q.min(start);
            }
            if q >= limit {
                return pos.max(limit);
            }
            if q >= block_end {
                // nothing before the end of this block: gather the next one
                pos = pos.max(block_end);
                continue;
            }
            // every pattern of every group that matches at `q`, in registry order
            tries.clear();
            let anchored = Input::new(hay).range(q..).anchored(Anchored::Yes);
            for (gi, g) in self.groups.iter().enumerate() {
                match &g.candidates {
                    Candidates::Scan => {
                        if scan_next[gi] != Some(q) {
                            continue;
                        }
                    }
                    Candidates::Literals(automata) => {
                        let list = &cands[gi];
                        let mut k = next[gi];
                        while k < list.len() && list[k].0 == q {
                            let tag = list[k].1 as usize;
                            tries.extend(&automata[tag >> 24].owners[tag & 0xff_ffff]);
                            k += 1;
                        }
                        continue;
                    }
                    _ => {
                        if cands[gi].get(next[gi]).map(|c| c.0) != Some(q) {
                            continue;
                        }
                    }
                }
                sets[gi].clear();
                g.all.which_overlapping_matches(&anchored, &mut sets[gi]);
                if sets[gi].is_empty() {
                    continue;
                }
                match &g.candidates {
                    // context-gated patterns count only where a context word is near
                    Candidates::Digits(Some(filter)) => {
                        // looked up once, and only when a context-gated pattern matches here
                        let mut near = None;
                        for pid in sets[gi].iter() {
                            let p = pid.as_usize();
                            if filter.gated[p]
                                && !*near.get_or_insert_with(|| context.near(filter, hay, q))
                            {
                                continue;
                            }
                            tries.push(g.ids[p]);
                        }
                    }
                    _ => tries.extend(sets[gi].iter().map(|pid| g.ids[pid.as_usize()])),
                }
            }
            tries.sort_unstable();
            tries.dedup();
            // markup only a rendered answer cares about is not matched elsewhere: it must not
            // take the bytes of a value from a whole-buffer scan
            if !pass.answers {
                tries.retain(|&idx| !self.detectors[idx].stream_only);
            }
            let mut accepted = None;
            for &idx in &tries {
                if let Some((hit, end)) = self.try_at(hay, idx, q) {
                    accepted = Some((hit, end));
                    break;
                }
            }
            match accepted {
                Some((hit, end)) => {
                    let hit = self.refine(hay, hit);
                    pos = end.max(q + 1);
                    if let Some(tops) = tops.as_deref_mut() {
                        tops.push((q, hits.len()));
                    }
                    let resume = self.push_hit(hit, hits, |from, to, inner| {
                        self.scan_until_with(hay, from..to, None, pass, inner, None);
                    });
                    pos = pos.max(resume);
                }
                None => pos = q + 1,
            }
        }
    }

    /// Appends `hit`. An output construct (an image, a link, a tag) that holds sensitive values
    /// is appended as those values and, as hits of its own detector, the pieces of it around
    /// them: a value never hides inside markup (a request keeps markup but must lose the key in
    /// its URL), and an answer still loses every byte of the construct. `scan(from, to, hits)`
    /// scans the construct's bytes after its first.
    /// Returns where the scan resumes: the construct's end, or the end of a value that starts
    /// inside it and runs past it (the value is reported whole, the construct up to it).
    fn push_hit(
        &self,
        hit: Hit,
        hits: &mut Vec<Hit>,
        scan: impl FnOnce(usize, usize, &mut Vec<Hit>),
    ) -> usize {
        if self.detectors[hit.detector].class != DataClass::UnsafeOutput || hit.span.len() < 2 {
            hits.push(hit);
            return hit.span.end;
        }
        let mut inner = Vec::new();
        scan(hit.span.start + 1, hit.span.end, &mut inner);
        inner.retain(|h| self.detectors[h.detector].class != DataClass::UnsafeOutput);
        let mut at = hit.span.start;
        for h in inner {
            if h.span.start > at {
                hits.push(Hit {
                    span: Span::new(at, h.span.start),
                    ..hit
                });
            }
            at = h.span.end;
            hits.push(h);
        }
        if at < hit.span.end {
            hits.push(Hit {
                span: Span::new(at, hit.span.end),
                ..hit
            });
        }
        at.max(hit.span.end)
    }

    /// A fallback's hit (see [`Detector::fallback`]) whose value is in a known format, as the
    /// first detector of its class listed before it that finds a hit over the value (matching
    /// from the value's start or the byte before it) reports it; any other hit as it is.
    fn refine(&self, hay: &[u8], hit: Hit) -> Hit {
        let v = hit.span;
        match self.detectors[hit.detector].fallback {
            Some(known) if known(&hay[v.start..v.end]) => {}
            _ => return hit,
        }
        // a precise pattern may start one delimiter before the value (`=`, a quote)
        [v.start, v.start.saturating_sub(1)]
            .into_iter()
            .flat_map(|at| {
                (0..hit.detector)
                    .filter(|&i| self.detectors[i].class == self.detectors[hit.detector].class)
                    .filter_map(move |i| self.try_at(hay, i, at))
            })
            .find(|(h, _)| h.span.overlaps(&v))
            .map_or(hit, |(better, _)| better)
    }

    /// The plain semantics the gated scanner implements: one leftmost-first search over every
    /// pattern, trying the others at the same position when a hit is rejected, resuming one byte
    /// later. Slow; kept to test the gated scanner against.
    #[doc(hidden)]
    pub fn scan_raw_reference(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        self.scan_reference_range(hay, 0, hay.len(), hits);
    }

    /// [`Scanner::scan_raw_reference`] from `from`, accepting hits that start before `to`.
    fn scan_reference_range(&self, hay: &[u8], from: usize, to: usize, hits: &mut Vec<Hit>) {
        let re = self.reference.get_or_init(|| {
            let patterns: Vec<&str> = self.detectors.iter().map(|d| d.pattern).collect();
            compile(&patterns, MatchKind::LeftmostFirst)
                .expect("the registry compiled once already")
        });
        let mut pos = from;
        while pos < to.min(hay.len()) {
            let Some(m) = re.search(&Input::new(hay).range(pos..)) else {
                return;
            };
            if m.start() >= to {
                return;
            }
            // the leftmost match's pattern first, then every other pattern in registry order
            let first = m.pattern().as_usize();
            let order =
                std::iter::once(first).chain((0..self.detectors.len()).filter(|&i| i != first));
            let mut accepted = None;
            for idx in order {
                if let Some(found) = self.try_at(hay, idx, m.start()) {
                    accepted = Some(found);
                    break;
                }
            }
            match accepted {
                Some((hit, end)) => {
                    let hit = self.refine(hay, hit);
                    pos = end.max(m.start() + 1);
                    let resume = self.push_hit(hit, hits, |from, to, inner| {
                        self.scan_reference_range(hay, from, to, inner);
                    });
                    pos = pos.max(resume);
                }
                None => pos = m.start() + 1,
            }
        }
    }

    /// Tries detector `idx` anchored at `q`: its match there, validated. Returns the hit and
    /// the end of the whole match.
    fn try_at(&self, hay: &[u8], idx: usize, q: usize) -> Option<(Hit, usize)> {
        let single = &self.singles[idx];
        let input = Input::new(hay).range(q..).anchored(Anchored::Yes);
        let m = single.re.search(&input)?;
        let span = Span::new(m.start(), m.end());
        let value = match single.value_group {
            Some(group) => {
                let input = Input::new(hay)
                    .range(span.start..span.end)
                    .anchored(Anchored::Yes);
                let info = single.re.group_info();
                let (lo, hi) = info.slots(PatternID::ZERO, group)?;
                // slots on the stack, so a hit allocates nothing (patterns have few groups)
                let mut stack = [None; 32];
                match stack.get_mut(..info.slot_len()) {
                    Some(slots) => {
                        single.re.search_slots(&input, slots);
                        Span::new(slots[lo]?.get(), slots[hi]?.get())
                    }
                    None => {
                        let mut caps = single.re.create_captures();
                        single.re.search_captures(&input, &mut caps);
                        let c = caps.get_group(group)?;
                        Span::new(c.start, c.end)
                    }
                }
            }
            None => span,
        };
        if value.is_empty() {
            return None;
        }
        let det = self.detectors[idx];
        let bytes = &hay[value.start..value.end];
        if let Some(validator) = det.validator
            && !validator(bytes)
        {
            return None;
        }
        if det.min_entropy > 0.0 && validate::entropy(bytes) < det.min_entropy {
            return None;
        }
        if let Some(check) = det.surroundings {
            let before = &hay[value.start.saturating_sub(SURROUNDINGS_BEFORE)..value.start];
            let after = &hay[value.end..(value.end + CONTEXT_AFTER).min(hay.len())];
            if !check(before, bytes, after) {
                return None;
            }
        }
        let score = self.score(hay, idx, span)?;
        (score >= self.config.min_score).then_some((
            Hit {
                detector: idx,
                span: value,
                score,
            },
            span.end,
        ))
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
}

/// Groups the detectors by gate and compiles each group: its candidate finder and its
/// all-matches automaton (plus a leftmost-first one for `Scan` groups).
fn build_groups(
    detectors: &[&'static Detector],
    prefixes: &[(Vec<Vec<u8>>, bool)],
    max_lens: &[usize],
    windows: &[Window],
) -> Result<Vec<Group>, BuildError> {
    let mut groups = Vec::new();
    let kind = |g: Gate| match g {
        Gate::Prefix => 0,
        Gate::Digit => 1,
        Gate::HexColon => 2,
        Gate::Inner { .. } => 3,
        // context-gated detectors share the digit group's candidates and automaton
        Gate::Context => 1,
        Gate::Scan => 5,
    };
    // one group per gate kind, except that every `Scan` detector gets its own automaton so
    // the regex engine can apply its own single-pattern accelerations (e-mail's `@`)
    let mut plan: Vec<(Gate, Vec<usize>)> = Vec::new();
    for gate in [
        Gate::Prefix,
        Gate::Digit,
        Gate::HexColon,
        Gate::Inner {
            literal: "",
            within: 0,
        },
    ] {
        let ids: Vec<usize> = (0..detectors.len())
            .filter(|&i| kind(detectors[i].gate) == kind(gate))
            .collect();
        plan.push((gate, ids));
    }
    for i in (0..detectors.len()).filter(|&i| detectors[i].gate == Gate::Scan) {
        plan.push((Gate::Scan, vec![i]));
    }
    for (gate, ids) in plan {
        if ids.is_empty() {
            continue;
        }
        let patterns: Vec<&str> = ids.iter().map(|&i| detectors[i].pattern).collect();
        let all = compile(&patterns, MatchKind::All)?;
        let re = match gate {
            Gate::Scan => Some(compile(&patterns, MatchKind::LeftmostFirst)?),
            _ => None,
        };
        let candidates = match gate {
            Gate::Prefix => {
                // Prefixes spelled in every case (`(?i:password)`) are matched by
                // case-insensitive automata over their lowercase forms, the rest exactly.
                // Detectors proven to match only around a long token run, or shortly before
                // `=`, `:` or `<`, get their own automata, searched only there; in text where
                // those windows cover most bytes (API JSON) the combined automata, one pass
                // each over all literals, are searched instead.
                let kind = |w: Window| match w {
                    Window::Runs(_) => 0,
                    Window::Assign(_) => 1,
                    Window::All => 2,
                };
                let mut automata = Vec::new();
                // stream-only detectors get sets of their own, searched only in answers
                let (answer_ids, plain_ids): (Vec<usize>, Vec<usize>) =
                    ids.iter().partition(|&&i| detectors[i].stream_only);
                for (answers_only, group) in [(true, &answer_ids), (false, &plain_ids)] {
                    for (k, fold) in [
                        (0, true),
                        (0, false),
                        (1, true),
                        (1, false),
                        (2, true),
                        (2, false),
                    ] {
                        let mine: Vec<usize> = group
                            .iter()
                            .copied()
                            .filter(|&i| kind(windows[i]) == k)
                            .collect();
                        // the widest window of the set's detectors
                        let window = mine
                            .iter()
                            .map(|&i| windows[i])
                            .max()
                            .unwrap_or(Window::All);
                        // the run sets fold long exact literals too (one pass), the others keep
                        // them exact, for the automaton's SIMD prefilter. Exact literals of one
                        // or two bytes searched everywhere (`![`) get an automaton of their own:
                        // among the others they would cut the fingerprint the prefilter looks
                        // for to two bytes, which common pairs of letters (`ma`, `su`) match.
                        let lens: &[(usize, usize)] = if k == 2 && !fold {
                            &[(0, 3), (3, usize::MAX)]
                        } else {
                            &[(0, usize::MAX)]
                        };
                        for &len in lens {
                            automata.extend(
                                literal_set(&mine, prefixes, fold, k == 0, window, false, len).map(
                                    |mut set| {
                                        set.answers_only = answers_only;
                                        set
                                    },
                                ),
                            );
                        }
                    }
                }
                // the combined automata: every literal of 4+ bytes folded (a superset of the
                // exact ones' hits), and the short case-sensitive ones (`AC`, `SK`) exactly,
                // which folded would hit in every other English word
                for (fold, len) in [
                    (true, (0, usize::MAX)),
                    (false, (0, 3)),
                    (false, (3, usize::MAX)),
                ] {
                    automata.extend(literal_set(
                        &plain_ids,
                        prefixes,
                        fold,
                        true,
                        Window::All,
                        true,
                        len,
                    ));
                }
                Candidates::Literals(automata)
            }
            Gate::Digit => {
                let gated: Vec<bool> = ids
                    .iter()
                    .map(|&i| detectors[i].gate == Gate::Context)
                    .collect();
                let filter = gated.iter().any(|&g| g).then(|| {
                    let mut words: Vec<String> = ids
                        .iter()
                        .filter(|&&i| detectors[i].gate == Gate::Context)
                        .flat_map(|&i| {
                            detectors[i]
                                .context
                                .words
                                .iter()
                                .map(|w| w.to_ascii_lowercase())
                        })
                        .collect();
                    words.sort();
                    words.dedup();
                    let reach = ids
                        .iter()
                        .filter(|&&i| detectors[i].gate == Gate::Context)
                        .map(|&i| max_lens[i])
                        .max()
                        .unwrap_or(0)
                        + CONTEXT_AFTER;
                    ContextFilter {
                        words: AhoCorasickBuilder::new()
                            .match_kind(AcMatchKind::LeftmostFirst)
                            .ascii_case_insensitive(true)
                            .build(&words)
                            .expect("context words compile"),
                        reach,
                        longest: words.iter().map(String::len).max().unwrap_or(0),
                        gated: gated.clone(),
                    }
                });
                Candidates::Digits(filter)
            }
            Gate::HexColon => Candidates::HexColons,
            Gate::Inner { .. } => {
                let mut lits: Vec<&str> = Vec::new();
                let mut within: Vec<usize> = Vec::new();
                for &i in &ids {
                    if let Gate::Inner { literal, within: w } = detectors[i].gate {
                        match lits.iter().position(|l| *l == literal) {
                            Some(k) => within[k] = within[k].max(usize::from(w)),
                            None => {
                                lits.push(literal);
                                within.push(usize::from(w));
                            }
                        }
                    }
                }
                Candidates::Inner(
                    AhoCorasickBuilder::new()
                        .match_kind(AcMatchKind::LeftmostFirst)
                        .build(&lits)
                        .expect("inner literals compile"),
                    within,
                )
            }
            Gate::Context => unreachable!("context-gated detectors join the digit group"),
            Gate::Scan => Candidates::Scan,
        };
        groups.push(Group {
            candidates,
            re,
            all,
            ids,
        });
    }
    Ok(groups)
}

/// The automaton over the literal prefixes of `ids` that are matched folded (`fold`) or exactly:
/// folded are the case-insensitive ones and, with `fold_long`, exact ones of 4+ bytes too. Only
/// literals whose length is in `lens.0..lens.1` are taken.
fn literal_set(
    ids: &[usize],
    prefixes: &[(Vec<Vec<u8>>, bool)],
    fold: bool,
    fold_long: bool,
    window: Window,
    combined: bool,
    lens: (usize, usize),
) -> Option<LiteralSet> {
    // literal -> detectors that start with it
    let mut owners: std::collections::BTreeMap<Vec<u8>, Vec<usize>> = Default::default();
    for &i in ids {
        let (lits, folded) = &prefixes[i];
        for lit in lits.iter().filter(|l| (lens.0..lens.1).contains(&l.len())) {
            let exact = !*folded && (lit.len() < 4 || !fold_long);
            if exact != fold {
                let key = if fold {
                    lit.to_ascii_lowercase()
                } else {
                    lit.clone()
                };
                owners.entry(key).or_default().push(i);
            }
        }
    }
    if owners.is_empty() {
        return None;
    }
    // the automaton reports the longest literal starting at a position; every other literal
    // matching there is a prefix of it, so a literal's owners include those of its prefixes
    let lits: Vec<Vec<u8>> = owners.keys().cloned().collect();
    let closure: Vec<Vec<usize>> = lits
        .iter()
        .map(|lit| {
            let mut all: Vec<usize> = lits
                .iter()
                .filter(|p| lit.starts_with(p))
                .flat_map(|p| owners[p].iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        })
        .collect();
    let ac = AhoCorasickBuilder::new()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .ascii_case_insensitive(fold)
        .match_kind(AcMatchKind::LeftmostLongest)
        .build(&lits)
        .expect("literal prefixes compile");
    Some(LiteralSet {
        ac,
        owners: closure,
        window,
        combined,
        answers_only: false,
    })
}

/// Compiles patterns into one automaton of the given match kind.
fn compile(patterns: &[&str], kind: MatchKind) -> Result<Regex, BuildError> {
    Regex::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(
            Regex::config()
                .match_kind(kind)
                .utf8_empty(false)
                .nfa_size_limit(Some(NFA_SIZE_LIMIT))
                .hybrid_cache_capacity(8 << 20),
        )
        .build_many(patterns)
        .map_err(|e| BuildError {
            diagnostics: vec![Diagnostic {
                detector: "*",
                message: format!("patterns do not compile together: {e}"),
            }],
        })
}

/// The literal prefixes every match of `hir` starts with, at most 64 of them: case variants
/// spelled out by `(?i)` and classes spelled out (`xoxe-\d{3}` gives 1000) are cut back to
/// shorter prefixes until few remain. Each is 2+ bytes. The flag says the set is
/// case-insensitive (lowercased, to match ignoring ASCII case).
fn literal_prefixes(hir: &regex_syntax::hir::Hir) -> Option<(Vec<Vec<u8>>, bool)> {
    let mut extractor = regex_syntax::hir::literal::Extractor::new();
    extractor
        .kind(regex_syntax::hir::literal::ExtractKind::Prefix)
        .limit_literal_len(8)
        .limit_total(4096);
    let seq = extractor.extract(hir);
    let lits: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let set = |lits: &[Vec<u8>], k: usize, fold: bool| {
        let mut out: Vec<Vec<u8>> = lits
            .iter()
            .map(|l| {
                let l = &l[..l.len().min(k)];
                if fold {
                    l.to_ascii_lowercase()
                } else {
                    l.to_vec()
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    };
    // a few case variants (`Sumo`, `sumo`, `SUMO`) stay exact: the automaton's SIMD
    // prefilter takes exact literals, not folded ones
    let exact = set(&lits, 8, false).len();
    let fold = exact > 8 && set(&lits, 8, true).len() < exact;
    for k in (2..=8).rev() {
        let out = set(&lits, k, fold);
        if out.is_empty() || out.iter().any(|l| l.len() < 2) {
            return None;
        }
        if out.len() <= 64 {
            return Some((out, fold));
        }
    }
    None
}

/// Bytes of input whose candidates are gathered at once by a scan.
const CANDIDATE_BLOCK: usize = 256 << 10;

/// How one scan runs: candidates gathered `block` bytes at a time, and whether it reads an
/// answer a client renders (stream-only detectors match only then).
#[derive(Clone, Copy, Debug)]
struct Pass {
    block: usize,
    answers: bool,
}

impl Pass {
    /// A streamed answer (and the raw scans streams are tested against).
    const ANSWER: Pass = Pass {
        block: CANDIDATE_BLOCK,
        answers: true,
    };
    /// A whole buffer: a request, a file, a whole answer (which has its own output inspection).
    const WHOLE: Pass = Pass {
        block: CANDIDATE_BLOCK,
        answers: false,
    };
}

/// Tag of a candidate whose detectors the all-matches automaton must find.
const NO_TAG: u32 = u32::MAX;

/// Candidate match starts in `[from, limit)` for a group, sorted, with their tags. `runs`, when
/// given, are the Base64-class runs of all of `hay` (absolute positions).
fn candidates(
    kind: &Candidates,
    hay: &[u8],
    from: usize,
    limit: usize,
    runs: Option<&[(usize, usize)]>,
    answers: bool,
) -> Vec<(usize, u32)> {
    let mut out: Vec<(usize, u32)> = Vec::new();
    let word_start = |q: usize| q == 0 || !hay[q - 1].is_ascii_alphanumeric();
    match kind {
        Candidates::Scan => {}
        Candidates::Literals(automata) => {
            // the long token runs a `Runs` set's matches must hold: a match starting before
            // `limit` holds a run starting before `limit + margin`
            let given = runs;
            let mut found: Option<Vec<(usize, usize)>> = None;
            let combined = dense_windows(automata, hay, from, limit, given);
            for (k, set) in automata.iter().enumerate() {
                if set.answers_only {
                    if !answers {
                        continue;
                    }
                } else if set.combined != combined {
                    continue;
                }
                let tag = (k as u32) << 24;
                let mut windows = Windows::new(&set.ac, hay, tag, &mut out);
                match set.window {
                    Window::All => windows.add(from, limit),
                    Window::Runs(margin) => {
                        let runs: &[(usize, usize)] = match given {
                            Some(runs) => runs,
                            None => found.get_or_insert_with(|| {
                                let reach = automata
                                    .iter()
                                    .filter_map(|s| match s.window {
                                        Window::Runs(m) => Some(m),
                                        _ => None,
                                    })
                                    .max()
                                    .unwrap_or(0);
                                let hi = (limit + reach + skim::MIN_RUN).min(hay.len());
                                let mut runs = Vec::new();
                                skim::long_runs(
                                    &hay[from..hi],
                                    TokenClass::Base64,
                                    skim::MIN_RUN,
                                    &mut runs,
                                );
                                for r in &mut runs {
                                    *r = (r.0 + from, r.1 + from);
                                }
                                runs
                            }),
                        };
                        // a match holding run [rs, re) starts in [rs - margin, re - MIN_RUN]
                        let first = runs.partition_point(|&(_, re)| re < from + skim::MIN_RUN);
                        for &(rs, re) in &runs[first..] {
                            if rs >= limit + margin {
                                break;
                            }
                            let lo = rs.saturating_sub(margin).max(from);
                            windows.add(lo, (re + 1 - skim::MIN_RUN).min(limit));
                        }
                    }
                    Window::Assign(within) => {
                        // a match with its first `=`, `:` or `<` at c starts in [c - within, c]
                        let hi = (limit + within).min(hay.len());
                        for c in
                            memchr::memchr3_iter(ASSIGN[0], ASSIGN[1], ASSIGN[2], &hay[from..hi])
                        {
                            let c = from + c;
                            windows.add(c.saturating_sub(within).max(from), (c + 1).min(limit));
                        }
                    }
                }
                windows.finish();
            }
            out.sort_unstable();
            out.dedup();
        }
        Candidates::Inner(ac, within) => {
            let reach = within.iter().copied().max().unwrap_or(0);
            let end = (limit + reach + 64).min(hay.len());
            // leftmost searches restarted one byte after each hit find overlapping hits too,
            // and unlike overlapping iteration they use the automaton's prefilter
            let mut at = from;
            while let Some(m) = ac.find(aho_corasick::Input::new(&hay[..end]).range(at..)) {
                at = m.start() + 1;
                let at = m.start();
                let lo = at.saturating_sub(within[m.pattern().as_usize()]).max(from);
                for (q, &b) in hay.iter().enumerate().take((at + 1).min(limit)).skip(lo) {
                    // matches start at a word start or at a delimiter, never inside a word
                    if !b.is_ascii_alphanumeric() || word_start(q) {
                        out.push((q, NO_TAG));
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
        }
        Candidates::Digits(_) => {
            let end = (limit + DIGIT_LOOKBACK).min(hay.len());
            let mut i = from;
            let mut last = from; // every candidate below `last` was emitted already
            while i < end {
                i = skim::next_digit(hay, i, end);
                if i >= end {
                    break;
                }
                // a run of digits starts at `i`: candidates are in [i - lookback, i]
                let lo = i.saturating_sub(DIGIT_LOOKBACK).max(last);
                for (q, &b) in hay.iter().enumerate().take((i + 1).min(limit)).skip(lo) {
                    if b == b'+' || b == b'(' || (b.is_ascii_alphanumeric() && word_start(q)) {
                        out.push((q, NO_TAG));
                    }
                }
                last = i + 1;
                while i < end && hay[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        Candidates::HexColons => {
            let end = (limit + 5).min(hay.len());
            let mut last = from;
            let hexish = |b: u8| b.is_ascii_hexdigit() || b == b':';
            for c in memchr::memchr_iter(b':', &hay[from..end]) {
                let c = from + c;
                let before = c > 0 && hexish(hay[c - 1]);
                let after = hay.get(c + 1).is_some_and(|&b| hexish(b));
                if !(before && after || hay.get(c + 1) == Some(&b':')) {
                    continue;
                }
                let lo = c.saturating_sub(4).max(last);
                for (q, &b) in hay.iter().enumerate().take((c + 1).min(limit)).skip(lo) {
                    if b == b':' || (b.is_ascii_hexdigit() && word_start(q)) {
                        out.push((q, NO_TAG));
                    }
                }
                last = c + 1;
            }
        }
    }
    out
}

/// Appends the start of the longest literal of `ac` at every position in `[from, limit)`,
/// tagged `tag | literal`.
fn literal_starts(
    ac: &AhoCorasick,
    hay: &[u8],
    from: usize,
    limit: usize,
    tag: u32,
    out: &mut Vec<(usize, u32)>,
) {
    if from >= limit {
        return;
    }
    // literals are at most 8 bytes; a leftmost search restarted one byte after each hit
    // visits every start (faster than overlapping iteration)
    let end = (limit + 64).min(hay.len());
    let mut at = from;
    while let Some(m) = ac.find(aho_corasick::Input::new(&hay[..end]).range(at..)) {
        if m.start() >= limit {
            break;
        }
        out.push((m.start(), tag | m.pattern().as_u32()));
        at = m.start() + 1;
    }
}

/// Whether the windows of the literal sets would cover so much of `hay[from..limit]` that one
/// pass of the combined automata is cheaper. Counted on a sample: the first 4 KiB of every
/// 64 KiB block.
fn dense_windows(
    sets: &[LiteralSet],
    hay: &[u8],
    from: usize,
    limit: usize,
    runs: Option<&[(usize, usize)]>,
) -> bool {
    const BLOCK: usize = 64 << 10;
    const SAMPLE: usize = 4 << 10;
    let margin = sets
        .iter()
        .filter_map(|s| match s.window {
            Window::Runs(m) => Some(m),
            _ => None,
        })
        .max();
    let Some(margin) = margin else {
        return false;
    };
    let (mut covered, mut seen) = (0, 0);
    let mut sample = Vec::new();
    let mut at = from;
    while at < limit {
        let end = (at + SAMPLE).min(limit);
        covered += match runs {
            Some(runs) => {
                let first = runs.partition_point(|&(_, re)| re <= at);
                runs[first..]
                    .iter()
                    .take_while(|&&(rs, _)| rs < end)
                    .map(|&(rs, re)| re.min(end) - rs.max(at) + margin)
                    .sum::<usize>()
            }
            None => {
                sample.clear();
                skim::long_runs(
                    &hay[at..end],
                    TokenClass::Base64,
                    skim::MIN_RUN,
                    &mut sample,
                );
                sample.iter().map(|(s, e)| e - s + margin).sum::<usize>()
            }
        };
        covered += memchr::memchr3_iter(ASSIGN[0], ASSIGN[1], ASSIGN[2], &hay[at..end]).count()
            * MAX_ASSIGN_OFFSET;
        seen += end - at;
        at += BLOCK;
    }
    covered > seen
}

/// Collects the windows of one literal set, merging overlapping ones, and searches each.
struct Windows<'a> {
    ac: &'a AhoCorasick,
    hay: &'a [u8],
    tag: u32,
    out: &'a mut Vec<(usize, u32)>,
    open: Option<(usize, usize)>,
}

impl<'a> Windows<'a> {
    fn new(ac: &'a AhoCorasick, hay: &'a [u8], tag: u32, out: &'a mut Vec<(usize, u32)>) -> Self {
        Windows {
            ac,
            hay,
            tag,
            out,
            open: None,
        }
    }

    /// Adds the window `[lo, hi)` of match starts; windows come in order of `lo`.
    fn add(&mut self, lo: usize, hi: usize) {
        if lo >= hi {
            return;
        }
        match &mut self.open {
            // a short gap costs less to search than one more search call
            Some((_, end)) if lo <= *end + 32 => *end = (*end).max(hi),
            _ => {
                if let Some((a, b)) = self.open.replace((lo, hi)) {
                    literal_starts(self.ac, self.hay, a, b, self.tag, self.out);
                }
            }
        }
    }

    fn finish(mut self) {
        if let Some((a, b)) = self.open.take() {
            literal_starts(self.ac, self.hay, a, b, self.tag, self.out);
        }
    }
}

/// Whether a context word of `filter` is near enough to `q` for a context-gated match starting
/// there to be accepted: a word starting in `[q - CONTEXT_BEFORE, q + reach]` (a superset of
/// what scoring accepts, which checks the detector's own words exactly).
/// Where context words start in a stretch of the text a scan is reading: the stretch grows as
/// the scan moves on, so candidates close together (digits in a JSON document) do not search
/// the same bytes again.
#[derive(Default)]
struct ContextWords {
    /// The stretch searched: every position inside it where a word starts is in `starts`.
    from: usize,
    to: usize,
    /// Those positions, in order.
    starts: Vec<usize>,
}

/// Words longer than this are looked up around each candidate instead (see
/// [`ContextWords::near`]).
const CONTEXT_WORD_MAX: usize = 64;

impl ContextWords {
    /// Whether a context word lies near a candidate at `q`: one starting between
    /// [`CONTEXT_BEFORE`] bytes before `q` and the filter's reach after it and ending within
    /// 64 bytes more ([`near_by_search`]). With words of at most [`CONTEXT_WORD_MAX`] bytes the
    /// end always fits, so where words start is all it takes.
    fn near(&mut self, filter: &ContextFilter, hay: &[u8], q: usize) -> bool {
        if filter.longest > CONTEXT_WORD_MAX {
            return near_by_search(filter, hay, q);
        }
        let lo = q.saturating_sub(CONTEXT_BEFORE);
        let last = q + filter.reach;
        // every word starting at or before `last` ends by here
        let need = (last + filter.longest).min(hay.len());
        if lo < self.from || lo > self.to {
            // not where the last candidate was: start a new stretch
            self.from = lo;
            self.to = lo;
            self.starts.clear();
        }
        if need > self.to {
            let to = need;
            // a word crossing the old end starts at most `longest` bytes before it: the starts
            // from there on are found again, now with the words that run past the old end
            let from = self.to.saturating_sub(filter.longest).max(self.from);
            let keep = self.starts.partition_point(|&s| s < from);
            self.starts.truncate(keep);
            let hay = &hay[..to];
            let mut at = from;
            // each search finds the leftmost word starting at or after `at`: one after its
            // start finds the next, overlapping words included
            while let Some(m) = filter.words.find(aho_corasick::Input::new(hay).range(at..)) {
                self.starts.push(m.start());
                at = m.start() + 1;
            }
            self.to = to;
            // starts before every later candidate's reach are no longer needed
            if self.starts.len() > 1024 {
                let drop = self.starts.partition_point(|&s| s < lo);
                self.starts.drain(..drop);
                self.from = lo;
            }
        }
        let first = self.starts.partition_point(|&s| s < lo);
        self.starts.get(first).is_some_and(|&s| s <= last)
    }
}

/// Whether a context word lies near a candidate at `q`, by one search of the window around it:
/// a word starting between [`CONTEXT_BEFORE`] bytes before `q` and the filter's reach after it,
/// ending within 64 bytes more.
fn near_by_search(filter: &ContextFilter, hay: &[u8], q: usize) -> bool {
    let lo = q.saturating_sub(CONTEXT_BEFORE);
    let hi = (q + filter.reach + 64).min(hay.len());
    filter
        .words
        .find(aho_corasick::Input::new(&hay[..hi]).range(lo..))
        .is_some_and(|m| m.start() <= q + filter.reach)
}

fn diag(d: &Detector, message: String) -> Diagnostic {
    Diagnostic {
        detector: d.id,
        message,
    }
}

impl Scanner {
    /// Candidate counts and times per group (diagnostics for benchmarks).
    #[doc(hidden)]
    pub fn candidate_profile(&self, hay: &[u8]) -> Vec<(String, usize, f64)> {
        self.groups
            .iter()
            .map(|g| {
                let t = std::time::Instant::now();
                let n = candidates(&g.candidates, hay, 0, hay.len(), None, false).len();
                let name = match &g.candidates {
                    Candidates::Literals(sets) => format!(
                        "literals({:?})",
                        sets.iter()
                            .map(|s| (s.ac.patterns_len(), s.window))
                            .collect::<Vec<_>>()
                    ),
                    Candidates::Digits(_) => "digits (and context)".into(),
                    Candidates::HexColons => "hexcolons".into(),
                    Candidates::Inner(..) => "inner".into(),
                    Candidates::Scan => format!("scan({})", self.detectors[g.ids[0]].id),
                };
                // each literal set alone too (its own windows; the combined ones as if chosen)
                if let Candidates::Literals(sets) = &g.candidates {
                    for s in sets {
                        let one = Candidates::Literals(vec![LiteralSet {
                            combined: false,
                            ..s.clone()
                        }]);
                        let t = std::time::Instant::now();
                        let n = candidates(&one, hay, 0, hay.len(), None, s.answers_only).len();
                        eprintln!(
                            "    set of {} literals, {:?}{}{}: {n} candidates in {:.2} ms",
                            s.ac.patterns_len(),
                            s.window,
                            if s.combined { ", combined" } else { "" },
                            if s.answers_only { ", answers only" } else { "" },
                            t.elapsed().as_secs_f64() * 1e3
                        );
                    }
                }
                (name, n, t.elapsed().as_secs_f64())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_words_found_a_stretch_at_a_time_match_a_search_per_candidate() {
        let scanner = Scanner::builtin();
        let filter = scanner
            .groups
            .iter()
            .find_map(|g| match &g.candidates {
                Candidates::Digits(Some(f)) => Some(f),
                _ => None,
            })
            .expect("the registry has context-gated digit detectors");
        // pieces: context words (some inside others), digits, filler of every length
        let mut pieces: Vec<String> = scanner
            .detectors
            .iter()
            .filter(|d| d.gate == Gate::Context)
            .flat_map(|d| d.context.words.iter().map(|w| w.to_string()))
            .take(12)
            .collect();
        assert!(!pieces.is_empty());
        pieces.extend(["account", "count", "Phone", &"z".repeat(90)].map(String::from));
        let filler = [
            "4111",
            " ",
            "\n",
            "x",
            "lorem ipsum ",
            "  ",
            "dolor sit amet, ",
        ];
        for _ in 0..6 {
            pieces.extend(filler.map(String::from));
        }
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let mut rnd = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut seen = [0; 2];
        for _ in 0..300 {
            let mut hay = String::new();
            for _ in 0..rnd(400) {
                hay.push_str(&pieces[rnd(pieces.len())]);
            }
            let hay = hay.as_bytes();
            let mut index = ContextWords::default();
            let mut q = 0;
            while q < hay.len() {
                let near = index.near(filter, hay, q);
                seen[near as usize] += 1;
                assert_eq!(
                    near,
                    near_by_search(filter, hay, q),
                    "at {q} of {:?}",
                    String::from_utf8_lossy(hay)
                );
                // candidates close together and far apart
                let far = rnd(4) == 0;
                q += 1 + rnd(if far { 3000 } else { 40 });
            }
        }
        assert!(seen[0] > 50 && seen[1] > 50, "{seen:?}");
    }
}
