//! Keyed hashing of sensitive values, for correlation without storage of the value.

use rampart_core::{DataClass, ValueHash};

/// A 256-bit key for [`HashKey::hash`]. Keep it secret: with the key, a hash can be checked
/// against guesses. The default key is all zeros and is meant for tests only: no runtime path
/// uses it (the scanner's default configuration takes a random key, the gateway its own).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HashKey([u8; 32]);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl HashKey {
    /// A key from 32 bytes.
    pub fn new(bytes: [u8; 32]) -> HashKey {
        HashKey(bytes)
    }

    /// Whether this is the all-zero test key.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// A key derived from a passphrase or any secret string of any length.
    pub fn derive(secret: &[u8]) -> HashKey {
        HashKey(blake3::derive_key("rampart value hash v1", secret))
    }

    /// A fresh random key, for runs that need no correlation across processes.
    pub fn random() -> HashKey {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
        HashKey(bytes)
    }

    /// The keyed hash of a value of `class`. Numbers are hashed on their digits and letters
    /// only (so `4111 1111 1111 1111` and `4111-1111-1111-1111` correlate), e-mail addresses
    /// case-insensitively, secrets exactly.
    pub fn hash(&self, class: DataClass, value: &[u8]) -> ValueHash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(class.name().as_bytes());
        hasher.update(&[0]);
        // normalize into a small buffer and hash it in one call (per-byte updates are slow)
        let mut buf = [0u8; 128];
        let mut n = 0;
        let flush = |hasher: &mut blake3::Hasher, buf: &mut [u8; 128], n: &mut usize| {
            hasher.update(&buf[..*n]);
            *n = 0;
        };
        match class {
            DataClass::Secret => {
                hasher.update(value);
            }
            _ => {
                for &b in value {
                    let b = match class {
                        DataClass::EmailAddress => b.to_ascii_lowercase(),
                        _ if b.is_ascii_alphanumeric() => b.to_ascii_uppercase(),
                        _ => continue,
                    };
                    if n == buf.len() {
                        flush(&mut hasher, &mut buf, &mut n);
                    }
                    buf[n] = b;
                    n += 1;
                }
                flush(&mut hasher, &mut buf, &mut n);
            }
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        ValueHash(out)
    }

    /// A deterministic stream of pseudo-random bytes for `value`, used by format-preserving
    /// fakes so the same value always gets the same fake under the same key.
    pub fn keystream(&self, value: &[u8], out: &mut [u8]) {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(b"fake\0");
        hasher.update(value);
        hasher.finalize_xof().fill(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_number_in_other_format_correlates() {
        let k = HashKey::derive(b"k");
        assert_eq!(
            k.hash(DataClass::CreditCard, b"4111 1111 1111 1111"),
            k.hash(DataClass::CreditCard, b"4111-1111-1111-1111")
        );
        assert_ne!(
            k.hash(DataClass::CreditCard, b"4111 1111 1111 1111"),
            HashKey::derive(b"other").hash(DataClass::CreditCard, b"4111 1111 1111 1111")
        );
        assert_eq!(
            k.hash(DataClass::EmailAddress, b"A@B.com"),
            k.hash(DataClass::EmailAddress, b"a@b.COM")
        );
    }
}
