//! The inventory store on a real SQLite file and a real PostgreSQL server (the test command
//! starts one on loopback and sets `RAMPART_TEST_POSTGRES`): counts add up across writers,
//! tags union, first and last seen keep the extremes, the schema migrates once, and old
//! endpoints expire.

use rampart_discover::{AiRow, EndpointRow, FindingRow, FlowRow, LineageRow, Rows, StoreRow};
use rampart_store::Store;

/// A response schema whose `contact` field held `class`.
fn schema(class: &str) -> rampart_discover::schema::Schema {
    let mut s = rampart_discover::schema::Schema::default();
    s.observe(&serde_json::json!({"id": 7, "contact": "x@y.io"}));
    s.tag(&["contact".into()], class);
    s
}

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
            request_schema: vec![],
            response_schema: schema(class).to_rows(),
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
            callers: vec![(
                "billing".into(),
                [calls, 100 * calls, 10 * calls, 7 * calls],
            )],
            keys: vec![format!("fp:{calls:016x}")],
            usage: vec![(
                "model".into(),
                "gpt-4o-mini".into(),
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
        stores: vec![StoreRow {
            node: "orders-db.internal".into(),
            kind: "postgresql".into(),
        }],
        lineage: vec![LineageRow {
            source: "api.partner.com".into(),
            via: "billing".into(),
            sink: "orders-db.internal".into(),
            class: class.into(),
            calls,
            first_seen: Some(first.into()),
            last_seen: Some(last.into()),
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
    // AI use per caller sums; key fingerprints union
    assert_eq!(
        rows.ai[0].callers,
        [("billing".to_owned(), [7, 700, 70, 49])]
    );
    // schemas merge as the bodies they describe would
    let mut merged = rampart_discover::schema::Schema::default();
    merged.add_rows(&e.response_schema);
    let mut expected = schema("EMAIL_ADDRESS");
    expected.merge(&schema("US_SSN"));
    assert_eq!(merged.to_json(), expected.to_json());
    assert_eq!(
        merged.to_json()["properties"]["contact"]["x-rampart-classes"],
        serde_json::json!(["EMAIL_ADDRESS", "US_SSN"])
    );
    // the series add up per model and day
    let mut usage = rows.ai[0].usage.clone();
    usage.sort();
    assert_eq!(
        usage,
        [
            (
                "model".to_owned(),
                "gpt-4o-mini".to_owned(),
                "2024-05-01".to_owned(),
                [4, 400, 40, 28]
            ),
            (
                "model".to_owned(),
                "gpt-4o-mini".to_owned(),
                "2024-05-02".to_owned(),
                [3, 300, 30, 21]
            ),
        ]
    );
    let mut keys = rows.ai[0].keys.clone();
    keys.sort();
    assert_eq!(keys, ["fp:0000000000000003", "fp:0000000000000004"]);
    assert_eq!(
        rows.stores,
        [StoreRow {
            node: "orders-db.internal".into(),
            kind: "postgresql".into()
        }]
    );
    // lineage per class, with first and last seen
    let mut lineage = rows.lineage.clone();
    lineage.sort_by(|a, b| a.class.cmp(&b.class));
    assert_eq!(lineage.len(), 2);
    assert_eq!(
        (lineage[0].class.as_str(), lineage[0].calls),
        ("EMAIL_ADDRESS", 3)
    );
    assert_eq!((lineage[1].class.as_str(), lineage[1].calls), ("US_SSN", 4));
    assert_eq!(
        lineage[1].first_seen.as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    // retention
    assert_eq!(store.expire("2024-05-01T00:00:00Z").await.unwrap(), 0);
    assert_eq!(store.expire("2024-06-01T00:00:00Z").await.unwrap(), 1);
    let left = store.rows().await.unwrap();
    assert!(left.endpoints.is_empty());
    assert!(left.lineage.is_empty());
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

/// Each cluster's controller replaces its own snapshot; the others stay.
async fn clusters_replace_their_own(store: &Store) {
    let w = |ns: &str, name: &str| {
        serde_json::json!({"object": {"kind": "Deployment", "namespace": ns, "name": name},
                           "images": ["app:1"]})
    };
    let f = |rule: &str| serde_json::json!({"id": "K01:2025", "rule": rule, "severity": "high"});
    store
        .replace_cluster(
            "eu",
            &[w("shop", "api"), w("shop", "api"), w("ai", "llm")],
            &[f("privileged")],
            "t1",
        )
        .await
        .unwrap();
    store
        .replace_cluster("us", &[w("shop", "api")], &[], "t1")
        .await
        .unwrap();
    let s = store.clusters().await.unwrap();
    assert_eq!(s.workloads.len(), 3, "a workload listed twice is kept once");
    assert_eq!(s.findings.len(), 1);
    // the next snapshot of eu replaces eu's, and leaves us alone
    store
        .replace_cluster(
            "eu",
            &[w("ai", "llm")],
            &[f("host-path"), f("run-as-root")],
            "t2",
        )
        .await
        .unwrap();
    let s = store.clusters().await.unwrap();
    let eu: Vec<&str> = s
        .workloads
        .iter()
        .filter(|(c, _)| c == "eu")
        .map(|(_, w)| w["object"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(eu, ["llm"]);
    assert_eq!(s.workloads.iter().filter(|(c, _)| c == "us").count(), 1);
    let rules: Vec<&str> = s
        .findings
        .iter()
        .map(|(_, f)| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["host-path", "run-as-root"]);
}

#[tokio::test]
async fn clusters_in_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path().join("i.db").to_str().unwrap())
        .await
        .unwrap();
    clusters_replace_their_own(&sqlite).await;
    let pg = Store::open(&rampart_store::testing::fresh_postgres().await)
        .await
        .unwrap();
    clusters_replace_their_own(&pg).await;
}
