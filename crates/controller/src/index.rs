//! The identity index: pod IP → namespace, workload, service account and labels, the fields
//! gateway policies select callers by. Workloads are resolved through owners (a ReplicaSet's
//! Deployment, a Job's CronJob). Host-network pods are left out: their address is the node's,
//! shared by everything on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::{Deserialize, Serialize};

/// Who a pod is, by address.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PodIdentity {
    /// The pod's address (one entry per address of a dual-stack pod).
    pub ip: String,
    /// Its namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The workload that owns it (a Deployment's name rather than its ReplicaSet's), or the
    /// pod itself.
    pub workload: String,
    /// The workload's kind.
    pub kind: String,
    /// The service account.
    pub service_account: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
}

fn controller_of(owners: Option<&Vec<OwnerReference>>) -> Option<&OwnerReference> {
    owners?.iter().find(|o| o.controller == Some(true))
}

/// The index of running pods, sorted by address.
pub fn build(
    pods: &[Arc<Pod>],
    replicasets: &[Arc<ReplicaSet>],
    jobs: &[Arc<Job>],
) -> Vec<PodIdentity> {
    let rs: HashMap<(&str, &str), &ReplicaSet> = replicasets
        .iter()
        .filter_map(|r| {
            Some((
                (
                    r.metadata.namespace.as_deref()?,
                    r.metadata.name.as_deref()?,
                ),
                r.as_ref(),
            ))
        })
        .collect();
    let job: HashMap<(&str, &str), &Job> = jobs
        .iter()
        .filter_map(|j| {
            Some((
                (
                    j.metadata.namespace.as_deref()?,
                    j.metadata.name.as_deref()?,
                ),
                j.as_ref(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    for p in pods {
        let (Some(ns), Some(name)) = (p.metadata.namespace.as_deref(), p.metadata.name.as_deref())
        else {
            continue;
        };
        let spec = p.spec.as_ref();
        if spec.and_then(|s| s.host_network) == Some(true) {
            continue;
        }
        let status = p.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed") || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let mut ips: Vec<String> = status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|i| i.ip.clone())
            .collect();
        if let Some(ip) = status.and_then(|s| s.pod_ip.clone())
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
        if ips.is_empty() {
            continue;
        }
        let (mut kind, mut workload) = ("Pod".to_owned(), name.to_owned());
        if let Some(o) = controller_of(p.metadata.owner_references.as_ref()) {
            kind = o.kind.clone();
            workload = o.name.clone();
            let parent = match o.kind.as_str() {
                "ReplicaSet" => rs
                    .get(&(ns, o.name.as_str()))
                    .and_then(|r| controller_of(r.metadata.owner_references.as_ref())),
                "Job" => job
                    .get(&(ns, o.name.as_str()))
                    .and_then(|j| controller_of(j.metadata.owner_references.as_ref())),
                _ => None,
            };
            if let Some(parent) = parent {
                kind = parent.kind.clone();
                workload = parent.name.clone();
            }
        }
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let service_account = spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into());
        for ip in ips {
            out.push(PodIdentity {
                ip,
                namespace: ns.to_owned(),
                pod: name.to_owned(),
                workload: workload.clone(),
                kind: kind.clone(),
                service_account: service_account.clone(),
                labels: labels.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.pod.cmp(&b.pod)));
    // an address held by two pods (one leaving, one arriving) names neither
    let mut dup = std::collections::HashSet::new();
    for w in out.windows(2) {
        if w[0].ip == w[1].ip {
            dup.insert(w[0].ip.clone());
        }
    }
    out.retain(|i| !dup.contains(&i.ip));
    out
}
