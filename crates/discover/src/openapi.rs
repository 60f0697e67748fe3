//! OpenAPI documents (3.0 and 3.1, and Swagger 2.0; JSON or YAML) read as the list of
//! operations a host serves: each operation's method, path template (with the server's base
//! path), and whether it is deprecated. [`Specs::find`] matches an observed request to them.

use serde_json::Value;

/// The methods an OpenAPI path item can hold.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of a spec.
#[derive(Clone, Debug)]
pub struct Operation {
    /// Uppercase method.
    pub method: String,
    /// The path template as the spec writes it (without the base path).
    pub path: String,
    /// The spec marks it deprecated.
    pub deprecated: bool,
    segs: Vec<Vec<Piece>>,
}

/// A literal run or a parameter within one template segment (`{name}.json` has two).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Param,
}

/// One spec: the hosts and base paths of its servers, and its operations.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Its title (`info.title`), or the file name.
    pub title: String,
    /// The hosts its servers name (lowercase); empty when they name none (the spec then may
    /// cover any host; the inventory counts it for the hosts seen serving its operations).
    pub hosts: Vec<String>,
    /// The base paths of its servers (`""` for none), the first one preferred.
    pub bases: Vec<String>,
    /// Its operations.
    pub operations: Vec<Operation>,
}

/// Why a spec could not be read.
#[derive(Debug)]
pub struct SpecError(pub String);

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

impl Spec {
    /// Reads a spec from JSON or YAML text (`name` is used when it has no title).
    pub fn parse(text: &str, name: &str) -> Result<Spec, SpecError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(json) => serde_saphyr::from_str(text).map_err(|yaml| {
                SpecError(format!("{name}: neither JSON ({json}) nor YAML ({yaml})"))
            })?,
        };
        Spec::from_value(&doc, name)
    }

    /// Reads a parsed spec document.
    pub fn from_value(doc: &Value, name: &str) -> Result<Spec, SpecError> {
        let swagger = doc.get("swagger").and_then(Value::as_str).is_some();
        if !swagger && doc.get("openapi").is_none() {
            return Err(SpecError(format!(
                "{name}: not an OpenAPI document (no `openapi` or `swagger` field)"
            )));
        }
        let title = doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        let mut hosts = Vec::new();
        let mut bases = Vec::new();
        if swagger {
            if let Some(h) = doc.get("host").and_then(Value::as_str)
                && let Some(h) = crate::host_of(h)
            {
                hosts.push(h);
            }
            bases.push(trim_base(
                doc.get("basePath").and_then(Value::as_str).unwrap_or(""),
            ));
        } else {
            for server in doc
                .get("servers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(url) = server.get("url").and_then(Value::as_str) else {
                    continue;
                };
                let url = substitute(url, server.get("variables"));
                match crate::split_url(&url) {
                    Some((_, host, path, _)) => {
                        if !hosts.contains(&host) {
                            hosts.push(host);
                        }
                        let base = trim_base(&path);
                        if !bases.contains(&base) {
                            bases.push(base);
                        }
                    }
                    // a relative server URL is a base path on whatever host serves the spec
                    None if url.starts_with('/') => {
                        let base = trim_base(&url);
                        if !bases.contains(&base) {
                            bases.push(base);
                        }
                    }
                    None => {}
                }
            }
        }
        if bases.is_empty() {
            bases.push(String::new());
        }
        let mut operations = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                if !path.starts_with('/') {
                    continue;
                }
                let Some(item) = item.as_object() else {
                    continue;
                };
                for m in METHODS {
                    let Some(op) = item.get(*m) else { continue };
                    operations.push(Operation {
                        method: m.to_ascii_uppercase(),
                        path: path.clone(),
                        deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
                        segs: parse_template(path),
                    });
                }
            }
        }
        Ok(Spec {
            title,
            hosts,
            bases,
            operations,
        })
    }

    /// Whether the spec covers `host`.
    pub fn covers(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h == host)
    }
}

/// A server URL with its `{variables}` replaced by their defaults.
fn substitute(url: &str, vars: Option<&Value>) -> String {
    let mut out = url.to_owned();
    if let Some(vars) = vars.and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(d) = v.get("default").and_then(Value::as_str) {
                out = out.replace(&format!("{{{k}}}"), d);
            }
        }
    }
    out
}

/// A base path without its trailing `/` (`/` alone becomes empty).
fn trim_base(p: &str) -> String {
    p.trim_end_matches('/').to_owned()
}

fn parse_template(path: &str) -> Vec<Vec<Piece>> {
    path.trim_start_matches('/')
        .split('/')
        .map(|seg| {
            let mut pieces = Vec::new();
            let mut rest = seg;
            while !rest.is_empty() {
                match rest.find('{') {
                    Some(0) => {
                        let end = rest.find('}').map_or(rest.len(), |e| e + 1);
                        pieces.push(Piece::Param);
                        rest = &rest[end..];
                    }
                    Some(k) => {
                        pieces.push(Piece::Lit(rest[..k].to_owned()));
                        rest = &rest[k..];
                    }
                    None => {
                        pieces.push(Piece::Lit(rest.to_owned()));
                        rest = "";
                    }
                }
            }
            pieces
        })
        .collect()
}

/// Whether `seg` (one raw segment) fits the template segment; the literal bytes matched count
/// toward how specific the match is.
fn seg_matches(pieces: &[Piece], seg: &str, literal: &mut usize) -> bool {
    match pieces.split_first() {
        None => seg.is_empty(),
        Some((Piece::Lit(l), rest)) => {
            seg.len() >= l.len() && seg[..l.len()].eq_ignore_ascii_case(l) && {
                *literal += l.len();
                seg_matches(rest, &seg[l.len()..], literal)
            }
        }
        Some((Piece::Param, rest)) => {
            if rest.is_empty() {
                return !seg.is_empty();
            }
            // a parameter takes at least one byte, then the rest must fit
            (1..=seg.len()).any(|k| {
                seg.is_char_boundary(k) && {
                    let mut l = 0;
                    let ok = seg_matches(rest, &seg[k..], &mut l);
                    if ok {
                        *literal += l;
                    }
                    ok
                }
            })
        }
    }
}

/// How an observed request relates to the specs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// An operation of spec `spec` (index into [`Specs`]), `op`; `template` is its path with
    /// the base the request used; `retired`: the request used another version than the
    /// spec's (`/v1/...` where the spec serves `/v2/...`).
    Operation {
        spec: usize,
        op: usize,
        template: String,
        retired: bool,
    },
    /// A spec covers the host but lists nothing for this method and path.
    Undocumented,
    /// No spec covers the host.
    Uncovered,
}

/// The imported specs.
#[derive(Clone, Debug, Default)]
pub struct Specs {
    /// The specs, in the order given.
    pub specs: Vec<Spec>,
}

impl Specs {
    /// Whether any spec covers `host`.
    pub fn covers(&self, host: &str) -> bool {
        self.specs.iter().any(|s| s.covers(host))
    }

    /// The operation an observed request is, if a spec lists it.
    pub fn find(&self, host: &str, method: &str, path: &str) -> Match {
        if !self.covers(host) {
            return Match::Uncovered;
        }
        if let Some(m) = self.find_exact(host, method, path) {
            return m;
        }
        // servers route `/pets/` as `/pets`
        if path.len() > 1
            && let Some(trimmed) = path.strip_suffix('/')
            && let Some(m) = self.find_exact(host, method, trimmed)
        {
            return m;
        }
        // a version segment the specs do not serve: the same operation of a retired version
        let segs: Vec<&str> = path.split('/').collect();
        for (i, s) in segs.iter().enumerate() {
            if !is_version(s) {
                continue;
            }
            for spec in self.specs.iter().filter(|sp| sp.covers(host)) {
                for v in versions_of(spec) {
                    if v.eq_ignore_ascii_case(s) {
                        continue;
                    }
                    let mut other = segs.clone();
                    other[i] = &v;
                    let candidate = other.join("/");
                    if let Some(Match::Operation {
                        spec, op, template, ..
                    }) = self.find_exact(host, method, &candidate)
                    {
                        // the template keeps the version the request used
                        let template = template
                            .split('/')
                            .enumerate()
                            .map(|(k, t)| if k == i { *s } else { t })
                            .collect::<Vec<_>>()
                            .join("/");
                        return Match::Operation {
                            spec,
                            op,
                            template,
                            retired: true,
                        };
                    }
                }
            }
        }
        Match::Undocumented
    }

    fn find_exact(&self, host: &str, method: &str, path: &str) -> Option<Match> {
        let mut best: Option<(usize, Match)> = None;
        for (si, spec) in self.specs.iter().enumerate() {
            if !spec.covers(host) {
                continue;
            }
            for base in &spec.bases {
                let Some(rest) = strip_base(path, base) else {
                    continue;
                };
                let raw: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
                for (oi, op) in spec.operations.iter().enumerate() {
                    if !op.method.eq_ignore_ascii_case(method) || op.segs.len() != raw.len() {
                        continue;
                    }
                    let mut literal = base.len();
                    if op
                        .segs
                        .iter()
                        .zip(&raw)
                        .all(|(p, s)| seg_matches(p, s, &mut literal))
                        && best.as_ref().is_none_or(|(l, _)| literal > *l)
                    {
                        best = Some((
                            literal,
                            Match::Operation {
                                spec: si,
                                op: oi,
                                template: format!("{base}{}", op.path),
                                retired: false,
                            },
                        ));
                    }
                }
            }
        }
        best.map(|(_, m)| m)
    }
}

/// `path` without `base` (`None` when it does not start with it as whole segments).
fn strip_base<'p>(path: &'p str, base: &str) -> Option<&'p str> {
    if base.is_empty() {
        return Some(path);
    }
    let rest = path
        .get(..base.len())
        .filter(|p| p.eq_ignore_ascii_case(base))?;
    let rest = &path[rest.len()..];
    (rest.is_empty() || rest.starts_with('/')).then_some(if rest.is_empty() { "/" } else { rest })
}

/// `v1`, `v2beta`, `V3`: a version segment.
pub fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b.len() <= 10
        && (b[0] == b'v' || b[0] == b'V')
        && b[1].is_ascii_digit()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.')
}

/// The version segments a spec serves (in its bases and its paths).
fn versions_of(spec: &Spec) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let all = spec
        .bases
        .iter()
        .map(String::as_str)
        .chain(spec.operations.iter().map(|o| o.path.as_str()));
    for p in all {
        for s in p.split('/') {
            if is_version(s) && !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETS: &str = r#"
openapi: 3.0.0
info: {title: Pets, version: "1"}
servers: [{url: "https://pets.example.com/v2"}]
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"200": {description: ok}}}
  /pets/{petId}:
    get: {responses: {"200": {description: ok}}}
    delete: {deprecated: true, responses: {"200": {description: ok}}}
  /pets/mine:
    get: {responses: {"200": {description: ok}}}
  /files/{name}.json:
    get: {responses: {"200": {description: ok}}}
"#;

    #[test]
    fn requests_match_operations_by_method_and_template() {
        let specs = Specs {
            specs: vec![Spec::parse(PETS, "pets.yaml").unwrap()],
        };
        let op = |m: &str, p: &str| match specs.find("pets.example.com", m, p) {
            Match::Operation {
                template,
                retired,
                spec,
                op,
            } => {
                format!(
                    "{template}{}{}",
                    if retired { " retired" } else { "" },
                    if specs.specs[spec].operations[op].deprecated {
                        " deprecated"
                    } else {
                        ""
                    }
                )
            }
            other => format!("{other:?}"),
        };
        assert_eq!(op("GET", "/v2/pets/12"), "/v2/pets/{petId}");
        assert_eq!(op("GET", "/v2/pets/12/"), "/v2/pets/{petId}");
        assert_eq!(op("GET", "/V2/Pets"), "/v2/pets");
        // the literal path wins over the parameter
        assert_eq!(op("GET", "/v2/pets/mine"), "/v2/pets/mine");
        assert_eq!(op("DELETE", "/v2/pets/12"), "/v2/pets/{petId} deprecated");
        assert_eq!(op("GET", "/v2/files/report.json"), "/v2/files/{name}.json");
        assert_eq!(op("GET", "/v1/pets/12"), "/v1/pets/{petId} retired");
        assert_eq!(op("PUT", "/v2/pets/12"), "Undocumented");
        assert_eq!(op("GET", "/v2/admin"), "Undocumented");
        assert_eq!(
            specs.find("other.example.com", "GET", "/v2/pets"),
            Match::Uncovered
        );
    }

    #[test]
    fn swagger_two_reads_host_and_base_path() {
        let doc = serde_json::json!({
            "swagger": "2.0", "host": "api.example.com:443", "basePath": "/api",
            "paths": {"/items/{id}": {"get": {}, "parameters": []}}
        });
        let spec = Spec::from_value(&doc, "s").unwrap();
        assert_eq!(spec.hosts, ["api.example.com"]);
        assert_eq!(spec.bases, ["/api"]);
        assert_eq!(spec.operations.len(), 1);
        assert!(Spec::parse("{}", "x").is_err());
    }
}
