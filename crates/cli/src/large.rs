//! `rampart scan` of files too large to hold whole: scanned in overlapping windows, so memory
//! stays bounded by the window whatever the file's size, and reported as one file.
//!
//! Each window owns a run of whole lines (about [`WINDOW`] bytes) and is scanned with
//! [`MARGIN`] bytes of the file on either side, so a finding that starts in the window is
//! found whole with its context however the file was cut; only findings that start in the
//! window's own run are kept. A redacted copy goes through the streaming redactor, which
//! holds back only what a match in progress needs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rampart_detect::{Redactor, StreamScanner};

use rampart::output::{FileReport, Located};

/// Files larger than this are scanned in windows.
pub const WHOLE_FILE: u64 = 64 << 20;
/// Bytes a window owns, before it is moved to a line break.
pub const WINDOW: usize = 16 << 20;
/// Bytes of the file read on either side of a window: longer than any finding and its context.
pub const MARGIN: usize = 64 << 10;

/// Where the lines of the file stand at a byte offset: 0-based line, and code points since
/// the line's start.
#[derive(Clone, Copy, Default)]
struct At {
    offset: u64,
    line: usize,
    column: usize,
}

impl At {
    /// Moves forward over `bytes` (the file from `self.offset` on).
    fn advance(&mut self, bytes: &[u8]) {
        match memchr::memrchr(b'\n', bytes) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', bytes).count();
                self.column = chars(&bytes[last + 1..]);
            }
            None => self.column += chars(bytes),
        }
        self.offset += bytes.len() as u64;
    }
}

fn chars(b: &[u8]) -> usize {
    b.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
}

/// Reads `len` bytes at `at`.
fn read_at(file: &mut File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// Scans the file at `path` (`len` bytes) window by window with `scan` (which reports on a
/// buffer as if it were a whole file) and returns one report whose positions and fingerprint
/// numbers are the file's.
pub fn scan(
    name: &str,
    path: &Path,
    len: u64,
    mut scan: impl FnMut(&[u8]) -> FileReport,
) -> FileReport {
    match windows(name, path, len, (WINDOW, MARGIN), &mut scan) {
        Ok(report) => report,
        Err(e) => FileReport::error(name, format!("cannot read: {e}")),
    }
}

/// [`scan`] with windows of `window` bytes and `margin` bytes either side.
fn windows(
    name: &str,
    path: &Path,
    len: u64,
    (window, margin): (usize, usize),
    scan: &mut impl FnMut(&[u8]) -> FileReport,
) -> std::io::Result<FileReport> {
    let mut file = File::open(path)?;
    let mut findings: Vec<Located> = Vec::new();
    let mut allowed = 0;
    // where the buffer of the current window starts
    let mut base = At::default();
    let mut own_start: u64 = 0;
    while own_start < len {
        let mut own_end = (own_start + window as u64).min(len);
        let buf_end = (own_end + margin as u64).min(len);
        let buf = read_at(&mut file, base.offset, (buf_end - base.offset) as usize)?;
        // the window ends after a line break in its last MARGIN bytes, if there is one
        if own_end < len {
            let cut = (own_end - base.offset) as usize;
            let lo = cut.saturating_sub(margin);
            if let Some(nl) = memchr::memrchr(b'\n', &buf[lo..cut]) {
                own_end = base.offset + (lo + nl + 1) as u64;
            }
        }
        let report = scan(&buf);
        if let Some(e) = report.error {
            return Ok(FileReport::error(name, e));
        }
        allowed += report.allowed;
        let (lo, hi) = (own_start - base.offset, own_end - base.offset);
        for mut f in report.findings {
            let start = f.finding.span.start as u64;
            if start < lo || start >= hi {
                continue;
            }
            f.finding.span = f.finding.span.shift(base.offset as usize);
            if f.line == 1 {
                f.column += base.column;
            }
            if f.end_line == 1 {
                f.end_column += base.column;
            }
            f.line += base.line;
            f.end_line += base.line;
            findings.push(f);
        }
        // the next buffer starts MARGIN before the next window, at a line start if one is near
        let next_own = own_end;
        let mut next_base = next_own.saturating_sub(margin as u64).max(base.offset);
        let rel = (next_base - base.offset) as usize..(next_own - base.offset) as usize;
        if let Some(nl) = memchr::memchr(b'\n', &buf[rel.clone()]) {
            next_base = base.offset + (rel.start + nl + 1) as u64;
        }
        base.advance(&buf[..(next_base - base.offset) as usize]);
        own_start = next_own;
    }
    renumber(&mut findings);
    Ok(FileReport {
        name: name.to_string(),
        findings,
        error: None,
        decompressed: false,
        allowed,
    })
}

/// Numbers repeats of one fingerprint across the whole file (each window numbered its own).
fn renumber(findings: &mut [Located]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in findings {
        let stem = f
            .fingerprint
            .rsplit_once(':')
            .map_or(f.fingerprint.as_str(), |(s, _)| s)
            .to_string();
        let n = seen.entry(stem.clone()).or_default();
        *n += 1;
        f.fingerprint = format!("{stem}:{n}");
    }
}

/// Writes a redacted copy of the file at `path` to `out` through the streaming redactor, a
/// chunk at a time.
pub fn redact(
    path: &Path,
    scanner: &rampart_detect::Scanner,
    redactor: Redactor,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut file = File::open(path)?;
    // a file is not an answer: markup that only matters when rendered stays
    let mut stream = StreamScanner::new(scanner, redactor).not_an_answer();
    let mut chunk = vec![0; 1 << 20];
    let mut released = Vec::with_capacity(1 << 20);
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        released.clear();
        stream.feed(&chunk[..n], &mut released);
        out.write_all(&released)?;
    }
    released.clear();
    stream.finish(&mut released);
    out.write_all(&released)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Kind, scan_one};
    use rampart_detect::{HashKey, ScanOptions, Scanner, ScannerConfig, detectors};

    /// Windows give the report of the whole file: same findings, positions and
    /// fingerprints, whichever window boundary a finding, its line or a long line falls on.
    #[test]
    fn windows_report_what_the_whole_file_reports() {
        let scanner = Scanner::new(
            detectors::all(),
            ScannerConfig {
                min_score: 0.5,
                hash_key: HashKey::default(),
            },
        )
        .unwrap();
        let opts = ScanOptions::default();
        let mut text = String::new();
        for i in 0..3000 {
            match i % 7 {
                0 => text.push_str(&format!("user{i}@example.org wrote é line {i}\n")),
                1 => text.push_str("export STRIPE_KEY=\"IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv\"\n"),
                2 => text.push_str(&"word ".repeat(i % 300)),
                3 => text.push_str("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x9d2sGk8Lz1vQbPq3mN4tR5wY6uI7oP8aS9dF0gH1jK2lZ3\n-----END RSA PRIVATE KEY-----\n"),
                4 => text.push_str("AKIAZ7VQXW3N5P2KJ4TB and card 4111 1111 1111 1111 \n"),
                _ => text.push_str("plain text on its own line\n"),
            }
        }
        let dir = std::env::temp_dir().join(format!("rampart-large-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.txt");
        std::fs::write(&path, &text).unwrap();
        let scan =
            |buf: &[u8]| scan_one("big.txt", buf, &scanner, &opts, None, None, Kind::Content);
        let whole = scan(text.as_bytes());
        let key = |r: &FileReport| -> Vec<_> {
            r.findings
                .iter()
                .map(|l| {
                    (
                        l.finding.span,
                        l.finding.detector,
                        l.line,
                        l.column,
                        l.end_line,
                        l.end_column,
                        l.fingerprint.clone(),
                    )
                })
                .collect()
        };
        assert!(whole.findings.len() > 1000);
        for (window, margin) in [(4096, 1024), (10_000, 2048), (1 << 20, 4096)] {
            let mut f = scan;
            let windowed = windows(
                "big.txt",
                &path,
                text.len() as u64,
                (window, margin),
                &mut f,
            )
            .unwrap();
            assert_eq!(key(&windowed), key(&whole), "window {window}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn positions_advance_over_lines() {
        let mut at = At::default();
        at.advance(b"ab\ncd");
        assert_eq!((at.line, at.column, at.offset), (1, 2, 5));
        at.advance("é".as_bytes());
        assert_eq!((at.line, at.column), (1, 3));
        at.advance(b"\n");
        assert_eq!((at.line, at.column), (2, 0));
    }
}
