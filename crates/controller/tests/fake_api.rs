//! The fake API server against the real kube client and the real kubectl: list, watch with
//! bookmarks, create, patch, delete, Status errors, and recovery from `410 Gone`.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use rampart_controller::testing::FakeApiServer;
use serde_json::json;

fn pod(ns: &str, name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]},
           "status": {"podIP": "10.0.0.1"}})
}

async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test]
async fn the_kube_client_reads_writes_and_gets_status_errors() {
    let api = FakeApiServer::start().await;
    let client = api.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let created = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod("shop", "a")).unwrap(),
        )
        .await
        .unwrap();
    assert!(created.metadata.resource_version.is_some());
    assert_eq!(
        pods.get("a").await.unwrap().metadata.name.as_deref(),
        Some("a")
    );
    // Status errors come back as the client's typed errors
    let err = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod("shop", "a")).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    let err = pods.get("missing").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
    // merge patch and server-side apply
    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}})),
    )
    .await
    .unwrap();
    let applied = pods
        .patch(
            "b",
            &PatchParams::apply("rampart").force(),
            &Patch::Apply(pod("shop", "b")),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.name.as_deref(), Some("b"));
    let labels = api.get("pods", "shop", "a").unwrap()["metadata"]["labels"].clone();
    assert_eq!(labels, json!({"app": "a", "tier": "web"}));
    // list by label
    let lp = kube::api::ListParams::default().labels("tier=web");
    assert_eq!(pods.list(&lp).await.unwrap().items.len(), 1);
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(api.get("pods", "shop", "a").is_none());
    let writes: Vec<(String, String)> = api
        .writes()
        .into_iter()
        .map(|w| (w.method, w.content_type))
        .collect();
    assert!(
        writes.contains(&("PATCH".into(), "application/apply-patch+yaml".into())),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_reflector_follows_changes_and_recovers_from_gone_and_watch_errors() {
    let api = FakeApiServer::start().await;
    api.put(pod("shop", "a"));
    let client = api.client().await;
    let (reader, writer) = reflector::store::<Pod>();
    let stream = reflector(
        writer,
        watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    eventually("the initial list", || reader.state().len() == 1).await;
    api.put(pod("shop", "b"));
    eventually("a watched addition", || reader.state().len() == 2).await;
    // the history is compacted and the watch cut: the reconnect gets 410 and relists
    // (nothing changes in between, so the client's last version is older than the history)
    api.compact();
    api.close_watches();
    let lists = || {
        api.requests()
            .iter()
            .filter(|r| r.method == "GET" && !r.uri.contains("watch="))
            .count()
    };
    eventually("a relist after 410", || lists() >= 2).await;
    api.put(pod("shop", "c"));
    eventually("an addition after the relist", || reader.state().len() == 3).await;
    // watch errors are retried with backoff
    api.fail_watches(2);
    api.close_watches();
    api.remove("pods", "shop", "a");
    eventually("a deletion after watch errors", || {
        reader.state().len() == 2
    })
    .await;
    let gone = api
        .requests()
        .iter()
        .filter(|r| r.uri.contains("watch=true"))
        .count();
    assert!(gone >= 4, "watches: {gone} {:#?}", api.requests());

    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_and_writes_through_the_fake() {
    let api = FakeApiServer::start().await;
    api.put(pod("shop", "a"));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig()).unwrap();
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(args)
            .env("HOME", dir.path())
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = kubectl(&["get", "pods", "-n", "shop", "-o", "json"]);
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["items"][0]["metadata"]["name"], "a");
    let q = dir.path().join("q.yaml");
    std::fs::write(
        &q,
        "apiVersion: rampart.dev/v1\nkind: Quarantine\nmetadata: {name: a, namespace: shop}\nspec: {pod: a, reason: test, requestedBy: kubectl}\n",
    )
    .unwrap();
    // the fake serves no OpenAPI schemas: client-side validation is off
    let (ok, _, err) = kubectl(&[
        "apply",
        "--server-side",
        "--validate=false",
        "-f",
        q.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        api.get("quarantines", "shop", "a").unwrap()["spec"]["reason"],
        "test"
    );
    let (ok, out, err) = kubectl(&["get", "quarantines", "-n", "shop", "-o", "name"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "quarantine.rampart.dev/a");
    let (ok, _, err) = kubectl(&["delete", "pod", "a", "-n", "shop"]);
    assert!(ok, "{err}");
    assert!(api.get("pods", "shop", "a").is_none());
    let (ok, _, err) = kubectl(&["get", "pod", "missing", "-n", "shop"]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
}
