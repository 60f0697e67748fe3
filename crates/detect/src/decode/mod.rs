//! Decoders that run before scanning, so nothing hides behind an encoding: JSON string escapes,
//! percent-encoding, base64 blobs (of text, or of gzip/zlib data), gzip/deflate compression, and
//! the normalized Unicode view (invisible characters, Unicode digits, look-alike letters).
//!
//! Each decoder produces a [`View`]: the decoded bytes plus a map from every decoded byte back
//! to the encoded bytes it came from, so findings are reported (and redacted) at their place in
//! the original input.

use rampart_core::Span;

pub mod base64;
pub mod compress;
pub mod json;
pub mod unicode;
pub mod url;

/// Decoded bytes and where each came from in the encoded input.
///
/// The map is a list of segments, not one entry per byte: runs copied verbatim map byte for
/// byte, and each escape sequence maps all the bytes it decodes to to its whole encoding.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The decoded bytes.
    pub text: Vec<u8>,
    segments: Vec<Segment>,
    end: u32,
}

/// A run of decoded bytes starting at decoded offset `decoded` and encoded offset `encoded`;
/// `escape` is the encoded length of an escape sequence, 0 for a verbatim run.
#[derive(Clone, Copy, Debug)]
struct Segment {
    decoded: u32,
    encoded: u32,
    escape: u32,
}

impl View {
    /// An empty view with room for `n` bytes.
    pub fn with_capacity(n: usize) -> View {
        View {
            text: Vec::with_capacity(n),
            segments: Vec::new(),
            end: 0,
        }
    }

    /// Appends bytes copied unchanged from encoded offset `from` (or changed one for one, as
    /// `+` to space: the positions still map byte for byte).
    pub fn push_verbatim(&mut self, bytes: &[u8], from: usize) {
        if bytes.is_empty() {
            return;
        }
        let decoded = self.text.len() as u32;
        let continues = self
            .segments
            .last()
            .is_some_and(|s| s.escape == 0 && s.encoded + (decoded - s.decoded) == from as u32);
        if !continues {
            self.segments.push(Segment {
                decoded,
                encoded: from as u32,
                escape: 0,
            });
        }
        self.text.extend_from_slice(bytes);
    }

    /// Appends the bytes an escape sequence of `len` encoded bytes at `from` decodes to.
    pub fn push_escape(&mut self, bytes: &[u8], from: usize, len: usize) {
        self.segments.push(Segment {
            decoded: self.text.len() as u32,
            encoded: from as u32,
            escape: len as u32,
        });
        self.text.extend_from_slice(bytes);
    }

    /// Closes the view: the decoded region ends at encoded offset `end`.
    pub fn finish(&mut self, end: usize) {
        self.end = end as u32;
    }

    /// The segment holding decoded byte `i`.
    fn segment(&self, i: usize) -> Segment {
        let k = self.segments.partition_point(|s| s.decoded as usize <= i);
        self.segments[k.saturating_sub(1)]
    }

    /// Maps a span of decoded bytes to the span of encoded bytes that carries it, widened to
    /// whole escape sequences.
    pub fn to_encoded(&self, span: Span) -> Span {
        if self.segments.is_empty() {
            return Span::new(self.end as usize, self.end as usize);
        }
        let offset = |seg: Segment, i: usize| seg.encoded as usize + (i - seg.decoded as usize);
        let first = self.segment(span.start);
        let start = if first.escape == 0 {
            offset(first, span.start)
        } else {
            first.encoded as usize
        };
        if span.is_empty() {
            return Span::new(start, start);
        }
        let last = self.segment(span.end - 1);
        let end = if last.escape == 0 {
            offset(last, span.end - 1) + 1
        } else {
            (last.encoded + last.escape) as usize
        };
        Span::new(start, end.max(start))
    }
}

/// Why an input could not be decoded for inspection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Decompressed output passed the size limit (a decompression bomb, or just too big).
    #[error(
        "compressed body expands past {limit} bytes; raise the decompression limit or reject the body"
    )]
    TooLarge {
        /// The limit, in decompressed bytes.
        limit: usize,
    },
    /// The compression ratio passed the ratio limit.
    #[error("compressed body expands more than {ratio}x (a decompression bomb); reject the body")]
    Ratio {
        /// The ratio limit.
        ratio: usize,
    },
    /// The compressed stream is corrupt or truncated.
    #[error("compressed body is corrupt: {0}")]
    Corrupt(String),
    /// The input is larger than a scan accepts.
    #[error(
        "input of {len} bytes is larger than the {limit}-byte scan limit; split it or raise the limit"
    )]
    InputTooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}
