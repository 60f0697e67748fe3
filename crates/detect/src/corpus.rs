//! Benchmark and evaluation inputs built from the shared public data: benign API JSON,
//! PII-dense text and a mixed corpus. Used by the criterion benches and by `bench/` scripts so
//! every tool measures the same bytes.

use std::path::{Path, PathBuf};

/// The shared data folder: `$RAMPART_SHARED_DATA`, else `../shared/data` from the repository
/// root (found by walking up from the current directory or `start`).
pub fn data_dir(start: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RAMPART_SHARED_DATA") {
        return Some(PathBuf::from(p));
    }
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join("../shared/data");
        if candidate.join("faker-pii").is_dir() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// Benign API JSON: the real OpenAPI documents, concatenated with newlines.
pub fn benign_json(data: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("openapi-specs/apis-guru"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files {
        out.extend_from_slice(&std::fs::read(f)?);
        out.push(b'\n');
    }
    Ok(out)
}

/// PII-dense text: every faker-pii row's text, one per line.
pub fn pii_dense(data: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read_to_string(data.join("faker-pii/dev.jsonl"))?;
    let mut out = Vec::new();
    for line in raw.lines() {
        if let Some(start) = line.find("\"text\": \"") {
            // the text field holds JSON escapes; keep them: the scanner sees what a log would
            let rest = &line[start + 9..];
            if let Some(end) = rest.find("\", \"spans\"") {
                out.extend_from_slice(&rest.as_bytes()[..end]);
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// Benign prompts: the NotInject and WildGuard prompt texts (no PII, no secrets), one per
/// line, repeated to `size` bytes.
pub fn benign_prompts(data: &Path, size: usize) -> std::io::Result<Vec<u8>> {
    let mut prompts = Vec::new();
    for f in [
        "NotInject_one.json",
        "NotInject_two.json",
        "NotInject_three.json",
        "wildguard.json",
    ] {
        let raw = std::fs::read_to_string(data.join("injecguard-notinject").join(f))?;
        // each row is {"prompt": "...", ...}; take the prompt strings without a JSON parser
        for part in raw.split("\"prompt\": \"").skip(1) {
            let mut text = String::new();
            let mut chars = part.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => text.push('\n'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            text.push(c.unwrap_or('\u{FFFD}'));
                        }
                        Some(o) => text.push(o),
                        None => break,
                    },
                    c => text.push(c),
                }
            }
            prompts.extend_from_slice(text.as_bytes());
            prompts.push(b'\n');
        }
    }
    let mut out = Vec::with_capacity(size);
    while out.len() < size && !prompts.is_empty() {
        let take = (size - out.len()).min(prompts.len());
        out.extend_from_slice(&prompts[..take]);
    }
    Ok(out)
}

/// A mixed corpus of `size` bytes: benign JSON, PII-dense text and benign prompts interleaved
/// in blocks, repeated until the size is reached.
pub fn mixed(data: &Path, size: usize) -> std::io::Result<Vec<u8>> {
    let json = benign_json(data)?;
    let pii = pii_dense(data)?;
    let prompts = std::fs::read(data.join("injecguard-notinject/wildguard.json"))?;
    let mut out = Vec::with_capacity(size + 64 * 1024);
    let blocks: [&[u8]; 3] = [&json, &pii, &prompts];
    let mut offsets = [0usize; 3];
    let mut i = 0;
    while out.len() < size {
        let k = i % 3;
        let src = blocks[k];
        let take = (32 * 1024).min(src.len());
        let start = offsets[k] % src.len().saturating_sub(take).max(1);
        out.extend_from_slice(&src[start..start + take]);
        out.push(b'\n');
        offsets[k] += take;
        i += 1;
    }
    out.truncate(size);
    Ok(out)
}
