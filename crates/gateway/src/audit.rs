//! One audit event per exchange, as JSON lines in the data folder and as a tracing event. An
//! event holds findings (class, detector, score, keyed hash) and never a raw value.

use std::path::Path;

use rampart_core::{Action, Direction, Finding};
use serde::Serialize;
use std::io::Write;

/// A finding as recorded: where it was seen and what was done, no value.
#[derive(Clone, Debug, Serialize)]
pub struct AuditFinding {
    /// Request or response.
    pub direction: Direction,
    /// Where in the exchange (`body`, `header:x-note`, `query`, `stream`).
    pub location: String,
    /// What was done about it.
    pub action: Action,
    /// What monitor-mode policies would have done, when that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Action>,
    /// The policy rule that decided (`policy/rule`); absent when no rule matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The finding itself (class, detector, span, score, keyed hash).
    #[serde(flatten)]
    pub finding: Finding,
    /// For LLM threats: the structural signals behind the score, with their spans.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<rampart_threat::inspect::EvidenceOut>,
}

/// The record of one exchange.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch when the exchange began.
    pub ts_ms: u128,
    /// Exchange id, unique per process run.
    pub id: String,
    /// `openai`, `anthropic`, ..., or `api` for API routes.
    pub provider: String,
    /// The model the request named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Request method and path (no query: it may hold sensitive values).
    pub method: String,
    /// Request path.
    pub path: String,
    /// Who called: peer address and a keyed hash of the API key, never the key.
    pub caller: Caller,
    /// The one decision.
    pub decision: Action,
    /// A short reason code.
    pub reason: String,
    /// False when monitor-mode policies would have done more than was done.
    pub enforced: bool,
    /// What the decision would be if monitor-mode policies were enforced too, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Action>,
    /// The policy rule or condition behind the decision (`policy/rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Version of the policy set that decided.
    pub policy_version: String,
    /// Token and spend accounting, when limits applied: the estimate reserved at admission
    /// and what was settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsRecord>,
    /// Abuse signals the caller raised (OWASP LLM10:2025, API4:2023, API6:2023).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// HTTP status returned to the caller.
    pub status: u16,
    /// Everything found, both directions.
    pub findings: Vec<AuditFinding>,
    /// Tokens the provider reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRecord>,
    /// Time from request head to the end of the response, in milliseconds.
    pub latency_ms: f64,
    /// What went wrong, when something did (no sensitive content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The caller of an exchange.
#[derive(Clone, Debug, Serialize)]
pub struct Caller {
    /// Peer IP address.
    pub ip: String,
    /// A configured caller's id, or a keyed hash of the credential an unknown caller
    /// presented, for correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The caller's workload, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The caller's namespace, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Estimate versus actual of an exchange under limits.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LimitsRecord {
    /// Reserved at admission: estimated input tokens, requested output tokens, cost.
    pub estimate: rampart_limits::Usage,
    /// Settled: the provider's usage, or the estimate when it reported none.
    pub actual: rampart_limits::Usage,
    /// `reported` (provider usage), `estimated` (counted streamed text or the input
    /// estimate) or `none` (nothing reached the provider).
    pub source: &'static str,
}

/// Token usage as recorded.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct UsageRecord {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
}

/// Where audit events go: a writer thread appends them to `audit.jsonl` (no file IO on the
/// request path); events are visible in the file within a few milliseconds.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: std::sync::mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// Starts the writer thread for `dir/audit.jsonl` (the folder is created).
    pub async fn start(dir: &Path) -> anyhow::Result<AuditSink> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the data folder {}: {e}", dir.display()))?;
        let path = dir.join("audit.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let (tx, rx) = std::sync::mpsc::channel::<AuditEvent>();
        std::thread::Builder::new()
            .name("rampart-audit".into())
            .spawn(move || {
                // the thread polls every few milliseconds instead of blocking on the channel, so
                // a request never pays for waking it
                let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
                loop {
                    match rx.try_recv() {
                        Ok(event) => {
                            if serde_json::to_writer(&mut out, &event).is_ok() {
                                let _ = out.write_all(b"\n");
                            }
                        }
                        Err(std::sync::mpsc::TryRecvError::Empty) => {
                            if let Err(e) = out.flush() {
                                tracing::error!(error = %e, "cannot write the audit log");
                            }
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            let _ = out.flush();
                            return;
                        }
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the audit writer: {e}"))?;
        Ok(AuditSink { tx })
    }

    /// Records one exchange.
    pub fn record(&self, event: AuditEvent) {
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
        let _ = self.tx.send(event);
    }
}
