//! Base64 blobs that decode to text, or to gzip/zlib data that decompresses to text: standard
//! and URL-safe alphabets, padded or not.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rampart_core::Span;

use super::compress;
use crate::skim::{self, TokenClass};

/// Shortest run of base64 characters worth decoding.
pub const MIN_RUN: usize = 24;

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);

/// Byte classes: 0 not base64, else bit 1 upper, 2 lower, 4 digit, 8 one of `+/-_`.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_uppercase() {
            1
        } else if b.is_ascii_lowercase() {
            2
        } else if b.is_ascii_digit() {
            4
        } else if matches!(b, b'+' | b'/' | b'-' | b'_') {
            8
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Finds runs of at least [`MIN_RUN`] base64 characters (plus padding) that mix upper case,
/// lower case and digits, as encoded data does and words, numbers and hex digests do not.
pub fn candidates(text: &[u8]) -> Vec<Span> {
    let mut runs = Vec::new();
    skim::long_runs(text, TokenClass::Blob, MIN_RUN, &mut runs);
    blobs(text, runs.into_iter())
}

/// [`candidates`] from the [`TokenClass::Base64`] runs of `text` (at least [`skim::MIN_RUN`]
/// bytes, in order), which hold every blob: base64 runs are those runs split at `=`, `.` and
/// `~`.
pub fn candidates_in(text: &[u8], base64_runs: &[(usize, usize)]) -> Vec<Span> {
    let mut runs = Vec::new();
    for &(start, end) in base64_runs.iter().filter(|(s, e)| e - s >= MIN_RUN) {
        let mut at = start;
        let cuts = text[start..end]
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, b'=' | b'.' | b'~'))
            .map(|(i, _)| start + i)
            .chain(std::iter::once(end));
        for cut in cuts {
            if cut - at >= MIN_RUN {
                runs.push((at, cut));
            }
            at = cut + 1;
        }
    }
    blobs(text, runs.into_iter())
}

/// The runs that mix upper case, lower case and digits, with their padding.
fn blobs(text: &[u8], runs: impl Iterator<Item = (usize, usize)>) -> Vec<Span> {
    let mut out = Vec::new();
    for (start, end) in runs {
        let classes = text[start..end]
            .iter()
            .fold(0u8, |acc, &b| acc | CLASS[usize::from(b)]);
        if classes & 7 != 7 {
            continue;
        }
        let mut padded = end;
        while padded < text.len() && padded - end < 2 && text[padded] == b'=' {
            padded += 1;
        }
        out.push(Span::new(start, padded));
    }
    out
}

/// Decodes a candidate run when it decodes to text (valid UTF-8 of which at least 90% is
/// printable or white space). `max` bounds the decoded size.
pub fn decode_text(run: &[u8], max: usize) -> Option<Vec<u8>> {
    let decoded = decode_bytes(run, max)?;
    is_text(&decoded).then_some(decoded)
}

/// Decodes a candidate run that carries text, or gzip/zlib data that decompresses within
/// `limits` (and `max` bytes) to text: what a scan should look into. `None` for anything else
/// (binary data, corrupt streams, bombs).
pub fn decode_blob(run: &[u8], max: usize, limits: compress::Limits) -> Option<Vec<u8>> {
    let decoded = decode_bytes(run, max)?;
    if is_text(&decoded) {
        return Some(decoded);
    }
    let kind = compress::sniff(&decoded)?;
    let limits = compress::Limits {
        max_output: limits.max_output.min(max),
        ..limits
    };
    let inflated = compress::decompress(&decoded, kind, limits).ok()?;
    is_text(&inflated).then_some(inflated)
}

/// The bytes a base64 run decodes to, standard or URL-safe, padded or not; `None` when it is
/// not base64 or would pass `max` bytes.
fn decode_bytes(run: &[u8], max: usize) -> Option<Vec<u8>> {
    if run.len().div_ceil(4) * 3 > max {
        return None;
    }
    let trimmed = run
        .strip_suffix(b"==")
        .or_else(|| run.strip_suffix(b"="))
        .unwrap_or(run);
    let url_safe = trimmed.iter().any(|&b| b == b'-' || b == b'_');
    if url_safe {
        URL_SAFE.decode(trimmed).ok()
    } else {
        STANDARD.decode(trimmed).ok()
    }
}

/// Valid UTF-8, not empty, at least 90% printable or white space.
fn is_text(decoded: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(decoded) else {
        return false;
    };
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    printable * 10 >= text.chars().count() * 9 && !decoded.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_decodes_text_blobs() {
        let blob = STANDARD.encode("my ssn is 536-90-4399, keep it safe");
        let text = format!("data={blob}&x=1");
        let c = candidates(text.as_bytes());
        assert_eq!(c.len(), 1);
        let run = &text.as_bytes()[c[0].start..c[0].end];
        assert_eq!(
            decode_text(run, 1 << 20).unwrap(),
            b"my ssn is 536-90-4399, keep it safe"
        );
    }

    #[test]
    fn skips_words_hex_and_binary() {
        assert!(candidates(b"internationalization_is_a_long_word").is_empty());
        assert!(candidates(b"d41d8cd98f00b204e9800998ecf8427e").is_empty());
        let bin = STANDARD.encode([
            0u8, 1, 2, 3, 250, 251, 252, 253, 254, 255, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        assert!(decode_text(bin.as_bytes(), 1 << 20).is_none());
    }

    #[test]
    fn blobs_of_compressed_text_are_inflated_within_limits() {
        use std::io::Write;
        let text = b"my ssn is 536-90-4399, keep it safe";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        let gz = STANDARD.encode(gz.finish().unwrap());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text).unwrap();
        let z = STANDARD.encode(z.finish().unwrap());
        let limits = compress::Limits::default();
        for blob in [&gz, &z] {
            assert_eq!(
                decode_blob(blob.as_bytes(), 1 << 20, limits).as_deref(),
                Some(&text[..])
            );
            // the text decoder alone does not look inside
            assert!(decode_text(blob.as_bytes(), 1 << 20).is_none());
        }
        // a bomb stays shut: the decoded budget bounds the inflated size
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 1 << 20]).unwrap();
        let bomb = STANDARD.encode(gz.finish().unwrap());
        assert!(decode_blob(bomb.as_bytes(), 64 << 10, limits).is_none());
        assert!(decode_blob(b"not base64 at all!!", 1 << 20, limits).is_none());
    }

    #[test]
    fn candidates_from_shared_runs_are_the_same() {
        let blob = STANDARD.encode("user=ada; token=Zx81kLm0Qp2Rt7Vw; pin=8841; and more text");
        let url = URL_SAFE.encode("é∂ƒ©˙∆˚¬…æ≈ç√∫˜µ≤≥÷ more bytes to pass the minimum");
        let text = format!(
            "a {blob}.x~{blob}=b {url} c==c aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8=.abc {blob}"
        );
        let mut runs = Vec::new();
        skim::long_runs(
            text.as_bytes(),
            TokenClass::Base64,
            skim::MIN_RUN,
            &mut runs,
        );
        assert_eq!(
            candidates_in(text.as_bytes(), &runs),
            candidates(text.as_bytes())
        );
        assert!(candidates(text.as_bytes()).len() >= 4);
    }
}
