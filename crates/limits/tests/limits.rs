//! The limiter's semantics, the same for the in-memory backend and a real Redis (started by the
//! test on a loopback port; `scripts/test.sh` installs `redis-server`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rampart_limits::redis::RedisBackend;
use rampart_limits::testing::RedisServer;
use rampart_limits::{Fallback, Limiter, Outcome, Usage, plan};
use rampart_policy::{Budget, Exchange, KeyPart, Limit, Quantity, Rate, Window};

fn limit(name: &str) -> Limit {
    Limit {
        name: name.into(),
        key: vec![KeyPart::Caller],
        requests: None,
        concurrent: None,
        budgets: Vec::new(),
        max_tokens_per_request: None,
    }
}

fn ex(caller: &str) -> Exchange {
    let mut ex = Exchange::default();
    ex.caller.key_id = Some(caller.into());
    ex.model = Some("gpt-4o-mini".into());
    ex
}

async fn limiters() -> Vec<(&'static str, Limiter, Option<RedisServer>)> {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url(), Duration::from_millis(500))
        .await
        .unwrap();
    vec![
        ("local", Limiter::local(), None),
        (
            "redis",
            Limiter::shared(backend, Fallback::Closed),
            Some(server),
        ),
    ]
}

fn admitted(o: &Outcome) -> bool {
    matches!(o, Outcome::Admitted { .. })
}

#[tokio::test]
async fn gcra_admits_the_burst_then_the_rate() {
    for (name, limiter, _server) in limiters().await {
        let mut l = limit(&format!("rate-{name}"));
        l.requests = Some(Rate {
            count: 5,
            interval_ms: 60_000,
            burst: 5,
        });
        let l = Arc::new(l);
        let mut admitted_n = 0;
        let mut last = None;
        for i in 0..8 {
            let p = plan(vec![l.clone()], &ex("a"), Usage::default(), format!("x{i}"));
            let o = limiter.admit(&p).await.unwrap();
            if admitted(&o) {
                admitted_n += 1;
            }
            last = Some(o);
        }
        assert_eq!(admitted_n, 5, "{name}: a burst of 5, then one per 12 s");
        match last.unwrap() {
            Outcome::Denied(d) => assert!(
                (11_000..=12_000).contains(&d.retry_after_ms),
                "{name}: {d:?}"
            ),
            other => panic!("{name}: {other:?}"),
        }
        // another caller has its own budget
        let p = plan(vec![l.clone()], &ex("b"), Usage::default(), "y".into());
        assert!(admitted(&limiter.admit(&p).await.unwrap()), "{name}");
    }
}

#[tokio::test]
async fn concurrency_leases_are_released_at_settlement() {
    for (name, limiter, _server) in limiters().await {
        let mut l = limit(&format!("conc-{name}"));
        l.concurrent = Some(2);
        let l = Arc::new(l);
        let p = |id: &str| plan(vec![l.clone()], &ex("a"), Usage::default(), id.into());
        let t1 = match limiter.admit(&p("1")).await.unwrap() {
            Outcome::Admitted { ticket, remaining } => {
                assert_eq!(remaining[0].remaining, 1, "{name}");
                ticket
            }
            o => panic!("{name}: {o:?}"),
        };
        assert!(admitted(&limiter.admit(&p("2")).await.unwrap()), "{name}");
        assert!(
            !admitted(&limiter.admit(&p("3")).await.unwrap()),
            "{name}: two in flight"
        );
        limiter.settle(&t1, Usage::default()).await;
        assert!(
            admitted(&limiter.admit(&p("4")).await.unwrap()),
            "{name}: one released"
        );
    }
}

#[tokio::test]
async fn budgets_reserve_then_settle_to_actual_usage_exactly() {
    for (name, limiter, _server) in limiters().await {
        let mut l = limit(&format!("tok-{name}"));
        l.budgets = vec![
            Budget {
                what: Quantity::TotalTokens,
                window: Window::Day,
                max: 1_000,
            },
            Budget {
                what: Quantity::SpendMicros,
                window: Window::Month,
                max: 50_000,
            },
        ];
        let l = Arc::new(l);
        let expect = Usage {
            input: 300,
            output: 100,
            cost_micros: 1_000,
        };
        let p = |id: &str| plan(vec![l.clone()], &ex("a"), expect, id.into());
        let ticket = |o: Outcome| match o {
            Outcome::Admitted { ticket, .. } => ticket,
            o => panic!("{name}: {o:?}"),
        };
        let r0 = ticket(limiter.admit(&p("r0")).await.unwrap());
        let r1 = ticket(limiter.admit(&p("r1")).await.unwrap());
        // 800 reserved: 400 more do not fit in 1,000
        assert!(!admitted(&limiter.admit(&p("r2")).await.unwrap()), "{name}");
        limiter
            .settle(
                &r0,
                Usage {
                    input: 250,
                    output: 50,
                    cost_micros: 700,
                },
            )
            .await;
        // 400 (r1) + 300 (r0's actual): still no room for 400
        assert!(!admitted(&limiter.admit(&p("r2")).await.unwrap()), "{name}");
        limiter
            .settle(
                &r1,
                Usage {
                    input: 150,
                    output: 50,
                    cost_micros: 500,
                },
            )
            .await;
        let r2 = ticket(limiter.admit(&p("r2")).await.unwrap());
        limiter
            .settle(
                &r2,
                Usage {
                    input: 90,
                    output: 10,
                    cost_micros: 300,
                },
            )
            .await;
        // the counters hold exactly what was used
        let usage = limiter.usage().await;
        let value = |part: &str| {
            usage
                .iter()
                .find(|(k, _)| k.starts_with(&format!("rl:tok-{name}|a:{part}")))
                .map(|(_, v)| *v)
        };
        assert_eq!(value("tok:d"), Some(300 + 200 + 100), "{name}: {usage:?}");
        assert_eq!(value("usd:M"), Some(700 + 500 + 300), "{name}: {usage:?}");
    }
}

#[tokio::test]
async fn a_refused_plan_moves_no_counter() {
    for (name, limiter, _server) in limiters().await {
        let mut rate = limit(&format!("r-{name}"));
        rate.requests = Some(Rate {
            count: 100,
            interval_ms: 60_000,
            burst: 100,
        });
        let mut budget = limit(&format!("b-{name}"));
        budget.budgets = vec![Budget {
            what: Quantity::InputTokens,
            window: Window::Minute,
            max: 100,
        }];
        let limits = vec![Arc::new(rate), Arc::new(budget)];
        let big = Usage {
            input: 150,
            ..Usage::default()
        };
        let o = limiter
            .admit(&plan(limits.clone(), &ex("a"), big, "big".into()))
            .await
            .unwrap();
        assert!(
            matches!(o, Outcome::Denied(ref d) if d.check == 1),
            "{name}: {o:?}"
        );
        // the rate check passed but must not have counted: 100 more requests fit
        let small = Usage {
            input: 1,
            ..Usage::default()
        };
        let mut n = 0;
        for i in 0..100 {
            if admitted(
                &limiter
                    .admit(&plan(limits.clone(), &ex("a"), small, format!("s{i}")))
                    .await
                    .unwrap(),
            ) {
                n += 1;
            }
        }
        assert_eq!(n, 100, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_store_follows_the_fallback_without_hanging() {
    // a port nothing listens on
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let mut l = limit("fallback");
    l.requests = Some(Rate {
        count: 2,
        interval_ms: 60_000,
        burst: 2,
    });
    let l = Arc::new(l);
    for (fallback, want_admitted) in [
        (Fallback::Local, 2),
        (Fallback::Open, 5),
        (Fallback::Closed, 0),
    ] {
        let backend = RedisBackend::new(&url, Duration::from_millis(100)).unwrap();
        let limiter = Limiter::shared(backend, fallback);
        let started = std::time::Instant::now();
        let mut admitted_n = 0;
        for i in 0..5 {
            match limiter
                .admit(&plan(
                    vec![l.clone()],
                    &ex("a"),
                    Usage::default(),
                    format!("{i}"),
                ))
                .await
            {
                Ok(o) if admitted(&o) => admitted_n += 1,
                Ok(_) => {}
                Err(e) => assert_eq!(fallback, Fallback::Closed, "{e}"),
            }
        }
        assert_eq!(admitted_n, want_admitted, "{fallback:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{fallback:?}: no hang"
        );
        assert!(
            limiter
                .counters
                .errors
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        );
        assert_eq!(
            limiter
                .counters
                .fallback
                .load(std::sync::atomic::Ordering::Relaxed),
            5
        );
    }
}
