//! The Helm chart (deploy/helm/rampart) with the real helm: lint and template with each
//! example values file; every rendered object valid against the Kubernetes types (no field
//! they do not know); least-privilege RBAC; probes and hardened containers; the chart's CRDs
//! equal to the generated ones; and Rampart's own posture audit finding nothing.
//!
//! helm comes from `scripts/helm.sh` (the test command sets `RAMPART_HELM`).

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/rampart")
}

fn helm() -> PathBuf {
    let path = std::env::var("RAMPART_HELM").expect(
        "RAMPART_HELM is not set: run scripts/test.sh, which fetches helm (scripts/helm.sh)",
    );
    PathBuf::from(path)
}

fn run(args: &[&str]) -> String {
    let out = Command::new(helm()).args(args).output().expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Drops what serializing a typed object leaves out anyway (nulls, empty maps).
fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), normalized(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// Deserializes `v` as the Kubernetes type of its kind and back: a field the type does not
/// know (a typo, a wrong level) is lost on the way and the two differ.
fn schema_valid(v: &Value) -> Result<(), String> {
    fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(
        v: &Value,
    ) -> Result<Value, String> {
        let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&t).map_err(|e| e.to_string())
    }
    let back = match v["kind"].as_str().unwrap_or("") {
        "Deployment" => roundtrip::<Deployment>(v),
        "Service" => roundtrip::<Service>(v),
        "ConfigMap" => roundtrip::<ConfigMap>(v),
        "ServiceAccount" => roundtrip::<ServiceAccount>(v),
        "ClusterRole" => roundtrip::<ClusterRole>(v),
        "ClusterRoleBinding" => roundtrip::<ClusterRoleBinding>(v),
        "NetworkPolicy" => roundtrip::<NetworkPolicy>(v),
        "PodDisruptionBudget" => roundtrip::<PodDisruptionBudget>(v),
        "HorizontalPodAutoscaler" => roundtrip::<HorizontalPodAutoscaler>(v),
        "CustomResourceDefinition" => roundtrip::<CustomResourceDefinition>(v),
        other => return Err(format!("no type for kind {other}")),
    }?;
    if normalized(&back) != normalized(v) {
        return Err(format!(
            "fields lost in the typed round trip:\n{}\nvs\n{}",
            serde_json::to_string_pretty(v).unwrap(),
            serde_json::to_string_pretty(&back).unwrap()
        ));
    }
    Ok(())
}

fn render(values: Option<&str>) -> (String, Vec<Value>) {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let mut args = vec![
        "template",
        "rp",
        chart,
        "--namespace",
        "rampart",
        "--include-crds",
    ];
    let file;
    if let Some(v) = values {
        file = chart.to_owned() + "/examples/" + v;
        args.extend(["-f", &file]);
    }
    let text = run(&args);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    (text, docs.into_iter().filter(|d| !d.is_null()).collect())
}

#[test]
fn the_chart_lints_renders_valid_objects_and_passes_its_own_audit() {
    let chart = chart();
    let chart = chart.to_str().unwrap().to_owned();
    for values in [
        None,
        Some("values-egress.yaml"),
        Some("values-sidecar.yaml"),
    ] {
        let mut lint = vec!["lint", chart.as_str(), "--strict"];
        let file;
        if let Some(v) = values {
            file = format!("{chart}/examples/{v}");
            lint.extend(["-f", &file]);
        }
        run(&lint);
        let (text, objects) = render(values);
        assert!(!objects.is_empty());
        for o in &objects {
            schema_valid(o).unwrap_or_else(|e| panic!("{values:?} {}: {e}", o["kind"]));
            // no wildcard anywhere in RBAC
            for rule in o["rules"].as_array().into_iter().flatten() {
                for k in ["verbs", "resources", "apiGroups"] {
                    assert!(
                        !rule[k].as_array().unwrap().iter().any(|x| x == "*"),
                        "wildcard in {}: {rule}",
                        o["metadata"]["name"]
                    );
                }
                assert!(
                    !rule["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == "secrets"),
                    "the controller does not read secrets"
                );
            }
            // every Rampart container: probes, non-root, read-only root filesystem
            for c in o
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let sc = &c["securityContext"];
                assert_eq!(sc["runAsNonRoot"], true, "{c}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{c}");
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{c}");
                if c["image"].as_str().unwrap_or("").contains("rampart") {
                    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{c}");
                    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{c}");
                }
            }
        }
        // Rampart's own posture audit finds nothing in its chart
        let parsed = rampart_k8s::manifest::parse(&text, "rendered.yaml").unwrap();
        let report = rampart_k8s::audit(&parsed);
        assert!(
            report.findings.is_empty(),
            "{values:?}: {}",
            rampart_k8s::text(&report)
        );
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        match values {
            None => {
                for k in [
                    "Deployment",
                    "Service",
                    "PodDisruptionBudget",
                    "HorizontalPodAutoscaler",
                    "ClusterRole",
                    "ClusterRoleBinding",
                    "NetworkPolicy",
                    "CustomResourceDefinition",
                ] {
                    assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
                }
            }
            Some("values-sidecar.yaml") => {
                let app = objects
                    .iter()
                    .find(|o| o["metadata"]["name"] == "chatbot")
                    .expect("the sidecar example");
                let names: Vec<&str> = app["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap())
                    .collect();
                assert_eq!(names, ["chatbot", "rampart"]);
            }
            Some(_) => {
                let config = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
                let yaml = config["data"]["rampart.yaml"].as_str().unwrap();
                assert!(yaml.contains("forward_proxy"), "{yaml}");
                // the gateway's configuration is one rampart up accepts
                rampart_gateway::Config::from_yaml(yaml).unwrap();
            }
        }
    }
}

#[test]
fn the_charts_crds_are_the_generated_ones() {
    let on_disk = std::fs::read_to_string(chart().join("crds/rampart.dev.yaml")).unwrap();
    assert!(
        on_disk == rampart_controller::crd::crds_yaml(),
        "the chart's CRDs are stale; regenerate with: rampart k8s crds > deploy/helm/rampart/crds/rampart.dev.yaml"
    );
}

#[test]
fn the_default_gateway_configuration_is_accepted() {
    let (_, objects) = render(None);
    let config = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    let c = rampart_gateway::Config::from_yaml(config["data"]["rampart.yaml"].as_str().unwrap())
        .unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(
        c.kubernetes.controller.as_deref(),
        Some("http://rp-rampart-controller.rampart.svc:9091")
    );
}
