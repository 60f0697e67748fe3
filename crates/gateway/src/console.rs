//! The console: a web page on the admin port over what discovery, the policies, the limits
//! and the controller record. Its assets are embedded; nothing is fetched from elsewhere.
//!
//! - **Login.** `POST /console/login` with the admin token sets a session cookie (random,
//!   HttpOnly, SameSite=Strict, 12 hours). Without a session every `/console` path answers
//!   the login page and nothing else. The session also authorizes the admin API the page
//!   calls; state-changing calls made with it must carry `x-rampart-console: 1`, which a form
//!   on another site cannot send.
//! - **Live feed.** Every finished exchange becomes a value-free summary (no body, no query,
//!   the audit path). The last 1,000 are kept for `GET /admin/exchanges[/ID]`, and
//!   `GET /admin/events` streams them as server-sent events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rampart_exchange::AuditEvent;
use serde_json::{Value, json};

use crate::body::{BoxError, ChannelBody, GatewayBody};

/// The page, once logged in.
pub const INDEX: &str = include_str!("console/index.html");
/// The script.
pub const APP_JS: &str = include_str!("console/app.js");
/// The styles.
pub const APP_CSS: &str = include_str!("console/app.css");
/// The login page (self-contained: it is all an unauthenticated visitor gets).
pub const LOGIN: &str = include_str!("console/login.html");

/// How long a session lasts.
const SESSION: Duration = Duration::from_secs(12 * 3600);
/// Exchanges kept for the feed and the exchange pages.
const RECENT: usize = 1_000;
/// The session cookie's name.
pub const COOKIE: &str = "rampart_session";

/// Sessions, the recent exchanges and the live feed.
pub struct Console {
    sessions: Mutex<HashMap<String, Instant>>,
    /// The last exchanges, as recorded (without sampled bodies).
    recent: Mutex<VecDeque<Arc<AuditEvent>>>,
    feed: tokio::sync::broadcast::Sender<Arc<AuditEvent>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Default for Console {
    fn default() -> Self {
        Console {
            sessions: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
            feed: tokio::sync::broadcast::channel(256).0,
        }
    }
}

/// What the console shows of an exchange: where it went, who called, what was decided and
/// why, the classes found; never a value.
pub fn summary(e: &AuditEvent) -> Value {
    json!({
        "id": e.id,
        "time": rampart_discover::rfc3339_ms(e.ts_ms),
        "provider": e.provider,
        "model": e.model,
        "method": e.method,
        "path": e.path,
        "host": e.host,
        "caller": {"ip": e.caller.ip, "workload": e.caller.workload,
                   "namespace": e.caller.namespace, "key_id": e.caller.key_id},
        "decision": format!("{:?}", e.decision).to_ascii_lowercase(),
        "enforced": e.enforced,
        "decided_by": e.decided_by,
        "reason": format!("{:?}", e.reason),
        "status": e.status,
        "latency_ms": e.latency_ms,
        "findings": e.findings.iter().map(|f| json!({
            "class": f.finding.class.name(),
            "detector": f.finding.detector,
            "direction": match f.direction {
                rampart_core::Direction::Request => "request",
                rampart_core::Direction::Response => "response",
            },
            "location": f.location,
            "action": format!("{:?}", f.action).to_ascii_lowercase(),
            "rule": f.rule,
            "severity": f.finding.severity.name(),
        })).collect::<Vec<_>>(),
    })
}

impl Console {
    /// Records a finished exchange for the feed: the event is shared, not copied, and
    /// summarized only when someone reads it (a sampled exchange's bodies are left out).
    pub fn record(&self, e: &Arc<AuditEvent>) {
        let s = if e.bodies.is_some() {
            Arc::new(AuditEvent {
                bodies: None,
                ..(**e).clone()
            })
        } else {
            e.clone()
        };
        {
            let mut recent = self.recent.lock().expect("recent lock");
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(s.clone());
        }
        let _ = self.feed.send(s);
    }

    /// The recent exchanges, newest first, that match `decision` (when given).
    pub fn recent(&self, decision: Option<&str>, limit: usize) -> Vec<Value> {
        let events: Vec<Arc<AuditEvent>> = self
            .recent
            .lock()
            .expect("recent lock")
            .iter()
            .rev()
            .take(RECENT)
            .cloned()
            .collect();
        events
            .iter()
            .map(|e| summary(e))
            .filter(|s| decision.is_none_or(|d| s["decision"] == d))
            .take(limit)
            .collect()
    }

    /// One recent exchange.
    pub fn exchange(&self, id: &str) -> Option<Value> {
        let e = self
            .recent
            .lock()
            .expect("recent lock")
            .iter()
            .rev()
            .find(|e| e.id == id)
            .cloned()?;
        Some(summary(&e))
    }

    /// Opens a session; returns its id.
    pub fn login(&self) -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, t| t.elapsed() < SESSION);
        sessions.insert(id.clone(), Instant::now());
        id
    }

    /// Ends a session.
    pub fn logout(&self, id: &str) {
        self.sessions.lock().expect("sessions lock").remove(id);
    }

    /// Whether the request carries a live session.
    pub fn session<B>(&self, req: &hyper::Request<B>) -> bool {
        let Some(id) = session_id(req) else {
            return false;
        };
        self.sessions
            .lock()
            .expect("sessions lock")
            .get(id)
            .is_some_and(|t| t.elapsed() < SESSION)
    }

    /// `GET /admin/events`: the last `backlog` exchanges, then each new one, as server-sent
    /// events (`event: exchange`), with a comment every 15 s to keep proxies from closing
    /// the stream.
    pub fn events(&self, backlog: usize) -> GatewayBody {
        let (tx, body) = ChannelBody::new();
        let mut rx = self.feed.subscribe();
        let mut first: Vec<Value> = self.recent(None, backlog);
        first.reverse();
        tokio::spawn(async move {
            let frame = |v: &Value| -> Result<Bytes, BoxError> {
                Ok(Bytes::from(format!("event: exchange\ndata: {v}\n\n")))
            };
            for v in first {
                if tx.send(frame(&v)).await.is_err() {
                    return;
                }
            }
            let mut beat = tokio::time::interval(Duration::from_secs(15));
            loop {
                tokio::select! {
                    v = rx.recv() => match v {
                        Ok(e) => {
                            if tx.send(frame(&summary(&e))).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            let note = Bytes::from(format!(": {n} exchanges skipped\n\n"));
                            if tx.send(Ok(note)).await.is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    _ = beat.tick() => {
                        if tx.send(Ok(Bytes::from_static(b": keep-alive\n\n"))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        http_body_util::BodyExt::boxed(body)
    }
}

/// The session id a request's cookie carries.
pub fn session_id<B>(req: &hyper::Request<B>) -> Option<&str> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then_some(v)
        })
}

/// The token a login form posted (`token=...`, URL-encoded).
pub fn form_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "token").then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
