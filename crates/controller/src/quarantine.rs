//! Quarantine: a pod is labelled and selected by a NetworkPolicy that denies its ingress and
//! egress except DNS and Rampart. Who asked and why are recorded on the pod and the policy.
//! Applying twice writes nothing new; releasing removes the label, the annotations and the
//! policy. A dry run returns the objects without writing them.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

/// The label that marks a quarantined pod; its value names the pod (shortened to fit).
pub const LABEL: &str = "rampart.dev/quarantine";
/// Why the pod is quarantined.
pub const REASON: &str = "rampart.dev/quarantine-reason";
/// Who asked.
pub const BY: &str = "rampart.dev/quarantined-by";
/// When.
pub const AT: &str = "rampart.dev/quarantined-at";
/// The field manager Rampart writes as.
pub const MANAGER: &str = "rampart";

/// What a quarantine lets through.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Egress to the cluster DNS (kube-system pods labelled `k8s-app: kube-dns`, port 53).
    pub allow_dns: bool,
    /// The namespace Rampart runs in: its pods (`app.kubernetes.io/name: rampart`) stay
    /// reachable both ways.
    pub rampart_namespace: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_dns: true,
            rampart_namespace: "rampart".into(),
        }
    }
}

/// The label value for a pod: its name when it fits in 63 characters, else a prefix and a
/// hash.
pub fn label_value(pod: &str) -> String {
    if pod.len() <= 63 {
        return pod.to_owned();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pod.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{h:016x}", pod[..46].trim_end_matches(['-', '.']))
}

/// The NetworkPolicy's name for a pod.
pub fn policy_name(pod: &str) -> String {
    format!("rampart-quarantine-{}", label_value(pod))
}

/// The merge patch that marks the pod.
pub fn pod_patch(pod: &str, reason: &str, by: &str, at: &str) -> Value {
    json!({"metadata": {
        "labels": {LABEL: label_value(pod)},
        "annotations": {REASON: reason, BY: by, AT: at}
    }})
}

/// The merge patch that unmarks the pod.
pub fn release_patch() -> Value {
    json!({"metadata": {
        "labels": {LABEL: null},
        "annotations": {REASON: null, BY: null, AT: null}
    }})
}

/// The NetworkPolicy that isolates the pod.
pub fn network_policy(ns: &str, pod: &str, reason: &str, by: &str, s: &Settings) -> Value {
    let rampart = json!({
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": s.rampart_namespace}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "rampart"}}
    });
    let mut egress = vec![json!({"to": [rampart.clone()]})];
    if s.allow_dns {
        egress.push(json!({
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
        }));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(pod),
            "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "rampart", LABEL: label_value(pod)},
            "annotations": {REASON: reason, BY: by}
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL: label_value(pod)}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [rampart]}],
            "egress": egress
        }
    })
}

/// What a quarantine did or would do.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Outcome {
    /// The objects written (or, in a dry run, that would be).
    pub objects: Vec<Value>,
    /// Whether anything was changed (false when it was already so).
    pub changed: bool,
}

/// Quarantines `ns/pod`. Idempotent: a pod already marked for the same reason and a policy
/// already in place are left as they are.
pub async fn apply(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    reason: &str,
    by: &str,
    s: &Settings,
    dry_run: bool,
) -> Result<Outcome, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let current = pods.get(pod).await?;
    let at = now();
    let policy = network_policy(ns, pod, reason, by, s);
    let patch = pod_patch(pod, reason, by, &at);
    let mut out = Outcome {
        objects: vec![
            json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": ns,
                         "labels": patch["metadata"]["labels"], "annotations": patch["metadata"]["annotations"]}}),
            policy.clone(),
        ],
        changed: false,
    };
    if dry_run {
        return Ok(out);
    }
    let labels = current.metadata.labels.unwrap_or_default();
    let notes = current.metadata.annotations.unwrap_or_default();
    let marked = labels.get(LABEL).map(String::as_str) == Some(label_value(pod).as_str())
        && notes.get(REASON).map(String::as_str) == Some(reason);
    if !marked {
        pods.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        out.changed = true;
    }
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let existing = policies.get_opt(&policy_name(pod)).await?;
    let same = existing
        .as_ref()
        .and_then(|p| serde_json::to_value(&p.spec).ok())
        .is_some_and(|spec| spec == policy["spec"]);
    if !same {
        policies
            .patch(
                &policy_name(pod),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&policy),
            )
            .await?;
        out.changed = true;
    }
    Ok(out)
}

/// Releases `ns/pod`: the label and annotations go, and the policy is deleted. A pod that is
/// gone, or was not quarantined, is not an error.
pub async fn release(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    dry_run: bool,
) -> Result<Outcome, kube::Error> {
    let mut out = Outcome {
        objects: vec![
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": ns}, "patch": release_patch()}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": policy_name(pod), "namespace": ns}, "delete": true}),
        ],
        changed: false,
    };
    if dry_run {
        return Ok(out);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    if let Some(p) = pods.get_opt(pod).await? {
        let labels = p.metadata.labels.unwrap_or_default();
        let notes = p.metadata.annotations.unwrap_or_default();
        if labels.contains_key(LABEL) || notes.contains_key(REASON) {
            pods.patch(pod, &PatchParams::default(), &Patch::Merge(release_patch()))
                .await?;
            out.changed = true;
        }
    }
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    if policies.get_opt(&policy_name(pod)).await?.is_some() {
        policies
            .delete(&policy_name(pod), &DeleteParams::default())
            .await?;
        out.changed = true;
    }
    Ok(out)
}

/// Now, RFC 3339 in seconds.
pub fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // `YYYY-MM-DDTHH:MM:SS` of the millisecond form, then `Z`
    let t = rampart_discover::rfc3339_ms(ms);
    format!("{}Z", &t[..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_pod_names_fit_a_label() {
        let long = "a".repeat(80);
        let v = label_value(&long);
        assert!(v.len() <= 63, "{}", v.len());
        assert_ne!(label_value(&"a".repeat(81)), v);
        assert_eq!(label_value("web-1"), "web-1");
        assert!(policy_name(&long).len() <= 253);
    }
}
