//! The inventory store on a real SQLite file and a real PostgreSQL server (the test command
//! starts one on loopback and sets `RAMPART_TEST_POSTGRES`): counts add up across writers,
//! tags union, first and last seen keep the extremes, the schema migrates once, and old
//! endpoints expire.

use rampart_discover::{AiRow, EndpointRow, FindingRow, FlowRow, Rows};
use rampart_store::Store;

fn batch(calls: u64, first: &str, last: &str, class: &str) -> Rows {
    Rows {
        endpoints: vec![EndpointRow {
            host: "api.example.com".into(),
            method: "GET".into(),
            template: "/users/{userId}".into(),
            calls,
            statuses: vec![(200, calls), (404, 1)],
            request_classes: vec![],
            response_classes: vec![class.into()],
            auth: vec!["bearer".into()],
            first_seen: Some(first.into()),
            last_seen: Some(last.into()),
            findings: vec![FindingRow {
                detector: "email_address".into(),
                direction: "response".into(),
                class: class.into(),
                severity: "medium".into(),
                owasp: vec!["LLM02:2025".into(), "API3:2023".into()],
                count: calls,
                first_seen: Some(first.into()),
                last_seen: Some(last.into()),
            }],
        }],
        ai: vec![AiRow {
            host: "api.openai.com".into(),
            provider: "openai".into(),
            via_gateway: false,
            calls,
            models: vec!["gpt-4o-mini".into()],
            input_tokens: 100 * calls,
            output_tokens: 10 * calls,
            cost_micros: 7 * calls,
            days: vec![(
                first[..10.min(first.len())].to_owned(),
                [calls, 100 * calls, 10 * calls, 7 * calls],
            )],
        }],
        flows: vec![FlowRow {
            from: "billing".into(),
            to: "api.openai.com".into(),
            calls,
            classes: vec![class.into()],
        }],
    }
}

async fn adds_up(store: &Store) {
    store
        .add(&batch(
            3,
            "2024-05-02T00:00:00Z",
            "2024-05-02T01:00:00Z",
            "EMAIL_ADDRESS",
        ))
        .await
        .unwrap();
    store
        .add(&batch(
            4,
            "2024-05-01T00:00:00Z",
            "2024-05-01T12:00:00Z",
            "US_SSN",
        ))
        .await
        .unwrap();
    store.add(&Rows::default()).await.unwrap();
    let rows = store.rows().await.unwrap();
    assert_eq!(rows.endpoints.len(), 1);
    let e = &rows.endpoints[0];
    assert_eq!(e.calls, 7);
    let mut statuses = e.statuses.clone();
    statuses.sort();
    assert_eq!(statuses, [(200, 7), (404, 2)]);
    let mut classes = e.response_classes.clone();
    classes.sort();
    assert_eq!(classes, ["EMAIL_ADDRESS", "US_SSN"]);
    assert_eq!(e.auth, ["bearer"]);
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.findings[0].count, 7);
    assert_eq!(e.findings[0].owasp, ["LLM02:2025", "API3:2023"]);
    assert_eq!(
        e.findings[0].first_seen.as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    assert_eq!(e.first_seen.as_deref(), Some("2024-05-01T00:00:00Z"));
    assert_eq!(e.last_seen.as_deref(), Some("2024-05-02T01:00:00Z"));
    assert_eq!(rows.ai[0].calls, 7);
    assert_eq!(
        (
            rows.ai[0].input_tokens,
            rows.ai[0].output_tokens,
            rows.ai[0].cost_micros
        ),
        (700, 70, 49)
    );
    assert_eq!(
        rows.ai[0].days,
        [
            ("2024-05-01".to_owned(), [4, 400, 40, 28]),
            ("2024-05-02".to_owned(), [3, 300, 30, 21])
        ]
    );
    assert_eq!(rows.ai[0].models, ["gpt-4o-mini"]);
    assert_eq!(rows.flows[0].calls, 7);
    assert_eq!(rows.flows[0].classes.len(), 2);
    // retention
    assert_eq!(store.expire("2024-05-01T00:00:00Z").await.unwrap(), 0);
    assert_eq!(store.expire("2024-06-01T00:00:00Z").await.unwrap(), 1);
    assert!(store.rows().await.unwrap().endpoints.is_empty());
}

#[tokio::test]
async fn sqlite_adds_up_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.kind(), "sqlite");
    adds_up(&store).await;
    // opening again migrates nothing and keeps the data
    store.add(&batch(1, "a", "b", "IBAN")).await.unwrap();
    drop(store);
    let again = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(again.rows().await.unwrap().endpoints[0].calls, 1);
    assert!(Store::open("/nonexistent/dir/x.db").await.is_err());
}

#[tokio::test]
async fn postgres_adds_up_and_expires() {
    let url = rampart_store::testing::fresh_postgres().await;
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.kind(), "postgres");
    adds_up(&store).await;
}

#[tokio::test]
async fn postgres_replicas_share_one_inventory() {
    let url = rampart_store::testing::fresh_postgres().await;
    // four writers (gateway replicas) adding at once
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = Store::open(&url).await.unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let t = format!("2024-05-01T00:{w:02}:{i:02}Z");
                store.add(&batch(2, &t, &t, "EMAIL_ADDRESS")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = Store::open(&url).await.unwrap().rows().await.unwrap();
    assert_eq!(rows.endpoints[0].calls, 4 * 25 * 2);
    assert_eq!(
        rows.endpoints[0].first_seen.as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    assert_eq!(
        rows.endpoints[0].last_seen.as_deref(),
        Some("2024-05-01T00:03:24Z")
    );
    assert_eq!(rows.ai[0].calls, 200);
}
