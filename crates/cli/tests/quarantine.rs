//! `rampart quarantine pod` and `rampart k8s crds` against the fake API server, checked with
//! the real kubectl: the exact objects written, idempotence, dry runs, release, bad input.

use std::process::Command;

use rampart_controller::quarantine;
use rampart_controller::testing::FakeApiServer;
use serde_json::{Value, json};

struct Cluster {
    api: FakeApiServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let api = FakeApiServer::start().await;
        api.put(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running", "podIP": "10.2.0.4"}}));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig()).unwrap();
        Cluster { api, dir }
    }

    fn kubeconfig(&self) -> String {
        self.dir.path().join("kubeconfig").display().to_string()
    }

    /// Runs a command off the runtime's threads (the fake serves on them).
    async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<String>,
    ) -> (i32, String, String) {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("HOME", self.dir.path())
            .env("USER", "alice");
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
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
        })
        .await
        .unwrap()
    }

    async fn rampart(&self, args: &[&str]) -> (i32, String, String) {
        let kc = self.kubeconfig();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", &kc]);
        self.run(env!("CARGO_BIN_EXE_rampart"), &all, None).await
    }

    async fn kubectl(&self, args: &[&str], stdin: Option<String>) -> (i32, String, String) {
        let kc = self.kubeconfig();
        let mut all = vec!["--kubeconfig", &kc];
        all.extend(args);
        self.run("kubectl", &all, stdin).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_is_quarantined_and_released_by_hand() {
    let c = Cluster::start().await;
    // a dry run prints what it would write and writes nothing
    let (code, out, err) = c
        .rampart(&[
            "quarantine",
            "pod",
            "shop/web-1",
            "--reason",
            "exfiltration",
            "--dry-run",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kind: NetworkPolicy") && out.contains("rampart-quarantine-web-1"),
        "{out}"
    );
    assert!(c.api.writes().is_empty(), "{:?}", c.api.writes());

    let (code, _, err) = c
        .rampart(&[
            "quarantine",
            "pod",
            "shop/web-1",
            "--reason",
            "exfiltration",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("quarantined shop/web-1"), "{err}");
    // what kubectl sees: the label, who and why, and the isolating policy
    let (code, out, err) = c
        .kubectl(&["get", "pod", "web-1", "-n", "shop", "-o", "json"], None)
        .await;
    assert_eq!(code, 0, "{err}");
    let pod: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pod["metadata"]["labels"][quarantine::LABEL], "web-1");
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    assert_eq!(
        pod["metadata"]["annotations"][quarantine::REASON],
        "exfiltration"
    );
    assert_eq!(pod["metadata"]["annotations"][quarantine::BY], "alice");
    let (code, out, err) = c
        .kubectl(
            &[
                "get",
                "networkpolicy",
                "rampart-quarantine-web-1",
                "-n",
                "shop",
                "-o",
                "json",
            ],
            None,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let np: Value = serde_json::from_str(&out).unwrap();
    let want = quarantine::network_policy(
        "shop",
        "web-1",
        "exfiltration",
        "alice",
        &quarantine::Settings::default(),
    );
    assert_eq!(np["spec"], want["spec"]);
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"][quarantine::LABEL],
        "web-1"
    );
    // a record for the controller and the console (the fake serves the CRD's resource)
    assert_eq!(
        c.api.get("quarantines", "shop", "web-1").unwrap()["spec"]["requestedBy"],
        "alice"
    );

    // again: nothing changes
    let before = c.api.writes().len();
    let (code, _, err) = c
        .rampart(&[
            "quarantine",
            "pod",
            "shop/web-1",
            "--reason",
            "exfiltration",
        ])
        .await;
    assert_eq!(code, 0);
    assert!(err.contains("(it already was)"), "{err}");
    let pod_writes = c.api.writes()[before..]
        .iter()
        .filter(|w| w.uri.contains("/pods/") || w.uri.contains("networkpolicies"))
        .count();
    assert_eq!(pod_writes, 0);

    // release restores the pod and removes the policy
    let (code, _, err) = c
        .rampart(&["quarantine", "pod", "shop/web-1", "--release"])
        .await;
    assert_eq!(code, 0, "{err}");
    let pod = c.api.get("pods", "shop", "web-1").unwrap();
    assert!(pod["metadata"]["labels"].get(quarantine::LABEL).is_none());
    assert!(
        pod["metadata"]["annotations"]
            .get(quarantine::REASON)
            .is_none()
    );
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    let (code, _, err) = c
        .kubectl(
            &[
                "get",
                "networkpolicy",
                "rampart-quarantine-web-1",
                "-n",
                "shop",
            ],
            None,
        )
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");

    // bad input: a clear error, exit 2
    let (code, _, err) = c.rampart(&["quarantine", "pod", "web-1"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("NAMESPACE/NAME"), "{err}");
    let (code, _, err) = c.rampart(&["quarantine", "pod", "shop/missing"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("pod shop/missing not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_apply_with_kubectl() {
    let c = Cluster::start().await;
    let (code, crds, err) = c
        .run(env!("CARGO_BIN_EXE_rampart"), &["k8s", "crds"], None)
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = c
        .kubectl(
            &["apply", "--server-side", "--validate=false", "-f", "-"],
            Some(crds),
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = c
        .api
        .list("customresourcedefinitions")
        .iter()
        .map(|v| v["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        [
            "quarantines.rampart.dev",
            "runtimelimits.rampart.dev",
            "runtimepolicies.rampart.dev"
        ]
    );
}
