//! The console on the admin port: its API (login, sessions, the exchange feed, server-sent
//! events, what an unauthenticated request gets), and the pages in a real headless Chromium
//! driven over WebDriver (Debian's `chromium` and `chromedriver`; the test command installs
//! them). Screenshots of every page at a phone and a wide size land in
//! `target/tmp/console-screenshots/`.

mod common;

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::{call, gateway, upstream};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nOQyMfXJHNCzYEA8vb3cNZdZw5Y4DUdiujk9urDQvwjG3sIcW6z/BKJa5YiMXdJQo\ndzPCjui6U721a4gkV31T7MKKcKYcdRChzYkhbKFs/8rqSYdHfobbzLlwRvwuGDhO\nUdggxcPvgAU6iK45lt5Q6AGGWzaYZU6/UgCl+gk5uZ16HXsoK/gjQEHzVIfYbGaf\n-----END RSA PRIVATE KEY-----\n";

fn chat(text: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}),
    )
    .unwrap()
}

/// Some traffic: a redacted chat, a blocked one, an API call.
async fn traffic(gw: std::net::SocketAddr) {
    call(
        gw,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat("Mail jane.doe@example.com the invoice"),
    )
    .await;
    call(
        gw,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("my key {PEM}")),
    )
    .await;
    call(gw, "GET", "/api/users/17", &[], Vec::new()).await;
}

async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let (status, headers, body) = call(addr, method, path, headers, body.as_bytes().to_vec()).await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn session(admin: std::net::SocketAddr, token: &str) -> String {
    let (status, headers, _) = raw(
        admin,
        "POST",
        "/console/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(status, 303);
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_console_api_needs_a_session_and_streams_exchanges() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    traffic(gw.addr).await;
    // without a session: the login page, whatever the path
    for path in ["/console/", "/console/app.js", "/console/anything"] {
        let (status, headers, body) = raw(gw.admin_addr, "GET", path, &[], "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            body.contains("Sign in") && !body.contains("EventSource"),
            "{path}: {body}"
        );
    }
    // DNS rebinding: a page whose own name resolves to loopback reads nothing without a token
    let (status, _, _) = raw(
        gw.admin_addr,
        "GET",
        "/admin/exchanges",
        &[("host", "evil.example:9090")],
        "",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = raw(
        gw.admin_addr,
        "GET",
        "/admin/exchanges",
        &[("host", "localhost:9090")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    // a wrong token: the login page again, 401
    let (status, _, body) = raw(
        gw.admin_addr,
        "POST",
        "/console/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        "token=wrong",
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("not the admin token"));
    let cookie = session(gw.admin_addr, gw.admin_token()).await;
    let with = [("cookie", cookie.as_str())];
    let (status, headers, body) = raw(gw.admin_addr, "GET", "/console/", &with, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("/console/app.js"));
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let (_, _, js) = raw(gw.admin_addr, "GET", "/console/app.js", &with, "").await;
    assert!(js.contains("EventSource"));
    // the exchanges, newest first, value-free
    let (status, _, body) = raw(gw.admin_addr, "GET", "/admin/exchanges?limit=10", &with, "").await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    let xs = list["exchanges"].as_array().unwrap();
    assert_eq!(xs.len(), 3, "{list}");
    assert!(
        !body.contains("jane.doe") && !body.contains("BEGIN RSA"),
        "no value: {body}"
    );
    let blocked = xs.iter().find(|x| x["decision"] == "block").unwrap();
    assert!(
        blocked["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("default/")
    );
    let id = blocked["id"].as_str().unwrap();
    let (status, _, one) = raw(
        gw.admin_addr,
        "GET",
        &format!("/admin/exchanges/{id}"),
        &with,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&one).unwrap()["id"], id);
    let (status, _, _) = raw(gw.admin_addr, "GET", "/admin/exchanges/nope", &with, "").await;
    assert_eq!(status, 404);
    let (_, _, blocked_only) = raw(
        gw.admin_addr,
        "GET",
        "/admin/exchanges?decision=block",
        &with,
        "",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&blocked_only).unwrap()["exchanges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // a write with the session needs the console's header (no cross-site form can send it)
    let (status, _, _) = raw(gw.admin_addr, "POST", "/admin/policies/reload", &with, "").await;
    assert_eq!(status, 401);
    let (status, _, _) = raw(
        gw.admin_addr,
        "POST",
        "/admin/policies/reload",
        &[("cookie", cookie.as_str()), ("x-rampart-console", "1")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    // the policies say which enforce
    let (_, _, p) = raw(gw.admin_addr, "GET", "/admin/policies", &with, "").await;
    let p: Value = serde_json::from_str(&p).unwrap();
    assert!(
        p["enforcing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "default")
    );
    // server-sent events: the backlog, then a new exchange as it happens
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = http::Request::get(format!("http://{}/admin/events", gw.admin_addr))
        .header("cookie", cookie.as_str())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut seen = String::new();
    call(gw.addr, "GET", "/api/live-marker", &[], Vec::new()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("live-marker") {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the new exchange arrives")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(seen.starts_with("event: exchange\ndata: {"), "{seen}");
    assert_eq!(
        seen.matches("event: exchange").count(),
        4,
        "the backlog of 3, then the new one"
    );
    // signing out ends the session
    let (status, _, _) = raw(gw.admin_addr, "POST", "/console/logout", &with, "").await;
    assert_eq!(status, 303);
    let (_, _, body) = raw(gw.admin_addr, "GET", "/console/", &with, "").await;
    assert!(body.contains("Sign in"));
}

/// A WebDriver session with headless Chromium.
struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(
            std::env::var("RAMPART_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()),
        )
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver runs (the test command installs chromium-driver)");
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client,
        };
        for _ in 0..100 {
            if b.send("GET", "/status", None).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary =
            std::env::var("RAMPART_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let v = b
            .send("POST", "/session", Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": binary, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1400,900"]}}}})))
            .await
            .expect("a browser session");
        b.session = v["sessionId"].as_str().unwrap().to_owned();
        b
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {v}"));
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.send(method, &path, Some(body)).await.unwrap()
    }

    async fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until `script` returns true.
    async fn until(&self, what: &str, script: &str) {
        for _ in 0..150 {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.js("return document.body.innerText").await;
        panic!("{what} never happened; the page says: {text}");
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn size(&self, w: u32, h: u32) {
        self.cmd("POST", "/window/rect", json!({"width": w, "height": h}))
            .await;
    }

    async fn screenshot(&self, name: &str) {
        let v = self
            .send(
                "GET",
                &format!("/session/{}/screenshot", self.session),
                None,
            )
            .await
            .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_and_reads_every_page_in_chromium() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    traffic(gw.addr).await;
    let console = format!("http://{}/console/", gw.admin_addr);
    let b = Browser::start().await;
    // the login page, then the console
    b.go(&console).await;
    b.until(
        "the login page",
        "return !!document.querySelector('#token')",
    )
    .await;
    b.screenshot("login-wide").await;
    b.type_into("#token", gw.admin_token()).await;
    b.click("button[type=submit]").await;
    b.until("the blueprint", "return document.body.dataset.loaded === 'blueprint' && !!document.querySelector('#graph svg')").await;
    // the blueprint of the real traffic: the upstream host, the caller, the AI provider edge
    let labels = b
        .js("return [...document.querySelectorAll('#graph [data-node]')].map(n => n.dataset.node)")
        .await;
    let labels: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(labels.contains(&"127.0.0.1"), "{labels:?}");
    assert!(labels.contains(&"ai:openai"), "{labels:?}");
    // a node's detail, by keyboard
    b.js("document.querySelector('#graph [data-node=\"127.0.0.1\"]').focus()")
        .await;
    b.cmd(
        "POST",
        "/actions",
        json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": "\u{E007}"}, {"type": "keyUp", "value": "\u{E007}"}]}]}),
    )
    .await;
    b.until(
        "the node's detail",
        "return document.querySelector('#detail').innerText.includes('/v1/chat/completions')",
    )
    .await;
    // findings: filter by class, follow an exchange link
    b.go(&format!("{console}#findings")).await;
    b.until(
        "the findings page",
        "return document.body.dataset.loaded === 'findings'",
    )
    .await;
    b.type_into("input[name=class]", "EMAIL_ADDRESS").await;
    b.click("#finding-filters button[type=submit]").await;
    b.until("filtered findings", "return document.querySelectorAll('#exchanges-table a').length === 1 && document.querySelector('#findings-table').innerText.includes('EMAIL_ADDRESS')").await;
    b.click("#exchanges-table a").await;
    b.until("the exchange summary", "return document.body.dataset.loaded === 'exchange' && document.querySelector('#exchange').innerText.includes('Decided by')").await;
    let text = b.js("return document.body.innerText").await;
    assert!(
        !text.as_str().unwrap().contains("jane.doe"),
        "no value on any page"
    );
    // the live feed: a decision arrives as it happens
    b.go(&format!("{console}#live")).await;
    b.until(
        "the live feed",
        "return document.querySelector('#live-status').innerText.startsWith('connected')",
    )
    .await;
    call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("live-marker {PEM}")),
    )
    .await;
    call(gw.addr, "GET", "/api/live-marker", &[], Vec::new()).await;
    b.until("a live decision", "return [...document.querySelectorAll('#live-feed li')].some(li => li.innerText.includes('live-marker'))").await;
    let blocks = b
        .js("return document.querySelectorAll('#live-feed li[data-decision=block]').length")
        .await;
    assert!(blocks.as_u64().unwrap() >= 2, "{blocks}");
    // every page at a wide and a phone size, in both themes
    for (w, h, size) in [(1400, 900, "wide"), (390, 844, "phone")] {
        b.size(w, h).await;
        for page in [
            "blueprint",
            "findings",
            "ai",
            "live",
            "policies",
            "kubernetes",
        ] {
            b.go(&format!("{console}#{page}")).await;
            b.until(
                page,
                &format!("return document.body.dataset.loaded === '{page}'"),
            )
            .await;
            b.screenshot(&format!("{page}-{size}")).await;
        }
    }
    let dark = b
        .js("return document.documentElement.classList.contains('dark')")
        .await;
    b.click("#theme").await;
    b.until(
        "the other theme",
        &format!(
            "return document.documentElement.classList.contains('dark') === {}",
            !dark.as_bool().unwrap()
        ),
    )
    .await;
    // the theme stays across pages
    b.go(&format!("{console}#ai")).await;
    b.until(
        "the AI page in the other theme",
        &format!(
            "return document.body.dataset.loaded === 'ai' && document.documentElement.classList.contains('dark') === {}",
            !dark.as_bool().unwrap()
        ),
    )
    .await;
    b.screenshot("ai-phone-other-theme").await;
    // what each page shows
    b.go(&format!("{console}#ai")).await;
    b.until(
        "AI usage",
        "return document.querySelector('#ai-charts').innerText.includes('gpt-4o-mini')",
    )
    .await;
    b.until(
        "AI use by model, key and workload",
        "const t = document.querySelector('#ai-charts').innerText; return t.includes('By model') && t.includes('By workload') && !!document.querySelector('#ai-charts svg[aria-label=\"tokens per day\"]')",
    )
    .await;
    b.go(&format!("{console}#policies")).await;
    b.until("the policies", "return document.querySelector('#policies').innerText.includes('default') && document.querySelector('#policies').innerText.includes('enforce')").await;
    b.go(&format!("{console}#kubernetes")).await;
    b.until(
        "the Kubernetes page",
        "return document.querySelector('#kubernetes').innerText.length > 0",
    )
    .await;
    // keyboard: the tabs are links in order
    let tabs = b
        .js("return [...document.querySelectorAll('nav a')].map(a => a.textContent)")
        .await;
    assert_eq!(
        tabs,
        json!([
            "Blueprint",
            "Findings",
            "AI usage",
            "Live",
            "Policies",
            "Kubernetes"
        ])
    );
}
