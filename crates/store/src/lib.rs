//! The inventory store: discovery counts ([`Rows`]) added up in SQLite (the default, a file in
//! the gateway's data dir) or PostgreSQL (`postgres://…`, so many gateway replicas and
//! clusters share one inventory). One schema, with its migrations embedded, for both; every
//! statement is portable SQL with `$n` parameters. Writers only add (upserts that sum counts,
//! keep the earliest first-seen and the latest last-seen, and union tags), so replicas never
//! overwrite each other.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use rampart_discover::schema::FieldRow;
use rampart_discover::{AiRow, EndpointRow, FindingRow, FlowRow, LineageRow, Rows, StoreRow};
use sqlx::{PgPool, Row, SqlitePool};

pub mod testing;

/// The migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connected store.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Why the store failed.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError(e.to_string())
    }
}

/// What the controllers stored of their clusters.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// (cluster, workload document).
    pub workloads: Vec<(String, serde_json::Value)>,
    /// (cluster, posture finding).
    pub findings: Vec<(String, serde_json::Value)>,
}

/// Runs one statement on either pool: `$q` with its binds.
macro_rules! exec {
    ($tx:expr, $q:expr $(, $b:expr)*) => {
        sqlx::query($q)$(.bind($b))*.execute(&mut *$tx).await
    };
}

/// The upserts, in the order a batch runs them.
const UPSERT_ENDPOINT: &str = "INSERT INTO discovery_endpoints (host, method, template, calls, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (host, method, template) DO UPDATE SET \
     calls = discovery_endpoints.calls + excluded.calls, \
     first_seen = CASE WHEN discovery_endpoints.first_seen IS NULL OR excluded.first_seen < discovery_endpoints.first_seen \
                  THEN excluded.first_seen ELSE discovery_endpoints.first_seen END, \
     last_seen = CASE WHEN discovery_endpoints.last_seen IS NULL OR excluded.last_seen > discovery_endpoints.last_seen \
                 THEN excluded.last_seen ELSE discovery_endpoints.last_seen END";
const UPSERT_FINDING: &str = "INSERT INTO discovery_findings (host, method, template, detector, direction, class, severity, owasp, count, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (host, method, template, detector, direction) DO UPDATE SET \
     class = excluded.class, severity = excluded.severity, owasp = excluded.owasp, \
     count = discovery_findings.count + excluded.count, \
     first_seen = CASE WHEN discovery_findings.first_seen IS NULL OR excluded.first_seen < discovery_findings.first_seen \
                  THEN excluded.first_seen ELSE discovery_findings.first_seen END, \
     last_seen = CASE WHEN discovery_findings.last_seen IS NULL OR excluded.last_seen > discovery_findings.last_seen \
                 THEN excluded.last_seen ELSE discovery_findings.last_seen END";
const UPSERT_STATUS: &str = "INSERT INTO discovery_endpoint_statuses (host, method, template, status, calls) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host, method, template, status) DO UPDATE SET \
     calls = discovery_endpoint_statuses.calls + excluded.calls";
const INSERT_TAG: &str = "INSERT INTO discovery_endpoint_tags (host, method, template, kind, value) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const UPSERT_AI: &str = "INSERT INTO discovery_ai (host, provider, via_gateway, calls, input_tokens, output_tokens, cost_micros) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (host, provider, via_gateway) DO UPDATE SET \
     calls = discovery_ai.calls + excluded.calls, \
     input_tokens = discovery_ai.input_tokens + excluded.input_tokens, \
     output_tokens = discovery_ai.output_tokens + excluded.output_tokens, \
     cost_micros = discovery_ai.cost_micros + excluded.cost_micros";
const UPSERT_AI_DAY: &str = "INSERT INTO discovery_ai_daily (host, provider, via_gateway, day, calls, input_tokens, output_tokens, cost_micros) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (host, provider, via_gateway, day) DO UPDATE SET \
     calls = discovery_ai_daily.calls + excluded.calls, \
     input_tokens = discovery_ai_daily.input_tokens + excluded.input_tokens, \
     output_tokens = discovery_ai_daily.output_tokens + excluded.output_tokens, \
     cost_micros = discovery_ai_daily.cost_micros + excluded.cost_micros";
const INSERT_MODEL: &str = "INSERT INTO discovery_ai_models (host, provider, via_gateway, model) \
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const UPSERT_FLOW: &str = "INSERT INTO discovery_flows (from_node, to_node, calls) VALUES ($1, $2, $3) \
     ON CONFLICT (from_node, to_node) DO UPDATE SET calls = discovery_flows.calls + excluded.calls";
const UPSERT_AI_CALLER: &str = "INSERT INTO discovery_ai_callers (host, provider, via_gateway, caller, calls, input_tokens, output_tokens, cost_micros) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (host, provider, via_gateway, caller) DO UPDATE SET \
     calls = discovery_ai_callers.calls + excluded.calls, \
     input_tokens = discovery_ai_callers.input_tokens + excluded.input_tokens, \
     output_tokens = discovery_ai_callers.output_tokens + excluded.output_tokens, \
     cost_micros = discovery_ai_callers.cost_micros + excluded.cost_micros";
const UPSERT_AI_USAGE: &str = "INSERT INTO discovery_ai_usage (host, provider, via_gateway, dimension, name, day, calls, input_tokens, output_tokens, cost_micros) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (host, provider, via_gateway, dimension, name, day) DO UPDATE SET \
     calls = discovery_ai_usage.calls + excluded.calls, \
     input_tokens = discovery_ai_usage.input_tokens + excluded.input_tokens, \
     output_tokens = discovery_ai_usage.output_tokens + excluded.output_tokens, \
     cost_micros = discovery_ai_usage.cost_micros + excluded.cost_micros";
const INSERT_AI_KEY: &str = "INSERT INTO discovery_ai_keys (host, provider, via_gateway, fingerprint) \
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const INSERT_STORE: &str =
    "INSERT INTO discovery_stores (node, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const UPSERT_LINEAGE: &str = "INSERT INTO discovery_lineage (source, via, sink, class, calls, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source, via, sink, class) DO UPDATE SET \
     calls = discovery_lineage.calls + excluded.calls, \
     first_seen = CASE WHEN discovery_lineage.first_seen IS NULL OR excluded.first_seen < discovery_lineage.first_seen \
                  THEN excluded.first_seen ELSE discovery_lineage.first_seen END, \
     last_seen = CASE WHEN discovery_lineage.last_seen IS NULL OR excluded.last_seen > discovery_lineage.last_seen \
                 THEN excluded.last_seen ELSE discovery_lineage.last_seen END";
const UPSERT_SCHEMA_FIELD: &str = "INSERT INTO discovery_schema_fields (host, method, template, direction, path, seen, objects, types, format) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (host, method, template, direction, path) DO UPDATE SET \
     seen = discovery_schema_fields.seen + excluded.seen, \
     objects = discovery_schema_fields.objects + excluded.objects, \
     types = discovery_schema_fields.types | excluded.types, \
     format = CASE WHEN discovery_schema_fields.format IS NULL THEN excluded.format \
              WHEN excluded.format IS NULL OR excluded.format = discovery_schema_fields.format \
              THEN discovery_schema_fields.format ELSE '' END";
const INSERT_SCHEMA_CLASS: &str = "INSERT INTO discovery_schema_classes (host, method, template, direction, path, class) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
const INSERT_FLOW_CLASS: &str = "INSERT INTO discovery_flow_classes (from_node, to_node, class) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Writes one batch inside an open transaction `$tx` (either driver).
macro_rules! write_rows {
    ($tx:expr, $rows:expr) => {{
        let rows: &Rows = $rows;
        for e in &rows.endpoints {
            exec!(
                $tx,
                UPSERT_ENDPOINT,
                &e.host,
                &e.method,
                &e.template,
                e.calls as i64,
                &e.first_seen,
                &e.last_seen
            )?;
            for (status, n) in &e.statuses {
                exec!(
                    $tx,
                    UPSERT_STATUS,
                    &e.host,
                    &e.method,
                    &e.template,
                    i32::from(*status),
                    *n as i64
                )?;
            }
            for f in &e.findings {
                exec!(
                    $tx,
                    UPSERT_FINDING,
                    &e.host,
                    &e.method,
                    &e.template,
                    &f.detector,
                    &f.direction,
                    &f.class,
                    &f.severity,
                    f.owasp.join(","),
                    f.count as i64,
                    &f.first_seen,
                    &f.last_seen
                )?;
            }
            for (direction, fields) in [
                ("request", &e.request_schema),
                ("response", &e.response_schema),
            ] {
                for f in fields {
                    let path = serde_json::to_string(&f.path).unwrap_or_default();
                    exec!(
                        $tx,
                        UPSERT_SCHEMA_FIELD,
                        &e.host,
                        &e.method,
                        &e.template,
                        direction,
                        &path,
                        f.seen as i64,
                        f.objects as i64,
                        f.types,
                        &f.format
                    )?;
                    for c in &f.classes {
                        exec!(
                            $tx,
                            INSERT_SCHEMA_CLASS,
                            &e.host,
                            &e.method,
                            &e.template,
                            direction,
                            &path,
                            c
                        )?;
                    }
                }
            }
            for (kind, values) in [
                ("request_class", &e.request_classes),
                ("response_class", &e.response_classes),
                ("auth", &e.auth),
            ] {
                for v in values {
                    exec!($tx, INSERT_TAG, &e.host, &e.method, &e.template, kind, v)?;
                }
            }
        }
        for a in &rows.ai {
            let via = i32::from(a.via_gateway);
            exec!(
                $tx,
                UPSERT_AI,
                &a.host,
                &a.provider,
                via,
                a.calls as i64,
                a.input_tokens as i64,
                a.output_tokens as i64,
                a.cost_micros as i64
            )?;
            for m in &a.models {
                exec!($tx, INSERT_MODEL, &a.host, &a.provider, via, m)?;
            }
            for (day, [calls, input, output, cost]) in &a.days {
                exec!(
                    $tx,
                    UPSERT_AI_DAY,
                    &a.host,
                    &a.provider,
                    via,
                    day,
                    *calls as i64,
                    *input as i64,
                    *output as i64,
                    *cost as i64
                )?;
            }
            for (caller, [calls, input, output, cost]) in &a.callers {
                exec!(
                    $tx,
                    UPSERT_AI_CALLER,
                    &a.host,
                    &a.provider,
                    via,
                    caller,
                    *calls as i64,
                    *input as i64,
                    *output as i64,
                    *cost as i64
                )?;
            }
            for k in &a.keys {
                exec!($tx, INSERT_AI_KEY, &a.host, &a.provider, via, k)?;
            }
            for (dimension, name, day, [calls, input, output, cost]) in &a.usage {
                exec!(
                    $tx,
                    UPSERT_AI_USAGE,
                    &a.host,
                    &a.provider,
                    via,
                    dimension,
                    name,
                    day,
                    *calls as i64,
                    *input as i64,
                    *output as i64,
                    *cost as i64
                )?;
            }
        }
        for st in &rows.stores {
            exec!($tx, INSERT_STORE, &st.node, &st.kind)?;
        }
        for l in &rows.lineage {
            exec!(
                $tx,
                UPSERT_LINEAGE,
                &l.source,
                &l.via,
                &l.sink,
                &l.class,
                l.calls as i64,
                &l.first_seen,
                &l.last_seen
            )?;
        }
        for f in &rows.flows {
            exec!($tx, UPSERT_FLOW, &f.from, &f.to, f.calls as i64)?;
            for c in &f.classes {
                exec!($tx, INSERT_FLOW_CLASS, &f.from, &f.to, c)?;
            }
        }
        Ok::<(), sqlx::Error>(())
    }};
}

/// Reads every table on a pool `$pool` (either driver) into [`Rows`].
macro_rules! read_rows {
    ($pool:expr) => {{
        let pool = $pool;
        let mut endpoints: BTreeMap<(String, String, String), EndpointRow> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT host, method, template, calls, first_seen, last_seen FROM discovery_endpoints",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            endpoints.insert(
                key.clone(),
                EndpointRow {
                    host: key.0,
                    method: key.1,
                    template: key.2,
                    calls: r.try_get::<i64, _>(3)?.max(0) as u64,
                    first_seen: r.try_get(4)?,
                    last_seen: r.try_get(5)?,
                    ..EndpointRow::default()
                },
            );
        }
        for r in sqlx::query(
            "SELECT host, method, template, status, calls FROM discovery_endpoint_statuses",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(e) = endpoints.get_mut(&key) {
                let status: i32 = r.try_get(3)?;
                let calls: i64 = r.try_get(4)?;
                e.statuses.push((status as u16, calls.max(0) as u64));
            }
        }
        for r in
            sqlx::query("SELECT host, method, template, kind, value FROM discovery_endpoint_tags")
                .fetch_all(pool)
                .await?
        {
            let key: (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let kind: String = r.try_get(3)?;
            let value: String = r.try_get(4)?;
            if let Some(e) = endpoints.get_mut(&key) {
                match kind.as_str() {
                    "request_class" => e.request_classes.push(value),
                    "response_class" => e.response_classes.push(value),
                    "auth" => e.auth.push(value),
                    _ => {}
                }
            }
        }
        for r in sqlx::query(
            "SELECT host, method, template, detector, direction, class, severity, owasp, count, first_seen, last_seen FROM discovery_findings",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(e) = endpoints.get_mut(&key) {
                let owasp: String = r.try_get(7)?;
                e.findings.push(FindingRow {
                    detector: r.try_get(3)?,
                    direction: r.try_get(4)?,
                    class: r.try_get(5)?,
                    severity: r.try_get(6)?,
                    owasp: owasp
                        .split(',')
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    count: r.try_get::<i64, _>(8)?.max(0) as u64,
                    first_seen: r.try_get(9)?,
                    last_seen: r.try_get(10)?,
                });
            }
        }
        // schemas: fields, then the classes found in them
        let mut fields: BTreeMap<(String, String, String, String, String), FieldRow> =
            BTreeMap::new();
        for r in sqlx::query(
            "SELECT host, method, template, direction, path, seen, objects, types, format FROM discovery_schema_fields",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, String, String, String) = (
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            );
            let path: Vec<String> = serde_json::from_str(&key.4).unwrap_or_default();
            fields.insert(
                key,
                FieldRow {
                    path,
                    seen: r.try_get::<i64, _>(5)?.max(0) as u64,
                    objects: r.try_get::<i64, _>(6)?.max(0) as u64,
                    types: r.try_get(7)?,
                    format: r.try_get(8)?,
                    classes: Vec::new(),
                },
            );
        }
        for r in sqlx::query(
            "SELECT host, method, template, direction, path, class FROM discovery_schema_classes",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, String, String, String) = (
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            );
            if let Some(f) = fields.get_mut(&key) {
                f.classes.push(r.try_get(5)?);
            }
        }
        for ((host, method, template, direction, _), f) in fields {
            if let Some(e) = endpoints.get_mut(&(host, method, template)) {
                match direction.as_str() {
                    "request" => e.request_schema.push(f),
                    _ => e.response_schema.push(f),
                }
            }
        }
        let mut ai: BTreeMap<(String, String, i32), AiRow> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT host, provider, via_gateway, calls, input_tokens, output_tokens, cost_micros FROM discovery_ai",
        )
            .fetch_all(pool)
            .await?
        {
            let key: (String, String, i32) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let count = |i: usize| -> Result<u64, sqlx::Error> {
                Ok(r.try_get::<i64, _>(i)?.max(0) as u64)
            };
            ai.insert(
                key.clone(),
                AiRow {
                    host: key.0,
                    provider: key.1,
                    via_gateway: key.2 != 0,
                    calls: count(3)?,
                    models: Vec::new(),
                    input_tokens: count(4)?,
                    output_tokens: count(5)?,
                    cost_micros: count(6)?,
                    ..AiRow::default()
                },
            );
        }
        for r in sqlx::query("SELECT host, provider, via_gateway, model FROM discovery_ai_models")
            .fetch_all(pool)
            .await?
        {
            let key: (String, String, i32) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(a) = ai.get_mut(&key) {
                a.models.push(r.try_get(3)?);
            }
        }
        // AI use per day and per caller: the same sums under another key
        for (query, per_caller) in [
            (
                "SELECT host, provider, via_gateway, day, calls, input_tokens, output_tokens, cost_micros FROM discovery_ai_daily ORDER BY day",
                false,
            ),
            (
                "SELECT host, provider, via_gateway, caller, calls, input_tokens, output_tokens, cost_micros FROM discovery_ai_callers ORDER BY caller",
                true,
            ),
        ] {
            for r in sqlx::query(query).fetch_all(pool).await? {
                let key: (String, String, i32) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
                let by: String = r.try_get(3)?;
                let mut v = [0u64; 4];
                for (k, slot) in v.iter_mut().enumerate() {
                    *slot = r.try_get::<i64, _>(4 + k)?.max(0) as u64;
                }
                if let Some(a) = ai.get_mut(&key) {
                    if per_caller {
                        a.callers.push((by, v));
                    } else {
                        a.days.push((by, v));
                    }
                }
            }
        }
        for r in sqlx::query("SELECT host, provider, via_gateway, fingerprint FROM discovery_ai_keys")
            .fetch_all(pool)
            .await?
        {
            let key: (String, String, i32) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(a) = ai.get_mut(&key) {
                a.keys.push(r.try_get(3)?);
            }
        }
        for r in sqlx::query(
            "SELECT host, provider, via_gateway, dimension, name, day, calls, input_tokens, output_tokens, cost_micros FROM discovery_ai_usage ORDER BY dimension, name, day",
        )
        .fetch_all(pool)
        .await?
        {
            let key: (String, String, i32) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let mut v = [0u64; 4];
            for (k, slot) in v.iter_mut().enumerate() {
                *slot = r.try_get::<i64, _>(6 + k)?.max(0) as u64;
            }
            if let Some(a) = ai.get_mut(&key) {
                a.usage.push((r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, v));
            }
        }
        let mut stores = Vec::new();
        for r in sqlx::query("SELECT node, kind FROM discovery_stores")
            .fetch_all(pool)
            .await?
        {
            stores.push(StoreRow {
                node: r.try_get(0)?,
                kind: r.try_get(1)?,
            });
        }
        let mut lineage = Vec::new();
        for r in sqlx::query(
            "SELECT source, via, sink, class, calls, first_seen, last_seen FROM discovery_lineage",
        )
        .fetch_all(pool)
        .await?
        {
            lineage.push(LineageRow {
                source: r.try_get(0)?,
                via: r.try_get(1)?,
                sink: r.try_get(2)?,
                class: r.try_get(3)?,
                calls: r.try_get::<i64, _>(4)?.max(0) as u64,
                first_seen: r.try_get(5)?,
                last_seen: r.try_get(6)?,
            });
        }
        let mut flows: BTreeMap<(String, String), FlowRow> = BTreeMap::new();
        for r in sqlx::query("SELECT from_node, to_node, calls FROM discovery_flows")
            .fetch_all(pool)
            .await?
        {
            let key: (String, String) = (r.try_get(0)?, r.try_get(1)?);
            let calls: i64 = r.try_get(2)?;
            flows.insert(
                key.clone(),
                FlowRow {
                    from: key.0,
                    to: key.1,
                    calls: calls.max(0) as u64,
                    classes: Vec::new(),
                },
            );
        }
        for r in sqlx::query("SELECT from_node, to_node, class FROM discovery_flow_classes")
            .fetch_all(pool)
            .await?
        {
            let key: (String, String) = (r.try_get(0)?, r.try_get(1)?);
            if let Some(f) = flows.get_mut(&key) {
                f.classes.push(r.try_get(2)?);
            }
        }
        Ok::<Rows, StoreError>(Rows {
            endpoints: endpoints.into_values().collect(),
            ai: ai.into_values().collect(),
            flows: flows.into_values().collect(),
            stores,
            lineage,
        })
    }};
}

impl Store {
    /// Connects (`sqlite://PATH` or a file path for SQLite, created if missing;
    /// `postgres://…` or `postgresql://…`) and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                // a server that is down or unreachable fails the start in seconds, not minutes
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(|e| StoreError(format!("cannot connect to the PostgreSQL store: {e}")))?;
            MIGRATOR.run(&pool).await?;
            Store::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(5));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError(format!("cannot open the SQLite store {path}: {e}")))?;
            MIGRATOR.run(&pool).await?;
            Store::Sqlite(pool)
        };
        Ok(store)
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Adds a batch of counts, in one transaction.
    pub async fn add(&self, rows: &Rows) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                write_rows!(tx, rows)?;
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                write_rows!(tx, rows)?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Everything every writer added.
    pub async fn rows(&self) -> Result<Rows, StoreError> {
        match self {
            Store::Sqlite(pool) => read_rows!(pool),
            Store::Postgres(pool) => read_rows!(pool),
        }
    }

    /// Replaces what is stored of one cluster: its workloads (JSON documents with an `object`
    /// of `kind`, `namespace` and `name`) and its posture findings, in one transaction.
    pub async fn replace_cluster(
        &self,
        cluster: &str,
        workloads: &[serde_json::Value],
        findings: &[serde_json::Value],
        at: &str,
    ) -> Result<(), StoreError> {
        macro_rules! replace {
            ($tx:expr) => {{
                exec!($tx, "DELETE FROM k8s_workloads WHERE cluster = $1", cluster)?;
                exec!($tx, "DELETE FROM k8s_findings WHERE cluster = $1", cluster)?;
                let mut seen = std::collections::BTreeSet::new();
                for w in workloads {
                    let o = &w["object"];
                    let key = (
                        o["namespace"].as_str().unwrap_or("").to_owned(),
                        o["kind"].as_str().unwrap_or("").to_owned(),
                        o["name"].as_str().unwrap_or("").to_owned(),
                    );
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    exec!(
                        $tx,
                        "INSERT INTO k8s_workloads (cluster, namespace, kind, name, document, updated) VALUES ($1, $2, $3, $4, $5, $6)",
                        cluster,
                        &key.0,
                        &key.1,
                        &key.2,
                        w.to_string(),
                        at
                    )?;
                }
                for (i, f) in findings.iter().enumerate() {
                    exec!(
                        $tx,
                        "INSERT INTO k8s_findings (cluster, seq, document, updated) VALUES ($1, $2, $3, $4)",
                        cluster,
                        i as i64,
                        f.to_string(),
                        at
                    )?;
                }
                Ok::<(), sqlx::Error>(())
            }};
        }
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                replace!(tx)?;
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                replace!(tx)?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Every cluster's workloads and findings: (cluster, document) pairs, in cluster order.
    pub async fn clusters(&self) -> Result<ClusterState, StoreError> {
        macro_rules! read {
            ($pool:expr) => {{
                let mut state = ClusterState::default();
                for r in sqlx::query(
                    "SELECT cluster, document FROM k8s_workloads ORDER BY cluster, namespace, kind, name",
                )
                .fetch_all($pool)
                .await?
                {
                    let text: String = r.try_get(1)?;
                    if let Ok(v) = serde_json::from_str(&text) {
                        state.workloads.push((r.try_get(0)?, v));
                    }
                }
                for r in sqlx::query("SELECT cluster, document FROM k8s_findings ORDER BY cluster, seq")
                    .fetch_all($pool)
                    .await?
                {
                    let text: String = r.try_get(1)?;
                    if let Ok(v) = serde_json::from_str(&text) {
                        state.findings.push((r.try_get(0)?, v));
                    }
                }
                Ok::<ClusterState, StoreError>(state)
            }};
        }
        match self {
            Store::Sqlite(pool) => read!(pool),
            Store::Postgres(pool) => read!(pool),
        }
    }

    /// Deletes endpoints last seen before `before` (RFC 3339), with their statuses, tags,
    /// findings and schemas, and lineage last seen before it; returns how many endpoints went.
    pub async fn expire(&self, before: &str) -> Result<u64, StoreError> {
        const STATUSES: &str = "DELETE FROM discovery_endpoint_statuses WHERE (host, method, template) IN \
             (SELECT host, method, template FROM discovery_endpoints WHERE last_seen < $1)";
        const TAGS: &str = "DELETE FROM discovery_endpoint_tags WHERE (host, method, template) IN \
             (SELECT host, method, template FROM discovery_endpoints WHERE last_seen < $1)";
        const FINDINGS: &str = "DELETE FROM discovery_findings WHERE (host, method, template) IN \
             (SELECT host, method, template FROM discovery_endpoints WHERE last_seen < $1)";
        const ENDPOINTS: &str = "DELETE FROM discovery_endpoints WHERE last_seen < $1";
        const LINEAGE: &str = "DELETE FROM discovery_lineage WHERE last_seen < $1";
        const FIELDS: &str = "DELETE FROM discovery_schema_fields WHERE (host, method, template) IN \
             (SELECT host, method, template FROM discovery_endpoints WHERE last_seen < $1)";
        const FIELD_CLASSES: &str = "DELETE FROM discovery_schema_classes WHERE (host, method, template) IN \
             (SELECT host, method, template FROM discovery_endpoints WHERE last_seen < $1)";
        let n = match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                exec!(tx, STATUSES, before)?;
                exec!(tx, TAGS, before)?;
                exec!(tx, FINDINGS, before)?;
                exec!(tx, LINEAGE, before)?;
                exec!(tx, FIELDS, before)?;
                exec!(tx, FIELD_CLASSES, before)?;
                let n = exec!(tx, ENDPOINTS, before)?.rows_affected();
                tx.commit().await?;
                n
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                exec!(tx, STATUSES, before)?;
                exec!(tx, TAGS, before)?;
                exec!(tx, FINDINGS, before)?;
                exec!(tx, LINEAGE, before)?;
                exec!(tx, FIELDS, before)?;
                exec!(tx, FIELD_CLASSES, before)?;
                let n = exec!(tx, ENDPOINTS, before)?.rows_affected();
                tx.commit().await?;
                n
            }
        };
        Ok(n)
    }
}
