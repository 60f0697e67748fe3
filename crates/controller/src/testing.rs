//! A fake Kubernetes API server for tests, on loopback HTTPS: discovery documents, list and
//! watch with resource versions and bookmarks, get, create, replace, patch (JSON merge,
//! strategic merge as merge, server-side apply as create-or-merge), delete with finalizers,
//! the status subresource, `Status` errors, and `410 Gone` for resource versions older than
//! its history. The real kube client, the controller and the real `kubectl` run against it
//! (no kube-apiserver can be installed here).
//!
//! Simplifications, on purpose: strategic merge and server-side apply merge like a JSON merge
//! patch (lists are replaced, field managers are not tracked); lists are not paginated;
//! admission, validation and defaulting do not run.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// A resource the fake serves: (group, version, kind, plural, namespaced, short names).
type Resource = (&'static str, &'static str, &'static str, &'static str, bool);

/// What the fake knows how to store.
pub const RESOURCES: &[Resource] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Event", "events", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    ("coordination.k8s.io", "v1", "Lease", "leases", true),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    (
        "rampart.dev",
        "v1",
        "RuntimePolicy",
        "runtimepolicies",
        true,
    ),
    ("rampart.dev", "v1", "RuntimeLimit", "runtimelimits", true),
    ("rampart.dev", "v1", "Quarantine", "quarantines", true),
];

/// One change, as a watch replays it.
#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    plural: &'static str,
    group: &'static str,
    namespace: String,
    kind: &'static str,
    object: Value,
}

/// One resource's objects by (namespace, name).
type Objects = BTreeMap<(String, String), Value>;

/// The stored objects and their history.
#[derive(Default)]
struct Store {
    rv: u64,
    /// (group, plural) -> (namespace, name) -> object.
    objects: HashMap<(&'static str, &'static str), Objects>,
    history: Vec<Change>,
    /// Changes at or below this version are forgotten: a watch from there gets 410.
    compacted: u64,
}

/// What the fake received, for tests to assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// The method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The content type of the body, if any.
    pub content_type: String,
}

struct State {
    store: Mutex<Store>,
    changes: tokio::sync::broadcast::Sender<Change>,
    token: String,
    log: Mutex<Vec<Logged>>,
    fail_watches: AtomicUsize,
    /// Bumped to end every open watch.
    close: tokio::sync::watch::Sender<u64>,
}

/// A running fake API server.
pub struct FakeApiServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA certificate clients must trust (PEM).
    pub ca_pem: String,
    state: Arc<State>,
}

impl FakeApiServer {
    /// Starts a server on a free loopback port.
    pub async fn start() -> FakeApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rampart fake API server CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("a CA");
        let leaf_key = rcgen::KeyPair::generate().expect("a key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("a certificate");
        let cert = rustls::pki_types::CertificateDer::from(leaf.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
            .expect("a private key");
        let mut tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("a TLS config");
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let state = Arc::new(State {
            store: Mutex::new(Store {
                rv: 100,
                ..Store::default()
            }),
            changes: tokio::sync::broadcast::channel(4096).0,
            token: "rampart-test-token".into(),
            log: Mutex::new(Vec::new()),
            fail_watches: AtomicUsize::new(0),
            close: tokio::sync::watch::Sender::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (st, acceptor) = (st.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeApiServer {
            addr,
            ca_pem: ca.pem(),
            state,
        }
    }

    /// A kubeconfig (YAML) for this server, with its CA and a bearer token; namespace
    /// `default`.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {ca}\nusers:\n- name: tester\n  user:\n    token: {}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: tester, namespace: default}}\ncurrent-context: fake\n",
            self.addr.port(),
            self.state.token
        )
    }

    /// A kube client for this server.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig()).expect("a kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("a config");
        kube::Client::try_from(config).expect("a client")
    }

    /// Stores an object as if it had been created (its kind says where).
    pub fn put(&self, object: Value) -> Value {
        let kind = object["kind"].as_str().unwrap_or("").to_owned();
        let r = RESOURCES
            .iter()
            .find(|r| r.2 == kind)
            .unwrap_or_else(|| panic!("the fake does not serve {kind}"));
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let ns = if r.4 { ns } else { String::new() };
        let mut store = self.state.store.lock().unwrap();
        create(&mut store, &self.state.changes, r, &ns, object).unwrap_or_else(|(_, v)| v)
    }

    /// Replaces or creates an object (a change the watchers see as MODIFIED or ADDED).
    pub fn upsert(&self, object: Value) {
        let kind = object["kind"].as_str().unwrap_or("").to_owned();
        let r = RESOURCES
            .iter()
            .find(|r| r.2 == kind)
            .expect("a served kind");
        let ns = if r.4 {
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned()
        } else {
            String::new()
        };
        let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let mut store = self.state.store.lock().unwrap();
        let existing = store
            .objects
            .get(&(r.0, r.3))
            .and_then(|m| m.get(&(ns.clone(), name)))
            .cloned();
        match existing {
            Some(_) => {
                let _ = update(&mut store, &self.state.changes, r, &ns, object, false);
            }
            None => {
                let _ = create(&mut store, &self.state.changes, r, &ns, object);
            }
        }
    }

    /// Deletes an object (finalizers ignored), as the garbage collector or a person would.
    pub fn remove(&self, plural: &str, namespace: &str, name: &str) {
        let r = RESOURCES
            .iter()
            .find(|r| r.3 == plural)
            .expect("a served resource");
        let ns = if r.4 { namespace } else { "" };
        let mut store = self.state.store.lock().unwrap();
        remove(&mut store, &self.state.changes, r, ns, name);
    }

    /// The stored object, if any.
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let r = RESOURCES.iter().find(|r| r.3 == plural)?;
        let ns = if r.4 { namespace } else { "" };
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .get(&(r.0, r.3))?
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every stored object of a resource.
    pub fn list(&self, plural: &str) -> Vec<Value> {
        let store = self.state.store.lock().unwrap();
        store
            .objects
            .iter()
            .filter(|((_, p), _)| *p == plural)
            .flat_map(|(_, m)| m.values().cloned())
            .collect()
    }

    /// Forgets the history so far: a watch from any version seen until now gets `410 Gone`.
    pub fn compact(&self) {
        let mut store = self.state.store.lock().unwrap();
        store.rv += 1;
        store.compacted = store.rv;
        store.history.clear();
    }

    /// Ends every open watch, as an API server restart or a load balancer's idle timeout
    /// does; clients reconnect from the last version they saw.
    pub fn close_watches(&self) {
        self.state.close.send_modify(|g| *g += 1);
    }

    /// The next `n` watch requests fail with 500.
    pub fn fail_watches(&self, n: usize) {
        self.state.fail_watches.store(n, Ordering::SeqCst);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// The requests that changed something (not GET).
    pub fn writes(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|l| l.method != "GET")
            .collect()
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .expect("a response")
}

/// A `Status` error.
fn status(code: u16, reason: &str, message: &str, kind: &str, name: &str) -> Response<Body> {
    full(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code,
                "details": {"name": name, "kind": kind}}),
    )
}

fn api_version(r: &Resource) -> String {
    if r.0.is_empty() {
        r.1.to_owned()
    } else {
        format!("{}/{}", r.0, r.1)
    }
}

fn now() -> String {
    // seconds precision, as the API server writes timestamps
    crate::quarantine::now()
}

/// Records a change and tells the watchers.
fn record(
    store: &mut Store,
    tx: &tokio::sync::broadcast::Sender<Change>,
    r: &Resource,
    ns: &str,
    kind: &'static str,
    object: Value,
) {
    let change = Change {
        rv: store.rv,
        plural: r.3,
        group: r.0,
        namespace: ns.to_owned(),
        kind,
        object,
    };
    store.history.push(change.clone());
    let _ = tx.send(change);
}

fn create(
    store: &mut Store,
    tx: &tokio::sync::broadcast::Sender<Change>,
    r: &Resource,
    ns: &str,
    mut object: Value,
) -> Result<Value, (u16, Value)> {
    if !object.is_object() {
        return Err((400, json!("the body is not an object")));
    }
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .expect("an object");
    if !meta.is_object() {
        *meta = json!({});
    }
    let mut name = meta["name"].as_str().unwrap_or("").to_owned();
    if name.is_empty()
        && let Some(prefix) = meta["generateName"].as_str()
    {
        name = format!("{prefix}{:05x}", store.rv + 1);
    }
    if name.is_empty() {
        return Err((422, json!("metadata.name: Required value")));
    }
    let map = store.objects.entry((r.0, r.3)).or_default();
    if map.contains_key(&(ns.to_owned(), name.clone())) {
        return Err((409, json!(name)));
    }
    store.rv += 1;
    let rv = store.rv;
    let meta = object["metadata"].as_object_mut().expect("metadata");
    meta.insert("name".into(), json!(name));
    if r.4 {
        meta.insert("namespace".into(), json!(ns));
    } else {
        meta.remove("namespace");
    }
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    meta.insert(
        "uid".into(),
        json!(format!("00000000-0000-4000-8000-{rv:012}")),
    );
    meta.insert("creationTimestamp".into(), json!(now()));
    meta.insert("generation".into(), json!(1));
    object["apiVersion"] = json!(api_version(r));
    object["kind"] = json!(r.2);
    store
        .objects
        .entry((r.0, r.3))
        .or_default()
        .insert((ns.to_owned(), name), object.clone());
    record(store, tx, r, ns, "ADDED", object.clone());
    Ok(object)
}

/// Replaces an object with `object` (which carries the full new state). A status write
/// changes only the status; other writes keep the stored status.
fn update(
    store: &mut Store,
    tx: &tokio::sync::broadcast::Sender<Change>,
    r: &Resource,
    ns: &str,
    mut object: Value,
    status_only: bool,
) -> Result<Value, (u16, Value)> {
    let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let key = (ns.to_owned(), name.clone());
    let Some(old) = store
        .objects
        .get(&(r.0, r.3))
        .and_then(|m| m.get(&key))
        .cloned()
    else {
        return Err((404, json!(name)));
    };
    if let Some(want) = object["metadata"]["resourceVersion"].as_str()
        && want != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
    {
        return Err((409, json!(name)));
    }
    if status_only {
        let mut next = old.clone();
        next["status"] = object.get("status").cloned().unwrap_or(Value::Null);
        object = next;
    } else {
        match old.get("status") {
            Some(s) if r.2 != "Namespace" => object["status"] = s.clone(),
            _ => {
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    // what the server owns stays the server's
    for k in ["uid", "creationTimestamp", "namespace", "name"] {
        if let Some(v) = old["metadata"].get(k) {
            object["metadata"][k] = v.clone();
        }
    }
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let spec_changed = !status_only && object.get("spec") != old.get("spec");
    object["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
    if let Some(t) = old["metadata"].get("deletionTimestamp") {
        object["metadata"]["deletionTimestamp"] = t.clone();
    }
    object["apiVersion"] = json!(api_version(r));
    object["kind"] = json!(r.2);
    if object == old {
        return Ok(old);
    }
    store.rv += 1;
    object["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    // a deleted object whose last finalizer went is gone
    let finalizers_left = object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if object["metadata"].get("deletionTimestamp").is_some() && !finalizers_left {
        store.objects.get_mut(&(r.0, r.3)).map(|m| m.remove(&key));
        record(store, tx, r, ns, "DELETED", object.clone());
        return Ok(object);
    }
    store
        .objects
        .entry((r.0, r.3))
        .or_default()
        .insert(key, object.clone());
    record(store, tx, r, ns, "MODIFIED", object.clone());
    Ok(object)
}

fn remove(
    store: &mut Store,
    tx: &tokio::sync::broadcast::Sender<Change>,
    r: &Resource,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let key = (ns.to_owned(), name.to_owned());
    let mut object = store.objects.get_mut(&(r.0, r.3))?.remove(&key)?;
    store.rv += 1;
    object["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    record(store, tx, r, ns, "DELETED", object.clone());
    Some(object)
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Whether an object matches a label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma = and).
fn selects(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels[k.trim()].as_str() == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                labels.get(k.trim()).is_none()
            } else {
                labels.get(term).is_some()
            }
        })
}

/// Whether an object matches a field selector (`metadata.name`, `metadata.namespace`,
/// `status.podIP`, `spec.nodeName`; others match everything).
fn fields(selector: &str, object: &Value) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v, neg) = match term.split_once("!=") {
            Some((k, v)) => (k, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((k, v)) => (k, v, false),
                None => return true,
            },
        };
        let pointer = format!("/{}", k.trim().replace('.', "/"));
        let got = object
            .pointer(&pointer)
            .and_then(Value::as_str)
            .unwrap_or("");
        (got == v.trim()) != neg
    })
}

fn query(uri: &http::Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Discovery documents.
fn discovery(path: &str) -> Option<Value> {
    let groups: BTreeMap<&str, Vec<&Resource>> =
        RESOURCES.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.0).or_insert_with(Vec::new).push(r);
            m
        });
    let resource_list = |gv: String, rs: &[&Resource]| {
        let mut resources = Vec::new();
        for r in rs {
            resources.push(
                json!({"name": r.3, "singularName": r.2.to_ascii_lowercase(),
                "namespaced": r.4, "kind": r.2,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}),
            );
            resources.push(
                json!({"name": format!("{}/status", r.3), "singularName": "",
                "namespaced": r.4, "kind": r.2, "verbs": ["get", "patch", "update"]}),
            );
        }
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    };
    match path {
        "/version" => Some(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0",
            "platform": "linux/amd64"})),
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        "/apis" => Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups":
            groups.keys().filter(|g| !g.is_empty()).map(|g| json!({"name": g,
                "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}],
                "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}}))
            .collect::<Vec<_>>()})),
        "/api/v1" => Some(resource_list("v1".into(), &groups[""])),
        _ => {
            let rest = path.strip_prefix("/apis/")?;
            let (g, v) = rest.split_once('/')?;
            (v == "v1").then_some(())?;
            Some(resource_list(format!("{g}/v1"), groups.get(g)?))
        }
    }
}

/// Where a request points: the resource, namespace, name and subresource.
fn locate(path: &str) -> Option<(&'static Resource, String, Option<String>, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", g, "v1", rest @ ..] => (*g, rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
        _ => (String::new(), rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    let r = RESOURCES.iter().find(|r| r.0 == group && r.3 == plural)?;
    Some((r, ns, name, sub))
}

async fn handle(st: Arc<State>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    st.log.lock().unwrap().push(Logged {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        content_type: content_type.clone(),
    });
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", st.token) {
        return status(401, "Unauthorized", "Unauthorized", "", "");
    }
    let path = parts.uri.path().to_owned();
    if parts.method == Method::GET
        && let Some(doc) = discovery(&path)
    {
        return full(StatusCode::OK, &doc);
    }
    let Some((r, ns, name, sub)) = locate(&path) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            "",
            "",
        );
    };
    let q = query(&parts.uri);
    // a namespaced object addressed without its namespace lands in `default`; a
    // cluster-scoped one has none
    let ns = if r.4 { ns } else { String::new() };
    match (&parts.method, name) {
        (&Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(st, r, ns, q).await
        }
        (&Method::GET, None) => {
            let store = st.store.lock().unwrap();
            if let Some(rv) = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok())
                && rv > 0
                && rv < store.compacted
                && q.get("resourceVersionMatch").map(String::as_str) == Some("Exact")
            {
                return status(410, "Expired", "too old resource version", r.2, "");
            }
            let items: Vec<Value> = store
                .objects
                .get(&(r.0, r.3))
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|((n, _), _)| ns.is_empty() || *n == ns)
                .map(|(_, o)| o.clone())
                .filter(|o| q.get("labelSelector").is_none_or(|s| selects(s, o)))
                .filter(|o| q.get("fieldSelector").is_none_or(|s| fields(s, o)))
                .collect();
            full(
                StatusCode::OK,
                &json!({"kind": format!("{}List", r.2), "apiVersion": api_version(r),
                        "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
            )
        }
        (&Method::GET, Some(name)) => {
            let store = st.store.lock().unwrap();
            match store
                .objects
                .get(&(r.0, r.3))
                .and_then(|m| m.get(&(ns.clone(), name.clone())))
            {
                Some(o) => full(StatusCode::OK, o),
                None => status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", r.3),
                    r.3,
                    &name,
                ),
            }
        }
        (&Method::POST, None) => {
            let Ok(object) = parse_body(&body, &content_type) else {
                return status(400, "BadRequest", "the body is not JSON or YAML", r.2, "");
            };
            let mut store = st.store.lock().unwrap();
            match create(&mut store, &st.changes, r, &ns, object) {
                Ok(o) => full(StatusCode::CREATED, &o),
                Err((409, n)) => {
                    let n = n.as_str().unwrap_or("");
                    status(
                        409,
                        "AlreadyExists",
                        &format!("{} \"{n}\" already exists", r.3),
                        r.3,
                        n,
                    )
                }
                Err((code, m)) => status(code, "Invalid", m.as_str().unwrap_or("invalid"), r.2, ""),
            }
        }
        (&Method::PUT, Some(name)) => {
            let Ok(mut object) = parse_body(&body, &content_type) else {
                return status(
                    400,
                    "BadRequest",
                    "the body is not JSON or YAML",
                    r.2,
                    &name,
                );
            };
            object["metadata"]["name"] = json!(name);
            let mut store = st.store.lock().unwrap();
            reply(
                update(
                    &mut store,
                    &st.changes,
                    r,
                    &ns,
                    object,
                    sub.as_deref() == Some("status"),
                ),
                r,
                &name,
            )
        }
        (&Method::PATCH, Some(name)) => {
            let Ok(patch) = parse_body(&body, &content_type) else {
                return status(
                    400,
                    "BadRequest",
                    "the body is not JSON or YAML",
                    r.2,
                    &name,
                );
            };
            let ct = content_type.split(';').next().unwrap_or("").trim();
            let apply = ct == "application/apply-patch+yaml";
            if !matches!(
                ct,
                "application/merge-patch+json" | "application/strategic-merge-patch+json"
            ) && !apply
            {
                return status(
                    415,
                    "UnsupportedMediaType",
                    &format!("the fake does not take {ct} patches"),
                    r.2,
                    &name,
                );
            }
            if apply && q.get("fieldManager").is_none_or(|f| f.is_empty()) {
                return status(
                    422,
                    "Invalid",
                    "fieldManager: Required value: is required for apply patch",
                    r.2,
                    &name,
                );
            }
            let mut store = st.store.lock().unwrap();
            let existing = store
                .objects
                .get(&(r.0, r.3))
                .and_then(|m| m.get(&(ns.clone(), name.clone())))
                .cloned();
            let status_only = sub.as_deref() == Some("status");
            match existing {
                None if apply && !status_only => {
                    let mut o = patch;
                    o["metadata"]["name"] = json!(name);
                    match create(&mut store, &st.changes, r, &ns, o) {
                        Ok(o) => full(StatusCode::CREATED, &o),
                        Err((code, m)) => {
                            status(code, "Invalid", m.as_str().unwrap_or(""), r.2, &name)
                        }
                    }
                }
                None => status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", r.3),
                    r.3,
                    &name,
                ),
                Some(mut o) => {
                    let mut patch = patch;
                    if let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    merge(&mut o, &patch);
                    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    reply(
                        update(&mut store, &st.changes, r, &ns, o, status_only),
                        r,
                        &name,
                    )
                }
            }
        }
        (&Method::DELETE, Some(name)) => {
            let mut store = st.store.lock().unwrap();
            let key = (ns.clone(), name.clone());
            let Some(o) = store
                .objects
                .get(&(r.0, r.3))
                .and_then(|m| m.get(&key))
                .cloned()
            else {
                return status(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", r.3),
                    r.3,
                    &name,
                );
            };
            let has_finalizers = o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if o["metadata"].get("deletionTimestamp").is_some() {
                    return full(StatusCode::OK, &o);
                }
                let mut o = o;
                o["metadata"]["deletionTimestamp"] = json!(now());
                store.rv += 1;
                o["metadata"]["resourceVersion"] = json!(store.rv.to_string());
                store
                    .objects
                    .entry((r.0, r.3))
                    .or_default()
                    .insert(key, o.clone());
                record(&mut store, &st.changes, r, &ns, "MODIFIED", o.clone());
                return full(StatusCode::OK, &o);
            }
            remove(&mut store, &st.changes, r, &ns, &name);
            full(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "kind": r.3}}),
            )
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the fake does not serve this",
            r.2,
            "",
        ),
    }
}

fn reply(result: Result<Value, (u16, Value)>, r: &Resource, name: &str) -> Response<Body> {
    match result {
        Ok(o) => full(StatusCode::OK, &o),
        Err((404, _)) => status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", r.3),
            r.3,
            name,
        ),
        Err((409, _)) => status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                r.3
            ),
            r.3,
            name,
        ),
        Err((code, m)) => status(code, "Invalid", m.as_str().unwrap_or("invalid"), r.2, name),
    }
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ()> {
    if content_type.contains("yaml") {
        let text = std::str::from_utf8(body).map_err(|_| ())?;
        return serde_saphyr::from_str(text).map_err(|_| ());
    }
    serde_json::from_slice(body).map_err(|_| ())
}

/// A watch: the changes after the version asked for (all objects as ADDED when none is
/// given), then live changes, with bookmarks every 200 ms when asked for.
async fn watch(
    st: Arc<State>,
    r: &'static Resource,
    ns: String,
    q: HashMap<String, String>,
) -> Response<Body> {
    if st
        .fail_watches
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return status(500, "InternalError", "injected watch failure", r.2, "");
    }
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = q
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(290)
        .min(290);
    let labels = q.get("labelSelector").cloned();
    let field_sel = q.get("fieldSelector").cloned();
    let matches = move |c: &Change| {
        c.group == r.0
            && c.plural == r.3
            && (ns.is_empty() || c.namespace == ns)
            && labels.as_deref().is_none_or(|s| selects(s, &c.object))
            && field_sel.as_deref().is_none_or(|s| fields(s, &c.object))
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let event = |t: &str, o: &Value| Bytes::from(format!("{}\n", json!({"type": t, "object": o})));
    // replay and subscribe under one lock, so nothing falls between them
    let (replay, mut live, expired, current) = {
        let store = st.store.lock().unwrap();
        let live = st.changes.subscribe();
        if from > 0 && from < store.compacted {
            (Vec::new(), live, true, store.rv)
        } else if from == 0 {
            let all: Vec<Bytes> = store
                .objects
                .get(&(r.0, r.3))
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|o| {
                    matches(&Change {
                        rv: 0,
                        plural: r.3,
                        group: r.0,
                        namespace: o["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                        kind: "ADDED",
                        object: (*o).clone(),
                    })
                })
                .map(|o| event("ADDED", o))
                .collect();
            (all, live, false, store.rv)
        } else {
            let events = store
                .history
                .iter()
                .filter(|c| c.rv > from && matches(c))
                .map(|c| event(c.kind, &c.object))
                .collect();
            (events, live, false, store.rv)
        }
    };
    let kind = r.2;
    let api = api_version(r);
    let mut closed = st.close.subscribe();
    tokio::spawn(async move {
        if expired {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": format!("too old resource version: {from} ({current})"),
                "reason": "Expired", "code": 410});
            let _ = tx.send(event("ERROR", &status)).await;
            return;
        }
        for e in replay {
            if tx.send(e).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut seen = current;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = closed.changed() => return,
                c = live.recv() => match c {
                    Ok(c) => {
                        seen = seen.max(c.rv);
                        if c.rv > current && matches(&c) && tx.send(event(c.kind, &c.object)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    let b = json!({"kind": kind, "apiVersion": api,
                                   "metadata": {"resourceVersion": seen.to_string()}});
                    if tx.send(event("BOOKMARK", &b)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("a response")
}
