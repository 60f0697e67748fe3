//! `rampart discover` as users (and tests outside the repository) run it: HAR captures and
//! access logs in, the JSON inventory out, with the documented contract's fields.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn shared(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(p)
}

fn discover(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("discover")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn entry(method: &str, url: &str, headers: Value, body: Option<Value>, response: Value) -> Value {
    let mut req = json!({"method": method, "url": url, "headers": headers});
    if let Some(b) = body {
        req["postData"] = json!({"mimeType": "application/json", "text": b.to_string()});
    }
    json!({
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "request": req,
        "response": {"status": 200, "headers": [],
                     "content": {"mimeType": "application/json", "text": response.to_string()}}
    })
}

#[test]
fn the_json_inventory_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = vec![
        entry(
            "GET",
            "http://petstore.swagger.io/v1/pets/17",
            json!([{"name": "Authorization", "value": "Bearer abc"}]),
            None,
            json!({"id": 17, "name": "Rex", "owner_email": "jane.doe@example.com"}),
        ),
        entry(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json!([{"name": "Authorization", "value": "Bearer sk-test"}]),
            Some(
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "My SSN is 536-90-4399"}]}),
            ),
            json!({"model": "gpt-4o-mini-2024-07-18", "choices": [],
                   "usage": {"prompt_tokens": 20, "completion_tokens": 5}}),
        ),
    ];
    // a token in the path: found, and its segment kept only as a parameter
    entries.push(entry(
        "GET",
        "http://petstore.swagger.io/internal/keys/ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        json!([]),
        None,
        json!({}),
    ));
    for i in 0..12 {
        entries.push(entry(
            "GET",
            &format!(
                "http://petstore.swagger.io/internal/tickets/{}",
                9000 + i * 7
            ),
            json!([]),
            None,
            json!({}),
        ));
    }
    let har = dir.path().join("t.har");
    std::fs::write(
        &har,
        json!({"log": {"version": "1.2", "entries": entries}}).to_string(),
    )
    .unwrap();
    let spec = shared("openapi-specs/oai-examples/v3.0_pass_petstore.yaml");
    let (code, out, err) = discover(&[
        "--har",
        har.to_str().unwrap(),
        "--openapi",
        spec.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let eps = doc["endpoints"].as_array().unwrap();
    for e in eps {
        for k in [
            "host",
            "method",
            "path",
            "status",
            "calls",
            "request_classes",
            "response_classes",
            "auth",
            "first_seen",
            "last_seen",
        ] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
        // no raw sensitive value anywhere
        assert!(!e.to_string().contains("jane.doe"));
    }
    let find = |m: &str, p: &str| {
        eps.iter()
            .find(|e| e["method"] == m && e["path"] == p)
            .unwrap_or_else(|| panic!("{m} {p} not in {out}"))
    };
    let pet = find("GET", "/v1/pets/{petId}");
    assert_eq!(pet["status"], "documented");
    assert_eq!(pet["host"], "petstore.swagger.io");
    assert_eq!(pet["auth"], json!(["bearer"]));
    assert_eq!(pet["response_classes"], json!(["EMAIL_ADDRESS"]));
    assert_eq!(
        pet["owasp"],
        json!(["API3:2023"]),
        "it exposes personal data"
    );
    let f = &pet["findings"][0];
    assert_eq!(
        (
            f["class"].as_str(),
            f["direction"].as_str(),
            f["count"].as_u64()
        ),
        (Some("EMAIL_ADDRESS"), Some("response"), Some(1))
    );
    assert_eq!(pet["first_seen"], "2024-05-01T10:00:00.000Z");
    assert_eq!(find("GET", "/v1/pets")["status"], "unused");
    assert_eq!(find("POST", "/v1/pets")["status"], "unused");
    let shadow = find("GET", "/internal/tickets/{ticketId}");
    assert_eq!(shadow["status"], "shadow");
    assert_eq!(shadow["calls"], 12);
    assert_eq!(shadow["owasp"], json!(["API9:2023"]));
    let chat = find("POST", "/v1/chat/completions");
    assert_eq!(chat["status"], "observed");
    assert_eq!(chat["request_classes"], json!(["US_SSN"]));
    // the direct provider call is AI use around the gateway
    let ai = doc["ai"].as_array().unwrap();
    assert_eq!(ai.len(), 1, "{ai:?}");
    assert_eq!(ai[0]["host"], "api.openai.com");
    assert_eq!(ai[0]["provider"], "openai");
    assert_eq!(ai[0]["via_gateway"], false);
    assert_eq!(ai[0]["models"], json!(["gpt-4o-mini"]));
    assert_eq!(
        (
            ai[0]["input_tokens"].as_u64(),
            ai[0]["output_tokens"].as_u64()
        ),
        (Some(20), Some(5))
    );
    // the SSN went to the AI provider: the riskiest flow
    let flows = doc["flows"].as_array().unwrap();
    let to_ai = flows
        .iter()
        .find(|f| f["to"] == "api.openai.com" && f["classes"] == json!(["US_SSN"]))
        .unwrap_or_else(|| panic!("{flows:?}"));
    let top = flows
        .iter()
        .map(|f| f["risk"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(to_ai["risk"].as_u64(), Some(top), "{flows:?}");
    assert!(
        flows
            .iter()
            .filter(|f| f["classes"] == json!([]))
            .all(|f| f["risk"] == 0)
    );

    assert!(!out.contains("536-90-4399"));
    let key = find("GET", "/internal/keys/{secret}");
    assert_eq!(key["request_classes"], json!(["SECRET"]));
    assert!(!out.contains("ghp_16C7"));
    // the other formats render the same inventory
    for (format, needle) in [
        ("text", "shadow"),
        ("mermaid", "flowchart LR"),
        ("dot", "digraph"),
        ("openapi", "\"openapi\": \"3.1.0\""),
    ] {
        let (code, out, err) = discover(&[
            "--har",
            har.to_str().unwrap(),
            "--openapi",
            spec.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(code, 0, "{format}: {err}");
        assert!(out.contains(needle), "{format}: {out}");
    }
}

#[test]
fn real_captures_and_bad_input() {
    let mut args: Vec<String> = Vec::new();
    for f in std::fs::read_dir(shared("har-captures")).unwrap().flatten() {
        let p = f.path();
        // har_extractor.har is a HAR wrapped in a test fixture's own object
        if p.extension().is_some_and(|x| x == "har") && !p.ends_with("har_extractor.har") {
            args.push("--har".into());
            args.push(p.to_string_lossy().into_owned());
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut all = refs.clone();
    all.extend(["--format", "json"]);
    let (code, out, err) = discover(&all);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(doc["endpoints"].as_array().unwrap().len() > 20);
    // nothing to read, a missing file, a file that is not HAR: a clear error, exit 2
    let (code, _, err) = discover(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to read"), "{err}");
    let (code, _, err) = discover(&["--har", "/nonexistent.har"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.har"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.har");
    std::fs::write(&bad, "{\"not\": \"har\"}").unwrap();
    let (code, _, err) = discover(&["--har", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a HAR file"), "{err}");
    // a bad file among good ones: the good ones are still reported, and the status says
    let chrome = shared("har-captures/chrome.har");
    let (code, out, err) = discover(&[
        "--har",
        bad.to_str().unwrap(),
        "--har",
        chrome.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.har"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(!doc["endpoints"].as_array().unwrap().is_empty());
    // an access log of either format
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        "{\"start_time\":\"2024-05-01T10:00:00Z\",\"method\":\"GET\",\"path\":\"/api/users/42\",\"response_code\":200,\"authority\":\"shop.internal\"}\n\
         {\"time_iso8601\":\"2024-05-01T10:00:01+00:00\",\"request\":\"GET /api/users/43 HTTP/1.1\",\"status\":\"200\",\"http_host\":\"shop.internal\"}\n",
    )
    .unwrap();
    let (code, out, err) = discover(&["--access-log", log.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["endpoints"][0]["path"], "/api/users/{userId}");
    assert_eq!(doc["endpoints"][0]["calls"], 2);
}

#[test]
fn stores_third_parties_and_lineage_from_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    // the page's app (Origin: app.shop.example) reads a customer from a partner API, then
    // indexes it in a search cluster and writes it to a declared database
    let app = json!([{"name": "Origin", "value": "https://app.shop.example"}]);
    let entries = vec![
        entry(
            "GET",
            "https://api.partner.com/v1/customers/42",
            app.clone(),
            None,
            json!({"name": "Jane", "email": "jane.doe@example.com"}),
        ),
        entry(
            "PUT",
            "http://search.shop.internal:9200/customers/_doc/42",
            app.clone(),
            Some(json!({"email": "jane.doe@example.com"})),
            json!({"result": "created"}),
        ),
        entry(
            "POST",
            "http://ledger.shop.internal/rows",
            app,
            Some(json!({"email": "jane.doe@example.com"})),
            json!({}),
        ),
    ];
    let har = dir.path().join("app.har");
    std::fs::write(&har, json!({"log": {"entries": entries}}).to_string()).unwrap();
    let har = har.to_str().unwrap();
    let (code, out, err) = discover(&[
        "--har",
        har,
        "--data-store",
        "ledger.shop.internal=postgresql",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let kind = |id: &str| -> (String, Value) {
        let n = doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("no node {id} in {doc:#}"));
        (n["kind"].as_str().unwrap().to_owned(), n["store"].clone())
    };
    assert_eq!(kind("app.shop.example"), ("identity".into(), Value::Null));
    assert_eq!(kind("api.partner.com"), ("third_party".into(), Value::Null));
    assert_eq!(
        kind("search.shop.internal"),
        ("data_store".into(), json!("elasticsearch"))
    );
    assert_eq!(
        kind("ledger.shop.internal"),
        ("data_store".into(), json!("postgresql"))
    );
    let lineage = doc["lineage"].as_array().unwrap();
    assert_eq!(lineage.len(), 2, "{lineage:#?}");
    for l in lineage {
        assert_eq!(l["class"], "EMAIL_ADDRESS");
        assert_eq!(l["source"], "api.partner.com");
        assert_eq!(l["via"], "app.shop.example");
        assert_eq!(l["sink_kind"], "data_store");
    }
    assert!(!out.contains("jane.doe"));
    // the text summary and the graphs name them too
    let (_, text, _) = discover(&["--har", har, "--format", "text"]);
    assert!(
        text.contains("Data stores") && text.contains("search.shop.internal  (elasticsearch)"),
        "{text}"
    );
    assert!(
        text.contains("Third-party APIs") && text.contains("Lineage"),
        "{text}"
    );
    let (_, mermaid, _) = discover(&["--har", har, "--format", "mermaid"]);
    assert!(
        mermaid.contains("n_search_shop_internal[(\"search.shop.internal\")]"),
        "{mermaid}"
    );
    let (_, dot, _) = discover(&["--har", har, "--format", "dot"]);
    assert!(
        dot.contains("\"search.shop.internal\" [shape=cylinder];"),
        "{dot}"
    );
    // a malformed --data-store is refused with the expected form
    let (code, _, err) = discover(&["--har", har, "--data-store", "nokind"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("HOST[:PORT]=KIND"), "{err}");
}
