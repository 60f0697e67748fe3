//! Posture: Kubernetes objects checked against the OWASP Kubernetes Top 10 (2025).
//!
//! - K01 insecure workload configuration: privileged, host namespaces, hostPath, root user,
//!   privilege escalation, added capabilities, writable root filesystem, no resource limits,
//!   host ports, unconfined seccomp, unmasked /proc.
//! - K02 overly permissive authorization: wildcards, cluster-admin bound to service accounts
//!   or groups, read access to secrets, escalation verbs, exec into pods.
//! - K03 secrets management: credentials as plain values in env or ConfigMaps, Secrets with
//!   values in manifests, service-account tokens automounted where no RBAC uses them.
//! - K04 cluster-level policy: namespaces without Pod Security admission enforcement.
//! - K05 network segmentation: namespaces with workloads but no NetworkPolicy.
//! - K06 exposed components: services that expose control-plane and node ports, load
//!   balancers open to every address.
//! - K09 broken authentication: RBAC that grants anything to anonymous or unauthenticated
//!   users.
//!
//! Messages name fields and variables, never values.

use std::collections::{BTreeMap, BTreeSet};

use rampart_core::Severity;
use rampart_detect::{ScanOptions, Scanner};
use serde::Serialize;
use serde_json::Value;

use crate::manifest::{Object, ObjectRef};
use crate::workload::{Container, containers, pod_spec};

/// One posture finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// The OWASP Kubernetes Top 10 (2025) id: `K01:2025` ...
    pub id: &'static str,
    /// The rule: `privileged`, `host-path`, `rbac-wildcard`, ...
    pub rule: &'static str,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: Severity,
    /// The object.
    pub object: ObjectRef,
    /// The container, for container-level findings.
    pub container: Option<String>,
    /// What is wrong and what to do, without any value.
    pub message: String,
}

/// Host paths whose mount hands over the node: the root, the container runtime's socket,
/// the kubelet's state, system configuration.
const SENSITIVE_HOST_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/root",
    "/home",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/var/run",
    "/run",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/etc/kubernetes",
];

/// Capabilities that amount to root on the node.
const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "DAC_READ_SEARCH",
    "DAC_OVERRIDE",
    "SYS_RAWIO",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "SYSLOG",
];

/// Node and control-plane ports a Service should never expose.
const COMPONENT_PORTS: &[(u64, &str)] = &[
    (2379, "etcd"),
    (2380, "etcd peers"),
    (6443, "the API server"),
    (10250, "the kubelet"),
    (10255, "the kubelet (read-only)"),
    (10256, "kube-proxy"),
    (10257, "the controller manager"),
    (10259, "the scheduler"),
];

/// Checks a set of objects (a manifest set, or what the API lists) and returns the findings,
/// most severe first.
pub fn audit(objects: &[Object]) -> Vec<Finding> {
    let mut out = Vec::new();
    let bound = bound_service_accounts(objects);
    for o in objects {
        if let Some(spec) = pod_spec(o) {
            workload(o, spec, &bound, &mut out);
        }
        match o.id.kind.as_str() {
            "Role" | "ClusterRole" => role(o, &mut out),
            "RoleBinding" | "ClusterRoleBinding" => binding(o, &mut out),
            "ConfigMap" => config_map(o, &mut out),
            "Secret" => secret(o, &mut out),
            "Service" => service(o, &mut out),
            "Namespace" => namespace(o, &mut out),
            _ => {}
        }
    }
    segmentation(objects, &mut out);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(b.id))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.container.cmp(&b.container))
            .then_with(|| a.rule.cmp(b.rule))
    });
    out
}

fn push(
    out: &mut Vec<Finding>,
    id: &'static str,
    rule: &'static str,
    severity: Severity,
    o: &Object,
    container: Option<&str>,
    message: String,
) {
    out.push(Finding {
        id,
        rule,
        severity,
        object: o.id.clone(),
        container: container.map(str::to_owned),
        message,
    });
}

fn truthy(v: Option<&Value>) -> bool {
    v.and_then(boolish).unwrap_or(false)
}

/// A boolean as Kubernetes' YAML reader takes it: YAML 1.1 spells true as `yes`, `on`, `y`
/// too (any case), and kubectl applies `privileged: yes` as true. Strings that the API would
/// refuse count as what they spell, so a check errs on the side of the finding.
pub fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A host path as the node resolves it: `.` and `..` applied, repeated and trailing slashes
/// dropped (`/var/../etc//` is `/etc`).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Service accounts (namespace, name) that some binding names: their tokens are used.
fn bound_service_accounts(objects: &[Object]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for o in objects {
        if !matches!(o.id.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
            continue;
        }
        for s in subjects(o) {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .or(o.id.namespace.as_deref())
                    .unwrap_or("default");
                if let Some(name) = s.get("name").and_then(Value::as_str) {
                    out.insert((ns.to_owned(), name.to_owned()));
                }
            }
        }
    }
    out
}

fn subjects(o: &Object) -> impl Iterator<Item = &Value> {
    o.value
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// K01 and K03 checks of a workload's pod spec.
fn workload(o: &Object, spec: &Value, bound: &BTreeSet<(String, String)>, out: &mut Vec<Finding>) {
    const K01: &str = "K01:2025";
    for (field, rule, what) in [
        (
            "hostNetwork",
            "host-network",
            "the node's network namespace",
        ),
        ("hostPID", "host-pid", "the node's process namespace"),
        ("hostIPC", "host-ipc", "the node's IPC namespace"),
    ] {
        if truthy(spec.get(field)) {
            push(
                out,
                K01,
                rule,
                Severity::High,
                o,
                None,
                format!("{field}: true shares {what} with the pod; remove it"),
            );
        }
    }
    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = v.pointer("/hostPath/path").and_then(Value::as_str) {
            let clean = normalize(path);
            let clean = clean.as_str();
            let sensitive = SENSITIVE_HOST_PATHS.contains(&clean)
                || clean.ends_with(".sock")
                || [
                    "/etc/kubernetes/",
                    "/var/lib/kubelet/",
                    "/var/lib/docker/",
                    "/var/lib/containerd/",
                    "/root/",
                    "/proc/",
                    "/sys/",
                ]
                .iter()
                .any(|p| clean.starts_with(p));
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            push(
                out,
                K01,
                "host-path",
                if sensitive {
                    Severity::Critical
                } else {
                    Severity::High
                },
                o,
                None,
                format!(
                    "volume {name:?} mounts the node's {clean} (hostPath){}; use a persistent volume or an emptyDir",
                    if sensitive {
                        ", which hands over the node"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    let pod_sc = spec.get("securityContext");
    let pod_field = |f: &str| pod_sc.and_then(|s| s.get(f));
    if pod_field("seccompProfile")
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        == Some("Unconfined")
    {
        push(
            out,
            K01,
            "seccomp-unconfined",
            Severity::Medium,
            o,
            None,
            "the pod's seccomp profile is Unconfined; use RuntimeDefault".into(),
        );
    }
    for c in containers(spec) {
        container(o, &c, pod_field, out);
    }
    // K03: the token of a service account no binding uses
    let automount = spec.get("automountServiceAccountToken").and_then(boolish);
    let sa = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let ns = o.id.namespace.as_deref().unwrap_or("default");
    if automount != Some(false) && !bound.contains(&(ns.to_owned(), sa.to_owned())) {
        push(
            out,
            "K03:2025",
            "automounted-token",
            Severity::Low,
            o,
            None,
            format!(
                "the token of service account {sa:?} is mounted but no role binding uses it; set automountServiceAccountToken: false"
            ),
        );
    }
}

/// K01 and K03 checks of one container.
fn container<'a>(
    o: &Object,
    c: &Container<'_>,
    pod_field: impl Fn(&str) -> Option<&'a Value>,
    out: &mut Vec<Finding>,
) {
    const K01: &str = "K01:2025";
    let name = Some(c.name);
    let field = |f: &str| c.security(f).or_else(|| pod_field(f));
    if truthy(c.security("privileged")) {
        push(
            out,
            K01,
            "privileged",
            Severity::Critical,
            o,
            name,
            "runs privileged: every device and capability of the node; remove privileged: true"
                .into(),
        );
    }
    let user = field("runAsUser").and_then(Value::as_i64);
    let non_root = truthy(field("runAsNonRoot"));
    if user == Some(0) {
        push(
            out,
            K01,
            "run-as-root",
            Severity::High,
            o,
            name,
            "runs as user 0 (root); set runAsUser to a non-zero id and runAsNonRoot: true".into(),
        );
    } else if !non_root && user.is_none() {
        push(
            out,
            K01,
            "run-as-root",
            Severity::Medium,
            o,
            name,
            "may run as root: neither runAsNonRoot: true nor a non-zero runAsUser is set".into(),
        );
    }
    let privileged = truthy(c.security("privileged"));
    if !privileged && c.security("allowPrivilegeEscalation").and_then(boolish) != Some(false) {
        push(
            out,
            K01,
            "privilege-escalation",
            Severity::Medium,
            o,
            name,
            "allows privilege escalation (setuid binaries); set allowPrivilegeEscalation: false"
                .into(),
        );
    }
    let caps = c.security("capabilities");
    let added: Vec<String> = caps
        .and_then(|k| k.get("add"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| s.trim_start_matches("CAP_").to_ascii_uppercase())
        .collect();
    if !added.is_empty() {
        let dangerous = added.iter().any(|a| DANGEROUS_CAPS.contains(&a.as_str()));
        push(
            out,
            K01,
            "added-capabilities",
            if dangerous {
                Severity::High
            } else {
                Severity::Medium
            },
            o,
            name,
            format!(
                "adds capabilities {}; drop ALL and add back only what is needed",
                added.join(", ")
            ),
        );
    }
    let drops_all = caps
        .and_then(|k| k.get("drop"))
        .and_then(Value::as_array)
        .is_some_and(|d| {
            d.iter()
                .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case("ALL")))
        });
    if !privileged && !drops_all {
        push(
            out,
            K01,
            "capabilities-not-dropped",
            Severity::Low,
            o,
            name,
            "keeps the runtime's default capabilities; drop ALL".into(),
        );
    }
    if !truthy(c.security("readOnlyRootFilesystem")) {
        push(
            out,
            K01,
            "writable-root-filesystem",
            Severity::Low,
            o,
            name,
            "its root filesystem is writable; set readOnlyRootFilesystem: true and mount emptyDirs where it writes".into(),
        );
    }
    if c.security("procMount").and_then(Value::as_str) == Some("Unmasked") {
        push(
            out,
            K01,
            "unmasked-proc",
            Severity::High,
            o,
            name,
            "procMount: Unmasked exposes the node's /proc; remove it".into(),
        );
    }
    if c.security("seccompProfile")
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        == Some("Unconfined")
    {
        push(
            out,
            K01,
            "seccomp-unconfined",
            Severity::Medium,
            o,
            name,
            "its seccomp profile is Unconfined; use RuntimeDefault".into(),
        );
    }
    if c.list != "ephemeralContainers" {
        let limits = c.value.pointer("/resources/limits");
        let missing: Vec<&str> = ["cpu", "memory"]
            .into_iter()
            .filter(|r| limits.and_then(|l| l.get(*r)).is_none())
            .collect();
        if !missing.is_empty() {
            push(
                out,
                K01,
                "no-resource-limits",
                Severity::Low,
                o,
                name,
                format!(
                    "has no {} limit; set resources.limits",
                    missing.join(" or ")
                ),
            );
        }
    }
    for p in c
        .value
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(hp) = p.get("hostPort").and_then(Value::as_u64).filter(|p| *p > 0) {
            push(
                out,
                K01,
                "host-port",
                Severity::Medium,
                o,
                name,
                format!("binds host port {hp} on the node; use a Service"),
            );
        }
    }
    // K03: credentials as plain values
    for (var, value) in c.env() {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if looks_secret(var, value) {
            push(
                out,
                "K03:2025",
                "secret-in-env",
                Severity::High,
                o,
                name,
                format!(
                    "environment variable {var} holds a credential as a plain value; reference a Secret (valueFrom.secretKeyRef)"
                ),
            );
        }
    }
    // K03: credentials on the command line (anyone who can list processes or read the
    // object sees them)
    let argv = c.argv();
    let flag_key = |f: &str| f.trim_start_matches('-').replace('-', "_");
    for (i, arg) in argv.iter().enumerate() {
        let hit = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => {
                looks_secret(&flag_key(flag), value).then(|| flag.to_owned())
            }
            _ if arg.starts_with('-') && !arg.contains(' ') => argv
                .get(i + 1)
                .filter(|v| !v.starts_with('-') && looks_secret(&flag_key(arg), v))
                .map(|_| {
                    // a flag that names a credential is named; else the value's position
                    if credential_name(&flag_key(arg).to_ascii_uppercase()) {
                        (*arg).to_owned()
                    } else {
                        format!("argument {}", i + 2)
                    }
                }),
            // a shell line or a bare value: only what the secret detectors find
            _ => looks_secret("", arg).then(|| format!("argument {}", i + 1)),
        };
        if let Some(what) = hit {
            push(
                out,
                "K03:2025",
                "secret-in-args",
                Severity::High,
                o,
                name,
                format!(
                    "{what} on the command line holds a credential; pass it from a Secret (an environment variable from secretKeyRef, or a mounted file)"
                ),
            );
            break;
        }
    }
}

/// Whether a literal value under `key` is a credential: the secret detectors find one in it,
/// or the key names a credential and the value is not a reference or a placeholder.
fn looks_secret(key: &str, value: &str) -> bool {
    if value.len() > 64 << 10 {
        return false;
    }
    let scanner = Scanner::builtin();
    let text = format!("{key}={value}");
    let found = scanner
        .scan(text.as_bytes(), &ScanOptions::default())
        .map(|s| {
            s.findings()
                .any(|f| f.class == rampart_core::DataClass::Secret)
        })
        .unwrap_or(false);
    if found {
        return true;
    }
    let k = key.to_ascii_uppercase();
    let named = credential_name(&k);
    // references, file paths, booleans and short placeholders are not credentials
    let v = value.trim();
    let reference = v.starts_with("$(")
        || v.starts_with("${")
        || v.starts_with('/')
        || v.starts_with("file:")
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "changeme" | "redacted" | "xxx" | "none" | "null" | "<redacted>"
        );
    named
        && !reference
        && v.len() >= 8
        && !k.ends_with("_FILE")
        && !k.ends_with("_PATH")
        && !k.ends_with("_NAME")
        && !k.ends_with("_REF")
}

/// Whether a variable or flag name (upper case) names a credential.
fn credential_name(k: &str) -> bool {
    crate::ai::is_credential_var(k)
        || [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "APIKEY",
            "ACCESS_KEY",
            "PRIVATE_KEY",
            "CREDENTIAL",
            "AUTH_KEY",
        ]
        .iter()
        .any(|w| k.contains(w))
}

/// K02 and K09 checks of a Role or ClusterRole.
fn role(o: &Object, out: &mut Vec<Finding>) {
    const K02: &str = "K02:2025";
    let cluster = o.id.kind == "ClusterRole";
    let rules = o
        .value
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list = |r: &Value, k: &str| -> Vec<String> {
        r.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut wild = false;
    let mut secrets = false;
    let mut escalate: BTreeSet<String> = BTreeSet::new();
    let mut exec = false;
    for r in &rules {
        let verbs = list(r, "verbs");
        let resources = list(r, "resources");
        let groups = list(r, "apiGroups");
        let any = |v: &[String], x: &str| v.iter().any(|s| s == "*" || s == x);
        if verbs.iter().any(|v| v == "*")
            || resources.iter().any(|v| v == "*")
            || groups.iter().any(|v| v == "*")
        {
            wild = true;
        }
        let reads = ["get", "list", "watch"].iter().any(|v| any(&verbs, v));
        // access to secrets named one by one (`resourceNames`) is the least privilege asked for
        let named = !list(r, "resourceNames").is_empty();
        if reads && !named && any(&resources, "secrets") && (groups.is_empty() || any(&groups, ""))
        {
            secrets = true;
        }
        for v in ["escalate", "bind", "impersonate"] {
            if verbs.iter().any(|x| x == v) {
                escalate.insert(v.to_owned());
            }
        }
        if any(&verbs, "create")
            && (resources
                .iter()
                .any(|r| r == "pods/exec" || r == "pods/attach" || r == "*"))
        {
            exec = true;
        }
    }
    // everything on everything: one finding says it all
    let all = rules.iter().any(|r| {
        let has = |k: &str| list(r, k).iter().any(|x| x == "*");
        has("verbs") && has("resources")
    });
    if all {
        secrets = false;
        exec = false;
    }
    if wild {
        push(
            out,
            K02,
            "rbac-wildcard",
            match (cluster, all) {
                (true, true) => Severity::Critical,
                (true, false) | (false, true) => Severity::High,
                (false, false) => Severity::Medium,
            },
            o,
            None,
            "grants with wildcards (*) in verbs, resources or API groups; list what is needed"
                .into(),
        );
    }
    if secrets {
        push(
            out,
            K02,
            "secrets-access",
            if cluster {
                Severity::High
            } else {
                Severity::Medium
            },
            o,
            None,
            format!(
                "can read secrets{}; grant access to named secrets (resourceNames) only",
                if cluster { " in every namespace" } else { "" }
            ),
        );
    }
    if !escalate.is_empty() {
        push(
            out,
            K02,
            "rbac-escalation-verbs",
            Severity::High,
            o,
            None,
            format!(
                "grants {} (privilege escalation); remove them",
                escalate.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if exec {
        push(
            out,
            K02,
            "pod-exec",
            Severity::High,
            o,
            None,
            "can exec or attach into pods; remove create on pods/exec and pods/attach".into(),
        );
    }
}

/// K02 and K09 checks of a binding.
fn binding(o: &Object, out: &mut Vec<Finding>) {
    let role = o
        .value
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    for s in subjects(o) {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        if matches!(name, "system:anonymous" | "system:unauthenticated") {
            push(
                out,
                "K09:2025",
                "anonymous-access",
                Severity::Critical,
                o,
                None,
                format!(
                    "binds role {role:?} to {name}: anyone can use it without credentials; remove the subject"
                ),
            );
            continue;
        }
        if role == "cluster-admin" && name != "system:masters" {
            push(
                out,
                "K02:2025",
                "cluster-admin-binding",
                Severity::Critical,
                o,
                None,
                format!(
                    "binds cluster-admin to {} {name:?}; bind a role with only what it needs",
                    kind.to_ascii_lowercase()
                ),
            );
        } else if name == "system:authenticated" && !role.starts_with("system:") {
            push(
                out,
                "K02:2025",
                "all-users-binding",
                Severity::High,
                o,
                None,
                format!("binds role {role:?} to every authenticated user (system:authenticated)"),
            );
        }
    }
}

/// K03: credentials as plain values in a ConfigMap.
fn config_map(o: &Object, out: &mut Vec<Finding>) {
    for (k, v) in o
        .value
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(v) = v.as_str()
            && looks_secret(k, v)
        {
            push(
                out,
                "K03:2025",
                "secret-in-configmap",
                Severity::High,
                o,
                None,
                format!("key {k:?} holds a credential in a ConfigMap; move it to a Secret"),
            );
        }
    }
}

/// K03: a Secret with its values in a manifest.
fn secret(o: &Object, out: &mut Vec<Finding>) {
    if !o.file.is_empty() {
        // keys with a value: an empty placeholder (`csrf: ""`) holds nothing
        let keys: BTreeSet<&str> = ["data", "stringData"]
            .iter()
            .filter_map(|f| o.value.get(*f).and_then(Value::as_object))
            .flat_map(|m| m.iter())
            .filter(|(_, v)| v.as_str().is_some_and(|v| !v.trim().is_empty()))
            .map(|(k, _)| k.as_str())
            .collect();
        if !keys.is_empty() {
            push(
                out,
                "K03:2025",
                "secret-in-manifest",
                Severity::Medium,
                o,
                None,
                format!(
                    "holds the values of {} key(s) in a manifest file; keep them out of files (External Secrets, Sealed Secrets, a secret store)",
                    keys.len()
                ),
            );
        }
    }
}

/// K06: services exposing components or open to every address.
fn service(o: &Object, out: &mut Vec<Finding>) {
    let spec = o.value.get("spec");
    let kind = spec
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    for p in spec
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let port = p
            .get("targetPort")
            .and_then(Value::as_u64)
            .or_else(|| p.get("port").and_then(Value::as_u64));
        if let Some((n, what)) = port.and_then(|n| COMPONENT_PORTS.iter().find(|(c, _)| *c == n)) {
            push(
                out,
                "K06:2025",
                "exposed-component",
                Severity::High,
                o,
                None,
                format!("exposes port {n} ({what}); do not publish cluster components"),
            );
        }
    }
    let ranges = spec
        .and_then(|s| s.get("loadBalancerSourceRanges"))
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    if kind == "LoadBalancer" && !ranges {
        push(
            out,
            "K06:2025",
            "open-load-balancer",
            Severity::Low,
            o,
            None,
            "a LoadBalancer open to every address; set loadBalancerSourceRanges or put it behind an ingress".into(),
        );
    }
}

/// K04: Pod Security admission on a namespace.
fn namespace(o: &Object, out: &mut Vec<Finding>) {
    let enforce = o
        .labels()
        .find(|(k, _)| *k == "pod-security.kubernetes.io/enforce")
        .map(|(_, v)| v);
    match enforce {
        None => push(
            out,
            "K04:2025",
            "no-pod-security",
            Severity::Low,
            o,
            None,
            "no Pod Security admission level is enforced; label it pod-security.kubernetes.io/enforce: restricted (or baseline)".into(),
        ),
        Some("privileged") => push(
            out,
            "K04:2025",
            "no-pod-security",
            Severity::Medium,
            o,
            None,
            "Pod Security admission enforces privileged (nothing); enforce restricted or baseline".into(),
        ),
        _ => {}
    }
}

/// K05: namespaces with workloads and no NetworkPolicy.
fn segmentation(objects: &[Object], out: &mut Vec<Finding>) {
    let ns_of = |o: &Object| o.id.namespace.clone().unwrap_or_else(|| "default".into());
    let with_policy: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.id.kind == "NetworkPolicy")
        .map(ns_of)
        .collect();
    let mut workloads: BTreeMap<String, usize> = BTreeMap::new();
    for o in objects {
        // bare pods a controller owns are counted through their controller
        let owned = o
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        if pod_spec(o).is_some() && !owned {
            *workloads.entry(ns_of(o)).or_default() += 1;
        }
    }
    for (ns, n) in workloads {
        if with_policy.contains(&ns) || matches!(ns.as_str(), "kube-system") {
            continue;
        }
        out.push(Finding {
            id: "K05:2025",
            rule: "no-network-policy",
            severity: Severity::Medium,
            object: ObjectRef {
                kind: "Namespace".into(),
                namespace: None,
                name: ns.clone(),
            },
            container: None,
            message: format!(
                "{n} workload(s) and no NetworkPolicy: every pod can reach them and they can reach everything; add a default-deny policy and allow what is needed"
            ),
        });
    }
}
