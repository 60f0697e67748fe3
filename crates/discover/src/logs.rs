//! JSON access logs as [`Event`]s, one JSON object per line: Envoy's JSON access log (its
//! default field names, and `%REQ(...)%`-style names users configure) and nginx `log_format`
//! with `escape=json` (the variable names as keys). Lines that are not JSON objects, or name no
//! path, are skipped and counted.

use serde_json::Value;

use crate::{Event, host_of, split_url};

/// What an access log held.
#[derive(Debug, Default)]
pub struct Log {
    /// Its exchanges.
    pub events: Vec<Event>,
    /// Lines that could not be read.
    pub skipped: usize,
}

/// Reads JSON-lines access-log text.
pub fn parse(text: &str) -> Log {
    let mut log = Log::default();
    for line in text.lines() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line)
            .ok()
            .as_ref()
            .and_then(line_event)
        {
            Some(e) => log.events.push(e),
            None => log.skipped += 1,
        }
    }
    log
}

/// The first of `keys` present, as text (numbers too).
fn field(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn line_event(v: &Value) -> Option<Event> {
    if !v.is_object() {
        return None;
    }
    // nginx `$request` is "METHOD /path?query HTTP/1.1"
    let request_line = field(v, &["request"]);
    let mut parts = request_line.as_deref().unwrap_or("").split(' ');
    let (line_method, line_target) = (parts.next(), parts.next());
    let method = field(
        v,
        &[
            "method",
            ":method",
            "request_method",
            "http_method",
            "REQ(:METHOD)",
        ],
    )
    .or_else(|| line_method.filter(|m| !m.is_empty()).map(str::to_owned))?
    .to_ascii_uppercase();
    let target = field(
        v,
        &[
            "path",
            ":path",
            "x_envoy_original_path",
            "request_uri",
            "uri",
            "url",
            "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)",
            "REQ(:PATH)",
        ],
    )
    .or_else(|| line_target.map(str::to_owned))?;
    let authority = field(
        v,
        &[
            "authority",
            ":authority",
            "host",
            "http_host",
            "server_name",
            "REQ(:AUTHORITY)",
            "upstream_host",
        ],
    );
    let (scheme, host, path, query) = if let Some(parts) = split_url(&target) {
        parts
    } else {
        let (p, q) = target.split_once('?').unwrap_or((&target, ""));
        let scheme = field(v, &["scheme", "protocol_scheme"]).unwrap_or_else(|| "http".into());
        (
            scheme.to_ascii_lowercase(),
            authority.as_deref().and_then(host_of)?,
            p.to_owned(),
            q.to_owned(),
        )
    };
    let port = authority
        .as_deref()
        .and_then(crate::port_of)
        .or_else(|| crate::url_port(&target))
        .or_else(|| field(v, &["upstream_host", "upstream_addr"]).and_then(|u| crate::port_of(&u)));
    let status = field(v, &["response_code", "status", ":status", "RESPONSE_CODE"])
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s));
    let caller = field(
        v,
        &[
            "downstream_remote_address",
            "x_forwarded_for",
            "http_x_forwarded_for",
            "remote_addr",
            "client_ip",
        ],
    )
    .map(|c| {
        let c = c.split(',').next().unwrap_or(&c).trim().to_owned();
        // an address with its port: the address
        match c.rsplit_once(':') {
            Some((a, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !a.contains(':') => {
                a.to_owned()
            }
            _ => c,
        }
    });
    let mut request_headers = Vec::new();
    if let Some(auth) = field(v, &["authorization", "http_authorization"]) {
        request_headers.push(("authorization".into(), auth));
    }
    if let Some(ua) = field(v, &["user_agent", "http_user_agent", "user-agent"]) {
        request_headers.push(("user-agent".into(), ua));
    }
    Some(Event {
        time: field(
            v,
            &[
                "start_time",
                "time_iso8601",
                "time",
                "timestamp",
                "@timestamp",
                "time_local",
            ],
        ),
        caller,
        scheme,
        host,
        port,
        method,
        path: if path.is_empty() { "/".into() } else { path },
        query,
        status,
        request_headers,
        ..Event::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_and_nginx_lines_become_events() {
        let text = r#"{"start_time":"2024-05-01T10:00:00.000Z","method":"GET","path":"/api/users/42?full=1","protocol":"HTTP/1.1","response_code":200,"authority":"shop.internal:8080","downstream_remote_address":"10.0.0.7:51234"}
{"time_iso8601":"2024-05-01T10:00:01+00:00","remote_addr":"10.0.0.8","request":"POST /login HTTP/1.1","status":"302","http_host":"shop.internal"}
not json
{"msg": "no request here"}
"#;
        let log = parse(text);
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.skipped, 2);
        let a = &log.events[0];
        assert_eq!(
            (
                a.method.as_str(),
                a.host.as_str(),
                a.path.as_str(),
                a.query.as_str()
            ),
            ("GET", "shop.internal", "/api/users/42", "full=1")
        );
        assert_eq!(a.status, Some(200));
        assert_eq!(a.caller.as_deref(), Some("10.0.0.7"));
        let b = &log.events[1];
        assert_eq!(
            (b.method.as_str(), b.path.as_str(), b.status),
            ("POST", "/login", Some(302))
        );
    }
}
