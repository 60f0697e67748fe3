//! Abuse and model-extraction signals per identity (OWASP LLM10:2025 unbounded consumption,
//! API4:2023 and API6:2023). Each signal is a name that audit events record and CEL conditions
//! read (`"near_duplicate_prompts" in signals`), so a policy can throttle or block on it:
//!
//! - `volume_spike`: this minute's requests exceed `spike_factor` × the identity's own baseline
//!   (a moving average of its earlier minutes) and at least `spike_min` requests.
//! - `near_duplicate_prompts`: at least `duplicate_count` of the identity's recent prompts
//!   (last 10 minutes, at most 64 kept) are near-duplicates of this one (SimHash of word
//!   trigrams within `duplicate_distance` bits): the same prompt with systematic variations,
//!   how model extraction and brute-force probing look.
//! - `max_length_generations`: `max_length_count` answers in the last 10 minutes were cut at
//!   the maximum length (finish reason `length`, `max_tokens`, `MAX_TOKENS`).
//! - `embedding_enumeration`: `embedding_rate` or more embedding calls in the current minute.
//!
//! Signals are kept per replica (in memory). With a shared store, the counts that need the
//! global view (requests and embedding calls per identity and minute, behind `volume_spike` and
//! `embedding_enumeration`) are also added up across replicas: [`Tracker::take_pending`] hands
//! the front end what this replica counted since it last asked, the front end adds it to the
//! store off the request path ([`crate::Limiter::share_counts`]) and gives the totals back
//! ([`Tracker::apply_shared`]). A replica then reads the larger of its own count and the
//! store's total plus what it has not sent yet. Near-duplicate prompts and truncated answers stay
//! per replica. Signals are evidence for policy, not counters that must be exact.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Deserialize;

/// Thresholds of the signals.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// A minute this many times the baseline is a spike.
    pub spike_factor: f64,
    /// ... and at least this many requests.
    pub spike_min: u32,
    /// Near-duplicates of one prompt among the recent ones that raise the signal.
    pub duplicate_count: u32,
    /// SimHash bits two prompts may differ in and still be near-duplicates (of 64).
    pub duplicate_distance: u32,
    /// Answers cut at the maximum length in 10 minutes that raise the signal.
    pub max_length_count: u32,
    /// Embedding calls in one minute that raise the signal.
    pub embedding_rate: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            spike_factor: 5.0,
            spike_min: 60,
            duplicate_count: 20,
            duplicate_distance: 16,
            max_length_count: 10,
            embedding_rate: 120,
        }
    }
}

/// What kind of call a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// A generation (chat, messages, responses, generateContent).
    Generation,
    /// An embedding.
    Embedding,
    /// Anything else.
    Other,
}

const WINDOW_MS: u64 = 10 * 60 * 1_000;
const KEPT: usize = 64;
const MAX_IDENTITIES: usize = 100_000;

#[derive(Debug, Default)]
struct State {
    minute: u64,
    this_minute: u32,
    embeddings_this_minute: u32,
    /// Moving average of requests per minute over earlier minutes, and how many minutes.
    baseline: f64,
    minutes_seen: u32,
    prompts: VecDeque<(u64, u64)>,
    truncated: VecDeque<u64>,
    last_ms: u64,
    /// Counted here and not yet sent to the shared store: minute, requests, embeddings.
    unsent: Option<(u64, u32, u32)>,
    /// The shared store's last totals: minute, requests, embeddings (this replica included).
    shared: Option<(u64, u32, u32)>,
}

impl State {
    /// This minute's requests and embedding calls, across replicas when a store shares them.
    fn counts(&self, minute: u64) -> (u32, u32) {
        let (mut req, mut emb) = if self.minute == minute {
            (self.this_minute, self.embeddings_this_minute)
        } else {
            (0, 0)
        };
        if let Some((m, r, e)) = self.shared
            && m == minute
        {
            let (ur, ue) = match self.unsent {
                Some((um, ur, ue)) if um == minute => (ur, ue),
                _ => (0, 0),
            };
            req = req.max(r.saturating_add(ur));
            emb = emb.max(e.saturating_add(ue));
        }
        (req, emb)
    }
}

/// What one replica counted for one identity in one minute and has not sent to the shared
/// store yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The identity.
    pub identity: String,
    /// The minute (ms since the epoch / 60,000).
    pub minute: u64,
    /// Requests.
    pub requests: u32,
    /// Embedding calls.
    pub embeddings: u32,
}

/// Per-identity state of the signals.
#[derive(Debug)]
pub struct Tracker {
    thresholds: Thresholds,
    state: Mutex<HashMap<String, State>>,
    /// Identities with counts not sent to the shared store yet.
    dirty: Mutex<Vec<String>>,
    /// Whether a shared store takes the counts ([`Tracker::share_counts`]).
    sharing: std::sync::atomic::AtomicBool,
}

impl Tracker {
    /// A tracker with `thresholds`.
    pub fn new(thresholds: Thresholds) -> Tracker {
        Tracker {
            thresholds,
            state: Mutex::new(HashMap::new()),
            dirty: Mutex::new(Vec::new()),
            sharing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on, counts are kept for a shared store to take ([`Tracker::take_pending`]);
    /// the front end that calls this must take them regularly.
    pub fn share_counts(&self) {
        self.sharing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// What was counted since the last call, per identity (at most `max` identities; the rest
    /// wait for the next call), for the shared store.
    pub fn take_pending(&self, max: usize) -> Vec<Pending> {
        let names: Vec<String> = {
            let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
            let n = dirty.len().min(max);
            dirty.drain(..n).collect()
        };
        let mut all = self.state.lock().unwrap_or_else(|p| p.into_inner());
        names
            .into_iter()
            .filter_map(|identity| {
                let s = all.get_mut(&identity)?;
                let (minute, requests, embeddings) = s.unsent.take()?;
                Some(Pending {
                    identity,
                    minute,
                    requests,
                    embeddings,
                })
            })
            .collect()
    }

    /// The shared store's totals for `identity` in `minute`, every replica's counts included
    /// (this one's up to its last [`Tracker::take_pending`]).
    pub fn apply_shared(&self, identity: &str, minute: u64, requests: u32, embeddings: u32) {
        let mut all = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.get_mut(identity)
            && s.shared.is_none_or(|(m, _, _)| m <= minute)
        {
            s.shared = Some((minute, requests, embeddings));
        }
    }

    /// Records a request of `identity` at `now_ms` with its prompt text; returns the signals
    /// it raises.
    pub fn observe_request(
        &self,
        identity: &str,
        kind: CallKind,
        prompt: &str,
        now_ms: u64,
    ) -> Vec<&'static str> {
        let t = &self.thresholds;
        let mut all = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_IDENTITIES && !all.contains_key(identity) {
            all.retain(|_, s| now_ms.saturating_sub(s.last_ms) < WINDOW_MS);
        }
        if !all.contains_key(identity) {
            all.insert(identity.to_owned(), State::default());
        }
        let s = all.get_mut(identity).expect("inserted above");
        s.last_ms = now_ms;
        let minute = now_ms / 60_000;
        if minute != s.minute {
            if s.minute != 0 {
                // the minutes since the last request count, the quiet ones as zero
                let closing = f64::from(s.counts(s.minute).0);
                let gap = (minute - s.minute).min(60) as u32;
                for m in 0..gap {
                    let n = if m == 0 { closing } else { 0.0 };
                    s.baseline = if s.minutes_seen == 0 {
                        n
                    } else {
                        0.8 * s.baseline + 0.2 * n
                    };
                    s.minutes_seen += 1;
                }
            }
            s.minute = minute;
            s.this_minute = 0;
            s.embeddings_this_minute = 0;
        }
        s.this_minute += 1;
        let embedding = kind == CallKind::Embedding;
        if embedding {
            s.embeddings_this_minute += 1;
        }
        // counted for the shared store too (what a minute had not sent when it ended is not
        // sent: a fraction of a flush interval)
        let sharing = self.sharing.load(std::sync::atomic::Ordering::Relaxed);
        let first = sharing && s.unsent.is_none();
        if sharing {
            s.unsent = Some(match s.unsent {
                Some((m, r, e)) if m == minute => (
                    m,
                    r.saturating_add(1),
                    e.saturating_add(u32::from(embedding)),
                ),
                _ => (minute, 1, u32::from(embedding)),
            });
        }
        let (requests, embeddings) = s.counts(minute);
        let mut signals = Vec::new();
        if s.minutes_seen >= 3
            && requests >= t.spike_min
            && f64::from(requests) > t.spike_factor * s.baseline.max(1.0)
        {
            signals.push("volume_spike");
        }
        if embedding && embeddings >= t.embedding_rate {
            signals.push("embedding_enumeration");
        }
        if kind == CallKind::Generation && !prompt.trim().is_empty() {
            let fp = simhash(prompt);
            while s
                .prompts
                .front()
                .is_some_and(|(at, _)| now_ms.saturating_sub(*at) > WINDOW_MS)
            {
                s.prompts.pop_front();
            }
            let near = s
                .prompts
                .iter()
                .filter(|(_, other)| (fp ^ other).count_ones() <= t.duplicate_distance)
                .count() as u32;
            if near >= t.duplicate_count {
                signals.push("near_duplicate_prompts");
            }
            s.prompts.push_back((now_ms, fp));
            if s.prompts.len() > KEPT {
                s.prompts.pop_front();
            }
        }
        while s
            .truncated
            .front()
            .is_some_and(|at| now_ms.saturating_sub(*at) > WINDOW_MS)
        {
            s.truncated.pop_front();
        }
        if s.truncated.len() as u32 >= t.max_length_count {
            signals.push("max_length_generations");
        }
        drop(all);
        if first {
            let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
            // bounded while the store is unreachable and nothing is taken
            if dirty.len() < MAX_IDENTITIES {
                dirty.push(identity.to_owned());
            }
        }
        signals
    }

    /// Records that an answer to `identity` was cut at the maximum length.
    pub fn observe_truncated(&self, identity: &str, now_ms: u64) {
        let mut all = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = all.entry(identity.to_owned()).or_default();
        s.truncated.push_back(now_ms);
        if s.truncated.len() > KEPT {
            s.truncated.pop_front();
        }
    }
}

/// Features (word trigrams) a fingerprint looks at (about the first 400 bytes of text).
const MAX_FEATURES: usize = 64;

/// For each byte value, +1 or -1 per bit: eight counters move per table row.
const SIGNS: [[i16; 8]; 256] = {
    let mut t = [[0i16; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            t[b][i] = if (b >> i) & 1 == 1 { 1 } else { -1 };
            i += 1;
        }
        b += 1;
    }
    t
};

/// 64-bit SimHash of a text's lower-cased word trigrams (of its words, for texts under three
/// words), over its first 64 trigrams. No allocation: words are hashed as they are read.
pub fn simhash(text: &str) -> u64 {
    let mut weights = [0i16; 64];
    let mut add = |h: u64| {
        for (k, byte) in h.to_le_bytes().into_iter().enumerate() {
            let row = &SIGNS[byte as usize];
            for (w, s) in weights[k * 8..k * 8 + 8].iter_mut().zip(row) {
                *w += s;
            }
        }
    };
    let mut words = [0u64; 3];
    let mut n = 0usize;
    let mut features = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && features < MAX_FEATURES {
        // a word: a run of letters and digits (any non-ASCII byte counts as a letter)
        if !(bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80) {
            i += 1;
            continue;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80) {
            h ^= u64::from(bytes[i].to_ascii_lowercase());
            h = h.wrapping_mul(0x100_0000_01b3);
            i += 1;
        }
        words = [words[1], words[2], h];
        n += 1;
        if n >= 3 {
            add(mix(words[0].rotate_left(21)
                ^ words[1].rotate_left(42)
                ^ words[2]));
            features += 1;
        }
    }
    if n < 3 {
        for &w in &words[3 - n..] {
            add(mix(w));
        }
    }
    weights
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &w)| if w > 0 { acc | 1 << i } else { acc })
}

/// A 64-bit finalizer (splitmix64), so nearby inputs give unrelated bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn systematically_varied_prompts_are_near_duplicates() {
        let tracker = Tracker::new(Thresholds::default());
        let mut raised = None;
        for i in 0..40 {
            let prompt = format!(
                "Translate the following sentence into French and explain every word choice in detail, item number {i}"
            );
            if tracker
                .observe_request("extractor", CallKind::Generation, &prompt, 1_000 * MIN + i)
                .contains(&"near_duplicate_prompts")
            {
                raised.get_or_insert(i);
            }
        }
        // unrelated 64-bit hashes differ in ~32 bits (sd 4); variants of one prompt in few
        assert!(
            raised.is_some_and(|i| (20..=24).contains(&i)),
            "raised once about 20 earlier prompts are near: {raised:?}"
        );
        // varied, unrelated prompts from another identity raise nothing
        let topics = [
            "weather in Paris tomorrow",
            "a haiku about autumn leaves",
            "sort a list in Rust",
            "the capital of Peru",
            "how do vaccines work",
            "best way to learn piano",
            "explain TCP slow start",
            "a recipe for lentil soup",
            "history of the printing press",
            "why is the sky blue",
        ];
        for (i, t) in topics.iter().cycle().take(40).enumerate() {
            let prompt = format!("{t} {}", "please answer briefly".repeat(i % 3));
            let s = tracker.observe_request(
                "human",
                CallKind::Generation,
                &prompt,
                1_000 * MIN + i as u64,
            );
            assert!(!s.contains(&"near_duplicate_prompts"), "{i}: {prompt}");
        }
    }

    #[test]
    fn a_spike_is_measured_against_the_identitys_own_baseline() {
        let tracker = Tracker::new(Thresholds::default());
        // five quiet minutes of 10 requests each
        for m in 0..5 {
            for i in 0..10 {
                let s = tracker.observe_request("svc", CallKind::Other, "", (100 + m) * MIN + i);
                assert!(s.is_empty());
            }
        }
        // then 100 in one minute
        let mut spiked = false;
        for i in 0..100 {
            spiked |= tracker
                .observe_request("svc", CallKind::Other, "", 105 * MIN + i)
                .contains(&"volume_spike");
        }
        assert!(spiked);
    }

    #[test]
    fn truncated_answers_and_embedding_bursts_raise_their_signals() {
        let tracker = Tracker::new(Thresholds::default());
        for i in 0..10 {
            tracker.observe_truncated("gen", 50 * MIN + i);
        }
        let s = tracker.observe_request("gen", CallKind::Generation, "go on", 50 * MIN + 20);
        assert!(s.contains(&"max_length_generations"));
        // ten minutes later they have aged out
        let s = tracker.observe_request("gen", CallKind::Generation, "go on", 61 * MIN);
        assert!(!s.contains(&"max_length_generations"));
        let mut enumerating = false;
        for i in 0..120 {
            enumerating |= tracker
                .observe_request("emb", CallKind::Embedding, "", 70 * MIN + i)
                .contains(&"embedding_enumeration");
        }
        assert!(enumerating);
    }
}
