//! Redaction: what replaces a sensitive value.
//!
//! Every replacement is ASCII without quotes or backslashes, so it is safe inside a JSON string,
//! a header value, a query string or an SSE `data:` line.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use rampart_core::DataClass;
pub use rampart_core::Strategy;

use crate::hash::HashKey;

/// The per-exchange store of tokenized values. Dropped with the exchange; never persisted.
#[derive(Default)]
pub struct Vault {
    tokens: Vec<(String, Vec<u8>)>,
    by_value: HashMap<(DataClass, Vec<u8>), usize>,
    counts: HashMap<DataClass, u32>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({} tokens)", self.tokens.len())
    }
}

impl Vault {
    /// The token for `value`, the same token for the same value within the exchange.
    fn token(&mut self, class: DataClass, value: &[u8]) -> &str {
        let key = (class, value.to_vec());
        let idx = match self.by_value.get(&key) {
            Some(&idx) => idx,
            None => {
                let n = self.counts.entry(class).or_insert(0);
                *n += 1;
                self.tokens
                    .push((format!("<{}_{}>", class.name(), n), value.to_vec()));
                self.by_value.insert(key, self.tokens.len() - 1);
                self.tokens.len() - 1
            }
        };
        &self.tokens[idx].0
    }

    /// Number of tokens handed out.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when no value was tokenized.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Writes `text` with every token of this vault replaced by its original value.
    pub fn restore(&self, text: &[u8], out: &mut Vec<u8>) {
        if self.tokens.is_empty() {
            out.extend_from_slice(text);
            return;
        }
        let ac = AhoCorasick::new(self.tokens.iter().map(|(t, _)| t.as_bytes()))
            .expect("vault tokens compile");
        let mut cursor = 0;
        for m in ac.find_iter(text) {
            out.extend_from_slice(&text[cursor..m.start()]);
            out.extend_from_slice(&self.tokens[m.pattern().as_usize()].1);
            cursor = m.end();
        }
        out.extend_from_slice(&text[cursor..]);
    }
}

/// Writes replacements: a strategy (per class where set), the hash key, and the vault of the
/// exchange.
pub struct Redactor {
    strategy: Strategy,
    per_class: HashMap<DataClass, Strategy>,
    kept: Vec<DataClass>,
    choose: Option<Chooser>,
    key: HashKey,
    vault: Vault,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("strategy", &self.strategy)
            .field("per_class", &self.per_class)
            .field("kept", &self.kept)
            .field("choose", &self.choose.is_some())
            .field("vault", &self.vault.len())
            .finish()
    }
}

/// Decides per finding (class, detector, score) how to replace a value, or `None` to keep it:
/// how a policy drives redaction.
pub type Chooser = std::sync::Arc<dyn Fn(DataClass, &str, f32) -> Option<Strategy> + Send + Sync>;

impl Redactor {
    /// A redactor using `strategy` for every class.
    pub fn new(strategy: Strategy, key: HashKey) -> Redactor {
        Redactor {
            strategy,
            per_class: HashMap::new(),
            kept: Vec::new(),
            choose: None,
            key,
            vault: Vault::default(),
        }
    }

    /// Uses `strategy` for `class` instead of the default.
    pub fn with_class(mut self, class: DataClass, strategy: Strategy) -> Redactor {
        self.per_class.insert(class, strategy);
        self
    }

    /// Leaves values of `class` as they are (policy allows them): the redactor writes them
    /// back unchanged.
    pub fn keep(mut self, class: DataClass) -> Redactor {
        if !self.kept.contains(&class) {
            self.kept.push(class);
        }
        self
    }

    /// Lets `choose` decide for every value (it replaces the strategy, per-class strategies and
    /// kept classes): `None` keeps the value, `Some(strategy)` replaces it.
    pub fn choosing(mut self, choose: Chooser) -> Redactor {
        self.choose = Some(choose);
        self
    }

    /// The vault of tokenized values.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// How a finding of `class` by `detector` with confidence `score` is replaced; `None`: it is
    /// kept as it stands.
    pub fn strategy(&self, class: DataClass, detector: &str, score: f32) -> Option<Strategy> {
        match &self.choose {
            Some(choose) => choose(class, detector, score),
            None if self.kept.contains(&class) => None,
            None => Some(self.per_class.get(&class).copied().unwrap_or(self.strategy)),
        }
    }

    /// Appends the replacement of `value` (of `class`, found by `detector`) to `out`.
    pub fn replace(&mut self, class: DataClass, detector: &str, value: &[u8], out: &mut Vec<u8>) {
        self.replace_scored(class, detector, 1.0, value, out);
    }

    /// Like [`Redactor::replace`], for a finding of confidence `score` (a policy may redact
    /// only findings above a minimum score).
    pub fn replace_scored(
        &mut self,
        class: DataClass,
        detector: &str,
        score: f32,
        value: &[u8],
        out: &mut Vec<u8>,
    ) {
        let Some(strategy) = self.strategy(class, detector, score) else {
            out.extend_from_slice(value);
            return;
        };
        match strategy {
            Strategy::Mask => {
                out.extend_from_slice(b"[REDACTED:");
                out.extend_from_slice(class.name().as_bytes());
                out.push(b']');
            }
            Strategy::Partial => partial(class, value, out),
            Strategy::Hash => {
                let h = self.key.hash(class, value).to_string();
                out.push(b'[');
                out.extend_from_slice(class.name().as_bytes());
                out.push(b':');
                out.extend_from_slice(&h.as_bytes()[..12]);
                out.push(b']');
            }
            Strategy::Fake => fake(&self.key, class, detector, value, out),
            Strategy::Tokenize => {
                let token = self.vault.token(class, value);
                out.extend_from_slice(token.as_bytes());
            }
            Strategy::Remove => {
                // look-alike letters become the letters they imitate; everything else goes
                if detector == "homoglyph"
                    && let Ok(text) = std::str::from_utf8(value)
                {
                    let mut buf = [0u8; 4];
                    for c in text.chars() {
                        let c = crate::confusable::confusable(c).unwrap_or(c);
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
    }
}

/// True for bytes kept as they are by partial and fake redaction.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/' | b':')
}

fn partial(class: DataClass, value: &[u8], out: &mut Vec<u8>) {
    if class == DataClass::EmailAddress
        && let Some(at) = memchr::memrchr(b'@', value)
    {
        if value[0].is_ascii_alphanumeric() {
            out.push(value[0]);
        }
        out.extend_from_slice(b"***@");
        out.extend(value[at + 1..].iter().map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                b
            } else {
                b'*'
            }
        }));
        return;
    }
    let alnum = value.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    let keep_from = alnum.saturating_sub(4);
    let mut seen = 0;
    for &b in value {
        if b.is_ascii_alphanumeric() {
            out.push(if seen >= keep_from && alnum > 4 {
                b
            } else {
                b'*'
            });
            seen += 1;
        } else if is_separator(b) {
            out.push(b);
        } else {
            out.push(b'*');
        }
    }
}

fn fake(key: &HashKey, class: DataClass, detector: &str, value: &[u8], out: &mut Vec<u8>) {
    let mut rnd = vec![0u8; value.len().max(16) + 16];
    key.keystream(value, &mut rnd);
    let digit = |i: usize| b'0' + rnd[i % rnd.len()] % 10;
    let start = out.len();
    match class {
        DataClass::EmailAddress => {
            out.extend_from_slice(b"user-");
            for &r in &rnd[..4] {
                out.extend_from_slice(format!("{r:02x}").as_bytes());
            }
            out.extend_from_slice(b"@example.invalid");
        }
        DataClass::IpAddress if detector == "ipv6_address" || value.contains(&b':') => {
            out.extend_from_slice(
                format!("2001:db8::{:x}", u16::from_le_bytes([rnd[0], rnd[1]])).as_bytes(),
            );
        }
        DataClass::IpAddress => {
            out.extend_from_slice(format!("203.0.113.{}", 1 + rnd[0] % 254).as_bytes());
        }
        _ => {
            for (i, &b) in value.iter().enumerate() {
                out.push(if b.is_ascii_digit() {
                    digit(i)
                } else if b.is_ascii_uppercase() {
                    b'A' + rnd[i] % 26
                } else if b.is_ascii_lowercase() {
                    b'a' + rnd[i] % 26
                } else if is_separator(b) {
                    b
                } else {
                    b'x'
                });
            }
            let faked = &mut out[start..];
            match class {
                DataClass::UsSsn => set_digits(faked, &[9]),
                DataClass::CreditCard => {
                    set_digits(
                        faked,
                        &[value
                            .iter()
                            .find(|b| b.is_ascii_digit())
                            .map_or(4, |d| d - b'0')],
                    );
                    fix_luhn(faked);
                }
                DataClass::Iban => {
                    faked[..2].copy_from_slice(&value[..2.min(value.len())]);
                    fix_iban(faked);
                }
                DataClass::Secret => {
                    // keep a short vendor prefix so the fake still says what kind of key it was
                    let keep = value
                        .iter()
                        .take(8)
                        .position(|&b| b == b'_' || b == b'-')
                        .map_or(0, |p| p + 1);
                    faked[..keep].copy_from_slice(&value[..keep]);
                }
                _ => {}
            }
        }
    }
}

/// Overwrites the first digits of `buf` with `digits`.
fn set_digits(buf: &mut [u8], digits: &[u8]) {
    let mut it = digits.iter();
    for b in buf.iter_mut().filter(|b| b.is_ascii_digit()) {
        match it.next() {
            Some(&d) => *b = b'0' + d,
            None => break,
        }
    }
}

/// Makes the digits of `buf` Luhn-valid by fixing the last digit.
fn fix_luhn(buf: &mut [u8]) {
    let Some(last) = buf.iter().rposition(u8::is_ascii_digit) else {
        return;
    };
    buf[last] = b'0';
    let mut sum = 0u32;
    for (i, d) in buf.iter().filter(|b| b.is_ascii_digit()).rev().enumerate() {
        let mut x = u32::from(d - b'0');
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    buf[last] = b'0' + ((10 - sum % 10) % 10) as u8;
}

/// Recomputes an IBAN's two check digits (positions 2 and 3, ignoring spaces).
fn fix_iban(buf: &mut [u8]) {
    let idx: Vec<usize> = (0..buf.len())
        .filter(|&i| buf[i].is_ascii_alphanumeric())
        .collect();
    if idx.len() < 5 {
        return;
    }
    buf[idx[2]] = b'0';
    buf[idx[3]] = b'0';
    let mut rem = 0u32;
    for &i in idx[4..].iter().chain(&idx[..4]) {
        let b = buf[i].to_ascii_uppercase();
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(b - b'A') + 10) % 97;
        }
    }
    let check = 98 - rem;
    buf[idx[2]] = b'0' + (check / 10) as u8;
    buf[idx[3]] = b'0' + (check % 10) as u8;
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
