//! Live discovery: every finished exchange's record goes through a bounded queue to a thread
//! that folds it into a batch of counts ([`rampart_discover::Inventory`]), off the request
//! path; the batch is added to the inventory store (SQLite in the data dir by default,
//! PostgreSQL shared by replicas) every `flush_ms`. When the queue is full the record is
//! dropped and counted, never waited for. `GET /admin/discovery` reads the store and applies
//! the configured OpenAPI specs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use rampart_core::Direction;
use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Document, Inventory, Observed};
use rampart_exchange::{AuditEvent, ExchangeSink};
use rampart_store::Store;

use crate::config::DiscoveryConfig;

/// How often the thread that folds records in drains its queue.
const TICK: Duration = Duration::from_millis(20);

/// What the feeding thread receives: a record, or a request to write what it holds now.
enum Msg {
    Record(Arc<AuditEvent>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The queue into the inventory, and the store it is kept in.
pub struct Discovery {
    tx: SyncSender<Msg>,
    store: Store,
    specs: Specs,
    /// Configured data stores: host or `host:port` -> kind.
    stores: std::collections::BTreeMap<String, String>,
    /// Records dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
    /// The same count, exported (`rampart_discovery_dropped_total`).
    dropped_metric: prometheus_client::metrics::counter::Counter,
    /// Records folded in.
    pub recorded: Arc<AtomicU64>,
    /// Batches that could not be written (kept and retried with the next one).
    pub store_errors: Arc<AtomicU64>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("store", &self.store.kind())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Reads the specs, opens the store (`store` URL, else `<data_dir>/inventory.db`) and
    /// starts the thread that folds records in and writes them.
    pub async fn start(
        config: &DiscoveryConfig,
        data_dir: &std::path::Path,
        prices: rampart_limits::price::Prices,
        dropped_metric: prometheus_client::metrics::counter::Counter,
    ) -> anyhow::Result<Discovery> {
        let mut specs = Specs::default();
        for path in &config.openapi {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("discovery.openapi {}: {e}", path.display()))?;
            specs.specs.push(
                Spec::parse(&text, &path.display().to_string())
                    .map_err(|e| anyhow::anyhow!("discovery.openapi {}: {e}", path.display()))?,
            );
        }
        let url = match &config.store {
            Some(url) => url.clone(),
            None => data_dir.join("inventory.db").display().to_string(),
        };
        let store = Store::open(&url)
            .await
            .map_err(|e| anyhow::anyhow!("discovery store: {e}"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(config.queue.max(1));
        let recorded = Arc::new(AtomicU64::new(0));
        let store_errors = Arc::new(AtomicU64::new(0));
        // the writer: a task on the gateway's runtime that adds each batch to the store
        type Batch = (
            rampart_discover::Rows,
            Vec<tokio::sync::oneshot::Sender<()>>,
        );
        let (wtx, mut wrx) = tokio::sync::mpsc::channel::<Batch>(16);
        let (errors, writer) = (store_errors.clone(), store.clone());
        let retention = Duration::from_secs(u64::from(config.retention_days) * 86_400);
        tokio::spawn(async move {
            let mut pending = rampart_discover::Rows::default();
            let mut expired: Option<Instant> = None;
            while let Some((rows, replies)) = wrx.recv().await {
                merge(&mut pending, rows);
                if !pending.is_empty() {
                    match writer.add(&pending).await {
                        Ok(()) => pending = rampart_discover::Rows::default(),
                        Err(e) => {
                            // kept for the next batch; a store that stays down grows the
                            // batch only by distinct endpoints, not by calls
                            errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "discovery store write failed");
                        }
                    }
                }
                if !retention.is_zero()
                    && expired.is_none_or(|t| t.elapsed() > Duration::from_secs(3600))
                {
                    expired = Some(Instant::now());
                    let cutoff = std::time::SystemTime::now()
                        .checked_sub(retention)
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| rampart_discover::rfc3339_ms(d.as_millis()));
                    if let Some(cutoff) = cutoff {
                        let _ = writer.expire(&cutoff).await;
                    }
                }
                for reply in replies {
                    let _ = reply.send(());
                }
            }
        });
        let count = recorded.clone();
        let stores = config.stores.clone();
        let flush_every = Duration::from_millis(config.flush_ms.max(10));
        std::thread::Builder::new()
            .name("rampart-discovery".into())
            .spawn(move || {
                // a batch without specs: templates by segment shape, specs applied on read
                let mut batch = Inventory::new(Specs::default(), []).with_stores(stores);
                let mut last = Instant::now();
                loop {
                    // the queue is drained every tick rather than waking this thread for each
                    // record: a wake-up per exchange costs more than folding it in
                    std::thread::sleep(TICK);
                    let mut replies = Vec::new();
                    let mut done = false;
                    loop {
                        match rx.try_recv() {
                            Ok(Msg::Record(event)) => {
                                let mut o = observed(&event, &prices);
                                // a sampled exchange's bodies: described, then let go
                                if let Some(b) = &event.bodies {
                                    let describe = |body: &Option<bytes::Bytes>| {
                                        body.as_deref()
                                            .map(|x| batch.schema_of(x))
                                            .unwrap_or_default()
                                    };
                                    o.schemas = Some(Box::new((
                                        describe(&b.request),
                                        describe(&b.response),
                                    )));
                                }
                                batch.observe(&o);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Msg::Flush(reply)) => replies.push(reply),
                            Err(TryRecvError::Empty) => break,
                            // the gateway is gone: hand over what is left and end
                            Err(TryRecvError::Disconnected) => {
                                done = true;
                                break;
                            }
                        }
                    }
                    if replies.is_empty() && !done && last.elapsed() < flush_every {
                        continue;
                    }
                    last = Instant::now();
                    let rows = batch.take_rows();
                    if (!rows.is_empty() || !replies.is_empty())
                        && wtx.blocking_send((rows, replies)).is_err()
                    {
                        return;
                    }
                    if done {
                        return;
                    }
                }
            })?;
        Ok(Discovery {
            tx,
            store,
            specs,
            stores: config.stores.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
            dropped_metric,
            recorded,
            store_errors,
        })
    }

    /// What Rampart's controllers wrote of their clusters to the store.
    pub async fn clusters(&self) -> anyhow::Result<rampart_store::ClusterState> {
        self.store
            .clusters()
            .await
            .map_err(|e| anyhow::anyhow!("discovery store: {e}"))
    }

    /// `sqlite` or `postgres`.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Writes the records queued so far to the store (waits at most five seconds; with the
    /// queue full, a busy gateway, it does not wait).
    pub async fn flush(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.tx.try_send(Msg::Flush(reply)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }

    /// The inventory: what every writer added to the store, with the records still queued
    /// here written first.
    pub async fn document(&self) -> anyhow::Result<Document> {
        self.flush().await;
        let rows = self
            .store
            .rows()
            .await
            .map_err(|e| anyhow::anyhow!("discovery store: {e}"))?;
        let mut inv = Inventory::new(self.specs.clone(), []).with_stores(self.stores.clone());
        inv.add_rows(&rows);
        Ok(inv.document())
    }
}

/// Adds `more` to `into` (a batch that could not be written yet).
fn merge(into: &mut rampart_discover::Rows, more: rampart_discover::Rows) {
    if into.is_empty() {
        *into = more;
        return;
    }
    let mut inv = Inventory::new(Specs::default(), []);
    inv.add_rows(into);
    inv.add_rows(&more);
    *into = inv.take_rows();
}

impl ExchangeSink for Discovery {
    fn record(&self, event: Arc<AuditEvent>) {
        match self.tx.try_send(Msg::Record(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped_metric.inc();
            }
        }
    }
}

/// What discovery keeps of an exchange's record: no value, only where it went, how it
/// authenticated and the classes of data found each way.
fn observed(e: &AuditEvent, prices: &rampart_limits::price::Prices) -> Observed {
    let classes = |d: Direction| -> BTreeSet<String> {
        e.findings
            .iter()
            .filter(|f| f.direction == d && !f.finding.class.is_threat())
            .map(|f| f.finding.class.name().to_owned())
            .collect()
    };
    let via_provider = !matches!(e.provider.as_str(), "api" | "egress" | "none" | "");
    Observed {
        time: Some(rampart_discover::rfc3339_ms(e.ts_ms)),
        caller: e
            .caller
            .workload
            .clone()
            .or_else(|| e.caller.key_id.clone())
            .or_else(|| (!e.caller.ip.is_empty()).then(|| e.caller.ip.clone())),
        host: e.host.clone().unwrap_or_default(),
        port: e.port,
        // the caller's key id is already a keyed hash of the credential, never the credential
        key: e.caller.key_id.clone(),
        method: e.method.clone(),
        path: e.path.split('?').next().unwrap_or("/").to_owned(),
        status: Some(e.status),
        auth: e.auth,
        findings: e
            .findings
            .iter()
            .map(|f| {
                rampart_discover::SeenFinding::of(
                    &f.finding,
                    match f.direction {
                        Direction::Request => "request",
                        Direction::Response => "response",
                    },
                )
            })
            .collect(),
        request_classes: classes(Direction::Request),
        response_classes: classes(Direction::Response),
        ai: via_provider.then(|| (e.provider.clone(), e.model.iter().cloned().collect())),
        // what the limits settled, else the provider's report priced at list prices
        usage: match (&e.limits, &e.usage) {
            (Some(l), _) if l.source == "reported" => {
                Some((l.actual.input, l.actual.output, l.actual.cost_micros))
            }
            (_, Some(u)) if via_provider => Some((
                u.input,
                u.output,
                prices
                    .cost(&e.provider, e.model.as_deref(), u.input, u.output)
                    .micros,
            )),
            _ => None,
        },
        via_gateway: via_provider,
        schemas: None,
    }
}
