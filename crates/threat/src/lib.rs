//! Rampart's LLM threat detectors (OWASP LLM Top 10 2025), pure and synchronous:
//!
//! - [`Classifier`]: prompt injection and jailbreaks (LLM01), a linear model over hashed word and
//!   character n-grams of normalized text plus [`signals`], trained by `train/` on public data
//!   and embedded in the binary. Gives a calibrated score and the evidence.
//! - [`Classifier::document`]: indirect injection in third-party content (tool results,
//!   retrieved documents, files), scored segment by segment with its own model.
//! - [`hidden`]: invisible Unicode (tag characters, zero-width, bidi controls) and homoglyphs
//!   (LLM01), found and stripped.
//! - [`output`]: improper output handling (LLM05): markdown-image and link exfiltration, script
//!   and HTML injection, links outside an allowlist.
//! - [`canary`]: system-prompt leakage (LLM07): canary tokens and reproduction of the system
//!   prompt in responses.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canary;
pub mod dataset;
pub mod eval;
pub mod features;
pub mod hidden;
pub mod inspect;
pub mod model;
pub mod normalize;
pub mod output;
pub mod signals;

use std::cell::RefCell;
use std::sync::OnceLock;

use features::{DENSE, Feature};
use model::Model;
use normalize::Normalized;
pub use signals::{Evidence, Signal};

/// The shipped direct-injection model.
const INJECTION_MODEL: &[u8] = include_bytes!("../model/injection.bin");
/// The shipped indirect-injection model.
const INDIRECT_MODEL: &[u8] = include_bytes!("../model/indirect.bin");

/// Longest text read whole by one assessment; a longer prompt is read in its first and its last
/// `MAX_TEXT / 2` bytes (injections sit at the start or the end of long prompts; the middle is
/// not read).
pub const MAX_TEXT: usize = 64 * 1024;

/// Segments shorter than this (normalized bytes) are scored only together with a neighbour.
const MIN_SEGMENT: usize = 24;

/// A classifier's verdict on one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Calibrated probability that the text is an injection or jailbreak, 0..1.
    pub score: f32,
    /// The structural signals that fired, with spans in the text.
    pub evidence: Vec<Evidence>,
    /// Byte range of the text the score is about (the whole text, a document segment, or an
    /// encoded blob whose decoded content scored highest).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Whether the score came from decoded content (a base64 blob, hidden tag characters).
    pub decoded: bool,
}

impl Assessment {
    /// Whether any persona or role-play signal fired: the finding is reported as a jailbreak.
    pub fn is_jailbreak(&self) -> bool {
        self.evidence
            .iter()
            .any(|e| matches!(e.signal, Signal::Persona | Signal::PolicyEvasion))
    }

    /// Names of the signals that fired, each once, in a fixed order.
    pub fn signal_names(&self) -> Vec<&'static str> {
        let mut v: Vec<Signal> = self.evidence.iter().map(|e| e.signal).collect();
        v.sort();
        v.dedup();
        v.into_iter().map(Signal::name).collect()
    }
}

/// A trained classifier.
#[derive(Debug)]
pub struct Classifier {
    model: Model,
    /// Content mode: a segment scores above [`UNADDRESSED_CAP`] only when a structural signal
    /// says it addresses the reader (see [`Classifier::addressed_only`]).
    addressed_only: bool,
}

/// The highest score a segment of third-party content gets when no signal shows an instruction
/// addressed to the reader (an override, a fake delimiter, a note to the AI, a request to send
/// data out, a prompt-leak or policy-evasion request, a persona, an encoded or hidden payload).
/// The n-gram model alone reads imperative prose of every kind (man pages, licences, code
/// documentation) as instructions; on its own it cannot tell who they are addressed to.
pub const UNADDRESSED_CAP: f32 = 0.5;

/// Whether the evidence of a segment shows an instruction addressed to the reader. Leetspeak
/// and token-soup suffixes are not such signs in content (identifiers and code read as both).
///
/// In content the signals also fire on prose written for people ("act as if", "reached end of
/// input", "repeat the above step", "does not follow the rules"), so a signal counts only when
/// the segment speaks to its reader (`you`, `your`, or a model by name: see
/// [`speaks_to_reader`]), except an override of instructions, prompts, rules or guidelines
/// and a request that addresses a model, which count alone.
fn addressed(parts: &[(&[Evidence], &str)], whole: &str) -> bool {
    let strong = parts.iter().any(|(evidence, text)| {
        evidence.iter().any(|e| match e.signal {
            Signal::AddressesModel => true,
            Signal::Override => text.get(e.start..e.end).is_some_and(overrides_instructions),
            _ => false,
        })
    });
    if strong {
        return true;
    }
    parts.iter().any(|(evidence, _)| any_sign(evidence)) && speaks_to_reader(whole)
}

/// The direct model's score at or above which a piece of content that speaks to its reader
/// counts as addressed to a model without a structural signal: a whole jailbreak planted in a
/// document ("Hello, I know you are BOM, which means Boolean Opposite Machine…") reads as one to
/// the model trained on jailbreaks, while documentation that says "you" almost never scores this
/// high there (docs/ACCURACY.md, indirect injection).
pub const SECOND_OPINION: f32 = 0.99;

/// The shortest line the direct model gives a second opinion on: jailbreaks that carry no
/// structural signal are long set-ups (a persona, a game, a story, mostly well over 500 bytes),
/// and shorter lines that say "you" are most of the documentation it would read otherwise
/// (lines from 160 bytes caught no more planted attacks on the dev split and cost the JSON scan
/// a fifth of its speed).
const SECOND_OPINION_MIN: usize = 500;

/// The direct model's score of `text`, with its evidence, when it speaks to its reader and
/// reaches [`SECOND_OPINION`].
fn second_opinion(text: &str) -> Option<(f32, Vec<Evidence>)> {
    if text.len() < SECOND_OPINION_MIN || !speaks_to_reader(text) {
        return None;
    }
    let direct = Classifier::injection();
    let (logit, evidence) = direct.logit(text);
    let p = direct.model.calibrate(logit, !evidence.is_empty());
    (p >= SECOND_OPINION).then_some((p, evidence))
}

/// Whether any signal that may make content addressed fired (a superset of [`addressed`], for
/// the prefilter).
fn any_sign(evidence: &[Evidence]) -> bool {
    evidence
        .iter()
        .any(|e| !matches!(e.signal, Signal::Leetspeak | Signal::AdversarialSuffix))
}

/// Whether an override's words name what a model is given (instructions, a prompt, rules,
/// guidelines, directions), not commands or files.
fn overrides_instructions(matched: &str) -> bool {
    static RE: OnceLock<regex_automata::meta::Regex> = OnceLock::new();
    compiled(&RE, || {
        r"(?i-u)\b(instructions?|prompts?|rules|guidelines|directions|directives|orders|programming|context)\b".into()
    })
    .is_match(matched)
}

/// The regex in `cell`, compiled from `pattern()` on first use (the patterns are constants: a
/// failure to compile is a bug caught by every test that reads content).
fn compiled(
    cell: &'static OnceLock<regex_automata::meta::Regex>,
    pattern: impl FnOnce() -> String,
) -> &'static regex_automata::meta::Regex {
    cell.get_or_init(|| {
        regex_automata::meta::Regex::new(&pattern()).expect("a constant content pattern compiles")
    })
}

/// Whether a text speaks to its reader: second person, or a model named as the one addressed.
fn speaks_to_reader(text: &str) -> bool {
    static RE: OnceLock<regex_automata::meta::Regex> = OnceLock::new();
    compiled(&RE, || {
        r"(?i-u)\b(you|your|yours|yourself|u r|ai|a\.i\.|assistant|chat\s?bot|bot|language\s+model|llm|gpt[\w.-]*|chatgpt|claude|gemini|copilot|model)\b".into()
    })
    .is_match(text)
}

/// Phrasings that address an AI model, beyond the signals the models read as features: a
/// greeting to a model by name, a model persona ("You are FooGPT"), rules for every reply,
/// role-play set-ups, the model's own hidden instructions, overrides of earlier input, talk of
/// a provider's content policy. Content-only: the direct classifier's features are unchanged.
/// A person writing to a person ("in your reply, include the invoice number") matches none.
fn addresses_a_model(text: &str) -> bool {
    static RE: OnceLock<regex_automata::meta::Regex> = OnceLock::new();
    compiled(&RE, || {
        let models = r"(chat\s?gpt|gpt[\s-]?[0-9o.]*|claude|gemini|bard|copilot|llama|mistral|ai|a\.i\.|assistant|chatbot|bot|language\s+model|llm)";
        signals::ascii(&format!(concat!(
            r"(?i-u)\b(hi|hello|hey|dear|greetings|listen)[\s,]+{m}\b",
            r"|\b(you\s+are|you're|your\s+name\s+is)\s+(now\s+)?(an?\s+|called\s+)?[a-z0-9_^-]*(gpt|bot|ai)\b",
            r"|\b(respond|reply|answer)\s+(to\s+)?(every|each|all|any)\s+(of\s+)?(my\s+|the\s+)?(prompts?|messages?|questions?|requests?|inputs?)\b",
            r"|\b(start|begin|end|prefix|preface)\s+(each\s+|every\s+|all\s+)?(of\s+)?your\s+(answers?|repl(y|ies)|responses?|outputs?)\s+with\b",
            r"|\b(take\s+(up|on)\s+the\s+(role|persona)|simulate\s+a\s+conversation\s+between|let'?s\s+play\s+a\s+game|play\s+(2|two)\s+characters|act\s+(as|like)\s+an?\s+(text[\s-]based\s+game|{m})|never\s+refuse|do\s+not\s+refuse|don'?t\s+refuse|i\s+want\s+you\s+to\s+act)\b",
            r"|\byour\s+(system\s+prompt|initial\s+(prompt|instructions)|hidden\s+instructions|original\s+instructions|pre-?prompt|instructions\s+verbatim)\b",
            r"|\b(ignore|disregard|forget)\s+(all\s+)?(of\s+)?(the\s+)?(previous|prior|above|earlier)\s+(inputs?|texts?|content|messages?|conversation)\b",
            r"|\b(openai|anthropic|google)'?s?\s+(content\s+|usage\s+)?(polic(y|ies)|guidelines)\b",
        ), m = models))
    })
    .is_match(text)
}

thread_local! {
    static SCRATCH: RefCell<Normalized> = RefCell::new(Normalized::default());
}

impl Classifier {
    /// Wraps a model.
    pub fn new(model: Model) -> Classifier {
        Classifier {
            model,
            addressed_only: false,
        }
    }

    /// The same classifier in content mode: [`Classifier::document`] caps the score of a
    /// segment no structural signal marks as addressed to the reader at [`UNADDRESSED_CAP`].
    pub fn addressed_only(mut self) -> Classifier {
        self.addressed_only = true;
        self
    }

    /// A segment's score from its logit, evidence and text, in this classifier's mode.
    fn segment_score(&self, logit: f32, parts: &[(&[Evidence], &str)], text: &str) -> f32 {
        let signal = parts.iter().any(|(ev, _)| !ev.is_empty());
        let p = self.model.calibrate(logit, signal);
        if self.addressed_only && !addressed(parts, text) && !addresses_a_model(text) {
            p.min(UNADDRESSED_CAP)
        } else {
            p
        }
    }

    /// The shipped direct prompt-injection and jailbreak classifier.
    pub fn injection() -> &'static Classifier {
        static C: OnceLock<Classifier> = OnceLock::new();
        C.get_or_init(|| {
            Classifier::new(Model::read(INJECTION_MODEL).expect("the shipped injection model"))
        })
    }

    /// The shipped indirect-injection classifier (instructions inside third-party content).
    pub fn indirect() -> &'static Classifier {
        static C: OnceLock<Classifier> = OnceLock::new();
        C.get_or_init(|| {
            Classifier::new(Model::read(INDIRECT_MODEL).expect("the shipped indirect model"))
                .addressed_only()
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The recommended threshold: the calibrated score at which the false-positive rate on the
    /// development split was at most 0.5% (direct injection) or 2% (indirect injection).
    pub fn threshold(&self) -> f32 {
        self.model.header.threshold
    }

    /// The raw score of one text (no decoding of blobs), with its evidence.
    pub fn logit(&self, text: &str) -> (f32, Vec<Evidence>) {
        let (sum, n, dense, _, evidence) = self.parts(text);
        (self.model.combine(sum, n, &dense), evidence)
    }

    /// Assesses a prompt: the whole text, every base64 blob in it that decodes to text, and the
    /// ASCII hidden in Unicode tag characters. The highest score wins. A prompt longer than
    /// [`MAX_TEXT`] is assessed in its head and its tail.
    pub fn assess(&self, text: &str) -> Assessment {
        if text.len() > MAX_TEXT {
            let mut head_end = MAX_TEXT / 2;
            while !text.is_char_boundary(head_end) {
                head_end -= 1;
            }
            let mut tail_start = text.len() - MAX_TEXT / 2;
            while !text.is_char_boundary(tail_start) {
                tail_start += 1;
            }
            let head = self.assess(&text[..head_end]);
            let mut tail = self.assess(&text[tail_start..]);
            if head.score >= tail.score {
                return head;
            }
            tail.start += tail_start;
            tail.end += tail_start;
            for e in &mut tail.evidence {
                e.start += tail_start;
                e.end += tail_start;
            }
            return tail;
        }
        let (logit, evidence) = self.logit(text);
        // blobs are decoded only where the signals saw one
        let blobs = evidence.iter().any(|e| e.signal == Signal::Encoded);
        let mut best = Assessment {
            score: self.model.calibrate(logit, !evidence.is_empty()),
            evidence,
            start: 0,
            end: text.len(),
            decoded: false,
        };
        if blobs {
            self.score_blobs(text, &mut best);
        }
        if let Some((s, e, hidden)) = hidden::tag_payload(text) {
            let (l, _) = self.logit(&hidden);
            // instructions smuggled in invisible characters are hostile whatever they say
            let score = self.model.calibrate(l, true).max(0.99);
            if score > best.score {
                best.score = score;
                best.start = s;
                best.end = e;
                best.decoded = true;
            }
        }
        best
    }

    /// Scores what the base64 blobs of `text` decode to; the best of them replaces `best` when
    /// it scores higher.
    fn score_blobs(&self, text: &str, best: &mut Assessment) {
        for (s, e, decoded) in signals::decoded_blobs(text, 4) {
            let (l, ev) = self.logit(&decoded);
            let score = self.model.calibrate(l, !ev.is_empty());
            if score > best.score {
                best.score = score;
                best.start = s;
                best.end = e;
                best.decoded = true;
            }
        }
    }

    /// One text's parts of a score: hashed-weight sum, n-gram count, dense values, normalized
    /// length and evidence.
    fn parts(&self, text: &str) -> (f32, usize, [f32; DENSE], usize, Vec<Evidence>) {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let norm = &mut *s;
            let text = clip(text);
            normalize::normalize(text, norm);
            let (sum, n) = self.model.sum_text(&norm.text);
            let mut dense = [0f32; DENSE];
            let evidence = signals::detect(text, norm, &mut dense);
            (sum, n, dense, norm.text.len(), evidence)
        })
    }

    /// Whether some segment of `text` could score above [`UNADDRESSED_CAP`] in content mode: a
    /// structural signal that counts as addressing the reader, a model-addressing phrasing,
    /// words that speak to the reader (the direct model's [`SECOND_OPINION`]), or hidden tag
    /// characters anywhere in it. Reads the text once (normalized, in overlapping
    /// windows that hold any segment pair), without the n-gram model: when it says no,
    /// [`Classifier::document`] cannot score above the cap, so a caller that only wants scores
    /// above it can skip the document.
    pub fn may_address(&self, text: &str) -> bool {
        self.may_address_by_signal(text) || self.second_opinion_lines(text).is_some()
    }

    /// The best of the direct model's second opinions on the lines of `text` (see
    /// [`SECOND_OPINION`]): its score, the line's span and the evidence (offsets in `text`).
    fn second_opinion_lines(&self, text: &str) -> Option<(f32, usize, usize, Vec<Evidence>)> {
        if !self.addressed_only {
            return None;
        }
        let mut best: Option<(f32, usize, usize, Vec<Evidence>)> = None;
        let mut start = 0;
        for line in text.split('\n') {
            let (ls, le) = (start, start + line.len());
            start = le + 1;
            if line.len() > MAX_TEXT {
                continue;
            }
            if let Some((p, mut evidence)) = second_opinion(line)
                && best.as_ref().is_none_or(|b| p > b.0)
            {
                evidence.iter_mut().for_each(|e| {
                    e.start += ls;
                    e.end += ls;
                });
                best = Some((p, ls, le, evidence));
            }
        }
        best
    }

    /// [`Classifier::may_address`] without the direct model's second opinion.
    fn may_address_by_signal(&self, text: &str) -> bool {
        if hidden::tag_payload(text).is_some() || addresses_a_model(text) {
            return true;
        }
        const OVERLAP: usize = 4096;
        let mut start = 0;
        loop {
            let mut end = (start + MAX_TEXT).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let window = &text[start..end];
            let found = SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let norm = &mut *s;
                normalize::normalize(window, norm);
                let mut dense = [0f32; DENSE];
                any_sign(&signals::detect(window, norm, &mut dense))
            });
            if found {
                return true;
            }
            if end >= text.len() {
                return false;
            }
            let mut next = end.saturating_sub(OVERLAP).max(start + 1);
            while !text.is_char_boundary(next) {
                next += 1;
            }
            start = next;
        }
    }

    /// Assesses third-party content segment by segment (sentences and lines, alone and in
    /// adjacent pairs): the highest-scoring segment and its span. Each segment is read once; a
    /// pair's score adds its segments' parts.
    pub fn document(&self, text: &str) -> Assessment {
        let segs = segments(text);
        let parts: Vec<_> = segs.iter().map(|&(s, e)| self.parts(&text[s..e])).collect();
        // ranked by score, then by logit: calibrated scores saturate, and of two segments that
        // both read as 1.0 the one with the stronger evidence (a single line rather than the
        // pair it is part of) is the one to report
        let mut best: Option<((f32, f32), usize, usize)> = None;
        let better = |x: (f32, f32), b: &Option<((f32, f32), usize, usize)>| {
            b.is_none_or(|b| x.0 > b.0.0 || (x.0 == b.0.0 && x.1 > b.0.1))
        };
        for k in 0..segs.len() {
            let (sum, n, dense, len, ev) = &parts[k];
            // a fragment (a heading, a table cell) is read only with its neighbour
            let logit = self.model.combine(*sum, *n, dense);
            let seg = &text[segs[k].0..segs[k].1];
            let one = (self.segment_score(logit, &[(ev, seg)], seg), logit);
            if (*len >= MIN_SEGMENT || segs.len() == 1) && better(one, &best) {
                best = Some((one, k, k));
            }
            if let Some((sum2, n2, dense2, len2, ev2)) = parts.get(k + 1) {
                let d = signals::union(dense, dense2, len + len2 + 1);
                let logit = self.model.combine(sum + sum2, n + n2, &d);
                let next = &text[segs[k + 1].0..segs[k + 1].1];
                let two = (
                    self.segment_score(
                        logit,
                        &[(ev, seg), (ev2, next)],
                        &text[segs[k].0..segs[k + 1].1],
                    ),
                    logit,
                );
                if better(two, &best) {
                    best = Some((two, k, k + 1));
                }
            }
        }
        let best = best.map(|((score, _), a, b)| {
            let (s, e) = (segs[a].0, segs[b].1);
            let evidence = (a..=b)
                .flat_map(|k| {
                    let off = segs[k].0;
                    parts[k].4.iter().cloned().map(move |mut ev| {
                        ev.start += off;
                        ev.end += off;
                        ev
                    })
                })
                .collect();
            Assessment {
                score,
                evidence,
                start: s,
                end: e,
                decoded: false,
            }
        });
        let mut best = best.unwrap_or(Assessment {
            score: 0.0,
            evidence: Vec::new(),
            start: 0,
            end: 0,
            decoded: false,
        });
        // a long line that speaks to its reader is read whole by the direct model too: the
        // segments of a long jailbreak are each too short to read as one
        if best.score < SECOND_OPINION
            && let Some((p, ls, le, evidence)) = self.second_opinion_lines(text)
            && p > best.score
        {
            best = Assessment {
                score: p,
                evidence,
                start: ls,
                end: le,
                decoded: false,
            };
        }
        let blobs = parts
            .iter()
            .any(|p| p.4.iter().any(|e| e.signal == Signal::Encoded));
        if blobs {
            self.score_blobs(text, &mut best);
        }
        if let Some((s, e, _)) = hidden::tag_payload(text)
            && best.score < 0.99
        {
            best.score = 0.99;
            best.start = s;
            best.end = e;
            best.decoded = true;
        }
        best
    }
}

/// The features the models read for a text: hashed n-grams of its normalized form (`2^bits`
/// buckets) and the dense signal values. Training calls this; inference does the same inside
/// [`Classifier::logit`].
pub fn featurize(text: &str, bits: u32) -> (Vec<Feature>, [f32; DENSE]) {
    let mut norm = Normalized::default();
    let mut feats = Vec::new();
    let text = clip(text);
    normalize::normalize(text, &mut norm);
    features::extract(&norm.text, bits, &mut feats);
    let mut dense = [0f32; DENSE];
    signals::detect(text, &norm, &mut dense);
    (feats, dense)
}

/// The first `MAX_TEXT` bytes of a text, cut at a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut at = MAX_TEXT;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

/// Splits content into segments: lines, and sentences within long lines; each at most about
/// 600 bytes. Returns byte ranges of `text` without surrounding space.
pub fn segments(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut start = 0;
    let push = |out: &mut Vec<(usize, usize)>, s: usize, e: usize| {
        let mut s = s;
        let mut e = e;
        while s < e && b[s].is_ascii_whitespace() {
            s += 1;
        }
        while e > s && b[e - 1].is_ascii_whitespace() {
            e -= 1;
        }
        if e > s {
            out.push((s, e));
        }
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let end_here = c == b'\n'
            || c == b'|'
            || (matches!(c, b'.' | b'!' | b'?')
                && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())
                && i - start >= 20)
            || (i - start >= 600 && c == b' ');
        if end_here {
            push(&mut out, start, i + 1);
            start = i + 1;
        }
        i += 1;
    }
    push(&mut out, start, b.len());
    // a document of more segments is read in its first ones (about 10 MB of text)
    if out.len() > 16384 {
        out.truncate(16384);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_lines_and_sentences() {
        let s = "Hello there, how are you doing.  Fine thanks, and you?\nLine two|cell";
        let segs: Vec<&str> = segments(s).into_iter().map(|(a, b)| &s[a..b]).collect();
        assert_eq!(
            segs,
            [
                "Hello there, how are you doing.",
                "Fine thanks, and you?",
                "Line two|",
                "cell"
            ]
        );
    }
}
