//! The shipped classifiers on held-out data, at the thresholds that ship: the classifier's
//! recommended threshold (fixed on the dev split when the model was trained) and the default
//! policy's (`policies/default.yaml`). No threshold here is read off the data it is measured
//! on. Where a figure misses the target of docs/ACCURACY.md, the test holds the honest
//! current floor and says so; the figures themselves come from
//! `rampart eval injection|indirect`.

use std::path::{Path, PathBuf};

use rampart_threat::Classifier;
use rampart_threat::dataset::{self, Split};
use rampart_threat::eval::{AtThreshold, auc};

/// The shared data folder: `$RAMPART_SHARED_DATA`, or `../shared/data` beside the repository.
fn data_dir() -> PathBuf {
    rampart_detect::corpus::data_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shared data not found; set RAMPART_SHARED_DATA")
}

/// The `threshold` the shipped default policy gives the LLM detector `key`
/// (`promptInjection`, `indirectInjection`).
fn default_policy_threshold(key: &str) -> f32 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/default.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no `{key}` in {}", path.display()));
    let value = line
        .split_once("threshold:")
        .and_then(|(_, rest)| rest.split([',', '}']).next())
        .unwrap_or_else(|| panic!("no threshold for `{key}`: {line}"));
    value.trim().parse().unwrap()
}

/// Measures `scored` at `threshold`, printing the figures so a failure shows all of them.
fn at(scored: &[(f32, bool)], threshold: f32, what: &str) -> AtThreshold {
    let m = AtThreshold::count(scored, threshold);
    eprintln!(
        "{what} at {threshold:.3}: TPR {:.3} ({}/{}), FPR {:.4} ({}/{})",
        m.tpr(),
        m.tp,
        m.tp + m.fn_,
        m.fpr(),
        m.fp,
        m.fp + m.tn
    );
    m
}

#[test]
fn direct_injection_at_the_shipped_thresholds_on_held_out_data() {
    let samples = dataset::direct(&data_dir()).unwrap();
    let c = Classifier::injection();
    let test: Vec<_> = samples.iter().filter(|s| s.split == Split::Test).collect();
    assert!(test.iter().filter(|s| s.attack).count() >= 100);
    let scored: Vec<(f32, bool)> = test
        .iter()
        .map(|s| (c.assess(&s.text).score, s.attack))
        .collect();
    // threshold-free: measured 0.983
    assert!(auc(&scored) >= 0.97, "AUC {:.3}", auc(&scored));

    // The target is TPR >= 90% at FPR <= 2%. Neither shipped threshold meets all of it on the
    // test split (docs/ACCURACY.md); the floors below are the figures measured at this commit
    // with a sample or two of slack, so a regression fails while the known miss is stated,
    // not hidden.
    let recommended = at(&scored, c.threshold(), "recommended threshold");
    // measured TPR 93.8% (met); FPR 3.8%: target missed, floor 4%
    assert!(recommended.tpr() >= 0.92, "{recommended:?}");
    assert!(recommended.fpr() <= 0.04, "{recommended:?}");

    let policy = default_policy_threshold("promptInjection");
    let default = at(&scored, policy, "default policy threshold");
    // measured FPR 1.2% (target met); TPR 89.8%: target missed, floor 89%
    assert!(default.fpr() <= 0.02, "{default:?}");
    assert!(default.tpr() >= 0.89, "{default:?}");
}

#[test]
fn direct_injection_over_defence_on_a_source_never_trained_or_calibrated_on() {
    let samples = dataset::direct(&data_dir()).unwrap();
    // NotInject is a source of its own, entirely in the test split: disjoint from training and
    // calibration by source, not only by cluster
    let notinject: Vec<_> = samples.iter().filter(|s| s.source == "notinject").collect();
    assert!(
        notinject.len() >= 300,
        "{} NotInject prompts",
        notinject.len()
    );
    assert!(
        notinject
            .iter()
            .all(|s| s.split == Split::Test && !s.attack)
    );
    let c = Classifier::injection();
    let scored: Vec<(f32, bool)> = notinject
        .iter()
        .map(|s| (c.assess(&s.text).score, false))
        .collect();
    // measured 5.6% flagged at the default policy's threshold, 14.2% at the recommended one
    let default = at(
        &scored,
        default_policy_threshold("promptInjection"),
        "NotInject, default policy threshold",
    );
    assert!(default.fpr() <= 0.07, "{default:?}");
    let recommended = at(&scored, c.threshold(), "NotInject, recommended threshold");
    assert!(recommended.fpr() <= 0.16, "{recommended:?}");
}

#[test]
fn no_training_text_is_in_the_test_split() {
    let samples = dataset::direct(&data_dir()).unwrap();
    let train: std::collections::HashSet<&str> = samples
        .iter()
        .filter(|s| s.split == Split::Train)
        .map(|s| s.text.as_str())
        .collect();
    let test = samples.iter().filter(|s| s.split == Split::Test);
    assert!(test.clone().count() >= 1000);
    let leaked = test.filter(|s| train.contains(s.text.as_str())).count();
    assert_eq!(leaked, 0);
}

#[test]
fn indirect_injection_at_the_shipped_thresholds_on_held_out_documents() {
    let b = dataset::bipia(&data_dir()).unwrap();
    // test documents: contexts of test clusters, attacks of test-only categories
    let docs = dataset::documents(&b, Split::Test, 2);
    let c = Classifier::indirect();
    let scored: Vec<(f32, bool)> = docs
        .iter()
        .map(|d| (c.document(&d.text).score, d.attack))
        .collect();
    assert!(scored.iter().filter(|s| s.1).count() >= 100);
    // threshold-free: measured 0.991
    assert!(auc(&scored) >= 0.98, "AUC {:.3}", auc(&scored));
    // The target (TPR >= 90% at FPR <= 2%) is not met for indirect injection at either
    // shipped threshold (docs/ACCURACY.md); the floors are the figures measured at this commit.
    let recommended = at(&scored, c.threshold(), "recommended threshold");
    // measured TPR 100%, FPR 4.2%: FPR target missed, floor 5%
    assert!(recommended.tpr() >= 0.98, "{recommended:?}");
    assert!(recommended.fpr() <= 0.05, "{recommended:?}");
    let default = at(
        &scored,
        default_policy_threshold("indirectInjection"),
        "default policy threshold",
    );
    // measured TPR 80.3%, FPR 2.1%: both miss the target, floors 79% and 3%
    assert!(default.tpr() >= 0.79, "{default:?}");
    assert!(default.fpr() <= 0.03, "{default:?}");
}
