//! HAR (HTTP Archive 1.2) files as [`Event`]s: browser and proxy exports (Chrome, Firefox,
//! Safari, Charles, Insomnia, mitmproxy). Entries that do not hold an absolute `http(s)` URL
//! are skipped and counted; bodies encoded in base64 are decoded.

use base64::Engine as _;
use serde_json::Value;

use crate::{Event, split_url};

/// What a HAR file held.
#[derive(Debug, Default)]
pub struct Har {
    /// Its exchanges.
    pub events: Vec<Event>,
    /// Entries that could not be read (no URL, not HTTP).
    pub skipped: usize,
}

/// Reads a HAR document (a UTF-8 byte-order mark is allowed).
pub fn parse(bytes: &[u8]) -> Result<Har, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not a HAR file: {e}"))?;
    let entries = doc
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or("not a HAR file: no log.entries")?;
    let mut har = Har::default();
    for e in entries {
        match entry(e) {
            Some(ev) => har.events.push(ev),
            None => har.skipped += 1,
        }
    }
    Ok(har)
}

fn headers(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| {
            Some((
                h.get("name")?.as_str()?.to_ascii_lowercase(),
                h.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn entry(e: &Value) -> Option<Event> {
    let req = e.get("request")?;
    let url = req.get("url")?.as_str()?;
    let (scheme, host, path, query) = split_url(url)?;
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let request_headers = headers(req.get("headers"));
    let request_body = req
        .pointer("/postData/text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| t.as_bytes().to_vec());
    let resp = e.get("response");
    let status = resp
        .and_then(|r| r.get("status"))
        .and_then(Value::as_u64)
        .filter(|s| (100..600).contains(s))
        .map(|s| s as u16);
    let response_headers = headers(resp.and_then(|r| r.get("headers")));
    let response_body = resp.and_then(|r| r.get("content")).and_then(|c| {
        let text = c.get("text")?.as_str()?;
        if text.is_empty() {
            return None;
        }
        if c.get("encoding").and_then(Value::as_str) == Some("base64") {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
        } else {
            Some(text.as_bytes().to_vec())
        }
    });
    let caller = request_headers
        .iter()
        .find(|(n, _)| n == "origin" || n == "referer")
        .and_then(|(_, v)| split_url(v))
        .map(|(_, h, _, _)| h)
        .filter(|h| *h != host);
    Some(Event {
        time: e
            .get("startedDateTime")
            .and_then(Value::as_str)
            .map(str::to_owned),
        caller,
        scheme,
        host,
        port: crate::url_port(url),
        method,
        path,
        query,
        status,
        request_headers,
        request_body,
        response_headers,
        response_body,
        via_gateway: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_events() {
        let har = br#"{"log": {"entries": [
            {"startedDateTime": "2024-01-02T03:04:05Z",
             "request": {"method": "post", "url": "https://api.example.com/v1/users?x=1",
                         "headers": [{"name": "Authorization", "value": "Bearer t"}],
                         "postData": {"mimeType": "application/json", "text": "{\"a\":1}"}},
             "response": {"status": 201, "headers": [],
                          "content": {"mimeType": "application/json", "text": "eyJpZCI6IDd9", "encoding": "base64"}}},
            {"request": {"method": "GET", "url": "about:blank"}, "response": {}}
        ]}}"#;
        let h = parse(har).unwrap();
        assert_eq!(h.events.len(), 1);
        assert_eq!(h.skipped, 1);
        let e = &h.events[0];
        assert_eq!(
            (e.method.as_str(), e.host.as_str(), e.path.as_str()),
            ("POST", "api.example.com", "/v1/users")
        );
        assert_eq!(e.status, Some(201));
        assert_eq!(e.response_body.as_deref(), Some(&b"{\"id\": 7}"[..]));
        assert_eq!(e.request_header("authorization"), Some("Bearer t"));
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
