//! Discovery: what runs and talks. Observed exchanges ([`Event`]s, from HAR captures, access
//! logs or the gateway) are folded into an [`Inventory`]: endpoints per host by path template,
//! with the data classes their requests and responses carry and the authentication they use;
//! AI usage per host, provider and model, through the gateway or around it; and the flows of
//! data classes between callers and hosts. Imported OpenAPI specs ([`openapi::Spec`]) tell
//! documented endpoints from shadow (undocumented), zombie (deprecated or of a retired
//! version) and unused ones. Raw sensitive values are never kept: bodies are scanned and only
//! the class names of what they hold are recorded.
#![forbid(unsafe_code)]

pub mod har;
pub mod inventory;
pub mod logs;
pub mod nodes;
pub mod openapi;
pub mod render;
pub mod schema;
pub mod template;

pub use inventory::{
    AiRow, Document, EndpointRow, FindingRow, FlowRow, Inventory, LineageRow, Observed, Rows,
    SeenFinding, StoreRow, auth_kind, key_fingerprint,
};

/// RFC 3339 (UTC, milliseconds) of a time in milliseconds since the Unix epoch.
pub fn rfc3339_ms(ms: u128) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// One observed exchange, as a source (HAR entry, access-log line) describes it.
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// When it started, RFC 3339, if the source says.
    pub time: Option<String>,
    /// Who called (an address or identity the source names), if known.
    pub caller: Option<String>,
    /// `http` or `https`.
    pub scheme: String,
    /// The host called (lowercase, without the port).
    pub host: String,
    /// The port called, when the source names it.
    pub port: Option<u16>,
    /// The method (uppercase).
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// The response status, if there was a response.
    pub status: Option<u16>,
    /// Request headers (names lowercase).
    pub request_headers: Vec<(String, String)>,
    /// The request body, if captured.
    pub request_body: Option<Vec<u8>>,
    /// Response headers (names lowercase).
    pub response_headers: Vec<(String, String)>,
    /// The response body, if captured (decoded from base64 where the capture encoded it).
    pub response_body: Option<Vec<u8>>,
    /// The exchange went through the gateway's provider routes.
    pub via_gateway: bool,
}

impl Event {
    /// The first value of request header `name` (lowercase).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits an absolute URL into scheme, host (lowercase, no port), path and query. `None` when
/// it is not an absolute `http`/`https` URL.
pub fn split_url(url: &str) -> Option<(String, String, String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" && scheme != "ws" && scheme != "wss" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let after = &rest[end..];
    let after = after.split('#').next().unwrap_or("");
    let (path, query) = match after.split_once('?') {
        Some((p, q)) => (p, q),
        None => (after, ""),
    };
    let host = host_of(authority)?;
    let path = if path.is_empty() { "/" } else { path };
    Some((scheme, host, path.to_owned(), query.to_owned()))
}

/// The port an absolute URL names explicitly (`https://h:8443/` -> 8443), if any.
pub fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    port_of(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// The port of an authority (`user@host:port`, `[v6]:port`), if it names one.
pub fn port_of(authority: &str) -> Option<u16> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let after = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.1.strip_prefix(':')?,
        None => {
            let (h, p) = authority.rsplit_once(':')?;
            if h.contains(':') {
                return None;
            }
            p
        }
    };
    after.parse().ok()
}

/// The host of an authority (`user@host:port`, `[v6]:port`): lowercase, without port.
pub fn host_of(authority: &str) -> Option<String> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_714_557_600_123), "2024-05-01T10:00:00.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn urls_split_into_their_parts() {
        assert_eq!(
            split_url("https://API.example.com:8443/v1/users/7?x=1#frag"),
            Some((
                "https".into(),
                "api.example.com".into(),
                "/v1/users/7".into(),
                "x=1".into()
            ))
        );
        assert_eq!(
            split_url("http://[::1]:8080"),
            Some(("http".into(), "::1".into(), "/".into(), String::new()))
        );
        assert_eq!(split_url("ftp://x/y"), None);
        assert_eq!(url_port("https://API.example.com:8443/v1"), Some(8443));
        assert_eq!(url_port("https://api.example.com/v1"), None);
        assert_eq!(port_of("[::1]:9200"), Some(9200));
        assert_eq!(port_of("::1"), None);
        assert_eq!(port_of("u:p@db:5432"), Some(5432));
        assert_eq!(split_url("/relative"), None);
    }
}
