//! The cost of a limits decision: in memory (one rate check, and a full plan with a rate,
//! concurrency and two budgets), and through a real Redis on loopback (one round trip per
//! decision; started here). Also prints Redis decisions per second with 16 concurrent callers.
//! `cargo bench -p rampart-limits --bench decide` (needs `redis-server` on the PATH)

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_limits::local::LocalBackend;
use rampart_limits::redis::RedisBackend;
use rampart_limits::testing::RedisServer;
use rampart_limits::{Fallback, Limiter, Outcome, Usage, plan};
use rampart_policy::{Budget, Exchange, KeyPart, Limit, Quantity, Rate, Window};

fn limits() -> (Arc<Limit>, Arc<Limit>) {
    let rate = Limit {
        name: "rate".into(),
        key: vec![KeyPart::Caller],
        requests: Some(Rate {
            count: u64::MAX / 4,
            interval_ms: 1,
            burst: 1 << 40,
        }),
        concurrent: None,
        budgets: Vec::new(),
        max_tokens_per_request: None,
    };
    let full = Limit {
        name: "full".into(),
        key: vec![KeyPart::Caller, KeyPart::Model],
        requests: Some(Rate {
            count: 1 << 40,
            interval_ms: 1_000,
            burst: 1 << 40,
        }),
        concurrent: Some(1 << 40),
        budgets: vec![
            Budget {
                what: Quantity::TotalTokens,
                window: Window::Minute,
                max: u64::MAX / 4,
            },
            Budget {
                what: Quantity::SpendMicros,
                window: Window::Day,
                max: u64::MAX / 4,
            },
        ],
        max_tokens_per_request: None,
    };
    (Arc::new(rate), Arc::new(full))
}

fn exchange() -> Exchange {
    let mut ex = Exchange::default();
    ex.caller.key_id = Some("team-a".into());
    ex.model = Some("gpt-4o-mini".into());
    ex
}

fn bench(c: &mut Criterion) {
    let (rate, full) = limits();
    let ex = exchange();
    let expect = Usage {
        input: 300,
        output: 100,
        cost_micros: 100,
    };
    let local = LocalBackend::new();
    let mut g = c.benchmark_group("limits");
    let one = plan(vec![rate.clone()], &ex, expect, "x".into());
    g.bench_function("local_admit_one_rate_check", |b| {
        b.iter(|| {
            matches!(
                local.admit(&one, rampart_limits::now_us()),
                Outcome::Admitted { .. }
            )
        })
    });
    g.bench_function("local_plan_and_admit_one_rate_check", |b| {
        b.iter(|| {
            let p = plan(vec![rate.clone()], &ex, expect, "x".into());
            matches!(
                local.admit(&p, rampart_limits::now_us()),
                Outcome::Admitted { .. }
            )
        })
    });
    let mut n = 0u64;
    g.bench_function("local_admit_and_settle_full_plan", |b| {
        b.iter(|| {
            n += 1;
            let p = plan(vec![full.clone()], &ex, expect, format!("l{n}"));
            if let Outcome::Admitted { ticket, .. } = local.admit(&p, rampart_limits::now_us()) {
                local.settle(&ticket, expect);
            }
        })
    });

    // Redis on loopback
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    let limiter = Arc::new(rt.block_on(async {
        Limiter::shared(
            RedisBackend::connect(&url, Duration::from_secs(1))
                .await
                .unwrap(),
            Fallback::Closed,
        )
    }));
    g.bench_function("redis_admit_one_rate_check", |b| {
        b.iter(|| rt.block_on(limiter.admit(&one)).unwrap())
    });
    let mut m = 0u64;
    g.bench_function("redis_admit_and_settle_full_plan", |b| {
        b.iter(|| {
            m += 1;
            let p = plan(vec![full.clone()], &ex, expect, format!("r{m}"));
            rt.block_on(async {
                if let Outcome::Admitted { ticket, .. } = limiter.admit(&p).await.unwrap() {
                    limiter.settle(&ticket, expect).await;
                }
            })
        })
    });
    g.finish();

    // decisions per second with 16 concurrent callers on one connection
    let seconds = 3;
    let count = rt.block_on(async {
        let stop = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for t in 0..16 {
            let (limiter, rate, ex) = (limiter.clone(), rate.clone(), ex.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let p = plan(vec![rate], &ex, Usage::default(), format!("t{t}"));
                while Instant::now() < stop {
                    limiter.admit(&p).await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    println!(
        "limits/redis_decisions_per_second_16_concurrent: {:.0} decisions/s ({count} in {seconds} s)",
        count as f64 / seconds as f64
    );
    drop(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
