//! Whole-buffer scanning through every encoding layer: decompression, JSON escapes,
//! percent-encoding and base64 blobs, with findings mapped back to the input.

use std::borrow::Cow;

use rampart_core::{DataClass, Finding, Layer, Span};

use crate::decode::{self, DecodeError, View, compress};
use crate::redact::Redactor;
use crate::scanner::{Hit, LOOK_BEHIND, Scanner};
use crate::skim::{self, TokenClass};

/// What a scan decodes, and how far.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// How many nested encodings (base64 inside a query string inside JSON...) are decoded.
    pub max_depth: u8,
    /// Decompression limits for gzip/zlib inputs.
    pub decompress: compress::Limits,
    /// Largest total of bytes decoded from base64 blobs in one scan.
    pub max_decoded: usize,
    /// Largest input accepted.
    pub max_input: usize,
    /// Threads the raw scan of a large text may use at once (texts of
    /// [`PARALLEL_MIN`] bytes or more); 1 keeps every scan on the calling thread, which is
    /// what a server scanning many small bodies wants.
    pub threads: usize,
}

/// Texts shorter than this are scanned on one thread whatever [`ScanOptions::threads`] says:
/// below it, starting threads costs more than it saves.
pub const PARALLEL_MIN: usize = 4 << 20;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_depth: 3,
            decompress: compress::Limits::default(),
            max_decoded: 4 << 20,
            max_input: 256 << 20,
            threads: 1,
        }
    }
}

/// One finding with the value it was about. The value stays in memory for redaction and is
/// never printed: `Debug` shows only the finding.
#[derive(Clone)]
pub struct Found {
    /// The finding, with its span in [`Scan::text`].
    pub finding: Finding,
    value: Vec<u8>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.finding.fmt(f)
    }
}

impl Found {
    /// The decoded sensitive value. Handle with care: never log or persist it.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

/// The result of a whole-buffer scan.
#[derive(Clone, Debug)]
pub struct Scan<'a> {
    /// The text the spans refer to: the input itself, or its decompressed form.
    pub text: Cow<'a, [u8]>,
    /// Whether `text` is the decompressed input.
    pub decompressed: bool,
    /// The findings, sorted by start, not overlapping.
    pub found: Vec<Found>,
    /// JSON number tokens of `text` (empty when it is not JSON): a redacted number is written
    /// back as a string so the document stays valid.
    pub json_numbers: Vec<Span>,
}

impl Scan<'_> {
    /// The findings, without values.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.found.iter().map(|f| &f.finding)
    }

    /// Writes `text` with every finding replaced as `redactor` says. JSON stays valid: a
    /// replacement inside a string is string-safe, and a redacted number becomes a string.
    pub fn redact(&self, redactor: &mut Redactor, out: &mut Vec<u8>) {
        let mut cursor = 0;
        for f in &self.found {
            let span = f.finding.span;
            // a finding policy keeps stays as written: its value may be decoded (a JSON string's
            // `\"`), and writing that back would break the document
            if redactor
                .strategy(f.finding.class, f.finding.detector, f.finding.score)
                .is_none()
            {
                continue;
            }
            out.extend_from_slice(&self.text[cursor..span.start]);
            let quote = self.json_numbers.iter().any(|n| n.overlaps(&span));
            if quote {
                out.push(b'"');
            }
            redactor.replace_scored(
                f.finding.class,
                f.finding.detector,
                f.finding.score,
                &f.value,
                out,
            );
            if quote {
                out.push(b'"');
            }
            cursor = span.end;
        }
        out.extend_from_slice(&self.text[cursor..]);
    }
}

impl Scanner {
    /// Scans a whole buffer: decompresses it if it is gzip/zlib, decodes JSON strings, then
    /// scans the text and every percent-encoded region and base64 blob in it, recursively up to
    /// `opts.max_depth`. Errors only for inputs that cannot be inspected (too large, a
    /// decompression bomb, a corrupt gzip stream).
    pub fn scan<'a>(&self, input: &'a [u8], opts: &ScanOptions) -> Result<Scan<'a>, DecodeError> {
        if input.len() > opts.max_input || input.len() > u32::MAX as usize {
            return Err(DecodeError::InputTooLarge {
                len: input.len(),
                limit: opts.max_input.min(u32::MAX as usize),
            });
        }
        let (text, decompressed) = match compress::sniff(input) {
            Some(kind) => match compress::decompress(input, kind, opts.decompress) {
                Ok(out) => (Cow::Owned(out), true),
                // a zlib header is two bytes and text can look like one; a gzip magic cannot
                Err(DecodeError::Corrupt(_)) if kind == compress::Compression::Zlib => {
                    (Cow::Borrowed(input), false)
                }
                Err(e) => return Err(e),
            },
            None => (Cow::Borrowed(input), false),
        };
        let mut found = Vec::new();
        let mut budget = Budget {
            left: opts.max_decoded,
            decompress: opts.decompress,
            threads: opts.threads,
        };
        let base_layers: &[Layer] = if decompressed {
            &[Layer::Compressed]
        } else {
            &[]
        };
        let json = decode::json::parse(&text);
        let json_numbers = json.as_ref().map(|j| j.numbers.clone()).unwrap_or_default();
        match json.and_then(|j| j.view) {
            Some(view) => {
                let layers = [base_layers, &[Layer::Json]].concat();
                let map = |s: Span| view.to_encoded(s);
                self.scan_layer(
                    &view.text,
                    &map,
                    &layers,
                    opts.max_depth,
                    &mut budget,
                    &mut found,
                );
            }
            None => {
                self.scan_layer(
                    &text,
                    &|s| s,
                    base_layers,
                    opts.max_depth,
                    &mut budget,
                    &mut found,
                );
            }
        }
        let found = resolve_overlaps(found);
        Ok(Scan {
            text,
            decompressed,
            found,
            json_numbers,
        })
    }

    /// Scans one decoded layer: its raw bytes and their normalized Unicode view, then its
    /// percent-encoded regions and base64 blobs. `map` takes spans of `text` to spans of the
    /// input.
    fn scan_layer(
        &self,
        text: &[u8],
        map: &dyn Fn(Span) -> Span,
        layers: &[Layer],
        depth: u8,
        budget: &mut Budget,
        out: &mut Vec<Found>,
    ) {
        let mut hits: Vec<Hit> = Vec::new();
        // the token runs, found once for the scanner's gates and the base64 decoder
        let mut runs = Vec::new();
        skim::long_runs(text, TokenClass::Base64, skim::MIN_RUN, &mut runs);
        if budget.threads > 1 && text.len() >= PARALLEL_MIN {
            self.scan_raw_segmented(text, Some(&runs), budget.threads, false, &mut hits);
        } else {
            self.scan_raw_with_runs(text, &runs, &mut hits);
        }
        // pure ASCII text has no view: the hot path ends at `is_ascii`; otherwise only the
        // parts around hidden, folded or look-alike characters are viewed and scanned again
        let reach = self.max_short_len() + LOOK_BEHIND;
        let mut viewed: Vec<(Hit, Span, Vec<u8>)> = Vec::new();
        for view in decode::unicode::views(text, reach) {
            let mut found = Vec::new();
            self.scan_raw(&view.text, &mut found);
            for hit in found {
                let span = view.to_encoded(hit.span);
                let value = view.text[hit.span.start..hit.span.end].to_vec();
                viewed.push((hit, span, value));
            }
        }
        if !viewed.is_empty() {
            // a value found in both is reported once: the raw hit unless the view's is wider
            // (hidden characters or look-alikes cut the raw one short)
            let covers =
                |outer: &Span, inner: &Span| outer.start <= inner.start && inner.end <= outer.end;
            hits.retain(|h| {
                !viewed
                    .iter()
                    .any(|(_, s, _)| covers(s, &h.span) && *s != h.span)
            });
            for (hit, span, value) in viewed {
                if self.detectors()[hit.detector].stream_only
                    || hits.iter().any(|h| covers(&h.span, &span))
                {
                    continue;
                }
                out.push(self.found_value(&hit, value, map(span), layers));
            }
        }
        for hit in hits
            .iter()
            .filter(|h| !self.detectors()[h.detector].stream_only)
        {
            out.push(self.found(hit, text, map(hit.span), layers));
        }
        if depth == 0 {
            return;
        }
        for region in decode::url::regions(text) {
            let view: View = decode::url::decode(text, region);
            if view.text.len() == region.len() && view.text == text[region.start..region.end] {
                continue;
            }
            let inner = |s: Span| map(view.to_encoded(s));
            let layers = [layers, &[Layer::Url]].concat();
            self.scan_layer(&view.text, &inner, &layers, depth - 1, budget, out);
        }
        for run in decode::base64::candidates_in(text, &runs) {
            // a blob inside markup only a stream acts on is still decoded
            if hits
                .iter()
                .any(|h| h.span.overlaps(&run) && !self.detectors()[h.detector].stream_only)
            {
                continue;
            }
            let Some(decoded) = decode::base64::decode_blob(
                &text[run.start..run.end],
                budget.left,
                budget.decompress,
            ) else {
                continue;
            };
            budget.left = budget.left.saturating_sub(decoded.len());
            // a value inside a blob is carried by the whole blob
            let outer = map(run);
            let inner = |_: Span| outer;
            let layers = [layers, &[Layer::Base64]].concat();
            self.scan_layer(&decoded, &inner, &layers, depth - 1, budget, out);
        }
    }

    fn found(&self, hit: &Hit, text: &[u8], span: Span, layers: &[Layer]) -> Found {
        self.found_value(
            hit,
            text[hit.span.start..hit.span.end].to_vec(),
            span,
            layers,
        )
    }

    fn found_value(&self, hit: &Hit, value: Vec<u8>, span: Span, layers: &[Layer]) -> Found {
        let det = self.detectors()[hit.detector];
        Found {
            finding: Finding {
                class: det.class,
                detector: det.id,
                span,
                score: hit.score,
                severity: det.severity,
                owasp: det.class.owasp(),
                hash: self.config().hash_key.hash(det.class, &value),
                layers: layers.to_vec(),
            },
            value,
        }
    }
}

/// What is left to decode in one scan: bytes of base64 blobs (decompressed ones counted by
/// their inflated size) and the limits on inflating a blob.
struct Budget {
    left: usize,
    decompress: compress::Limits,
    threads: usize,
}

/// Sorts findings and keeps, of overlapping ones, a value before output markup, then the highest
/// score (then the fewest layers,
/// then the longest span). Works cluster by cluster, so it stays linear for scattered findings.
fn resolve_overlaps(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by_key(|f| (f.finding.span.start, f.finding.span.end));
    let rank = |f: &Found| {
        (
            // a value wins over the markup that holds it (an image URL in a decoded layer)
            f.finding.class == DataClass::UnsafeOutput,
            -(f.finding.score * 1000.0) as i32,
            f.finding.layers.len(),
            usize::MAX - f.finding.span.len(),
        )
    };
    let mut out: Vec<Found> = Vec::with_capacity(found.len());
    let mut cluster: Vec<Found> = Vec::new();
    let mut cluster_end = 0;
    let flush = |cluster: &mut Vec<Found>, out: &mut Vec<Found>| {
        if cluster.len() == 1 {
            out.append(cluster);
            return;
        }
        cluster.sort_by_key(|f| rank(f));
        let mut kept: Vec<Found> = Vec::new();
        for f in cluster.drain(..) {
            if kept
                .iter()
                .all(|k| !k.finding.span.overlaps(&f.finding.span))
            {
                kept.push(f);
            }
        }
        kept.sort_by_key(|f| f.finding.span.start);
        out.append(&mut kept);
    };
    for f in found {
        if !cluster.is_empty() && f.finding.span.start >= cluster_end {
            flush(&mut cluster, &mut out);
        }
        cluster_end = if cluster.is_empty() {
            f.finding.span.end
        } else {
            cluster_end.max(f.finding.span.end)
        };
        cluster.push(f);
    }
    flush(&mut cluster, &mut out);
    out
}
