//! The gateway's configuration: listeners, upstreams, routes, callers, limits and where the
//! policy documents are. Every field has a default, so `rampart up` runs with none (the
//! embedded `policies/default.yaml` then decides).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything `rampart up` needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where applications connect.
    pub listen: SocketAddr,
    /// Health, readiness and metrics.
    pub admin_listen: SocketAddr,
    /// Serve the data plane over TLS (HTTP/2 and HTTP/1.1 by ALPN) instead of cleartext.
    pub tls: Option<Tls>,
    /// Audit events (`audit.jsonl`) and other state.
    pub data_dir: PathBuf,
    /// Provider id -> base URL, overriding the provider's public API (`openai:
    /// http://127.0.0.1:9000`).
    pub upstreams: BTreeMap<String, String>,
    /// Extra trusted roots (PEM) for HTTPS upstreams, beside the public web PKI: a private CA
    /// in front of internal services or a corporate egress proxy.
    pub upstream_ca: Option<PathBuf>,
    /// Provider id -> name of the environment variable holding the API key to inject toward
    /// that provider (the key itself never appears in configuration or logs). Callers' own
    /// credentials pass through for providers not listed.
    pub upstream_keys: BTreeMap<String, String>,
    /// API routes: reverse-proxied HTTP services, inspected like provider routes.
    pub routes: Vec<ApiRoute>,
    /// Known callers: who presents which API key or comes from which addresses, with the
    /// workload identity policies select on.
    pub callers: Vec<CallerDef>,
    /// Policy files and folders (`RuntimePolicy` YAML; `*_test.yaml` files are skipped). Empty:
    /// the embedded default policy.
    pub policies: Vec<PathBuf>,
    /// How often policy files are checked for changes (ms); 0 turns the watch off (SIGHUP and
    /// `POST /admin/policies/reload` still reload).
    pub policy_poll_ms: u64,
    /// Name of the environment variable holding the bearer token the admin API's `/admin/*`
    /// endpoints require; without it they answer only on a loopback admin listener.
    pub admin_token_env: Option<String>,
    /// Forward-proxy mode (`HTTP_PROXY` pointed at the gateway) and `CONNECT` tunnels: off
    /// unless enabled.
    pub forward_proxy: ForwardProxy,
    /// Size and time limits.
    pub limits: Limits,
    /// Where rate, token and spend limits keep their counters, and model prices.
    pub rate_limits: RateLimits,
    /// Thresholds of the abuse and model-extraction signals.
    pub abuse: rampart_limits::abuse::Thresholds,

    // --- safe defaults: keys, enforcement, audit log ---
    /// Name of the environment variable holding the secret findings' keyed hashes use
    /// (`RAMPART_HASH_KEY` when unset). Without either, a random key is generated on first
    /// start into `<data_dir>/hash.key` (mode 0600) and reused by later starts.
    pub hash_key_env: Option<String>,
    /// Start, and accept reloads, with no policy in enforce mode (an empty set, or only
    /// monitor-mode policies). Off by default: zero enforcing policies is refused.
    pub allow_unenforced: bool,
    /// Rotation, retention and back-pressure of the audit log.
    pub audit: AuditConfig,
    /// The live inventory of endpoints, AI use and data flows (`GET /admin/discovery`).
    pub discovery: DiscoveryConfig,
    /// Rampart's controller: pod identities, policies from custom resources, quarantines.
    pub kubernetes: KubernetesConfig,
}

/// The link to Rampart's controller (`rampart controller`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The controller's API, `http://rampart-controller.rampart:9091`; none: no link.
    pub controller: Option<String>,
    /// An environment variable holding the controller's bearer token.
    pub token_env: Option<String>,
    /// How often identities and policies are fetched, in milliseconds.
    pub refresh_ms: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            controller: None,
            token_env: None,
            refresh_ms: 2_000,
        }
    }
}

/// Discovery: every finished exchange is folded into an inventory off the request path.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// On by default.
    pub enabled: bool,
    /// OpenAPI specs (3.0/3.1 or Swagger 2.0, JSON or YAML) that tell documented, shadow,
    /// zombie and unused endpoints apart.
    pub openapi: Vec<PathBuf>,
    /// Exchanges the queue in front of the inventory holds; beyond it they are dropped and
    /// counted (`rampart_discovery_dropped_total`) rather than slowing traffic.
    pub queue: usize,
    /// The inventory store: `postgres://…` (replicas share one inventory) or a SQLite file;
    /// by default `<data_dir>/inventory.db`.
    pub store: Option<String>,
    /// How often the counts gathered are written to the store, in milliseconds.
    pub flush_ms: u64,
    /// Endpoints not seen for this many days are deleted (0 keeps them).
    pub retention_days: u32,
    /// Data stores by host or `host:port`, with their kind (`orders-db.internal:
    /// postgresql`). Stores are also recognised without it, by hosted-store domain, port and
    /// store API shape.
    pub stores: std::collections::BTreeMap<String, String>,
    /// Exchanges a second whose JSON bodies are described into endpoint schemas (types,
    /// required fields, formats, data classes per field), off the request path; 0 turns
    /// schema inference off.
    pub schema_samples: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            enabled: true,
            openapi: Vec::new(),
            queue: 10_000,
            store: None,
            flush_ms: 1_000,
            retention_days: 30,
            stores: std::collections::BTreeMap::new(),
            schema_samples: 20,
        }
    }
}

/// The audit log (`<data_dir>/audit.jsonl`): rotation by size and age, gzip-compressed
/// rotated files, retention, the bounded queue in front of the writer, and what happens when
/// the disk takes no more writes.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Rotate once the live file holds this many bytes.
    pub max_bytes: u64,
    /// Rotate once the live file is this old (seconds); 0 turns age rotation off.
    pub max_age_s: u64,
    /// Rotated files kept (`audit-<ms>.jsonl.gz`); older ones are deleted.
    pub keep: usize,
    /// Events the queue between exchanges and the writer holds; beyond it events are
    /// dropped and counted (`rampart_audit_dropped_total`).
    pub queue: usize,
    /// When an event cannot be written: `continue` (traffic flows, the event is counted as
    /// dropped) or `refuse` (new exchanges get 503 until writes succeed again).
    pub on_error: AuditOnError,
}

/// What the gateway does when the audit log cannot be written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOnError {
    /// Keep serving; count the lost events and log the error at most once a minute.
    #[default]
    Continue,
    /// Answer 503 to new exchanges until the writer succeeds again.
    Refuse,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            max_bytes: 100 << 20,
            max_age_s: 86_400,
            keep: 10,
            queue: 65_536,
            on_error: AuditOnError::Continue,
        }
    }
}

/// The password of `url`'s userinfo, if any.
pub fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let userinfo = &rest[..rest[..authority_end].rfind('@')?];
    userinfo.split_once(':').map(|(_, p)| p)
}

/// `url` with the password of its userinfo replaced by `***` (`redis://:pw@host` ->
/// `redis://:***@host`), for logs and error messages. Text that is not a URL with userinfo is
/// returned as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = rest[..at].split(':').next().unwrap_or("");
    format!("{}://{user}:***@{}", &url[..scheme_end], &rest[at + 1..])
}

/// Forward-proxy mode: absolute-form HTTP requests and `CONNECT` tunnels to destinations the
/// client names. Off by default; when on, link-local and cloud metadata addresses, loopback,
/// private and unspecified ranges are refused unless `allow_private` says otherwise, and
/// tunnels go only to `connect_ports`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardProxy {
    /// Serve forward-proxy requests and tunnels at all.
    pub enabled: bool,
    /// Let clients reach loopback, private (RFC 1918, ULA) and link-local destinations,
    /// cloud metadata addresses included.
    pub allow_private: bool,
    /// Ports `CONNECT` may open tunnels to.
    pub connect_ports: Vec<u16>,
}

impl Default for ForwardProxy {
    fn default() -> Self {
        ForwardProxy {
            enabled: false,
            allow_private: false,
            connect_ports: vec![443],
        }
    }
}

/// Whether `ip` is an address a forward proxy must not reach on a client's word: loopback,
/// private, link-local (169.254.0.0/16, the cloud metadata address among them), the AWS
/// IPv6 metadata address, unique-local, unspecified, or IPv4 mapped into IPv6 of those.
pub fn is_restricted(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                // carrier-grade NAT and the benchmarking range are not public either
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_restricted(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// The store of rate, token and spend limits (the limits themselves are `RuntimeLimit`
/// documents beside the policies).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// A Redis shared by every replica (`redis://host:6379/0`); without it, counters are kept
    /// in this process.
    pub redis_url: Option<String>,
    /// A Redis Cluster shared by every replica, reached through any of these nodes
    /// (`redis://host:port` each; the rest of the cluster is found from them). Exclusive with
    /// `redis_url`.
    pub redis_cluster: Vec<String>,
    /// How long a Redis call may take (ms) before the fallback applies.
    pub redis_timeout_ms: u64,
    /// When Redis fails: `local` (count in this process), `open` (admit) or `closed` (refuse).
    pub fallback: rampart_limits::Fallback,
    /// A price table (`models: [{model, input, output}]`, USD per million tokens) taking
    /// precedence over the shipped one.
    pub prices: Option<PathBuf>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            redis_url: None,
            redis_cluster: Vec::new(),
            redis_timeout_ms: 100,
            fallback: rampart_limits::Fallback::Local,
            prices: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            admin_listen: "127.0.0.1:9090".parse().expect("valid address"),
            tls: None,
            data_dir: PathBuf::from("rampart-data"),
            upstreams: BTreeMap::new(),
            upstream_ca: None,
            upstream_keys: BTreeMap::new(),
            routes: Vec::new(),
            callers: Vec::new(),
            policies: Vec::new(),
            policy_poll_ms: 2_000,
            admin_token_env: None,
            forward_proxy: ForwardProxy::default(),
            limits: Limits::default(),
            rate_limits: RateLimits::default(),
            abuse: rampart_limits::abuse::Thresholds::default(),
            hash_key_env: None,
            allow_unenforced: false,
            audit: AuditConfig::default(),
            discovery: DiscoveryConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

impl ApiRoute {
    /// The name policies select this route by.
    pub fn route_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let n = self.prefix.trim_matches('/').replace('/', "-");
                if n.is_empty() { "root".into() } else { n }
            }
        }
    }
}

impl Config {
    /// Parses a YAML configuration, saying where it is wrong.
    pub fn from_yaml(text: &str) -> anyhow::Result<Config> {
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The data plane's certificate and key (PEM files).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A reverse-proxied HTTP service.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRoute {
    /// The route's name, as policies select it (`selector.routes`); default: the prefix
    /// without slashes (`/billing/` -> `billing`).
    #[serde(default)]
    pub name: Option<String>,
    /// Requests whose path starts with this go to `upstream`.
    pub prefix: String,
    /// Base URL of the service; the request path is appended as is.
    pub upstream: String,
}

/// A known caller. A request is this caller when it presents the key held in `key_env`, or,
/// without a known key, when it comes from one of `cidrs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallerDef {
    /// The API-key id policies select on (`callers.keys`).
    pub id: String,
    /// Environment variable holding the caller's API key (compared by keyed hash; never
    /// logged).
    pub key_env: Option<String>,
    /// Source address ranges (`10.0.0.0/8`, `192.168.1.7`).
    pub cidrs: Vec<String>,
    /// Workload name.
    pub workload: Option<String>,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Kubernetes service account.
    pub service_account: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Size and time limits of one exchange.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body inspected (bytes).
    pub max_request_body: usize,
    /// Largest request body forwarded uninspected when `policy.fail` is `open` and the body is
    /// over `max_request_body` (bytes); larger ones are refused either way.
    pub max_uninspected_body: usize,
    /// Largest non-streamed response body inspected (bytes).
    pub max_response_body: usize,
    /// Largest request head (bytes).
    pub max_header_bytes: usize,
    /// Time to read a request body.
    pub request_body_timeout_ms: u64,
    /// Time to connect to the upstream and receive its response head.
    pub upstream_timeout_ms: u64,
    /// Time to read a non-streamed response body.
    pub response_body_timeout_ms: u64,
    /// Longest pause between two chunks of a streamed response.
    pub stream_idle_timeout_ms: u64,
    /// On SIGTERM or Ctrl-C: how long exchanges in flight (streams included) may take to
    /// finish after the listener closes; connections still open then are cut.
    pub shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: 8 << 20,
            max_uninspected_body: 64 << 20,
            max_response_body: 32 << 20,
            max_header_bytes: 64 << 10,
            request_body_timeout_ms: 30_000,
            upstream_timeout_ms: 60_000,
            response_body_timeout_ms: 120_000,
            stream_idle_timeout_ms: 120_000,
            shutdown_grace_ms: 25_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_config_parses_and_rejects_unknown_fields() {
        let c = Config::from_yaml(
            "listen: 127.0.0.1:18080\nupstreams:\n  openai: http://127.0.0.1:9000\npolicies: [policies/strict.yaml]\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 18080);
        assert_eq!(c.policies, [PathBuf::from("policies/strict.yaml")]);
        assert_eq!(c.upstreams["openai"], "http://127.0.0.1:9000");
        let err = Config::from_yaml("lisen: 1").unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        // the typed policy section is gone: policies are documents now
        let err = Config::from_yaml("policy: {mode: monitor}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy"), "{err}");
    }

    #[test]
    fn urls_lose_their_password() {
        for (url, want) in [
            ("redis://:pw@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
            ("redis://user:pw@host", "redis://user:***@host"),
            ("rediss://u:p@ss@host:6380", "rediss://u:***@host:6380"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("http://host/path@x", "http://host/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn audit_settings_parse() {
        let c = Config::from_yaml(
            "audit: {max_bytes: 1000, max_age_s: 60, keep: 3, on_error: refuse}\nallow_unenforced: true\n",
        )
        .unwrap();
        assert_eq!(c.audit.max_bytes, 1000);
        assert_eq!(c.audit.keep, 3);
        assert_eq!(c.audit.on_error, AuditOnError::Refuse);
        assert!(c.allow_unenforced);
        assert!(Config::from_yaml("audit: {on_error: maybe}").is_err());
    }

    #[test]
    fn route_names_default_to_the_prefix() {
        let r = |prefix: &str, name: Option<&str>| ApiRoute {
            name: name.map(str::to_owned),
            prefix: prefix.into(),
            upstream: "http://x".into(),
        };
        assert_eq!(r("/billing/", None).route_name(), "billing");
        assert_eq!(r("/api/v2/", None).route_name(), "api-v2");
        assert_eq!(r("/", None).route_name(), "root");
        assert_eq!(r("/x/", Some("card-vault")).route_name(), "card-vault");
    }

    #[test]
    fn the_readme_example_configuration_is_valid() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        let block = readme
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a yaml block in the README");
        let c = Config::from_yaml(block).unwrap();
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.callers.len(), 1);
    }
}
