//! The engine: what every exchange shares (scanner, hash key, provider adapters, routes,
//! prices, abuse signals, caller identity), and `request_head`, the phase that begins an
//! exchange.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;
use rampart_core::{Action, DataClass, Direction};
use rampart_detect::{HashKey, Scanner};
use rampart_llm::Provider;
use rampart_policy::{EgressVerdict, Exchange as Meta, PolicySet};

use crate::event::Outcome;
use crate::exchange::{Exchange, Route};
use crate::identity::{CallerHints, Identity};
use crate::refusal::{Code, Refusal};

/// Headers that carry the caller's credentials for the upstream: passed through, never
/// scanned, never logged.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
];

/// Hop-by-hop headers (and those the front end sets itself), never forwarded.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-authorization",
    "proxy-authenticate",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// An API route: requests under `prefix` go to `base`.
#[derive(Clone, Debug)]
pub struct ApiRoute {
    /// Path prefix.
    pub prefix: String,
    /// The route's name (what policies select by).
    pub name: String,
    /// Upstream base URL (no trailing slash).
    pub base: String,
}

/// Lets at most `n` exchanges a second lend their JSON bodies to discovery, which describes
/// their schemas off the request path. One atomic word: the second in the high bits, the
/// count taken in it in the low 24.
#[derive(Debug)]
pub struct Sampler {
    per_second: u64,
    epoch: std::time::Instant,
    state: AtomicU64,
}

impl Sampler {
    /// Largest body lent.
    pub const MAX_BODY: usize = 256 << 10;

    /// At most `n` a second; 0 lends none.
    pub fn per_second(n: u64) -> Sampler {
        Sampler {
            per_second: n.min(0xff_ffff),
            epoch: std::time::Instant::now(),
            state: AtomicU64::new(0),
        }
    }

    /// Whether this body may be lent: a JSON object or array within the size limit, and the
    /// second's budget not spent (lost races count as spent).
    pub fn take(&self, body: &[u8]) -> bool {
        if self.per_second == 0
            || body.len() > Self::MAX_BODY
            || !matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
        {
            return false;
        }
        let now = self.epoch.elapsed().as_secs() + 1;
        let cur = self.state.load(Ordering::Relaxed);
        let next = if cur >> 24 == now {
            if cur & 0xff_ffff >= self.per_second {
                return false;
            }
            cur + 1
        } else {
            (now << 24) | 1
        };
        self.state
            .compare_exchange(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// Sizes the engine enforces or names in its refusals.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Largest request body inspected.
    pub max_request_body: usize,
}

/// What every exchange shares. No IO: the front end reads and writes, the engine decides.
pub struct Engine {
    /// The scanner, with findings hashed under `hash_key`.
    pub scanner: &'static Scanner,
    /// The key of every keyed hash (findings, credentials).
    pub hash_key: HashKey,
    /// The provider adapters.
    pub providers: Vec<Arc<dyn Provider>>,
    /// Provider id -> upstream base URL.
    pub upstreams: HashMap<&'static str, String>,
    /// API routes, matched by longest prefix.
    pub routes: Vec<ApiRoute>,
    /// Model prices for spend limits.
    pub prices: rampart_limits::price::Prices,
    /// Abuse and model-extraction signals per caller (per replica).
    pub abuse: rampart_limits::abuse::Tracker,
    /// Who calls.
    pub identity: Identity,
    /// Body sizes.
    pub limits: BodyLimits,
    /// Which exchanges lend their JSON bodies to discovery, to describe their schemas (off
    /// until the front end turns it on).
    pub samples: Sampler,
    next_id: AtomicU64,
    started_ms: u128,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("routes", &self.routes)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

/// What `request_head` reads of a request.
#[derive(Debug)]
pub struct RequestHead<'a> {
    /// Method.
    pub method: &'a str,
    /// Path, as received.
    pub path: &'a str,
    /// Query string, without `?`.
    pub query: &'a str,
    /// Headers, as received.
    pub headers: &'a HeaderMap,
    /// The peer's address.
    pub peer: IpAddr,
    /// The host the request names (URI authority or `Host`).
    pub host: Option<String>,
    /// For a forward-proxy request: its origin (`scheme://authority`) and host.
    pub origin: Option<(String, String)>,
}

impl Engine {
    /// An engine over these parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scanner: &'static Scanner,
        hash_key: HashKey,
        providers: Vec<Arc<dyn Provider>>,
        upstreams: HashMap<&'static str, String>,
        routes: Vec<ApiRoute>,
        prices: rampart_limits::price::Prices,
        abuse: rampart_limits::abuse::Tracker,
        identity: Identity,
        limits: BodyLimits,
    ) -> Engine {
        Engine {
            scanner,
            hash_key,
            providers,
            upstreams,
            routes,
            prices,
            abuse,
            identity,
            limits,
            samples: Sampler::per_second(0),
            next_id: AtomicU64::new(0),
            started_ms: crate::now_ms(),
        }
    }

    /// A new exchange id, unique per process run.
    pub(crate) fn next_id(&self) -> String {
        format!(
            "{:x}-{}",
            self.started_ms,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The provider whose path this is; where several serve it (`/v1/models`), the one whose
    /// signature header the request carries, else the first.
    pub fn provider_for(&self, path: &str, headers: &HeaderMap) -> Option<&Arc<dyn Provider>> {
        let mut matching = self.providers.iter().filter(|p| p.matches(path));
        let first = matching.next()?;
        Some(
            std::iter::once(first)
                .chain(matching)
                .find(|p| {
                    p.signature_header()
                        .is_some_and(|h| headers.contains_key(h))
                })
                .unwrap_or(first),
        )
    }

    /// Where a path goes: the longest matching API route (a provider path under it stays a
    /// provider call, sent to the route's upstream), else the provider whose paths match.
    pub fn route(&self, path: &str, headers: &HeaderMap) -> Option<Route> {
        if let Some(r) = self
            .routes
            .iter()
            .filter(|r| path.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
        {
            if let Some(p) = self.provider_for(path, headers) {
                return Some(Route::Provider(p.clone(), r.base.clone()));
            }
            return Some(Route::Api {
                name: r.name.clone(),
                base: r.base.clone(),
            });
        }
        let p = self.provider_for(path, headers)?;
        Some(Route::Provider(p.clone(), self.upstreams[p.id()].clone()))
    }

    /// A keyed hash of the caller's credential, never the credential.
    pub fn key_id(&self, headers: &HeaderMap) -> Option<String> {
        let v = credential(headers)?;
        Some(self.hash_key.hash(DataClass::Secret, v).to_string()[..12].to_owned())
    }

    /// The caller of a request from `peer` with these headers.
    pub fn caller(&self, peer: IpAddr, headers: &HeaderMap) -> rampart_policy::Caller {
        self.identity.identify(
            &CallerHints {
                ip: peer,
                credential: credential(headers),
            },
            self.key_id(headers),
        )
    }

    /// request_head: routes the request, identifies the caller, takes the policy set (kept
    /// to the exchange's end, reloads or not), and applies the egress lists. The exchange is
    /// returned either way; with `Err`, finish it after sending the refusal.
    pub fn request_head(
        &self,
        policies: Arc<PolicySet>,
        head: &RequestHead<'_>,
    ) -> (Exchange, Result<(), Refusal>) {
        let route = match &head.origin {
            Some((base, _)) => Some(match self.provider_for(head.path, head.headers) {
                Some(p) => Route::Provider(p.clone(), base.clone()),
                None => Route::Api {
                    name: "egress".into(),
                    base: base.clone(),
                },
            }),
            None => self.route(head.path, head.headers),
        };
        let route_name = match &route {
            Some(Route::Provider(p, _)) => p.id().to_owned(),
            Some(Route::Api { name, .. }) => name.clone(),
            None => String::new(),
        };
        let destination = match (&head.origin, &route) {
            (Some((_, host)), _) => Some(host.clone()),
            (None, Some(Route::Provider(_, base) | Route::Api { base, .. })) => {
                Some(host_of(base).to_owned())
            }
            _ => None,
        };
        let meta = Meta {
            direction: Some(Direction::Request),
            route: (!route_name.is_empty()).then_some(route_name),
            host: head.host.clone(),
            path: head.path.to_owned(),
            method: head.method.to_owned(),
            provider: match &route {
                Some(Route::Provider(p, _)) => Some(p.id().to_owned()),
                _ => None,
            },
            model: None,
            caller: self.caller(head.peer, head.headers),
            port: match (&head.origin, &route) {
                (Some((origin, _)), _) => port_of(origin),
                (None, Some(Route::Provider(_, base) | Route::Api { base, .. })) => port_of(base),
                _ => None,
            },
            destination,
            signals: Vec::new(),
        };
        let mut ex = Exchange::begin(self, policies, meta, route, head.query);
        ex.auth = rampart_discover::auth_kind(
            head.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or(""))),
            head.query,
        );
        let verdict = ex.head_verdict();
        (ex, verdict)
    }

    /// A `CONNECT` tunnel's head: the caller, the policy set, the egress lists. `target` is
    /// the `host:port` it names, if it names one.
    pub fn connect_head(
        &self,
        policies: Arc<PolicySet>,
        uri: &str,
        target: Option<(&str, u16)>,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> (Exchange, Result<(), Refusal>) {
        let meta = Meta {
            direction: Some(Direction::Request),
            route: Some("egress".into()),
            host: target.map(|(h, _)| h.to_owned()),
            path: String::new(),
            method: "CONNECT".into(),
            caller: self.caller(peer, headers),
            destination: target.map(|(h, _)| h.to_owned()),
            port: target.map(|(_, p)| p),
            ..Meta::default()
        };
        let mut ex = Exchange::begin(self, policies, meta, None, "");
        ex.set_audit_path(uri);
        ex.set_outcome(Outcome::Tunnel);
        let Some((host, _)) = target else {
            ex.set_outcome(Outcome::BadConnect);
            let r = Refusal::new(400, Code::BadConnect, "CONNECT needs host:port").as_problem();
            return (ex.refused(Action::Block), Err(r));
        };
        if rampart_llm::is_ai_host(host) {
            // AI use that bypasses the provider routes: visible, governable by the lists
            ex.set_outcome(Outcome::TunnelAiProvider);
        }
        let (verdict, origin) = ex.sel().egress(host);
        ex.decided_by_origin(origin);
        match verdict {
            EgressVerdict::Block => {
                ex.set_outcome(Outcome::EgressDenied);
                let r = Refusal::new(
                    403,
                    Code::EgressDenied,
                    format!("egress to {host} is not allowed by policy"),
                )
                .as_problem();
                return (ex.refused(Action::Block), Err(r));
            }
            EgressVerdict::Flag if ex.outcome() == Outcome::TunnelAiProvider => {
                ex.set_outcome(Outcome::ShadowAi)
            }
            EgressVerdict::Flag => ex.set_outcome(Outcome::EgressUnlisted),
            EgressVerdict::Allow => {}
        }
        let decision = if ex.outcome() == Outcome::Tunnel {
            Action::Allow
        } else {
            Action::Monitor
        };
        ex.raise(decision);
        (ex, Ok(()))
    }
}

impl Exchange {
    /// A tunnel's destination could not be reached.
    pub fn tunnel_unreachable(&mut self, target: &str) -> Refusal {
        self.fault(crate::exchange::Fault::Upstream);
        let decision = self.decision();
        self.refuse(
            Outcome::TunnelUnreachable,
            decision,
            502,
            Code::UpstreamError,
            format!("{target} could not be reached"),
        )
        .as_problem()
    }
}

/// The host of a base URL checked at start-up (`https://api.openai.com:443/v1` ->
/// `api.openai.com`), without parsing it again per request.
pub fn host_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The port a base URL or origin names explicitly (`http://es:9200/` -> 9200), if any.
pub fn port_of(base: &str) -> Option<u16> {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.1.strip_prefix(':')?,
        None => authority.split_once(':')?.1,
    };
    port.parse().ok()
}

/// The credential the caller presented (bearer token or API-key header), if any.
pub fn credential(headers: &HeaderMap) -> Option<&[u8]> {
    let v = CREDENTIAL_HEADERS
        .iter()
        .filter_map(|h| headers.get(*h))
        .next()?
        .as_bytes();
    Some(v.strip_prefix(b"Bearer ").unwrap_or(v))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sampler_lends_json_bodies_within_its_budget() {
        let s = super::Sampler::per_second(3);
        assert!(!s.take(b"plain text"), "not JSON");
        assert!(
            !s.take(&vec![b'{'; super::Sampler::MAX_BODY + 1]),
            "too large"
        );
        let taken = (0..10).filter(|_| s.take(b" {\"a\": 1}")).count();
        // 3 a second (up to 6 if the ten calls straddle the end of a second)
        assert!((3..=6).contains(&taken), "{taken}");
        assert!(!super::Sampler::per_second(0).take(b"[]"));
    }

    #[test]
    fn ports_of_base_urls() {
        assert_eq!(super::port_of("http://es:9200/x"), Some(9200));
        assert_eq!(super::port_of("https://api.openai.com/v1"), None);
        assert_eq!(super::port_of("http://[::1]:8080"), Some(8080));
        assert_eq!(super::port_of("http://u:p@db:5432"), Some(5432));
    }

    #[test]
    fn hosts_of_base_urls() {
        for (base, host) in [
            ("https://api.openai.com", "api.openai.com"),
            ("http://127.0.0.1:9000", "127.0.0.1"),
            (
                "https://user:pw@internal.example:8443/v1?x=1",
                "internal.example",
            ),
            ("http://[::1]:8080/api", "::1"),
        ] {
            assert_eq!(super::host_of(base), host);
        }
    }
}
