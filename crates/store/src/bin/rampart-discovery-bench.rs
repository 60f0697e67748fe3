//! How fast discovery takes exchanges in, and what it holds: records folded into batches per
//! second, batches written to SQLite and to PostgreSQL per second (as events), and resident
//! memory over many events. `rampart-discovery-bench [--events N] [--postgres URL]`
//! (`RAMPART_TEST_POSTGRES` is used when `--postgres` is not given).
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::time::Instant;

use rampart_discover::openapi::Specs;
use rampart_discover::{Inventory, Observed, Rows};
use rampart_store::Store;

/// Events per batch (about one second of a busy gateway).
const BATCH: u64 = 10_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The `i`th event: 40 hosts (one a third-party API, one a store on its port), 12 endpoint
/// shapes each, ids that never repeat, a few classes.
fn event(i: u64) -> Observed {
    let host = match i % 40 {
        38 => "api.partner.example.com".to_owned(),
        n => format!("svc{n}.internal"),
    };
    let (method, path) = match i % 12 {
        0 => ("GET", format!("/api/v1/users/{}", i)),
        1 => ("GET", format!("/api/v1/users/{}/orders", i)),
        2 => ("POST", "/api/v1/orders".to_owned()),
        3 => (
            "GET",
            format!("/api/v1/orders/{:032x}", i as u128 * 0x9e37_79b9),
        ),
        4 => ("PUT", format!("/api/v1/carts/{}/items/{}", i, i % 97)),
        5 => ("GET", "/health".to_owned()),
        6 => ("GET", format!("/files/{:024x}", i as u128 * 31)),
        7 => ("DELETE", format!("/api/v2/sessions/{}", i)),
        8 => ("GET", format!("/reports/2024-05-{:02}", 1 + i % 28)),
        9 => ("POST", "/v1/chat/completions".to_owned()),
        10 => ("GET", format!("/search/item{}x", i % 5)),
        _ => ("PATCH", format!("/api/v1/users/{}/profile", i)),
    };
    let mut request_classes = BTreeSet::new();
    if i.is_multiple_of(7) {
        request_classes.insert("EMAIL_ADDRESS".to_owned());
    }
    let mut response_classes = BTreeSet::new();
    if i.is_multiple_of(11) {
        response_classes.insert("US_SSN".to_owned());
    }
    Observed {
        time: Some(rampart_discover::rfc3339_ms(
            1_714_557_600_000 + u128::from(i),
        )),
        caller: Some(format!("workload-{}", i % 25)),
        host,
        port: (i % 40 == 39).then_some(9200),
        key: (i % 12 == 9).then(|| format!("fp:{:016x}", i % 50)),
        method: method.into(),
        path,
        status: Some(if i.is_multiple_of(50) { 500 } else { 200 }),
        auth: if i.is_multiple_of(3) {
            "bearer"
        } else {
            "api_key"
        },
        request_classes,
        response_classes,
        ai: (i % 12 == 9).then(|| ("openai".to_owned(), vec!["gpt-4o-mini".to_owned()])),
        usage: (i % 12 == 9).then_some((250, 40, 62)),
        findings: Vec::new(),
        via_gateway: i.is_multiple_of(2),
        // one exchange in a thousand is sampled for its schema, as the gateway does at
        // 20 a second under 20k requests a second
        schemas: i.is_multiple_of(1000).then(|| {
            let mut response = rampart_discover::schema::Schema::default();
            response.observe(&serde_json::json!({"id": i, "email": "x@y.io", "tags": ["a"]}));
            response.tag(&["email".into()], "EMAIL_ADDRESS");
            Box::new((rampart_discover::schema::Schema::default(), response))
        }),
    }
}

/// Folds `n` events batch by batch as the live pipeline does; returns the batches, the
/// seconds folding took, and the resident memory after each tenth of the events.
fn fold(n: u64, keep: bool) -> (Vec<Rows>, f64, Vec<u64>) {
    let mut inv = Inventory::new(Specs::default(), []);
    let mut out = Vec::new();
    let start = Instant::now();
    let mut rss = Vec::new();
    for i in 0..n {
        inv.observe(&event(i));
        if (i + 1).is_multiple_of(BATCH) {
            let rows = inv.take_rows();
            if keep {
                out.push(rows);
            }
        }
        if (i + 1).is_multiple_of((n / 10).max(1)) {
            rss.push(rss_kib());
        }
    }
    (out, start.elapsed().as_secs_f64(), rss)
}

async fn write(store: &Store, batches: &[Rows]) -> f64 {
    let start = Instant::now();
    for b in batches {
        store.add(b).await.expect("the store takes the batch");
    }
    start.elapsed().as_secs_f64()
}

/// Prints one store's ingest rate.
fn report(store: &str, secs: f64, batches: &[Rows], rows: usize) {
    let events = BATCH * batches.len() as u64;
    println!(
        "{store}: {events} events in {} batches ({rows} endpoint rows) in {secs:.2} s = {:.0} events/s, {:.1} ms per batch",
        batches.len(),
        events as f64 / secs,
        secs * 1e3 / batches.len() as f64
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut events: u64 = 10_000_000;
    let mut postgres = std::env::var("RAMPART_TEST_POSTGRES").ok();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().and_then(|v| v.parse().ok()).unwrap_or(events),
            "--postgres" => postgres = args.next(),
            _ => {
                eprintln!("usage: rampart-discovery-bench [--events N] [--postgres URL]");
                std::process::exit(2);
            }
        }
    }
    let base = rss_kib();
    let (_, secs, rss) = fold(events, false);
    println!(
        "fold: {events} events in {secs:.2} s = {:.0} events/s; RSS {base} KiB at start, then after each tenth of the events (KiB): {rss:?}",
        events as f64 / secs
    );
    // stores: 100 batches of 10,000 events (1 M events), one transaction each
    let (batches, _, _) = fold(100 * BATCH, true);
    let rows: usize = batches.iter().map(|b| b.endpoints.len()).sum();
    let dir = std::env::temp_dir().join(format!("rampart-discovery-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let sqlite = Store::open(dir.join("inventory.db").to_str().unwrap_or("inventory.db"))
        .await
        .expect("SQLite opens");
    let secs = write(&sqlite, &batches).await;
    report("sqlite", secs, &batches, rows);
    std::fs::remove_dir_all(&dir).ok();
    if let Some(url) = postgres {
        let url = if url == std::env::var("RAMPART_TEST_POSTGRES").unwrap_or_default() {
            rampart_store::testing::fresh_postgres().await
        } else {
            url
        };
        let pg = Store::open(&url).await.expect("PostgreSQL opens");
        let secs = write(&pg, &batches).await;
        report("postgres", secs, &batches, rows);
    }
}
