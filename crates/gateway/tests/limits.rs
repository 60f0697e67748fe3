//! Rate, token and spend limits through the gateway (in-memory store): 429 in the provider's
//! shape with `Retry-After` and the ratelimit headers, budgets settled with the provider's
//! usage, max tokens per request.

mod common;

use common::{call, gateway, upstream};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");

/// The default policy plus `limit`, referenced by a policy selecting every exchange.
fn with_limit(dir: &std::path::Path, limit_spec: &str) -> std::path::PathBuf {
    let yaml = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: team}}\nspec:\n{limit_spec}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: limited}}\nspec:\n  limits: [team]\n",
        common::default_policy()
    );
    common::policy_file(dir, &yaml)
}

fn chat(max_tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({"model":"gpt-4o-mini","max_tokens":max_tokens,
        "messages":[{"role":"user","content":"hello there"}]}))
    .unwrap()
}

#[tokio::test]
async fn requests_over_the_rate_get_429_in_the_providers_shape() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = with_limit(
        dir.path(),
        "  key: [caller]\n  requests: {count: 3, per: 1m}",
    );
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let auth = ("authorization", "Bearer sk-caller-one");
    for i in 0..3 {
        let (status, headers, _) = call(
            gw.addr,
            "POST",
            "/v1/chat/completions",
            &[JSON, auth],
            chat(10),
        )
        .await;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(headers["ratelimit-policy"], "\"team-requests\";q=3;w=60");
        let state = headers["ratelimit"].to_str().unwrap().to_owned();
        assert!(
            state.starts_with(&format!("\"team-requests\";r={};t=", 2 - i)),
            "{state}"
        );
    }
    let (status, headers, body) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, auth],
        chat(10),
    )
    .await;
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "one request per 20 s: {retry}");
    assert!(headers["ratelimit"].to_str().unwrap().contains(";r=0;"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "rampart_rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit team (requests per interval)")
    );
    assert_eq!(
        up.requests().len(),
        3,
        "the refused request never reached the provider"
    );
    // another caller has its own budget
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-caller-two")],
        chat(10),
    )
    .await;
    assert_eq!(status, 200);
    let events = common::audit_events(dir.path(), 5).await;
    assert_eq!(events[3]["reason"], "rate_limited");
    assert_eq!(events[3]["decided_by"], "limit/team");
}

#[tokio::test]
async fn token_budgets_settle_to_the_reported_usage() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // the fake provider reports 12 prompt + 9 completion tokens per call
    let file = with_limit(
        dir.path(),
        "  tokens: {total: {perDay: 60}}\n  spend: {perDay: 1}",
    );
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    // each call reserves its estimate ("hello there" is 2 tokens in o200k, plus 3 for the
    // message and 3 for the reply: 8 in) plus 10 requested out
    for i in 0..2 {
        let (status, _, _) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], chat(10)).await;
        assert_eq!(status, 200, "{i}");
    }
    // settlement runs right after each exchange
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (_, _, admin) = call(gw.admin_addr, "GET", "/admin/limits", &[], Vec::new()).await;
    let admin: Value = serde_json::from_slice(&admin).unwrap();
    let counter = |part: &str| {
        admin["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"].as_str().unwrap().contains(part))
            .map(|c| c["value"].as_i64().unwrap())
    };
    assert_eq!(counter(":tok:d:"), Some(2 * 21), "{admin}");
    // gpt-4o-mini: 12 x 0.15 + 9 x 0.60 micro-dollars per call
    assert_eq!(counter(":usd:d:"), Some(2 * 7), "{admin}");
    // the same counters as headroom: the limit, what it counts, used, max and what is left
    let room = admin["headroom"].as_array().unwrap();
    let tokens = room.iter().find(|h| h["what"] == "tokens per day").unwrap();
    assert_eq!(
        (
            tokens["used"].as_f64(),
            tokens["max"].as_f64(),
            tokens["headroom"].as_f64()
        ),
        (Some(42.0), Some(60.0), Some(18.0)),
        "{admin}"
    );
    let spend = room
        .iter()
        .find(|h| h["what"] == "spend (USD) per day")
        .unwrap();
    assert_eq!(spend["max"].as_f64(), Some(1.0));
    assert_eq!(spend["used"].as_f64(), Some(14e-6));
    // 42 used: a third call reserving 18 still fits (60), a fourth does not
    let (status, _, _) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], chat(10)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, _, body) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], chat(10)).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("tokens per day"));
    let events = common::audit_events(dir.path(), 4).await;
    assert_eq!(events[0]["limits"]["estimate"]["input"], 8);
    assert_eq!(events[0]["limits"]["estimate"]["output"], 10);
    assert_eq!(events[0]["limits"]["actual"]["input"], 12);
    assert_eq!(events[0]["limits"]["actual"]["output"], 9);
    assert_eq!(events[0]["limits"]["source"], "reported");
}

#[tokio::test]
async fn a_request_over_the_max_tokens_per_request_is_refused_before_it_leaves() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = with_limit(dir.path(), "  maxTokensPerRequest: 1000");
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let (status, _, body) =
        call(gw.addr, "POST", "/v1/chat/completions", &[JSON], chat(4000)).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "rampart_max_tokens");
    assert!(up.requests().is_empty());
    let (status, _, _) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], chat(500)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn streamed_output_is_counted_when_the_provider_reports_no_usage() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = with_limit(dir.path(), "  tokens: {output: {perDay: 100000}}");
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    // the fake OpenAI stream carries no usage event
    let body = serde_json::to_vec(&json!({"model":"gpt-4o-mini","stream":true,
        "messages":[{"role":"user","content":"hi"}]}))
    .unwrap();
    let (status, _, _) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], body).await;
    assert_eq!(status, 200);
    let events = common::audit_events(dir.path(), 1).await;
    let limits = &events[0]["limits"];
    assert_eq!(limits["source"], "estimated", "{limits}");
    let answer: usize = common::answer_pieces().iter().map(|p| p.len()).sum();
    // the SSN in the answer is redacted: the released text is what is counted
    let output = limits["actual"]["output"].as_u64().unwrap();
    assert!(
        output > 0 && output.abs_diff(answer as u64 / 4) <= 3,
        "{output} vs {answer} chars"
    );
}

/// The `i`-th of a run of systematically varied prompts (what model extraction looks like).
fn probe(i: usize) -> Vec<u8> {
    let text = format!(
        "Classify the sentiment of this product review and give a confidence score, review number {i}"
    );
    serde_json::to_vec(&json!({"model":"gpt-4o-mini","messages":[{"role":"user","content":text}]}))
        .unwrap()
}

#[tokio::test]
async fn abuse_signals_reach_policy_conditions_and_audit_events() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: anti-extraction}}\nspec:\n  conditions:\n    - name: probing\n      when: '\"near_duplicate_prompts\" in signals'\n      action: block\n      reason: the caller sends systematic variations of one prompt\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &yaml);
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let auth = ("authorization", "Bearer sk-prober");
    let mut first_block = None;
    for i in 0..30 {
        let body = probe(i);
        let (status, _, resp) =
            call(gw.addr, "POST", "/v1/chat/completions", &[JSON, auth], body).await;
        if status == 403 {
            let v: Value = serde_json::from_slice(&resp).unwrap();
            assert_eq!(v["error"]["code"], "rampart_blocked");
            first_block.get_or_insert(i);
        }
    }
    let first = first_block.expect("the probing is blocked");
    assert!((20..=24).contains(&first), "{first}");
    let events = common::audit_events(dir.path(), 30).await;
    assert_eq!(events[first]["decided_by"], "anti-extraction/probing");
    assert_eq!(events[first]["signals"][0], "near_duplicate_prompts");
    assert!(events[0].get("signals").is_none());
    // another caller is not affected
    let body = probe(1);
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-other")],
        body,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_policy_selecting_a_signal_throttles_the_callers_that_raise_it() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: slow}}\nspec:\n  key: [caller]\n  requests: {{count: 2, per: 1h}}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: throttle-probers}}\nspec:\n  selector: {{signals: [near_duplicate_prompts]}}\n  limits: [slow]\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &yaml);
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let auth = ("authorization", "Bearer sk-prober");
    let mut statuses = Vec::new();
    for i in 0..30 {
        let body = probe(i);
        statuses.push(
            call(gw.addr, "POST", "/v1/chat/completions", &[JSON, auth], body)
                .await
                .0,
        );
    }
    // unlimited until the signal rises, then two more, then 429
    let first_limited = statuses.iter().position(|&s| s == 429).expect("throttled");
    assert!((22..=26).contains(&first_limited), "{statuses:?}");
    assert!(
        statuses[..first_limited].iter().all(|&s| s == 200),
        "{statuses:?}"
    );
    assert!(
        statuses[first_limited..].iter().all(|&s| s == 429),
        "{statuses:?}"
    );
}
