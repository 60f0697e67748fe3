//! The streaming scanner: feed chunks, get back the bytes that are safe to release now.
//!
//! It holds back only text that could still change: from the first position where some pattern
//! could still be matching (an anchored DFA over every pattern, walked from each position, is
//! not dead yet at the end of what arrived), or where a match ended too close to the end for
//! the context words after it to be known, and at least the last [`CONTEXT_AFTER`] + 2 bytes.
//! In ordinary text that is a few dozen bytes, so the first tokens of a streamed answer pass at
//! once. The hold-back never exceeds the longest short pattern plus the context window
//! ([`StreamScanner::hold_back`], a few hundred bytes with the built-in registry), except while
//! a long pattern (a PEM private key, a JWT) has started but not ended: then everything from
//! its first byte, up to that pattern's bound. Because every pattern is bounded and context is
//! read from a fixed window, a value split across any chunk boundary is caught and the released
//! bytes are exactly those a whole-buffer scan would write.
//!
//! The streaming scanner works on the raw bytes of a text stream; the gateway's provider
//! adapters hand it decoded text (SSE `data:` payloads, JSON string values). It scans the same
//! normalized view a whole-body scan reads ([`decode::unicode::fold_stream`]): Unicode digits,
//! full-width forms and look-alike letters are folded to ASCII before the scan, so
//! `５３６-９０-４３９９` is a social security number here too; wherever nothing is found the
//! original characters are released, so benign non-ASCII text passes unchanged.

use std::collections::VecDeque;

use rampart_core::{Finding, Span};

use regex_automata::Anchored;
use regex_automata::hybrid::dfa::Cache;
use regex_automata::util::start;

use crate::decode;
use crate::redact::Redactor;
use crate::scanner::{CONTEXT_AFTER, Hit, LOOK_BEHIND, Scanner};

/// Bytes of already-released text kept as context for the next chunk.
const KEEP: usize = LOOK_BEHIND + 8;

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
    probe: Option<Probe>,
    /// Received bytes not yet in `buf`: a trailing run of invisible characters (kept or dropped
    /// once the next byte shows what follows) or an incomplete UTF-8 sequence.
    unsorted: Vec<u8>,
    /// The characters folded to one ASCII byte of `buf`, in stream order, from `base` on.
    folds: VecDeque<Folded>,
    /// Where markdown code is, read as the stream goes (stream-only detectors act outside it).
    code: Code,
    /// Whether the stream is an answer a client renders: stream-only detectors act on it.
    answer: bool,
}

/// Markdown code read incrementally: fenced blocks (a line of three or more backticks or
/// tildes, indented at most three spaces, whose info string holds no backtick, until a line of
/// at least as many of the same) and inline code spans (a backtick run, until a run of the same
/// length on the same line). Where it is unsure it reads text as outside code, so markup is
/// removed rather than kept: a folded character (a full-width grave accent) is not a
/// delimiter, an escaped backtick opens nothing, a span does not cross a line, and a fence
/// opened with indentation (inside a list item, say) closes at a line indented less.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Code {
    /// Stream offset up to which the state is read.
    at: usize,
    /// The open fence: its byte, length and indentation.
    fence: Option<(u8, usize, usize)>,
    /// A fence opened on this line, confirmed at its end unless a backtick follows it.
    pending: Option<(u8, usize, usize)>,
    /// Only spaces since the line started (and how many), so a fence may start here.
    line_start: bool,
    indent: usize,
    /// A run of one byte being counted: the byte, its length, whether it began a line.
    run: Option<(u8, usize, bool)>,
    /// The open inline span: the length of its backtick run.
    inline: Option<usize>,
    /// The previous byte was a backslash that escapes the next one.
    escaped: bool,
}

impl Code {
    /// Reads `buf` (whose first byte is at stream offset `base`) up to stream offset `to`;
    /// `folded(offset)` says whether the byte there stands for another character.
    fn advance(&mut self, buf: &[u8], base: usize, to: usize, folded: &dyn Fn(usize) -> bool) {
        self.advance_with::<true>(buf, base, to, folded)
    }

    /// [`Code::advance`]; `SKIP` false reads every byte (the reference the skip is tested
    /// against).
    fn advance_with<const SKIP: bool>(
        &mut self,
        buf: &[u8],
        base: usize,
        to: usize,
        folded: &dyn Fn(usize) -> bool,
    ) {
        // bytes dropped from the buffer before they were read cannot be read now
        self.at = self.at.max(base);
        while self.at < to {
            // between a run, a line start or a backslash and the next byte that can change the
            // state (a backtick, a tilde, a newline, a backslash) nothing changes: skip there
            if SKIP && self.run.is_none() && !self.line_start && !self.escaped {
                let hay = &buf[(self.at - base).min(buf.len())..(to - base).min(buf.len())];
                let next = memchr::memchr3(b'`', b'~', b'\n', hay).unwrap_or(hay.len());
                self.at += memchr::memchr(b'\\', &hay[..next]).unwrap_or(next);
                if self.at >= to {
                    break;
                }
            }
            let Some(&byte) = buf.get(self.at - base) else {
                break;
            };
            let at = self.at;
            self.at += 1;
            // a character folded to a delimiter is not one, nor is an escaped one
            // inside a code span or fence a backslash escapes nothing
            let escaping = self.inline.is_none() && self.fence.is_none();
            let c = if matches!(byte, b'`' | b'~') && (folded(at) || (self.escaped && escaping)) {
                b'x'
            } else {
                byte
            };
            self.escaped = escaping && c == b'\\' && !self.escaped;
            // a line indented less than a fence that opened indented leaves its container,
            // and the fence with it (whatever its first byte is)
            if self.line_start
                && !matches!(c, b' ' | b'\n' | b'\r')
                && self
                    .fence
                    .is_some_and(|(_, _, fi)| fi > 0 && self.indent < fi)
            {
                self.fence = None;
            }
            if let Some((b, n, starts)) = self.run {
                if c == b {
                    self.run = Some((b, n + 1, starts));
                    continue;
                }
                self.run = None;
                self.end_run(b, n, starts);
            }
            match c {
                b'`' | b'~' => {
                    if c == b'`' && self.pending.is_some() {
                        // a backtick in the info string: not a fence but a code span opener
                        if let Some((_, n, _)) = self.pending.take() {
                            self.inline = Some(n);
                        }
                    }
                    self.run = Some((c, 1, self.line_start && self.indent <= 3));
                }
                b'\n' => {
                    if let Some(p) = self.pending.take() {
                        self.fence = Some(p);
                    }
                    // a code span stays on its line
                    self.inline = None;
                    self.line_start = true;
                    self.indent = 0;
                    continue;
                }
                b' ' if self.line_start => {
                    self.indent += 1;
                    continue;
                }
                b'\r' => continue,
                _ => {}
            }
            self.line_start = false;
        }
        // a run ends where a different byte follows (the first byte of a hit, say)
        if let Some((b, n, starts)) = self.run
            && buf.get(self.at - base).is_some_and(|c| *c != b)
        {
            self.run = None;
            self.end_run(b, n, starts);
        }
    }

    /// A run of `n` bytes `b` ended (`starts`: at a line start).
    fn end_run(&mut self, b: u8, n: usize, starts: bool) {
        let indent = self.indent;
        self.line_start = false;
        match self.fence {
            Some((fb, fl, _)) if starts && b == fb && n >= fl => self.fence = None,
            Some(_) => {}
            None if starts && n >= 3 => {
                self.pending = Some((b, n, indent));
                self.inline = None;
            }
            None if b == b'`' => match self.inline {
                Some(k) if k == n => self.inline = None,
                Some(_) => {}
                None => self.inline = Some(n),
            },
            None => {}
        }
    }

    /// Whether stream offset `at` (read up to) is inside code: an open fence, or an open
    /// inline span whose closing run starts before stream offset `until` on the same line.
    /// A hit passes its end plus [`CONTEXT_AFTER`] as `until`: a stream always holds that much
    /// before it decides, so streams and whole buffers decide alike.
    fn inside(&self, buf: &[u8], base: usize, at: usize, until: usize) -> bool {
        if self.fence.is_some() {
            return true;
        }
        let Some(k) = self.inline else {
            return false;
        };
        let from = at.saturating_sub(base).min(buf.len());
        let to = until.saturating_sub(base).clamp(from, buf.len());
        let rest = &buf[from..to];
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'`' => {
                    let n = rest[i..].iter().take_while(|c| **c == b'`').count();
                    if n == k && (i == 0 || rest[i - 1] != b'\\') {
                        return true;
                    }
                    i += n;
                    continue;
                }
                b'\n' => return false,
                _ => {}
            }
            i += 1;
        }
        false
    }
}

/// One character the scan reads as an ASCII byte: where that byte is and what it stood for.
#[derive(Clone, Copy, Debug)]
struct Folded {
    /// Stream offset of the folded byte.
    at: usize,
    /// The original character's UTF-8 bytes (at most four).
    bytes: [u8; 4],
    len: u8,
}

impl Folded {
    fn new(at: usize, original: &[u8]) -> Folded {
        let mut bytes = [0; 4];
        let len = original.len().min(4);
        bytes[..len].copy_from_slice(&original[..len]);
        Folded {
            at,
            bytes,
            len: len as u8,
        }
    }
}

/// Appends `buf[from..to]` (offsets in `buf`, whose first byte is stream offset `base`) to
/// `out`, each folded byte put back as the character it stood for.
fn release(
    buf: &[u8],
    base: usize,
    folds: &VecDeque<Folded>,
    from: usize,
    to: usize,
    out: &mut Vec<u8>,
) {
    let mut cursor = from;
    let first = folds.partition_point(|f| f.at < base + from);
    for f in folds.range(first..) {
        let at = f.at - base;
        if at >= to {
            break;
        }
        out.extend_from_slice(&buf[cursor..at]);
        out.extend_from_slice(&f.bytes[..usize::from(f.len)]);
        cursor = at + 1;
    }
    out.extend_from_slice(&buf[cursor..to]);
}

thread_local! {
    /// The anchored DFA's cache, per thread and shared by every stream the thread scans: its
    /// states are the same for all of them, and building them again per stream would cost
    /// milliseconds. Keyed by the DFA's address (one per scanner).
    static PROBE_CACHE: std::cell::RefCell<Option<(usize, Cache)>> =
        const { std::cell::RefCell::new(None) };
}

/// The anchored DFA's walks over the stream.
#[derive(Debug)]
struct Probe {
    /// Stream offset of the first position not yet known to be settled (no match can still
    /// start there, or change its context).
    next: usize,
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
            probe: scanner.anchored_dfa().map(|_| Probe { next: 0 }),
            unsorted: Vec::new(),
            folds: VecDeque::new(),
            code: Code {
                line_start: true,
                ..Code::default()
            },
            answer: true,
        }
    }

    /// The same scanner for a stream that continues text already shown (a later block of an
    /// answer): its first bytes do not start a line, so they cannot open a code fence.
    pub fn mid_line(mut self) -> StreamScanner<'s> {
        self.code.line_start = false;
        self
    }

    /// The same scanner for a stream that is not an answer a client renders (a file being
    /// redacted): stream-only detectors (markup that matters only when rendered) do not act.
    pub fn not_an_answer(mut self) -> StreamScanner<'s> {
        self.answer = false;
        self
    }

    /// The most bytes held back while no long pattern is in progress.
    pub fn hold_back(&self) -> usize {
        self.hold
    }

    /// Bytes received but not yet released.
    pub fn pending(&self) -> usize {
        self.base + self.buf.len() - self.released + self.unsorted.len()
    }

    /// Feeds one chunk; appends to `out` the redacted bytes that are now final. Invisible
    /// characters between two printable ASCII characters are dropped, so they cannot split a
    /// value; Unicode digits and look-alikes are scanned as the ASCII they imitate
    /// ([`decode::unicode::fold_stream`]).
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let prev = self.buf.last().copied();
        let base = self.base;
        let folds = &mut self.folds;
        let mut note =
            |at: usize, original: &[u8]| folds.push_back(Folded::new(base + at, original));
        if self.unsorted.is_empty() {
            let used = decode::unicode::fold_stream(chunk, prev, &mut self.buf, &mut note);
            self.unsorted.extend_from_slice(&chunk[used..]);
        } else {
            self.unsorted.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.unsorted);
            let used = decode::unicode::fold_stream(&pending, prev, &mut self.buf, &mut note);
            self.unsorted.extend_from_slice(&pending[used..]);
        }
        let end = self.base + self.buf.len();
        // the fixed window is always safe; for small chunks (tokens of a streamed answer, where
        // latency matters) the walks usually allow more
        let mut limit = end.saturating_sub(self.hold);
        if chunk.len() < self.hold
            && let Some(unsettled) = self.first_unsettled(end)
        {
            limit = limit.max(unsettled.min(end.saturating_sub(CONTEXT_AFTER + 2)));
        }
        if limit > self.released {
            self.advance(limit, out);
        }
    }

    /// The first stream offset (at or after what was released) where a match could still
    /// start, or could still change because the context after it has not arrived; `None` when
    /// the DFA is not available or gave up (the fixed window applies).
    fn first_unsettled(&mut self, end: usize) -> Option<usize> {
        let dfa = self.scanner.anchored_dfa()?;
        let key = std::ptr::from_ref(dfa) as usize;
        PROBE_CACHE.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(k, _)| *k != key) {
                *slot = Some((key, dfa.create_cache()));
            }
            let (_, cache) = slot.as_mut().expect("set above");
            self.walk_from(dfa, cache, end)
        })
    }

    fn walk_from(
        &mut self,
        dfa: &regex_automata::hybrid::dfa::DFA,
        cache: &mut Cache,
        end: usize,
    ) -> Option<usize> {
        let probe = self.probe.as_mut()?;
        // what lies before the fixed window is final already
        let mut q = probe
            .next
            .max(self.released)
            .max(end.saturating_sub(self.hold));
        while q < end {
            let look_behind = q
                .checked_sub(1)
                .and_then(|p| p.checked_sub(self.base))
                .map(|i| self.buf[i]);
            let config = start::Config::new()
                .anchored(Anchored::Yes)
                .look_behind(look_behind);
            let Ok(mut state) = dfa.start_state(cache, &config) else {
                self.probe = None;
                return None;
            };
            // walk until the DFA dies or the input ends; matches show one byte late
            let mut last_match = None;
            let mut i = q;
            let alive = loop {
                if state.is_dead() {
                    break false;
                }
                if state.is_match() {
                    last_match = Some(i);
                }
                if i == end {
                    break true;
                }
                match dfa.next_state(cache, state, self.buf[i - self.base]) {
                    Ok(next) => state = next,
                    Err(_) => {
                        self.probe = None;
                        return None;
                    }
                }
                i += 1;
            };
            if alive || last_match.is_some_and(|e| e + CONTEXT_AFTER + 2 > end) {
                return Some(q);
            }
            q += 1;
            probe.next = q;
        }
        Some(end)
    }

    /// Ends the stream; appends the rest, redacted.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let rest = std::mem::take(&mut self.unsorted);
        self.buf.extend_from_slice(&rest);
        let end = self.base + self.buf.len();
        self.advance_to(end, false, out);
    }

    /// Findings so far, with spans in stream offsets of the scanned view (without the invisible
    /// characters dropped between ASCII characters, each folded character one byte).
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
            let det = self.scanner.detectors()[hit.detector];
            // markup that only matters when rendered is left alone inside markdown code
            if det.stream_only {
                if !self.answer {
                    continue;
                }
                let at = self.base + hit.span.start;
                let folds = &self.folds;
                self.code
                    .advance(&self.buf, self.base, at, &|p| is_folded(folds, p));
                let until = self.base + hit.span.end + CONTEXT_AFTER;
                if self.code.inside(&self.buf, self.base, at, until) {
                    continue;
                }
            }
            let value = &self.buf[hit.span.start..hit.span.end];
            // a finding policy keeps is released as it arrived (not in its folded form)
            let kept = self
                .redactor
                .strategy(det.class, det.id, hit.score)
                .is_none();
            if !kept {
                release(
                    &self.buf,
                    self.base,
                    &self.folds,
                    cursor,
                    hit.span.start,
                    out,
                );
                let before = out.len();
                self.redactor
                    .replace_scored(det.class, det.id, hit.score, value, out);
                separate(det.stream_only, before, out);
                cursor = hit.span.end;
            }
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
        }
        release(&self.buf, self.base, &self.folds, cursor, resume, out);
        // only answers are read as markdown
        if self.answer {
            let folds = &self.folds;
            self.code
                .advance(&self.buf, self.base, self.base + resume, &|p| {
                    is_folded(folds, p)
                });
        }
        self.released = self.base + resume;
        let drop = resume.saturating_sub(KEEP);
        if drop > 0 {
            self.buf.drain(..drop);
            self.base += drop;
            let base = self.base;
            while self.folds.front().is_some_and(|f| f.at < base) {
                self.folds.pop_front();
            }
        }
    }
}

/// Scans a whole buffer the way the streaming scanner does, on raw bytes only (invisible
/// characters between printable ASCII characters dropped, Unicode digits and look-alikes folded
/// to ASCII first), and writes it redacted: the reference the streaming scanner is tested
/// against. Spans are of the folded text.
pub fn redact_raw(
    scanner: &Scanner,
    text: &[u8],
    redactor: &mut Redactor,
    out: &mut Vec<u8>,
) -> Vec<Span> {
    let mut folded = Vec::with_capacity(text.len());
    let mut folds = VecDeque::new();
    let used = decode::unicode::fold_stream(text, None, &mut folded, |at, original| {
        folds.push_back(Folded::new(at, original));
    });
    folded.extend_from_slice(&text[used..]);
    let text = &folded[..];
    let mut hits = Vec::new();
    scanner.scan_raw(text, &mut hits);
    let mut code = Code {
        line_start: true,
        ..Code::default()
    };
    hits.retain(|hit| {
        if !scanner.detectors()[hit.detector].stream_only {
            return true;
        }
        code.advance(text, 0, hit.span.start, &|p| is_folded(&folds, p));
        !code.inside(text, 0, hit.span.start, hit.span.end + CONTEXT_AFTER)
    });
    let mut cursor = 0;
    for hit in &hits {
        let det = scanner.detectors()[hit.detector];
        if redactor.strategy(det.class, det.id, hit.score).is_none() {
            continue;
        }
        release(text, 0, &folds, cursor, hit.span.start, out);
        let value = &text[hit.span.start..hit.span.end];
        let before = out.len();
        redactor.replace_scored(det.class, det.id, hit.score, value, out);
        separate(det.stream_only, before, out);
        cursor = hit.span.end;
    }
    release(text, 0, &folds, cursor, text.len(), out);
    hits.iter().map(|h| h.span).collect()
}

/// Markup removed without a trace could join what was around it into new markup
/// (`<scr<script>ipt>` loses `<script>` and reads `<script>`), and a space would start a new
/// attribute (`<svg<script>onload=…>` would read `<svg onload=…>`): a removed stream-only
/// finding leaves one `_`, which neither ends a name nor starts one.
fn separate(stream_only: bool, before: usize, out: &mut Vec<u8>) {
    if stream_only && out.len() == before {
        out.push(b'_');
    }
}

/// Whether the byte at stream offset `at` stands for a folded character.
fn is_folded(folds: &VecDeque<Folded>, at: usize) -> bool {
    folds.binary_search_by_key(&at, |f| f.at).is_ok()
}

#[cfg(test)]
mod tests {
    use super::Code;

    /// Markdown-ish texts: fences, spans, escapes, indentation, line ends and plain words.
    fn texts() -> Vec<Vec<u8>> {
        let pieces: [&[u8]; 16] = [
            b"`",
            b"``",
            b"```",
            b"~~~",
            b"\n",
            b"\r\n",
            b"\\",
            b" ",
            b"    ",
            b"a",
            b"word ",
            b"<script>",
            b"x`y",
            b"\\`",
            b"~",
            b"```js\n",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = Vec::new();
        for len in 0..400 {
            let mut t = Vec::new();
            for _ in 0..len % 80 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                t.extend_from_slice(pieces[(state % pieces.len() as u64) as usize]);
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn skipping_quiet_bytes_reads_markdown_as_reading_every_byte_does() {
        let folded = |p: usize| p % 97 == 13;
        for t in texts() {
            let start = Code {
                line_start: true,
                ..Code::default()
            };
            let (mut fast, mut slow) = (start.clone(), start);
            // stopping anywhere (as hits and scan steps do) leaves the same state
            let mut to = 0;
            while to < t.len() {
                to = (to + 1 + to % 7).min(t.len());
                fast.advance_with::<true>(&t, 0, to, &folded);
                slow.advance_with::<false>(&t, 0, to, &folded);
                assert_eq!(fast, slow, "{:?} up to {to}", String::from_utf8_lossy(&t));
            }
        }
    }
}
