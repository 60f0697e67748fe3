//! Node kinds, data stores, lineage and AI use per caller, from events as a capture gives them.

use rampart_discover::openapi::Specs;
use rampart_discover::{Event, Inventory};

fn event(caller: &str, method: &str, url: &str, body: Option<&str>, response: &str) -> Event {
    let (scheme, host, path, query) = rampart_discover::split_url(url).unwrap();
    Event {
        time: Some("2024-05-01T10:00:00.000Z".into()),
        caller: Some(caller.into()),
        scheme,
        port: rampart_discover::url_port(url),
        host,
        method: method.into(),
        path,
        query,
        status: Some(200),
        request_headers: vec![(
            "authorization".into(),
            "Bearer sk-live-abcdef0123456789".into(),
        )],
        request_body: body.map(|b| b.as_bytes().to_vec()),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: Some(response.as_bytes().to_vec()),
        via_gateway: false,
    }
}

const PARTNER_ANSWER: &str =
    r#"{"customer": {"name": "Jane", "email": "jane.doe@example.com", "tier": "gold"}}"#;
const WITH_EMAIL: &str = r#"{"email": "jane.doe@example.com", "tier": "gold"}"#;

#[test]
fn third_party_data_is_traced_to_stores_and_ai_providers_per_caller() {
    let mut inv = Inventory::new(Specs::default(), [])
        .with_stores([("orders-db.internal".to_owned(), "postgresql".to_owned())]);
    // billing receives an e-mail address from a partner API...
    inv.add(&event(
        "billing",
        "GET",
        "https://api.partner.com/v1/customers/42",
        None,
        PARTNER_ANSWER,
    ));
    // ...then indexes it in Elasticsearch (by port), writes it to a configured store, and
    // sends it to an AI provider
    inv.add(&event(
        "billing",
        "PUT",
        "http://search.shop.svc:9200/customers/_doc/42",
        Some(WITH_EMAIL),
        r#"{"result": "created"}"#,
    ));
    inv.add(&event(
        "billing",
        "POST",
        "http://orders-db.internal/rows",
        Some(WITH_EMAIL),
        "{}",
    ));
    inv.add(&event(
        "billing",
        "POST",
        "https://api.openai.com/v1/chat/completions",
        Some(
            r#"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write to jane.doe@example.com"}]}"#,
        ),
        r#"{"usage": {"prompt_tokens": 12, "completion_tokens": 3}}"#,
    ));
    // reporting never received anything from a third party: its store write is no lineage
    inv.add(&event(
        "reporting",
        "PUT",
        "http://search.shop.svc:9200/customers/_doc/43",
        Some(WITH_EMAIL),
        "{}",
    ));
    // billing sends the store data of a class it never received from a third party
    inv.add(&event(
        "billing",
        "POST",
        "http://orders-db.internal/rows",
        Some(r#"{"card": "4111 1111 1111 1111"}"#),
        "{}",
    ));
    let doc = inv.document();
    let lineage: Vec<(&str, &str, &str, &str, &str)> = doc
        .lineage
        .iter()
        .map(|l| {
            (
                l.class.as_str(),
                l.source.as_str(),
                l.via.as_str(),
                l.sink.as_str(),
                l.sink_kind,
            )
        })
        .collect();
    assert_eq!(
        lineage,
        [
            (
                "EMAIL_ADDRESS",
                "api.partner.com",
                "billing",
                "api.openai.com",
                "ai_provider"
            ),
            (
                "EMAIL_ADDRESS",
                "api.partner.com",
                "billing",
                "orders-db.internal",
                "data_store"
            ),
            (
                "EMAIL_ADDRESS",
                "api.partner.com",
                "billing",
                "search.shop.svc",
                "data_store"
            ),
        ]
    );
    let kind = |id: &str| {
        doc.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| (n.kind, n.store.clone()))
            .unwrap_or_else(|| panic!("no node {id}: {:?}", doc.nodes))
    };
    assert_eq!(kind("billing"), ("identity", None));
    assert_eq!(kind("reporting"), ("identity", None));
    assert_eq!(kind("api.partner.com"), ("third_party", None));
    assert_eq!(kind("api.openai.com"), ("ai_provider", None));
    assert_eq!(
        kind("search.shop.svc"),
        ("data_store", Some("elasticsearch".into()))
    );
    assert_eq!(
        kind("orders-db.internal"),
        ("data_store", Some("postgresql".into()))
    );
    // AI use: who called, with tokens; the key only as a fingerprint
    let ai = &doc.ai[0];
    assert_eq!(ai.callers.len(), 1);
    assert_eq!(ai.callers[0].caller, "billing");
    assert_eq!((ai.callers[0].calls, ai.callers[0].input_tokens), (1, 12));
    assert_eq!(ai.keys.len(), 1);
    assert!(ai.keys[0].starts_with("fp:") && ai.keys[0].len() == 19);
    let json = serde_json::to_string(&doc).unwrap();
    assert!(!json.contains("sk-live"), "a key leaked: {json}");
    assert!(!json.contains("jane.doe"), "a value leaked");
}

#[test]
fn lineage_survives_batches_and_rows_add_up() {
    // a live batch is taken as rows every flush: what a caller received stays remembered
    let mut batch = Inventory::new(Specs::default(), []);
    batch.add(&event(
        "billing",
        "GET",
        "https://api.partner.com/v1/customers/42",
        None,
        PARTNER_ANSWER,
    ));
    let first = batch.take_rows();
    batch.add(&event(
        "billing",
        "PUT",
        "http://search.shop.svc:9200/customers/_doc/42",
        Some(WITH_EMAIL),
        "{}",
    ));
    let second = batch.take_rows();
    assert_eq!(second.lineage.len(), 1);
    assert_eq!(second.stores.len(), 1);
    let mut read = Inventory::new(Specs::default(), []);
    read.add_rows(&first);
    read.add_rows(&second);
    read.add_rows(&second);
    let doc = read.document();
    assert_eq!(doc.lineage.len(), 1);
    assert_eq!(doc.lineage[0].calls, 2);
    assert_eq!(doc.lineage[0].sink_kind, "data_store");
}

#[test]
fn inside_calls_and_unknown_ports_are_not_stores_or_third_parties() {
    let mut inv = Inventory::new(Specs::default(), []);
    inv.add(&event(
        "web",
        "GET",
        "http://users.shop.svc.cluster.local:8080/users/1",
        None,
        PARTNER_ANSWER,
    ));
    inv.add(&event(
        "web",
        "POST",
        "http://10.0.0.12:8080/api/notes",
        Some(WITH_EMAIL),
        "{}",
    ));
    let doc = inv.document();
    assert!(doc.lineage.is_empty());
    for n in &doc.nodes {
        assert!(
            matches!(n.kind, "identity" | "service"),
            "{} is {}",
            n.id,
            n.kind
        );
    }
}
