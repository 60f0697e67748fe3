//! The gateway's configuration: listeners, upstreams, limits and, until policy documents land,
//! a typed policy section. Every field has a default, so `rampart up` runs with none.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use rampart_core::{Action, DataClass, Finding};
use rampart_detect::redact::Strategy;
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
    /// Forward-proxy egress (`HTTP_PROXY`/`HTTPS_PROXY` pointed at the gateway).
    pub egress: Egress,
    /// Size and time limits.
    pub limits: Limits,
    /// What to do about findings.
    pub policy: Policy,
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
            egress: Egress::default(),
            limits: Limits::default(),
            policy: Policy::default(),
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
    /// Requests whose path starts with this go to `upstream`.
    pub prefix: String,
    /// Base URL of the service; the request path is appended as is.
    pub upstream: String,
}

/// Which destinations forward-proxy traffic may reach. Host patterns use `*` wildcards
/// (`*.openai.com`); a port is not part of the pattern.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Egress {
    /// When not empty, only these hosts may be reached; others are refused.
    pub allow: Vec<String>,
    /// These hosts are refused (checked before `allow`).
    pub deny: Vec<String>,
}

impl Egress {
    /// Whether `host` may be reached.
    pub fn permits(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self
            .deny
            .iter()
            .any(|g| glob(&g.to_ascii_lowercase(), &host))
        {
            return false;
        }
        self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|g| glob(&g.to_ascii_lowercase(), &host))
    }
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

/// Enforce changes traffic; monitor only records what would have happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Redact and block as decided.
    #[default]
    Enforce,
    /// Decide and record, change nothing.
    Monitor,
}

/// What happens when a body cannot be inspected (unknown encoding, malformed, too large, too
/// slow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Refuse the exchange with a clear error.
    #[default]
    Closed,
    /// Let it through uninspected, and record that.
    Open,
}

/// The policy until policy documents replace it: one rule set per direction.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Enforce or monitor.
    pub mode: Mode,
    /// What to do with bodies that cannot be inspected.
    pub fail: FailMode,
    /// Requests toward upstreams.
    pub request: FlowRules,
    /// Responses back to callers.
    pub response: FlowRules,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Enforce,
            fail: FailMode::Closed,
            request: FlowRules::default(),
            response: FlowRules {
                block_detectors: Vec::new(),
                ..FlowRules::default()
            },
        }
    }
}

/// Rules for one direction: which findings block the exchange, which are redacted.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowRules {
    /// Detector ids (with `*` wildcards) whose findings block the whole exchange.
    pub block_detectors: Vec<String>,
    /// Data classes whose findings are redacted (the rest are allowed and recorded).
    pub redact_classes: Vec<String>,
    /// How redacted values are replaced: mask, partial, hash, fake or tokenize.
    pub strategy: String,
    /// Findings below this confidence are ignored.
    pub min_score: f32,
}

impl Default for FlowRules {
    fn default() -> Self {
        FlowRules {
            // private keys and cloud credentials stop the exchange
            block_detectors: [
                "*private_key*",
                "openssh_*",
                "putty_*",
                "aws_*",
                "gcp_*",
                "azure_*",
            ]
            .map(String::from)
            .to_vec(),
            redact_classes: DataClass::ALL.iter().map(|c| c.name().to_owned()).collect(),
            strategy: "mask".into(),
            min_score: 0.5,
        }
    }
}

impl FlowRules {
    /// Checks names and returns the compiled form.
    pub fn compile(&self) -> anyhow::Result<CompiledRules> {
        let strategy = Strategy::from_name(&self.strategy).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown strategy {:?}; use mask, partial, hash, fake or tokenize",
                self.strategy
            )
        })?;
        let mut redact = Vec::new();
        for name in &self.redact_classes {
            redact.push(DataClass::from_name(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown data class {name:?}; use one of {}",
                    DataClass::ALL
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?);
        }
        Ok(CompiledRules {
            block: self.block_detectors.clone(),
            redact,
            strategy,
            min_score: self.min_score,
        })
    }
}

/// [`FlowRules`] checked and ready to apply.
#[derive(Clone, Debug)]
pub struct CompiledRules {
    block: Vec<String>,
    redact: Vec<DataClass>,
    /// The redaction strategy.
    pub strategy: Strategy,
    min_score: f32,
}

impl CompiledRules {
    /// The classes these rules leave as they are (not in `redact_classes`).
    pub fn kept(&self) -> Vec<DataClass> {
        DataClass::ALL
            .iter()
            .copied()
            .filter(|c| !self.redact.contains(c))
            .collect()
    }

    /// A redactor that replaces the classes these rules redact and keeps the others.
    pub fn redactor(&self, key: &rampart_detect::HashKey) -> rampart_detect::Redactor {
        self.kept().into_iter().fold(
            rampart_detect::Redactor::new(self.strategy, key.clone()),
            |r, c| r.keep(c),
        )
    }

    /// The action for one finding.
    pub fn action(&self, f: &Finding) -> Action {
        if f.score < self.min_score {
            Action::Allow
        } else if self.block.iter().any(|g| glob(g, f.detector)) {
            Action::Block
        } else if self.redact.contains(&f.class) {
            Action::Redact
        } else {
            Action::Monitor
        }
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("aws_*", "aws_access_key_id"));
        assert!(glob("*private_key*", "private_key_pem"));
        assert!(glob("*private_key*", "hex_private_key"));
        assert!(!glob("aws_*", "openai_api_key"));
        assert!(glob("jwt", "jwt"));
        assert!(!glob("a*b*c", "acb"));
    }

    #[test]
    fn egress_lists() {
        let e = Egress {
            allow: vec!["*.openai.com".into(), "api.anthropic.com".into()],
            deny: vec!["evil.openai.com".into()],
        };
        assert!(e.permits("api.openai.com"));
        assert!(e.permits("API.Anthropic.com"));
        assert!(!e.permits("evil.openai.com"));
        assert!(!e.permits("example.com"));
        assert!(Egress::default().permits("example.com"));
    }

    #[test]
    fn yaml_config_parses_and_rejects_unknown_fields() {
        let c = Config::from_yaml(
            "listen: 127.0.0.1:18080\nupstreams:\n  openai: http://127.0.0.1:9000\npolicy:\n  mode: monitor\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 18080);
        assert_eq!(c.policy.mode, Mode::Monitor);
        assert_eq!(c.upstreams["openai"], "http://127.0.0.1:9000");
        let err = Config::from_yaml("lisen: 1").unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
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
        c.policy.request.compile().unwrap();
        c.policy.response.compile().unwrap();
        assert_eq!(c.routes.len(), 1);
    }

    #[test]
    fn rules_name_what_is_wrong() {
        let bad = FlowRules {
            strategy: "shred".into(),
            ..FlowRules::default()
        };
        assert!(bad.compile().unwrap_err().to_string().contains("shred"));
        let bad = FlowRules {
            redact_classes: vec!["SSN".into()],
            ..FlowRules::default()
        };
        assert!(bad.compile().unwrap_err().to_string().contains("US_SSN"));
    }
}
