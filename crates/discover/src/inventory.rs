//! The inventory: events folded into endpoints, AI usage and flows, and the document
//! `rampart discover --format json` prints.

use std::collections::{BTreeMap, BTreeSet};

use rampart_detect::{ScanOptions, Scanner};
use serde::Serialize;
use serde_json::Value;

use crate::nodes::{self, NodeKind};
use crate::openapi::{Match, Specs};
use crate::schema::{FieldRow, Schema};
use crate::{Event, template};

/// Most JSON leaves scanned one by one per body (the rest of a larger body is scanned whole).
const MAX_LEAVES: usize = 2000;
/// Largest body scanned.
const MAX_BODY: usize = 8 << 20;
/// Most callers whose data received from third parties is remembered for lineage.
const MAX_TRACKED_CALLERS: usize = 10_000;
/// Most third-party sources remembered per caller and class.
const MAX_SOURCES: usize = 16;
/// Most callers counted per AI host (the rest are counted as `other`).
const MAX_AI_CALLERS: usize = 1_000;
/// Most key fingerprints kept per AI host.
const MAX_AI_KEYS: usize = 100;

/// How an endpoint relates to the imported specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    /// Spec `spec`, operation `op`; `retired` when seen under another version.
    Spec {
        spec: usize,
        op: usize,
        retired: bool,
    },
    /// A spec covers the host but does not list it.
    Undocumented,
    /// No spec covers the host.
    Uncovered,
}

/// What was seen of one endpoint.
#[derive(Clone, Debug, Default)]
struct Stats {
    calls: u64,
    statuses: BTreeMap<u16, u64>,
    request_classes: BTreeSet<String>,
    response_classes: BTreeSet<String>,
    auth: BTreeSet<&'static str>,
    first_seen: Option<String>,
    last_seen: Option<String>,
    request_schema: Schema,
    response_schema: Schema,
    callers: BTreeSet<String>,
    /// (detector, direction) -> what was found.
    findings: BTreeMap<(String, String), FindingStats>,
}

/// One detector's findings at one endpoint, one direction.
#[derive(Clone, Debug, Default)]
struct FindingStats {
    class: String,
    severity: String,
    owasp: BTreeSet<String>,
    count: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

impl FindingStats {
    fn add(
        &mut self,
        class: &str,
        severity: &str,
        owasp: &[String],
        count: u64,
        times: [&Option<String>; 2],
    ) {
        self.class = class.to_owned();
        self.severity = severity.to_owned();
        self.owasp.extend(owasp.iter().cloned());
        self.count += count;
        for t in times.into_iter().flatten() {
            widen(&mut self.first_seen, &mut self.last_seen, t);
        }
    }
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.calls += o.calls;
        for (k, v) in &o.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        self.request_classes
            .extend(o.request_classes.iter().cloned());
        self.response_classes
            .extend(o.response_classes.iter().cloned());
        self.auth.extend(o.auth.iter().copied());
        self.callers.extend(o.callers.iter().cloned());
        for t in [&o.first_seen, &o.last_seen].into_iter().flatten() {
            self.seen_at(t);
        }
        self.request_schema.merge(&o.request_schema);
        self.response_schema.merge(&o.response_schema);
        for (k, f) in &o.findings {
            self.findings.entry(k.clone()).or_default().add(
                &f.class,
                &f.severity,
                &f.owasp.iter().cloned().collect::<Vec<_>>(),
                f.count,
                [&f.first_seen, &f.last_seen],
            );
        }
    }

    fn seen_at(&mut self, t: &str) {
        widen(&mut self.first_seen, &mut self.last_seen, t);
    }
}

/// Moves `first` and `last` (RFC 3339 times, which sort as text) out to take in `t`.
fn widen(first: &mut Option<String>, last: &mut Option<String>, t: &str) {
    if first.as_deref().is_none_or(|f| t < f) {
        *first = Some(t.to_owned());
    }
    if last.as_deref().is_none_or(|l| t > l) {
        *last = Some(t.to_owned());
    }
}

/// AI use seen at one host.
#[derive(Clone, Debug, Default)]
struct AiStats {
    models: BTreeSet<String>,
    calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_micros: u64,
    /// Per UTC day (`YYYY-MM-DD`): calls, input and output tokens, cost.
    days: BTreeMap<String, [u64; 4]>,
    /// Per caller: calls, input and output tokens, cost.
    callers: BTreeMap<String, [u64; 4]>,
    /// Fingerprints of the keys used.
    keys: BTreeSet<String>,
    /// (dimension: `model`, `key` or `caller`; its value; UTC day) -> calls, input and
    /// output tokens, cost: the series the console charts.
    usage: BTreeMap<(String, String, String), [u64; 4]>,
}

/// Most series points kept per AI host (beyond, new points are not started).
const MAX_AI_USAGE: usize = 20_000;

impl AiStats {
    /// Adds `v` to the series point `(dimension, name, day)`.
    fn series(&mut self, dimension: &str, name: &str, day: &str, v: [u64; 4]) {
        let key = (dimension.to_owned(), name.to_owned(), day.to_owned());
        if let Some(c) = self.usage.get_mut(&key) {
            for k in 0..4 {
                c[k] += v[k];
            }
        } else if self.usage.len() < MAX_AI_USAGE {
            self.usage.insert(key, v);
        }
    }

    /// Counts `v` (calls, input, output, cost) for `caller`.
    fn by_caller(&mut self, caller: &str, v: [u64; 4]) {
        let caller = if self.callers.len() < MAX_AI_CALLERS || self.callers.contains_key(caller) {
            caller
        } else {
            "other"
        };
        if let Some(c) = self.callers.get_mut(caller) {
            for k in 0..4 {
                c[k] += v[k];
            }
        } else {
            self.callers.insert(caller.to_owned(), v);
        }
    }

    fn key(&mut self, key: &str) {
        if self.keys.len() < MAX_AI_KEYS {
            self.keys.insert(key.to_owned());
        }
    }
}

/// Data classes that came from a third-party API and went on to a store or AI provider.
#[derive(Clone, Debug, Default)]
struct LineageStats {
    calls: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

impl LineageStats {
    fn add(&mut self, calls: u64, times: [&Option<String>; 2]) {
        self.calls += calls;
        for t in times.into_iter().flatten() {
            widen(&mut self.first_seen, &mut self.last_seen, t);
        }
    }
}

/// An exchange as an inline inspector saw it: the data classes it found, no values.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// When it began, RFC 3339.
    pub time: Option<String>,
    /// Who called (identity, workload or address).
    pub caller: Option<String>,
    /// The destination host.
    pub host: String,
    /// The destination port, when known.
    pub port: Option<u16>,
    /// A fingerprint of the credential used (never the credential), when there was one.
    pub key: Option<String>,
    /// The method.
    pub method: String,
    /// The path (values the inspector redacts already masked).
    pub path: String,
    /// The status returned.
    pub status: Option<u16>,
    /// The authentication kind (see [`auth_kind`]).
    pub auth: &'static str,
    /// Data classes found in the request.
    pub request_classes: BTreeSet<String>,
    /// Data classes found in the response.
    pub response_classes: BTreeSet<String>,
    /// For AI calls: the provider and the models named.
    pub ai: Option<(String, Vec<String>)>,
    /// For AI calls: input and output tokens, and their cost in micro-dollars.
    pub usage: Option<(u64, u64, u64)>,
    /// What the detectors found, value-free (LLM threats included).
    pub findings: Vec<SeenFinding>,
    /// It went through the gateway's provider routes.
    pub via_gateway: bool,
    /// The shapes of its JSON bodies (request, response), when they were described.
    pub schemas: Option<Box<(Schema, Schema)>>,
}

/// What an inventory counted for one endpoint, by raw-shape template (no spec applied):
/// the unit a store adds up across replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointRow {
    /// The host.
    pub host: String,
    /// The method.
    pub method: String,
    /// The template by segment shape.
    pub template: String,
    /// Calls.
    pub calls: u64,
    /// HTTP statuses with counts.
    pub statuses: Vec<(u16, u64)>,
    /// Data classes in requests.
    pub request_classes: Vec<String>,
    /// Data classes in responses.
    pub response_classes: Vec<String>,
    /// Authentication kinds.
    pub auth: Vec<String>,
    /// First and last seen, RFC 3339.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
    /// Findings per detector and direction.
    pub findings: Vec<FindingRow>,
    /// The request body schema, place by place.
    pub request_schema: Vec<FieldRow>,
    /// The response body schema, place by place.
    pub response_schema: Vec<FieldRow>,
}

/// One detector's findings at one endpoint, one direction, as a store keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingRow {
    /// The detector id.
    pub detector: String,
    /// `request` or `response`.
    pub direction: String,
    /// Its data class.
    pub class: String,
    /// Severity.
    pub severity: String,
    /// OWASP ids.
    pub owasp: Vec<String>,
    /// How many were found.
    pub count: u64,
    /// First found.
    pub first_seen: Option<String>,
    /// Last found.
    pub last_seen: Option<String>,
}

/// AI use counted at one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AiRow {
    /// The host.
    pub host: String,
    /// The provider.
    pub provider: String,
    /// Through the gateway.
    pub via_gateway: bool,
    /// Calls.
    pub calls: u64,
    /// Models named.
    pub models: Vec<String>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in micro-dollars.
    pub cost_micros: u64,
    /// Per UTC day (`YYYY-MM-DD`): calls, input and output tokens, cost in micro-dollars.
    pub days: Vec<(String, [u64; 4])>,
    /// Per caller: calls, input and output tokens, cost in micro-dollars.
    pub callers: Vec<(String, [u64; 4])>,
    /// Fingerprints of the keys used.
    pub keys: Vec<String>,
    /// Series: (dimension `model`, `key` or `caller`; its value; UTC day, empty when the
    /// source gave no time) -> calls, input and output tokens, cost in micro-dollars.
    pub usage: Vec<(String, String, String, [u64; 4])>,
}

/// A destination recognised as a data store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreRow {
    /// The host.
    pub node: String,
    /// The kind of store (`postgresql`, `s3`, `elasticsearch`, ...).
    pub kind: String,
}

/// Data of one class that arrived from a third-party API and was then sent by the same
/// caller to a data store or an AI provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineageRow {
    /// The third-party host it came from.
    pub source: String,
    /// The caller that received it and sent it on.
    pub via: String,
    /// The store or AI host it went to.
    pub sink: String,
    /// The data class.
    pub class: String,
    /// Exchanges that carried it on.
    pub calls: u64,
    /// First carried on.
    pub first_seen: Option<String>,
    /// Last carried on.
    pub last_seen: Option<String>,
}

/// A flow counted between two nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowRow {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Exchanges.
    pub calls: u64,
    /// Data classes carried.
    pub classes: Vec<String>,
}

/// Everything an inventory counted, as rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    /// Endpoints.
    pub endpoints: Vec<EndpointRow>,
    /// AI use.
    pub ai: Vec<AiRow>,
    /// Flows.
    pub flows: Vec<FlowRow>,
    /// Destinations recognised as data stores.
    pub stores: Vec<StoreRow>,
    /// Lineage: third-party data carried on to stores and AI providers.
    pub lineage: Vec<LineageRow>,
}

impl Rows {
    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
            && self.ai.is_empty()
            && self.flows.is_empty()
            && self.stores.is_empty()
            && self.lineage.is_empty()
    }
}

/// The `'static` name of an authentication kind read back from a store.
fn auth_name(a: &str) -> &'static str {
    match a {
        "bearer" => "bearer",
        "basic" => "basic",
        "digest" => "digest",
        "negotiate" => "negotiate",
        "aws_sigv4" => "aws_sigv4",
        "api_key" => "api_key",
        "cookie" => "cookie",
        "none" => "none",
        _ => "other",
    }
}

/// A finding as discovery keeps it: which detector, which way, how bad; never the value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenFinding {
    /// The detector id.
    pub detector: String,
    /// Its data class name.
    pub class: String,
    /// `request` or `response`.
    pub direction: String,
    /// `info` .. `critical`.
    pub severity: String,
    /// OWASP ids (LLM 2025, API 2023, Kubernetes 2025).
    pub owasp: Vec<String>,
}

impl SeenFinding {
    /// From a detector's finding seen in `direction`.
    pub fn of(f: &rampart_core::Finding, direction: &str) -> SeenFinding {
        SeenFinding {
            detector: f.detector.to_owned(),
            class: f.class.name().to_owned(),
            direction: direction.to_owned(),
            severity: f.severity.name().to_owned(),
            owasp: f.owasp.iter().map(|o| o.as_str().to_owned()).collect(),
        }
    }
}

/// Builds the inventory from events.
pub struct Inventory {
    specs: Specs,
    gateway_hosts: BTreeSet<String>,
    scanner: &'static Scanner,
    /// (host, method, template, origin) -> stats. Templates of undocumented and uncovered
    /// endpoints are by segment shape here; high-cardinality positions collapse in
    /// [`Inventory::document`].
    endpoints: BTreeMap<(String, String, String, Origin), Stats>,
    /// (host, provider, via gateway) -> use.
    ai: BTreeMap<(String, String, bool), AiStats>,
    /// (from, to) -> (classes, calls).
    flows: BTreeMap<(String, String), (BTreeSet<String>, u64)>,
    /// Configured data stores: host or `host:port` -> kind.
    configured_stores: BTreeMap<String, String>,
    /// Destinations recognised as data stores: host -> kind.
    stores: BTreeMap<String, String>,
    /// Hosts whose domain was looked up among hosted stores: host -> kind, if one.
    store_domains: std::collections::HashMap<String, Option<&'static str>>,
    /// Per caller, the data classes it received from third-party APIs and from where. Kept
    /// across [`Inventory::take_rows`], so lineage spans batches.
    received: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// (source, via, sink, class) -> how often.
    lineage: BTreeMap<(String, String, String, String), LineageStats>,
    /// Events read.
    pub events: u64,
}

impl Inventory {
    /// An empty inventory over these specs. Calls to `gateway_hosts` are AI use through the
    /// gateway.
    pub fn new(specs: Specs, gateway_hosts: impl IntoIterator<Item = String>) -> Inventory {
        Inventory {
            specs,
            gateway_hosts: gateway_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            scanner: Scanner::builtin(),
            endpoints: BTreeMap::new(),
            ai: BTreeMap::new(),
            flows: BTreeMap::new(),
            configured_stores: BTreeMap::new(),
            stores: BTreeMap::new(),
            store_domains: std::collections::HashMap::new(),
            received: BTreeMap::new(),
            lineage: BTreeMap::new(),
            events: 0,
        }
    }

    /// Declares data stores: host (or `host:port`) -> kind (`postgresql`, `orders-db`, ...).
    /// Stores are also recognised without it, by hosted-store domain, port and API shape.
    pub fn with_stores(mut self, stores: impl IntoIterator<Item = (String, String)>) -> Inventory {
        self.configured_stores = stores
            .into_iter()
            .map(|(h, k)| (h.to_ascii_lowercase(), k))
            .collect();
        self
    }

    /// The store kind of a destination: configured, else recognised (the domain looked up
    /// once per host).
    fn store_kind(&mut self, host: &str, port: Option<u16>, path: &str) -> Option<String> {
        if !self.configured_stores.is_empty() {
            if let Some(p) = port
                && let Some(k) = self.configured_stores.get(&format!("{host}:{p}"))
            {
                return Some(k.clone());
            }
            if let Some(k) = self.configured_stores.get(host) {
                return Some(k.clone());
            }
        }
        let by_domain = match self.store_domains.get(host) {
            Some(k) => *k,
            None => {
                let k = nodes::store_by_domain(host);
                if self.store_domains.len() < 100_000 {
                    self.store_domains.insert(host.to_owned(), k);
                }
                k
            }
        };
        by_domain
            .or_else(|| nodes::store_by_port_or_api(port, path))
            .map(str::to_owned)
    }

    /// Lineage: what `caller` receives from third parties is remembered; what it sends to a
    /// store or AI provider is matched against it.
    fn trace(&mut self, caller: &str, o: &Observed, store: bool) {
        let sink = store || o.ai.is_some();
        if sink
            && !o.request_classes.is_empty()
            && let Some(got) = self.received.get(caller)
        {
            for class in &o.request_classes {
                for source in got.get(class).into_iter().flatten() {
                    if *source != o.host {
                        self.lineage
                            .entry((
                                source.clone(),
                                caller.to_owned(),
                                o.host.clone(),
                                class.clone(),
                            ))
                            .or_default()
                            .add(1, [&o.time, &o.time]);
                    }
                }
            }
        }
        if !sink
            && !o.response_classes.is_empty()
            && nodes::host_kind(&o.host) == NodeKind::ThirdParty
            && (self.received.len() < MAX_TRACKED_CALLERS || self.received.contains_key(caller))
        {
            let got = self.received.entry(caller.to_owned()).or_default();
            for class in &o.response_classes {
                let sources = got.entry(class.clone()).or_default();
                if sources.len() < MAX_SOURCES {
                    sources.insert(o.host.clone());
                }
            }
        }
    }

    /// Folds in an exchange someone else already inspected (the gateway): its data classes
    /// are given, nothing is scanned.
    pub fn observe(&mut self, o: &Observed) {
        self.record(o);
    }

    /// Counts an exchange; returns its endpoint's key.
    fn record(&mut self, o: &Observed) -> (String, String, String, Origin) {
        self.events += 1;
        let (template, origin) = self.place(&o.host, &o.method, &o.path);
        let key = (o.host.clone(), o.method.clone(), template, origin);
        let caller = o.caller.clone().unwrap_or_else(|| "client".to_owned());
        let s = self.endpoints.entry(key.clone()).or_default();
        s.calls += 1;
        if let Some(st) = o.status {
            *s.statuses.entry(st).or_default() += 1;
        }
        s.request_classes.extend(o.request_classes.iter().cloned());
        s.response_classes
            .extend(o.response_classes.iter().cloned());
        s.auth.insert(o.auth);
        if let Some(t) = &o.time {
            s.seen_at(t);
        }
        if s.callers.len() < 1000 {
            s.callers.insert(caller.clone());
        }
        for f in &o.findings {
            s.findings
                .entry((f.detector.clone(), f.direction.clone()))
                .or_default()
                .add(&f.class, &f.severity, &f.owasp, 1, [&o.time, &o.time]);
        }
        if let Some(schemas) = &o.schemas {
            s.request_schema.merge(&schemas.0);
            s.response_schema.merge(&schemas.1);
        }
        self.flow(&caller, &o.host, &o.request_classes, &o.response_classes);
        let store = self.store_kind(&o.host, o.port, &o.path);
        self.trace(&caller, o, store.is_some());
        if let Some(kind) = store
            && !self.stores.contains_key(&o.host)
        {
            self.stores.insert(o.host.clone(), kind);
        }
        if let Some((provider, models)) = &o.ai {
            let a = self
                .ai
                .entry((o.host.clone(), provider.clone(), o.via_gateway))
                .or_default();
            a.calls += 1;
            a.models.extend(models.iter().cloned());
            let (input, output, cost) = o.usage.unwrap_or_default();
            a.input_tokens += input;
            a.output_tokens += output;
            a.cost_micros += cost;
            if let Some(day) = o.time.as_deref().and_then(day_of) {
                let d = a.days.entry(day.to_owned()).or_default();
                for (k, v) in [1, input, output, cost].into_iter().enumerate() {
                    d[k] += v;
                }
            }
            a.by_caller(&caller, [1, input, output, cost]);
            if let Some(k) = &o.key {
                a.key(k);
            }
            let day = o.time.as_deref().and_then(day_of).unwrap_or("").to_owned();
            let v = [1, input, output, cost];
            // a call naming several models counts for the first
            if let Some(m) = models.first() {
                a.series("model", m, &day, v);
            }
            if let Some(k) = &o.key {
                a.series("key", k, &day, v);
            }
            a.series("caller", &caller, &day, v);
        }
        key
    }

    /// Takes what was counted so far as rows, leaving the inventory empty. Templates are by
    /// segment shape only when the inventory has no specs (a store applies specs when it
    /// reads).
    pub fn take_rows(&mut self) -> Rows {
        let endpoints = std::mem::take(&mut self.endpoints)
            .into_iter()
            .map(|((host, method, template, _), s)| EndpointRow {
                host,
                method,
                template,
                calls: s.calls,
                statuses: s.statuses.into_iter().collect(),
                request_classes: s.request_classes.into_iter().collect(),
                response_classes: s.response_classes.into_iter().collect(),
                auth: s.auth.into_iter().map(str::to_owned).collect(),
                first_seen: s.first_seen,
                last_seen: s.last_seen,
                request_schema: s.request_schema.to_rows_if_seen(),
                response_schema: s.response_schema.to_rows_if_seen(),
                findings: s
                    .findings
                    .into_iter()
                    .map(|((detector, direction), f)| FindingRow {
                        detector,
                        direction,
                        class: f.class,
                        severity: f.severity,
                        owasp: f.owasp.into_iter().collect(),
                        count: f.count,
                        first_seen: f.first_seen,
                        last_seen: f.last_seen,
                    })
                    .collect(),
            })
            .collect();
        let ai = std::mem::take(&mut self.ai)
            .into_iter()
            .map(|((host, provider, via_gateway), a)| AiRow {
                host,
                provider,
                via_gateway,
                calls: a.calls,
                models: a.models.into_iter().collect(),
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cost_micros: a.cost_micros,
                days: a.days.into_iter().collect(),
                callers: a.callers.into_iter().collect(),
                keys: a.keys.into_iter().collect(),
                usage: a
                    .usage
                    .into_iter()
                    .map(|((d, n, day), v)| (d, n, day, v))
                    .collect(),
            })
            .collect();
        let flows = std::mem::take(&mut self.flows)
            .into_iter()
            .map(|((from, to), (classes, calls))| FlowRow {
                from,
                to,
                calls,
                classes: classes.into_iter().collect(),
            })
            .collect();
        let stores = std::mem::take(&mut self.stores)
            .into_iter()
            .map(|(node, kind)| StoreRow { node, kind })
            .collect();
        let lineage = std::mem::take(&mut self.lineage)
            .into_iter()
            .map(|((source, via, sink, class), l)| LineageRow {
                source,
                via,
                sink,
                class,
                calls: l.calls,
                first_seen: l.first_seen,
                last_seen: l.last_seen,
            })
            .collect();
        Rows {
            endpoints,
            ai,
            flows,
            stores,
            lineage,
        }
    }

    /// Adds rows (read from a store) as if their exchanges had been seen here; the specs of
    /// this inventory place their endpoints.
    pub fn add_rows(&mut self, rows: &Rows) {
        for r in &rows.endpoints {
            self.events += r.calls;
            let (template, origin) = self.place(&r.host, &r.method, &r.template);
            let s = self
                .endpoints
                .entry((r.host.clone(), r.method.clone(), template, origin))
                .or_default();
            s.calls += r.calls;
            for (st, n) in &r.statuses {
                *s.statuses.entry(*st).or_default() += n;
            }
            s.request_classes.extend(r.request_classes.iter().cloned());
            s.response_classes
                .extend(r.response_classes.iter().cloned());
            s.auth.extend(r.auth.iter().map(|a| auth_name(a)));
            for t in [&r.first_seen, &r.last_seen].into_iter().flatten() {
                s.seen_at(t);
            }
            s.request_schema.add_rows(&r.request_schema);
            s.response_schema.add_rows(&r.response_schema);
            for f in &r.findings {
                s.findings
                    .entry((f.detector.clone(), f.direction.clone()))
                    .or_default()
                    .add(
                        &f.class,
                        &f.severity,
                        &f.owasp,
                        f.count,
                        [&f.first_seen, &f.last_seen],
                    );
            }
        }
        for r in &rows.ai {
            let a = self
                .ai
                .entry((r.host.clone(), r.provider.clone(), r.via_gateway))
                .or_default();
            a.calls += r.calls;
            a.models.extend(r.models.iter().cloned());
            a.input_tokens += r.input_tokens;
            a.output_tokens += r.output_tokens;
            a.cost_micros += r.cost_micros;
            for (day, v) in &r.days {
                let d = a.days.entry(day.clone()).or_default();
                for k in 0..4 {
                    d[k] += v[k];
                }
            }
            for (caller, v) in &r.callers {
                a.by_caller(caller, *v);
            }
            for k in &r.keys {
                a.key(k);
            }
            for (d, n, day, v) in &r.usage {
                a.series(d, n, day, *v);
            }
        }
        for r in &rows.stores {
            self.stores
                .entry(r.node.clone())
                .or_insert_with(|| r.kind.clone());
        }
        for r in &rows.lineage {
            self.lineage
                .entry((
                    r.source.clone(),
                    r.via.clone(),
                    r.sink.clone(),
                    r.class.clone(),
                ))
                .or_default()
                .add(r.calls, [&r.first_seen, &r.last_seen]);
        }
        for r in &rows.flows {
            let f = self
                .flows
                .entry((r.from.clone(), r.to.clone()))
                .or_default();
            f.0.extend(r.classes.iter().cloned());
            f.1 += r.calls;
        }
    }

    /// The template and origin of a request.
    fn place(&self, host: &str, method: &str, path: &str) -> (String, Origin) {
        match self.specs.find(host, method, path) {
            Match::Operation {
                spec,
                op,
                template,
                retired,
            } => (template, Origin::Spec { spec, op, retired }),
            Match::Undocumented => (template::by_shape(path), Origin::Undocumented),
            Match::Uncovered => (template::by_shape(path), Origin::Uncovered),
        }
    }

    /// Records what `caller` sent `host` and what came back.
    fn flow(
        &mut self,
        caller: &str,
        host: &str,
        sent: &BTreeSet<String>,
        received: &BTreeSet<String>,
    ) {
        let f = self
            .flows
            .entry((caller.to_owned(), host.to_owned()))
            .or_default();
        f.0.extend(sent.iter().cloned());
        f.1 += 1;
        if !received.is_empty() {
            let f = self
                .flows
                .entry((host.to_owned(), caller.to_owned()))
                .or_default();
            f.0.extend(received.iter().cloned());
            f.1 += 1;
        }
    }

    /// Folds one event in. Its bodies are scanned and described, never kept.
    pub fn add(&mut self, e: &Event) {
        let mut request_schema = Schema::default();
        let mut response_schema = Schema::default();
        let mut sent = self.findings_of(e.request_body.as_deref(), &mut request_schema);
        if !e.query.is_empty() {
            sent.extend(self.findings_in(e.query.as_bytes()));
        }
        // a value in the path (a key, an SSN) is found like any other, and its segment becomes
        // a parameter: the inventory never keeps it, whatever its shape
        let in_path = self.findings_in(e.path.as_bytes());
        let path = masked(&e.path, &in_path);
        sent.extend(in_path);
        let response_body = e
            .response_body
            .as_deref()
            .filter(|_| !is_media(header(&e.response_headers, "content-type")));
        let received = self.findings_of(response_body, &mut response_schema);
        let names = |fs: &[rampart_core::Finding]| -> BTreeSet<String> {
            fs.iter().map(|f| f.class.name().to_owned()).collect()
        };
        let (request_classes, response_classes) = (names(&sent), names(&received));
        let findings = sent
            .iter()
            .map(|f| SeenFinding::of(f, "request"))
            .chain(received.iter().map(|f| SeenFinding::of(f, "response")))
            .collect();
        let observed = Observed {
            time: e.time.clone(),
            caller: e.caller.clone(),
            host: e.host.clone(),
            method: e.method.clone(),
            path,
            port: e.port,
            key: None,
            status: e.status,
            auth: auth_of(e),
            request_classes,
            response_classes,
            ai: ai_use(e).map(|(p, models)| (p, models.into_iter().collect())),
            usage: e.response_body.as_deref().and_then(usage_of),
            findings,
            via_gateway: e.via_gateway || self.gateway_hosts.contains(&e.host),
            schemas: Some(Box::new((request_schema, response_schema))),
        };
        let observed = Observed {
            key: observed.ai.as_ref().and_then(|_| key_fingerprint(e)),
            ..observed
        };
        self.record(&observed);
    }

    /// The schema of a JSON body, with the data classes found in each field (nothing for a
    /// body that is not JSON). Values are read, never kept.
    pub fn schema_of(&self, body: &[u8]) -> Schema {
        let mut schema = Schema::default();
        self.findings_of(Some(body), &mut schema);
        schema
    }

    /// The sensitive-data findings in a body; each JSON field's classes are tagged on `schema`.
    fn findings_of(&self, body: Option<&[u8]>, schema: &mut Schema) -> Vec<rampart_core::Finding> {
        let Some(body) = body.filter(|b| !b.is_empty() && b.len() <= MAX_BODY) else {
            return Vec::new();
        };
        let trimmed = body.trim_ascii_start();
        if matches!(trimmed.first(), Some(b'{' | b'['))
            && let Ok(v) = serde_json::from_slice::<Value>(body)
        {
            schema.observe(&v);
            let mut leaves = Vec::new();
            collect_leaves(&v, &mut Vec::new(), &mut leaves);
            if leaves.len() <= MAX_LEAVES {
                let mut all = Vec::new();
                for (path, key, value) in leaves {
                    // the key gives context words (`ssn`, `phone`) their chance
                    let snippet = format!(
                        "{{{}: {}}}",
                        serde_json::to_string(&key).unwrap_or_default(),
                        value
                    );
                    for f in self.findings_in(snippet.as_bytes()) {
                        schema.tag(&path, f.class.name());
                        all.push(f);
                    }
                }
                return all;
            }
        }
        self.findings_in(body)
    }

    fn findings_in(&self, bytes: &[u8]) -> Vec<rampart_core::Finding> {
        match self.scanner.scan(bytes, &ScanOptions::default()) {
            // sensitive data only: LLM threat findings (markup in a web page) are not data
            Ok(scan) => scan
                .found
                .into_iter()
                .map(|f| f.finding)
                .filter(|f| !f.class.is_threat())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every endpoint with its final template: positions that vary with high cardinality
    /// collapsed, endpoints of one template merged, spec operations listed once.
    fn endpoints(&self) -> Vec<((String, String, String, Origin), Stats)> {
        // A spec whose servers name no host covers the hosts seen serving at least one of its
        // operations: elsewhere an endpoint it does not list is observed, not shadow.
        let mut hostless_hosts: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for (host, _, _, origin) in self.endpoints.keys() {
            if let Origin::Spec { spec, .. } = origin
                && self.specs.specs[*spec].hosts.is_empty()
            {
                hostless_hosts.entry(*spec).or_default().insert(host);
            }
        }
        let covered = |host: &str| {
            self.specs.specs.iter().enumerate().any(|(i, s)| {
                if s.hosts.is_empty() {
                    hostless_hosts.get(&i).is_some_and(|h| h.contains(host))
                } else {
                    s.covers(host)
                }
            })
        };
        let origin_of = |host: &str, origin: Origin| match origin {
            Origin::Undocumented if !covered(host) => Origin::Uncovered,
            o => o,
        };
        // collapse per (host, method, origin kind) among shape templates
        let mut groups: BTreeMap<(String, String, Origin), BTreeSet<String>> = BTreeMap::new();
        for (host, method, t, origin) in self.endpoints.keys() {
            let origin = &origin_of(host, *origin);
            if !matches!(origin, Origin::Spec { .. }) {
                groups
                    .entry((host.clone(), method.clone(), *origin))
                    .or_default()
                    .insert(t.clone());
            }
        }
        let maps: BTreeMap<(String, String, Origin), BTreeMap<String, String>> = groups
            .into_iter()
            .map(|(k, ts)| (k, template::collapse(&ts)))
            .collect();
        let mut out: BTreeMap<(String, String, String, Origin), Stats> = BTreeMap::new();
        // a spec operation seen under several hosts or bases is one endpoint
        let mut ops: BTreeMap<(usize, usize, bool), (String, String)> = BTreeMap::new();
        for ((host, method, t, origin), s) in &self.endpoints {
            let key = match origin {
                Origin::Spec { spec, op, retired } => {
                    let (h, t) = ops
                        .entry((*spec, *op, *retired))
                        .or_insert_with(|| (host.clone(), t.clone()))
                        .clone();
                    (h, method.clone(), t, *origin)
                }
                _ => {
                    let origin = origin_of(host, *origin);
                    let t = maps[&(host.clone(), method.clone(), origin)][t].clone();
                    (host.clone(), method.clone(), t, origin)
                }
            };
            out.entry(key).or_default().merge(s);
        }
        // operations never seen
        for (si, spec) in self.specs.specs.iter().enumerate() {
            for (oi, op) in spec.operations.iter().enumerate() {
                if ops.contains_key(&(si, oi, false)) {
                    continue;
                }
                // a hostless spec's operations belong to a host seen serving it, if any
                let host = spec
                    .hosts
                    .first()
                    .cloned()
                    .or_else(|| {
                        hostless_hosts
                            .get(&si)
                            .and_then(|h| h.first())
                            .map(|h| (*h).to_owned())
                    })
                    .unwrap_or_default();
                let base = spec.bases.first().cloned().unwrap_or_default();
                out.insert(
                    (
                        host,
                        op.method.clone(),
                        format!("{base}{}", op.path),
                        Origin::Spec {
                            spec: si,
                            op: oi,
                            retired: false,
                        },
                    ),
                    Stats::default(),
                );
            }
        }
        out.into_iter().collect()
    }

    /// The inventory as a document.
    pub fn document(&self) -> Document {
        let endpoints: Vec<Endpoint> = self
            .endpoints()
            .into_iter()
            .map(|((host, method, path, origin), s)| {
                let status = match origin {
                    Origin::Uncovered => "observed",
                    Origin::Undocumented => "shadow",
                    Origin::Spec { .. } if s.calls == 0 => "unused",
                    Origin::Spec { retired: true, .. } => "zombie",
                    Origin::Spec { spec, op, .. } => {
                        if self.specs.specs[spec].operations[op].deprecated {
                            "zombie"
                        } else {
                            "documented"
                        }
                    }
                };
                let risk = risk(status, &s);
                Endpoint {
                    host,
                    method,
                    path,
                    status,
                    calls: s.calls,
                    request_classes: s.request_classes.iter().cloned().collect(),
                    response_classes: s.response_classes.iter().cloned().collect(),
                    auth: s.auth.iter().map(|a| (*a).to_owned()).collect(),
                    first_seen: s.first_seen.clone(),
                    last_seen: s.last_seen.clone(),
                    responses: s
                        .statuses
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect(),
                    owasp: owasp_of(status, &s),
                    risk,
                    findings: s
                        .findings
                        .iter()
                        .map(|((detector, direction), f)| EndpointFinding {
                            detector: detector.clone(),
                            class: f.class.clone(),
                            direction: direction.clone(),
                            severity: f.severity.clone(),
                            owasp: f.owasp.iter().cloned().collect(),
                            count: f.count,
                            first_seen: f.first_seen.clone(),
                            last_seen: f.last_seen.clone(),
                        })
                        .collect(),
                    request_schema: (s.request_schema.seen > 0).then(|| s.request_schema.to_json()),
                    response_schema: (s.response_schema.seen > 0)
                        .then(|| s.response_schema.to_json()),
                }
            })
            .collect();
        let ai = self
            .ai
            .iter()
            .map(|((host, provider, via), a)| Ai {
                host: host.clone(),
                provider: provider.clone(),
                models: a.models.iter().cloned().collect(),
                calls: a.calls,
                via_gateway: *via,
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cost_usd: a.cost_micros as f64 / 1e6,
                callers: a
                    .callers
                    .iter()
                    .map(|(caller, [calls, input, output, cost])| AiCaller {
                        caller: caller.clone(),
                        calls: *calls,
                        input_tokens: *input,
                        output_tokens: *output,
                        cost_usd: *cost as f64 / 1e6,
                    })
                    .collect(),
                keys: a.keys.iter().cloned().collect(),
                usage: a
                    .usage
                    .iter()
                    .map(
                        |((dimension, name, day), [calls, input, output, cost])| AiUsage {
                            dimension: dimension.clone(),
                            name: name.clone(),
                            day: day.clone(),
                            calls: *calls,
                            input_tokens: *input,
                            output_tokens: *output,
                            cost_usd: *cost as f64 / 1e6,
                        },
                    )
                    .collect(),
                by_day: a
                    .days
                    .iter()
                    .map(|(day, [calls, input, output, cost])| AiDay {
                        day: day.clone(),
                        calls: *calls,
                        input_tokens: *input,
                        output_tokens: *output,
                        cost_usd: *cost as f64 / 1e6,
                    })
                    .collect(),
            })
            .collect();
        let flows: Vec<Flow> = self
            .flows
            .iter()
            .map(|((from, to), (classes, calls))| Flow {
                from: from.clone(),
                to: to.clone(),
                classes: classes.iter().cloned().collect(),
                calls: *calls,
                risk: flow_risk(to, classes, *calls),
            })
            .collect();
        let nodes = self.nodes(&endpoints, &flows);
        let lineage = self
            .lineage
            .iter()
            .map(|((source, via, sink, class), l)| Lineage {
                class: class.clone(),
                source: source.clone(),
                via: via.clone(),
                sink: sink.clone(),
                sink_kind: match self.stores_kind(sink) {
                    Some(_) => NodeKind::DataStore.as_str(),
                    None => NodeKind::AiProvider.as_str(),
                },
                calls: l.calls,
                first_seen: l.first_seen.clone(),
                last_seen: l.last_seen.clone(),
            })
            .collect();
        Document {
            endpoints,
            ai,
            flows,
            nodes,
            lineage,
        }
    }

    /// The store kind of a node recorded or configured as a store.
    fn stores_kind(&self, node: &str) -> Option<&str> {
        self.stores
            .get(node)
            .or_else(|| self.configured_stores.get(node))
            .map(String::as_str)
    }

    /// Every node of the flow graph with its kind.
    fn nodes(&self, endpoints: &[Endpoint], flows: &[Flow]) -> Vec<Node> {
        let ai_hosts: BTreeSet<&str> = self.ai.keys().map(|(h, _, _)| h.as_str()).collect();
        let hosts: BTreeSet<&str> = endpoints
            .iter()
            .map(|e| e.host.as_str())
            .chain(ai_hosts.iter().copied())
            .chain(self.stores.keys().map(String::as_str))
            .filter(|h| !h.is_empty())
            .collect();
        let mut out: BTreeMap<&str, Node> = BTreeMap::new();
        for id in flows
            .iter()
            .flat_map(|f| [f.from.as_str(), f.to.as_str()])
            .chain(hosts.iter().copied())
        {
            if out.contains_key(id) {
                continue;
            }
            let store = self.stores_kind(id).map(str::to_owned);
            let kind = if store.is_some() {
                NodeKind::DataStore
            } else if ai_hosts.contains(id) {
                NodeKind::AiProvider
            } else if hosts.contains(id) {
                nodes::host_kind(id)
            } else {
                NodeKind::Identity
            };
            out.insert(
                id,
                Node {
                    id: id.to_owned(),
                    kind: kind.as_str(),
                    store,
                },
            );
        }
        out.into_values().collect()
    }
}

/// A fingerprint of the credential a request presented (bearer token, API-key header or
/// `key` query parameter): `fp:` and 16 hex digits of its BLAKE3 hash, never the credential.
pub fn key_fingerprint(e: &Event) -> Option<String> {
    let header = e
        .request_headers
        .iter()
        .find_map(|(n, v)| match n.as_str() {
            "authorization" => Some(
                v.split_once(' ')
                    .map_or(v.as_str(), |(_, token)| token)
                    .trim(),
            ),
            "x-api-key" | "api-key" | "x-goog-api-key" => Some(v.trim()),
            _ => None,
        });
    let query = || {
        e.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "key" || k == "api_key").then_some(v)
        })
    };
    let key = header.or_else(query).filter(|k| !k.is_empty())?;
    let hash = blake3::hash(key.as_bytes());
    Some(format!("fp:{}", &hash.to_hex()[..16]))
}

/// `path` with every segment that holds part of a finding replaced by a parameter named after
/// the finding's class (`/keys/{secret}`).
fn masked(path: &str, found: &[rampart_core::Finding]) -> String {
    if found.is_empty() {
        return path.to_owned();
    }
    let mut at = 0;
    path.split('/')
        .map(|seg| {
            let (start, end) = (at, at + seg.len());
            at = end + 1;
            match found
                .iter()
                .find(|f| f.span.start < end && f.span.end > start)
            {
                Some(f) => format!("{{{}}}", f.class.name().to_ascii_lowercase()),
                None => seg.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The first value of header `name` (lowercase) in `headers`.
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a content type is media or code a page loads (images, fonts, audio, video, style
/// sheets, scripts, WebAssembly): not data an API returns, and the digit runs in its bytes
/// would read as numbers.
fn is_media(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("image/")
        || ct.starts_with("font/")
        || ct.starts_with("audio/")
        || ct.starts_with("video/")
        || matches!(
            ct.as_str(),
            "text/css"
                | "text/javascript"
                | "application/javascript"
                | "application/x-javascript"
                | "application/wasm"
                | "application/font-woff"
                | "application/vnd.ms-fontobject"
        )
}

/// The leaves of a JSON value: field path (`[]` for array items), the nearest key, and the
/// value as JSON text.
fn collect_leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String, String)>) {
    if out.len() > MAX_LEAVES {
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                path.push(k.clone());
                collect_leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            path.push("[]".into());
            for x in a {
                collect_leaves(x, path, out);
            }
            path.pop();
        }
        Value::String(_) | Value::Number(_) => {
            let key = path
                .iter()
                .rev()
                .find(|p| *p != "[]")
                .cloned()
                .unwrap_or_default();
            out.push((path.clone(), key, v.to_string()));
        }
        _ => {}
    }
}

/// How the request authenticated: `bearer`, `basic`, `api_key` (a key header or query
/// parameter), `cookie`, another `Authorization` scheme in lowercase, or `none`.
pub fn auth_of(e: &Event) -> &'static str {
    auth_kind(
        e.request_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
        &e.query,
    )
}

/// [`auth_of`] over any request's headers (names lowercase, as HTTP libraries give them) and
/// query string. Runs on every exchange: nothing is allocated.
pub fn auth_kind<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    query: &str,
) -> &'static str {
    let mut key_header = false;
    let mut cookie = false;
    for (n, v) in headers {
        if n == "authorization" {
            let scheme = v.split(' ').next().unwrap_or("");
            let is = |s: &str| scheme.eq_ignore_ascii_case(s);
            return if is("bearer") {
                "bearer"
            } else if is("basic") {
                "basic"
            } else if is("digest") {
                "digest"
            } else if is("negotiate") || is("ntlm") {
                "negotiate"
            } else if is("aws4-hmac-sha256") {
                "aws_sigv4"
            } else {
                "other"
            };
        }
        key_header |= matches!(
            n,
            "x-api-key"
                | "api-key"
                | "apikey"
                | "x-goog-api-key"
                | "x-apikey"
                | "x-auth-token"
                | "x-access-token"
        ) || n.ends_with("-api-key")
            || (n.starts_with("x-") && n.ends_with("-token"));
        cookie |= n == "cookie";
    }
    if key_header {
        return "api_key";
    }
    let key_query = query.split('&').any(|kv| {
        let k = kv.split('=').next().unwrap_or("");
        [
            "api_key",
            "apikey",
            "key",
            "access_token",
            "token",
            "api-key",
        ]
        .iter()
        .any(|name| k.eq_ignore_ascii_case(name))
    });
    if key_query {
        return "api_key";
    }
    if cookie {
        return "cookie";
    }
    "none"
}

/// The AI provider an exchange calls, by host or, for other hosts, by the shape of a model
/// API; with the models it names.
pub fn ai_use(e: &Event) -> Option<(String, BTreeSet<String>)> {
    let host = e.host.as_str();
    let path = e.path.as_str();
    let by_host = [
        ("api.openai.com", "openai"),
        (".openai.azure.com", "azure-openai"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("-aiplatform.googleapis.com", "vertex-ai"),
        ("api.cohere.com", "cohere"),
        ("api.cohere.ai", "cohere"),
        ("api.mistral.ai", "mistral"),
        ("api.groq.com", "groq"),
        ("api.together.xyz", "together"),
        ("api.deepseek.com", "deepseek"),
        ("api.perplexity.ai", "perplexity"),
        ("openrouter.ai", "openrouter"),
        ("api.x.ai", "xai"),
        ("api.fireworks.ai", "fireworks"),
        ("huggingface.co", "huggingface"),
        (".amazonaws.com", "bedrock"),
    ]
    .iter()
    .find(|(h, _)| {
        if h.starts_with('.') || h.starts_with('-') {
            host.ends_with(h) && (!h.contains("amazonaws") || host.starts_with("bedrock-runtime."))
        } else {
            host == *h || host.ends_with(&format!(".{h}")) && h.contains("huggingface")
        }
    })
    .map(|(_, p)| (*p).to_owned());
    let by_path = || {
        let anthropic_header = e.request_header("anthropic-version").is_some();
        if path.ends_with("/chat/completions")
            || path.ends_with("/v1/completions")
            || path.ends_with("/v1/embeddings")
            || path.ends_with("/v1/responses")
        {
            Some("openai-compatible".to_owned())
        } else if path.ends_with("/v1/messages") && anthropic_header {
            Some("anthropic".to_owned())
        } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
            Some("gemini".to_owned())
        } else if path == "/api/generate" || path == "/api/chat" {
            Some("ollama".to_owned())
        } else {
            None
        }
    };
    let provider = by_host.or_else(by_path)?;
    let mut models = BTreeSet::new();
    for body in [&e.request_body, &e.response_body].into_iter().flatten() {
        if let Ok(v) = serde_json::from_slice::<Value>(body)
            && let Some(m) = v.get("model").and_then(Value::as_str)
            && !m.is_empty()
            && m.len() <= 200
        {
            models.insert(m.to_owned());
            break;
        }
    }
    // models named in the path: Gemini `models/NAME:verb`, Bedrock `model/ID/invoke`
    let segs: Vec<&str> = path.split('/').collect();
    for w in segs.windows(2) {
        if w[0] == "models" || w[0] == "model" {
            let name = w[1].split(':').next().unwrap_or("");
            if !name.is_empty() && (w[1].contains(':') || w[0] == "model") {
                models.insert(name.to_owned());
            }
        }
    }
    Some((provider, models))
}

/// The token usage a provider's answer reports (`usage` of OpenAI and Anthropic shapes,
/// `usageMetadata` of Gemini): input, output, and no cost (offline there is no price table).
fn usage_of(body: &[u8]) -> Option<(u64, u64, u64)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64);
    let input = n("/usage/prompt_tokens")
        .or_else(|| n("/usage/input_tokens"))
        .or_else(|| n("/usageMetadata/promptTokenCount"))?;
    let output = n("/usage/completion_tokens")
        .or_else(|| n("/usage/output_tokens"))
        .or_else(|| n("/usageMetadata/candidatesTokenCount"))
        .unwrap_or(0);
    Some((input, output, 0))
}

/// The OWASP API Security Top 10 (2023) entries an endpoint shows: API9 (improper inventory
/// management) when it is shadow or zombie, and the entries of the data classes its responses
/// expose (API3, excessive data exposure at property level).
fn owasp_of(status: &str, s: &Stats) -> Vec<&'static str> {
    let mut ids: BTreeSet<&'static str> = s
        .response_classes
        .iter()
        .filter_map(|c| rampart_core::DataClass::from_name(c))
        .flat_map(|c| c.owasp().iter().map(|id| id.as_str()))
        .filter(|id| id.starts_with("API"))
        .collect();
    if matches!(status, "shadow" | "zombie") {
        ids.insert("API9:2023");
    }
    ids.into_iter().collect()
}

/// A risk score in 0..=100 for an endpoint: how sensitive its data is, how exposed it is
/// (shadow and zombie endpoints, no authentication), and how much it is used.
fn risk(status: &str, s: &Stats) -> u32 {
    let exposure = match status {
        "shadow" | "zombie" => 3,
        _ => 1,
    } + u32::from(s.auth.contains("none"));
    score(
        s.request_classes.iter().chain(&s.response_classes),
        exposure,
        s.calls,
    )
}

/// A flow's risk in 0..=100: how sensitive its data is, whether it leaves for an AI provider
/// or leaves at all, and how much of it there is.
fn flow_risk(to: &str, classes: &BTreeSet<String>, calls: u64) -> u32 {
    let exposure = if rampart_llm::is_ai_host(to) { 3 } else { 1 };
    if classes.is_empty() {
        return 0;
    }
    score(classes.iter(), exposure, calls)
}

/// Data sensitivity (the most sensitive class: secrets and financial or national ids 3,
/// contact data 2, the rest 1) × 8, plus exposure × 6, plus the calls' order of magnitude × 2,
/// capped at 100.
fn score<'c>(classes: impl Iterator<Item = &'c String>, exposure: u32, calls: u64) -> u32 {
    let sensitivity = classes
        .map(|c| match c.as_str() {
            "SECRET" | "API_KEY" | "PRIVATE_KEY" | "CREDIT_CARD" | "US_SSN" | "IBAN"
            | "PASSWORD" => 3,
            "EMAIL_ADDRESS" | "PHONE_NUMBER" | "PERSON" | "ADDRESS" | "DATE_OF_BIRTH" => 2,
            _ => 1,
        })
        .max()
        .unwrap_or(0);
    let volume = (64 - calls.leading_zeros()).min(10);
    (sensitivity * 8 + exposure * 6 + volume * 2).min(100)
}

/// One endpoint of the document.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    /// The host.
    pub host: String,
    /// The method.
    pub method: String,
    /// The path template (`{name}` parameters).
    pub path: String,
    /// `documented`, `shadow`, `zombie`, `unused`, or `observed` (no spec covers the host).
    pub status: &'static str,
    /// Calls seen.
    pub calls: u64,
    /// Data classes its requests carried (body and query).
    pub request_classes: Vec<String>,
    /// Data classes its responses carried.
    pub response_classes: Vec<String>,
    /// Authentication seen (`bearer`, `basic`, `api_key`, `cookie`, `none`, ...).
    pub auth: Vec<String>,
    /// First call, as the source timed it.
    pub first_seen: Option<String>,
    /// Last call.
    pub last_seen: Option<String>,
    /// HTTP statuses answered, with counts.
    pub responses: BTreeMap<String, u64>,
    /// OWASP API Security Top 10 (2023) entries: API9 for shadow and zombie endpoints, API3
    /// where responses expose sensitive data.
    pub owasp: Vec<&'static str>,
    /// Data sensitivity × exposure × volume, 0..=100.
    pub risk: u32,
    /// What the detectors found here, per detector and direction (never a value).
    pub findings: Vec<EndpointFinding>,
    /// The request body schema inferred from traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_schema: Option<Value>,
    /// The response body schema inferred from traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
}

/// One detector's findings at one endpoint, one direction.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointFinding {
    /// The detector id.
    pub detector: String,
    /// Its data class.
    pub class: String,
    /// `request` or `response`.
    pub direction: String,
    /// `info` .. `critical`.
    pub severity: String,
    /// OWASP ids (LLM 2025, API 2023, Kubernetes 2025).
    pub owasp: Vec<String>,
    /// How many were found.
    pub count: u64,
    /// First found.
    pub first_seen: Option<String>,
    /// Last found.
    pub last_seen: Option<String>,
}

/// AI use at one host.
#[derive(Clone, Debug, Serialize)]
pub struct Ai {
    /// The host called.
    pub host: String,
    /// The provider (`openai`, `anthropic`, `gemini`, `openai-compatible`, ...).
    pub provider: String,
    /// Models named.
    pub models: Vec<String>,
    /// Calls seen.
    pub calls: u64,
    /// Whether the calls went through the gateway (false: shadow AI).
    pub via_gateway: bool,
    /// Input tokens the providers reported.
    pub input_tokens: u64,
    /// Output tokens the providers reported.
    pub output_tokens: u64,
    /// What those tokens cost at list prices, in US dollars (known through the gateway,
    /// which holds the price table; 0 offline).
    pub cost_usd: f64,
    /// Who called, with their tokens and cost.
    pub callers: Vec<AiCaller>,
    /// Fingerprints of the keys used (never the keys).
    pub keys: Vec<String>,
    /// Per model, key fingerprint and caller, per UTC day: the series behind the console's
    /// charts.
    pub usage: Vec<AiUsage>,
    /// The same per UTC day.
    pub by_day: Vec<AiDay>,
}

/// One point of an AI use series.
#[derive(Clone, Debug, Serialize)]
pub struct AiUsage {
    /// `model`, `key` or `caller`.
    pub dimension: String,
    /// The model, key fingerprint or caller.
    pub name: String,
    /// `YYYY-MM-DD` (UTC); empty when the source gave no time.
    pub day: String,
    /// Calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// AI use of one UTC day.
#[derive(Clone, Debug, Serialize)]
pub struct AiDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// The UTC day of an RFC 3339 time that is in UTC (`…Z` or `+00:00`); other offsets are
/// not converted and give no day.
fn day_of(t: &str) -> Option<&str> {
    let utc = t.ends_with('Z') || t.ends_with("+00:00");
    (utc && t.len() >= 10 && crate::template::kind(&t[..10]) == crate::template::Kind::Date)
        .then(|| &t[..10])
}

/// Data moving between a caller and a host.
#[derive(Clone, Debug, Serialize)]
pub struct Flow {
    /// Who sent it.
    pub from: String,
    /// Who received it.
    pub to: String,
    /// The data classes it carried.
    pub classes: Vec<String>,
    /// Exchanges.
    pub calls: u64,
    /// 0..=100: data sensitivity × where it goes (an AI provider weighs most) × volume; 0
    /// when it carried no sensitive data.
    pub risk: u32,
}

/// One node of the flow graph.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// The caller or host.
    pub id: String,
    /// `identity`, `service`, `third_party`, `ai_provider` or `data_store`.
    pub kind: &'static str,
    /// For a data store, its kind (`postgresql`, `s3`, `elasticsearch`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

/// Data of one class that a caller received from a third-party API and then sent to a data
/// store or an AI provider.
#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    /// The data class.
    pub class: String,
    /// The third-party host it came from.
    pub source: String,
    /// The caller that carried it on.
    pub via: String,
    /// Where it went.
    pub sink: String,
    /// `data_store` or `ai_provider`.
    pub sink_kind: &'static str,
    /// Exchanges that carried it on.
    pub calls: u64,
    /// First carried on.
    pub first_seen: Option<String>,
    /// Last carried on.
    pub last_seen: Option<String>,
}

/// AI use by one caller at one host.
#[derive(Clone, Debug, Serialize)]
pub struct AiCaller {
    /// The caller (workload, key id or address).
    pub caller: String,
    /// Calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// What `rampart discover --format json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Document {
    /// Endpoints by host, path and method; a spec's operation appears once, seen or not.
    pub endpoints: Vec<Endpoint>,
    /// AI use.
    pub ai: Vec<Ai>,
    /// Data flows.
    pub flows: Vec<Flow>,
    /// The nodes of the flow graph: identities, services, third-party APIs, AI providers
    /// and data stores.
    pub nodes: Vec<Node>,
    /// Third-party data carried on to data stores and AI providers, per caller.
    pub lineage: Vec<Lineage>,
}
