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

/// Two policies in one file that redact SSNs and e-mail addresses with `request` on the way
/// to the provider and with `response` on the way back.
fn directional(request: &str, response: &str) -> String {
    let one = |name: &str, direction: &str, strategy: &str| {
        format!(
            "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: {name}}}\nspec:\n  selector: {{direction: {direction}}}\n  strategy: {strategy}\n  rules: [{{classes: [US_SSN, EMAIL_ADDRESS], action: redact}}]\n"
        )
    };
    format!(
        "{}---\n{}",
        one("outbound", "request", request),
        one("inbound", "response", response)
    )
}

/// The strategy (`mask` or `hash`) that redacted every SSN and e-mail address in `text`; panics
/// on a raw value or on two strategies in one text.
fn strategy_in(text: &str, what: &str) -> &'static str {
    assert!(
        !text.contains(SSN) && !text.contains(MAIL),
        "{what}: {text}"
    );
    match (
        text.contains("[REDACTED:US_SSN]"),
        text.contains("[US_SSN:"),
        text.contains("[REDACTED:EMAIL_ADDRESS]"),
        text.contains("[EMAIL_ADDRESS:"),
    ) {
        (true, false, false, false) | (true, false, true, false) => "mask",
        (false, true, false, false) | (false, true, false, true) => "hash",
        other => panic!("{what} saw a mix of two strategies {other:?}: {text}"),
    }
}

/// The text a client reads from a chat completion, plain or streamed.
fn answer_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if !text.starts_with("data:") {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Version A redacts requests by masking and responses by hashing, version B the other way
/// round: an exchange whose request and response phases read two different snapshots shows
/// the same strategy on both sides, which neither version produces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_reloads_under_load_fail_no_request_and_never_mix_policies() {
    const A: (&str, &str) = ("mask", "hash");
    const B: (&str, &str) = ("hash", "mask");
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, directional(A.0, A.1)).unwrap();
    let policy_path = file.clone();
    let gw = gateway(&up, dir.path(), move |c| {
        c.policies = vec![policy_path];
        c.policy_poll_ms = 0;
    })
    .await;
    // what each policy version does, (request, response), by the version the audit names
    let mut versions = std::collections::HashMap::new();
    let (_, state) = admin(&gw, "GET", "/admin/policies").await;
    versions.insert(state["version"].as_str().unwrap().to_owned(), A);
    let addr = gw.addr;
    let done = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    // (model, client-side answer text) of every exchange; the model name identifies the
    // exchange at the upstream and in the audit log
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (done, failed, answers) = (done.clone(), failed.clone(), answers.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let model = format!("probe-{client}-{n}");
                let body = json!({"model": model, "stream": n % 2 == 1, "messages":[{"role":"user","content":format!("ssn {SSN}, mail {MAIL}")}]});
                let (status, _, resp) = call(
                    addr,
                    "POST",
                    "/v1/chat/completions",
                    &[JSON],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await;
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                answers.lock().unwrap().push((model, answer_text(&resp)));
                n += 1;
            }
        }));
    }
    let mut rejected = 0;
    for i in 0..100 {
        let (request, response) = if i % 2 == 0 { B } else { A };
        std::fs::write(&file, directional(request, response)).unwrap();
        let (status, body) = admin(&gw, "POST", "/admin/policies/reload").await;
        assert_eq!(
            (status, body["result"].as_str()),
            (200, Some("reloaded")),
            "{body}"
        );
        let version = body["version"].as_str().unwrap().to_owned();
        versions.insert(version, (request, response));
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
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let sent = answers.len();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "of {sent} requests");
    assert!(
        sent >= 100,
        "load ran alongside the reloads: {sent} requests"
    );
    // the request side as the provider saw it, by model
    let mut requests = std::collections::HashMap::new();
    for seen in up.requests() {
        let body: Value = serde_json::from_slice(&seen.body).unwrap();
        let model = body["model"].as_str().unwrap().to_owned();
        let strategy = strategy_in(&seen.all(), &format!("request of {model}"));
        assert!(requests.insert(model, strategy).is_none());
    }
    // the policy version each exchange's audit event names, by model
    let events = common::audit_events(dir.path(), sent).await;
    let mut named = std::collections::HashMap::new();
    for e in &events {
        if let Some(model) = e["model"].as_str() {
            named.insert(model.to_owned(), e["policy_version"].as_str().unwrap());
        }
    }
    // every exchange: both sides are what the one version its audit event names does
    let mut served = std::collections::HashSet::new();
    for (model, answer) in &answers {
        let version = named[model.as_str()];
        let Some(&want) = versions.get(version) else {
            panic!("{model}: the audit names version {version}, which was never loaded");
        };
        let got = (
            requests[model.as_str()],
            strategy_in(answer, &format!("answer of {model}")),
        );
        assert_eq!(
            got, want,
            "{model}: request and response sides differ from policy version {version}"
        );
        served.insert(want);
    }
    assert_eq!(served.len(), 2, "both versions served: {served:?}");
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
