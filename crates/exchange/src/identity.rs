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

/// Callers known by their pod's address, from Rampart's controller: namespace, workload,
/// service account and labels, the fields policy selectors read. The index is replaced whole
/// when the controller's changes.
#[derive(Default)]
pub struct PodIdentities {
    by_ip: ArcSwap<HashMap<IpAddr, (Caller, String)>>,
}

impl std::fmt::Debug for PodIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodIdentities")
            .field("pods", &self.by_ip.load().len())
            .finish()
    }
}

impl PodIdentities {
    /// Replaces the index: (address, caller, pod name) entries.
    pub fn replace(&self, entries: impl IntoIterator<Item = (IpAddr, Caller, String)>) {
        let map: HashMap<IpAddr, (Caller, String)> = entries
            .into_iter()
            .map(|(ip, c, pod)| (ip, (c, pod)))
            .collect();
        self.by_ip.store(Arc::new(map));
    }

    /// The namespace and pod at an address.
    pub fn pod(&self, ip: IpAddr) -> Option<(String, String)> {
        self.by_ip
            .load()
            .get(&ip)
            .map(|(c, pod)| (c.namespace.clone().unwrap_or_default(), pod.clone()))
    }

    /// Pods indexed.
    pub fn len(&self) -> usize {
        self.by_ip.load().len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ResolveCaller for PodIdentities {
    fn resolve(&self, hints: &CallerHints<'_>) -> Option<Caller> {
        // an IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket
        let ip = match hints.ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(hints.ip),
            ip => ip,
        };
        self.by_ip.load().get(&ip).map(|(c, _)| c.clone())
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
    fn pods_are_known_by_address_after_configured_callers() {
        let key = HashKey::new([7; 32]);
        let pods = Arc::new(PodIdentities::default());
        let ip: IpAddr = "10.1.0.7".parse().unwrap();
        pods.replace([(
            ip,
            Caller {
                workload: Some("checkout".into()),
                namespace: Some("shop".into()),
                service_account: Some("checkout".into()),
                ..Caller::default()
            },
            "checkout-7d4b9-x2x".to_owned(),
        )]);
        let configured = ConfiguredCallers::new(vec![entry("batch", Some("sk-batch"), None)], &key);
        let id = Identity::new(vec![Arc::new(configured), pods.clone()]);
        let c = id.identify(
            &CallerHints {
                ip,
                credential: None,
            },
            None,
        );
        assert_eq!(c.workload.as_deref(), Some("checkout"));
        assert_eq!(c.ip, Some(ip));
        // the same pod over a dual-stack socket
        let mapped: IpAddr = "::ffff:10.1.0.7".parse().unwrap();
        let c = id.identify(
            &CallerHints {
                ip: mapped,
                credential: None,
            },
            None,
        );
        assert_eq!(c.namespace.as_deref(), Some("shop"));
        // a configured key wins
        let c = id.identify(
            &CallerHints {
                ip,
                credential: Some(b"sk-batch"),
            },
            None,
        );
        assert_eq!(c.key_id.as_deref(), Some("batch"));
        assert_eq!(
            pods.pod(ip),
            Some(("shop".into(), "checkout-7d4b9-x2x".into()))
        );
        pods.replace([]);
        assert!(
            id.identify(
                &CallerHints {
                    ip,
                    credential: None
                },
                None
            )
            .workload
            .is_none()
        );
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
