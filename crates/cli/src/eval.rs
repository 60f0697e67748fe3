//! `rampart eval`: accuracy on labelled public data.
//!
//! - `pii`: per-class precision, recall and F1 on span-labelled corpora (faker-pii JSONL files,
//!   presidio-research synthetic sentences).
//! - `secrets`: share of gitleaks' must-match cases found and must-not-match cases flagged.
//! - `benign`: findings on text that holds no PII or secrets (benign prompt sets) and on real
//!   API documents (OpenAPI specs, HAR bodies), reported per class.

use rampart_threat::dataset::Split;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use rampart_core::{DataClass, Span};
use rampart_detect::{ScanOptions, Scanner};
use serde_json::Value;

/// Which evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Span-level PII accuracy per class.
    Pii,
    /// Secret formats: gitleaks must-match / must-not-match cases.
    Secrets,
    /// Findings on benign prompts and real API documents.
    Benign,
    /// Direct prompt injection and jailbreaks: held-out split, NotInject and WildGuard.
    Injection,
    /// Indirect injection in third-party documents (BIPIA, held-out split).
    Indirect,
}

/// Arguments of `rampart eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The suite to run.
    #[arg(value_enum)]
    pub suite: Suite,
    /// The shared evaluation data folder.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// faker-pii JSONL files to evaluate (default: the data folder's faker-pii/dev.jsonl).
    #[arg(long)]
    pub faker: Vec<PathBuf>,
    /// Print every miss and false positive, with the matched text of the public evaluation
    /// data (never use on private data).
    #[arg(long)]
    pub verbose: bool,
    /// `injection` and `indirect`: also report at this score threshold (e.g. the one a policy
    /// sets).
    #[arg(long)]
    pub threshold: Vec<f32>,
    /// `indirect`: measure on the development split instead of the held-out test split (for
    /// working on the detector; published figures use the test split).
    #[arg(long)]
    pub dev: bool,
}

/// Runs `rampart eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    if !args.data.is_dir() {
        bail!(
            "{}: evaluation data folder not found; pass --data DIR",
            args.data.display()
        );
    }
    let scanner = Scanner::builtin();
    match args.suite {
        Suite::Pii => pii(&args, scanner)?,
        Suite::Secrets => secrets(&args, scanner)?,
        Suite::Benign => benign(&args, scanner)?,
        Suite::Injection => {
            crate::eval_threat::injection(&args.data, args.verbose, &args.threshold)?
        }
        Suite::Indirect => crate::eval_threat::indirect(
            &args.data,
            args.verbose,
            &args.threshold,
            if args.dev { Split::Dev } else { Split::Test },
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One labelled text.
struct Labelled {
    id: String,
    text: String,
    /// Gold spans in bytes, with the class, or `None` for a labelled kind Rampart does not
    /// detect (names, addresses, generic dates): predictions over those are not counted.
    gold: Vec<(Span, Option<DataClass>)>,
}

/// Converts code-point offsets to byte offsets of `text`.
fn byte_span(text: &str, start: usize, end: usize) -> Span {
    let mut idx = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    let s = idx.nth(start).unwrap_or(text.len());
    let mut idx = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    let e = idx.nth(end).unwrap_or(text.len());
    Span::new(s, e)
}

fn faker_class(label: &str) -> Option<DataClass> {
    Some(match label {
        "EMAIL" => DataClass::EmailAddress,
        "PHONE" => DataClass::PhoneNumber,
        "SSN" => DataClass::UsSsn,
        "CREDIT_CARD" => DataClass::CreditCard,
        "IBAN" => DataClass::Iban,
        "IPV4" => DataClass::IpAddress,
        "DATE_OF_BIRTH" => DataClass::DateOfBirth,
        _ => return None,
    })
}

fn presidio_class(label: &str) -> Option<DataClass> {
    Some(match label {
        "EMAIL_ADDRESS" => DataClass::EmailAddress,
        "PHONE_NUMBER" => DataClass::PhoneNumber,
        "US_SSN" => DataClass::UsSsn,
        "CREDIT_CARD" => DataClass::CreditCard,
        "IBAN_CODE" => DataClass::Iban,
        "IP_ADDRESS" => DataClass::IpAddress,
        "US_DRIVER_LICENSE" => DataClass::DriverLicense,
        _ => return None,
    })
}

fn load_faker(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in raw.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        let text = v["text"].as_str().unwrap_or_default().to_string();
        let gold = v["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let span = byte_span(
                    &text,
                    s["start"].as_u64().unwrap_or(0) as usize,
                    s["end"].as_u64().unwrap_or(0) as usize,
                );
                (span, faker_class(s["label"].as_str().unwrap_or_default()))
            })
            .collect();
        out.push(Labelled {
            id: v["id"].as_str().unwrap_or_default().to_string(),
            text,
            gold,
        });
    }
    Ok(out)
}

fn load_presidio(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<Value> = serde_json::from_str(&raw)
        .with_context(|| format!("{}: not a JSON array", path.display()))?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let text = r["full_text"].as_str().unwrap_or_default().to_string();
            let gold = r["spans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let span = byte_span(
                        &text,
                        s["start_position"].as_u64().unwrap_or(0) as usize,
                        s["end_position"].as_u64().unwrap_or(0) as usize,
                    );
                    (
                        span,
                        presidio_class(s["entity_type"].as_str().unwrap_or_default()),
                    )
                })
                .collect();
            Labelled {
                id: format!("presidio-{i}"),
                text,
                gold,
            }
        })
        .collect())
}

/// Per-class counts.
#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    exact: usize,
    covered: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn score_set(name: &str, rows: &[Labelled], scanner: &Scanner, verbose: bool) {
    let mut counts: BTreeMap<DataClass, Counts> = BTreeMap::new();
    let opts = ScanOptions::default();
    for row in rows {
        let Ok(scan) = scanner.scan(row.text.as_bytes(), &opts) else {
            continue;
        };
        let preds: Vec<(Span, DataClass, &str)> = scan
            .findings()
            .map(|f| (f.span, f.class, f.detector))
            .collect();
        let mut matched = vec![false; preds.len()];
        for (gspan, gclass) in &row.gold {
            let Some(gclass) = gclass else { continue };
            let c = counts.entry(*gclass).or_default();
            let hit = preds
                .iter()
                .position(|(p, pc, _)| pc == gclass && p.overlaps(gspan));
            match hit {
                Some(i) => {
                    c.tp += 1;
                    matched[i] = true;
                    c.exact += usize::from(preds[i].0 == *gspan);
                    c.covered += usize::from(preds[i].0.contains(gspan));
                }
                None => {
                    c.fn_ += 1;
                    if verbose {
                        println!(
                            "  miss {name} {} {}: {:?}",
                            row.id,
                            gclass.name(),
                            &row.text[gspan.start..gspan.end]
                        );
                    }
                }
            }
        }
        for (i, (p, pc, det)) in preds.iter().enumerate() {
            if matched[i] {
                continue;
            }
            // a second prediction over the same gold value, or one over a labelled kind that
            // is not evaluated, is not a false positive
            if row
                .gold
                .iter()
                .any(|(g, gc)| g.overlaps(p) && (gc.is_none() || gc == &Some(*pc)))
            {
                continue;
            }
            counts.entry(*pc).or_default().fp += 1;
            if verbose {
                println!(
                    "  false {name} {} {} {det}: {:?}",
                    row.id,
                    pc.name(),
                    &row.text[p.start..p.end]
                );
            }
        }
    }
    println!("\n### {name} ({} texts)\n", rows.len());
    println!(
        "| class | gold | TP | FP | FN | precision | recall | F1 | exact span | covers gold |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (class, c) in &counts {
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            class.name(),
            c.tp + c.fn_,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1(),
            ratio(c.exact, c.tp),
            ratio(c.covered, c.tp)
        );
    }
}

fn pii(args: &EvalArgs, scanner: &Scanner) -> anyhow::Result<()> {
    let faker = if args.faker.is_empty() {
        vec![args.data.join("faker-pii/dev.jsonl")]
    } else {
        args.faker.clone()
    };
    println!(
        "## PII accuracy\n\nMatch rule: a prediction of the same class overlapping a gold span is a true positive; `exact span` and `covers gold` are shares of true positives."
    );
    for f in &faker {
        let rows = load_faker(f)?;
        score_set(
            &format!(
                "faker-pii {}",
                f.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            ),
            &rows,
            scanner,
            args.verbose,
        );
    }
    let presidio = load_presidio(
        &args
            .data
            .join("presidio-research-synth/synth_dataset_v2.json"),
    )?;
    score_set(
        "presidio-research synth_dataset_v2",
        &presidio,
        scanner,
        args.verbose,
    );
    Ok(())
}

fn secrets(args: &EvalArgs, scanner: &Scanner) -> anyhow::Result<()> {
    let path = args.data.join("gitleaks-rule-tests/cases.json");
    let raw = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&raw).with_context(|| format!("{}: not JSON", path.display()))?;
    let items = v["items"]
        .as_array()
        .context("cases.json has no items array")?;
    let opts = ScanOptions::default();
    let mut rows = Vec::new();
    let mut miss_reasons = BTreeMap::new();
    for clean_only in [true, false] {
        let (mut tp, mut tp_found, mut fp, mut fp_flagged) = (0, 0, 0, 0);
        let mut missed_rules: BTreeMap<&str, usize> = BTreeMap::new();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for item in items {
            let text = item["text"].as_str().unwrap_or_default();
            let noisy =
                text.contains("%s") || text.contains("gitleaks:allow") || text.contains('\n');
            if clean_only && noisy {
                continue;
            }
            let rule = item["rule_id"].as_str().unwrap_or("?");
            let flagged = scanner
                .scan(text.as_bytes(), &opts)
                .map(|s| s.findings().any(|f| f.class == DataClass::Secret))
                .unwrap_or(false);
            if item["label"] == "tp" {
                tp += 1;
                tp_found += usize::from(flagged);
                if !flagged {
                    *missed_rules.entry(rule).or_default() += 1;
                    *reasons.entry(miss_reason(text)).or_default() += 1;
                    if args.verbose && clean_only {
                        println!("  miss {rule} ({}): {text:?}", miss_reason(text));
                    }
                }
            } else {
                fp += 1;
                fp_flagged += usize::from(flagged);
                if flagged && args.verbose && clean_only {
                    let dets: Vec<&str> = scanner
                        .scan(text.as_bytes(), &opts)
                        .map(|s| s.findings().map(|f| f.detector).collect())
                        .unwrap_or_default();
                    println!("  flagged {rule} by {dets:?}: {text:?}");
                }
            }
        }
        rows.push((clean_only, tp, tp_found, fp, fp_flagged, missed_rules.len()));
        if clean_only {
            miss_reasons = reasons;
        }
    }
    println!("## Secrets: gitleaks rule test cases\n");
    println!(
        "| cases | must-match | found | recall | must-not-match | flagged | flag rate | rules with a miss |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (clean, tp, found, fp, flagged, missed) in rows {
        println!(
            "| {} | {tp} | {found} | {:.3} | {fp} | {flagged} | {:.3} | {missed} |",
            if clean {
                "clean (no %s, gitleaks:allow, newlines)"
            } else {
                "all"
            },
            ratio(found, tp),
            ratio(flagged, fp)
        );
    }
    println!(
        "\nMisses of the clean must-match cases, by what the case holds (classified mechanically):\n"
    );
    println!("| holds | cases |\n|---|---|");
    for (reason, n) in &miss_reasons {
        println!("| {reason} | {n} |");
    }
    Ok(())
}

/// Why a must-match case may have been missed, judged from its text alone: no token that could
/// be a secret (a file name, one word, a regex template), a placeholder (the same check the
/// detectors use), or neither (a real miss).
fn miss_reason(text: &str) -> &'static str {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || "\"'`=:,;()[]{}<>".contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    let longest = tokens.iter().copied().max_by_key(|t| t.len()).unwrap_or("");
    let file_name = tokens.len() == 1
        && [
            ".yaml", ".yml", ".config", ".tf", ".hcl", ".php", ".p12", ".pfx",
        ]
        .iter()
        .any(|ext| longest.to_ascii_lowercase().ends_with(ext));
    if file_name
        || text.contains("]{")
        || longest.len() < 12 && !longest.bytes().any(|b| b.is_ascii_digit())
    {
        "no secret-like token (file name, single word, regex template)"
    } else if rampart_detect::validate::is_placeholder(longest.as_bytes()) {
        "a placeholder (EXAMPLE, 1234567890, one repeated character), rejected by design"
    } else {
        "a secret-like token: a real miss"
    }
}

fn benign(args: &EvalArgs, scanner: &Scanner) -> anyhow::Result<()> {
    let opts = ScanOptions::default();
    println!("## Findings on benign data\n");
    println!("| set | texts | bytes | texts with a finding | findings by class |");
    println!("|---|---|---|---|---|");
    let report = |name: &str, texts: Vec<(String, Vec<u8>)>| {
        let (mut flagged, mut bytes) = (0, 0);
        let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, t) in &texts {
            bytes += t.len();
            let Ok(scan) = scanner.scan(t, &opts) else {
                continue;
            };
            let mut any = false;
            for f in scan.findings() {
                any = true;
                *by_class.entry(f.class.name()).or_default() += 1;
                if args.verbose {
                    let s = String::from_utf8_lossy(&scan.text[f.span.start..f.span.end]);
                    println!("  {name} {id} {} {}: {s:?}", f.class.name(), f.detector);
                }
            }
            flagged += usize::from(any);
        }
        let classes: Vec<String> = by_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!(
            "| {name} | {} | {bytes} | {flagged} | {} |",
            texts.len(),
            if classes.is_empty() {
                "-".into()
            } else {
                classes.join(", ")
            }
        );
    };
    for f in [
        "NotInject_one.json",
        "NotInject_two.json",
        "NotInject_three.json",
        "wildguard.json",
    ] {
        let path = args.data.join("injecguard-notinject").join(f);
        let raw = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let rows: Vec<Value> = serde_json::from_str(&raw)?;
        let texts = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i.to_string(),
                    r["prompt"].as_str().unwrap_or_default().as_bytes().to_vec(),
                )
            })
            .collect();
        report(f, texts);
    }
    let mut specs = Vec::new();
    for dir in ["openapi-specs/apis-guru", "openapi-specs/oai-examples"] {
        for e in std::fs::read_dir(args.data.join(dir))? {
            let p = e?.path();
            specs.push((
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("?")
                    .to_string(),
                std::fs::read(&p)?,
            ));
        }
    }
    specs.sort();
    report("OpenAPI specs (whole documents)", specs);
    let mut bodies = Vec::new();
    for e in std::fs::read_dir(args.data.join("har-captures"))? {
        let p = e?.path();
        if p.extension().and_then(|x| x.to_str()) != Some("har") {
            continue;
        }
        let raw = std::fs::read(&p)?;
        let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&raw);
        let Ok(har) = serde_json::from_slice::<Value>(raw) else {
            continue;
        };
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        for (i, entry) in har["log"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(t) = entry["request"]["postData"]["text"].as_str() {
                bodies.push((format!("{name}#{i}/request"), t.as_bytes().to_vec()));
            }
            let content = &entry["response"]["content"];
            if let Some(t) = content["text"].as_str() {
                let body = if content["encoding"] == "base64" {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(t.trim())
                        .unwrap_or_default()
                } else {
                    t.as_bytes().to_vec()
                };
                bodies.push((format!("{name}#{i}/response"), body));
            }
        }
    }
    report("HAR request and response bodies", bodies);
    Ok(())
}
