//! Benign technical prose for training: the documentation comments of the Rust crates this
//! workspace depends on. The set is pinned by `train/crate-docs.txt` (names and versions, whose
//! checksums `Cargo.lock` holds), so it is the same on every machine that can build the
//! workspace and a new dependency does not change the training data; `cargo metadata` locates
//! the sources in the local registry.
//!
//! Users paste documentation into prompts, and documentation is full of imperatives ("you must
//! call `reset` first", "ignore this field", "override the default"): without such text among
//! the negatives, the direct model learns that imperative technical prose is an attack.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use rampart_threat::dataset::{self, Split};

/// The source name of these blocks in the training data and in reports.
pub const SOURCE: &str = "rust-crate-docs";

/// Blocks taken from one crate at most, so large crates do not dominate.
const PER_CRATE: usize = 12;
/// Shortest block kept (characters).
const MIN_BLOCK: usize = 120;
/// Longest block kept; longer ones are cut at a line end.
const MAX_BLOCK: usize = 1_200;

/// One block of documentation prose, with the crate it came from and its split (by crate).
pub struct Block {
    /// The prose.
    pub text: String,
    /// `name` of the crate.
    pub krate: String,
    /// Split of the crate (its name's hash, as the public data is split).
    pub split: Split,
}

/// The registry packages of the workspace's lock file, sorted by name and version.
fn packages(workspace: &Path) -> anyhow::Result<Vec<(String, String, PathBuf)>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        // one platform, so the set does not depend on the machine that trains
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(workspace)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut pk: Vec<(String, String, PathBuf)> = meta["packages"]
        .as_array()
        .context("cargo metadata: no packages")?
        .iter()
        .filter(|p| p["source"].as_str().is_some_and(|s| s.contains("registry")))
        .filter_map(|p| {
            let dir = Path::new(p["manifest_path"].as_str()?)
                .parent()?
                .to_path_buf();
            Some((
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
                dir,
            ))
        })
        .collect();
    pk.sort();
    // only the pinned crates, and every one of them
    let list = std::fs::read_to_string(workspace.join(PINNED))
        .with_context(|| format!("reading {PINNED}"))?;
    let pinned: Vec<(&str, &str)> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .collect();
    pk.retain(|(n, v, _)| pinned.contains(&(n.as_str(), v.as_str())));
    for (n, v) in &pinned {
        anyhow::ensure!(
            pk.iter().any(|(pn, pv, _)| pn == n && pv == v),
            "{n} {v} of {PINNED} is not in Cargo.lock any more: the training data would change; \
             retrain with a new list on purpose"
        );
    }
    Ok(pk)
}

/// The committed list of crates whose documentation is training text.
const PINNED: &str = "train/crate-docs.txt";

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The prose of the doc comments of one source file: consecutive `///` or `//!` lines form a
/// comment; code blocks and attribute-like lines are dropped; a comment's paragraphs are
/// joined up to [`MAX_BLOCK`].
fn doc_blocks(source: &str, out: &mut Vec<String>) {
    let mut comment: Vec<&str> = Vec::new();
    let flush = |comment: &mut Vec<&str>, out: &mut Vec<String>| {
        let mut block = String::new();
        let mut fence = false;
        for line in comment.drain(..) {
            if line.trim_start().starts_with("```") {
                fence = !fence;
                continue;
            }
            if fence || line.trim_start().starts_with('#') && line.contains('[') {
                continue;
            }
            if block.len() + line.len() > MAX_BLOCK && block.len() >= MIN_BLOCK {
                out.push(std::mem::take(&mut block));
            }
            if !block.is_empty() {
                block.push('\n');
            }
            block.push_str(line);
        }
        if block.trim().len() >= MIN_BLOCK {
            out.push(block.trim().to_owned());
        }
    };
    for line in source.lines() {
        let t = line.trim_start();
        let doc = t
            .strip_prefix("///")
            .or_else(|| t.strip_prefix("//!"))
            .filter(|_| !t.starts_with("////"));
        match doc {
            Some(d) => comment.push(d.strip_prefix(' ').unwrap_or(d)),
            None => flush(&mut comment, out),
        }
    }
    flush(&mut comment, out);
}

/// The documentation prose of the workspace's dependencies: at most [`PER_CRATE`] blocks per
/// crate (the longest of its comments, in file order), split by crate name.
pub fn crate_docs(workspace: &Path) -> anyhow::Result<Vec<Block>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, _version, dir) in packages(workspace)? {
        // one version of a crate only: versions share most of their documentation
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        let mut blocks = Vec::new();
        for f in files {
            if let Ok(s) = std::fs::read_to_string(&f) {
                doc_blocks(&s, &mut blocks);
            }
        }
        // prose rather than one-line summaries: the longest blocks, kept in file order
        let mut by_len: Vec<usize> = (0..blocks.len()).collect();
        by_len.sort_by_key(|&i| (std::cmp::Reverse(blocks[i].len()), i));
        by_len.truncate(PER_CRATE);
        by_len.sort_unstable();
        let split = dataset::split_of(&name);
        for i in by_len {
            out.push(Block {
                text: std::mem::take(&mut blocks[i]),
                krate: name.clone(),
                split,
            });
        }
    }
    Ok(out)
}

/// The sources of PyRIT's jailbreak templates, by the collection they come from.
const PYRIT_SOURCES: &[(&str, &str)] = &[
    ("pliny", "pyrit/pliny"),
    ("arth-singh", "pyrit/arth-singh"),
    ("inthewild", "pyrit/inthewild"),
    ("jailbreakchat", "pyrit/jailbreakchat"),
    ("multi-parameter", "pyrit/jailbreakchat"),
];

/// Attack texts from a source outside ../shared/data: the jailbreak templates of Microsoft
/// PyRIT's PyPI wheel that are not near-duplicates of the shared attack sets
/// (`train/pyrit_templates.py` fetches, checks and renders them). Each template is split by its
/// path and filled with one request of `fillers` of the same split (chosen by a hash of the
/// path), so a request's words never decide the label: the same requests are benign texts of
/// their own.
pub fn pyrit(
    workspace: &Path,
    fillers: &[&dataset::Sample],
) -> anyhow::Result<Vec<dataset::Sample>> {
    let script = workspace.join("train").join("pyrit_templates.py");
    let out = Command::new("python3")
        .arg(&script)
        .current_dir(workspace)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut samples = Vec::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(path), Some(family), Some(text)) =
            (v["path"].as_str(), v["family"].as_str(), v["text"].as_str())
        else {
            anyhow::bail!("{}: unexpected line {line}", script.display());
        };
        let source = PYRIT_SOURCES
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, s)| *s)
            .with_context(|| format!("unknown PyRIT family {family}"))?;
        let split = dataset::split_of(path);
        let pool: Vec<&&dataset::Sample> = fillers.iter().filter(|s| s.split == split).collect();
        anyhow::ensure!(!pool.is_empty(), "no filler request in the {split:?} split");
        let k = blake3::hash(path.as_bytes()).as_bytes()[1..9]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | b as usize)
            % pool.len();
        samples.push(dataset::Sample {
            text: text.replace("<<PROMPT>>", &pool[k].text),
            attack: true,
            source,
            split,
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_become_prose_blocks_without_code() {
        let src = "/// Resets the parser. You must call this before reusing it, or the state of the\n/// previous input leaks into the next one; ignore the return value when the parser is new.\n///\n/// ```\n/// let x = parse();\n/// ```\nfn reset() {}\n// plain comment\n";
        let mut out = Vec::new();
        doc_blocks(src, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with("Resets the parser."));
        assert!(!out[0].contains("let x"));
    }
}
