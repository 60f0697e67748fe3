//! Decoders that run before scanning, so nothing hides behind an encoding: JSON string escapes,
//! percent-encoding, base64 blobs and gzip/deflate compression.
//!
//! Each decoder produces a [`View`]: the decoded bytes plus a map from every decoded byte back
//! to the encoded bytes it came from, so findings are reported (and redacted) at their place in
//! the original input.

use rampart_core::Span;

pub mod base64;
pub mod compress;
pub mod json;
pub mod url;

/// Decoded bytes and where each came from in the encoded input.
#[derive(Clone, Debug)]
pub struct View {
    /// The decoded bytes.
    pub text: Vec<u8>,
    /// `starts[i]` is the offset in the encoded input of the encoding of decoded byte `i`;
    /// `starts[text.len()]` is the end of the decoded region. Monotonic.
    pub starts: Vec<u32>,
}

impl View {
    /// An empty view with room for `n` bytes.
    pub fn with_capacity(n: usize) -> View {
        View {
            text: Vec::with_capacity(n),
            starts: Vec::with_capacity(n + 1),
        }
    }

    /// Appends one decoded byte that came from encoded offset `from`.
    pub fn push(&mut self, byte: u8, from: usize) {
        self.text.push(byte);
        self.starts.push(from as u32);
    }

    /// Closes the view: the decoded region ends at encoded offset `end`.
    pub fn finish(&mut self, end: usize) {
        self.starts.push(end as u32);
    }

    /// Maps a span of decoded bytes to the span of encoded bytes that carries it, widened to
    /// whole escape sequences.
    pub fn to_encoded(&self, span: Span) -> Span {
        let start = self.starts[span.start] as usize;
        if span.is_empty() {
            return Span::new(start, start);
        }
        // the span ends where the next escape sequence starts; bytes decoded from the same
        // sequence as the last byte (`\u00e9` gives two) are covered with it
        let last = self.starts[span.end - 1];
        let mut k = span.end;
        while k < self.text.len() && self.starts[k] == last {
            k += 1;
        }
        Span::new(start, self.starts[k] as usize)
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
