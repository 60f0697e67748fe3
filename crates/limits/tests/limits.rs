//! The limiter's semantics, the same for the in-memory backend and a real Redis (started by the
//! test on a loopback port; `scripts/test.sh` installs `redis-server`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rampart_limits::redis::RedisBackend;
use rampart_limits::testing::{RedisCluster, RedisServer};
use rampart_limits::{Fallback, Limiter, Outcome, Usage, key_of, plan};
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

/// What keeps a limiter's store running until the test ends.
#[allow(dead_code)]
enum Store {
    Server(RedisServer),
    Cluster(RedisCluster),
}

/// The same semantics on every backend: in memory, one Redis, and a Redis Cluster of three
/// primaries (a plan whose limits hash to different slots is decided slot by slot there).
async fn limiters() -> Vec<(&'static str, Limiter, Option<Store>)> {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url(), Duration::from_millis(500))
        .await
        .unwrap();
    let cluster = RedisCluster::start(3, 0);
    let clustered = RedisBackend::connect_cluster(&cluster.urls(), Duration::from_millis(500))
        .await
        .unwrap();
    assert!(clustered.is_cluster());
    vec![
        ("local", Limiter::local(), None),
        (
            "redis",
            Limiter::shared(backend, Fallback::Closed),
            Some(Store::Server(server)),
        ),
        (
            "cluster",
            Limiter::shared(clustered, Fallback::Closed),
            Some(Store::Cluster(cluster)),
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
                .find(|(k, _)| k.starts_with(&format!("rl:{{tok-{name}|a}}:{part}")))
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
        // in a cluster the two limits live in different slots: two scripts, and the refusal
        // of the second gives back what the first took
        let keys: Vec<String> = limits.iter().map(|l| key_of(l, &ex("a"))).collect();
        assert_ne!(
            redis::cluster_routing::Slot::for_key(&keys[0]),
            redis::cluster_routing::Slot::for_key(&keys[1]),
            "{keys:?}"
        );
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

/// Load through a Redis Cluster while the primary that owns the limit's keys is killed: the
/// replica takes over, the limiter answers from its fallback meanwhile and then decides through
/// the cluster again, and the counters the replica had received are still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failover_mid_load_keeps_the_counters_and_the_service() {
    use std::sync::atomic::Ordering::Relaxed;
    let mut cluster = RedisCluster::start(3, 1);
    let backend = RedisBackend::connect_cluster(&cluster.urls(), Duration::from_millis(200))
        .await
        .unwrap();
    let limiter = Limiter::shared(backend, Fallback::Local);
    let mut l = limit("failover");
    l.requests = Some(Rate {
        count: 1_000_000,
        interval_ms: 60_000,
        burst: 1_000_000,
    });
    l.budgets = vec![Budget {
        what: Quantity::InputTokens,
        window: Window::Day,
        max: 1_000_000,
    }];
    let l = Arc::new(l);
    let key = key_of(&l, &ex("a"));
    let owner = cluster.primary_of(&key).expect("a primary serves the key");
    let one = Usage {
        input: 1,
        ..Usage::default()
    };
    let mut i = 0u64;
    let mut step = async |limiter: &Limiter| {
        i += 1;
        let o = limiter
            .admit(&plan(vec![l.clone()], &ex("a"), one, format!("f{i}")))
            .await
            .unwrap();
        match o {
            Outcome::Admitted { ticket, .. } => limiter.settle(&ticket, one).await,
            o => panic!("{o:?}"),
        }
    };
    for _ in 0..200 {
        step(&limiter).await;
    }
    assert_eq!(limiter.counters.shared.load(Relaxed), 200);
    // let the replica catch up, then kill the owner mid-load
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.kill(owner);
    let killed = std::time::Instant::now();
    let mut promoted = None;
    let mut looked = std::time::Instant::now();
    while killed.elapsed() < Duration::from_secs(30) {
        step(&limiter).await;
        // a replica serves the slot and the cluster is whole again
        if promoted.is_none() && looked.elapsed() > Duration::from_millis(100) {
            looked = std::time::Instant::now();
            if cluster.primary_of(&key).is_some_and(|p| p != owner) && cluster.healthy() {
                promoted = Some(killed.elapsed());
            }
        }
        if let Some(at) = promoted
            && killed.elapsed() > at + Duration::from_secs(3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let promoted = promoted.expect("the replica took over within 30 s");
    let new_owner = cluster
        .primary_of(&key)
        .expect("a primary serves the key again");
    assert_ne!(new_owner, owner);
    // decisions go through the cluster again
    let shared_before = limiter.counters.shared.load(Relaxed);
    for _ in 0..50 {
        step(&limiter).await;
    }
    assert_eq!(
        limiter.counters.shared.load(Relaxed),
        shared_before + 50,
        "promoted after {promoted:?}; errors {}",
        limiter.counters.errors.load(Relaxed)
    );
    // the budget counter kept what the replica had received before the kill
    let usage = limiter.usage().await;
    let used = usage
        .iter()
        .find(|(k, _)| k.starts_with("rl:{failover|a}:in:d"))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{usage:?}"));
    assert!(used >= 200 + 50, "{used}: {usage:?}");
    assert!(limiter.counters.fallback.load(Relaxed) >= 1);
    eprintln!(
        "failover: replica serving after {promoted:?}; {} decisions by the fallback, {} errors, budget counter {used}",
        limiter.counters.fallback.load(Relaxed),
        limiter.counters.errors.load(Relaxed)
    );
}

/// Two replicas behind one Redis each see half of a caller's embedding calls: with the counts
/// shared through the store, the burst signal is raised as for one replica seeing all of them.
#[tokio::test]
async fn embedding_bursts_are_counted_across_replicas_through_the_store() {
    use rampart_limits::abuse::{CallKind, Thresholds, Tracker};
    let server = RedisServer::start();
    let thresholds = Thresholds {
        embedding_rate: 10,
        ..Thresholds::default()
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let backend = RedisBackend::connect(&server.url(), Duration::from_millis(500))
            .await
            .unwrap();
        let tracker = Tracker::new(thresholds.clone());
        tracker.share_counts();
        replicas.push((tracker, Limiter::shared(backend, Fallback::Local)));
    }
    let now = 1_800_000_000_000u64 + 5_000;
    let call = |t: &Tracker| t.observe_request("caller-x", CallKind::Embedding, "", now);
    for _ in 0..6 {
        for (t, _) in &replicas {
            assert!(call(t).is_empty());
        }
    }
    for (t, l) in &replicas {
        l.share_counts(t, 64).await;
    }
    // the next call of the first replica is sent with its next flush, which brings back the
    // other replica's count: 13 in all
    assert!(call(&replicas[0].0).is_empty(), "7 seen here so far");
    replicas[0].1.share_counts(&replicas[0].0, 64).await;
    assert!(
        call(&replicas[0].0).contains(&"embedding_enumeration"),
        "14 across the replicas"
    );
    // a replica alone sees its own 8 only
    let alone = Tracker::new(thresholds);
    let mut last = Vec::new();
    for _ in 0..8 {
        last = alone.observe_request("caller-x", CallKind::Embedding, "", now);
    }
    assert!(last.is_empty(), "{last:?}");
}
