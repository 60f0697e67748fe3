//! Who calls: a chain of caller resolvers (configured keys and address ranges today; client
//! certificates and Kubernetes pod identity plug in as further links), swappable while
//! exchanges run.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_core::{DataClass, ValueHash};
use rampart_detect::HashKey;
use rampart_policy::Caller;

/// What a resolver may read about a caller.
#[derive(Clone, Copy, Debug)]
pub struct CallerHints<'a> {
    /// The peer address.
    pub ip: IpAddr,
    /// The credential presented (bearer token or API-key header), if any.
    pub credential: Option<&'a [u8]>,
}

/// One link of the chain: names the caller, or passes to the next link.
pub trait ResolveCaller: Send + Sync {
    /// The caller these hints identify, if this resolver knows it (its `ip` is filled in by
    /// the chain).
    fn resolve(&self, hints: &CallerHints<'_>) -> Option<Caller>;
}

/// A configured caller: who it is, the API key that identifies it, the address ranges it
/// calls from.
#[derive(Clone, Debug)]
pub struct CallerEntry {
    /// Id, workload, namespace, service account and labels policies select by.
    pub caller: Caller,
    /// The caller's API key (kept only as a keyed hash).
    pub key: Option<String>,
    /// The address ranges it calls from.
    pub nets: Vec<ipnet::IpNet>,
}

/// Configured callers: the one whose key was presented, else the first whose ranges hold the
/// address.
#[derive(Debug, Default)]
pub struct ConfiguredCallers {
    by_key: HashMap<ValueHash, usize>,
    list: Vec<(Caller, Vec<ipnet::IpNet>)>,
    hash_key: HashKey,
}

impl ConfiguredCallers {
    /// Callers from their entries; keys are kept as hashes under `hash_key`.
    pub fn new(entries: Vec<CallerEntry>, hash_key: &HashKey) -> ConfiguredCallers {
        let mut out = ConfiguredCallers {
            hash_key: hash_key.clone(),
            ..ConfiguredCallers::default()
        };
        for (i, e) in entries.into_iter().enumerate() {
            if let Some(k) = &e.key {
                out.by_key
                    .insert(hash_key.hash(DataClass::Secret, k.trim().as_bytes()), i);
            }
            out.list.push((e.caller, e.nets));
        }
        out
    }
}

impl ResolveCaller for ConfiguredCallers {
    fn resolve(&self, hints: &CallerHints<'_>) -> Option<Caller> {
        let by_key = hints
            .credential
            .filter(|_| !self.by_key.is_empty())
            .and_then(|c| self.by_key.get(&self.hash_key.hash(DataClass::Secret, c)))
            .copied();
        let i = by_key.or_else(|| {
            self.list
                .iter()
                .position(|(_, nets)| nets.iter().any(|n| n.contains(&hints.ip)))
        })?;
        Some(self.list[i].0.clone())
    }
}

/// The resolver chain, replaceable at run time; an exchange reads it once at its start.
pub struct Identity {
    chain: ArcSwap<Vec<Arc<dyn ResolveCaller>>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("links", &self.chain.load().len())
            .finish()
    }
}

impl Identity {
    /// A chain of resolvers, asked in order.
    pub fn new(chain: Vec<Arc<dyn ResolveCaller>>) -> Identity {
        Identity {
            chain: ArcSwap::from_pointee(chain),
        }
    }

    /// Replaces the chain (exchanges already running keep the caller they resolved).
    pub fn replace(&self, chain: Vec<Arc<dyn ResolveCaller>>) {
        self.chain.store(Arc::new(chain));
    }

    /// The caller: the first link's answer, else an unknown caller known by its address and
    /// `unknown_key_id` (a keyed hash of its credential).
    pub fn identify(&self, hints: &CallerHints<'_>, unknown_key_id: Option<String>) -> Caller {
        let chain = self.chain.load();
        match chain.iter().find_map(|r| r.resolve(hints)) {
            Some(mut c) => {
                c.ip = Some(hints.ip);
                c
            }
            None => Caller {
                ip: Some(hints.ip),
                key_id: unknown_key_id,
                ..Caller::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, key: Option<&str>, net: Option<&str>) -> CallerEntry {
        CallerEntry {
            caller: Caller {
                key_id: Some(id.into()),
                ..Caller::default()
            },
            key: key.map(str::to_owned),
            nets: net.map(|n| n.parse().unwrap()).into_iter().collect(),
        }
    }

    #[test]
    fn keys_win_over_ranges_and_the_chain_can_be_replaced() {
        let key = HashKey::new([7; 32]);
        let callers = ConfiguredCallers::new(
            vec![
                entry("office", None, Some("10.0.0.0/8")),
                entry("batch", Some("sk-batch"), None),
            ],
            &key,
        );
        let id = Identity::new(vec![Arc::new(callers)]);
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let hints = |c: Option<&'static [u8]>| CallerHints { ip, credential: c };
        assert_eq!(
            id.identify(&hints(Some(b"sk-batch")), None)
                .key_id
                .as_deref(),
            Some("batch")
        );
        assert_eq!(
            id.identify(&hints(Some(b"other")), None).key_id.as_deref(),
            Some("office")
        );
        let outside = CallerHints {
            ip: "192.0.2.1".parse().unwrap(),
            credential: None,
        };
        let unknown = id.identify(&outside, Some("abc".into()));
        assert_eq!(unknown.key_id.as_deref(), Some("abc"));
        assert_eq!(unknown.ip, Some(outside.ip));
        // a replaced chain applies to the next identification
        id.replace(Vec::new());
        assert_eq!(id.identify(&hints(Some(b"sk-batch")), None).key_id, None);
    }
}
