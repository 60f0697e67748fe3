//! `rampart scan`: files, folders (recursive, .gitignore-aware), stdin, and JSONL batches.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use rampart_detect::{HashKey, Redactor, ScanOptions, Scanner, ScannerConfig, Strategy, detectors};
use serde::Serialize;
use serde::de::DeserializeSeed;

use crate::large;
use rampart::output::{self, FileReport};

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per finding, for people.
    Text,
    /// One JSON document with every file's findings.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// Arguments of `rampart scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or folders to scan; folders are walked recursively honouring .gitignore. Nothing,
    /// or `-`, reads stdin.
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Batch mode: every input line is `{"id": ..., "text": ...}` and gives one output line
    /// `{"id": ..., "findings": [{"class", "detector", "start", "end", "score"}]}` with byte
    /// offsets into the UTF-8 text.
    #[arg(long)]
    pub jsonl: bool,
    /// Write redacted output: to stdout for one input (the report then goes to stderr), to
    /// --output-dir for several files, or as a "redacted" field in --jsonl mode.
    #[arg(long)]
    pub redact: bool,
    /// Redaction strategy: mask, partial, hash, fake or tokenize.
    #[arg(long, default_value = "mask", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Folder for redacted copies of scanned files (with --redact).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Drop findings scoring below this confidence (0..1).
    #[arg(long, default_value_t = 0.5)]
    pub min_score: f32,
    /// Do not honour .gitignore, .ignore and hidden-file rules when walking folders.
    #[arg(long)]
    pub no_ignore: bool,
    /// Skip files larger than this many bytes (default: no limit; files over 64 MiB are
    /// scanned in windows, so memory stays bounded).
    #[arg(long)]
    pub max_file_size: Option<u64>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Read stdin and --jsonl texts as third-party content (a tool result, a retrieved
    /// document) and look for instructions planted in them, instead of as user prompts. Files
    /// are always read as content.
    #[arg(long)]
    pub indirect: bool,
    /// Skip the LLM threat detectors (prompt injection, hidden text).
    #[arg(long)]
    pub no_llm: bool,
    /// Also look for prompt injections in source code and configuration files. By default they
    /// are skipped there (their imperatives are addressed to people and machines, not to a
    /// model); hidden characters are reported in every file.
    #[arg(long)]
    pub injections_in_code: bool,
    /// Accept the findings of an earlier report (`--format json` or `sarif`): findings with a
    /// fingerprint it lists are left out (counted on stderr). Fingerprints hold no value and
    /// survive lines moving; a line with `rampart:allow` (or `gitleaks:allow`, `pragma:
    /// allowlist secret`) is accepted in place.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Report prompt injections scoring at least this (0..1) [default: the default policy's
    /// thresholds, 0.7 for prompts (stdin and --jsonl without --indirect) and 0.9 for content
    /// and files].
    #[arg(long)]
    pub injection_threshold: Option<f32>,
}

/// LLM threat findings of a text: injection (as a user prompt, or as third-party content) at or
/// above `threshold` (default: the default policy's) and `min_score`, and hidden characters.
fn threats(
    text: &str,
    indirect: bool,
    threshold: Option<f32>,
    min_score: f32,
    key: &HashKey,
) -> Vec<rampart_threat::inspect::Threat> {
    use rampart_threat::inspect::{self, Source};
    // an injection must reach its threshold (the default policy's) and --min-score, like
    // every other finding
    let floor = threshold
        .unwrap_or(if indirect {
            DEFAULT_CONTENT_THRESHOLD
        } else {
            DEFAULT_PROMPT_THRESHOLD
        })
        .max(min_score);
    let injections: Vec<_> = if indirect {
        inspect::content_at_least(text, Source::File, 0, key, floor)
    } else {
        inspect::user_message(text, 0, key).into_iter().collect()
    };
    let mut out: Vec<_> = injections
        .into_iter()
        .filter(|t| t.finding.score >= floor)
        .collect();
    out.extend(
        inspect::hidden_text(text, 0, key)
            .into_iter()
            .filter(|t| t.finding.score >= min_score),
    );
    out
}

/// The default policy's threshold for injections in prompts (`policies/default.yaml`:
/// `promptInjection`).
const DEFAULT_PROMPT_THRESHOLD: f32 = 0.7;

/// The default policy's threshold for injections in third-party content
/// (`policies/default.yaml`: `indirectInjection`).
const DEFAULT_CONTENT_THRESHOLD: f32 = 0.9;

/// What a file holds, as far as the injection detectors are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Prose, prompts, documents, data: read whole.
    Content,
    /// JSON (or JSON lines): each string is read on its own, the structure is not.
    Json,
    /// Source code or configuration: injections are not looked for (hidden text is).
    Code,
}

/// The kind of a file by its name.
fn kind_of(path: &Path) -> Kind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    const CODE: &[&str] = &[
        "rs",
        "py",
        "pyi",
        "js",
        "mjs",
        "cjs",
        "jsx",
        "ts",
        "tsx",
        "go",
        "java",
        "kt",
        "kts",
        "scala",
        "c",
        "h",
        "cc",
        "cpp",
        "cxx",
        "hpp",
        "hh",
        "cs",
        "fs",
        "swift",
        "m",
        "mm",
        "rb",
        "php",
        "pl",
        "pm",
        "lua",
        "r",
        "jl",
        "dart",
        "ex",
        "exs",
        "erl",
        "hs",
        "ml",
        "clj",
        "sh",
        "bash",
        "zsh",
        "fish",
        "ps1",
        "bat",
        "cmd",
        "sql",
        "vue",
        "svelte",
        "css",
        "scss",
        "less",
        "toml",
        "yaml",
        "yml",
        "ini",
        "cfg",
        "conf",
        "properties",
        "env",
        "lock",
        "xml",
        "xsd",
        "gradle",
        "mk",
        "cmake",
        "tf",
        "hcl",
        "nix",
        "proto",
        "graphql",
        "s",
        "asm",
        "v",
        "sv",
        "vhd",
        "zig",
        "nim",
        "d",
        "f90",
        "pas",
        "el",
        "vim",
        "diff",
        "patch",
    ];
    const NAMES: &[&str] = &[
        "makefile",
        "dockerfile",
        "cmakelists.txt",
        "cargo.lock",
        "go.sum",
        "gemfile",
        "rakefile",
        "jenkinsfile",
        "vagrantfile",
        "procfile",
        ".gitignore",
        ".gitattributes",
        ".npmrc",
        ".editorconfig",
        ".dockerignore",
        "credentials",
        "config",
        ".netrc",
    ];
    if NAMES.contains(&name.as_str()) || name.starts_with(".env") || CODE.contains(&ext) {
        Kind::Code
    } else if matches!(ext, "json" | "jsonl" | "ndjson" | "har" | "ipynb") {
        Kind::Json
    } else {
        Kind::Content
    }
}

/// The string values of JSON documents in document order, borrowed where they hold no
/// escape; strings under 24 bytes (ids, enum values, codes) are left out: they hold no
/// instruction. Read without building a document tree.
struct Strings<'de>(Vec<std::borrow::Cow<'de, str>>);

impl<'de> serde::de::DeserializeSeed<'de> for &mut Strings<'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Strings<'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        if v.len() >= 24 {
            self.0.push(std::borrow::Cow::Borrowed(v));
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if v.len() >= 24 {
            self.0.push(std::borrow::Cow::Owned(v.to_owned()));
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_key::<serde::de::IgnoredAny>()?.is_some() {
            a.next_value_seed(&mut *self)?;
        }
        Ok(())
    }
}

/// Injection and hidden-text findings of the strings of a JSON document (or of JSON lines),
/// each string read as content on its own; spans in `text` where the string stands there
/// unescaped, else the whole quoted string. `None` when `text` is not JSON.
fn json_threats(
    text: &str,
    threshold: Option<f32>,
    min_score: f32,
    key: &HashKey,
) -> Option<Vec<rampart_core::Finding>> {
    let mut strings = Strings(Vec::new());
    let whole = {
        let mut de = serde_json::Deserializer::from_str(text);
        (&mut strings).deserialize(&mut de).and_then(|()| de.end())
    };
    if whole.is_err() {
        // JSON lines
        strings.0.clear();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut de = serde_json::Deserializer::from_str(line);
            (&mut strings).deserialize(&mut de).ok()?;
            de.end().ok()?;
        }
        if strings.0.is_empty() && text.trim().is_empty() {
            return None;
        }
    }
    let mut out = Vec::new();
    let mut cursor = 0;
    for s in &strings.0 {
        let s: &str = s;
        let found = threats(s, true, threshold, min_score, key);
        if found.is_empty() {
            continue;
        }
        let quoted = serde_json::to_string(s).unwrap_or_default();
        // strings come in document order: search on from the last one (linear overall)
        let at = text
            .get(cursor..)
            .and_then(|rest| rest.find(&quoted))
            .map(|i| cursor + i);
        if let Some(i) = at {
            cursor = i + quoted.len();
        }
        let exact = quoted.len() == s.len() + 2;
        for t in found {
            let mut f = t.finding;
            f.span = match (at, exact) {
                (Some(i), true) => f.span.shift(i + 1),
                (Some(i), false) => rampart_core::Span::new(i, i + quoted.len()),
                (None, _) => rampart_core::Span::new(0, 0),
            };
            out.push(f);
        }
    }
    Some(out)
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    Strategy::from_name(s).ok_or_else(|| {
        format!("unknown strategy {s:?}; use mask, partial, hash, fake, tokenize or remove")
    })
}

/// The hash key: derived from `RAMPART_HASH_KEY` when set (so hashes correlate across runs),
/// else random for this run.
pub fn hash_key() -> HashKey {
    match std::env::var("RAMPART_HASH_KEY") {
        Ok(k) if !k.is_empty() => HashKey::derive(k.as_bytes()),
        _ => HashKey::random(),
    }
}

/// Runs `rampart scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.min_score) {
        bail!("--min-score {} is outside 0..1", args.min_score);
    }
    if let Some(t) = args.injection_threshold
        && !(0.0..=1.0).contains(&t)
    {
        bail!("--injection-threshold {t} is outside 0..1");
    }
    let key = hash_key();
    let scanner = Scanner::new(
        detectors::all(),
        ScannerConfig {
            min_score: args.min_score,
            hash_key: key.clone(),
        },
    )?;
    let stdin_only = args.paths.is_empty() || args.paths.iter().all(|p| p.as_os_str() == "-");
    if args.jsonl {
        return run_jsonl(&args, &scanner, key, stdin_only);
    }
    let opts = ScanOptions {
        max_input: args
            .max_file_size
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX)),
        // a large file's raw scan uses every core (a folder of small files does already)
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..ScanOptions::default()
    };
    let mut reports = Vec::new();
    if stdin_only {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("cannot read stdin")?;
        let mut redacted = Vec::new();
        reports.push(scan_one(
            "<stdin>",
            &input,
            &scanner,
            &opts,
            args.redact
                .then(|| (Redactor::new(args.strategy, key.clone()), &mut redacted)),
            (!args.no_llm).then_some((
                args.min_score,
                args.injection_threshold,
                &key,
                args.indirect,
            )),
            Kind::Content,
        ));
        if args.redact {
            std::io::stdout().write_all(&redacted)?;
        }
    } else {
        let files = walk(&args.paths, !args.no_ignore)?;
        if args.redact && files.len() > 1 && args.output_dir.is_none() {
            bail!("--redact with several files needs --output-dir DIR for the redacted copies");
        }
        let progress = progress_bar(files.len(), args.no_progress);
        let (done, binary) = scan_files(&files, &args, &scanner, &opts, &key, &progress)?;
        progress.finish_and_clear();
        for (_, report, redacted) in done {
            if let Some(redacted) = redacted {
                std::io::stdout().write_all(&redacted)?;
            }
            reports.push(report);
        }
        if binary > 0 {
            eprintln!(
                "rampart: {binary} binary file{} skipped (a NUL byte in the first 8 KiB)",
                if binary == 1 { "" } else { "s" }
            );
        }
    }
    let allowed: usize = reports.iter().map(|r| r.allowed).sum();
    if allowed > 0 {
        eprintln!("rampart: {allowed} finding(s) accepted by allow comments");
    }
    if let Some(path) = &args.baseline {
        let known = baseline(path)?;
        let mut accepted = 0;
        for r in &mut reports {
            let before = r.findings.len();
            r.findings.retain(|l| !known.contains(&l.fingerprint));
            accepted += before - r.findings.len();
        }
        eprintln!(
            "rampart: {accepted} finding(s) accepted by the baseline {}",
            path.display()
        );
    }
    let report_to_stderr = args.redact && args.output_dir.is_none();
    let rendered = match args.format {
        Format::Text => output::text(&reports),
        Format::Json => output::json(&reports),
        Format::Sarif => output::sarif(&reports, &scanner),
    };
    if report_to_stderr {
        std::io::stderr().write_all(rendered.as_bytes())?;
    } else {
        std::io::stdout().write_all(rendered.as_bytes())?;
    }
    Ok(exit_code(&reports))
}

/// A scanned file: its path, its report, and its redacted text when it goes to stdout.
type Scanned = (PathBuf, FileReport, Option<Vec<u8>>);

/// Scans `files` on every core, in order of their names. Redacted copies go to
/// `--output-dir` as each file is done; with one file and no folder, back to the caller for
/// stdout. Returns the reports and how many binary files were skipped.
fn scan_files(
    files: &[PathBuf],
    args: &ScanArgs,
    scanner: &Scanner,
    opts: &ScanOptions,
    key: &HashKey,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<Scanned>, usize)> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let binary = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<anyhow::Result<Scanned>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let one = |file: &PathBuf| -> anyhow::Result<Option<Scanned>> {
        let name = file.display().to_string();
        let report = |r: FileReport| Ok(Some((file.clone(), r, None)));
        let meta = match std::fs::metadata(file) {
            Ok(m) => m,
            Err(e) => return report(FileReport::error(&name, format!("cannot read: {e}"))),
        };
        if let Some(max) = args.max_file_size
            && meta.len() > max
        {
            return report(FileReport::error(
                &name,
                format!(
                    "skipped: {} bytes is over --max-file-size {max}",
                    meta.len(),
                ),
            ));
        }
        let kind = if args.injections_in_code {
            match kind_of(file) {
                Kind::Code => Kind::Content,
                k => k,
            }
        } else {
            kind_of(file)
        };
        let llm = (!args.no_llm).then_some((args.min_score, args.injection_threshold, key, true));
        if meta.len() > large::WHOLE_FILE {
            let head = match head(file) {
                Ok(h) => h,
                Err(e) => return report(FileReport::error(&name, format!("cannot read: {e}"))),
            };
            if looks_binary(&head) {
                binary.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            // a compressed file is read whole: its text exists only decompressed
            if !head.starts_with(&[0x1f, 0x8b]) {
                // a window of a JSON file is not JSON: its strings are read as content
                let kind = if kind == Kind::Json {
                    Kind::Content
                } else {
                    kind
                };
                let r = large::scan(&name, file, meta.len(), |buf| {
                    scan_one(&name, buf, scanner, opts, None, llm, kind)
                });
                if args.redact && r.error.is_none() {
                    let redactor = Redactor::new(args.strategy, key.clone());
                    // the copy is written as it is made: it is as large as the file
                    let (dest, mut w): (String, Box<dyn Write>) = match &args.output_dir {
                        Some(dir) => {
                            let dest = copy_path(dir, file)?;
                            let f = std::fs::File::create(&dest)
                                .with_context(|| format!("cannot write {}", dest.display()))?;
                            (
                                dest.display().to_string(),
                                Box::new(std::io::BufWriter::new(f)),
                            )
                        }
                        // without --output-dir only one file is redacted: stdout is its own
                        None => (
                            "stdout".into(),
                            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                        ),
                    };
                    large::redact(file, scanner, redactor, &mut w)
                        .and_then(|()| w.flush())
                        .with_context(|| format!("cannot redact {name} to {dest}"))?;
                }
                return Ok(Some((file.clone(), r, None)));
            }
        }
        let input = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => return report(FileReport::error(&name, format!("cannot read: {e}"))),
        };
        if looks_binary(&input) {
            binary.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let mut redacted = Vec::new();
        let report = scan_one(
            &name,
            &input,
            scanner,
            opts,
            args.redact
                .then(|| (Redactor::new(args.strategy, key.clone()), &mut redacted)),
            llm,
            kind,
        );
        let mut to_stdout = None;
        if args.redact && report.error.is_none() {
            match &args.output_dir {
                Some(dir) => write_copy(dir, file, &redacted)?,
                None => to_stdout = Some(redacted),
            }
        }
        Ok(Some((file.clone(), report, to_stdout)))
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let result = one(file);
                    progress.inc(1);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = result.transpose();
                    }
                }
            });
        }
    });
    let mut done = Vec::with_capacity(files.len());
    for slot in slots {
        if let Some(result) = slot.into_inner().unwrap_or_default() {
            done.push(result?);
        }
    }
    Ok((done, binary.into_inner()))
}

/// The fingerprints an earlier report lists: `--format json` (`inputs[].findings[].fingerprint`)
/// or SARIF (`runs[].results[].partialFingerprints["rampart/v1"]`).
fn baseline(path: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the baseline {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a rampart JSON or SARIF report", path.display()))?;
    let mut out = std::collections::HashSet::new();
    for input in v["inputs"].as_array().into_iter().flatten() {
        for f in input["findings"].as_array().into_iter().flatten() {
            if let Some(fp) = f["fingerprint"].as_str() {
                out.insert(fp.to_owned());
            }
        }
    }
    for run in v["runs"].as_array().into_iter().flatten() {
        for r in run["results"].as_array().into_iter().flatten() {
            if let Some(fp) = r["partialFingerprints"]["rampart/v1"].as_str() {
                out.insert(fp.to_owned());
            }
        }
    }
    if out.is_empty() && v["inputs"].is_null() && v["runs"].is_null() {
        bail!(
            "{}: not a rampart JSON or SARIF report (no \"inputs\" or \"runs\")",
            path.display()
        );
    }
    Ok(out)
}

/// 2 when an input could not be scanned, else 1 when anything was found, else 0.
fn exit_code(reports: &[FileReport]) -> ExitCode {
    if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::from(2)
    } else if reports.iter().any(|r| !r.findings.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Inputs at least this large, not compressed, are read by the LLM detectors on a thread of
/// their own while the data scan runs: a single large file then uses two cores.
const PARALLEL_LLM: usize = 1 << 20;

/// Scans one input: data findings of every layer, and with `llm` the LLM threat findings of its
/// text as `kind` says.
pub(crate) fn scan_one(
    name: &str,
    input: &[u8],
    scanner: &Scanner,
    opts: &ScanOptions,
    redact: Option<(Redactor, &mut Vec<u8>)>,
    llm: Option<(f32, Option<f32>, &HashKey, bool)>,
    kind: Kind,
) -> FileReport {
    // the text the LLM detectors read is the input itself unless it is compressed: then a
    // large one is read beside the data scan instead of after it
    let beside = llm.is_some()
        && input.len() >= PARALLEL_LLM
        && rampart_detect::decode::compress::sniff(input).is_none();
    let (scanned, early) = if beside {
        std::thread::scope(|s| {
            let llm_pass = s.spawn(|| llm_findings(input, llm, kind));
            let scanned = scanner.scan(input, opts);
            // a panic of the LLM pass is a bug: it surfaces as one
            let early = llm_pass
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (scanned, Some(early))
        })
    } else {
        (scanner.scan(input, opts), None)
    };
    match scanned {
        Ok(scan) => {
            if let Some((mut redactor, out)) = redact {
                scan.redact(&mut redactor, out);
            }
            let extra = early.unwrap_or_else(|| llm_findings(&scan.text, llm, kind));
            FileReport::with(name, &scan, extra)
        }
        Err(e) => FileReport::error(name, e.to_string()),
    }
}

/// LLM threat findings of `text`: stdin is read as a prompt, files as content a model may
/// read (prose whole, JSON string by string, code and configuration for hidden characters
/// only). None without `llm` or when `text` is not UTF-8.
fn llm_findings(
    text: &[u8],
    llm: Option<(f32, Option<f32>, &HashKey, bool)>,
    kind: Kind,
) -> Vec<rampart_core::Finding> {
    let (Some((min, t, key, indirect)), Ok(text)) = (llm, std::str::from_utf8(text)) else {
        return Vec::new();
    };
    let whole = |text: &str| -> Vec<rampart_core::Finding> {
        threats(text, indirect, t, min, key)
            .into_iter()
            .map(|t| t.finding)
            .collect()
    };
    match kind {
        Kind::Content => whole(text),
        Kind::Json => json_threats(text, t, min, key).unwrap_or_else(|| whole(text)),
        Kind::Code => rampart_threat::inspect::hidden_text(text, 0, key)
            .into_iter()
            .map(|t| t.finding)
            .filter(|f| f.score >= min)
            .collect(),
    }
}

/// Files under `paths`, sorted, honouring ignore files when `ignore` is set.
fn walk(paths: &[PathBuf], ignore: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            bail!("{}: no such file or folder", path.display());
        }
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        // hidden files are where secrets live (.env, .aws/credentials, .npmrc): always read;
        // ignore rules apply inside a git work tree only, and --no-ignore turns them off
        let walker = ignore::WalkBuilder::new(path)
            .standard_filters(ignore)
            .hidden(false)
            .require_git(true)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walker {
            match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    files.push(entry.into_path());
                }
                Ok(_) => {}
                // an unreadable folder is a warning: the walk goes on
                Err(e) => eprintln!("rampart: warning: {e}"),
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// A NUL in the first 8 KiB of a file that is not gzip marks it binary (as ripgrep does).
fn looks_binary(input: &[u8]) -> bool {
    !input.starts_with(&[0x1f, 0x8b]) && input[..input.len().min(8192)].contains(&0)
}

/// The first 8 KiB of a file (what [`looks_binary`] and the gzip check read).
fn head(file: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8192);
    std::fs::File::open(file)?
        .take(8192)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Where the redacted copy of `file` goes under `dir` (its folders created).
fn copy_path(dir: &Path, file: &Path) -> anyhow::Result<PathBuf> {
    let rel: PathBuf = file
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let dest = dir.join(rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(dest)
}

fn write_copy(dir: &Path, file: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dest = copy_path(dir, file)?;
    std::fs::write(&dest, data).with_context(|| format!("cannot write {}", dest.display()))
}

fn progress_bar(n: usize, disabled: bool) -> indicatif::ProgressBar {
    if disabled || n < 200 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} scanning {pos}/{len} files [{elapsed}] {wide_bar}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// One output line of --jsonl mode.
#[derive(Serialize)]
struct JsonlOut<'a> {
    id: &'a serde_json::Value,
    findings: Vec<JsonlFinding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redacted: Option<String>,
}

/// One finding of --jsonl mode.
#[derive(Serialize)]
struct JsonlFinding {
    class: &'static str,
    detector: &'static str,
    start: usize,
    end: usize,
    score: f64,
    owasp: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidence: Vec<rampart_threat::inspect::EvidenceOut>,
}

impl JsonlFinding {
    /// The output line item of a finding, with its evidence (LLM threats) if any.
    fn of(
        f: &rampart_core::Finding,
        evidence: Vec<rampart_threat::inspect::EvidenceOut>,
    ) -> JsonlFinding {
        JsonlFinding {
            class: f.class.name(),
            detector: f.detector,
            start: f.span.start,
            end: f.span.end,
            score: output::round(f.score),
            owasp: f.owasp.iter().map(|o| o.as_str()).collect(),
            evidence,
        }
    }
}

fn run_jsonl(
    args: &ScanArgs,
    scanner: &Scanner,
    key: HashKey,
    stdin_only: bool,
) -> anyhow::Result<ExitCode> {
    let mut readers: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    if stdin_only {
        readers.push(("<stdin>".into(), Box::new(std::io::stdin().lock())));
    } else {
        for p in &args.paths {
            let f =
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            readers.push((
                p.display().to_string(),
                Box::new(std::io::BufReader::new(f)),
            ));
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut any_findings, mut any_errors) = (false, false);
    let opts = ScanOptions::default();
    for (name, reader) in readers {
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line.with_context(|| format!("cannot read {name}"))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed: Result<serde_json::Value, String> =
                serde_json::from_slice(&line).map_err(|e| e.to_string());
            let (id, text) = match &parsed {
                Ok(v) => match v.get("text").and_then(|t| t.as_str()) {
                    Some(t) => (v.get("id").unwrap_or(&serde_json::Value::Null), t),
                    None => {
                        any_errors = true;
                        let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
                        writeln!(
                            out,
                            "{}",
                            serde_json::json!({"id": id, "error": format!("{name}:{}: no string field \"text\"", n + 1)})
                        )?;
                        continue;
                    }
                },
                Err(e) => {
                    any_errors = true;
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"id": null, "error": format!("{name}:{}: not JSON: {e}", n + 1)})
                    )?;
                    continue;
                }
            };
            let scan = match scanner.scan(text.as_bytes(), &opts) {
                Ok(s) => s,
                Err(e) => {
                    any_errors = true;
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"id": id, "error": e.to_string()})
                    )?;
                    continue;
                }
            };
            let mut findings: Vec<JsonlFinding> = scan
                .findings()
                .map(|f| JsonlFinding::of(f, Vec::new()))
                .collect();
            if !args.no_llm {
                for t in threats(
                    text,
                    args.indirect,
                    args.injection_threshold,
                    args.min_score,
                    &key,
                ) {
                    findings.push(JsonlFinding::of(&t.finding, t.evidence));
                }
                findings.sort_by_key(|f| (f.start, f.end));
            }
            any_findings |= !findings.is_empty();
            let redacted = args.redact.then(|| {
                let mut buf = Vec::new();
                scan.redact(&mut Redactor::new(args.strategy, key.clone()), &mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            });
            serde_json::to_writer(
                &mut out,
                &JsonlOut {
                    id,
                    findings,
                    redacted,
                },
            )?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(if any_errors {
        ExitCode::from(2)
    } else if any_findings {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
