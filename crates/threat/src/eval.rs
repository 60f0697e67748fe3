//! Accuracy measures for scored, labelled texts: TPR at a fixed false-positive rate, precision,
//! recall, F1 and ROC AUC.

/// Measures at one threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AtThreshold {
    /// The score threshold (a text scoring at or above it is flagged).
    pub threshold: f32,
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
}

impl AtThreshold {
    /// Counts flags of `scored` (score, is attack) at `threshold`.
    pub fn count(scored: &[(f32, bool)], threshold: f32) -> AtThreshold {
        let mut m = AtThreshold {
            threshold,
            ..Default::default()
        };
        for &(s, attack) in scored {
            match (s >= threshold, attack) {
                (true, true) => m.tp += 1,
                (true, false) => m.fp += 1,
                (false, false) => m.tn += 1,
                (false, true) => m.fn_ += 1,
            }
        }
        m
    }

    /// Share of attacks flagged (recall).
    pub fn tpr(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Share of benign texts flagged.
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }

    /// Share of flags that were attacks.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.tpr());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The lowest threshold whose false-positive rate on `scored` is at most `max_fpr`.
pub fn threshold_at_fpr(scored: &[(f32, bool)], max_fpr: f64) -> f32 {
    let mut neg: Vec<f32> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if neg.is_empty() {
        return 0.5;
    }
    neg.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_fpr * neg.len() as f64).floor() as usize;
    // flag strictly above the (allowed+1)-th highest benign score
    let t = neg[allowed.min(neg.len() - 1)];
    next_up(t)
}

fn next_up(x: f32) -> f32 {
    if x >= 1.0 {
        return f32::from_bits(x.to_bits() + 1);
    }
    let bits = x.to_bits();
    if x >= 0.0 {
        f32::from_bits(bits + 1)
    } else {
        f32::from_bits(bits - 1)
    }
}

/// Area under the ROC curve (the chance an attack outscores a benign text; ties count half).
pub fn auc(scored: &[(f32, bool)]) -> f64 {
    let mut v: Vec<(f32, bool)> = scored.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut pos, mut neg) = (0f64, 0usize, 0usize);
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        for item in &v[i..j] {
            if item.1 {
                rank_sum += avg;
                pos += 1;
            } else {
                neg += 1;
            }
        }
        i = j;
    }
    if pos == 0 || neg == 0 {
        return 0.0;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_keeps_the_false_positive_rate() {
        let mut s: Vec<(f32, bool)> = (0..100).map(|i| (i as f32 / 100.0, false)).collect();
        s.extend((0..10).map(|i| (0.991 + i as f32 / 1000.0, true)));
        let t = threshold_at_fpr(&s, 0.02);
        let m = AtThreshold::count(&s, t);
        assert!(m.fpr() <= 0.02, "{m:?}");
        assert_eq!(m.fp, 2);
        assert_eq!(m.tp, 10);
        assert!((auc(&s) - 0.9995).abs() < 0.01);
    }
}
