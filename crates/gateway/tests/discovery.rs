//! Live discovery through the gateway: every exchange lands in the inventory off the request
//! path, and `GET /admin/discovery` returns the document `rampart discover --format json`
//! prints, with the classes the inspection found, the authentication kind, spec statuses, and
//! AI use through the gateway.

mod common;

use common::{call, gateway, upstream};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");

const SPEC: &str = r#"
openapi: 3.0.0
info: {title: Users, version: "1"}
servers: [{url: "http://127.0.0.1/api"}]
paths:
  /users/{userId}:
    get: {responses: {"200": {description: ok}}}
  /users:
    post: {responses: {"200": {description: ok}}}
  /legacy/report:
    get: {deprecated: true, responses: {"200": {description: ok}}}
"#;

/// The inventory once `n` exchanges are in it.
async fn inventory(admin: std::net::SocketAddr, n: u64) -> Value {
    for _ in 0..200 {
        let (status, headers, body) = call(admin, "GET", "/admin/discovery", &[], Vec::new()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let recorded: u64 = headers["x-rampart-discovery-recorded"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if recorded >= n {
            assert_eq!(headers["x-rampart-discovery-dropped"], "0");
            return serde_json::from_slice(&body).unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the inventory never held {n} exchanges");
}

#[tokio::test]
async fn exchanges_build_the_live_inventory() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("users.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let gw = gateway(&up, dir.path(), |c| {
        c.discovery.openapi = vec![spec.clone()]
    })
    .await;
    let mut n = 0;
    for id in [17, 18, 19] {
        let (status, _, _) = call(
            gw.addr,
            "GET",
            &format!("/api/users/{id}"),
            &[("authorization", "Bearer t0ken-abc")],
            Vec::new(),
        )
        .await;
        assert_eq!(status, 200);
        n += 1;
    }
    call(gw.addr, "GET", "/api/legacy/report", &[], Vec::new()).await;
    n += 1;
    for id in 0..12 {
        call(
            gw.addr,
            "GET",
            &format!("/api/internal/debug/{}", 5000 + id * 3),
            &[("x-api-key", "k")],
            Vec::new(),
        )
        .await;
        n += 1;
    }
    let chat = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "Write to jane.doe@example.com about the invoice"}]});
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON, ("authorization", "Bearer sk-test-caller")],
        serde_json::to_vec(&chat).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    n += 1;
    let doc = inventory(gw.admin_addr, n).await;
    let eps = doc["endpoints"].as_array().unwrap();
    let find = |m: &str, p: &str| {
        eps.iter()
            .find(|e| e["method"] == m && e["path"] == p)
            .unwrap_or_else(|| panic!("{m} {p} not in {doc:#}"))
            .clone()
    };
    let users = find("GET", "/api/users/{userId}");
    assert_eq!(users["status"], "documented");
    assert_eq!(users["host"], "127.0.0.1");
    assert_eq!(users["calls"], 3);
    assert_eq!(users["auth"], json!(["bearer"]));
    assert_eq!(find("POST", "/api/users")["status"], "unused");
    assert_eq!(find("GET", "/api/legacy/report")["status"], "zombie");
    let debug = find("GET", "/api/internal/debug/{debugId}");
    assert_eq!(debug["status"], "shadow");
    assert_eq!(debug["calls"], 12);
    assert_eq!(debug["auth"], json!(["api_key"]));
    let chat = find("POST", "/v1/chat/completions");
    assert_eq!(chat["request_classes"], json!(["EMAIL_ADDRESS"]));
    // sampled bodies become schemas, with the classes found per field (values never kept)
    let content =
        &chat["request_schema"]["properties"]["messages"]["items"]["properties"]["content"];
    assert_eq!(content["type"], "string", "{chat:#}");
    assert_eq!(content["x-rampart-classes"], json!(["EMAIL_ADDRESS"]));
    assert_eq!(
        chat["response_schema"]["properties"]["usage"]["properties"]["prompt_tokens"]["type"],
        "integer",
        "{chat:#}"
    );
    assert_eq!(
        chat["request_schema"]["required"],
        json!(["messages", "model"])
    );
    let ai = doc["ai"].as_array().unwrap();
    assert_eq!(ai.len(), 1, "{ai:?}");
    assert_eq!(ai[0]["provider"], "openai");
    assert_eq!(ai[0]["via_gateway"], true);
    assert_eq!(ai[0]["models"], json!(["gpt-4o-mini"]));
    // the fake provider reports 12 prompt and 9 completion tokens, priced at list prices
    assert_eq!(
        (
            ai[0]["input_tokens"].as_u64(),
            ai[0]["output_tokens"].as_u64()
        ),
        (Some(12), Some(9))
    );
    assert!(ai[0]["cost_usd"].as_f64().unwrap() > 0.0, "{ai:?}");
    // and per day
    let days = ai[0]["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{ai:?}");
    assert_eq!(
        (days[0]["calls"].as_u64(), days[0]["input_tokens"].as_u64()),
        (Some(1), Some(12))
    );
    assert_eq!(days[0]["cost_usd"], ai[0]["cost_usd"]);
    // who called, and which key: a keyed hash of it, never the key
    let callers = ai[0]["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 1, "{ai:?}");
    assert_eq!(callers[0]["calls"], 1);
    assert_eq!(callers[0]["input_tokens"], 12);
    let keys = ai[0]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{ai:?}");
    assert!(!keys[0].as_str().unwrap().contains("sk-test"));
    // the graph's nodes know their kinds
    let nodes = doc["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n["id"] == callers[0]["caller"] && n["kind"] == "identity"),
        "{nodes:?}"
    );
    assert!(doc["lineage"].as_array().unwrap().is_empty());
    assert!(!doc.to_string().contains("jane.doe"), "no value is kept");
    assert!(!doc.to_string().contains("t0ken"), "no credential is kept");
    // filtered views, the graph, the traffic's OpenAPI, and the admin API's own description
    let get = |path: &'static str| async move {
        let (status, _, body) = call(gw.admin_addr, "GET", path, &[], Vec::new()).await;
        assert_eq!(status, 200, "{path}");
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    // (the fake provider shares the spec's host, so its chat path is shadow there too)
    let shadow = get("/admin/discovery/endpoints?status=shadow&method=GET").await;
    assert_eq!(shadow["endpoints"].as_array().unwrap().len(), 1, "{shadow}");
    assert_eq!(
        shadow["endpoints"][0]["path"],
        "/api/internal/debug/{debugId}"
    );
    let emails = get("/admin/discovery/endpoints?class=EMAIL_ADDRESS&method=POST").await;
    assert_eq!(emails["endpoints"][0]["path"], "/v1/chat/completions");
    assert_eq!(get("/admin/discovery/ai").await["ai"], doc["ai"]);
    // findings per detector, filtered by OWASP id and severity
    let found = get("/admin/discovery/findings?class=EMAIL_ADDRESS").await;
    let f = &found["findings"][0];
    assert_eq!(
        (
            f["path"].as_str(),
            f["direction"].as_str(),
            f["count"].as_u64()
        ),
        (Some("/v1/chat/completions"), Some("request"), Some(1)),
        "{found}"
    );
    assert!(
        f["owasp"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "LLM02:2025"),
        "{found}"
    );
    assert!(f["detector"].as_str().is_some_and(|d| !d.is_empty()));
    let llm02 = get("/admin/discovery/findings?owasp=LLM02:2025&severity=low").await;
    assert!(!llm02["findings"].as_array().unwrap().is_empty());
    let none = get("/admin/discovery/findings?host=elsewhere.example").await;
    assert!(none["findings"].as_array().unwrap().is_empty());
    let graph = get("/admin/discovery/graph").await;
    assert!(
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "ai:openai" && n["kind"] == "ai_provider")
    );
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["classes"] == json!(["EMAIL_ADDRESS"]))
    );
    let spec = get("/admin/discovery/openapi").await;
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(
        spec["paths"]["/api/internal/debug/{debugId}"]["get"].is_object(),
        "{spec}"
    );
    let admin = get("/admin/openapi.json").await;
    for p in [
        "/admin/discovery",
        "/admin/discovery/endpoints",
        "/admin/discovery/ai",
        "/admin/discovery/graph",
    ] {
        assert!(admin["paths"][p]["get"].is_object(), "{p}");
    }
    // the admin API needs its token off loopback or when one is configured; on loopback reads
    // are open, and a write is refused
    let (status, _, _) = call(gw.admin_addr, "POST", "/admin/discovery", &[], Vec::new()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn discovery_can_be_turned_off() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |c| c.discovery.enabled = false).await;
    let (status, _, body) = call(gw.admin_addr, "GET", "/admin/discovery", &[], Vec::new()).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("discovery is off"));
}

#[tokio::test]
async fn the_inventory_survives_a_restart_in_sqlite() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    for id in 0..3 {
        call(
            gw.addr,
            "GET",
            &format!("/api/orders/{}", 100 + id),
            &[],
            Vec::new(),
        )
        .await;
    }
    let doc = inventory(gw.admin_addr, 3).await;
    assert_eq!(doc["endpoints"][0]["calls"], 3);
    gw.shutdown().await;
    assert!(dir.path().join("inventory.db").exists());
    // a new process on the same data dir starts from what was stored
    let gw = gateway(&up, dir.path(), |_| {}).await;
    call(gw.addr, "GET", "/api/orders/999", &[], Vec::new()).await;
    let doc = inventory(gw.admin_addr, 1).await;
    let orders = doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/api/orders/{orderId}")
        .unwrap()
        .clone();
    assert_eq!(orders["calls"], 4);
}

#[tokio::test]
async fn replicas_share_one_inventory_in_postgres() {
    let url = rampart_store::testing::fresh_postgres().await;
    let up = upstream().await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = gateway(&up, d1.path(), |c| c.discovery.store = Some(url.clone())).await;
    let b = gateway(&up, d2.path(), |c| c.discovery.store = Some(url.clone())).await;
    for i in 0..5 {
        call(
            a.addr,
            "GET",
            &format!("/api/items/{}", 10 + i),
            &[],
            Vec::new(),
        )
        .await;
        call(
            b.addr,
            "GET",
            &format!("/api/items/{}", 20 + i),
            &[],
            Vec::new(),
        )
        .await;
    }
    // each replica writes what it saw; either one reads the whole
    inventory(a.admin_addr, 5).await;
    let doc = inventory(b.admin_addr, 5).await;
    let (_, headers, _) = call(b.admin_addr, "GET", "/admin/discovery", &[], Vec::new()).await;
    assert_eq!(headers["x-rampart-discovery-store"], "postgres");
    let items = doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/api/items/{itemId}")
        .unwrap_or_else(|| panic!("{doc:#}"))
        .clone();
    assert_eq!(items["calls"], 10);
}
