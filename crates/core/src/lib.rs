//! Rampart's shared vocabulary.
//!
//! Every other crate speaks in these types: a [`Span`] of bytes, the [`DataClass`] of what was
//! found there, a [`Finding`] with its confidence, [`Severity`] and [`OwaspId`]s, and the
//! [`Action`]s and [`Decision`] that policy makes of findings. This crate does no IO and holds no
//! logic beyond small, total helpers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

use serde::{Deserialize, Serialize};

/// A half-open byte range `[start, end)` into the buffer that was scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First byte of the range.
    pub start: usize,
    /// One past the last byte of the range.
    pub end: usize,
}

impl Span {
    /// Builds a span; `start` must not exceed `end`.
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span start {start} after end {end}");
        Span { start, end }
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when the span covers no byte.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True when the two spans share at least one byte.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// True when `other` lies entirely inside this span.
    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The same span moved `by` bytes to the right.
    pub fn shift(&self, by: usize) -> Span {
        Span::new(self.start + by, self.end + by)
    }
}

/// The kind of sensitive data a finding is about. The names are stable: they appear in JSON
/// output, SARIF, policies and the store, spelled as in [`DataClass::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataClass {
    /// An e-mail address.
    EmailAddress,
    /// A telephone number (NANP, E.164 and common national formats).
    PhoneNumber,
    /// A United States social security number.
    UsSsn,
    /// A payment card number (Luhn-valid, known issuer range).
    CreditCard,
    /// An international bank account number (mod-97 valid).
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A US bank routing (ABA) number.
    UsBankRouting,
    /// A Canadian social insurance number.
    CaSin,
    /// A UK national insurance number.
    UkNino,
    /// A date of birth (needs context words).
    DateOfBirth,
    /// A passport number (needs context words).
    Passport,
    /// A driver's licence number (needs context words).
    DriverLicense,
    /// A secret: API key, token, private key, password, connection string. The finding's
    /// detector id names the kind of key.
    Secret,
    /// A prompt injection or jailbreak: in a user message (`prompt_injection`, `jailbreak`), in
    /// third-party content a model reads (`indirect_tool`, `indirect_document`, ...), or in
    /// content sent to embedding, fine-tuning, file and batch endpoints (`poisoned_content`).
    /// The score is the classifier's calibrated probability.
    PromptInjection,
    /// A response that reveals the system prompt: a canary token (`canary`) or a reproduction
    /// of the prompt's text (`system_prompt_echo`).
    SystemPromptLeak,
    /// Characters a reader does not see but a model reads: Unicode tag characters, zero-width
    /// and bidi controls, variation-selector runs, homoglyphs.
    HiddenText,
    /// Output a client renders that can act on its own: data-carrying markdown images, script
    /// and active HTML, links outside an allowlist.
    UnsafeOutput,
}

impl DataClass {
    /// Every class, in a fixed order (used for reports and reference docs).
    pub const ALL: [DataClass; 17] = [
        DataClass::EmailAddress,
        DataClass::PhoneNumber,
        DataClass::UsSsn,
        DataClass::CreditCard,
        DataClass::Iban,
        DataClass::IpAddress,
        DataClass::UsBankRouting,
        DataClass::CaSin,
        DataClass::UkNino,
        DataClass::DateOfBirth,
        DataClass::Passport,
        DataClass::DriverLicense,
        DataClass::Secret,
        DataClass::PromptInjection,
        DataClass::SystemPromptLeak,
        DataClass::HiddenText,
        DataClass::UnsafeOutput,
    ];

    /// The stable, documented name of the class (`US_SSN`, `SECRET`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DataClass::EmailAddress => "EMAIL_ADDRESS",
            DataClass::PhoneNumber => "PHONE_NUMBER",
            DataClass::UsSsn => "US_SSN",
            DataClass::CreditCard => "CREDIT_CARD",
            DataClass::Iban => "IBAN",
            DataClass::IpAddress => "IP_ADDRESS",
            DataClass::UsBankRouting => "US_BANK_ROUTING",
            DataClass::CaSin => "CA_SIN",
            DataClass::UkNino => "UK_NINO",
            DataClass::DateOfBirth => "DATE_OF_BIRTH",
            DataClass::Passport => "PASSPORT",
            DataClass::DriverLicense => "DRIVER_LICENSE",
            DataClass::Secret => "SECRET",
            DataClass::PromptInjection => "PROMPT_INJECTION",
            DataClass::SystemPromptLeak => "SYSTEM_PROMPT_LEAK",
            DataClass::HiddenText => "HIDDEN_TEXT",
            DataClass::UnsafeOutput => "UNSAFE_OUTPUT",
        }
    }

    /// Parses a stable class name, as written by [`DataClass::name`].
    pub fn from_name(name: &str) -> Option<DataClass> {
        DataClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// True for personal data; false for secrets and LLM threats.
    pub fn is_pii(self) -> bool {
        !matches!(self, DataClass::Secret) && !self.is_threat()
    }

    /// True for the LLM threat classes (injection, leakage, hidden text, unsafe output): they
    /// are about what a text does, not data it holds.
    pub fn is_threat(self) -> bool {
        matches!(
            self,
            DataClass::PromptInjection
                | DataClass::SystemPromptLeak
                | DataClass::HiddenText
                | DataClass::UnsafeOutput
        )
    }

    /// The OWASP Top 10 entries a disclosure of this class falls under.
    pub fn owasp(self) -> &'static [OwaspId] {
        match self {
            DataClass::Secret => &[OwaspId::LLM02_2025, OwaspId::API3_2023, OwaspId::K08_2025],
            DataClass::PromptInjection | DataClass::HiddenText => &[OwaspId::LLM01_2025],
            DataClass::SystemPromptLeak => &[OwaspId::LLM07_2025],
            DataClass::UnsafeOutput => &[OwaspId::LLM05_2025],
            _ => &[OwaspId::LLM02_2025, OwaspId::API3_2023],
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How bad a finding is, from informational to critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, no action expected.
    Info,
    /// Low risk.
    Low,
    /// Moderate risk: personal data.
    Medium,
    /// High risk: regulated personal data or service credentials.
    High,
    /// Critical: private keys and cloud credentials that grant broad access.
    Critical,
}

impl Severity {
    /// Lowercase name as used in output.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// An entry of one of the OWASP Top 10 lists Rampart maps its findings to: LLM Applications 2025,
/// API Security 2023 and Kubernetes 2025.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwaspId(&'static str);

#[allow(missing_docs)]
impl OwaspId {
    pub const LLM01_2025: OwaspId = OwaspId("LLM01:2025");
    pub const LLM02_2025: OwaspId = OwaspId("LLM02:2025");
    pub const LLM04_2025: OwaspId = OwaspId("LLM04:2025");
    pub const LLM05_2025: OwaspId = OwaspId("LLM05:2025");
    pub const LLM07_2025: OwaspId = OwaspId("LLM07:2025");
    pub const LLM10_2025: OwaspId = OwaspId("LLM10:2025");
    pub const API3_2023: OwaspId = OwaspId("API3:2023");
    pub const API4_2023: OwaspId = OwaspId("API4:2023");
    pub const API6_2023: OwaspId = OwaspId("API6:2023");
    pub const API9_2023: OwaspId = OwaspId("API9:2023");
    pub const K08_2025: OwaspId = OwaspId("K08:2025");
}

impl OwaspId {
    /// The id as written by OWASP, e.g. `LLM02:2025`.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for OwaspId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for OwaspId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// A keyed hash of a sensitive value: lets events and the store correlate the same value across
/// exchanges without ever holding it. 128 bits, printed as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueHash(pub [u8; 16]);

impl fmt::Display for ValueHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ValueHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueHash({self})")
    }
}

impl Serialize for ValueHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The encoding layer a finding was found in, outermost first in [`Finding::layers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// A gzip or zlib/deflate compressed body.
    Compressed,
    /// A JSON string value (escapes decoded).
    Json,
    /// Percent-encoding (URL query strings and forms).
    Url,
    /// A base64 blob that decoded to text.
    Base64,
}

/// One piece of sensitive data found in a buffer. Holds no raw value: only where it is, what it
/// is, how sure the detector is, and a keyed hash for correlation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of data it is.
    pub class: DataClass,
    /// The id of the detector that found it (names the key kind for secrets).
    pub detector: &'static str,
    /// Where it is, in bytes of the scanned buffer. For a value inside an encoded layer (a base64
    /// blob, a JSON escape), the span covers the encoded bytes that carry it.
    pub span: Span,
    /// Confidence in 0..=1.
    pub score: f32,
    /// How bad a disclosure would be.
    pub severity: Severity,
    /// OWASP Top 10 entries this finding maps to.
    pub owasp: &'static [OwaspId],
    /// Keyed hash of the decoded value.
    pub hash: ValueHash,
    /// Encoding layers the value was found under, outermost first; empty for plain text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
}

/// Which way an exchange's bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the caller toward the upstream.
    Request,
    /// From the upstream back to the caller.
    Response,
}

/// What policy says to do about a finding or a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it pass, record nothing special.
    Allow,
    /// Let it pass unchanged and record what would have happened.
    Monitor,
    /// Replace the sensitive parts and let the flow continue.
    Redact,
    /// Stop the flow.
    Block,
}

/// How a value is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `[REDACTED:US_SSN]`.
    Mask,
    /// Everything but the last four letters or digits masked with `*`, separators kept
    /// (`***-**-6789`); e-mail addresses keep the first letter and the domain.
    Partial,
    /// A keyed-hash token, the same for the same value under the same key:
    /// `[US_SSN:3f2a9c0d1e2b]`.
    Hash,
    /// A fake of the same shape that cannot be real: SSNs in the never-issued 9xx area,
    /// Luhn-valid cards and mod-97-valid IBANs with random digits, IPs in documentation ranges,
    /// e-mail at `example.invalid`, secrets with the same character classes.
    Fake,
    /// A reversible token (`<US_SSN_1>`) whose original stays in the per-exchange vault (`rampart_detect::Vault`), so
    /// a response can be restored for the caller.
    Tokenize,
    /// Nothing: the value is removed (hidden characters, unsafe markup). Homoglyphs are
    /// replaced by the letters they imitate.
    Remove,
}

impl Strategy {
    /// Parses a strategy name: `mask`, `partial`, `hash`, `fake`, `tokenize` or `remove`.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Some(match name {
            "mask" => Strategy::Mask,
            "partial" => Strategy::Partial,
            "hash" => Strategy::Hash,
            "fake" => Strategy::Fake,
            "tokenize" => Strategy::Tokenize,
            "remove" => Strategy::Remove,
            _ => return None,
        })
    }

    /// The strategy's name, as [`Strategy::from_name`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Mask => "mask",
            Strategy::Partial => "partial",
            Strategy::Hash => "hash",
            Strategy::Fake => "fake",
            Strategy::Tokenize => "tokenize",
            Strategy::Remove => "remove",
        }
    }

    /// Every strategy.
    pub const ALL: [Strategy; 6] = [
        Strategy::Mask,
        Strategy::Partial,
        Strategy::Hash,
        Strategy::Fake,
        Strategy::Tokenize,
        Strategy::Remove,
    ];
}

/// The one decision made for an exchange.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The strongest action taken.
    pub action: Action,
    /// A short, stable, machine-readable reason code (`rampart_blocked`, `pii_redacted`, ...).
    pub reason: &'static str,
    /// The findings that led to the decision.
    pub findings: Vec<Finding>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip() {
        for class in DataClass::ALL {
            assert_eq!(DataClass::from_name(class.name()), Some(class));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.name()));
        }
        assert_eq!(DataClass::from_name("NOPE"), None);
    }

    #[test]
    fn span_overlap_and_containment() {
        let a = Span::new(2, 6);
        assert!(a.overlaps(&Span::new(5, 9)));
        assert!(!a.overlaps(&Span::new(6, 9)));
        assert!(a.contains(&Span::new(3, 6)));
        assert!(!a.contains(&Span::new(1, 3)));
        assert_eq!(a.shift(10), Span::new(12, 16));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn hash_prints_as_hex() {
        let h = ValueHash([0xab; 16]);
        assert_eq!(h.to_string(), "ab".repeat(16));
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            format!("\"{}\"", "ab".repeat(16))
        );
    }
}
