//! Four `rampart up` processes share one budget through a real Redis (started here on a
//! loopback port): under concurrent load the admitted requests never exceed the limit, token
//! budgets settle exactly to the provider's reported usage, and when Redis is killed the
//! configured fallback (closed) answers at once, until Redis is back and decisions are shared
//! again. Three share one budget through a real three-primary Redis Cluster the same way.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rampart_limits::testing::{RedisCluster, RedisServer};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stand-in OpenAI answering every chat call with 10 prompt and 5 completion tokens.
async fn provider() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let body = r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                                .unwrap(),
                        )
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
            });
        }
    });
    addr
}

/// `rampart up` with `config`; returns the process and its (data, admin) addresses.
fn gateway(
    config: &std::path::Path,
    policy: &std::path::Path,
    data: &std::path::Path,
    upstream: &str,
) -> (Proc, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(config)
        .arg("--policy")
        .arg(policy)
        .arg("--data-dir")
        .arg(data)
        .args(["--upstream", &format!("openai={upstream}")])
        .env("RAMPART_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let banner = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("gateway on"))
        .expect("a start-up line");
    // keep draining stderr so the process never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    let addr = banner
        .split("gateway on http://")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let admin = banner
        .split("admin http://")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    (Proc(child), addr, admin)
}

async fn post(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    addr: &str,
) -> u16 {
    let body = r#"{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hello there"}]}"#;
    let req = hyper::Request::post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            status
        }
        Ok(Err(_)) => 599,
        Err(_) => 598,
    }
}

async fn admin_json(admin: &str) -> serde_json::Value {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = client
        .get(format!("http://{admin}/admin/limits").parse().unwrap())
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// `tasks` concurrent clients each send `each` requests, spread over `addrs` in turn; the
/// counts of 200, 429 and other answers.
async fn spread(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    addrs: &Arc<Vec<String>>,
    tasks: usize,
    each: usize,
) -> (usize, usize, usize) {
    let (ok, limited, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (client, addrs, ok, limited, other) = (
            client.clone(),
            addrs.clone(),
            ok.clone(),
            limited.clone(),
            other.clone(),
        );
        handles.push(tokio::spawn(async move {
            for i in 0..each {
                match post(&client, &addrs[(t + i) % addrs.len()]).await {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => limited.fetch_add(1, Ordering::Relaxed),
                    _ => other.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (
        ok.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    )
}

/// The daily token counter that `/admin/limits` of `admin` shows once it reaches `want` (or
/// what it shows after 2.5 s), checking that the store is `store`.
async fn settled_tokens(admin: &str, store: &str, want: i64) -> Option<i64> {
    let mut settled = None;
    for _ in 0..50 {
        let usage = admin_json(admin).await;
        assert_eq!(usage["store"], store);
        settled = usage["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"].as_str().unwrap().contains(":tok:d:"))
            .map(|c| c["value"].as_i64().unwrap());
        if settled == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_gateways_share_one_budget_through_redis_and_survive_its_loss() {
    const LIMIT: usize = 40;
    let mut store = Some(RedisServer::start());
    let redis_port = store.as_ref().expect("started").port;
    let upstream = format!("http://{}", provider().await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.yaml");
    // a generous timeout: on a loaded machine (the whole suite runs in parallel) a live Redis
    // may take longer than the default to answer, and a timeout would count as its loss
    std::fs::write(
        &config,
        format!("rate_limits: {{redis_url: \"redis://127.0.0.1:{redis_port}/\", redis_timeout_ms: 1000, fallback: closed}}\n"),
    )
    .unwrap();
    // one budget for all: 40 requests per hour (a burst of 40, then one per 90 s), and tokens
    let policy = dir.path().join("limits.yaml");
    std::fs::write(
        &policy,
        format!("apiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: shared}}\nspec:\n  requests: {{count: {LIMIT}, per: 1h}}\n  tokens: {{total: {{perDay: 1000000}}}}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: everyone}}\nspec:\n  limits: [shared]\n"),
    )
    .unwrap();
    let mut gateways = Vec::new();
    for i in 0..4 {
        let data = dir.path().join(format!("data{i}"));
        gateways.push(gateway(&config, &policy, &data, &upstream));
    }
    let addrs: Arc<Vec<String>> = Arc::new(gateways.iter().map(|g| g.1.clone()).collect());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();

    // phase 1: 160 requests from 16 concurrent clients spread over the 4 gateways
    let started = Instant::now();
    let (admitted, limited, other) = spread(&client, &addrs, 16, 10).await;
    let elapsed = started.elapsed();
    // the documented bound: at most burst + elapsed / emission interval (90 s) are admitted
    let bound = LIMIT + (elapsed.as_secs() / 90) as usize;
    assert_eq!(other, 0, "no other answers");
    assert!(admitted <= bound, "admitted {admitted} > bound {bound}");
    assert_eq!(
        admitted, LIMIT,
        "the whole burst is used, across four replicas"
    );
    assert_eq!(limited, 160 - LIMIT);
    // token budgets settle exactly: 15 reported tokens per admitted call
    let settled = settled_tokens(&gateways[0].2, "redis", 15 * LIMIT as i64).await;
    assert_eq!(
        settled,
        Some(15 * LIMIT as i64),
        "tokens settled to the reported usage"
    );

    // phase 2: Redis is killed; the fallback (closed) refuses at once, nothing hangs
    drop(store.take());
    let started = Instant::now();
    for i in 0..8 {
        let status = post(&client, &addrs[i % 4]).await;
        assert_eq!(status, 503, "request {i} while the store is down");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        started.elapsed()
    );
    let usage = admin_json(&gateways[1].2).await;
    assert!(usage["store_errors"].as_u64().unwrap() >= 1, "{usage}");
    assert!(
        usage["fallback_decisions"].as_u64().unwrap() >= 1,
        "{usage}"
    );

    // phase 3: Redis is back (empty: it kept nothing). Each replica tries it again after its
    // back-off (1 s) and shared decisions resume by themselves: the fresh budget is shared
    // again, so exactly LIMIT more calls are admitted across the four, then all are refused
    store = Some(RedisServer::on(redis_port));
    let mut admitted_after = 0;
    let mut limited_seen = [false; 4];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !limited_seen.iter().all(|&s| s) {
        assert!(
            Instant::now() < deadline,
            "recovery took too long: {limited_seen:?}"
        );
        for g in 0..4 {
            match post(&client, &addrs[g]).await {
                200 => admitted_after += 1,
                429 => limited_seen[g] = true,
                503 => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert_eq!(
        admitted_after, LIMIT,
        "a fresh shared budget after the restart"
    );
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateways_share_one_budget_through_a_redis_cluster() {
    const LIMIT: usize = 30;
    let cluster = RedisCluster::start(3, 0);
    let upstream = format!("http://{}", provider().await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.yaml");
    // one seed node is enough: the others are found from the cluster's slot map
    let seed = &cluster.urls()[1];
    std::fs::write(
        &config,
        format!("rate_limits: {{redis_cluster: [\"{seed}\"], redis_timeout_ms: 1000, fallback: closed}}\n"),
    )
    .unwrap();
    // two limits whose counters live in different hash slots: a request budget per hour and a
    // token budget per day
    let policy = dir.path().join("limits.yaml");
    std::fs::write(
        &policy,
        format!("apiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: calls}}\nspec:\n  requests: {{count: {LIMIT}, per: 1h}}\n---\napiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {{name: spend}}\nspec:\n  tokens: {{total: {{perDay: 1000000}}}}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: everyone}}\nspec:\n  limits: [calls, spend]\n"),
    )
    .unwrap();
    let mut gateways = Vec::new();
    for i in 0..3 {
        let data = dir.path().join(format!("data{i}"));
        gateways.push(gateway(&config, &policy, &data, &upstream));
    }
    let addrs: Arc<Vec<String>> = Arc::new(gateways.iter().map(|g| g.1.clone()).collect());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let (ok, limited, other) = spread(&client, &addrs, 12, 10).await;
    assert_eq!(other, 0, "no other answers");
    // 120 requests in well under the 120 s the next request would need
    assert_eq!(ok, LIMIT, "one burst across three replicas");
    assert_eq!(limited, 120 - LIMIT);
    // the token budget, in another slot, settled exactly to the reported usage, and nothing
    // was counted for the refused requests
    let settled = settled_tokens(&gateways[2].2, "redis-cluster", 15 * LIMIT as i64).await;
    assert_eq!(
        settled,
        Some(15 * LIMIT as i64),
        "tokens settled to the reported usage"
    );
}
