//! `rampart_detect::decode::json` against serde_json, on documents built from the fuzzer's
//! bytes: escapes of every kind, surrogate pairs and lone surrogates, raw multi-byte UTF-8,
//! duplicate keys, odd white space, and now and then a byte-order mark, `NaN` or a stray byte.
//!
//! The decoder exists so that the scanner reads what the receiver of a JSON body reads. So for
//! every object or array serde_json accepts:
//! - the decoder accepts it too (else the scanner would read the raw, still escaped bytes);
//! - every string serde_json reads, keys and duplicate keys included, stands in the decoder's
//!   view (the input itself when it has no escape), in document order;
//! - the decoder records one number token per number serde_json reads, each inside the input
//!   and made of number bytes (a redacted number is written back as a string at those spans);
//! - every decoded span maps back inside the input.
#![no_main]

use std::fmt;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rampart_core::Span;
use rampart_detect::decode::json;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What serde_json reads of a document: its strings in order, and how many numbers.
#[derive(Default)]
struct Read {
    strings: Vec<String>,
    numbers: usize,
}

impl<'de> DeserializeSeed<'de> for &mut Read {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Read {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        self.numbers += 1;
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        self.numbers += 1;
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        self.numbers += 1;
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> std::result::Result<(), E> {
        self.strings.push(s.to_owned());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }

    // keys are read as strings too, so duplicate keys and their values are all seen
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while map.next_key_seed(&mut *self)?.is_some() {
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
}

/// Reads `input` as serde_json does; `None` when serde_json rejects it.
fn serde_read(input: &[u8]) -> Option<Read> {
    let mut read = Read::default();
    let mut de = serde_json::Deserializer::from_slice(input);
    (&mut read).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(read)
}

/// Writes a JSON-ish document from the fuzzer's bytes into `out`.
struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    out: Vec<u8>,
    keys: Vec<Vec<u8>>,
}

impl Gen<'_, '_> {
    fn ws(&mut self) -> Result<()> {
        for _ in 0..self.u.int_in_range(0..=2)? {
            let b = *self.u.choose(&[b' ', b'\t', b'\n', b'\r'])?;
            self.out.push(b);
        }
        Ok(())
    }

    fn value(&mut self, depth: u8) -> Result<()> {
        self.ws()?;
        let kinds = if depth == 0 { 6 } else { 8 };
        match self.u.choose_index(kinds)? {
            0 => self.string(),
            1 => self.number(),
            2 => {
                let lit = *self.u.choose(&[&b"true"[..], b"false", b"null"])?;
                self.out.extend_from_slice(lit);
                Ok(())
            }
            3 => {
                // not JSON, but what some encoders write
                let bad = *self
                    .u
                    .choose(&[&b"NaN"[..], b"Infinity", b"-Infinity", b"nul"])?;
                self.out.extend_from_slice(bad);
                Ok(())
            }
            4 => self.string(),
            5 => {
                let b = self.u.arbitrary::<u8>()?;
                self.out.push(b);
                Ok(())
            }
            6 => self.object(depth - 1),
            _ => self.array(depth - 1),
        }?;
        self.ws()
    }

    fn object(&mut self, depth: u8) -> Result<()> {
        self.out.push(b'{');
        let n = self.u.int_in_range(0..=4)?;
        for i in 0..n {
            if i > 0 {
                self.out.push(b',');
            }
            self.ws()?;
            // now and then a key seen before: duplicate keys are legal JSON
            if !self.keys.is_empty() && self.u.ratio(1, 4)? {
                let k = self.u.choose(&self.keys)?.clone();
                self.out.extend_from_slice(&k);
            } else {
                let from = self.out.len();
                self.string()?;
                self.keys.push(self.out[from..].to_vec());
            }
            self.ws()?;
            self.out.push(b':');
            self.value(depth)?;
        }
        self.ws()?;
        self.out.push(b'}');
        Ok(())
    }

    fn array(&mut self, depth: u8) -> Result<()> {
        self.out.push(b'[');
        let n = self.u.int_in_range(0..=4)?;
        for i in 0..n {
            if i > 0 {
                self.out.push(b',');
            }
            self.value(depth)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn number(&mut self) -> Result<()> {
        let n = match self.u.choose_index(4)? {
            0 => self.u.arbitrary::<i64>()?.to_string(),
            1 => self.u.arbitrary::<u64>()?.to_string(),
            2 => format!("{:e}", self.u.arbitrary::<f64>()?),
            _ => format!("{}", self.u.arbitrary::<f32>()?),
        };
        self.out.extend_from_slice(n.as_bytes());
        Ok(())
    }

    fn string(&mut self) -> Result<()> {
        self.out.push(b'"');
        for _ in 0..self.u.int_in_range(0..=12)? {
            match self.u.choose_index(9)? {
                0 | 1 => {
                    let b = self.u.int_in_range(0x20..=0x7e)?;
                    if b == b'"' || b == b'\\' {
                        self.out.push(b'\\');
                    }
                    self.out.push(b);
                }
                2 => {
                    let c = self.u.arbitrary::<char>()?;
                    let mut buf = [0; 4];
                    self.out
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                3 => {
                    let e = *self.u.choose(b"\"\\/bfnrt")?;
                    self.out.extend_from_slice(&[b'\\', e]);
                }
                4 => {
                    let cp = self.u.arbitrary::<u16>()?;
                    self.hex(cp)?;
                }
                5 => {
                    // a surrogate pair, encoding a character above U+FFFF
                    let c = self.u.int_in_range(0x10000u32..=0x10ffff)? - 0x10000;
                    self.hex(0xd800 | (c >> 10) as u16)?;
                    self.hex(0xdc00 | (c & 0x3ff) as u16)?;
                }
                6 => {
                    // a lone or reversed surrogate
                    let s = self.u.int_in_range(0xd800u16..=0xdfff)?;
                    self.hex(s)?;
                }
                7 => {
                    // the characters the scanner cares about, escaped
                    let s = *self.u.choose(&[&b"AKIA"[..], b"@", b"-", b"4111"])?;
                    for &b in s {
                        self.hex(u16::from(b))?;
                    }
                }
                _ => {
                    let b = self.u.arbitrary::<u8>()?;
                    self.out.push(b);
                }
            }
        }
        self.out.push(b'"');
        Ok(())
    }

    /// A `\uXXXX` escape, in lower or upper case hex.
    fn hex(&mut self, cp: u16) -> Result<()> {
        let s = if self.u.arbitrary::<bool>()? {
            format!("\\u{cp:04X}")
        } else {
            format!("\\u{cp:04x}")
        };
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Builds a document: mostly an object or an array, now and then behind a byte-order mark.
fn document(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut g = Gen {
        u,
        out: Vec::new(),
        keys: Vec::new(),
    };
    if g.u.ratio(1, 16)? {
        g.out.extend_from_slice("\u{feff}".as_bytes());
    }
    g.ws()?;
    let depth = g.u.int_in_range(1..=4)?;
    match g.u.choose_index(8)? {
        0 => g.value(depth)?,
        1..=4 => g.object(depth)?,
        _ => g.array(depth)?,
    }
    g.ws()?;
    Ok(g.out)
}

fn check(input: &[u8]) {
    let doc = json::parse(input);
    if let Some(doc) = &doc {
        for n in &doc.numbers {
            assert!(n.start < n.end && n.end <= input.len());
        }
        if let Some(view) = &doc.view {
            for i in 0..view.text.len() {
                let s = view.to_encoded(Span::new(i, (i + 3).min(view.text.len())));
                assert!(s.start <= s.end && s.end <= input.len());
            }
        }
    }
    let Some(read) = serde_read(input) else {
        return;
    };
    if !json::looks_like_json(input) {
        // a bare string or number: the scanner reads it raw, by design
        return;
    }
    let doc = doc.expect("serde_json reads an object or array the decoder rejects");
    let text = doc.view.as_ref().map_or(input, |v| &v.text[..]);
    let mut from = 0;
    for s in &read.strings {
        let at = memchr::memmem::find(&text[from..], s.as_bytes()).unwrap_or_else(|| {
            panic!("string {s:?} read by serde_json is not in the decoder's view")
        });
        from += at + s.len();
    }
    assert_eq!(
        doc.numbers.len(),
        read.numbers,
        "number tokens differ from what serde_json reads"
    );
    for n in &doc.numbers {
        assert!(
            input[n.start..n.end]
                .iter()
                .all(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // the first byte picks raw bytes or a built document; both reach the same checks
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check(rest);
    } else if let Ok(doc) = document(&mut Unstructured::new(rest)) {
        check(&doc);
    }
});
