//! A gateway following the controller, over the fake API server: callers are known by their
//! pod's address (policy selectors on namespace and workload work without configured keys),
//! RuntimePolicy resources govern the gateway, and a policy with `quarantine: true` that
//! blocks a pod's exchange gets the pod quarantined.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::eventually;
use http_body_util::Full;
use rampart_controller::controller::{self, Config};
use rampart_controller::quarantine;
use rampart_controller::testing::FakeApiServer;
use rampart_gateway::Gateway;
use serde_json::{Value, json};

async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(b"{\"ok\": true}")))
                            .unwrap(),
                    )
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
            });
        }
    });
    addr
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    common::call(
        addr,
        method,
        path,
        &[("content-type", "application/json")],
        Some(body.to_owned()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_callers_policies_come_from_resources_and_blocks_quarantine() {
    let api = FakeApiServer::start().await;
    // the test's client is the pod at 127.0.0.1
    api.put(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "checkout-7d4b9", "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout", "uid": "d", "controller": true}]}}));
    api.put(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "checkout-7d4b9-x2x", "namespace": "shop", "labels": {"app": "checkout"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-7d4b9", "uid": "r", "controller": true}]},
        "spec": {"serviceAccountName": "checkout", "containers": [{"name": "app", "image": "shop/checkout"}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1"}}));
    // card numbers from the checkout workload are blocked, and the pod quarantined
    api.put(
        json!({"apiVersion": "rampart.dev/v1", "kind": "RuntimePolicy",
        "metadata": {"name": "checkout-no-cards", "namespace": "shop"},
        "spec": {"selector": {"callers": {"namespaces": ["shop"], "workloads": ["checkout"]}},
                 "rules": [{"name": "cards", "classes": ["CREDIT_CARD"], "action": "block"}],
                 "quarantine": true}}),
    );
    // a model server in the cluster
    api.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "ai"},
        "spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3",
            "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct"]}]}}}}));
    // the controller and the gateways share one inventory store
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("inventory.db");
    let store = rampart_store::Store::open(store_path.to_str().unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ctl = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let client = api.client().await;
    let config = Config {
        debounce: Duration::from_millis(50),
        store: Some(store),
        cluster: "prod-eu".into(),
        ..Config::default()
    };
    let task = tokio::spawn(async move {
        controller::run_on(listener, client, config, rx)
            .await
            .unwrap()
    });

    let up = upstream().await;
    let mut gc = rampart_gateway::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..rampart_gateway::Config::default()
    };
    gc.routes.push(rampart_gateway::config::ApiRoute {
        name: None,
        prefix: "/api/".into(),
        upstream: format!("http://{up}"),
    });
    gc.upstreams.insert("openai".into(), format!("http://{up}"));
    gc.discovery.store = Some(store_path.display().to_string());
    gc.kubernetes.controller = Some(format!("http://{ctl}"));
    gc.kubernetes.refresh_ms = 100;
    let gw = Gateway::new(gc).await.unwrap();
    let running = gw.start().await.unwrap();

    // the policy resource reaches the gateway
    eventually("the controller's policy in force", || async {
        let (_, p) = call(running.admin_addr, "GET", "/admin/policies", "").await;
        p.to_string().contains("checkout-no-cards")
    })
    .await;
    // a card from the checkout pod: blocked by the resource's policy, which selected the
    // caller by namespace and workload (no key configured)
    let (status, body) = call(
        running.addr,
        "POST",
        "/api/pay",
        r#"{"card": "4111 1111 1111 1111"}"#,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // a clean call passes
    let (status, _) = call(running.addr, "POST", "/api/pay", r#"{"amount": 12}"#).await;
    assert_eq!(status, 200);
    // the block asked for a quarantine: the controller labels and isolates the pod
    let pod = "checkout-7d4b9-x2x";
    eventually("the quarantine", || async {
        api.get("pods", "shop", pod)
            .is_some_and(|p| p["metadata"]["labels"][quarantine::LABEL] == pod)
    })
    .await;
    let q = api.get("quarantines", "shop", pod).unwrap();
    assert_eq!(q["spec"]["requestedBy"], "policy/checkout-no-cards");
    assert!(
        q["spec"]["reason"]
            .as_str()
            .unwrap()
            .contains("checkout-no-cards/cards")
    );
    assert!(
        api.get("networkpolicies", "shop", &quarantine::policy_name(pod))
            .is_some()
    );
    // more blocks do not ask again
    let _ = call(
        running.addr,
        "POST",
        "/api/pay",
        r#"{"card": "4111 1111 1111 1111"}"#,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asks = api
        .writes()
        .iter()
        .filter(|w| w.method == "POST" && w.uri.contains("quarantines"))
        .count();
    assert_eq!(asks, 1);
    // the clusters' view: workloads and posture from the shared store, the served model joined
    // with the AI use the gateway saw
    let chat = json!({"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = call(
        running.addr,
        "POST",
        "/v1/chat/completions",
        &chat.to_string(),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the clusters' view", || async {
        let (status, v) =
            common::call(running.admin_addr, "GET", "/admin/kubernetes", &[], None).await;
        status == 200
            && v["models"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["calls"].as_u64() >= Some(1)))
    })
    .await;
    let (_, view) = common::call(running.admin_addr, "GET", "/admin/kubernetes", &[], None).await;
    assert_eq!(view["clusters"], json!(["prod-eu"]));
    let llm = view["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "meta-llama/Llama-3.1-8B-Instruct")
        .unwrap();
    assert_eq!(llm["running_in"][0]["workload"], "llm");
    assert_eq!(llm["running_in"][0]["server"], "vllm");
    assert_eq!(llm["running_in"][0]["cluster"], "prod-eu");
    assert!(
        view["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["object"]["name"] == "checkout" || w["object"]["name"] == "llm")
    );
    assert!(
        view["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "K01:2025" && f["cluster"] == "prod-eu"),
        "{view}"
    );
    assert!(view["posture"]["prod-eu/ai"].is_object(), "{view}");
    // the quarantine is listed, and the console's release undoes it
    let q = &view["quarantines"][0];
    assert_eq!(
        (q["namespace"].as_str(), q["pod"].as_str()),
        (Some("shop"), Some(pod)),
        "{view}"
    );
    assert_eq!(q["requested_by"], "policy/checkout-no-cards");
    let auth = format!("Bearer {}", running.admin_token());
    let (status, released) = common::call(
        running.admin_addr,
        "POST",
        "/admin/kubernetes/release",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        Some(json!({"namespace": "shop", "pod": pod}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{released}");
    eventually("the release", || async {
        api.get("quarantines", "shop", pod).is_none()
            && api
                .get("pods", "shop", pod)
                .is_some_and(|p| p["metadata"]["labels"].get(quarantine::LABEL).is_none())
    })
    .await;
    assert!(
        api.get("networkpolicies", "shop", &quarantine::policy_name(pod))
            .is_none()
    );
    running.shutdown().await;
    // the audit log names the caller as the pod's workload, and the resource's rule
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let blocked: Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["status"] == 403)
        .unwrap();
    assert_eq!(
        blocked["decided_by"], "checkout-no-cards/cards",
        "{blocked}"
    );
    assert_eq!(blocked["caller"]["workload"], "checkout");
    assert_eq!(blocked["caller"]["namespace"], "shop");
    stop.send(true).unwrap();
    task.await.unwrap();
}
