//! Kubernetes: the gateway follows Rampart's controller (`kubernetes.controller`).
//!
//! - **Identity.** The controller's index (pod IP → namespace, workload, service account,
//!   labels) becomes a link of the caller chain, after the configured callers: policy
//!   selectors on these fields work without configured keys.
//! - **Policies.** `RuntimePolicy` and `RuntimeLimit` resources that compiled in the controller
//!   are compiled again here with the policy files; a set that does not compile never replaces
//!   the one in force.
//! - **Quarantine.** When an enforce-mode policy with `quarantine: true` blocks an exchange
//!   of a known pod, the gateway asks the controller to quarantine that pod (once per pod).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rampart_exchange::AuditEvent;
use rampart_exchange::identity::PodIdentities;
use rampart_policy::{Caller, PolicySet, Source};
use serde_json::{Value, json};

use crate::config::KubernetesConfig;

/// A quarantine to ask the controller for.
#[derive(Debug)]
struct QuarantineAsk {
    namespace: String,
    pod: String,
    /// The policy whose block asked for it.
    policy: String,
    reason: String,
}

/// The link to Rampart's controller.
pub struct Kubernetes {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// The pod index, a link of the caller chain.
    pub pods: Arc<PodIdentities>,
    identities_version: Mutex<String>,
    policies_version: Mutex<String>,
    requested: Mutex<HashSet<(String, String)>>,
    quarantine_tx: tokio::sync::mpsc::Sender<QuarantineAsk>,
    quarantine_rx: Mutex<Option<tokio::sync::mpsc::Receiver<QuarantineAsk>>>,
    /// Failed calls to the controller.
    pub errors: AtomicU64,
    /// Quarantines asked for.
    pub quarantines: AtomicU64,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("controller", &self.base)
            .field("pods", &self.pods.len())
            .finish()
    }
}

impl Kubernetes {
    /// The link, when a controller is configured.
    pub fn new(config: &KubernetesConfig) -> anyhow::Result<Option<Kubernetes>> {
        let Some(base) = &config.controller else {
            return Ok(None);
        };
        if !base.starts_with("http://") && !base.starts_with("https://") {
            anyhow::bail!("kubernetes.controller: expected an http:// URL, got {base:?}");
        }
        let token = match &config.token_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| anyhow::anyhow!("kubernetes.token_env: {var} is not set"))?,
            ),
            None => None,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        Ok(Some(Kubernetes {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
            pods: Arc::new(PodIdentities::default()),
            identities_version: Mutex::new(String::new()),
            policies_version: Mutex::new(String::new()),
            requested: Mutex::new(HashSet::new()),
            quarantine_tx: tx,
            quarantine_rx: Mutex::new(Some(rx)),
            errors: AtomicU64::new(0),
            quarantines: AtomicU64::new(0),
        }))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))?;
        let resp =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.client.request(req))
                .await
                .map_err(|_| anyhow::anyhow!("the controller did not answer in 10 s"))??;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            anyhow::bail!("the controller answered {status} to {method} {path}");
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The controller's workload inventory and posture report, live.
    pub async fn cluster(&self) -> anyhow::Result<(Value, Value)> {
        let workloads = self.call("GET", "/v1/workloads", None).await?;
        let posture = self.call("GET", "/v1/posture", None).await?;
        Ok((workloads, posture))
    }

    /// The quarantines the controller keeps.
    pub async fn quarantines(&self) -> anyhow::Result<Value> {
        Ok(self.call("GET", "/v1/quarantines", None).await?["quarantines"].take())
    }

    /// Releases a pod: the controller deletes its Quarantine, then unlabels it and removes
    /// its policy.
    pub async fn release(&self, ns: &str, pod: &str) -> anyhow::Result<Value> {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        self.call(
            "DELETE",
            &format!("/v1/quarantine?namespace={}&pod={}", enc(ns), enc(pod)),
            None,
        )
        .await
    }

    /// Fetches the identity index; replaces the pod link when it changed. Returns the pods
    /// indexed.
    pub async fn refresh_identities(&self) -> anyhow::Result<usize> {
        let v = self.call("GET", "/v1/identities", None).await?;
        let version = v["version"].as_str().unwrap_or("").to_owned();
        if *self.identities_version.lock().expect("version lock") == version {
            return Ok(self.pods.len());
        }
        let text = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let entries: Vec<(IpAddr, Caller, String)> = v["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let ip: IpAddr = p.get("ip")?.as_str()?.parse().ok()?;
                let caller = Caller {
                    workload: text(p, "workload"),
                    namespace: text(p, "namespace"),
                    service_account: text(p, "service_account"),
                    labels: p
                        .get("labels")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default(),
                    ..Caller::default()
                };
                Some((ip, caller, text(p, "pod")?))
            })
            .collect();
        let n = entries.len();
        self.pods.replace(entries);
        *self.identities_version.lock().expect("version lock") = version;
        Ok(n)
    }

    /// The controller's policy documents, when they changed since the last call.
    pub async fn fetch_policies(&self) -> anyhow::Result<Option<Vec<Source>>> {
        let v = self.call("GET", "/v1/policies", None).await?;
        let version = v["version"].as_str().unwrap_or("").to_owned();
        if *self.policies_version.lock().expect("version lock") == version {
            return Ok(None);
        }
        let sources = v["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some(Source {
                    name: d.get("name")?.as_str()?.to_owned(),
                    text: d.get("text")?.as_str()?.to_owned(),
                })
            })
            .collect();
        *self.policies_version.lock().expect("version lock") = version;
        Ok(Some(sources))
    }

    /// Asks for a quarantine when an enforce-mode policy with `quarantine: true` blocked an
    /// exchange of a known pod. Never waits: the request is queued (and dropped when the
    /// queue is full).
    pub fn consider(&self, event: &AuditEvent, policies: &PolicySet) {
        if event.decision != rampart_core::Action::Block {
            return;
        }
        let Some(by) = event.decided_by.as_deref() else {
            return;
        };
        if !policies.quarantines(by) {
            return;
        }
        let Ok(ip) = event.caller.ip.parse::<IpAddr>() else {
            return;
        };
        let Some((ns, pod)) = self.pods.pod(ip) else {
            return;
        };
        let first = self
            .requested
            .lock()
            .expect("requested lock")
            .insert((ns.clone(), pod.clone()));
        if first {
            let _ = self.quarantine_tx.try_send(QuarantineAsk {
                namespace: ns,
                pod,
                policy: by.split('/').next().unwrap_or(by).to_owned(),
                reason: format!("blocked by {by} ({:?})", event.reason),
            });
        }
    }

    /// Sends the queued quarantine requests (runs until the gateway stops).
    pub async fn send_quarantines(self: Arc<Self>) {
        let Some(mut rx) = self.quarantine_rx.lock().expect("queue lock").take() else {
            return;
        };
        while let Some(QuarantineAsk {
            namespace: ns,
            pod,
            policy,
            reason,
        }) = rx.recv().await
        {
            let body = json!({"namespace": ns, "pod": pod, "reason": reason,
                              "requested_by": format!("policy/{policy}")});
            match self.call("POST", "/v1/quarantine", Some(body)).await {
                Ok(_) => {
                    self.quarantines.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%ns, %pod, %reason, "quarantine requested");
                }
                Err(e) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    // forget it, so the next block asks again
                    self.requested
                        .lock()
                        .expect("requested lock")
                        .remove(&(ns.clone(), pod.clone()));
                    tracing::warn!(%ns, %pod, error = %e, "quarantine request failed");
                }
            }
        }
    }
}

/// The clusters' view for `GET /admin/kubernetes`: workloads and findings with their cluster,
/// findings counted per namespace and severity, the models served in the clusters joined to
/// the AI use discovery recorded (calls to hosts whose requests named the model), and the
/// workloads that hold AI provider credentials with the calls discovery saw them make.
pub fn view(state: &rampart_store::ClusterState, ai: &[rampart_discover::inventory::Ai]) -> Value {
    use std::collections::BTreeMap;
    let with_cluster = |c: &str, v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("cluster".into(), json!(c));
        }
        v
    };
    let clusters: std::collections::BTreeSet<&str> = state
        .workloads
        .iter()
        .chain(&state.findings)
        .map(|(c, _)| c.as_str())
        .collect();
    let mut by_namespace: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (c, f) in &state.findings {
        let ns = f["object"]["namespace"].as_str().unwrap_or("(cluster)");
        let sev = f["severity"].as_str().unwrap_or("info");
        *by_namespace
            .entry(format!("{c}/{ns}"))
            .or_default()
            .entry(sev.to_owned())
            .or_default() += 1;
    }
    let same_model = |a: &str, b: &str| {
        a.eq_ignore_ascii_case(b)
            || a.rsplit('/')
                .next()
                .is_some_and(|x| x.eq_ignore_ascii_case(b))
            || b.rsplit('/')
                .next()
                .is_some_and(|x| x.eq_ignore_ascii_case(a))
    };
    let mut models: BTreeMap<String, (Vec<Value>, u64, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    let mut clients = Vec::new();
    for (c, w) in &state.workloads {
        let o = &w["object"];
        let Some(a) = w.get("ai").filter(|a| !a.is_null()) else {
            continue;
        };
        let place = json!({"cluster": c, "namespace": o["namespace"], "workload": o["name"],
                           "kind": o["kind"], "server": a["server"]});
        for m in a["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            models
                .entry(m.to_owned())
                .or_default()
                .0
                .push(place.clone());
        }
        if a["server"].is_null() {
            let name = o["name"].as_str().unwrap_or("");
            let calls: u64 = ai
                .iter()
                .flat_map(|x| &x.callers)
                .filter(|k| k.caller == name)
                .map(|k| k.calls)
                .sum();
            clients.push(
                json!({"cluster": c, "namespace": o["namespace"], "workload": o["name"],
                                "credentials": a["credentials"], "calls": calls}),
            );
        }
    }
    for (m, (_, calls, callers)) in models.iter_mut() {
        for x in ai
            .iter()
            .filter(|x| x.models.iter().any(|n| same_model(n, m)))
        {
            *calls += x.calls;
            callers.extend(x.callers.iter().map(|k| k.caller.clone()));
        }
    }
    json!({
        "clusters": clusters,
        "workloads": state.workloads.iter().map(|(c, w)| with_cluster(c, w)).collect::<Vec<_>>(),
        "findings": state.findings.iter().map(|(c, f)| with_cluster(c, f)).collect::<Vec<_>>(),
        "posture": by_namespace,
        "models": models.into_iter().map(|(m, (running, calls, callers))| json!({
            "model": m, "running_in": running, "calls": calls, "callers": callers,
        })).collect::<Vec<_>>(),
        "ai_clients": clients,
    })
}
