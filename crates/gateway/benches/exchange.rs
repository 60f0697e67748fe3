//! What the inspection of one exchange costs without the network: the request head and body
//! (1 KB and 16 KB chat prompts, as in `bench/gateway.sh`) and the response head and body
//! (the stand-in provider's completion), through the exchange core of a gateway built on its
//! defaults. `cargo bench -p rampart-gateway --bench exchange`

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use rampart_exchange::RequestHead;
use rampart_gateway::{Config, Gateway};

const PARA: &str = "Please summarise the following meeting notes for the team and list the action items. We discussed the roadmap for the next quarter, the hiring plan and the budget review. ";

const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Here is a short answer with nothing sensitive in it, just enough text to look like a real reply from a model."},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":24,"total_tokens":274}}"#;

fn body(size: usize) -> Bytes {
    let text: String = PARA.repeat(size / PARA.len() + 1)[..size].to_owned();
    let json = serde_json::json!({
        "model": "gpt-4o-mini",
        "stream": false,
        "messages": [{"role": "user", "content": text}],
    });
    Bytes::from(serde_json::to_vec(&json).unwrap())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gw = rt
        .block_on(Gateway::new(Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        }))
        .unwrap();
    let engine = gw.engine();
    let mut req_headers = HeaderMap::new();
    req_headers.insert("content-type", HeaderValue::from_static("application/json"));
    req_headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    let mut resp_headers = HeaderMap::new();
    resp_headers.insert("content-type", HeaderValue::from_static("application/json"));
    let head = RequestHead {
        method: "POST",
        path: "/v1/chat/completions",
        query: "",
        headers: &req_headers,
        peer: "127.0.0.1".parse().unwrap(),
        host: Some("127.0.0.1:8080".into()),
        origin: None,
    };
    let mut g = c.benchmark_group("exchange");
    for (name, size) in [("1k", 900), ("16k", 16000)] {
        let raw = body(size);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(format!("request_{name}"), |b| {
            b.iter(|| {
                let (mut ex, verdict) = engine.request_head(gw.policy_set(), &head);
                assert!(verdict.is_ok());
                assert!(ex.request_body(engine, &req_headers, raw.clone()).is_ok());
                ex
            })
        });
        g.bench_function(format!("exchange_{name}"), |b| {
            b.iter(|| {
                let (mut ex, _) = engine.request_head(gw.policy_set(), &head);
                assert!(ex.request_body(engine, &req_headers, raw.clone()).is_ok());
                let (mut headers, _) = ex.response_head(engine, &resp_headers);
                assert!(
                    ex.response_body(engine, &mut headers, Bytes::from_static(COMPLETION))
                        .is_ok()
                );
                ex
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
