//! `rampart controller`: watches the cluster with reflectors (watch errors retried with
//! backoff, `410 Gone` answered with a fresh list), and after every burst of changes:
//!
//! - rebuilds the identity index (pod IP → namespace, workload, service account, labels);
//! - audits every object against the OWASP Kubernetes Top 10 and lists AI workloads;
//! - compiles `RuntimePolicy` and `RuntimeLimit` resources and reports the result in their
//!   status (`Ready`, with `file:line` diagnostics), handing the valid ones to gateways;
//! - reconciles `Quarantine` resources (label, NetworkPolicy, status; a finalizer releases
//!   the pod when the resource is deleted).
//!
//! Gateways read the results over HTTP: `/v1/identities`, `/v1/policies`, `/v1/posture`,
//! `/v1/workloads`; `POST /v1/quarantine` asks for a quarantine (a policy's decision).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::crd::{
    Condition, DocumentStatus, Quarantine, QuarantineSpec, QuarantineStatus, RuntimeLimit,
    RuntimePolicy,
};
use crate::index::{self, PodIdentity};
use crate::quarantine::{self, Settings};

/// The finalizer that lets the controller release a pod before its Quarantine goes.
pub const FINALIZER: &str = "rampart.dev/quarantine";

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where its HTTP API listens.
    pub listen: SocketAddr,
    /// The bearer token `/v1/*` requires (health and metrics are open).
    pub token: Option<String>,
    /// What quarantines let through.
    pub quarantine: Settings,
    /// Quiet time after a change before the controller acts on the burst.
    pub debounce: Duration,
    /// Acts at least this often even without changes.
    pub resync: Duration,
    /// The inventory store the workloads and posture of this cluster are written to (shared
    /// with the gateways' discovery), if any.
    pub store: Option<rampart_store::Store>,
    /// This cluster's name in the store.
    pub cluster: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9091".parse().expect("an address"),
            token: None,
            quarantine: Settings::default(),
            debounce: Duration::from_millis(200),
            resync: Duration::from_secs(300),
            store: None,
            cluster: "default".into(),
        }
    }
}

/// A document handed to gateways.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PolicyDocument {
    /// `RuntimePolicy ns/name`.
    pub name: String,
    /// The document as YAML.
    pub text: String,
}

/// A workload of the inventory.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Workload {
    /// Kind, namespace and name.
    pub object: rampart_k8s::ObjectRef,
    /// Container images.
    pub images: Vec<String>,
    /// The service account.
    pub service_account: String,
    /// Container ports.
    pub ports: Vec<u64>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its owners (`Kind/name`).
    pub owners: Vec<String>,
    /// What it is as an AI workload, if it is one.
    pub ai: Option<rampart_k8s::AiWorkload>,
}

/// What the controller publishes.
#[derive(Default)]
struct Published {
    identities: (String, Vec<PodIdentity>),
    policies: (String, Vec<PolicyDocument>),
    report: Option<rampart_k8s::Report>,
    workloads: Vec<Workload>,
    quarantines: Vec<Value>,
}

/// The controller's shared state.
#[derive(Default)]
pub struct Shared {
    published: RwLock<Published>,
    ready: AtomicBool,
    syncs: AtomicU64,
    sync_errors: AtomicU64,
    /// The version of what was last written to the store.
    stored: std::sync::Mutex<String>,
}

impl Shared {
    /// Whether the first sync is done.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Syncs done.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// The watched objects.
struct Stores {
    pods: Store<Pod>,
    deployments: Store<Deployment>,
    statefulsets: Store<StatefulSet>,
    daemonsets: Store<DaemonSet>,
    replicasets: Store<ReplicaSet>,
    jobs: Store<Job>,
    cronjobs: Store<CronJob>,
    services: Store<Service>,
    namespaces: Store<Namespace>,
    network_policies: Store<NetworkPolicy>,
    roles: Store<Role>,
    cluster_roles: Store<ClusterRole>,
    role_bindings: Store<RoleBinding>,
    cluster_role_bindings: Store<ClusterRoleBinding>,
    policies: Store<RuntimePolicy>,
    limits: Store<RuntimeLimit>,
    quarantines: Store<Quarantine>,
}

/// Starts a reflector for every object of `K`; `changed` is notified on each event.
fn reflect<K>(
    client: &kube::Client,
    changed: Arc<tokio::sync::Notify>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff(),
    );
    tasks.push(tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!(kind = K::kind(&()).as_ref(), error = %e, "watch failed; retrying"),
            }
        }
    }));
    reader
}

/// Runs the controller on `config.listen` until `stop` turns true.
pub async fn run(
    client: kube::Client,
    config: Config,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    run_on(listener, client, config, stop).await
}

/// Runs the controller with its HTTP API on `listener` until `stop` turns true.
pub async fn run_on(
    listener: tokio::net::TcpListener,
    client: kube::Client,
    config: Config,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::default());
    tracing::info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        rampart_namespace = %config.quarantine.rampart_namespace,
        "rampart controller started"
    );
    serve(
        listener,
        shared.clone(),
        client.clone(),
        config.token.clone(),
    );
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    let c = &client;
    let stores = Stores {
        pods: reflect(c, changed.clone(), &mut tasks),
        deployments: reflect(c, changed.clone(), &mut tasks),
        statefulsets: reflect(c, changed.clone(), &mut tasks),
        daemonsets: reflect(c, changed.clone(), &mut tasks),
        replicasets: reflect(c, changed.clone(), &mut tasks),
        jobs: reflect(c, changed.clone(), &mut tasks),
        cronjobs: reflect(c, changed.clone(), &mut tasks),
        services: reflect(c, changed.clone(), &mut tasks),
        namespaces: reflect(c, changed.clone(), &mut tasks),
        network_policies: reflect(c, changed.clone(), &mut tasks),
        roles: reflect(c, changed.clone(), &mut tasks),
        cluster_roles: reflect(c, changed.clone(), &mut tasks),
        role_bindings: reflect(c, changed.clone(), &mut tasks),
        cluster_role_bindings: reflect(c, changed.clone(), &mut tasks),
        policies: reflect(c, changed.clone(), &mut tasks),
        limits: reflect(c, changed.clone(), &mut tasks),
        quarantines: reflect(c, changed.clone(), &mut tasks),
    };
    // the first sync waits for every list, so that readiness means a complete view; the
    // wait is bounded, since a resource whose CRD is not installed never lists
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        let _ = stores.pods.wait_until_ready().await;
        let _ = stores.deployments.wait_until_ready().await;
        let _ = stores.statefulsets.wait_until_ready().await;
        let _ = stores.daemonsets.wait_until_ready().await;
        let _ = stores.replicasets.wait_until_ready().await;
        let _ = stores.jobs.wait_until_ready().await;
        let _ = stores.cronjobs.wait_until_ready().await;
        let _ = stores.services.wait_until_ready().await;
        let _ = stores.namespaces.wait_until_ready().await;
        let _ = stores.network_policies.wait_until_ready().await;
        let _ = stores.roles.wait_until_ready().await;
        let _ = stores.cluster_roles.wait_until_ready().await;
        let _ = stores.role_bindings.wait_until_ready().await;
        let _ = stores.cluster_role_bindings.wait_until_ready().await;
        let _ = stores.policies.wait_until_ready().await;
        let _ = stores.limits.wait_until_ready().await;
        let _ = stores.quarantines.wait_until_ready().await;
    })
    .await;
    loop {
        sync(&client, &stores, &shared, &config).await;
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(config.resync) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        // let a burst of changes settle
        tokio::time::sleep(config.debounce).await;
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}

fn objects_of<K>(store: &Store<K>, out: &mut Vec<rampart_k8s::Object>)
where
    K: Resource<DynamicType = ()> + Clone + Serialize,
{
    for o in store.state() {
        if let Ok(mut v) = serde_json::to_value(o.as_ref()) {
            // the API's list items carry no apiVersion or kind
            v["apiVersion"] = json!(K::api_version(&()));
            v["kind"] = json!(K::kind(&()));
            if let Some(obj) = rampart_k8s::Object::from_value(v, "", None) {
                out.push(obj);
            }
        }
    }
}

/// One pass over the watched state.
async fn sync(client: &kube::Client, stores: &Stores, shared: &Shared, config: &Config) {
    let identities = index::build(
        &stores.pods.state(),
        &stores.replicasets.state(),
        &stores.jobs.state(),
    );
    let id_version = version_of(&identities);
    let mut objects = Vec::new();
    objects_of(&stores.deployments, &mut objects);
    objects_of(&stores.statefulsets, &mut objects);
    objects_of(&stores.daemonsets, &mut objects);
    objects_of(&stores.jobs, &mut objects);
    objects_of(&stores.cronjobs, &mut objects);
    objects_of(&stores.pods, &mut objects);
    objects_of(&stores.services, &mut objects);
    objects_of(&stores.namespaces, &mut objects);
    objects_of(&stores.network_policies, &mut objects);
    objects_of(&stores.roles, &mut objects);
    objects_of(&stores.cluster_roles, &mut objects);
    objects_of(&stores.role_bindings, &mut objects);
    objects_of(&stores.cluster_role_bindings, &mut objects);
    let report = rampart_k8s::audit(&objects);
    let workloads = workloads(&objects);
    let documents = policies(client, stores, shared).await;
    let doc_version = version_of(&documents);
    reconcile_quarantines(client, stores, config, shared).await;
    if let Some(store) = &config.store {
        let findings: Vec<Value> = report
            .findings
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect();
        let docs: Vec<Value> = workloads
            .iter()
            .filter_map(|w| serde_json::to_value(w).ok())
            .collect();
        let version = version_of(&(&docs, &findings));
        let changed = *shared.stored.lock().expect("stored lock") != version;
        if changed {
            match store
                .replace_cluster(&config.cluster, &docs, &findings, &quarantine::now())
                .await
            {
                Ok(()) => *shared.stored.lock().expect("stored lock") = version,
                Err(e) => {
                    shared.sync_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot write the cluster inventory to the store");
                }
            }
        }
    }
    {
        let mut p = shared.published.write().expect("published lock");
        p.identities = (id_version, identities);
        p.policies = (doc_version, documents);
        p.report = Some(report);
        p.workloads = workloads;
        p.quarantines = stores
            .quarantines
            .state()
            .iter()
            .map(|q| {
                json!({"namespace": q.namespace(), "name": q.name_any(), "pod": q.spec.pod,
                       "reason": q.spec.reason, "requested_by": q.spec.requested_by,
                       "phase": q.status.as_ref().map(|s| s.phase.clone()).unwrap_or_default(),
                       "releasing": q.metadata.deletion_timestamp.is_some()})
            })
            .collect();
    }
    shared.syncs.fetch_add(1, Ordering::Relaxed);
    shared.ready.store(true, Ordering::Relaxed);
}

fn version_of<T: Serialize>(v: &T) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The workloads of the inventory: controllers, and pods no controller owns.
fn workloads(objects: &[rampart_k8s::Object]) -> Vec<Workload> {
    let mut out = Vec::new();
    for o in objects {
        let Some(spec) = rampart_k8s::workload::pod_spec(o) else {
            continue;
        };
        let owners: Vec<String> = o
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| Some(format!("{}/{}", r["kind"].as_str()?, r["name"].as_str()?)))
            .collect();
        if o.id.kind == "Pod" && !owners.is_empty() {
            continue;
        }
        let containers = rampart_k8s::workload::containers(spec);
        out.push(Workload {
            object: o.id.clone(),
            images: containers.iter().map(|c| c.image().to_owned()).collect(),
            service_account: spec
                .get("serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned(),
            ports: containers
                .iter()
                .flat_map(|c| {
                    c.value
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .filter_map(|p| p.get("containerPort").and_then(Value::as_u64))
                .collect(),
            labels: o
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            owners,
            ai: rampart_k8s::ai::recognise(o),
        });
    }
    out
}

/// A `Ready` condition.
fn ready(ok: bool, reason: &str, message: String) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        last_transition_time: quarantine::now(),
    }
}

/// Compiles the policy and limit resources one by one (limits first, then policies in
/// namespace/name order), keeping each that compiles with those before it; writes each
/// one's `Ready` condition; returns the documents that compiled.
async fn policies(client: &kube::Client, stores: &Stores, shared: &Shared) -> Vec<PolicyDocument> {
    let mut accepted: Vec<rampart_policy::Source> = Vec::new();
    let mut out = Vec::new();
    let mut limits = stores.limits.state();
    limits.sort_by_key(|l| (l.namespace(), l.name_any()));
    let mut policies = stores.policies.state();
    policies.sort_by_key(|p| (p.namespace(), p.name_any()));
    let docs = limits
        .iter()
        .map(|l| {
            (
                "RuntimeLimit",
                l.metadata.clone(),
                serde_json::to_value(&l.spec),
                l.status.clone(),
            )
        })
        .chain(policies.iter().map(|p| {
            (
                "RuntimePolicy",
                p.metadata.clone(),
                serde_json::to_value(&p.spec),
                p.status.clone(),
            )
        }));
    for (kind, meta, spec, status) in docs {
        let (ns, name) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let doc = json!({"apiVersion": "rampart.dev/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns}, "spec": spec.unwrap_or(Value::Null)});
        let text = serde_saphyr::to_string(&doc).unwrap_or_default();
        let source = rampart_policy::Source {
            name: format!("{kind} {ns}/{name}"),
            text: text.clone(),
        };
        let mut trial = accepted.clone();
        trial.push(source.clone());
        let condition = match compile(&trial) {
            Ok(()) => {
                accepted.push(source.clone());
                out.push(PolicyDocument {
                    name: source.name.clone(),
                    text,
                });
                ready(true, "Compiled", "in force on every gateway".into())
            }
            Err(msg) => ready(false, "Invalid", msg),
        };
        let unchanged = status.as_ref().is_some_and(|s| {
            s.observed_generation == meta.generation
                && s.conditions.iter().any(|c| {
                    c.type_ == "Ready"
                        && c.status == condition.status
                        && c.message == condition.message
                })
        });
        if unchanged {
            continue;
        }
        let status = DocumentStatus {
            observed_generation: meta.generation,
            conditions: vec![condition],
        };
        let patch = Patch::Merge(json!({"status": status}));
        let result = match kind {
            "RuntimeLimit" => Api::<RuntimeLimit>::namespaced(client.clone(), &ns)
                .patch_status(&name, &PatchParams::default(), &patch)
                .await
                .map(|_| ()),
            _ => Api::<RuntimePolicy>::namespaced(client.clone(), &ns)
                .patch_status(&name, &PatchParams::default(), &patch)
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            shared.sync_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%kind, %ns, %name, error = %e, "cannot write the status");
        }
    }
    out
}

/// Compiles sources against every detector the gateway knows; the errors as one message.
fn compile(sources: &[rampart_policy::Source]) -> Result<(), String> {
    let ids = rampart_gateway::policies::detector_ids();
    rampart_policy::PolicySet::compile(sources, &rampart_policy::Catalog { detectors: &ids })
        .map(|_| ())
        .map_err(|d| {
            d.errors()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// Brings every Quarantine to its state: a finalizer, the pod marked and isolated, the
/// status written; a deleted Quarantine's pod released, then its finalizer removed.
async fn reconcile_quarantines(
    client: &kube::Client,
    stores: &Stores,
    config: &Config,
    shared: &Shared,
) {
    for q in stores.quarantines.state() {
        let (ns, name) = (q.namespace().unwrap_or_default(), q.name_any());
        let api: Api<Quarantine> = Api::namespaced(client.clone(), &ns);
        let finalizers = q.finalizers().to_vec();
        if q.metadata.deletion_timestamp.is_some() {
            if finalizers.iter().any(|f| f == FINALIZER) {
                match quarantine::release(client, &ns, &q.spec.pod, false).await {
                    Ok(_) => {
                        let rest: Vec<&String> =
                            finalizers.iter().filter(|f| *f != FINALIZER).collect();
                        let _ = api
                            .patch(
                                &name,
                                &PatchParams::default(),
                                &Patch::Merge(json!({"metadata": {"finalizers": rest}})),
                            )
                            .await;
                        tracing::info!(%ns, pod = %q.spec.pod, "quarantine released");
                    }
                    Err(e) => {
                        shared.sync_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%ns, pod = %q.spec.pod, error = %e, "cannot release");
                    }
                }
            }
            continue;
        }
        if !finalizers.iter().any(|f| f == FINALIZER) {
            let mut all = finalizers.clone();
            all.push(FINALIZER.into());
            if let Err(e) = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": all}})),
                )
                .await
            {
                tracing::warn!(%ns, %name, error = %e, "cannot add the finalizer");
                continue;
            }
        }
        let result = quarantine::apply(
            client,
            &ns,
            &q.spec.pod,
            &q.spec.reason,
            &q.spec.requested_by,
            &config.quarantine,
            false,
        )
        .await;
        let status = match &result {
            Ok(_) => QuarantineStatus {
                phase: "Isolated".into(),
                network_policy: quarantine::policy_name(&q.spec.pod),
                conditions: vec![Condition {
                    type_: "Applied".into(),
                    status: "True".into(),
                    reason: "Isolated".into(),
                    message: format!("pod {} is labelled and isolated", q.spec.pod),
                    last_transition_time: String::new(),
                }],
            },
            Err(kube::Error::Api(s)) if s.code == 404 => QuarantineStatus {
                phase: "PodNotFound".into(),
                network_policy: String::new(),
                conditions: vec![Condition {
                    type_: "Applied".into(),
                    status: "False".into(),
                    reason: "PodNotFound".into(),
                    message: format!("pod {} does not exist", q.spec.pod),
                    last_transition_time: String::new(),
                }],
            },
            Err(e) => QuarantineStatus {
                phase: "Failed".into(),
                network_policy: String::new(),
                conditions: vec![Condition {
                    type_: "Applied".into(),
                    status: "False".into(),
                    reason: "Failed".into(),
                    message: e.to_string(),
                    last_transition_time: String::new(),
                }],
            },
        };
        if q.status.as_ref() != Some(&status)
            && let Err(e) = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await
        {
            tracing::warn!(%ns, %name, error = %e, "cannot write the quarantine status");
        }
        if let Err(e) = result {
            shared.sync_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%ns, pod = %q.spec.pod, error = %e, "quarantine not applied");
        }
    }
}

/// Asks for a quarantine: a Quarantine resource named after the pod (an existing one is left
/// as it is).
pub async fn request_quarantine(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    reason: &str,
    by: &str,
) -> Result<bool, kube::Error> {
    let api: Api<Quarantine> = Api::namespaced(client.clone(), ns);
    let q = Quarantine::new(
        &quarantine::label_value(pod),
        QuarantineSpec {
            pod: pod.to_owned(),
            reason: reason.to_owned(),
            requested_by: by.to_owned(),
        },
    );
    match api.create(&PostParams::default(), &q).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn reply(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .expect("a response")
}

/// The controller's HTTP API.
fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    client: kube::Client,
    token: Option<String>,
) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (shared, client, token) = (shared.clone(), client.clone(), token.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (shared, client, token) = (shared.clone(), client.clone(), token.clone());
                    async move {
                        Ok::<_, Infallible>(route(req, &shared, &client, token.as_deref()).await)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

async fn route(
    req: Request<hyper::body::Incoming>,
    shared: &Shared,
    client: &kube::Client,
    token: Option<&str>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => return reply(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "/readyz") => {
            return if shared.ready() {
                reply(StatusCode::OK, &json!({"status": "ready"}))
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "syncing"}),
                )
            };
        }
        (&Method::GET, "/metrics") => {
            let p = shared.published.read().expect("published lock");
            let mut text = format!(
                "# TYPE rampart_controller_syncs_total counter\nrampart_controller_syncs_total {}\n# TYPE rampart_controller_sync_errors_total counter\nrampart_controller_sync_errors_total {}\n# TYPE rampart_controller_identities gauge\nrampart_controller_identities {}\n# TYPE rampart_controller_policies gauge\nrampart_controller_policies {}\n# TYPE rampart_posture_findings gauge\n",
                shared.syncs(),
                shared.sync_errors.load(Ordering::Relaxed),
                p.identities.1.len(),
                p.policies.1.len()
            );
            let mut by: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for f in p.report.iter().flat_map(|r| &r.findings) {
                *by.entry((f.id, f.severity.name())).or_default() += 1;
            }
            for ((id, sev), n) in by {
                text.push_str(&format!(
                    "rampart_posture_findings{{owasp=\"{id}\",severity=\"{sev}\"}} {n}\n"
                ));
            }
            return Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(text)).boxed())
                .expect("a response");
        }
        _ => {}
    }
    if let Some(t) = token {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(t) {
            return reply(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "a bearer token is required"}),
            );
        }
    }
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/v1/identities") => {
            let p = shared.published.read().expect("published lock");
            reply(
                StatusCode::OK,
                &json!({"version": p.identities.0, "pods": p.identities.1}),
            )
        }
        (Method::GET, "/v1/policies") => {
            let p = shared.published.read().expect("published lock");
            reply(
                StatusCode::OK,
                &json!({"version": p.policies.0, "documents": p.policies.1}),
            )
        }
        (Method::GET, "/v1/posture") => {
            let p = shared.published.read().expect("published lock");
            reply(
                StatusCode::OK,
                &serde_json::to_value(&p.report).unwrap_or(Value::Null),
            )
        }
        (Method::GET, "/v1/quarantines") => {
            let p = shared.published.read().expect("published lock");
            reply(StatusCode::OK, &json!({"quarantines": p.quarantines}))
        }
        (Method::DELETE, "/v1/quarantine") => {
            let query = req.uri().query().unwrap_or("").to_owned();
            let param = |name: &str| {
                query.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k == name && !v.is_empty()).then(|| v.to_owned())
                })
            };
            let (Some(ns), Some(pod)) = (param("namespace"), param("pod")) else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "namespace and pod are required"}),
                );
            };
            let api: Api<Quarantine> = Api::namespaced(client.clone(), &ns);
            match api
                .delete(
                    &quarantine::label_value(&pod),
                    &kube::api::DeleteParams::default(),
                )
                .await
            {
                Ok(_) => reply(
                    StatusCode::OK,
                    &json!({"namespace": ns, "pod": pod, "released": true}),
                ),
                Err(kube::Error::Api(s)) if s.code == 404 => reply(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("no quarantine of {ns}/{pod}")}),
                ),
                Err(e) => reply(StatusCode::BAD_GATEWAY, &json!({"error": e.to_string()})),
            }
        }
        (Method::GET, "/v1/workloads") => {
            let p = shared.published.read().expect("published lock");
            reply(StatusCode::OK, &json!({"workloads": p.workloads}))
        }
        (Method::POST, "/v1/quarantine") => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "expected a JSON object"}),
                );
            };
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let (ns, pod, reason, by) = (
                field("namespace"),
                field("pod"),
                field("reason"),
                field("requested_by"),
            );
            if ns.is_empty() || pod.is_empty() || reason.is_empty() {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "namespace, pod and reason are required"}),
                );
            }
            let by = if by.is_empty() {
                "policy".to_owned()
            } else {
                by
            };
            match request_quarantine(client, &ns, &pod, &reason, &by).await {
                Ok(created) => reply(
                    if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    &json!({"namespace": ns, "pod": pod, "created": created}),
                ),
                Err(e) => reply(StatusCode::BAD_GATEWAY, &json!({"error": e.to_string()})),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, &json!({"error": "no such endpoint"})),
    }
}
