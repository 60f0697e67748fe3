//! The CRDs: generated from the Rust types, structural, and in step with the policy files
//! `rampart up` reads: every shipped policy is a valid custom resource, field for field.

use kube::CustomResourceExt;
use rampart_controller::crd::{Quarantine, RuntimeLimit, RuntimePolicy};
use serde_json::Value;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every document of the policy files (tests left out).
fn shipped_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for f in [
        "policies/default.yaml",
        "policies/strict.yaml",
        "policies/monitor-only.yaml",
        "policies/teams/payments.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            out.push((f.to_owned(), d));
        }
    }
    out
}

#[test]
fn shipped_policies_are_valid_custom_resources_field_for_field() {
    let docs = shipped_documents();
    assert!(docs.len() >= 4);
    for (file, doc) in docs {
        let back = match doc["kind"].as_str() {
            Some("RuntimePolicy") => {
                let cr: RuntimePolicy =
                    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
                serde_json::to_value(&cr).unwrap()
            }
            Some("RuntimeLimit") => {
                let cr: RuntimeLimit =
                    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
                serde_json::to_value(&cr).unwrap()
            }
            other => panic!("{file}: kind {other:?}"),
        };
        // nothing the file says is lost in the custom resource's types
        assert_eq!(back["spec"], doc["spec"], "{file}");
    }
}

#[test]
fn a_limit_document_is_a_valid_custom_resource() {
    let doc: Value = serde_saphyr::from_str(
        r#"
apiVersion: rampart.dev/v1
kind: RuntimeLimit
metadata: {name: team-budget, namespace: payments}
spec:
  key: [workload, model]
  requests: {count: 60, per: 1m, burst: 10}
  concurrent: 4
  tokens: {input: {perMinute: 100000}, total: {perDay: 2000000}}
  spend: {perDay: 25.5, perMonth: 500.5}
  maxTokensPerRequest: 32000
"#,
    )
    .unwrap();
    let cr: RuntimeLimit = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(serde_json::to_value(&cr).unwrap()["spec"], doc["spec"]);
    // unknown fields are refused, as the policy loader refuses them
    let mut bad = doc.clone();
    bad["spec"]["burst"] = 3.into();
    assert!(serde_json::from_value::<RuntimeLimit>(bad).is_err());
}

#[test]
fn crds_are_generated_and_structural() {
    for (crd, plural, kind) in [
        (RuntimePolicy::crd(), "runtimepolicies", "RuntimePolicy"),
        (RuntimeLimit::crd(), "runtimelimits", "RuntimeLimit"),
        (Quarantine::crd(), "quarantines", "Quarantine"),
    ] {
        let v = serde_json::to_value(&crd).unwrap();
        assert_eq!(v["spec"]["group"], "rampart.dev");
        assert_eq!(v["spec"]["names"]["plural"], plural);
        assert_eq!(v["spec"]["names"]["kind"], kind);
        assert_eq!(v["spec"]["scope"], "Namespaced");
        let version = &v["spec"]["versions"][0];
        assert_eq!(version["name"], "v1");
        assert_eq!(version["subresources"]["status"], serde_json::json!({}));
        let schema = &version["schema"]["openAPIV3Schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["spec"]["type"], "object");
    }
    let text = rampart_controller::crd::crds_yaml();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    assert_eq!(docs.len(), 3);
}
