//! Selectors: which exchanges a policy applies to.

use std::collections::BTreeMap;
use std::net::IpAddr;

use globset::GlobSet;
use ipnet::IpNet;
use rampart_core::Direction;
use serde::{Deserialize, Serialize};

/// What is known about an exchange when policies are selected for it. Fields not known yet
/// (the model before the body is read) are `None`: a selector that needs them does not match.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Exchange {
    /// Which way the inspected bytes go; `None` selects policies of either direction.
    pub direction: Option<Direction>,
    /// The route's name: a provider id (`openai`) or an API route's name.
    pub route: Option<String>,
    /// The request's host (authority without port).
    pub host: Option<String>,
    /// The request path.
    pub path: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The AI provider, for provider routes.
    pub provider: Option<String>,
    /// The model the request names.
    pub model: Option<String>,
    /// Who calls.
    pub caller: Caller,
    /// The egress destination host (forward proxy, `CONNECT`, or the upstream).
    pub destination: Option<String>,
    /// The destination port, when the request or route names one.
    pub port: Option<u16>,
    /// Abuse signals the caller raised (`volume_spike`, `near_duplicate_prompts`,
    /// `max_length_generations`, `embedding_enumeration`).
    pub signals: Vec<String>,
}

/// The caller's identity, as far as the gateway knows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Caller {
    /// Source address.
    pub ip: Option<IpAddr>,
    /// API-key id: a configured caller's id, or a keyed hash of an unknown credential.
    pub key_id: Option<String>,
    /// Workload (Deployment, StatefulSet, ... name).
    pub workload: Option<String>,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Kubernetes service account.
    pub service_account: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A list of globs; `None` when the selector does not constrain that field.
#[derive(Debug, Default)]
pub(crate) struct Globs(pub(crate) Option<GlobSet>);

impl Globs {
    fn matches(&self, value: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(set) => value.is_some_and(|v| set.is_match(v)),
        }
    }

    fn constrains(&self) -> bool {
        self.0.is_some()
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Exactly this text.
    Literal(String),
    /// `{name}` or `*`: any one non-empty segment.
    Any,
    /// `**`, last: any rest, empty included (`/v1/**` matches `/v1` too).
    Rest,
}

/// A path template: `/users/{id}/orders`, `/v1/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate(pub(crate) Vec<Segment>);

impl PathTemplate {
    /// Parses a template; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<PathTemplate, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err("a path template starts with `/`".into());
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err("`**` may only be the last segment".into()),
                "*" => Segment::Any,
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                    let name = &p[1..p.len() - 1];
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(format!(
                            "`{p}`: a parameter name is letters, digits and `_`"
                        ));
                    }
                    Segment::Any
                }
                p if p.contains(['{', '}', '*']) => {
                    return Err(format!(
                        "`{p}`: `{{name}}`, `*` and `**` stand for whole segments only"
                    ));
                }
                p => Segment::Literal(p.to_owned()),
            };
            segments.push(seg);
        }
        Ok(PathTemplate(segments))
    }

    /// Whether `path` (without query) fits the template.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        for seg in &self.0 {
            match seg {
                Segment::Rest => return true,
                Segment::Any => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(l) => match parts.next() {
                    Some(p) if p == l => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

/// A checked selector.
#[derive(Debug, Default)]
pub(crate) struct CompiledSelector {
    pub(crate) direction: Option<Direction>,
    pub(crate) routes: Globs,
    pub(crate) hosts: Globs,
    pub(crate) paths: Vec<PathTemplate>,
    pub(crate) methods: Vec<String>,
    pub(crate) providers: Vec<String>,
    pub(crate) models: Globs,
    pub(crate) keys: Globs,
    pub(crate) workloads: Globs,
    pub(crate) namespaces: Globs,
    pub(crate) service_accounts: Globs,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) cidrs: Vec<IpNet>,
    pub(crate) destinations: Globs,
    pub(crate) signals: Vec<String>,
}

impl CompiledSelector {
    /// How many fields the selector constrains: the policy's precedence.
    pub(crate) fn specificity(&self) -> u32 {
        [
            self.direction.is_some(),
            self.routes.constrains(),
            self.hosts.constrains(),
            !self.paths.is_empty(),
            !self.methods.is_empty(),
            !self.providers.is_empty(),
            self.models.constrains(),
            self.keys.constrains(),
            self.workloads.constrains(),
            self.namespaces.constrains(),
            self.service_accounts.constrains(),
            !self.labels.is_empty(),
            !self.cidrs.is_empty(),
            self.destinations.constrains(),
            !self.signals.is_empty(),
        ]
        .into_iter()
        .filter(|&c| c)
        .count() as u32
    }

    /// Whether the exchange is selected.
    pub(crate) fn matches(&self, ex: &Exchange) -> bool {
        let c = &ex.caller;
        (self.direction.is_none() || ex.direction.is_none() || self.direction == ex.direction)
            && self.routes.matches(ex.route.as_deref())
            && self.hosts.matches(ex.host.as_deref())
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(&ex.path)))
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&ex.method)))
            && (self.providers.is_empty()
                || ex
                    .provider
                    .as_deref()
                    .is_some_and(|p| self.providers.iter().any(|s| s == p)))
            && self.models.matches(ex.model.as_deref())
            && self.keys.matches(c.key_id.as_deref())
            && self.workloads.matches(c.workload.as_deref())
            && self.namespaces.matches(c.namespace.as_deref())
            && self.service_accounts.matches(c.service_account.as_deref())
            && self
                .labels
                .iter()
                .all(|(k, v)| c.labels.get(k).is_some_and(|have| have == v))
            && (self.cidrs.is_empty()
                || c.ip
                    .is_some_and(|ip| self.cidrs.iter().any(|n| n.contains(&ip))))
            && self.destinations.matches(ex.destination.as_deref())
            && (self.signals.is_empty() || ex.signals.iter().any(|s| self.signals.contains(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates() {
        let check = |t: &str, path: &str, want: bool| {
            let tpl = PathTemplate::parse(t).unwrap();
            assert_eq!(tpl.matches(path), want, "{t} vs {path}");
        };
        check("/users/{id}", "/users/42", true);
        check("/users/{id}", "/users/", false);
        check("/users/{id}", "/users/42/orders", false);
        check("/users/*/orders", "/users/42/orders", true);
        check("/v1/**", "/v1", true);
        check("/v1/**", "/v1/", true);
        check("/v1/**", "/v1/chat/completions", true);
        check("/", "/", true);
        check("/health", "/healthz", false);
        for bad in ["users", "/a/**/b", "/a/{}", "/a/x{id}", "/a/{i-d}", "/a/b*"] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
