//! Refusals: what the caller is told when an exchange does not go on, typed, and rendered in
//! one place ([`Refusal::render`]) in the provider's own error shape, or as an RFC 9457
//! problem document for API routes.

use rampart_llm::Provider;
use serde_json::json;

/// The machine-readable code of a refusal, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Policy blocked the request or the response.
    Blocked,
    /// The destination is not allowed by policy.
    EgressDenied,
    /// No route matches the path.
    NoRoute,
    /// The request body did not arrive in time.
    RequestTimeout,
    /// The request body is over the inspection limit.
    RequestTooLarge,
    /// The request body could not be read.
    BadRequest,
    /// The body cannot be decoded for inspection.
    Uninspectable,
    /// A provider call whose JSON does not parse.
    MalformedJson,
    /// The request may use more tokens than a limit allows per request.
    MaxTokens,
    /// A limit is reached.
    RateLimited,
    /// The limits store is unavailable.
    LimitsUnavailable,
    /// The upstream could not be reached, or the request not built for it.
    UpstreamError,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The response could not be inspected.
    ResponseUninspectable,
    /// The forward proxy is off.
    ForwardProxyOff,
    /// A `CONNECT` to a port not allowed.
    PortRefused,
    /// A forward-proxy destination in a loopback, private, link-local or metadata range.
    DestinationRefused,
    /// A `CONNECT` without `host:port`.
    BadConnect,
}

impl Code {
    /// The code string (`rampart_blocked`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Blocked => "rampart_blocked",
            Code::EgressDenied => "rampart_egress_denied",
            Code::NoRoute => "no_route",
            Code::RequestTimeout => "rampart_request_timeout",
            Code::RequestTooLarge => "rampart_request_too_large",
            Code::BadRequest => "rampart_bad_request",
            Code::Uninspectable => "rampart_uninspectable",
            Code::MalformedJson => "rampart_malformed_json",
            Code::MaxTokens => "rampart_max_tokens",
            Code::RateLimited => "rampart_rate_limited",
            Code::LimitsUnavailable => "rampart_limits_unavailable",
            Code::UpstreamError => "rampart_upstream_error",
            Code::UpstreamTimeout => "rampart_upstream_timeout",
            Code::ResponseUninspectable => "rampart_response_uninspectable",
            Code::ForwardProxyOff => "rampart_forward_proxy_off",
            Code::PortRefused => "rampart_port_refused",
            Code::DestinationRefused => "rampart_destination_refused",
            Code::BadConnect => "rampart_bad_connect",
        }
    }
}

/// An answer that ends an exchange without (or instead of) the upstream's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// What kind of refusal.
    pub code: Code,
    /// A message for the person reading the error (never a sensitive value).
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after_s: Option<u64>,
    /// The `RateLimit-Policy` and `RateLimit` header values.
    pub ratelimit: Option<(String, String)>,
    /// Whether the answer is the provider's error shape (false: an RFC 9457 problem).
    pub provider_shape: bool,
}

impl Refusal {
    /// A refusal with `status`, `code` and `message`, in the provider's shape when the
    /// exchange has a provider.
    pub fn new(status: u16, code: Code, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
            ratelimit: None,
            provider_shape: true,
        }
    }

    /// The same refusal as an RFC 9457 problem, whatever the route.
    pub fn as_problem(mut self) -> Refusal {
        self.provider_shape = false;
        self
    }

    /// Renders the refusal for the caller: the provider's error body for provider calls, an
    /// RFC 9457 problem otherwise.
    pub fn render(&self, provider: Option<&dyn Provider>) -> Rendered {
        let code = self.code.as_str();
        let (body, content_type) = match provider.filter(|_| self.provider_shape) {
            Some(p) => (
                p.error(self.status, code, &self.message),
                "application/json",
            ),
            None => (
                json!({"type": "about:blank", "title": code, "status": self.status,
                       "detail": self.message, "code": code}),
                "application/problem+json",
            ),
        };
        let mut headers = vec![("x-rampart-decision", "refused".to_owned())];
        if let Some(s) = self.retry_after_s {
            headers.push(("retry-after", s.to_string()));
        }
        if let Some((policy, state)) = &self.ratelimit {
            headers.push(("ratelimit-policy", policy.clone()));
            headers.push(("ratelimit", state.clone()));
        }
        Rendered {
            status: self.status,
            content_type,
            headers,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }
}

/// A refusal ready to send: status, media type, extra headers and body.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// HTTP status.
    pub status: u16,
    /// `application/json` (provider shape) or `application/problem+json`.
    pub content_type: &'static str,
    /// Further headers (`x-rampart-decision`, `retry-after`, rate-limit state).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_render_in_the_providers_shape_or_as_problems() {
        let openai = rampart_llm::providers()
            .into_iter()
            .find(|p| p.id() == "openai")
            .unwrap();
        let mut r = Refusal::new(429, Code::RateLimited, "limit x is reached");
        r.retry_after_s = Some(3);
        let shaped = r.render(Some(openai.as_ref()));
        let v: serde_json::Value = serde_json::from_slice(&shaped.body).unwrap();
        assert_eq!(v["error"]["code"], "rampart_rate_limited");
        assert_eq!(shaped.content_type, "application/json");
        assert!(shaped.headers.contains(&("retry-after", "3".into())));
        let problem = r.render(None);
        let v: serde_json::Value = serde_json::from_slice(&problem.body).unwrap();
        assert_eq!(v["status"], 429);
        assert_eq!(v["detail"], "limit x is reached");
        assert_eq!(problem.content_type, "application/problem+json");
        let forced = r.clone().as_problem().render(Some(openai.as_ref()));
        assert_eq!(forced.content_type, "application/problem+json");
    }
}
