//! The in-memory backend: the same semantics as the Redis scripts, for one process. A plan is
//! decided under the locks of the shards its keys live in (taken in shard order), so a
//! decision is atomic like a script.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::window::window;
use crate::{BackendKind, Check, Denial, Outcome, Plan, Remaining, Ticket, Usage};

const SHARDS: usize = 16;

#[derive(Debug)]
enum Entry {
    /// GCRA theoretical arrival time (µs).
    Tat(u64),
    /// Concurrency leases: id -> expiry (µs).
    Leases(HashMap<String, u64>),
    /// A budget counter and when its window ends (µs).
    Counter(i64, u64),
}

/// Counters in memory.
#[derive(Debug)]
pub struct LocalBackend {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
}

impl Default for LocalBackend {
    fn default() -> Self {
        LocalBackend::new()
    }
}

fn shard_of(key: &str) -> usize {
    // FNV-1a: stable, cheap, good enough to spread keys over 16 shards
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

impl LocalBackend {
    /// An empty store.
    pub fn new() -> LocalBackend {
        LocalBackend {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn lock_for<'a>(
        &'a self,
        keys: impl Iterator<Item = &'a str>,
    ) -> Vec<(usize, MutexGuard<'a, HashMap<String, Entry>>)> {
        let mut ids: Vec<usize> = keys.map(shard_of).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|i| (i, self.shards[i].lock().unwrap_or_else(|p| p.into_inner())))
            .collect()
    }

    /// Decides a plan at `now_us`.
    pub fn admit(&self, plan: &Plan, now_us: u64) -> Outcome {
        let now_s = now_us / 1_000_000;
        let keys: Vec<String> = plan
            .checks
            .iter()
            .map(|(_, c)| match c {
                Check::Rate { key, .. } | Check::Concurrency { key, .. } => key.clone(),
                Check::Budget { key, window: w, .. } => format!("{key}:{}", window(*w, now_s).0),
            })
            .collect();
        let mut guards = self.lock_for(keys.iter().map(String::as_str));
        // which guard holds a key's shard
        let slots: Vec<usize> = keys
            .iter()
            .map(|k| {
                let s = shard_of(k);
                guards
                    .iter()
                    .position(|(i, _)| *i == s)
                    .expect("locked above")
            })
            .collect();
        // pass 1: every check, nothing moves
        let mut remaining = Vec::with_capacity(plan.checks.len());
        for (ci, ((_, check), key)) in plan.checks.iter().zip(&keys).enumerate() {
            let store = &mut guards[slots[ci]].1;
            match check {
                Check::Rate {
                    emission_us,
                    tolerance_us,
                    ..
                } => {
                    let tat = match store.get(key) {
                        Some(Entry::Tat(t)) => (*t).max(now_us),
                        _ => now_us,
                    };
                    if tat - now_us > *tolerance_us {
                        return Outcome::Denied(Denial {
                            check: ci,
                            retry_after_ms: (tat - now_us - tolerance_us).div_ceil(1_000),
                        });
                    }
                    let new_tat = tat + emission_us;
                    let left =
                        (tolerance_us + emission_us).saturating_sub(new_tat - now_us) / emission_us;
                    remaining.push(Remaining {
                        check: ci,
                        remaining: left,
                        reset_ms: (new_tat - now_us).div_ceil(1_000),
                    });
                }
                Check::Concurrency { max, .. } => {
                    let live = match store.get_mut(key) {
                        Some(Entry::Leases(l)) => {
                            l.retain(|_, exp| *exp > now_us);
                            l.len() as u64
                        }
                        _ => 0,
                    };
                    if live >= *max {
                        return Outcome::Denied(Denial {
                            check: ci,
                            retry_after_ms: 1_000,
                        });
                    }
                    remaining.push(Remaining {
                        check: ci,
                        remaining: max - live - 1,
                        reset_ms: 0,
                    });
                }
                Check::Budget {
                    window: w,
                    max,
                    reserve,
                    ..
                } => {
                    let (_, end_s) = window(*w, now_s);
                    let used = match store.get(key) {
                        Some(Entry::Counter(n, exp)) if *exp > now_us => (*n).max(0) as u64,
                        _ => 0,
                    };
                    if used >= *max || used + reserve > *max {
                        return Outcome::Denied(Denial {
                            check: ci,
                            retry_after_ms: (end_s * 1_000).saturating_sub(now_us / 1_000),
                        });
                    }
                    remaining.push(Remaining {
                        check: ci,
                        remaining: max - used - reserve,
                        reset_ms: (end_s * 1_000).saturating_sub(now_us / 1_000),
                    });
                }
            }
        }
        // pass 2: every counter moves
        let mut ticket = Ticket {
            lease: plan.lease.clone(),
            backend: BackendKind::Local,
            ..Ticket::default()
        };
        for (ci, ((_, check), key)) in plan.checks.iter().zip(&keys).enumerate() {
            let store = &mut guards[slots[ci]].1;
            match check {
                Check::Rate { emission_us, .. } => {
                    let tat = match store.get(key) {
                        Some(Entry::Tat(t)) => (*t).max(now_us),
                        _ => now_us,
                    };
                    store.insert(key.clone(), Entry::Tat(tat + emission_us));
                }
                Check::Concurrency { .. } => {
                    let entry = store
                        .entry(key.clone())
                        .or_insert_with(|| Entry::Leases(HashMap::new()));
                    if let Entry::Leases(l) = entry {
                        l.insert(plan.lease.clone(), now_us + plan.lease_ttl_ms * 1_000);
                    }
                    ticket.leases.push(key.clone());
                }
                Check::Budget {
                    window: w,
                    what,
                    reserve,
                    ..
                } => {
                    let (_, end_s) = window(*w, now_s);
                    let entry = store.entry(key.clone()).or_insert(Entry::Counter(0, 0));
                    match entry {
                        Entry::Counter(n, exp) if *exp > now_us => *n += *reserve as i64,
                        other => *other = Entry::Counter(*reserve as i64, end_s * 1_000_000),
                    }
                    ticket.reserved.push((key.clone(), *what, *reserve));
                }
            }
        }
        Outcome::Admitted { ticket, remaining }
    }

    /// Releases the lease and replaces reservations with `used`.
    pub fn settle(&self, ticket: &Ticket, used: Usage) {
        let keys = ticket
            .leases
            .iter()
            .map(String::as_str)
            .chain(ticket.reserved.iter().map(|(k, ..)| k.as_str()));
        let mut guards = self.lock_for(keys);
        for key in &ticket.leases {
            let s = shard_of(key);
            if let Some((_, g)) = guards.iter_mut().find(|(i, _)| *i == s)
                && let Some(Entry::Leases(l)) = g.get_mut(key)
            {
                l.remove(&ticket.lease);
            }
        }
        for (key, what, reserved) in &ticket.reserved {
            let s = shard_of(key);
            if let Some((_, g)) = guards.iter_mut().find(|(i, _)| *i == s)
                && let Some(Entry::Counter(n, _)) = g.get_mut(key)
            {
                *n += used.of(*what) as i64 - *reserved as i64;
            }
        }
    }

    /// Every live counter and lease count.
    pub fn usage(&self, now_us: u64) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut g = shard.lock().unwrap_or_else(|p| p.into_inner());
            g.retain(|_, e| match e {
                Entry::Counter(_, exp) => *exp > now_us,
                Entry::Tat(t) => *t > now_us,
                Entry::Leases(l) => {
                    l.retain(|_, exp| *exp > now_us);
                    !l.is_empty()
                }
            });
            for (k, e) in g.iter() {
                match e {
                    Entry::Counter(n, _) => out.push((k.clone(), *n)),
                    Entry::Leases(l) => out.push((k.clone(), l.len() as i64)),
                    Entry::Tat(_) => {}
                }
            }
        }
        out.sort();
        out
    }
}
