//! Hashed n-gram features of normalized text: word unigrams and bigrams, and character 3-, 4-
//! and 5-grams. Training and inference share this code, so what the model was trained on is
//! exactly what it reads.
//!
//! Each n-gram becomes a 64-bit key (a word's FNV-1a hash; a character n-gram's bytes packed
//! with its length) hashed with one multiply to one of `2^bits` buckets with a sign; the model's score is the sum of the signed bucket weights divided by the square root of
//! the number of n-grams (so long and short texts score on one scale).

/// Dense features after the hashed ones: structural signals and length.
pub const DENSE: usize = 24;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Multiplicative hashing constant (2^64 / golden ratio, odd).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// One hashed feature: the bucket index in the low 31 bits, the sign in the top bit.
pub type Feature = u32;

/// Bucket of a feature.
#[inline]
pub fn bucket(f: Feature) -> usize {
    (f & 0x7fff_ffff) as usize
}

/// Sign of a feature: +1 or -1.
#[inline]
pub fn sign(f: Feature) -> f32 {
    if f & 0x8000_0000 != 0 { -1.0 } else { 1.0 }
}

/// The feature of a 64-bit key: one multiply, the top `bits` bits are the bucket and the bit
/// below them the sign.
#[inline]
fn feature(key: u64, bits: u32) -> Feature {
    let h = key.wrapping_mul(GOLDEN);
    let bucket = (h >> (64 - bits)) as u32;
    let sign = ((h >> (63 - bits)) & 1) as u32;
    bucket | (sign << 31)
}

/// Extracts the hashed features of `text` (already normalized) into `out` (cleared first).
/// `bits` sets the number of buckets (`2^bits`, at most 2^30).
pub fn extract(text: &str, bits: u32, out: &mut Vec<Feature>) {
    out.clear();
    each(text, bits, |f| out.push(f));
}

/// Calls `visit` with every hashed feature of `text` (already normalized), in the order
/// [`extract`] lists them, without collecting them.
#[inline]
pub fn each(text: &str, bits: u32, mut visit: impl FnMut(Feature)) {
    let bytes = text.as_bytes();
    // word unigrams and bigrams: runs of letters and digits (bytes >= 0x80 count as letters)
    let mut prev: Option<u64> = None;
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && !is_word(bytes[i]) {
            // punctuation between words breaks the bigram chain only at sentence ends
            if matches!(bytes[i], b'.' | b'!' | b'?' | b'\n' | b':' | b';') {
                prev = None;
            }
            i += 1;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        if start == i {
            break;
        }
        let w = fnv(1, &bytes[start..i]);
        visit(feature(w, bits));
        if let Some(p) = prev {
            visit(feature(p.rotate_left(17) ^ w ^ 0x5bd1_e995_7f4a_7c15, bits));
        }
        prev = Some(w);
    }
    // character 3-, 4- and 5-grams over the text padded with a space on both ends: the last five
    // bytes slide in one word, and each n-gram is its bytes tagged with its length
    if bytes.is_empty() {
        return;
    }
    let mut window = 0u64;
    let mut seen = 0usize;
    for &b in std::iter::once(&b' ')
        .chain(bytes)
        .chain(std::iter::once(&b' '))
    {
        window = (window << 8) | b as u64;
        seen += 1;
        if seen >= 3 {
            visit(feature((window & 0xff_ffff) | (3 << 56), bits));
        }
        if seen >= 4 {
            visit(feature((window & 0xffff_ffff) | (4 << 56), bits));
        }
        if seen >= 5 {
            visit(feature((window & 0xff_ffff_ffff) | (5 << 56), bits));
        }
    }
}

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b == b'\''
}

/// Byte classes for the fused pass: bit 0 a word byte, bit 1 punctuation that ends a sentence
/// (and the bigram chain).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c >= 0x80 || c == b'\'' {
            t[b] |= 1;
        }
        if matches!(c, b'.' | b'!' | b'?' | b'\n' | b':' | b';') {
            t[b] |= 2;
        }
        b += 1;
    }
    t
};

/// The sum over every hashed feature of `text` (already normalized) of
/// `table[bucket * 2 + sign]`, and the number of features: the same features as [`each`]
/// visits, read in one fused pass. `table` holds `2^(bits + 1)` entries, each bucket's weight
/// followed by its negation (see [`crate::model::Model`]).
pub fn signed_sum(text: &str, bits: u32, table: &[i8]) -> (i32, usize) {
    // the shipped models' size gets a constant shift and a table the compiler knows the length
    // of (no bounds checks)
    if bits == 20
        && let Ok(t) = <&[i8; 1 << 21]>::try_from(table)
    {
        return fused(text.as_bytes(), |key| {
            t[(key.wrapping_mul(GOLDEN) >> 43) as usize]
        });
    }
    let shift = 63 - bits;
    fused(text.as_bytes(), |key| {
        table[(key.wrapping_mul(GOLDEN) >> shift) as usize]
    })
}

/// One pass over `bytes` that hashes the word unigrams and bigrams and the character 3-, 4- and
/// 5-grams exactly as [`each`] does (the FNV chain of a word interleaved with the n-grams of
/// its bytes) and sums `weight(key)` over them.
#[inline(always)]
fn fused(bytes: &[u8], weight: impl Fn(u64) -> i8) -> (i32, usize) {
    if bytes.is_empty() {
        return (0, 0);
    }
    let mut sum = 0i32;
    let mut n = 0usize;
    // words
    let mut h = 0u64;
    let mut in_word = false;
    let mut prev: Option<u64> = None;
    let mut word = |b: u8, sum: &mut i32, n: &mut usize| {
        let class = CLASS[b as usize];
        if class & 1 != 0 {
            if !in_word {
                h = FNV_OFFSET ^ 1;
                in_word = true;
            }
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
            return;
        }
        if in_word {
            *sum += weight_of_word(h, prev, &weight, n);
            prev = Some(h);
            in_word = false;
        }
        if class & 2 != 0 {
            prev = None;
        }
    };
    // character n-grams over the text padded with a space on both ends
    let grams = |window: u64| -> i32 {
        weight((window & 0xff_ffff) | (3 << 56)) as i32
            + weight((window & 0xffff_ffff) | (4 << 56)) as i32
            + weight((window & 0xff_ffff_ffff) | (5 << 56)) as i32
    };
    let mut window = b' ' as u64;
    let head = bytes.len().min(3);
    for (k, &b) in bytes[..head].iter().enumerate() {
        word(b, &mut sum, &mut n);
        window = (window << 8) | b as u64;
        // `k + 2` bytes seen, the leading space included
        let seen = k + 2;
        if seen >= 3 {
            sum += weight((window & 0xff_ffff) | (3 << 56)) as i32;
            n += 1;
        }
        if seen >= 4 {
            sum += weight((window & 0xffff_ffff) | (4 << 56)) as i32;
            n += 1;
        }
    }
    for &b in &bytes[head..] {
        word(b, &mut sum, &mut n);
        window = (window << 8) | b as u64;
        sum += grams(window);
    }
    n += 3 * (bytes.len() - head);
    // the trailing space ends the last word and closes the n-grams
    word(b' ', &mut sum, &mut n);
    window = (window << 8) | b' ' as u64;
    let seen = bytes.len() + 2;
    if seen >= 3 {
        sum += weight((window & 0xff_ffff) | (3 << 56)) as i32;
        n += 1;
    }
    if seen >= 4 {
        sum += weight((window & 0xffff_ffff) | (4 << 56)) as i32;
        n += 1;
    }
    if seen >= 5 {
        sum += weight((window & 0xff_ffff_ffff) | (5 << 56)) as i32;
        n += 1;
    }
    (sum, n)
}

/// The weights of a finished word (hash `w`): its unigram, and its bigram with `prev`.
#[inline(always)]
fn weight_of_word(w: u64, prev: Option<u64>, weight: &impl Fn(u64) -> i8, n: &mut usize) -> i32 {
    *n += 1;
    let mut s = weight(w) as i32;
    if let Some(p) = prev {
        *n += 1;
        s += weight(p.rotate_left(17) ^ w ^ 0x5bd1_e995_7f4a_7c15) as i32;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        extract("ignore all previous instructions", 18, &mut a);
        extract("ignore all previous instructions", 18, &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|&f| bucket(f) < 1 << 18));
        // 4 words + 3 bigrams + char grams
        assert!(a.len() > 7 + 60);
    }

    #[test]
    fn stable_across_builds() {
        // the committed weights depend on these exact values
        let mut a = Vec::new();
        extract("hi", 18, &mut a);
        // the word, then " hi", "hi ", " hi "
        assert_eq!(a.len(), 1 + 2 + 1);
        assert_eq!(a[0], feature(fnv(1, b"hi"), 18));
        assert_eq!(a[1], feature(0x20_6869 | (3 << 56), 18));
        assert_eq!(a, [29631, 2147717520, 59616, 130181]);
    }

    #[test]
    fn empty_text_has_no_features() {
        let mut a = vec![1];
        extract("", 18, &mut a);
        assert!(a.is_empty());
    }
}
