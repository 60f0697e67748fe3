//! Runs of token bytes: the cheap first look at a buffer that tells the scanner where a key can
//! be at all.
//!
//! Almost every key format has a long body of letters, digits and a few punctuation bytes
//! (`sk-proj-…`, 40 hex digits, base64). [`min_longest_run`] proves, from a detector's pattern
//! alone, that every match contains a run of at least so many bytes of a [`TokenClass`]; a
//! detector whose bound reaches [`MIN_RUN`] can then only match near such a run, and
//! [`long_runs`] finds those runs at several gigabytes per second (64 bytes at a time, as bit
//! masks). Ordinary prose has few runs that long, so most of it is never searched for the
//! hundreds of vendor prefixes and keywords at all.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Runs shorter than this do not open a window; detectors whose matches may hold only shorter
/// runs keep their plain literal gate.
pub const MIN_RUN: usize = 16;

/// The byte classes runs are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenClass {
    /// `[A-Za-z0-9_-]`: identifiers, hex, base64url.
    Word,
    /// `[A-Za-z0-9_+/=.~-]`: `Word` plus base64 and dotted-token punctuation.
    Base64,
    /// `[A-Za-z0-9+/_-]`: the standard and URL-safe base64 alphabets without padding, for
    /// finding encoded blobs.
    Blob,
}

impl TokenClass {
    /// Both classes, narrowest first: a detector is gated by the first one its bound reaches
    /// [`MIN_RUN`] with (narrow classes make fewer, shorter runs in ordinary text).
    pub const ALL: [TokenClass; 3] = [TokenClass::Word, TokenClass::Base64, TokenClass::Blob];

    /// Whether `b` belongs to the class.
    pub fn contains(self, b: u8) -> bool {
        let word = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        match self {
            TokenClass::Word => word,
            TokenClass::Base64 => word || matches!(b, b'+' | b'/' | b'=' | b'.' | b'~'),
            TokenClass::Blob => word || matches!(b, b'+' | b'/'),
        }
    }
}

/// Lower bounds on the token runs of every string a pattern matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Runs {
    /// Every string consists of class bytes only (then all bounds equal its minimum length).
    full: bool,
    /// Shortest run at the start.
    pre: usize,
    /// Shortest run at the end.
    suf: usize,
    /// Shortest longest run anywhere.
    best: usize,
}

impl Runs {
    fn full(len: usize) -> Runs {
        Runs {
            full: true,
            pre: len,
            suf: len,
            best: len,
        }
    }

    const NONE: Runs = Runs {
        full: false,
        pre: 0,
        suf: 0,
        best: 0,
    };

    fn then(self, next: Runs) -> Runs {
        if self.full && next.full {
            return Runs::full(self.best + next.best);
        }
        Runs {
            full: false,
            pre: if self.full {
                self.best + next.pre
            } else {
                self.pre
            },
            suf: if next.full {
                next.best + self.suf
            } else {
                next.suf
            },
            best: self.best.max(next.best).max(self.suf + next.pre),
        }
    }

    fn or(self, other: Runs) -> Runs {
        Runs {
            full: self.full && other.full,
            pre: self.pre.min(other.pre),
            suf: self.suf.min(other.suf),
            best: self.best.min(other.best),
        }
    }
}

/// A lower bound on the longest run of `class` bytes in any string `hir` matches: every match
/// contains at least this many consecutive class bytes. Zero-width assertions count as empty.
pub fn min_longest_run(hir: &Hir, class: TokenClass) -> usize {
    runs(hir, class).best
}

/// How far into a match, at most, the first run of `min`+ class bytes starts, for a pattern
/// whose every match holds one ([`min_longest_run`] ≥ `min`); `None` otherwise. A match then
/// starts at most this many bytes before the maximal run of the text that holds its run.
pub fn max_run_lead(hir: &Hir, class: TokenClass, min: usize) -> Option<usize> {
    let r = runs(hir, class);
    if r.best < min {
        return None;
    }
    if r.full {
        // class bytes only: the run starts with the match
        return Some(0);
    }
    // anywhere in the match: the run ends by the match's end
    let fallback = hir.properties().maximum_len()?.checked_sub(min)?;
    let lead = match hir.kind() {
        HirKind::Capture(cap) => max_run_lead(&cap.sub, class, min),
        HirKind::Literal(lit) => {
            let mut run = 0;
            lit.0.iter().enumerate().find_map(|(i, &b)| {
                run = if class.contains(b) { run + 1 } else { 0 };
                (run >= min).then(|| i + 1 - min)
            })
        }
        HirKind::Alternation(subs) => subs
            .iter()
            .map(|h| max_run_lead(h, class, min))
            .try_fold(0, |acc, l| l.map(|l| acc.max(l))),
        HirKind::Repetition(rep) if rep.min >= 1 && runs(&rep.sub, class).best >= min => {
            max_run_lead(&rep.sub, class, min)
        }
        HirKind::Concat(subs) => {
            // the first part that holds a run by itself; the parts before it at their longest
            let mut before = 0;
            let mut found = None;
            for h in subs {
                if runs(h, class).best >= min {
                    found = max_run_lead(h, class, min).map(|l| before + l);
                    break;
                }
                match h.properties().maximum_len() {
                    Some(n) => before += n,
                    None => break,
                }
            }
            found
        }
        _ => None,
    };
    Some(lead.map_or(fallback, |l| l.min(fallback)))
}

fn runs(hir: &Hir, class: TokenClass) -> Runs {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Runs::full(0),
        HirKind::Literal(lit) => {
            let bytes = &lit.0;
            let mut out = Runs {
                full: true,
                pre: 0,
                suf: 0,
                best: 0,
            };
            let mut run = 0;
            for (i, &b) in bytes.iter().enumerate() {
                if class.contains(b) {
                    run += 1;
                    if out.full {
                        out.pre = i + 1;
                    }
                } else {
                    out.full = false;
                    run = 0;
                }
                out.best = out.best.max(run);
            }
            out.suf = run;
            if out.full {
                Runs::full(bytes.len())
            } else {
                out
            }
        }
        HirKind::Class(c) => {
            let all_in = match c {
                Class::Bytes(set) => set
                    .iter()
                    .all(|r| (r.start()..=r.end()).all(|b| class.contains(b))),
                Class::Unicode(set) => set.iter().all(|r| {
                    (r.start()..=r.end())
                        .all(|ch| u8::try_from(ch).is_ok_and(|b| class.contains(b)))
                }),
            };
            if all_in { Runs::full(1) } else { Runs::NONE }
        }
        HirKind::Capture(cap) => runs(&cap.sub, class),
        HirKind::Concat(subs) => subs
            .iter()
            .map(|h| runs(h, class))
            .reduce(Runs::then)
            .unwrap_or(Runs::full(0)),
        HirKind::Alternation(subs) => subs
            .iter()
            .map(|h| runs(h, class))
            .reduce(Runs::or)
            .unwrap_or(Runs::full(0)),
        HirKind::Repetition(rep) => {
            let sub = runs(&rep.sub, class);
            let min = rep.min as usize;
            if min == 0 {
                // the empty string is among the matches
                Runs {
                    full: sub.full,
                    ..Runs::full(0)
                }
            } else if sub.full {
                Runs::full(min * sub.best)
            } else {
                Runs {
                    full: false,
                    pre: sub.pre,
                    suf: sub.suf,
                    best: if min >= 2 {
                        sub.best.max(sub.suf + sub.pre)
                    } else {
                        sub.best
                    },
                }
            }
        }
    }
}

/// Where the first byte of a set can be in the strings a pattern matches.
#[derive(Clone, Copy, Debug)]
struct First {
    /// Largest offset of the first set byte, over strings that hold one.
    at: Option<usize>,
    /// Longest string without a set byte, if there is one.
    without: Option<usize>,
}

/// The largest offset, over every string `hir` matches, of its first byte from `set`; `None`
/// when some match holds none (or the pattern is unbounded). A detector whose keyword is always
/// followed by `=` or `:` soon can then only match shortly before one.
pub fn max_first_offset(hir: &Hir, set: &[u8]) -> Option<usize> {
    let f = first(hir, set)?;
    if f.without.is_some() { None } else { f.at }
}

fn first(hir: &Hir, set: &[u8]) -> Option<First> {
    let concat = |a: First, b: First| First {
        at: match (a.at, a.without.zip(b.at).map(|(w, x)| w + x)) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        },
        without: a.without.zip(b.without).map(|(x, y)| x + y),
    };
    let max = |x: Option<usize>, y: Option<usize>| match (x, y) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    Some(match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => First {
            at: None,
            without: Some(0),
        },
        HirKind::Literal(lit) => match lit.0.iter().position(|b| set.contains(b)) {
            Some(i) => First {
                at: Some(i),
                without: None,
            },
            None => First {
                at: None,
                without: Some(lit.0.len()),
            },
        },
        HirKind::Class(c) => {
            let (mut any_in, mut any_out) = (false, false);
            let mut note = |b: u32| {
                if u8::try_from(b).is_ok_and(|b| set.contains(&b)) {
                    any_in = true;
                } else {
                    any_out = true;
                }
            };
            match c {
                Class::Bytes(s) => s
                    .iter()
                    .for_each(|r| (r.start()..=r.end()).for_each(|b| note(b.into()))),
                Class::Unicode(s) => s.iter().for_each(|r| {
                    (u32::from(r.start())..=u32::from(r.end()).min(0x100)).for_each(&mut note)
                }),
            }
            First {
                at: any_in.then_some(0),
                without: any_out.then_some(1),
            }
        }
        HirKind::Capture(cap) => first(&cap.sub, set)?,
        HirKind::Concat(subs) => {
            let mut acc = First {
                at: None,
                without: Some(0),
            };
            for h in subs {
                // once every string holds a set byte, what follows does not matter
                if acc.without.is_none() {
                    break;
                }
                acc = concat(acc, first(h, set)?);
            }
            acc
        }
        HirKind::Alternation(subs) => {
            let mut acc: Option<First> = None;
            for h in subs {
                let f = first(h, set)?;
                acc = Some(match acc {
                    None => f,
                    Some(a) => First {
                        at: max(a.at, f.at),
                        without: max(a.without, f.without),
                    },
                });
            }
            acc?
        }
        HirKind::Repetition(rep) => {
            let sub = first(&rep.sub, set)?;
            let max_reps = rep.max? as usize;
            // n copies for n in min..=max: concatenate step by step, keeping every length
            let mut acc = First {
                at: None,
                without: Some(0),
            };
            let mut out: Option<First> = None;
            for n in 0..=max_reps {
                if n >= rep.min as usize {
                    out = Some(match out {
                        None => acc,
                        Some(o) => First {
                            at: max(o.at, acc.at),
                            without: max(o.without, acc.without),
                        },
                    });
                }
                if n < max_reps {
                    acc = concat(acc, sub);
                    // once every string holds a set byte, more copies change nothing
                    if acc.without.is_none() && n + 1 >= rep.min as usize {
                        out = Some(match out {
                            None => acc,
                            Some(o) => First {
                                at: max(o.at, acc.at),
                                without: max(o.without, acc.without),
                            },
                        });
                        break;
                    }
                }
            }
            out?
        }
    })
}

/// Packs 64 bytes of 0/1 into a bit mask (bit i from byte i).
#[inline(always)]
fn pack(v: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (k, eight) in v.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
        m |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (k * 8);
    }
    m
}

/// The class mask of 64 bytes: bit i set when byte i is in the class. Written so the compiler
/// vectorizes it.
#[inline(always)]
fn class_mask<const C: u8>(chunk: &[u8; 64]) -> u64 {
    let mut v = [0u8; 64];
    for (o, &b) in v.iter_mut().zip(chunk) {
        let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
        let under = b == b'_';
        // `+ , - . /` and the digits are 0x2b..=0x39
        let low = b.wrapping_sub(b'+') < 15;
        let inside = match C {
            WORD => alpha | under | (b == b'-') | b.is_ascii_digit(),
            BASE64 => alpha | under | (low & (b != b',')) | (b == b'=') | (b == b'~'),
            _ => alpha | under | (low & (b != b',') & (b != b'.')),
        };
        *o = u8::from(inside);
    }
    pack(&v)
}

/// The maximal runs of `class` bytes in `hay` that are at least `min` bytes long, as
/// `(start, end)` pairs in order. `min` must be at least 1.
pub fn long_runs(hay: &[u8], class: TokenClass, min: usize, out: &mut Vec<(usize, usize)>) {
    match class {
        TokenClass::Word => runs_of::<WORD>(hay, min, out),
        TokenClass::Base64 => runs_of::<BASE64>(hay, min, out),
        TokenClass::Blob => runs_of::<BLOB>(hay, min, out),
    }
}

const WORD: u8 = 0;
const BASE64: u8 = 1;
const BLOB: u8 = 2;

/// [`long_runs`] for one class, so the class test is compiled into the loop.
fn runs_of<const C: u8>(hay: &[u8], min: usize, out: &mut Vec<(usize, usize)>) {
    debug_assert!(min >= 1);
    let class = match C {
        WORD => TokenClass::Word,
        BASE64 => TokenClass::Base64,
        _ => TokenClass::Blob,
    };
    let mut close = |start: usize, end: usize| {
        if end - start >= min {
            out.push((start, end));
        }
    };
    // where the run in progress at the current chunk's start began
    let mut open: Option<usize> = None;
    let chunks = hay.chunks_exact(64);
    let tail = chunks.remainder();
    for (k, chunk) in chunks.enumerate() {
        let base = k * 64;
        let mut m = class_mask::<C>(chunk.try_into().expect("64 bytes"));
        if let Some(start) = open {
            let ones = m.trailing_ones() as usize;
            if ones == 64 {
                continue;
            }
            close(start, base + ones);
            open = None;
            m &= !((1u64 << ones) - 1);
        }
        // most chunks of ordinary text: no run long enough inside; a run reaching the end
        // stays open into the next chunk
        let tail_len = m.leading_ones() as usize;
        if tail_len == 64 {
            open = Some(base);
            continue;
        }
        let inner = if tail_len == 0 {
            m
        } else {
            m & (u64::MAX >> tail_len)
        };
        if min > 64 || !has_run(inner, min) {
            if tail_len > 0 {
                open = Some(base + 64 - tail_len);
            }
            continue;
        }
        while m != 0 {
            let s = m.trailing_zeros() as usize;
            let e = s + (m >> s).trailing_ones() as usize;
            if e == 64 {
                open = Some(base + s);
                break;
            }
            close(base + s, base + e);
            m &= !((1u64 << e) - 1);
        }
    }
    let base = hay.len() - tail.len();
    for (i, &b) in tail.iter().enumerate() {
        if class.contains(b) {
            open.get_or_insert(base + i);
        } else if let Some(start) = open.take() {
            close(start, base + i);
        }
    }
    if let Some(start) = open {
        close(start, hay.len());
    }
}

/// The first ASCII digit in `hay[from..end]`, or `end`: 64 bytes at a time, for text where
/// digits are rare.
pub fn next_digit(hay: &[u8], from: usize, end: usize) -> usize {
    let mut i = from;
    while i + 64 <= end {
        let chunk: &[u8; 64] = hay[i..i + 64].try_into().expect("64 bytes");
        let mut v = [0u8; 64];
        for (o, &b) in v.iter_mut().zip(chunk) {
            *o = u8::from(b.wrapping_sub(b'0') < 10);
        }
        let m = pack(&v);
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 64;
    }
    hay[i..end]
        .iter()
        .position(u8::is_ascii_digit)
        .map_or(end, |p| i + p)
}

/// Whether the mask holds `n` (1..=64) consecutive set bits.
#[inline(always)]
fn has_run(mut m: u64, n: usize) -> bool {
    if n == MIN_RUN {
        // the common case, unrolled: runs of 2, 4, 8, 16
        m &= m >> 1;
        m &= m >> 2;
        m &= m >> 4;
        return m & (m >> 8) != 0;
    }
    let mut have = 1;
    while have < n && m != 0 {
        let step = have.min(n - have);
        m &= m >> step;
        have += step;
    }
    m != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(hay: &[u8], class: TokenClass, min: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < hay.len() {
            if class.contains(hay[i]) {
                let s = i;
                while i < hay.len() && class.contains(hay[i]) {
                    i += 1;
                }
                if i - s >= min {
                    out.push((s, i));
                }
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn long_runs_match_a_plain_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let len = (next() % 700) as usize;
            // runs of varied lengths: mostly token bytes, some spaces and punctuation
            let spread = 2 + round % 90;
            let hay: Vec<u8> = (0..len)
                .map(|_| match next() % spread as u64 {
                    0 => b' ',
                    1 => b'/',
                    _ => b"aZ9_-+=.~q"[(next() % 10) as usize],
                })
                .collect();
            for class in TokenClass::ALL {
                for min in [1, 2, 7, 16, 63, 64, 65, 130] {
                    let mut got = Vec::new();
                    long_runs(&hay, class, min, &mut got);
                    assert_eq!(got, naive(&hay, class, min), "min {min} {class:?} {hay:?}");
                }
            }
        }
    }

    #[test]
    fn next_digit_finds_the_first_digit() {
        let mut hay = vec![b'a'; 300];
        assert_eq!(next_digit(&hay, 0, 300), 300);
        for at in [0, 5, 63, 64, 65, 127, 128, 200, 299] {
            hay[at] = b'7';
            for from in [0, 1, 60, 64, 130] {
                let want = (from..300)
                    .find(|&i| hay[i].is_ascii_digit())
                    .unwrap_or(300);
                assert_eq!(next_digit(&hay, from, 300), want, "from {from} at {at}");
                assert_eq!(
                    next_digit(&hay, from, 250.max(from)),
                    want.min(250.max(from))
                );
            }
            hay[at] = b'a';
        }
    }

    #[test]
    fn pack_puts_byte_i_at_bit_i() {
        for i in 0..64 {
            let mut v = [0u8; 64];
            v[i] = 1;
            assert_eq!(pack(&v), 1u64 << i);
        }
        assert_eq!(pack(&[1; 64]), u64::MAX);
    }

    fn parse(pattern: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap()
    }

    fn bound(pattern: &str, class: TokenClass) -> usize {
        let hir = parse(pattern);
        min_longest_run(&hir, class)
    }

    #[test]
    fn bounds_of_typical_patterns() {
        use TokenClass::*;
        assert_eq!(bound(r"\bghp_[A-Za-z0-9]{36}\b", Word), 40);
        assert_eq!(bound(r"sk-(?:proj-)?[A-Za-z0-9]{20}", Word), 23);
        assert_eq!(bound(r"[a-z]{3}[+/][a-z]{4}", Word), 4);
        assert_eq!(bound(r"[a-z]{3}[+/][a-z]{4}", Base64), 8);
        assert_eq!(bound(r"key\s*=\s*[a-f0-9]{32}", Word), 32);
        assert_eq!(bound(r"(?:ab|abcdef)[0-9]{0,5}", Word), 2);
        assert_eq!(bound(r"(?:[a-z]{4}\.){2,3}", Word), 4);
        assert_eq!(bound(r"(?:[a-z]{4}\.){2,3}", Base64), 10);
        assert_eq!(bound(r"x{0,9}", Word), 0);
        assert_eq!(bound(r"user:[^@]{1,20}@host", Word), 4);
    }

    fn first_at(pattern: &str) -> Option<usize> {
        let hir = parse(pattern);
        max_first_offset(&hir, b":=")
    }

    fn lead(pattern: &str) -> Option<usize> {
        let hir = parse(pattern);
        max_run_lead(&hir, TokenClass::Word, 16)
    }

    #[test]
    fn run_leads_of_typical_patterns() {
        assert_eq!(
            lead(r"\b(?P<v>sk_(?:live|prod)_[A-Za-z0-9]{20,247})(?:[^A-Za-z0-9_-]|$)"),
            Some(0)
        );
        assert_eq!(
            lead(r"(?i:twilio)[ \t]{0,3}[=:][ \t]{0,3}(?P<v>[a-f0-9]{32})"),
            Some(13)
        );
        assert_eq!(lead(r"[a-z]{8}\.[a-z]{8}"), None);
        // no single part holds the run: the bound falls back to the longest match minus the run
        assert_eq!(lead(r"[ ]{0,9}[a-z]{10}[0-9]{10}"), Some(13));
        assert_eq!(lead(r"abcdefghijklmnopq"), Some(0));
        assert_eq!(lead(r"(?:..abcdefghijklmnopqr|[a-z]{16})"), Some(2));
    }

    #[test]
    fn first_offsets_of_typical_patterns() {
        assert_eq!(first_at(r"(?i:pwd|password)[ \t]{0,3}[:=]x"), Some(11));
        assert_eq!(first_at(r"key=\w+"), Some(3));
        assert_eq!(first_at(r"a{2,5}:b"), Some(5));
        assert_eq!(first_at(r"(?:ab:){0,3}c"), None);
        assert_eq!(first_at(r"(?:ab:){1,3}c"), Some(2));
        assert_eq!(first_at(r"[a-z:]{1,4}="), Some(4));
        assert_eq!(first_at(r"x+:"), None);
    }
}
