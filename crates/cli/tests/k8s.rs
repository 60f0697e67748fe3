//! `rampart k8s audit`: the contract (JSON shape, SARIF, exit codes with --fail-on), folders,
//! stdin, and bad files.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

const KEY: &str = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o";

fn audit(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["k8s", "audit"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A privileged vLLM pod with a plain API key in its env and a hostPath.
fn vllm() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../k8s/tests/fixtures/vllm.yaml"
    ))
    .unwrap()
}

#[test]
fn the_json_report_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("vllm.yaml");
    std::fs::write(&f, vllm()).unwrap();
    let (code, out, err) = audit(&["-f", f.to_str().unwrap(), "--format", "json"], None);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains(KEY) && !err.contains(KEY));
    let doc: Value = serde_json::from_str(&out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    for f in findings {
        for k in ["id", "rule", "severity", "object", "container", "message"] {
            assert!(f.get(k).is_some(), "{k} missing in {f}");
        }
        for k in ["kind", "namespace", "name"] {
            assert!(f["object"].get(k).is_some(), "object.{k} missing in {f}");
        }
    }
    let ids: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert!(ids.contains(&("K01:2025", "privileged")), "{ids:?}");
    assert!(ids.contains(&("K01:2025", "host-path")));
    assert!(ids.contains(&("K03:2025", "secret-in-env")));
    let priv_ = findings.iter().find(|f| f["rule"] == "privileged").unwrap();
    assert_eq!(priv_["severity"], "critical");
    assert_eq!(priv_["container"], "vllm");
    assert_eq!(
        priv_["object"],
        serde_json::json!({"kind": "Deployment", "namespace": "ai", "name": "llm"})
    );
    let ai = doc["ai_workloads"].as_array().unwrap();
    assert_eq!(ai.len(), 1);
    assert_eq!(ai[0]["server"], "vllm");
    assert_eq!(
        ai[0]["models"],
        serde_json::json!(["hostPath:/mnt/models", "meta-llama/Llama-3.1-8B-Instruct"])
    );
    assert_eq!(
        ai[0]["credentials"],
        serde_json::json!(["HF_TOKEN", "OPENAI_API_KEY"])
    );
    assert_eq!(ai[0]["object"]["name"], "llm");
}

#[test]
fn fail_on_sets_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("vllm.yaml");
    std::fs::write(&f, vllm()).unwrap();
    let f = f.to_str().unwrap();
    assert_eq!(audit(&["-f", f, "--fail-on", "critical"], None).0, 1);
    assert_eq!(audit(&["-f", f, "--fail-on", "none"], None).0, 0);
    // only low findings: a namespace without Pod Security admission
    let low = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
    assert_eq!(audit(&["-f", "-", "--fail-on", "medium"], Some(low)).0, 0);
    assert_eq!(audit(&["-f", "-"], Some(low)).0, 1, "the default is low");
    // nothing found
    let clean = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {LEVEL: info}\n";
    let (code, out, _) = audit(&["-f", "-"], Some(clean));
    assert_eq!(code, 0);
    assert!(out.starts_with("0 finding(s)"), "{out}");
}

#[test]
fn sarif_folders_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    std::fs::write(dir.path().join("apps/vllm.yaml"), vllm()).unwrap();
    std::fs::write(dir.path().join("apps/notes.txt"), "not a manifest").unwrap();
    std::fs::write(
        dir.path().join("rbac.json"),
        r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "ci"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]}"#,
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = audit(&["-f", d, "--format", "sarif"], None);
    assert_eq!(code, 1, "{err}");
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let results = run["results"].as_array().unwrap();
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rule_ids[i], r["ruleId"]);
    }
    let admin = results
        .iter()
        .find(|r| r["ruleId"] == "cluster-admin-binding")
        .unwrap();
    assert_eq!(admin["level"], "error");
    assert!(
        admin["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("rbac.json")
    );
    let privileged = results
        .iter()
        .find(|r| r["ruleId"] == "privileged")
        .unwrap();
    assert_eq!(
        privileged["locations"][0]["physicalLocation"]["region"]["startLine"], 2,
        "the document starts after the comment"
    );
    assert!(!out.contains(KEY));
    // a broken file is named, the others are still reported, and the exit status is 2
    std::fs::write(dir.path().join("broken.yaml"), "kind: [unclosed\n").unwrap();
    let (code, out, err) = audit(&["-f", d, "--format", "json"], None);
    assert_eq!(code, 2);
    assert!(err.contains("broken.yaml"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(!doc["findings"].as_array().unwrap().is_empty());
    // a path that does not exist
    let (code, _, err) = audit(&["-f", "/nonexistent/manifests"], None);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/manifests"), "{err}");
}
