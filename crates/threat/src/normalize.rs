//! Text normalization before classification: the classifier and the structural signals read
//! one canonical form, so that disguises (capitals, homoglyphs, full-width and mathematical
//! letters, leetspeak, invisible characters) do not change what they see.
//!
//! The normalized text keeps a map back to the original bytes, so evidence spans point into
//! what the caller sent.

/// The canonical form of a text, with offsets back into the original.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// Lowercase, folded, single-spaced text.
    pub text: String,
    /// For every byte of `text`, the offset of the original byte it came from.
    pub origin: Vec<u32>,
    /// Characters that were invisible (zero-width, bidi controls, tag characters).
    pub invisible: u32,
    /// Letters that were folded from another script's look-alike or from a styled alphabet.
    pub confusable: u32,
    /// Words that were folded from leetspeak (`1gn0r3` -> `ignore`).
    pub leet: u32,
    /// Words mixing Latin letters with look-alikes from another script.
    pub mixed_script_words: u32,
}

impl Normalized {
    /// The span of the original text that `start..end` of the normalized text came from.
    pub fn original(&self, start: usize, end: usize, original_len: usize) -> (usize, usize) {
        let s = self
            .origin
            .get(start)
            .copied()
            .unwrap_or(original_len as u32) as usize;
        let e = if end == 0 {
            s
        } else {
            match self.origin.get(end) {
                Some(&o) => o as usize,
                None => original_len,
            }
        };
        (s.min(original_len), e.max(s).min(original_len))
    }
}

/// What an invisible or formatting character is, if it is one.
pub fn invisible_kind(c: char) -> Option<Invisible> {
    Some(match c {
        '\u{E0000}'..='\u{E007F}' => Invisible::Tag,
        '\u{200B}'
        | '\u{200C}'
        | '\u{200D}'
        | '\u{2060}'
        | '\u{FEFF}'
        | '\u{180E}'
        | '\u{2061}'..='\u{2064}'
        | '\u{00AD}'
        | '\u{034F}' => Invisible::ZeroWidth,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => Invisible::Bidi,
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => Invisible::Variation,
        _ => return None,
    })
}

/// The kinds of invisible characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invisible {
    /// Unicode tag characters (U+E0000..U+E007F): each mirrors an ASCII character, so they can
    /// carry a whole hidden instruction.
    Tag,
    /// Zero-width spaces, joiners, word joiners, soft hyphens, invisible operators.
    ZeroWidth,
    /// Bidirectional controls that reorder what a reader sees.
    Bidi,
    /// Variation selectors (can smuggle bytes, one per selector).
    Variation,
}

pub use rampart_detect::confusable::confusable;

/// True for letters of the scripts whose look-alikes [`confusable`] folds (Cyrillic, Greek).
fn foreign_lookalike_script(c: char) -> bool {
    matches!(c as u32, 0x0370..=0x052F)
}

/// The letter a leetspeak symbol stands for.
fn leet(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' | b'@' => b'a',
        b'5' | b'$' => b's',
        b'7' => b't',
        b'8' => b'b',
        b'9' => b'g',
        _ => return None,
    })
}

/// Normalizes `input` into `out` (reused between calls).
///
/// - Invisible characters are dropped; Unicode tag characters are counted as invisible and also
///   dropped (their hidden ASCII is read by [`crate::hidden`]).
/// - Look-alike letters of other scripts and styled alphabets become ASCII letters.
/// - Everything is lowercased; every run of whitespace becomes one space.
/// - A word that mixes letters and leetspeak symbols between letters (`1gn0r3`, `pr0mpt`) is
///   folded to letters.
pub fn normalize(input: &str, out: &mut Normalized) {
    out.text.clear();
    out.origin.clear();
    out.invisible = 0;
    out.confusable = 0;
    out.leet = 0;
    out.mixed_script_words = 0;
    out.text.reserve(input.len());
    out.origin.reserve(input.len());
    let mut word = Word::default();
    for (i, c) in input.char_indices() {
        let blank = if c.is_ascii() {
            c.is_ascii_whitespace() || c.is_ascii_control()
        } else if invisible_kind(c).is_some() {
            out.invisible += 1;
            continue;
        } else {
            c.is_whitespace()
        };
        if blank {
            word.end(out, Some(i as u32));
            continue;
        }
        word.begin(out);
        if c.is_ascii() {
            word.latin |= c.is_ascii_alphabetic();
            out.text.push(c.to_ascii_lowercase());
            out.origin.push(i as u32);
            continue;
        }
        if let Some(a) = confusable(c) {
            out.confusable += 1;
            if foreign_lookalike_script(c) {
                word.lookalike = true;
            } else {
                word.latin = true;
            }
            out.text.push(a);
            out.origin.push(i as u32);
            continue;
        }
        if c.is_alphabetic() && foreign_lookalike_script(c) {
            word.foreign = true;
        }
        let start = out.text.len();
        for l in c.to_lowercase() {
            out.text.push(l);
        }
        for _ in start..out.text.len() {
            out.origin.push(i as u32);
        }
    }
    word.end(out, None);
    if out.text.ends_with(' ') {
        out.text.pop();
        out.origin.pop();
    }
}

/// The word being normalized: where it starts in the output and which scripts its letters
/// came from.
#[derive(Default)]
struct Word {
    open: bool,
    start: usize,
    latin: bool,
    lookalike: bool,
    foreign: bool,
}

impl Word {
    /// Starts a word at the end of the output, unless one is open.
    fn begin(&mut self, out: &Normalized) {
        if !self.open {
            *self = Word {
                open: true,
                start: out.text.len(),
                ..Word::default()
            };
        }
    }

    /// Ends the open word (counting a mixed-script word, folding leetspeak) and, for white space
    /// at `space`, writes one space.
    fn end(&mut self, out: &mut Normalized, space: Option<u32>) {
        if !self.open {
            return;
        }
        if self.latin && self.lookalike && !self.foreign {
            out.mixed_script_words += 1;
        }
        fold_leet(out, self.start);
        if let Some(i) = space {
            out.text.push(' ');
            out.origin.push(i);
        }
        self.open = false;
    }
}

/// Folds the word `out.text[start..]` from leetspeak when symbols sit between letters
/// (`h4ck3r`, `1gn0re`); pure numbers and ordinary words are left alone.
fn fold_leet(out: &mut Normalized, start: usize) {
    let token = &out.text.as_bytes()[start..];
    // most words hold no digit, `@` or `$`: nothing to fold
    if !token
        .iter()
        .any(|b| b.is_ascii_digit() || matches!(b, b'@' | b'$'))
    {
        return;
    }
    // trailing punctuation (`hello!`, `p4ss.`) is not part of the word
    let word_len = token.len()
        - token
            .iter()
            .rev()
            .take_while(|b| {
                matches!(
                    b,
                    b'.' | b',' | b'!' | b'?' | b';' | b':' | b'"' | b'\'' | b')'
                )
            })
            .count();
    let word = &token[..word_len];
    if word.len() < 3
        || word.len() > 24
        || !word
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'@' | b'$'))
    {
        return;
    }
    let letters = word.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters < 2 || letters * 2 < word.len() {
        return;
    }
    // a symbol counts when a letter is next to it
    let symbols = word
        .iter()
        .enumerate()
        .filter(|&(k, &b)| {
            leet(b).is_some()
                && (k > 0 && word[k - 1].is_ascii_alphabetic()
                    || k + 1 < word.len() && word[k + 1].is_ascii_alphabetic())
        })
        .count();
    if symbols == 0 {
        return;
    }
    let folded: Vec<u8> = word.iter().map(|&b| leet(b).unwrap_or(b)).collect();
    let at = start;
    // same length, ASCII for ASCII: the offsets map stays valid
    out.text.replace_range(
        at..at + word_len,
        std::str::from_utf8(&folded).unwrap_or_default(),
    );
    out.leet += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Normalized {
        let mut n = Normalized::default();
        normalize(s, &mut n);
        n
    }

    #[test]
    fn lowercases_and_collapses_space() {
        let n = norm("  Ignore   ALL\tprevious\n\ninstructions ");
        assert_eq!(n.text, "ignore all previous instructions");
        assert_eq!(n.origin.len(), n.text.len());
    }

    #[test]
    fn folds_homoglyphs_and_counts_mixed_words() {
        // Cyrillic о and е inside Latin words
        let n = norm("Ign\u{043E}r\u{0435} previous");
        assert_eq!(n.text, "ignore previous");
        assert_eq!(n.confusable, 2);
        assert_eq!(n.mixed_script_words, 1);
        // real Russian is not a mixed word
        let n = norm("привет мир");
        assert_eq!(n.mixed_script_words, 0);
    }

    #[test]
    fn folds_styled_alphabets() {
        // mathematical bold "IGNORE" and full-width "ALL"
        let n = norm("\u{1D408}\u{1D406}\u{1D40D}\u{1D40E}\u{1D411}\u{1D404} ＡＬＬ");
        assert_eq!(n.text, "ignore all");
    }

    #[test]
    fn folds_leetspeak_but_not_numbers() {
        let n = norm("1gn0r3 4ll pr3v10us instructions, version 2024 costs $5 hello!");
        assert!(
            n.text.starts_with("ignore all previous instructions"),
            "{}",
            n.text
        );
        assert!(n.text.contains("2024"));
        assert!(n.text.contains("$5"));
        assert!(n.text.ends_with("hello!"));
    }

    #[test]
    fn drops_invisible_characters_and_maps_offsets_back() {
        let s = "ig\u{200B}nore the\u{202E} rules";
        let n = norm(s);
        assert_eq!(n.text, "ignore the rules");
        assert_eq!(n.invisible, 2);
        let at = n.text.find("rules").unwrap();
        let (a, b) = n.original(at, at + 5, s.len());
        assert_eq!(&s[a..b], "rules");
    }
}
