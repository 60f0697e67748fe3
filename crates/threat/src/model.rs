//! The linear classifier over hashed n-grams and dense signals, and its file format.
//!
//! A model file is `RMPTM001`, a little-endian `u32` header length, a JSON [`Header`], then one
//! signed byte per hashed bucket (`2^bits` of them; the weight is the byte times
//! `header.scale`). The shipped models are embedded in the binary; nothing is downloaded.

use serde::{Deserialize, Serialize};

use crate::features::{self, DENSE, Feature};

const MAGIC: &[u8; 8] = b"RMPTM001";

/// Everything about a model but its hashed weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The model's name (`injection`, `indirect`).
    pub name: String,
    /// Version, bumped on every retraining that changes the weights.
    pub version: u32,
    /// `2^bits` hashed buckets.
    pub bits: u32,
    /// Weight of one quantization step.
    pub scale: f32,
    /// The intercept.
    pub bias: f32,
    /// The hashed sum is divided by the n-gram count to this power (0.5: square root).
    #[serde(default = "half")]
    pub pool: f32,
    /// Pseudo-count added to the n-gram count before pooling: the scores of very short texts
    /// (a greeting, one word) shrink toward the intercept instead of swinging on a few n-grams.
    #[serde(default)]
    pub smooth: f32,
    /// Weights of the dense features (signals, length).
    pub dense: Vec<f32>,
    /// Platt calibration: probability = sigmoid(a * logit + b), plus [`Header::platt_signal`]
    /// inside the sigmoid when a structural signal fired.
    pub platt: [f32; 2],
    /// Added to the calibrated logit when the text carries structural evidence (a role marker,
    /// an override phrase, a hidden payload...). A text with a signal and one without can have
    /// the same n-gram score and still differ in how often they are attacks; 0 in files written
    /// before the term existed.
    #[serde(default)]
    pub platt_signal: f32,
    /// The recommended threshold: the calibrated score at which the false-positive rate on the
    /// development split was at most 0.5% (direct model) or 2% (indirect model).
    pub threshold: f32,
    /// How the model was trained: data, splits, counts, hyper-parameters.
    pub trained: serde_json::Value,
}

fn half() -> f32 {
    0.5
}

/// A loaded model. The hashed weights stay quantized in memory (one byte each, a quarter of
/// the cache a float table would take); sums are exact integers scaled once.
#[derive(Clone, Debug)]
pub struct Model {
    /// Its header.
    pub header: Header,
    /// Two entries per bucket: its weight, then the weight negated. A feature's hash picks the
    /// bucket and the sign with one shift (see [`features::signed_sum`]).
    table: Vec<i8>,
}

/// The signed table of quantized weights (a weight byte of -128, which no model writes, is
/// read as -127 so that it can be negated).
fn signed_table(weights: impl Iterator<Item = i8>) -> Vec<i8> {
    weights
        .flat_map(|w| {
            let w = w.max(-127);
            [w, -w]
        })
        .collect()
}

/// The quantization step that maps the largest weight to 127.
fn scale_of(weights: &[f32]) -> f32 {
    let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
    if max > 0.0 { max / 127.0 } else { 1.0 }
}

/// Why a model file could not be read.
#[derive(Debug)]
pub struct ModelError(pub String);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid model file: {}", self.0)
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// Builds a model from float weights (training uses this); they are quantized as a model
    /// file stores them.
    pub fn from_weights(mut header: Header, weights: Vec<f32>) -> Model {
        assert_eq!(weights.len(), 1 << header.bits);
        let scale = scale_of(&weights);
        header.scale = scale;
        let table = signed_table(
            weights
                .iter()
                .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8),
        );
        Model { header, table }
    }

    /// Reads a model file.
    pub fn read(bytes: &[u8]) -> Result<Model, ModelError> {
        let err = |m: &str| ModelError(m.to_owned());
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(err("missing the RMPTM001 magic"));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default()) as usize;
        let body = bytes
            .get(12..12 + len)
            .ok_or_else(|| err("truncated header"))?;
        let header: Header =
            serde_json::from_slice(body).map_err(|e| ModelError(format!("header: {e}")))?;
        if header.bits > 24 || header.dense.len() != DENSE {
            return Err(err("unsupported bucket count or dense width"));
        }
        let q = &bytes[12 + len..];
        if q.len() != 1 << header.bits {
            return Err(ModelError(format!(
                "expected {} weights, found {}",
                1u64 << header.bits,
                q.len()
            )));
        }
        let table = signed_table(q.iter().map(|&b| b as i8));
        Ok(Model { header, table })
    }

    /// Writes the model file: the header, then one signed byte per weight.
    pub fn write(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.header).unwrap_or_default();
        let mut out = Vec::with_capacity(12 + json.len() + self.table.len() / 2);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend(self.table.iter().step_by(2).map(|&w| w as u8));
        out
    }

    /// The raw score (log-odds before calibration) of a text's features and dense values.
    pub fn logit(&self, feats: &[Feature], dense: &[f32; DENSE]) -> f32 {
        self.combine(self.sum(feats), feats.len(), dense)
    }

    /// The signed sum of the hashed weights of `feats` (extract() masks every bucket to the
    /// model's bits, so indexing cannot go out of range).
    pub fn sum(&self, feats: &[Feature]) -> f32 {
        let mut sum = 0i32;
        for &f in feats {
            sum += signed(f, self.table[features::bucket(f) * 2]);
        }
        sum as f32 * self.header.scale
    }

    /// The signed weight sum and the count of the hashed features of normalized `text`,
    /// computed as the features are hashed (nothing is collected).
    pub fn sum_text(&self, text: &str) -> (f32, usize) {
        let (sum, n) = features::signed_sum(text, self.header.bits, &self.table);
        (sum as f32 * self.header.scale, n)
    }

    /// The raw score from a hashed-weight sum over `n` n-grams and the dense values: texts
    /// scored in parts are combined by adding their sums and counts.
    pub fn combine(&self, sum: f32, n: usize, dense: &[f32; DENSE]) -> f32 {
        let norm = if n == 0 {
            0.0
        } else {
            sum / (n as f32 + self.header.smooth).powf(self.header.pool)
        };
        let dense_sum: f32 = dense
            .iter()
            .zip(&self.header.dense)
            .map(|(x, w)| x * w)
            .sum();
        self.header.bias + norm + dense_sum
    }

    /// The calibrated probability of a raw score; `signal` says whether structural evidence
    /// was found in the text.
    pub fn calibrate(&self, logit: f32, signal: bool) -> f32 {
        let [a, b] = self.header.platt;
        let c = if signal {
            self.header.platt_signal
        } else {
            0.0
        };
        1.0 / (1.0 + (-(a * logit + b + c)).exp())
    }
}

/// A quantized weight with the feature's sign applied.
#[inline]
fn signed(f: Feature, w: i8) -> i32 {
    let neg = (f >> 31) as i32; // 0 or 1
    (w as i32 ^ -neg) + neg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file_format() {
        let header = Header {
            name: "t".into(),
            version: 1,
            bits: 4,
            scale: 1.0,
            bias: 0.5,
            pool: 0.5,
            smooth: 0.0,
            dense: vec![0.0; DENSE],
            platt: [1.0, 0.0],
            platt_signal: 0.0,
            threshold: 0.5,
            trained: serde_json::Value::Null,
        };
        let w: Vec<f32> = (0..16).map(|i| i as f32 / 10.0 - 0.8).collect();
        let m = Model::from_weights(header, w.clone());
        let back = Model::read(&m.write()).unwrap();
        for (a, b) in back.table.iter().step_by(2).zip(&w) {
            let a = *a as f32 * back.header.scale;
            assert!((a - b).abs() < 0.01, "{a} vs {b}");
        }
        assert_eq!(signed(0, 5), 5);
        assert_eq!(signed(0x8000_0000, 5), -5);
        assert_eq!(signed(0x8000_0000, -127), 127);
        assert!(Model::read(b"nope").is_err());
        let mut cut = m.write();
        cut.pop();
        assert!(Model::read(&cut).is_err());
    }

    /// Texts of every short length and of many byte classes: words, digits, apostrophes,
    /// sentence ends, other punctuation, multi-byte letters.
    fn texts() -> Vec<String> {
        let alphabet = [
            "a", "b", "z", "7", "'", " ", ".", "!", "?", "\n", ":", ";", ",", "-", "é", "я", "ab",
            "the ", "ignore ", "  ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = vec![
            String::new(),
            " ".into(),
            "a".into(),
            "hi".into(),
            "abc".into(),
        ];
        for len in 0..200 {
            let mut t = String::new();
            for _ in 0..len % 60 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                t.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn the_fused_sum_reads_the_same_features_as_extract() {
        let shipped = crate::Classifier::injection().model();
        let header = Header {
            bits: 6,
            ..shipped.header.clone()
        };
        let small = Model::from_weights(header, (0..64).map(|i| i as f32 - 31.5).collect());
        for m in [shipped, &small] {
            let mut feats = Vec::new();
            for t in texts() {
                features::extract(&t, m.header.bits, &mut feats);
                let (sum, n) = m.sum_text(&t);
                assert_eq!(n, feats.len(), "{t:?}");
                assert_eq!(sum, m.sum(&feats), "{t:?}");
            }
        }
    }
}
