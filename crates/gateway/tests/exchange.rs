//! The exchange core through the hyper front end: a caller that leaves midway still leaves
//! its audit event and frees its concurrency lease; the SDK calls beyond chat are routed to
//! the right provider and inspected.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{audit_events, call, gateway_to};
use http::Response;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Boxed = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// An upstream that answers chat calls at once, hangs (no answer head) on `"model": "hang"`,
/// and sends one event of a stream then goes silent on `"model": "trickle"`. Records the
/// method and path of every request it got.
async fn slow_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let rec = seen.clone();
    let addr = common::serve(None, move |parts, body| {
        rec.lock()
            .unwrap()
            .push(format!("{} {}", parts.method, parts.uri.path()));
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        async move {
            let model = v["model"].as_str().unwrap_or("");
            if model.starts_with("hang") {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            if model == "trickle" {
                let (tx, body) = rampart_gateway::body::ChannelBody::new();
                tokio::spawn(async move {
                    let first = json!({"id":"c","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]});
                    let _ = tx.send(Ok(Bytes::from(format!("data: {first}\n\n")))).await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
                let r: Response<Boxed> = Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body.boxed())
                    .unwrap();
                return r;
            }
            let answer = json!({"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}});
            Response::builder()
                .header("content-type", "application/json")
                .body(
                    Full::new(Bytes::from(answer.to_string()))
                        .map_err(|n| -> Box<dyn std::error::Error + Send + Sync> { match n {} })
                        .boxed(),
                )
                .unwrap()
        }
    })
    .await;
    (format!("http://{addr}"), seen)
}

/// Sends a chat request on a raw connection, reads `read` bytes of the answer (0: none),
/// then closes the connection.
async fn call_and_leave(addr: std::net::SocketAddr, model: &str, stream: bool, read: usize) {
    let body = json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]})
    .to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    if read > 0 {
        let mut buf = vec![0u8; 4096];
        let mut got = 0;
        while got < read {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("the answer starts")
                .unwrap();
            assert!(n > 0, "the gateway closed first");
            got += n;
        }
    } else {
        // the request reaches the upstream before the caller leaves
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(s);
}

/// A chat call through the gateway; its status.
async fn chat(addr: std::net::SocketAddr, model: &str) -> u16 {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hello"}]});
    call(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .0
}

#[tokio::test]
async fn a_caller_that_leaves_mid_request_or_mid_stream_leaves_an_event_and_no_lease() {
    let (url, _) = slow_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}---\napiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: one}}\nspec:\n  key: []\n  concurrent: 1\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: single}}\nspec:\n  limits: [one]\n",
        common::default_policy()
    );
    let file = common::policy_file(dir.path(), &yaml);
    let gw = gateway_to(&url, dir.path(), |c| c.policies = vec![file]).await;

    // one lease: a second call while one is in flight is refused
    let hold = tokio::spawn({
        let addr = gw.addr;
        async move { chat(addr, "hang-first").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chat(gw.addr, "gpt-4o").await, 429, "the lease is held");
    hold.abort();

    // mid-request: the caller leaves while the upstream has not answered
    let mut expect = 2; // the aborted call above and the refused one
    for (model, stream, read) in [("hang", false, 0), ("trickle", true, 1)] {
        audit_events(dir.path(), expect).await;
        // whoever held the lease is gone: the next call is admitted
        let mut status = 0;
        for _ in 0..50 {
            status = chat(gw.addr, "gpt-4o").await;
            expect += 1;
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, 200, "the lease was freed");
        call_and_leave(gw.addr, model, stream, read).await;
        expect += 1;
        let events = audit_events(dir.path(), expect).await;
        let gone: Vec<&Value> = events
            .iter()
            .filter(|e| e["model"] == model && e["reason"] == "client_gone")
            .collect();
        assert_eq!(gone.len(), 1, "{model}: {events:#?}");
        // 499 when no answer had begun; a stream already under way had sent its 200
        assert_eq!(gone[0]["status"], if stream { 200 } else { 499 });
        assert!(gone[0]["limits"].is_object(), "{:?}", gone[0]);
    }
    // and the last one's lease is free too
    let mut status = 0;
    for _ in 0..50 {
        status = chat(gw.addr, "gpt-4o").await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "the streamed call's lease was freed");
}

#[tokio::test]
async fn sdk_calls_beyond_chat_reach_the_right_provider_and_are_inspected() {
    let (openai, openai_seen) = slow_upstream().await;
    let (anthropic, anthropic_seen) = slow_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_to(&openai, dir.path(), |c| {
        c.upstreams.insert("anthropic".into(), anthropic.clone());
    })
    .await;

    // /v1/models: both serve it; Anthropic's SDK sends `anthropic-version`
    call(gw.addr, "GET", "/v1/models", &[], Vec::new()).await;
    call(
        gw.addr,
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        Vec::new(),
    )
    .await;
    assert_eq!(openai_seen.lock().unwrap().clone(), ["GET /v1/models"]);
    assert_eq!(anthropic_seen.lock().unwrap().clone(), ["GET /v1/models"]);

    // count_tokens is routed and its content redacted like a message
    let ssn = "536-90-4399";
    let body = json!({"model": "claude-sonnet-4", "messages": [{"role": "user",
        "content": format!("my SSN is {ssn}")}]});
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/messages/count_tokens",
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        anthropic_seen.lock().unwrap().last().unwrap(),
        "POST /v1/messages/count_tokens"
    );

    // a file upload is inspected: a private key in a multipart part blocks it
    let key = "-----BEGIN RSA PRIVATE KEY-----\nOQyMfXJHNCzYEA8vb3cNZdZw5Y4DUdiujk9urDQvwjG3sIcW6z/BKJa5YiMXdJQo\ndzPCjui6U721a4gkV31T7MKKcKYcdRChzYkhbKFs/8rqSYdHfobbzLlwRvwuGDhO\nUdggxcPvgAU6iK45lt5Q6AGGWzaYZU6/UgCl+gk5uZ16HXsoK/gjQEHzVIfYbGaf\n-----END RSA PRIVATE KEY-----\n";
    let multipart = format!(
        "--b\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n--b\r\ncontent-disposition: form-data; name=\"file\"; filename=\"d.jsonl\"\r\ncontent-type: application/jsonl\r\n\r\n{{\"messages\":[{{\"role\":\"user\",\"content\":{}}}]}}\r\n--b--\r\n",
        serde_json::to_string(key).unwrap()
    );
    let before = openai_seen.lock().unwrap().len();
    let (status, _, body) = call(
        gw.addr,
        "POST",
        "/v1/files",
        &[("content-type", "multipart/form-data; boundary=b")],
        multipart,
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        openai_seen.lock().unwrap().len(),
        before,
        "nothing was sent"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "rampart_blocked");

    let events = audit_events(dir.path(), 4).await;
    let files = events.iter().find(|e| e["path"] == "/v1/files").unwrap();
    assert_eq!(files["provider"], "openai");
    assert_eq!(files["reason"], "rampart_blocked");
}

#[tokio::test]
async fn an_http2_stream_reset_leaves_an_event_and_the_connection_serves_on() {
    let (url, _) = slow_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_to(&url, dir.path(), |_| {}).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = |model: &str| {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hello"}]});
        http::Request::post(format!("http://{}/v1/chat/completions", gw.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    // the response future dropped mid-request: the client resets the stream
    let cut =
        tokio::time::timeout(Duration::from_millis(300), client.request(req("hang-h2"))).await;
    assert!(cut.is_err(), "the upstream hangs");
    let events = audit_events(dir.path(), 1).await;
    assert_eq!(events[0]["reason"], "client_gone", "{events:?}");
    assert_eq!(events[0]["model"], "hang-h2");
    // the same connection serves the next stream
    let resp = client.request(req("gpt-4o")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
}
