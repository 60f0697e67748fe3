//! A stand-in AI provider for load benchmarks: answers `POST /v1/chat/completions` at once
//! with a fixed OpenAI-shaped completion, or a server-sent-event stream of 20 chunks when the
//! request asks for `"stream": true`. `rampart-bench-upstream ADDR` (default 127.0.0.1:9000).
#![forbid(unsafe_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

fn completion() -> Bytes {
    Bytes::from_static(br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Here is a short answer with nothing sensitive in it, just enough text to look like a real reply from a model."},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":24,"total_tokens":274}}"#)
}

fn stream() -> Bytes {
    let mut s = String::new();
    for i in 0..20 {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    Bytes::from(s)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bench upstream on http://{}", listener.local_addr()?);
    let (plain, sse) = (completion(), stream());
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (plain, sse) = (plain.clone(), sse.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (plain, sse) = (plain.clone(), sse.clone());
                async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let wants_stream = body.as_ref().is_ok_and(|b| memchr_stream(b));
                    let (ctype, bytes) = if wants_stream {
                        ("text/event-stream", sse)
                    } else {
                        ("application/json", plain)
                    };
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("content-type", ctype)
                            .body(Full::new(bytes))
                            .expect("static response"),
                    )
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn memchr_stream(body: &[u8]) -> bool {
    body.windows(14)
        .any(|w| w == br#""stream": true"# || w.starts_with(br#""stream":true"#))
}
