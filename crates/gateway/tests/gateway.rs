//! The gateway end to end on loopback: a real HTTP client, the gateway, and a fake upstream
//! that speaks each provider's wire format and records what reaches it.

mod common;

use std::io::Write;

use base64::Engine as _;
use common::{ANSWER_SSN, call, gateway, upstream};
use serde_json::{Value, json};

/// A brotli stream of stored (uncompressed) meta-blocks, what a brotli encoder writes for
/// incompressible data; built here because only a decoder is a dependency.
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    // bits are written least significant first
    fn put(out: &mut Vec<u8>, nbits: &mut usize, value: u32, n: u32) {
        for i in 0..n {
            if (*nbits).is_multiple_of(8) {
                out.push(0);
            }
            let last = out.len() - 1;
            out[last] |= (((value >> i) & 1) as u8) << (*nbits % 8);
            *nbits += 1;
        }
    }
    let mut out: Vec<u8> = Vec::new();
    let mut nbits = 0usize;
    put(&mut out, &mut nbits, 0, 1); // WBITS = 16
    for chunk in data.chunks(65536) {
        put(&mut out, &mut nbits, 0, 1); // ISLAST = 0
        put(&mut out, &mut nbits, 0, 2); // MNIBBLES = 4
        put(&mut out, &mut nbits, chunk.len() as u32 - 1, 16); // MLEN - 1
        put(&mut out, &mut nbits, 1, 1); // ISUNCOMPRESSED
        out.extend_from_slice(chunk); // the stored bytes start on a byte boundary
        nbits = out.len() * 8;
    }
    put(&mut out, &mut nbits, 1, 1); // ISLAST
    put(&mut out, &mut nbits, 1, 1); // ISLASTEMPTY
    out
}

/// The `reason` of every audit event, in order.
fn reasons(audit: &str) -> Vec<String> {
    audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Planted values: none may reach the upstream in enforce mode.
const SSN: &str = "371-22-8841";
const GITHUB: &str = "ghp_T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE";
const AWS: &str = "AKIA4HBW6E62M7NGFVGF";

fn pem() -> &'static str {
    rampart_detect::detectors::all()
        .find(|d| d.id == "private_key_pem")
        .unwrap()
        .positives[0]
}

fn chat(content: &str, stream: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }))
    .unwrap()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn request_values_are_redacted_before_the_upstream_and_answers_on_the_way_back() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let body = chat(&format!("My SSN is {SSN} and my token is {GITHUB}"), false);
    let (status, _, resp) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-caller-key")],
        body,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let sent = seen[0].all();
    assert!(!sent.contains(SSN) && !sent.contains(GITHUB), "{sent}");
    assert!(
        sent.contains("[REDACTED:US_SSN]") && sent.contains("[REDACTED:SECRET]"),
        "{sent}"
    );
    // the caller's credential passes through untouched
    assert!(sent.contains("authorization: Bearer sk-caller-key"));
    // the forwarded body is still valid JSON
    let _: Value = serde_json::from_slice(&seen[0].body).unwrap();
    let answer: Value = serde_json::from_slice(&resp).unwrap();
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        !text.contains(ANSWER_SSN) && text.contains("[REDACTED:US_SSN]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_private_key_blocks_the_call_in_the_providers_error_shape() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    for (path, body, error_path) in [
        (
            "/v1/chat/completions",
            chat(&format!("debug this: {}", pem()), false),
            "/error/code",
        ),
        (
            "/v1/messages",
            serde_json::to_vec(&json!({"model":"claude-3-5-haiku-latest","max_tokens":10,
                "messages":[{"role":"user","content":format!("key {AWS}")}]}))
            .unwrap(),
            "/error/code",
        ),
    ] {
        let (status, _, resp) = call(gw.addr, "POST", path, &[JSON], body).await;
        assert_eq!(status, 403, "{path}");
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(
            v.pointer(error_path).and_then(Value::as_str),
            Some("rampart_blocked"),
            "{v}"
        );
        let text = v.to_string();
        assert!(
            !text.contains(AWS) && !text.contains("PRIVATE KEY-----\n"),
            "{text}"
        );
    }
    assert!(up.requests().is_empty(), "nothing reaches the upstream");
}

/// Text of every provider's stream, joined.
fn streamed_text(provider: &str, body: &[u8]) -> String {
    let mut text = String::new();
    for line in String::from_utf8_lossy(body).lines() {
        let Some(d) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(d) else {
            continue;
        };
        let piece = match provider {
            "openai" => v.pointer("/choices/0/delta/content"),
            "anthropic" => v.pointer("/delta/text"),
            "gemini" => v.pointer("/candidates/0/content/parts/0/text"),
            _ => v.pointer("/delta/message/content/text"),
        };
        if let Some(p) = piece.and_then(Value::as_str) {
            text.push_str(p);
        }
    }
    text
}

#[tokio::test]
async fn streamed_answers_are_redacted_for_every_provider() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let hello = |model: &str| {
        serde_json::to_vec(&json!({"model": model, "stream": true, "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello"}]}))
        .unwrap()
    };
    let gemini =
        serde_json::to_vec(&json!({"contents":[{"role":"user","parts":[{"text":"hello"}]}]}))
            .unwrap();
    for (provider, path, body) in [
        ("openai", "/v1/chat/completions", hello("gpt-4o-mini")),
        (
            "anthropic",
            "/v1/messages",
            hello("claude-3-5-haiku-latest"),
        ),
        (
            "gemini",
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            gemini,
        ),
        ("cohere", "/v2/chat", hello("command-r")),
    ] {
        let (status, headers, resp) = call(gw.addr, "POST", path, &[JSON], body).await;
        assert_eq!(status, 200, "{provider}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let raw = String::from_utf8_lossy(&resp);
        assert!(
            !raw.contains(ANSWER_SSN) && !raw.contains("4399"),
            "{provider}: {raw}"
        );
        let text = streamed_text(provider, &resp);
        assert_eq!(
            text, "Sure. The number on file is [REDACTED:US_SSN], and the rest is fine.",
            "{provider}: {raw}"
        );
    }
}

#[tokio::test]
async fn canaries_never_reach_the_upstream_whatever_their_encoding() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("my ssn is {SSN} ok"));
    let escaped = SSN
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect::<String>();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&chat(&format!("ssn {SSN}"), false)).unwrap();
    let gz = gz.finish().unwrap();
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "plain body",
            "/v1/chat/completions",
            vec![],
            chat(&format!("ssn {SSN}"), false),
        ),
        (
            "json escapes",
            "/v1/chat/completions",
            vec![],
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"ssn {escaped}"}}]}}"#)
                .into_bytes(),
        ),
        (
            "base64 blob",
            "/v1/chat/completions",
            vec![],
            chat(&format!("attachment: {b64}"), false),
        ),
        (
            "gzip body",
            "/v1/chat/completions",
            vec![("content-encoding", "gzip".into())],
            gz,
        ),
        (
            "brotli body",
            "/v1/chat/completions",
            vec![("content-encoding", "br".into())],
            brotli_stored(&chat(&format!("ssn {SSN}"), false)),
        ),
        (
            "header",
            "/v1/chat/completions",
            vec![("x-note", format!("ssn {SSN}"))],
            chat("hi", false),
        ),
        (
            "query",
            &*Box::leak(format!("/v1/chat/completions?note=ssn%20{SSN}").into_boxed_str()),
            vec![],
            chat("hi", false),
        ),
        (
            "form on an API route",
            "/api/form",
            vec![("content-type", "application/x-www-form-urlencoded".into())],
            format!("name=ada&ssn={}&token={GITHUB}", SSN.replace('-', "%2D")).into_bytes(),
        ),
        (
            "text on an API route",
            "/api/notes",
            vec![("content-type", "text/plain".into())],
            format!("ssn {SSN} key {GITHUB}").into_bytes(),
        ),
    ];
    for (what, path, extra, body) in cases {
        let mut headers: Vec<(&str, &str)> = vec![JSON];
        for (k, v) in &extra {
            headers.retain(|(h, _)| *h != *k);
            headers.push((k, v.as_str()));
        }
        let before = up.requests().len();
        let (status, _, resp) = call(gw.addr, "POST", path, &headers, body).await;
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&resp));
        let seen = up.requests();
        assert_eq!(seen.len(), before + 1, "{what}");
        let sent = seen.last().unwrap().all();
        for canary in [SSN, "371%2D22%2D8841", GITHUB, &b64, &escaped] {
            assert!(!sent.contains(canary), "{what}: {canary} leaked: {sent}");
        }
    }
}

#[tokio::test]
async fn bodies_that_cannot_be_inspected_are_refused_with_a_clear_error() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |c| c.limits.max_request_body = 4096).await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown encoding",
            vec![JSON, ("content-encoding", "zstd")],
            b"\x28\xb5\x2f\xfd".to_vec(),
            415,
            "rampart_uninspectable",
        ),
        (
            "corrupt brotli",
            vec![JSON, ("content-encoding", "br")],
            b"\xff\xff\xff garbage".to_vec(),
            415,
            "rampart_uninspectable",
        ),
        (
            "malformed json",
            vec![JSON],
            b"{\"model\": \"m\", \"messages\": [".to_vec(),
            400,
            "rampart_malformed_json",
        ),
        (
            "oversize",
            vec![JSON],
            chat(&"x".repeat(5000), false),
            413,
            "rampart_request_too_large",
        ),
        (
            "corrupt gzip",
            vec![JSON, ("content-encoding", "gzip")],
            b"\x1f\x8b\x08\x00garbage".to_vec(),
            415,
            "rampart_uninspectable",
        ),
    ];
    for (what, headers, body, want, code) in cases {
        let (status, _, resp) = call(gw.addr, "POST", "/v1/chat/completions", &headers, body).await;
        assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(&resp));
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(v["error"]["code"], code, "{what}");
    }
    assert!(up.requests().is_empty());
    // and the gateway keeps serving
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat("hi", false),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn monitor_mode_changes_nothing_and_records_what_it_would_do() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // the shipped monitor-only policy
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/monitor-only.yaml");
    let gw = gateway(&up, dir.path(), |c| {
        c.policies = vec![file];
        // a monitor-only set is refused unless asked for
        c.allow_unenforced = true;
    })
    .await;
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("key {AWS} ssn {SSN}"), false),
    )
    .await;
    assert_eq!(status, 200);
    assert!(up.requests()[0].all().contains(AWS));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let event: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(event["decision"], "monitor");
    assert_eq!(event["would"], "block");
    assert_eq!(event["enforced"], false);
}

#[tokio::test]
async fn every_exchange_leaves_one_audit_event_without_raw_values_and_metrics() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-caller-secret")],
        chat(&format!("ssn {SSN}"), false),
    )
    .await;
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("key {}", pem()), false),
    )
    .await;
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat("hello", true),
    )
    .await;
    call(gw.addr, "GET", "/nowhere", &[], Vec::new()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{audit}");
    for leaked in [SSN, ANSWER_SSN, "sk-caller-secret", "PRIVATE KEY-----\\n"] {
        assert!(!audit.contains(leaked), "{leaked} in the audit log");
    }
    let decisions: Vec<&str> = events
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["redact", "block", "redact", "allow"]);
    assert_eq!(events[0]["model"], "gpt-4o-mini");
    assert_eq!(events[0]["usage"]["input"], 12);
    assert!(events[0]["caller"]["key_id"].as_str().unwrap().len() == 12);
    assert_eq!(
        events[2]["findings"][0]["direction"], "response",
        "{}",
        events[2]
    );
    assert_eq!(events[2]["findings"][0]["class"], "US_SSN");
    let (status, _, metrics) = call(gw.admin_addr, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("rampart_exchanges_total{provider=\"openai\",decision=\"block\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rampart_findings_total"), "{metrics}");
    // what a dashboard needs: latency histograms, statuses, decisions per rule, tokens, spend
    for want in [
        "rampart_request_duration_seconds_bucket{le=\"0.001\",provider=\"openai\"}",
        "rampart_request_duration_seconds_count{provider=\"openai\"} 3",
        "rampart_upstream_duration_seconds_count{provider=\"openai\"}",
        "rampart_responses_total{provider=\"openai\",code=\"200\"}",
        "rampart_responses_total{provider=\"openai\",code=\"403\"} 1",
        "rampart_rule_decisions_total{rule=\"default/",
        "rampart_tokens_total{provider=\"openai\",model=\"gpt-4o-mini\",kind=\"input\"}",
        "rampart_tokens_total{provider=\"openai\",model=\"gpt-4o-mini\",kind=\"output\"}",
        "rampart_cost_usd_total{provider=\"openai\",model=\"gpt-4o-mini\"}",
    ] {
        assert!(metrics.contains(want), "{want} not in {metrics}");
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            call(gw.admin_addr, "GET", path, &[], Vec::new()).await.0,
            200
        );
    }
}

#[tokio::test]
async fn http2_cleartext_works_end_to_end() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gw.addr))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(chat(
            &format!("ssn {SSN}"),
            false,
        ))))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    // one hop: the gateway does not mistake an HTTP/2 request for a forward-proxy one
    assert_eq!(up.requests().len(), 1);
    assert!(!up.requests()[0].all().contains(SSN));
}

#[tokio::test]
async fn configured_upstream_keys_replace_the_callers_credential() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // any variable every process has: the mechanism, not the value, is under test
    let key = std::env::var("PATH").unwrap();
    let gw = gateway(&up, dir.path(), |c| {
        c.upstream_keys.insert("anthropic".into(), "PATH".into());
    })
    .await;
    let body = serde_json::to_vec(&json!({"model":"claude-3-5-haiku-latest","max_tokens":5,
        "messages":[{"role":"user","content":"hi"}]}))
    .unwrap();
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/messages",
        &[JSON, ("x-api-key", "caller-key")],
        body,
    )
    .await;
    assert_eq!(status, 200);
    let seen = &up.requests()[0];
    let sent: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "x-api-key")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(sent, vec![key.as_str()]);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(&key) && !audit.contains("caller-key"));
}

/// Sends raw HTTP/1.1 bytes and reads until the peer closes.
async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn forward_proxy_requests_are_inspected_and_tunnels_follow_the_egress_lists() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let egress = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: egress}}\nspec:\n  selector: {{routes: [egress]}}\n  egress: {{deny: [blocked.example]}}\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &egress);
    let gw = gateway(&up, dir.path(), |c| {
        c.policies = vec![file];
        // the fake upstream is on loopback, which a forward proxy refuses by default
        c.forward_proxy.enabled = true;
        c.forward_proxy.allow_private = true;
        c.forward_proxy.connect_ports = vec![443, up.addr.port()];
    })
    .await;
    // plain HTTP through the proxy: inspected like an API route
    let body = format!("ssn {SSN}");
    let req = format!(
        "POST http://{}/anything HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        up.addr,
        up.addr,
        body.len()
    );
    let resp = raw_http(gw.addr, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(!up.requests()[0].all().contains(SSN));
    // a refused destination
    let resp = raw_http(gw.addr, b"CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\nConnection: close\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("rampart_egress_denied"));
    // an allowed tunnel carries bytes both ways (here: HTTP to the fake upstream)
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", up.addr).as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    s.write_all(
        format!(
            "GET /api/ping HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            up.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let reasons = reasons(&audit);
    assert_eq!(reasons, ["redacted", "egress_denied", "tunnel"]);
}

#[tokio::test]
async fn the_forward_proxy_is_off_by_default_and_refuses_private_and_metadata_addresses() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let off = gateway(&up, dir.path(), |_| {}).await;
    let plain = format!(
        "GET http://{0}/api/ping HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
        up.addr
    );
    let resp = raw_http(off.addr, plain.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("rampart_forward_proxy_off"), "{resp}");
    let connect = format!(
        "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
        up.addr
    );
    let resp = raw_http(off.addr, connect.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(up.requests().is_empty(), "nothing reached the upstream");

    let dir = tempfile::tempdir().unwrap();
    let on = gateway(&up, dir.path(), |c| c.forward_proxy.enabled = true).await;
    for target in [
        "169.254.169.254",
        "127.0.0.1",
        "10.0.0.7",
        "[fd00:ec2::254]",
        "[::1]",
    ] {
        let req = format!(
            "GET http://{target}/latest/meta-data/ HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
        );
        let resp = raw_http(on.addr, req.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 403"), "{target}: {resp}");
        assert!(
            resp.contains("rampart_destination_refused"),
            "{target}: {resp}"
        );
        let req = format!(
            "CONNECT {target}:443 HTTP/1.1\r\nHost: {target}:443\r\nConnection: close\r\n\r\n"
        );
        let resp = raw_http(on.addr, req.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 403"), "{target}: {resp}");
    }
    // a tunnel to a port not on the list
    let resp = raw_http(
        on.addr,
        b"CONNECT example.com:25 HTTP/1.1\r\nHost: example.com:25\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.contains("rampart_port_refused"), "{resp}");
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn tls_with_alpn_serves_http2_and_http1() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let gw = gateway(&up, dir.path(), |c| {
        c.tls = Some(rampart_gateway::config::Tls {
            cert: cert_path.clone(),
            key: key_path.clone(),
        })
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let request = || {
        http::Request::post(format!(
            "https://localhost:{}/v1/chat/completions",
            gw.addr.port()
        ))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(chat(
            &format!("ssn {SSN}"),
            false,
        ))))
        .unwrap()
    };
    let exec = hyper_util::rt::TokioExecutor::new;
    // ALPN offers h2 and http/1.1: HTTP/2 is chosen
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client = hyper_util::client::legacy::Client::builder(exec()).build(https);
    let resp = client.request(request()).await.unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (http::Version::HTTP_2, 200)
    );
    // a client that speaks only HTTP/1.1
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(exec()).build(https);
    let resp = client.request(request()).await.unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (http::Version::HTTP_11, 200)
    );
    // both requests were forwarded, redacted
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for s in seen {
        let sent = s.all();
        assert!(
            !sent.contains(SSN) && sent.contains("[REDACTED:US_SSN]"),
            "{sent}"
        );
    }
}

#[tokio::test]
async fn the_first_tokens_of_a_stream_pass_before_the_stream_ends() {
    use http_body_util::BodyExt;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = serde_json::to_vec(&json!({"model":"slow-model","stream":true,
        "messages":[{"role":"user","content":"tell me a story"}]}))
    .unwrap();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", gw.addr))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let mut resp = client.request(req).await.unwrap().into_body();
    // the upstream has sent ~100 bytes of text and waits: most of it must arrive now
    let mut got = Vec::new();
    let first: usize = common::SLOW_FIRST.iter().map(|t| t.len()).sum();
    let mut text = String::new();
    while text.len() + 40 < first {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), resp.frame())
            .await
            .expect("text arrives while the upstream is still streaming")
            .unwrap()
            .unwrap();
        got.extend_from_slice(&frame.into_data().unwrap());
        text = streamed_text("openai", &got);
    }
    assert!(common::SLOW_FIRST.concat().starts_with(&text), "{text}");
    up.release.notify_one();
    while let Some(frame) = resp.frame().await {
        got.extend_from_slice(&frame.unwrap().into_data().unwrap_or_default());
    }
    assert_eq!(
        streamed_text("openai", &got),
        format!("{}The end.", common::SLOW_FIRST.concat())
    );
}

#[tokio::test]
async fn only_the_classes_the_policy_names_are_redacted() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::policy_file(
        dir.path(),
        "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {name: ssn-only}\nspec:\n  rules: [{classes: [US_SSN], action: redact}]\n",
    );
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let body = chat(&format!("ssn {SSN}, mail ada@example.org"), false);
    let (status, _, _) = call(gw.addr, "POST", "/v1/chat/completions", &[JSON], body).await;
    assert_eq!(status, 200);
    let sent = up.requests()[0].all();
    assert!(
        !sent.contains(SSN) && sent.contains("ada@example.org"),
        "{sent}"
    );
}

#[tokio::test]
async fn fail_open_forwards_what_it_cannot_inspect_and_records_it() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let open = common::default_policy().replace("fail: closed", "fail: open");
    let file = common::policy_file(dir.path(), &open);
    let gw = gateway(&up, dir.path(), |c| {
        c.policies = vec![file];
        c.limits.max_request_body = 4096;
    })
    .await;
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&"x".repeat(5000), false),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("content-encoding", "zstd")],
        b"\x28\xb5\x2f\xfd".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(up.requests().len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let reasons = reasons(&audit);
    assert_eq!(
        reasons,
        ["uninspected_too_large_fail_open", "uninspected_fail_open"]
    );
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_gateway_keeps_serving() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let huge = "a".repeat(200 << 10);
    let req = format!(
        "GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n"
    );
    let resp = raw_http(gw.addr, req.as_bytes()).await;
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    assert!(up.requests().is_empty());
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat("hi", false),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn chunked_text_responses_are_redacted_as_they_flow() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let (status, headers, body) = call(gw.addr, "GET", "/api/chunked", &[], Vec::new()).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("content-length"));
    let text = String::from_utf8(body).unwrap();
    assert_eq!(
        text,
        "log line one\nuser ssn [REDACTED:US_SSN] logged\nlog line three\n"
    );
}

#[tokio::test]
async fn a_block_rule_cuts_off_a_chunked_text_response() {
    use http_body_util::BodyExt;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let block = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: block-ssn-answers}}\nspec:\n  selector: {{direction: response, routes: [api]}}\n  rules: [{{detectors: ['us_ssn*'], action: block}}]\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &block);
    let gw = gateway(&up, dir.path(), |c| c.policies = vec![file]).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let resp = client
        .get(format!("http://{}/api/chunked", gw.addr).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let mut cut_off = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => got.extend_from_slice(&f.into_data().unwrap_or_default()),
            Err(_) => {
                cut_off = true;
                break;
            }
        }
    }
    let got = String::from_utf8_lossy(&got);
    assert!(cut_off, "the caller sees an incomplete body: {got}");
    assert!(!got.contains("6-90-43") && !got.contains("logged"), "{got}");
    let events = common::audit_events(dir.path(), 1).await;
    assert_eq!(events[0]["decision"], "block");
    assert_eq!(events[0]["reason"], "rampart_blocked");
}

#[tokio::test]
async fn https_upstreams_with_a_private_ca_over_http2() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let up = common::upstream_with(Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(
        server,
    ))))
    .await;
    let port = up.addr.port();
    let gw = gateway(&up, dir.path(), |c| {
        c.upstreams
            .insert("openai".into(), format!("https://localhost:{port}"));
        c.upstream_ca = Some(ca.clone());
    })
    .await;
    let (status, _, resp) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("ssn {SSN}"), false),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    assert!(!up.requests()[0].all().contains(SSN));
    assert_eq!(
        up.requests()[0].version,
        "HTTP/2.0",
        "ALPN picks HTTP/2 toward the upstream"
    );
    // without the private CA the upstream is not trusted: a clear error, nothing sent
    let dir2 = tempfile::tempdir().unwrap();
    let gw2 = gateway(&up, dir2.path(), |c| {
        c.upstreams
            .insert("openai".into(), format!("https://localhost:{port}"));
    })
    .await;
    let (status, _, resp) = call(
        gw2.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat("hi", false),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(
        serde_json::from_slice::<Value>(&resp).unwrap()["error"]["code"],
        "rampart_upstream_error"
    );
    assert_eq!(up.requests().len(), 1);
}

/// Starts a `slow-model` stream through `addr`; returns its body once the first text arrived.
async fn open_slow_stream(addr: std::net::SocketAddr) -> hyper::body::Incoming {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = serde_json::to_vec(&json!({"model":"slow-model","stream":true,
        "messages":[{"role":"user","content":"tell me a story"}]}))
    .unwrap();
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let mut resp = client.request(req).await.unwrap().into_body();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), resp.frame())
        .await
        .expect("the stream starts")
        .unwrap()
        .unwrap();
    assert!(!frame.into_data().unwrap().is_empty());
    resp
}

#[tokio::test]
async fn shutdown_lets_a_stream_in_flight_finish_and_refuses_new_work() {
    use http_body_util::BodyExt;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let (addr, admin) = (gw.addr, gw.admin_addr);
    let mut stream = open_slow_stream(addr).await;
    let draining = tokio::spawn(gw.shutdown());
    // unready at once, so a load balancer stops sending work
    let mut unready = false;
    for _ in 0..100 {
        let (status, _, body) = call(admin, "GET", "/readyz", &[], Vec::new()).await;
        if status == 503 {
            assert_eq!(String::from_utf8_lossy(&body), "draining\n");
            unready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(unready, "/readyz reports the drain");
    // the listener is closed: new connections are refused
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "no new connection after the drain began");
    assert!(!draining.is_finished(), "the drain waits for the stream");
    // the stream in flight runs to its end
    up.release.notify_one();
    let mut got = Vec::new();
    while let Some(frame) = resp_frame(&mut stream).await {
        got.extend_from_slice(&frame);
    }
    let text = streamed_text("openai", &got);
    assert!(text.ends_with("The end."), "{text}");
    assert!(String::from_utf8_lossy(&got).ends_with("data: [DONE]\n\n"));
    let drained = tokio::time::timeout(std::time::Duration::from_secs(10), draining)
        .await
        .expect("the drain ends once the stream is done")
        .unwrap();
    assert_eq!(
        drained,
        rampart_gateway::Drained {
            open: 1,
            cut: false
        }
    );

    async fn resp_frame(body: &mut hyper::body::Incoming) -> Option<bytes::Bytes> {
        let frame = body.frame().await?.ok()?;
        Some(frame.into_data().unwrap_or_default())
    }
}

#[tokio::test]
async fn shutdown_cuts_what_outlives_the_grace_period() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |c| c.limits.shutdown_grace_ms = 300).await;
    let _stream = open_slow_stream(gw.addr).await;
    let started = std::time::Instant::now();
    let drained = tokio::time::timeout(std::time::Duration::from_secs(10), gw.shutdown())
        .await
        .expect("the grace period bounds the drain");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(drained, rampart_gateway::Drained { open: 1, cut: true });
    // the cut stream still recorded its exchange before the audit writer closed
    let events = common::audit_events(dir.path(), 1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["reason"], "client_gone", "{}", events[0]);
    assert_eq!(events[0]["status"], 200, "{}", events[0]);
}

#[tokio::test]
async fn a_broad_api_route_keeps_provider_paths_provider_calls() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |c| {
        c.routes.push(rampart_gateway::config::ApiRoute {
            name: Some("everything".into()),
            prefix: "/".into(),
            upstream: up.url(),
        });
    })
    .await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let events = common::audit_events(dir.path(), 1).await;
    assert_eq!(events[0]["provider"], "openai", "{}", events[0]);
    assert_eq!(events[0]["model"], "gpt-4o-mini", "{}", events[0]);
}

#[tokio::test]
async fn an_upstream_base_url_that_repeats_the_api_version_is_rejected_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    for (provider, url) in [
        ("openai", "http://127.0.0.1:9000/v1"),
        ("anthropic", "http://127.0.0.1:9000/v1/"),
        ("gemini", "https://proxy.internal/google/v1beta"),
        ("cohere", "http://127.0.0.1:9000/v2"),
    ] {
        let mut config = rampart_gateway::Config {
            data_dir: dir.path().to_path_buf(),
            ..rampart_gateway::Config::default()
        };
        config.upstreams.insert(provider.into(), url.into());
        let Err(err) = rampart_gateway::Gateway::new(config).await else {
            panic!("{provider}: {url} was accepted");
        };
        let err = err.to_string();
        assert!(err.contains("would be sent twice"), "{provider}: {err}");
        assert!(err.contains("use http"), "{provider}: {err}");
    }
    // a base with a path that is not a version is kept
    let mut config = rampart_gateway::Config {
        data_dir: dir.path().to_path_buf(),
        ..rampart_gateway::Config::default()
    };
    config
        .upstreams
        .insert("openai".into(), "http://127.0.0.1:9000/openai".into());
    assert!(rampart_gateway::Gateway::new(config).await.is_ok());
}
