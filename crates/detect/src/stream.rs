//! The streaming scanner: feed chunks, get back the bytes that are safe to release now.
//!
//! It holds back a bounded window: the longest match of any short pattern plus the context
//! window after it ([`StreamScanner::hold_back`], a few hundred bytes with the built-in
//! registry), and, while a long pattern (a PEM private key, a JWT) has started but not ended,
//! everything from its first byte, up to that pattern's bound. Because every pattern is bounded
//! and context is read from a fixed window, a value split across any chunk boundary is caught
//! and the released bytes are exactly those a whole-buffer scan would write.
//!
//! The streaming scanner works on the raw bytes of a text stream; the gateway's provider
//! adapters hand it decoded text (SSE `data:` payloads, JSON string values).

use rampart_core::{Finding, Span};

use crate::redact::Redactor;
use crate::scanner::{CONTEXT_AFTER, CONTEXT_BEFORE, Hit, Scanner};

/// Bytes of already-released text kept as context for the next chunk.
const KEEP: usize = CONTEXT_BEFORE + 8;

/// Incremental scanner and redactor over one stream.
#[derive(Debug)]
pub struct StreamScanner<'s> {
    scanner: &'s Scanner,
    redactor: Redactor,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: usize,
    /// Stream offset up to which output was released.
    released: usize,
    hold: usize,
    hits: Vec<Hit>,
    findings: Vec<Finding>,
}

impl<'s> StreamScanner<'s> {
    /// A scanner over a new stream, redacting with `redactor`.
    pub fn new(scanner: &'s Scanner, redactor: Redactor) -> StreamScanner<'s> {
        StreamScanner {
            scanner,
            redactor,
            buf: Vec::new(),
            base: 0,
            released: 0,
            hold: scanner.max_short_len() + CONTEXT_AFTER + 2,
            hits: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// The most bytes held back while no long pattern is in progress.
    pub fn hold_back(&self) -> usize {
        self.hold
    }

    /// Bytes received but not yet released.
    pub fn pending(&self) -> usize {
        self.base + self.buf.len() - self.released
    }

    /// Feeds one chunk; appends to `out` the redacted bytes that are now final.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.buf.extend_from_slice(chunk);
        let end = self.base + self.buf.len();
        if end > self.released + self.hold {
            self.advance(end - self.hold, out);
        }
    }

    /// Ends the stream; appends the rest, redacted.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let end = self.base + self.buf.len();
        self.advance_to(end, false, out);
    }

    /// Findings so far, with spans in stream offsets.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The redactor, with the vault of tokenized values.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn advance(&mut self, limit: usize, out: &mut Vec<u8>) {
        self.advance_to(limit, true, out);
    }

    fn advance_to(&mut self, limit: usize, holding: bool, out: &mut Vec<u8>) {
        let from = self.released - self.base;
        let mut rel_limit = limit - self.base;
        if holding && let Some(anchor) = self.scanner.long_anchors(&self.buf, from) {
            rel_limit = rel_limit.min(anchor);
        }
        if rel_limit <= from {
            return;
        }
        self.hits.clear();
        let resume = self
            .scanner
            .scan_until(&self.buf, from, rel_limit, &mut self.hits);
        let mut cursor = from;
        for hit in &self.hits {
            out.extend_from_slice(&self.buf[cursor..hit.span.start]);
            let det = self.scanner.detectors()[hit.detector];
            let value = &self.buf[hit.span.start..hit.span.end];
            self.redactor.replace(det.class, det.id, value, out);
            self.findings.push(Finding {
                class: det.class,
                detector: det.id,
                span: hit.span.shift(self.base),
                score: hit.score,
                severity: det.severity,
                owasp: det.class.owasp(),
                hash: self.scanner.config().hash_key.hash(det.class, value),
                layers: Vec::new(),
            });
            cursor = hit.span.end;
        }
        out.extend_from_slice(&self.buf[cursor..resume]);
        self.released = self.base + resume;
        let drop = resume.saturating_sub(KEEP);
        if drop > 0 {
            self.buf.drain(..drop);
            self.base += drop;
        }
    }
}

/// Scans a whole buffer the way the streaming scanner does, on raw bytes only, and writes it
/// redacted: the reference the streaming scanner is tested against.
pub fn redact_raw(
    scanner: &Scanner,
    text: &[u8],
    redactor: &mut Redactor,
    out: &mut Vec<u8>,
) -> Vec<Span> {
    let mut hits = Vec::new();
    scanner.scan_raw(text, &mut hits);
    let mut cursor = 0;
    for hit in &hits {
        out.extend_from_slice(&text[cursor..hit.span.start]);
        let det = scanner.detectors()[hit.detector];
        redactor.replace(det.class, det.id, &text[hit.span.start..hit.span.end], out);
        cursor = hit.span.end;
    }
    out.extend_from_slice(&text[cursor..]);
    hits.iter().map(|h| h.span).collect()
}
