//! One audit event per exchange, as JSON lines in the data folder and as a tracing event. An
//! event holds findings (class, detector, score, keyed hash) and never a raw value.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;

use crate::config::{AuditConfig, AuditOnError};

pub use rampart_exchange::event::{AuditEvent, AuditFinding, Caller, LimitsRecord, UsageRecord};

/// Where audit events go: a bounded queue to a writer thread that appends them to
/// `audit.jsonl` (no file IO on the request path; events are in the file within a few
/// milliseconds), rotates the file by size and age into gzip-compressed `audit-<ms>.jsonl.gz`
/// and keeps the newest `keep` of those. A full queue drops the event and counts it; a failed
/// write counts it and, with `on_error: refuse`, marks the sink unhealthy until a write
/// succeeds ([`AuditSink::healthy`]). [`AuditSink::close`] flushes and joins the writer.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: std::sync::mpsc::SyncSender<Msg>,
    shared: Arc<Shared>,
}

impl rampart_exchange::ExchangeSink for AuditSink {
    fn record(&self, event: Arc<AuditEvent>) {
        self.record_shared(event);
    }
}

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The data folder or the log file could not be created or opened.
    #[error("cannot open the audit log {path}: {source}; check that the data folder is writable")]
    Open {
        /// The file or folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the audit writer: {0}")]
    Thread(std::io::Error),
}

#[derive(Debug)]
enum Msg {
    Event(Arc<AuditEvent>),
    /// Write what is queued, flush, and stop.
    Close,
}

#[derive(Debug)]
struct Shared {
    dropped: Counter,
    write_errors: Counter,
    /// False while writes fail and `on_error` is `refuse`.
    healthy: AtomicBool,
    refuse: bool,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The live file and its rotation.
struct Writer {
    dir: PathBuf,
    cfg: AuditConfig,
    out: Option<std::io::BufWriter<std::fs::File>>,
    /// Bytes in the live file.
    bytes: u64,
    /// When the live file was started (ms since the epoch).
    opened_ms: u128,
    /// Events written since the last flush.
    pending: usize,
    shared: Arc<Shared>,
    /// Last time a write error was logged.
    last_error_log: Option<std::time::Instant>,
    /// After a failed flush: no new attempt before this.
    retry_after: Option<std::time::Instant>,
    /// The line whose write failed, retried every second until it succeeds (this is how a
    /// refusing gateway learns that the disk takes writes again).
    held: Option<(Vec<u8>, std::time::Instant)>,
    /// The stamp of the newest rotated file: the next one is always later, so name order is
    /// age order even when rotations come faster than the clock ticks.
    last_stamp: u128,
}

/// How often a failing audit log is reported in the log.
const ERROR_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl AuditSink {
    /// Starts the writer thread for `dir/audit.jsonl` (the folder is created). `dropped` and
    /// `write_errors` are the counters lost events and failed writes are counted on.
    pub fn start(
        dir: &Path,
        cfg: &AuditConfig,
        dropped: Counter,
        write_errors: Counter,
    ) -> Result<AuditSink, AuditError> {
        std::fs::create_dir_all(dir).map_err(|source| AuditError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        let shared = Arc::new(Shared {
            dropped,
            write_errors,
            healthy: AtomicBool::new(true),
            refuse: cfg.on_error == AuditOnError::Refuse,
            writer: Mutex::new(None),
        });
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            cfg: cfg.clone(),
            out: None,
            bytes: 0,
            opened_ms: 0,
            pending: 0,
            shared: shared.clone(),
            last_error_log: None,
            retry_after: None,
            held: None,
            last_stamp: newest_stamp(dir),
        };
        writer.open().map_err(|source| AuditError::Open {
            path: writer.live().display().to_string(),
            source,
        })?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(cfg.queue.max(1));
        let handle = std::thread::Builder::new()
            .name("rampart-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(AuditError::Thread)?;
        *shared.writer.lock().expect("audit writer lock") = Some(handle);
        Ok(AuditSink { tx, shared })
    }

    /// Records one exchange; never blocks: when the queue is full the event is dropped and
    /// counted.
    pub fn record(&self, event: AuditEvent) {
        self.record_shared(Arc::new(event));
    }

    fn record_shared(&self, event: Arc<AuditEvent>) {
        tracing::info!(
            target: "rampart::audit",
            id = %event.id,
            provider = %event.provider,
            decision = ?event.decision,
            reason = %event.reason,
            status = event.status,
            findings = event.findings.len(),
            latency_ms = event.latency_ms,
            "exchange"
        );
        if self.tx.try_send(Msg::Event(event)).is_err() {
            self.shared.dropped.inc();
        }
    }

    /// Whether new exchanges may be served: false only with `on_error: refuse` while the
    /// audit log cannot be written. One atomic load.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    /// Writes every queued event, flushes the file and stops the writer thread (waits for
    /// it). Events recorded afterwards are counted as dropped.
    pub fn close(&self) {
        let handle = self.shared.writer.lock().expect("audit writer lock").take();
        if let Some(handle) = handle {
            // waits for room: everything queued before is written first
            let _ = self.tx.send(Msg::Close);
            let _ = handle.join();
        }
    }
}

impl Writer {
    fn live(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    /// Opens (appends to) the live file.
    fn open(&mut self) -> std::io::Result<()> {
        let path = self.live();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let meta = file.metadata()?;
        self.bytes = meta.len();
        // an existing file's age counts from its creation (or last change when unknown)
        self.opened_ms = if self.bytes == 0 {
            now_ms()
        } else {
            meta.created()
                .or_else(|_| meta.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(now_ms, |d| d.as_millis())
        };
        self.out = Some(std::io::BufWriter::with_capacity(64 << 10, file));
        Ok(())
    }

    fn run(mut self, rx: std::sync::mpsc::Receiver<Msg>) {
        // the thread polls every few milliseconds instead of blocking on the channel, so a
        // request never pays for waking it
        loop {
            match rx.try_recv() {
                Ok(Msg::Event(event)) => self.write(&event),
                Ok(Msg::Close) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if !self.flush_now() {
                        self.shared.dropped.inc_by(self.pending as u64);
                    }
                    if self.held.take().is_some() {
                        self.shared.dropped.inc();
                    }
                    return;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    self.flush();
                    self.retry_held();
                    if self.due_by_age() {
                        self.rotate();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    fn write(&mut self, event: &AuditEvent) {
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(e) => {
                self.shared.dropped.inc();
                self.failed(std::io::Error::other(e));
                return;
            }
        };
        line.push(b'\n');
        self.write_line(line);
    }

    fn write_line(&mut self, line: Vec<u8>) {
        if self.held.is_some() {
            // still failing: this one is lost
            self.shared.dropped.inc();
            return;
        }
        if self.out.is_none()
            && let Err(e) = self.open()
        {
            self.hold(line, e);
            return;
        }
        let out = self.out.as_mut().expect("opened above");
        match out.write_all(&line) {
            Ok(()) => {
                self.bytes += line.len() as u64;
                self.pending += 1;
                if self.bytes >= self.cfg.max_bytes {
                    self.rotate();
                }
            }
            Err(e) => self.hold(line, e),
        }
    }

    fn hold(&mut self, line: Vec<u8>, e: std::io::Error) {
        self.held = Some((line, std::time::Instant::now()));
        self.failed(e);
    }

    /// Retries the held line once a second; success makes the sink healthy again.
    fn retry_held(&mut self) {
        let due = self
            .held
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= std::time::Duration::from_secs(1));
        if !due {
            return;
        }
        let (line, _) = self.held.take().expect("checked above");
        self.write_line(line);
        self.flush();
    }

    /// Flushes the buffered events. A failed flush keeps them buffered and is retried once
    /// a second (not every poll) until it succeeds.
    fn flush(&mut self) {
        if self
            .retry_after
            .is_some_and(|t| std::time::Instant::now() < t)
        {
            return;
        }
        self.flush_now();
    }

    fn flush_now(&mut self) -> bool {
        if self.pending == 0 {
            return true;
        }
        let Some(out) = self.out.as_mut() else {
            return false;
        };
        match out.flush() {
            Ok(()) => {
                self.pending = 0;
                self.retry_after = None;
                if self.held.is_none() {
                    self.shared.healthy.store(true, Ordering::Relaxed);
                }
                true
            }
            Err(e) => {
                self.retry_after =
                    Some(std::time::Instant::now() + std::time::Duration::from_secs(1));
                self.failed(e);
                false
            }
        }
    }

    /// Counts one write error and turns the sink unhealthy (`refuse`); logs at most once
    /// per interval.
    fn failed(&mut self, e: std::io::Error) {
        self.shared.write_errors.inc();
        if self.shared.refuse {
            self.shared.healthy.store(false, Ordering::Relaxed);
        }
        if self
            .last_error_log
            .is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY)
        {
            self.last_error_log = Some(std::time::Instant::now());
            tracing::error!(
                error = %e,
                path = %self.live().display(),
                "cannot write the audit log; events are being dropped (free disk space or fix the data folder's permissions)"
            );
        }
    }

    fn due_by_age(&self) -> bool {
        self.cfg.max_age_s > 0
            && self.bytes > 0
            && now_ms().saturating_sub(self.opened_ms) >= u128::from(self.cfg.max_age_s) * 1000
    }

    /// Closes the live file, compresses it into `audit-<ms>.jsonl.gz`, opens a new live file
    /// and deletes the oldest rotated files beyond `keep`.
    fn rotate(&mut self) {
        if !self.flush_now() {
            // the events are still buffered: keep writing to the same file
            return;
        }
        let Some(out) = self.out.take() else {
            return;
        };
        drop(out);
        let live = self.live();
        let mut stamp = now_ms().max(self.last_stamp + 1);
        let target = loop {
            let p = self.dir.join(format!("audit-{stamp:013}.jsonl.gz"));
            if !p.exists() {
                break p;
            }
            stamp += 1;
        };
        self.last_stamp = stamp;
        let result = compress(&live, &target).and_then(|()| std::fs::remove_file(&live));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&target);
            self.shared.write_errors.inc();
            tracing::error!(error = %e, "cannot rotate the audit log; writing on to the same file");
        }
        if let Err(e) = self.open() {
            self.failed(e);
        }
        self.prune();
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut rotated: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl.gz"))
            })
            .collect();
        // names sort by time: fixed-width millisecond stamps
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.cfg.keep);
        for p in &rotated[..excess] {
            if let Err(e) = std::fs::remove_file(p) {
                tracing::warn!(error = %e, path = %p.display(), "cannot delete an old audit file");
            }
        }
    }
}

/// The stamp of the newest rotated file in `dir` (0 when there is none).
fn newest_stamp(dir: &Path) -> u128 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.strip_prefix("audit-")?
                .strip_suffix(".jsonl.gz")?
                .parse::<u128>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

fn compress(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut input = std::fs::File::open(from)?;
    let output = std::fs::File::create(to)?;
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(output),
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut gz)?;
    gz.finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
