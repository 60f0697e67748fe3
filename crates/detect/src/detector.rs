//! The registry item: one small, self-describing detector.
//!
//! A detector carries everything about itself in one place: its stable id, the class of data it
//! finds, its docs, one regular expression, a validator that runs only on hits, context words,
//! a base confidence, a severity, and positive and negative examples that the test suite runs and
//! the reference docs print. Detectors are `const` values listed once in a static registry
//! ([`crate::detectors::all`]).

use rampart_core::{DataClass, Severity};

/// A validator: given the sensitive value (the `v` group, or the whole match), says whether it
/// really is what the pattern suggests (a checksum holds, a range is possible, it is no
/// placeholder).
pub type Validator = fn(&[u8]) -> bool;

/// A check of the text around a validated hit: given at most
/// [`SURROUNDINGS_BEFORE`](crate::scanner::SURROUNDINGS_BEFORE) bytes before the value, the value, and at
/// most [`CONTEXT_AFTER`](crate::scanner::CONTEXT_AFTER) bytes after it, says whether the hit
/// stands (a dotted quad right after `python ` or before `-beta` is a version, not an address).
/// A stream keeps at least this window of released text, so it decides exactly as a whole buffer.
pub type Surroundings = fn(before: &[u8], value: &[u8], after: &[u8]) -> bool;

/// Words near a hit that make it more (or less) likely to be real.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// Words that raise confidence when they appear near the hit (ASCII, matched
    /// case-insensitively on word boundaries; `_` and `-` count as boundaries).
    pub words: &'static [&'static str],
    /// When true, a hit with none of `words` nearby is dropped.
    pub required: bool,
    /// Words that lower confidence when they appear near the hit.
    pub against: &'static [&'static str],
}

/// Where the scanner looks for a detector's matches. Gates let the scanner skip text that
/// cannot hold a match instead of running every pattern over every byte; a property test checks
/// that gated scanning reports exactly what an ungated scan of the same patterns reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every match starts with one of the pattern's literal prefixes (derived from the pattern;
    /// case-insensitive prefixes are matched case-insensitively). The default.
    Prefix,
    /// Every match starts at a word start or a `+`/`(` at most [`crate::scanner::DIGIT_LOOKBACK`]
    /// bytes before the first digit of a run of digits.
    Digit,
    /// Every match contains a colon between two hex digits or colons, at most four bytes after
    /// its start (IPv6).
    HexColon,
    /// Every match contains `literal` (case-sensitive) starting at most `within` bytes after the
    /// match start: for formats whose fixed part is inside (`.atlasv1.`, a `NRAL` suffix).
    Inner {
        /// The fixed part.
        literal: &'static str,
        /// Its largest offset from the match start.
        within: u16,
    },
    /// As [`Gate::Digit`], and only where one of the detector's context words is near (it must
    /// require context). For broad patterns (any nine digits) that count only with a word such
    /// as `routing` or `passport` near.
    Context,
    /// No gate: the pattern is scanned over all text (one more automaton pass; use only for
    /// patterns the regex engine accelerates itself, such as the `@` of e-mail addresses).
    Scan,
}

/// One detector of the registry. Build it with the `const` constructors and setters, e.g.
/// `Detector::secret("openai_api_key", "OpenAI API key", PATTERN).validate(f).examples(P, N)`.
#[derive(Clone, Copy, Debug)]
pub struct Detector {
    /// Stable id, `snake_case`; for secrets it names the key kind (`aws_access_key_id`).
    pub id: &'static str,
    /// The class of data found.
    pub class: DataClass,
    /// Human title for reports.
    pub title: &'static str,
    /// What it finds and how it decides; printed in docs/DETECTORS.md.
    pub docs: &'static str,
    /// One regular expression over bytes (Unicode off: `\d` is `[0-9]`, `\w` is ASCII, `\b` is
    /// an ASCII word boundary). It must not match the empty string and must have a bounded
    /// maximum length. A capture group named `v` marks the sensitive value inside the match;
    /// without one, the whole match is the value.
    pub pattern: &'static str,
    /// Where the scanner looks for matches.
    pub gate: Gate,
    /// Runs on each hit's value; `None` accepts every hit.
    pub validator: Option<Validator>,
    /// Runs on each validated hit with the text around it; `None` accepts every hit.
    pub surroundings: Option<Surroundings>,
    /// Minimum Shannon entropy of the value in bits per byte (0 disables the check).
    pub min_entropy: f32,
    /// Context words.
    pub context: Context,
    /// Confidence of a validated hit without context, in 0..=1.
    pub score: f32,
    /// Severity of a disclosure.
    pub severity: Severity,
    /// A fallback that names what it finds only when nothing more precise does: when its value
    /// passes this check (it is in a format some other detector knows: a vendor prefix, a key
    /// shape) and is also a hit of a detector listed before it (a vendor key inside a generic
    /// `API_KEY=` assignment), that detector's hit is reported instead. The check keeps the
    /// search for a more precise detector off the values no other detector could name.
    pub fallback: Option<Validator>,
    /// Found only by the streaming scanner, and there only outside markdown code: for markup
    /// that is harmless as text and dangerous when a client renders it (a `<script>` tag, a
    /// `javascript:` link). Whole answers get the output inspection of `rampart-threat`, which
    /// reads code blocks the same way; whole-buffer scans (requests, files) skip it.
    pub stream_only: bool,
    /// Inputs in which this detector must report a finding.
    pub positives: &'static [&'static str],
    /// Inputs in which this detector must report nothing.
    pub negatives: &'static [&'static str],
}

const NO_CONTEXT: Context = Context {
    words: &[],
    required: false,
    against: &[],
};

impl Detector {
    /// A detector of personal data of `class`, medium severity, base score 0.8.
    pub const fn pii(
        id: &'static str,
        class: DataClass,
        title: &'static str,
        pattern: &'static str,
    ) -> Detector {
        Detector::base(id, class, title, pattern, 0.8, Severity::Medium)
    }

    /// A detector of a secret (class `SECRET`), high severity, base score 0.9.
    pub const fn secret(id: &'static str, title: &'static str, pattern: &'static str) -> Detector {
        Detector::base(id, DataClass::Secret, title, pattern, 0.9, Severity::High)
    }

    /// A detector of any class with its base score and severity.
    pub const fn base(
        id: &'static str,
        class: DataClass,
        title: &'static str,
        pattern: &'static str,
        score: f32,
        severity: Severity,
    ) -> Detector {
        Detector {
            id,
            class,
            title,
            docs: "",
            pattern,
            gate: Gate::Prefix,
            validator: None,
            surroundings: None,
            fallback: None,
            min_entropy: 0.0,
            context: NO_CONTEXT,
            score,
            severity,
            stream_only: false,
            positives: &[],
            negatives: &[],
        }
    }

    /// Sets the gate.
    pub const fn gate(mut self, gate: Gate) -> Detector {
        self.gate = gate;
        self
    }

    /// Sets the docs.
    pub const fn docs(mut self, docs: &'static str) -> Detector {
        self.docs = docs;
        self
    }

    /// Sets the validator.
    pub const fn validate(mut self, validator: Validator) -> Detector {
        self.validator = Some(validator);
        self
    }

    /// Sets the check of the text around a hit.
    pub const fn surroundings(mut self, check: Surroundings) -> Detector {
        self.surroundings = Some(check);
        self
    }

    /// Marks the detector as a fallback for values that pass `known` (see
    /// [`Detector::fallback`]).
    pub const fn fallback(mut self, known: Validator) -> Detector {
        self.fallback = Some(known);
        self
    }

    /// Sets the minimum entropy of the value, in bits per byte.
    pub const fn entropy(mut self, bits: f32) -> Detector {
        self.min_entropy = bits;
        self
    }

    /// Sets the words that raise confidence.
    pub const fn context(mut self, words: &'static [&'static str]) -> Detector {
        self.context.words = words;
        self
    }

    /// Makes the context words required: a hit without one nearby is dropped.
    pub const fn require_context(mut self) -> Detector {
        self.context.required = true;
        self
    }

    /// Sets the words that lower confidence.
    pub const fn against(mut self, words: &'static [&'static str]) -> Detector {
        self.context.against = words;
        self
    }

    /// Sets the base score of a validated hit.
    pub const fn score(mut self, score: f32) -> Detector {
        self.score = score;
        self
    }

    /// Sets the severity.
    pub const fn severity(mut self, severity: Severity) -> Detector {
        self.severity = severity;
        self
    }

    /// Makes the detector stream-only (see [`Detector::stream_only`]).
    pub const fn stream_only(mut self) -> Detector {
        self.stream_only = true;
        self
    }

    /// Sets the positive and negative examples.
    pub const fn examples(
        mut self,
        positives: &'static [&'static str],
        negatives: &'static [&'static str],
    ) -> Detector {
        self.positives = positives;
        self.negatives = negatives;
        self
    }
}
