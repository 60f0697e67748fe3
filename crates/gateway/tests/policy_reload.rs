//! Policies reloaded while the gateway serves: atomic swaps, bad files rejected, the admin API.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{call, gateway, upstream};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const SSN: &str = "536-90-4399";
const MAIL: &str = "ada@example.org";

/// A policy redacting SSNs and e-mail addresses with `strategy`.
fn redacting(strategy: &str) -> String {
    format!(
        "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: reloadable}}\nspec:\n  strategy: {strategy}\n  rules: [{{classes: [US_SSN, EMAIL_ADDRESS], action: redact}}]\n"
    )
}

fn chat(text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"model":"gpt-4o-mini","messages":[{"role":"user","content":text}]}))
        .unwrap()
}

/// An admin call; state-changing ones carry the gateway's admin token.
async fn admin(gw: &rampart_gateway::Running, method: &str, path: &str) -> (u16, Value) {
    let bearer = format!("Bearer {}", gw.admin_token());
    let auth: &[(&str, &str)] = if method == "GET" {
        &[]
    } else {
        &[("authorization", &bearer)]
    };
    let (status, _, body) = call(gw.admin_addr, method, path, auth, Vec::new()).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_reloads_under_load_fail_no_request_and_never_mix_policies() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, redacting("mask")).unwrap();
    let policy_path = file.clone();
    let gw = gateway(&up, dir.path(), move |c| {
        c.policies = vec![policy_path];
        c.policy_poll_ms = 0;
    })
    .await;
    let addr = gw.addr;
    let done = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (done, sent, failed) = (done.clone(), sent.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let (status, _, _) = call(
                    addr,
                    "POST",
                    "/v1/chat/completions",
                    &[JSON],
                    chat(&format!("ssn {SSN}, mail {MAIL}")),
                )
                .await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut rejected = 0;
    for i in 0..100 {
        let strategy = if i % 2 == 0 { "hash" } else { "mask" };
        std::fs::write(&file, redacting(strategy)).unwrap();
        let (status, body) = admin(&gw, "POST", "/admin/policies/reload").await;
        assert_eq!(
            (status, body["result"].as_str()),
            (200, Some("reloaded")),
            "{body}"
        );
        if i % 10 == 5 {
            // a broken file in between: rejected, the policy in force stays
            std::fs::write(&file, "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {name: x}\nspec: {rules: [{classes: [NOPE], action: redact}]}\n").unwrap();
            let (status, body) = admin(&gw, "POST", "/admin/policies/reload").await;
            assert_eq!(status, 422, "{body}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("unknown data class `NOPE`")
            );
            rejected += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "of {sent} requests");
    assert!(
        sent >= 100,
        "load ran alongside the reloads: {sent} requests"
    );
    // every request saw one whole policy: both values masked, or both hashed
    let (mut masked, mut hashed) = (0, 0);
    for seen in up.requests() {
        let body = seen.all();
        assert!(!body.contains(SSN) && !body.contains(MAIL), "{body}");
        match (
            body.contains("[REDACTED:US_SSN]"),
            body.contains("[REDACTED:EMAIL_ADDRESS]"),
            body.contains("[US_SSN:"),
            body.contains("[EMAIL_ADDRESS:"),
        ) {
            (true, true, false, false) => masked += 1,
            (false, false, true, true) => hashed += 1,
            other => panic!("a request saw a mix of two policies {other:?}: {body}"),
        }
    }
    assert!(
        masked > 0 && hashed > 0,
        "both versions served: {masked} masked, {hashed} hashed"
    );
    let (status, state) = admin(&gw, "GET", "/admin/policies").await;
    assert_eq!(status, 200);
    assert_eq!(state["reloads"], 100, "{state}");
    assert_eq!(state["failures"], rejected, "{state}");
    let metrics = call(gw.admin_addr, "GET", "/metrics", &[], Vec::new())
        .await
        .2;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(r#"rampart_policy_reloads_total{result="error"} 10"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_bad_policy_never_replaces_the_good_one_and_the_admin_api_says_why() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, redacting("mask")).unwrap();
    let path = file.clone();
    let gw = gateway(&up, dir.path(), move |c| {
        c.policies = vec![path];
        c.policy_poll_ms = 0;
    })
    .await;
    let (_, before) = admin(&gw, "GET", "/admin/policies").await;
    std::fs::write(&file, "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {name: x}\nspec:\n  rules: [{classes: [US_SSN], action: shred}]\n").unwrap();
    let (status, body) = admin(&gw, "POST", "/admin/policies/reload").await;
    assert_eq!(status, 422);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("policy.yaml:5:") && error.contains("unknown action `shred`"),
        "{error}"
    );
    assert!(error.contains("hint:"), "{error}");
    let (_, state) = admin(&gw, "GET", "/admin/policies").await;
    assert_eq!(state["version"], before["version"]);
    assert!(state["last_error"].as_str().unwrap().contains("shred"));
    // the good policy still decides
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("ssn {SSN}")),
    )
    .await;
    assert!(up.requests()[0].all().contains("[REDACTED:US_SSN]"));
    // fixed: reloads, and the error is gone
    std::fs::write(&file, redacting("partial")).unwrap();
    let (status, body) = admin(&gw, "POST", "/admin/policies/reload").await;
    assert_eq!((status, body["result"].as_str()), (200, Some("reloaded")));
    let (_, state) = admin(&gw, "GET", "/admin/policies").await;
    assert!(state["last_error"].is_null(), "{state}");
    // unchanged files: nothing to do
    let (_, body) = admin(&gw, "POST", "/admin/policies/reload").await;
    assert_eq!(body["result"], "unchanged");
    // the admin API speaks only the methods it documents
    let (status, _) = admin(&gw, "GET", "/admin/policies/reload").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn policy_files_are_watched() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("a.yaml"), redacting("mask")).unwrap();
    let path = policies.clone();
    let gw = gateway(&up, dir.path(), move |c| {
        c.policies = vec![path];
        c.policy_poll_ms = 50;
    })
    .await;
    let (_, before) = admin(&gw, "GET", "/admin/policies").await;
    std::fs::write(policies.join("a.yaml"), redacting("hash")).unwrap();
    let mut reloaded = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (_, state) = admin(&gw, "GET", "/admin/policies").await;
        if state["version"] != before["version"] {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the change was picked up");
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("ssn {SSN}")),
    )
    .await;
    assert!(
        up.requests()[0].all().contains("[US_SSN:"),
        "{}",
        up.requests()[0].all()
    );
    // a test file beside the policies is not a policy
    std::fs::write(policies.join("a_test.yaml"), "tests: []\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, state) = admin(&gw, "GET", "/admin/policies").await;
    assert!(state["last_error"].is_null(), "{state}");
}

#[tokio::test]
async fn the_admin_api_needs_its_token_when_one_is_configured() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // any variable every process has: the mechanism, not the value, is under test
    let token = std::env::var("PATH").unwrap();
    let gw = gateway(&up, dir.path(), |c| c.admin_token_env = Some("PATH".into())).await;
    let (status, _) = admin(&gw, "GET", "/admin/policies").await;
    assert_eq!(status, 401);
    let (status, _, body) = call(
        gw.admin_addr,
        "GET",
        "/admin/policies",
        &[("authorization", &format!("Bearer {token}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = call(
        gw.admin_addr,
        "GET",
        "/admin/policies",
        &[("authorization", "Bearer wrong")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 401);
    // health and metrics stay open for probes and scrapers
    let (status, _) = admin(&gw, "GET", "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn callers_are_identified_by_key_and_address_and_policies_select_them() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // any variable every process has stands for the caller's key
    let key = std::env::var("PATH").unwrap();
    let file = common::policy_file(
        dir.path(),
        &format!(
            "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: payments-ai}}\nspec:\n  selector: {{callers: {{namespaces: [payments]}}}}\n  flow: block\n",
            common::default_policy()
        ),
    );
    let gw = gateway(&up, dir.path(), |c| {
        c.policies = vec![file];
        c.callers = vec![rampart_gateway::config::CallerDef {
            id: "checkout".into(),
            key_env: Some("PATH".into()),
            namespace: Some("payments".into()),
            workload: Some("checkout".into()),
            ..Default::default()
        }];
    })
    .await;
    let body = || chat(&format!("ssn {SSN}"));
    // unknown caller: redacted and forwarded
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-someone-else")],
        body(),
    )
    .await;
    assert_eq!(status, 200);
    // the checkout service: its flow blocks instead of redacting
    let (status, _, resp) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", &format!("Bearer {key}"))],
        body(),
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&resp));
    let events = common::audit_events(dir.path(), 2).await;
    assert_eq!(events[1]["caller"]["key_id"], "checkout");
    assert_eq!(events[1]["caller"]["namespace"], "payments");
    assert_eq!(events[1]["decided_by"], "payments-ai/flow");
    assert_ne!(events[0]["caller"]["key_id"], "checkout");
    assert!(
        !std::fs::read_to_string(dir.path().join("audit.jsonl"))
            .unwrap()
            .contains(&key)
    );
}

#[tokio::test]
async fn model_selectors_apply_once_the_body_names_the_model() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::policy_file(
        dir.path(),
        &format!(
            "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: no-pii-to-gpt4o}}\nspec:\n  selector: {{models: ['gpt-4o*']}}\n  rules: [{{groups: [pii], action: block}}]\n",
            common::default_policy()
        ),
    );
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let body = |model: &str| {
        serde_json::to_vec(
            &json!({"model": model, "messages":[{"role":"user","content":format!("ssn {SSN}")}]}),
        )
        .unwrap()
    };
    let (status, _, resp) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        body("gpt-4o-mini"),
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&resp));
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        body("o3-mini"),
    )
    .await;
    assert_eq!(status, 200);
    let events = common::audit_events(dir.path(), 2).await;
    assert_eq!(events[0]["decided_by"], "no-pii-to-gpt4o/rules[0]");
    assert_eq!(events[1]["decision"], "redact");
    assert!(
        events[0]["policy_version"]
            .as_str()
            .is_some_and(|v| v.len() == 16)
    );
}
