//! The real `openai` and `anthropic` Python SDKs (installed into `.venv` by
//! `scripts/test.sh`) call through the gateway to the fake provider: redacted answers, streams
//! and blocks must reach the SDKs as the SDKs expect, and the planted values never reach the
//! provider.

mod common;

use std::path::PathBuf;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("RAMPART_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "the Python SDK clients are not installed: run ./scripts/test.sh (it creates .venv with openai and anthropic), or set RAMPART_PYTHON"
    );
    venv
}

/// Runs `sdk_clients.py [mode]` against the gateway at `addr`; fails the test unless it
/// prints `ok`.
async fn run_clients(addr: std::net::SocketAddr, mode: Option<&str>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_clients.py");
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(&script);
    if let Some(m) = mode {
        cmd.arg(m);
    }
    let out = cmd
        .env("GATEWAY", format!("http://{addr}"))
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "SDK checks failed\nstdout: {stdout}\nstderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_and_anthropic_sdks_get_redacted_answers_and_clear_block_errors() {
    let up = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(&up, dir.path(), |_| {}).await;
    run_clients(gw.addr, None).await;
    let seen = up.requests();
    assert_eq!(
        seen.len(),
        4,
        "two calls per SDK reach the provider, blocks do not"
    );
    for s in &seen {
        let all = s.all();
        assert!(
            !all.contains("371-22-8841"),
            "the SSN reached the provider: {all}"
        );
        assert!(
            !all.contains("AKIA4HBW6E62M7NGFVGF"),
            "the key reached the provider"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_blocked_mid_way_raises_in_both_sdks() {
    let up = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let block = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: block-keys-in-answers}}\nspec:\n  selector: {{direction: response}}\n  rules: [{{groups: [cloud_credentials], action: block}}]\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &block);
    let gw = common::gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    run_clients(gw.addr, Some("stream-blocks")).await;
    // both exchanges are recorded as blocked
    let audit = common::audit_events(dir.path(), 2).await;
    let blocked = audit
        .iter()
        .filter(|l| l["decision"] == "block" && l["reason"] == "rampart_blocked")
        .count();
    assert_eq!(blocked, 2, "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_calls_raise_the_sdks_rate_limit_errors() {
    let up = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let limits = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: per-caller}}\nspec:\n  key: [caller]\n  requests: {{count: 2, per: 1h}}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: limited}}\nspec:\n  limits: [per-caller]\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &limits);
    let gw = common::gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    run_clients(gw.addr, Some("rate-limits")).await;
    assert_eq!(
        up.requests().len(),
        4,
        "two calls per SDK reach the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_injections_raise_permission_errors_in_both_sdks() {
    let up = common::upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(&up, dir.path(), |_| {}).await;
    run_clients(gw.addr, Some("injections")).await;
    // only the ordinary question reached the provider
    assert_eq!(up.requests().len(), 1);
}
