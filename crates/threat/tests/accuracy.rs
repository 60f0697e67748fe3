//! The shipped classifiers on the held-out data they were not trained or calibrated on: the
//! accuracy targets of docs/ACCURACY.md hold (a regression guard; the figures themselves come
//! from `rampart eval injection|indirect`).

use std::path::PathBuf;

use rampart_threat::Classifier;
use rampart_threat::dataset::{self, Split};
use rampart_threat::eval::{AtThreshold, auc, threshold_at_fpr};

/// The shared data folder: `$RAMPART_SHARED_DATA`, or `../shared/data` beside the repository.
fn data_dir() -> PathBuf {
    rampart_detect::corpus::data_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shared data not found; set RAMPART_SHARED_DATA")
}

#[test]
fn direct_injection_meets_the_target_on_held_out_data() {
    let samples = dataset::direct(&data_dir()).unwrap();
    let c = Classifier::injection();
    let test: Vec<_> = samples.iter().filter(|s| s.split == Split::Test).collect();
    assert!(test.iter().filter(|s| s.attack).count() >= 100);
    assert!(test.iter().any(|s| s.source == "notinject"));
    let scored: Vec<(f32, bool)> = test
        .iter()
        .map(|s| (c.assess(&s.text).score, s.attack))
        .collect();
    // TPR at FPR <= 2%, NotInject counted as held-out benign data
    let t = threshold_at_fpr(&scored, 0.02);
    let m = AtThreshold::count(&scored, t);
    assert!(m.fpr() <= 0.02);
    assert!(m.tpr() >= 0.90, "TPR at FPR<=2% is {:.3}", m.tpr());
    assert!(auc(&scored) >= 0.97);
    // over-defence at the default policy's threshold
    let notinject: Vec<f32> = test
        .iter()
        .filter(|s| s.source == "notinject")
        .map(|s| c.assess(&s.text).score)
        .collect();
    let flagged = notinject.iter().filter(|&&s| s >= 0.9).count();
    assert!(
        flagged * 100 <= notinject.len() * 10,
        "{flagged} of {} NotInject prompts flagged at 0.9",
        notinject.len()
    );
}

#[test]
fn no_training_text_is_in_the_test_split() {
    let samples = dataset::direct(&data_dir()).unwrap();
    let train: std::collections::HashSet<&str> = samples
        .iter()
        .filter(|s| s.split == Split::Train)
        .map(|s| s.text.as_str())
        .collect();
    let leaked = samples
        .iter()
        .filter(|s| s.split == Split::Test && train.contains(s.text.as_str()))
        .count();
    assert_eq!(leaked, 0);
}

#[test]
fn indirect_injection_ranks_attacked_documents_first() {
    let b = dataset::bipia(&data_dir()).unwrap();
    let docs = dataset::documents(&b, Split::Test, 2);
    let c = Classifier::indirect();
    let scored: Vec<(f32, bool)> = docs
        .iter()
        .map(|d| (c.document(&d.text).score, d.attack))
        .collect();
    assert!(scored.iter().filter(|s| s.1).count() >= 100);
    // the documented figures (docs/ACCURACY.md): AUC 0.98, ~80% caught at ~5% false positives
    assert!(auc(&scored) >= 0.95, "AUC {:.3}", auc(&scored));
    let m = AtThreshold::count(&scored, c.threshold());
    assert!(m.tpr() >= 0.75 && m.fpr() <= 0.08, "{m:?}");
}
