//! Live discovery: every finished exchange's record goes through a bounded queue to a thread
//! that folds it into the inventory ([`rampart_discover::Inventory`]), off the request path.
//! When the queue is full the record is dropped and counted, never waited for.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use rampart_core::Direction;
use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Document, Inventory, Observed};
use rampart_exchange::{AuditEvent, ExchangeSink};

/// The inventory and the queue that feeds it.
pub struct Discovery {
    inventory: Arc<Mutex<Inventory>>,
    tx: SyncSender<Arc<AuditEvent>>,
    /// Records dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
    /// The same count, exported (`rampart_discovery_dropped_total`).
    dropped_metric: prometheus_client::metrics::counter::Counter,
    /// Records folded in.
    pub recorded: Arc<AtomicU64>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Reads the specs and starts the thread that folds records in.
    pub fn start(
        specs: &[std::path::PathBuf],
        queue: usize,
        dropped_metric: prometheus_client::metrics::counter::Counter,
    ) -> anyhow::Result<Discovery> {
        let mut all = Specs::default();
        for path in specs {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("discovery.openapi {}: {e}", path.display()))?;
            let name = path.display().to_string();
            all.specs.push(
                Spec::parse(&text, &name)
                    .map_err(|e| anyhow::anyhow!("discovery.openapi {}: {e}", path.display()))?,
            );
        }
        let inventory = Arc::new(Mutex::new(Inventory::new(all, [])));
        let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<AuditEvent>>(queue.max(1));
        let recorded = Arc::new(AtomicU64::new(0));
        let inv = inventory.clone();
        let count = recorded.clone();
        std::thread::Builder::new()
            .name("rampart-discovery".into())
            .spawn(move || {
                // ends when the gateway (the last sender) is gone
                while let Ok(event) = rx.recv() {
                    let observed = observed(&event);
                    if let Ok(mut inv) = inv.lock() {
                        inv.observe(&observed);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(Discovery {
            inventory,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            dropped_metric,
            recorded,
        })
    }

    /// The inventory now.
    pub fn document(&self) -> Option<Document> {
        self.inventory.lock().ok().map(|inv| inv.document())
    }
}

impl ExchangeSink for Discovery {
    fn record(&self, event: Arc<AuditEvent>) {
        match self.tx.try_send(event) {
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
fn observed(e: &AuditEvent) -> Observed {
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
        method: e.method.clone(),
        path: e.path.split('?').next().unwrap_or("/").to_owned(),
        status: Some(e.status),
        auth: e.auth,
        request_classes: classes(Direction::Request),
        response_classes: classes(Direction::Response),
        ai: via_provider.then(|| (e.provider.clone(), e.model.iter().cloned().collect())),
        via_gateway: via_provider,
    }
}
