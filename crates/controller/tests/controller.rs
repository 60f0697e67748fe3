//! The controller against the fake API server, with the real kube client: the identity index,
//! posture and AI workloads, policy resources compiled with their status written, quarantines
//! applied and released (the exact objects written, idempotent, across restarts), and
//! recovery from watch errors and `410 Gone`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::eventually;
use http_body_util::{BodyExt, Full};
use kube::api::{Api, DeleteParams};
use rampart_controller::controller::{self, Config};
use rampart_controller::crd::{Quarantine, RuntimePolicy};
use rampart_controller::quarantine;
use rampart_controller::testing::FakeApiServer;
use serde_json::{Value, json};

async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    common::call(
        addr,
        method,
        path,
        &[("authorization", "Bearer ctl-token")],
        body.map(|b| b.to_string()),
    )
    .await
}

fn owner(kind: &str, name: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}])
}

fn seed(api: &FakeApiServer) {
    api.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    api.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": {"app": "checkout"}},
        "spec": {"selector": {"matchLabels": {"app": "checkout"}}, "template": {"metadata": {"labels": {"app": "checkout"}},
            "spec": {"serviceAccountName": "checkout", "containers": [{"name": "app", "image": "shop/checkout:1.4",
                "ports": [{"containerPort": 8080}],
                "env": [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "ai", "key": "openai"}}}]}]}}}}));
    api.put(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "checkout-7d4b9", "namespace": "shop", "ownerReferences": owner("Deployment", "checkout")},
        "spec": {"selector": {"matchLabels": {"app": "checkout"}}}}));
    api.put(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "checkout-7d4b9-x2x", "namespace": "shop", "labels": {"app": "checkout", "team": "pay"},
                     "ownerReferences": owner("ReplicaSet", "checkout-7d4b9")},
        "spec": {"serviceAccountName": "checkout", "containers": [{"name": "app", "image": "shop/checkout:1.4"}]},
        "status": {"phase": "Running", "podIP": "10.1.0.7", "podIPs": [{"ip": "10.1.0.7"}]}}));
    api.put(json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "report-2891", "namespace": "shop",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "report", "uid": "u", "controller": true}]},
        "spec": {"template": {"spec": {"containers": [{"name": "r", "image": "shop/report"}]}}}}));
    api.put(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "report-2891-abc", "namespace": "shop",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "report-2891", "uid": "j", "controller": true}]},
        "spec": {"containers": [{"name": "r", "image": "shop/report"}]},
        "status": {"phase": "Running", "podIP": "10.1.0.9"}}));
    api.put(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "node-agent", "namespace": "kube-system"},
        "spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "agent"}]},
        "status": {"phase": "Running", "podIP": "192.168.1.10"}}));
    // a privileged vLLM server with a plain key and a hostPath
    api.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "ai"},
        "spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3",
            "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct"], "securityContext": {"privileged": true},
            "env": [{"name": "OPENAI_API_KEY", "value": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o"}]}],
            "volumes": [{"name": "m", "hostPath": {"path": "/models"}}]}}}}));
    // policies: one valid, one naming a data class that does not exist
    api.put(
        json!({"apiVersion": "rampart.dev/v1", "kind": "RuntimePolicy",
        "metadata": {"name": "pay-strict", "namespace": "shop"},
        "spec": {"selector": {"callers": {"namespaces": ["shop"]}},
                 "rules": [{"classes": ["CREDIT_CARD"], "action": "block"}]}}),
    );
    api.put(
        json!({"apiVersion": "rampart.dev/v1", "kind": "RuntimePolicy",
        "metadata": {"name": "broken", "namespace": "shop"},
        "spec": {"rules": [{"classes": ["NOT_A_CLASS"], "action": "block"}]}}),
    );
}

async fn start(
    api: &FakeApiServer,
) -> (
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let client = api.client().await;
    let config = Config {
        token: Some("ctl-token".into()),
        debounce: Duration::from_millis(50),
        ..Config::default()
    };
    let task = tokio::spawn(async move {
        controller::run_on(listener, client, config, rx)
            .await
            .unwrap();
    });
    eventually("readiness", || async move {
        call(addr, "GET", "/readyz", None).await.0 == 200
    })
    .await;
    (addr, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_indexes_audits_compiles_and_quarantines() {
    let api = FakeApiServer::start().await;
    seed(&api);
    let (addr, stop, task) = start(&api).await;

    // identities: workloads through their owners; host-network pods left out
    let (status, ids) = call(addr, "GET", "/v1/identities", None).await;
    assert_eq!(status, 200);
    let pods = ids["pods"].as_array().unwrap();
    let by_ip = |ip: &str| pods.iter().find(|p| p["ip"] == ip).cloned();
    let checkout = by_ip("10.1.0.7").expect("the checkout pod");
    assert_eq!(checkout["workload"], "checkout");
    assert_eq!(checkout["kind"], "Deployment");
    assert_eq!(checkout["namespace"], "shop");
    assert_eq!(checkout["service_account"], "checkout");
    assert_eq!(checkout["labels"]["team"], "pay");
    let report = by_ip("10.1.0.9").unwrap();
    assert_eq!(
        (report["workload"].as_str(), report["kind"].as_str()),
        (Some("report"), Some("CronJob"))
    );
    assert!(
        by_ip("192.168.1.10").is_none(),
        "host-network pods are not identities"
    );
    // the token is required
    let anon = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>()
        .get(format!("http://{addr}/v1/identities").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    // posture and AI workloads of what the cluster runs
    let (_, posture) = call(addr, "GET", "/v1/posture", None).await;
    let findings = posture["findings"].as_array().unwrap();
    let has = |id: &str, rule: &str, name: &str| {
        findings
            .iter()
            .any(|f| f["id"] == id && f["rule"] == rule && f["object"]["name"] == name)
    };
    assert!(has("K01:2025", "privileged", "llm"));
    assert!(has("K01:2025", "host-path", "llm"));
    assert!(has("K03:2025", "secret-in-env", "llm"));
    assert!(
        !posture.to_string().contains("sk-proj"),
        "no secret value in the posture"
    );
    let ai = posture["ai_workloads"].as_array().unwrap();
    let llm = ai.iter().find(|a| a["object"]["name"] == "llm").unwrap();
    assert_eq!(llm["server"], "vllm");
    assert_eq!(llm["models"], json!(["meta-llama/Llama-3.1-8B-Instruct"]));
    let (_, workloads) = call(addr, "GET", "/v1/workloads", None).await;
    let w = workloads["workloads"].as_array().unwrap();
    let checkout_w = w
        .iter()
        .find(|w| w["object"]["name"] == "checkout")
        .unwrap();
    assert_eq!(checkout_w["images"], json!(["shop/checkout:1.4"]));
    assert_eq!(checkout_w["ports"], json!([8080]));
    assert_eq!(checkout_w["ai"]["credentials"], json!(["OPENAI_API_KEY"]));
    assert!(
        w.iter()
            .all(|w| w["object"]["name"] != "checkout-7d4b9-x2x"),
        "owned pods are not workloads"
    );

    // policies: the valid one is handed to gateways, each status says why
    let (_, pols) = call(addr, "GET", "/v1/policies", None).await;
    let names: Vec<&str> = pols["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["RuntimePolicy shop/pay-strict"]);
    let cond = |name: &str| {
        api.get("runtimepolicies", "shop", name).unwrap()["status"]["conditions"][0].clone()
    };
    eventually("policy statuses", || async {
        cond("broken")["status"] == "False" && cond("pay-strict")["status"] == "True"
    })
    .await;
    let broken = cond("broken");
    assert_eq!(broken["reason"], "Invalid");
    let msg = broken["message"].as_str().unwrap();
    assert!(
        msg.contains("RuntimePolicy shop/broken:") && msg.contains("NOT_A_CLASS"),
        "{msg}"
    );
    assert_eq!(
        api.get("runtimepolicies", "shop", "pay-strict").unwrap()["status"]["observedGeneration"],
        1
    );

    // a quarantine asked for over the API: the pod is labelled, the policy written
    let (status, _) = call(addr, "POST", "/v1/quarantine",
        Some(json!({"namespace": "shop", "pod": "checkout-7d4b9-x2x", "reason": "sent secrets to an unlisted AI host", "requested_by": "policy/egress"}))).await;
    assert_eq!(status, 201);
    let (status, again) = call(
        addr,
        "POST",
        "/v1/quarantine",
        Some(json!({"namespace": "shop", "pod": "checkout-7d4b9-x2x", "reason": "again"})),
    )
    .await;
    assert_eq!((status, again["created"].as_bool()), (200, Some(false)));
    let pod = "checkout-7d4b9-x2x";
    eventually("the quarantine", || async {
        api.get("quarantines", "shop", pod)
            .is_some_and(|q| q["status"]["phase"] == "Isolated")
    })
    .await;
    let p = api.get("pods", "shop", pod).unwrap();
    assert_eq!(p["metadata"]["labels"][quarantine::LABEL], pod);
    assert_eq!(
        p["metadata"]["labels"]["app"], "checkout",
        "other labels stay"
    );
    assert_eq!(
        p["metadata"]["annotations"][quarantine::REASON],
        "sent secrets to an unlisted AI host"
    );
    assert_eq!(
        p["metadata"]["annotations"][quarantine::BY],
        "policy/egress"
    );
    let np = api
        .get("networkpolicies", "shop", &quarantine::policy_name(pod))
        .unwrap();
    let want = quarantine::network_policy(
        "shop",
        pod,
        "sent secrets to an unlisted AI host",
        "policy/egress",
        &quarantine::Settings::default(),
    );
    assert_eq!(np["spec"], want["spec"]);
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    let q = api.get("quarantines", "shop", pod).unwrap();
    assert_eq!(q["metadata"]["finalizers"], json!([controller::FINALIZER]));

    // reconciling again writes nothing to the pod or the policy
    let writes = |api: &FakeApiServer| {
        api.writes()
            .into_iter()
            .filter(|w| w.uri.contains("/pods/") || w.uri.contains("/networkpolicies"))
            .count()
    };
    let before = writes(&api);
    api.upsert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nudge", "namespace": "shop"}}));
    api.put(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running", "podIP": "10.1.0.20"}}));
    eventually("a new pod in the index", || async {
        call(addr, "GET", "/v1/identities", None).await.1["pods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ip"] == "10.1.0.20")
    })
    .await;
    assert_eq!(writes(&api), before, "idempotent: {:#?}", api.writes());

    // watch errors and 410 Gone: the controller recovers and keeps up
    api.fail_watches(3);
    api.compact();
    api.close_watches();
    api.put(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-gone", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running", "podIP": "10.1.0.21"}}));
    eventually("recovery after 410", || async {
        call(addr, "GET", "/v1/identities", None).await.1["pods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ip"] == "10.1.0.21")
    })
    .await;

    // a restart: the second controller finds everything in place and writes nothing
    stop.send(true).unwrap();
    task.await.unwrap();
    let before = writes(&api);
    let (addr, stop, task) = start(&api).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(writes(&api), before, "a restart rewrites nothing");

    // release: deleting the Quarantine unlabels the pod and removes the policy
    let client = api.client().await;
    Api::<Quarantine>::namespaced(client.clone(), "shop")
        .delete(pod, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the release", || async {
        api.get("quarantines", "shop", pod).is_none()
    })
    .await;
    let p = api.get("pods", "shop", pod).unwrap();
    assert!(p["metadata"]["labels"].get(quarantine::LABEL).is_none());
    assert!(
        p["metadata"]["annotations"]
            .get(quarantine::REASON)
            .is_none()
    );
    assert!(
        api.get("networkpolicies", "shop", &quarantine::policy_name(pod))
            .is_none()
    );
    // fixing the broken policy makes it ready and hands it out
    let mut fixed = api.get("runtimepolicies", "shop", "broken").unwrap();
    fixed["spec"]["rules"][0]["classes"] = json!(["US_SSN"]);
    api.upsert(fixed);
    eventually("the fixed policy", || async {
        call(addr, "GET", "/v1/policies", None).await.1["documents"]
            .as_array()
            .unwrap()
            .len()
            == 2
    })
    .await;
    let _: RuntimePolicy = Api::<RuntimePolicy>::namespaced(client, "shop")
        .get("broken")
        .await
        .unwrap();
    eventually("its status", || async {
        cond("broken")["status"] == "True"
    })
    .await;
    assert_eq!(
        api.get("runtimepolicies", "shop", "broken").unwrap()["status"]["observedGeneration"],
        2
    );
    let (status, metrics) = {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let r = client
            .get(format!("http://{addr}/metrics").parse().unwrap())
            .await
            .unwrap();
        let s = r.status().as_u16();
        (
            s,
            String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert!(
        metrics.contains("rampart_posture_findings{owasp=\"K01:2025\",severity=\"critical\"}"),
        "{metrics}"
    );
    stop.send(true).unwrap();
    task.await.unwrap();
}
