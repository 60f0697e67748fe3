//! The hostile-input suite's machinery: a scripted upstream that answers each case with the
//! bytes the case gives, a raw client, and a leak check that looks for a value in every form
//! a receiver could read it back from (escaped, encoded, compressed, split by invisible
//! characters, typed with look-alike or full-width characters).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;

/// What the scripted upstream answers.
#[derive(Clone, Debug, Default)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Sent as separate frames, a few milliseconds apart.
    pub chunks: Vec<Vec<u8>>,
}

impl Canned {
    pub fn json(body: &str) -> Canned {
        Canned {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
        }
    }

    pub fn typed(content_type: &str, chunks: Vec<Vec<u8>>) -> Canned {
        Canned {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            chunks,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request the upstream received, as one byte string (request line, headers, body).
pub type Seen = Vec<u8>;

/// The scripted upstream: records every request and answers with the current script.
#[derive(Clone)]
pub struct Scripted {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub script: Arc<Mutex<Canned>>,
}

type Boxed = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

impl Scripted {
    pub async fn start() -> Scripted {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script = Arc::new(Mutex::new(Canned::json("{}")));
        let (rec, current) = (seen.clone(), script.clone());
        let addr = crate::common::serve(None, move |parts, body| {
            let mut request = format!("{} {}\n", parts.method, parts.uri).into_bytes();
            for (k, v) in &parts.headers {
                request.extend_from_slice(k.as_str().as_bytes());
                request.extend_from_slice(b": ");
                request.extend_from_slice(v.as_bytes());
                request.push(b'\n');
            }
            request.push(b'\n');
            request.extend_from_slice(&body);
            rec.lock().unwrap().push(request);
            let canned = current.lock().unwrap().clone();
            let mut resp = Response::builder().status(canned.status);
            for (k, v) in &canned.headers {
                resp = resp.header(k, v);
            }
            let body: Boxed = BodyExt::boxed(chunked_body(canned.chunks));
            std::future::ready(resp.body(body).unwrap())
        })
        .await;
        Scripted { addr, seen, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, canned: Canned) {
        *self.script.lock().unwrap() = canned;
    }

    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// The chunks as a body of frames with a short pause between them (so the gateway sees
/// them as separate reads).
fn chunked_body(chunks: Vec<Vec<u8>>) -> ChunkBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(Bytes::from(c)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    ChunkBody(rx)
}

/// A body fed by a channel, one frame per message.
pub struct ChunkBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// What the client got back: status line, headers, body (as received, not decoded).
pub struct Answer {
    pub status: u16,
    pub all: Vec<u8>,
}

/// Sends one raw HTTP/1.1 request to the gateway (headers repeated as given).
pub async fn send(
    gateway: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, Vec<u8>)],
    body: Vec<u8>,
) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{gateway}{path}"));
    for (k, v) in headers {
        req = req.header(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(req.body(Full::new(Bytes::from(body))).unwrap()),
    )
    .await
    .expect("the gateway answers within 20 s")
    .expect("the gateway answers");
    let status = resp.status().as_u16();
    let mut all = format!("{status}\n").into_bytes();
    for (k, v) in resp.headers() {
        all.extend_from_slice(k.as_str().as_bytes());
        all.extend_from_slice(b": ");
        all.extend_from_slice(v.as_bytes());
        all.push(b'\n');
    }
    all.push(b'\n');
    // a stream cut off by a block ends in an error: what arrived before it counts
    let mut body = resp.into_body();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(20), body.frame())
        .await
        .expect("the body arrives within 20 s")
    {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    all.extend_from_slice(&d);
                }
            }
            Err(_) => break,
        }
    }
    Answer { status, all }
}

// ---------------------------------------------------------------------------------------
// the leak check

/// Whether `value` can be read back from `bytes` in any form: the bytes as they are, with
/// JSON escapes, percent-encoding, base64 blobs and gzip/zlib undone (nested), UTF-16 read
/// as text, and in each form with invisible characters removed, look-alike and full-width
/// characters folded, and separators ignored.
pub fn leaks(bytes: &[u8], value: &str) -> bool {
    let core = fold(value);
    assert!(
        core.len() >= 6,
        "a sensitive value has at least 6 significant characters"
    );
    views(bytes, 0).iter().any(|v| fold(v).contains(&core))
}

/// The readable forms of `bytes`, nested up to depth 3.
fn views(bytes: &[u8], depth: u8) -> Vec<String> {
    let mut out = vec![String::from_utf8_lossy(bytes).into_owned()];
    if depth >= 3 {
        return out;
    }
    let mut nested: Vec<Vec<u8>> = Vec::new();
    if let Some(d) = inflate(bytes) {
        nested.push(d);
    }
    // UTF-16 in either byte order
    if bytes.len() >= 4 && bytes.iter().filter(|&&b| b == 0).count() * 4 >= bytes.len() {
        for le in [true, false] {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| {
                    if le {
                        u16::from_le_bytes([c[0], c[1]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]])
                    }
                })
                .collect();
            nested.push(String::from_utf16_lossy(&units).into_bytes());
        }
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    let unescaped = json_unescape(&text);
    if unescaped != text {
        nested.push(unescaped.clone().into_bytes());
    }
    let percent = percent_decode(&unescaped);
    if percent != unescaped.as_bytes() {
        nested.push(percent);
    }
    for blob in base64_blobs(&unescaped) {
        nested.push(blob);
    }
    // SSE: the text of every data line joined (values split across events)
    if text.contains("data:") {
        let mut joined = String::new();
        for line in unescaped.split(['\n', '\r']) {
            if let Some(d) = line.strip_prefix("data:") {
                joined.push_str(d);
            }
        }
        nested.push(joined.into_bytes());
        nested.push(stream_texts(&text).into_bytes());
    }
    for n in nested {
        out.extend(views(&n, depth + 1));
    }
    out
}

/// Every JSON string of every SSE data line, concatenated (the text a client assembles).
fn stream_texts(text: &str) -> String {
    let mut out = String::new();
    for line in text.split(['\n', '\r']) {
        let Some(d) = line.strip_prefix("data:") else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(d.trim()) {
            collect_strings(&v, &mut out);
        }
    }
    out
}

fn collect_strings(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => out.push_str(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .take(1 << 22)
            .read_to_end(&mut out)
            .ok()?;
        return Some(out);
    }
    if bytes.len() > 2 && bytes[0] == 0x78 {
        flate2::read::ZlibDecoder::new(bytes)
            .take(1 << 22)
            .read_to_end(&mut out)
            .ok()?;
        return Some(out);
    }
    let mut raw = Vec::new();
    if flate2::read::DeflateDecoder::new(bytes)
        .take(1 << 22)
        .read_to_end(&mut raw)
        .is_ok()
        && !raw.is_empty()
    {
        return Some(raw);
    }
    None
}

fn json_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_high: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(n) = u32::from_str_radix(&hex, 16) else {
                    continue;
                };
                if (0xD800..0xDC00).contains(&n) {
                    pending_high = Some(n);
                } else if (0xDC00..0xE000).contains(&n) {
                    if let Some(h) = pending_high.take()
                        && let Some(c) =
                            char::from_u32(0x10000 + ((h - 0xD800) << 10) + (n - 0xDC00))
                    {
                        out.push(c);
                    }
                } else if let Some(c) = char::from_u32(n) {
                    out.push(c);
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn base64_blobs(s: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for run in s.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
        if run.len() < 12 {
            continue;
        }
        let t = run.trim_end_matches('=');
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            if let Ok(d) = engine.decode(t) {
                out.push(d);
                break;
            }
        }
    }
    out
}

/// The significant characters of `s`: letters and digits, look-alikes and full-width forms
/// folded to ASCII, case folded; everything else (separators, invisible characters) dropped.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = fold_char(c);
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn fold_char(c: char) -> char {
    if let Some(d) = c.to_digit(10) {
        return char::from_digit(d, 10).unwrap_or(c);
    }
    let n = c as u32;
    // Unicode decimal digits of other scripts
    for base in [
        0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    ] {
        if (base..base + 10).contains(&n) {
            return char::from_digit(n - base, 10).unwrap();
        }
    }
    rampart_detect::confusable::confusable(c).unwrap_or(c)
}
