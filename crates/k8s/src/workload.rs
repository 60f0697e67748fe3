//! Workloads: where an object keeps its pod spec, and its containers.

use serde_json::Value;

use crate::manifest::Object;

/// The pod spec of a workload: a Pod's own; the template's of Deployments, StatefulSets,
/// DaemonSets, ReplicaSets, Jobs, ReplicationControllers, PodTemplates and Argo Rollouts; a
/// CronJob's job template's.
pub fn pod_spec(o: &Object) -> Option<&Value> {
    let v = &o.value;
    match o.id.kind.as_str() {
        "Pod" => v.get("spec"),
        "CronJob" => v.pointer("/spec/jobTemplate/spec/template/spec"),
        "PodTemplate" => v.pointer("/template/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController"
        | "Rollout" => v.pointer("/spec/template/spec"),
        _ => None,
    }
    .filter(|s| s.is_object())
}

/// The pod template's labels (a Pod's own labels).
pub fn pod_labels(o: &Object) -> Option<&serde_json::Map<String, Value>> {
    let v = &o.value;
    match o.id.kind.as_str() {
        "Pod" => v.pointer("/metadata/labels"),
        "CronJob" => v.pointer("/spec/jobTemplate/spec/template/metadata/labels"),
        "PodTemplate" => v.pointer("/template/metadata/labels"),
        _ => v.pointer("/spec/template/metadata/labels"),
    }
    .and_then(Value::as_object)
}

/// A container of a pod spec.
#[derive(Clone, Copy, Debug)]
pub struct Container<'a> {
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Its name.
    pub name: &'a str,
    /// The container object.
    pub value: &'a Value,
}

impl<'a> Container<'a> {
    /// The image.
    pub fn image(&self) -> &'a str {
        self.value
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Command and args, in order.
    pub fn argv(&self) -> Vec<&'a str> {
        ["command", "args"]
            .iter()
            .filter_map(|k| self.value.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// Its environment variables: name, and the literal value when it has one.
    pub fn env(&self) -> Vec<(&'a str, Option<&'a str>)> {
        self.value
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let name = e.get("name")?.as_str()?;
                Some((name, e.get("value").and_then(Value::as_str)))
            })
            .collect()
    }

    /// A field of its security context.
    pub fn security(&self, field: &str) -> Option<&'a Value> {
        self.value.get("securityContext")?.get(field)
    }
}

/// Every container of a pod spec: regular, init and ephemeral.
pub fn containers(spec: &Value) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Container {
                list,
                name: c.get("name").and_then(Value::as_str).unwrap_or(""),
                value: c,
            });
        }
    }
    out
}
