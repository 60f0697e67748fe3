//! Safe by default: a real hash key, no start without an enforcing policy, the admin token
//! for every state-changing call, and an audit log that rotates, is bounded and says when it
//! cannot write.

mod common;

use common::{audit_events, call, gateway, upstream};
use rampart_gateway::config::{AuditConfig, AuditOnError, Config};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const SSN: &str = "536-90-4399";

fn chat(text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"model":"gpt-4o-mini","messages":[{"role":"user","content":text}]}))
        .unwrap()
}

fn monitor_only() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/monitor-only.yaml")
}

/// The keyed hash of the SSN in the one audit event of a gateway over `dir`.
async fn ssn_hash(dir: &std::path::Path) -> String {
    let up = upstream().await;
    let gw = gateway(&up, dir, |_| {}).await;
    let before = std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("my ssn is {SSN}")),
    )
    .await;
    assert_eq!(status, 200);
    let events = audit_events(dir, before + 1).await;
    gw.shutdown().await;
    let event = &events[before];
    let f = event["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["class"] == "US_SSN")
        .unwrap_or_else(|| panic!("an SSN finding in {event}"));
    f["hash"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn findings_are_hashed_with_a_generated_private_key_kept_in_the_data_dir() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = ssn_hash(a.path()).await;
    let other = ssn_hash(b.path()).await;
    assert_ne!(first, other, "two gateways with their own keys");
    // the same data folder: the same key, the same hash
    assert_eq!(first, ssn_hash(a.path()).await);
    // never the all-zero test key
    let zero = rampart_detect::HashKey::default()
        .hash(rampart_core::DataClass::UsSsn, SSN.as_bytes())
        .to_string();
    assert_ne!(first, zero);
    let key = a.path().join("hash.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[tokio::test]
async fn no_enforcing_policy_refuses_the_start_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for set in [vec![empty.clone()], vec![monitor_only()]] {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            policies: set.clone(),
            ..Config::default()
        };
        let e = rampart_gateway::Gateway::new(config.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no enforce-mode policy is loaded") && e.contains("--allow-unenforced"),
            "{set:?}: {e}"
        );
        let allowed = Config {
            allow_unenforced: true,
            ..config
        };
        rampart_gateway::Gateway::new(allowed).await.unwrap();
    }
}

#[tokio::test]
async fn a_reload_to_no_enforcing_policy_is_rejected_and_the_old_set_stays() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::policy_file(dir.path(), common::default_policy());
    let gw = gateway(&up, dir.path(), |c| {
        c.policies = vec![file.clone()];
        c.policy_poll_ms = 0;
    })
    .await;
    let get = |addr| async move {
        let (_, _, body) = call(addr, "GET", "/admin/policies", &[], Vec::new()).await;
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    let before = get(gw.admin_addr).await;
    std::fs::write(&file, std::fs::read_to_string(monitor_only()).unwrap()).unwrap();
    let bearer = format!("Bearer {}", gw.admin_token());
    let (status, _, body) = call(
        gw.admin_addr,
        "POST",
        "/admin/policies/reload",
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, body["result"].as_str()), (422, Some("rejected")));
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no enforce-mode policy"),
        "{body}"
    );
    let after = get(gw.admin_addr).await;
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["failures"], 1);
    assert!(
        after["last_error"]
            .as_str()
            .unwrap()
            .contains("monitor-only"),
        "{after}"
    );
    // an empty set too (SIGHUP and the file watch go the same way)
    std::fs::write(&file, "").unwrap();
    assert!(gw.reload_policies().is_err());
    // the old set is still in force: the SSN is redacted
    let (status, _, _) = call(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        &[JSON],
        chat(&format!("ssn {SSN}")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!up.requests().last().unwrap().all().contains(SSN));
    let (_, _, metrics) = call(gw.admin_addr, "GET", "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(r#"rampart_policy_reloads_total{result="error"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn state_changing_admin_calls_need_the_generated_token() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(&up, dir.path(), |_| {}).await;
    let path = dir.path().join("admin.token");
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.trim(), gw.admin_token());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // loopback, no token: a read is served, a reload is not
    let (status, _, _) = call(gw.admin_addr, "GET", "/admin/policies", &[], Vec::new()).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(
        gw.admin_addr,
        "POST",
        "/admin/policies/reload",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("admin.token"));
    let (status, _, _) = call(
        gw.admin_addr,
        "POST",
        "/admin/policies/reload",
        &[("authorization", "Bearer wrong")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 401);
    let bearer = format!("Bearer {}", token.trim());
    let (status, _, _) = call(
        gw.admin_addr,
        "POST",
        "/admin/policies/reload",
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    gw.shutdown().await;
    // the next start reuses the token
    let gw = gateway(&up, dir.path(), |_| {}).await;
    assert_eq!(gw.admin_token(), token.trim());
}

fn event(i: usize) -> rampart_gateway::audit::AuditEvent {
    rampart_gateway::audit::AuditEvent {
        ts_ms: 0,
        id: format!("e{i}"),
        provider: "api".into(),
        model: None,
        method: "GET".into(),
        path: "/x".into(),
        host: None,
        port: None,
        auth: "none",
        caller: rampart_gateway::audit::Caller {
            ip: "127.0.0.1".into(),
            key_id: None,
            workload: None,
            namespace: None,
        },
        decision: rampart_core::Action::Allow,
        reason: rampart_exchange::Outcome::Clean,
        enforced: true,
        would: None,
        decided_by: None,
        policy_version: "v".into(),
        limits: None,
        signals: Vec::new(),
        status: 200,
        bodies: None,
        findings: Vec::new(),
        usage: None,
        latency_ms: 1.0,
        error: None,
    }
}

fn sink(
    dir: &std::path::Path,
    cfg: AuditConfig,
) -> (
    rampart_gateway::audit::AuditSink,
    prometheus_client::metrics::counter::Counter,
    prometheus_client::metrics::counter::Counter,
) {
    let dropped = prometheus_client::metrics::counter::Counter::default();
    let errors = prometheus_client::metrics::counter::Counter::default();
    let s = rampart_gateway::audit::AuditSink::start(dir, &cfg, dropped.clone(), errors.clone())
        .unwrap();
    (s, dropped, errors)
}

/// Every event id in the live file and the rotated ones, and the number of rotated files.
fn all_ids(dir: &std::path::Path) -> (Vec<String>, usize) {
    use std::io::Read;
    let mut ids = Vec::new();
    let mut rotated = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = if name.ends_with(".jsonl.gz") {
            rotated += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[..2], [0x1f, 0x8b], "{name} is gzip");
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        } else if name == "audit.jsonl" {
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    (ids, rotated)
}

#[test]
fn the_audit_log_rotates_by_size_into_gzip_files_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = AuditConfig {
        max_bytes: 2_000,
        keep: 100,
        ..AuditConfig::default()
    };
    let (s, dropped, _) = sink(dir.path(), cfg.clone());
    for i in 0..200 {
        s.record(event(i));
    }
    s.close();
    assert_eq!(dropped.get(), 0);
    let (mut ids, rotated) = all_ids(dir.path());
    assert!(rotated >= 5, "{rotated} rotated files");
    ids.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
    let want: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    assert_eq!(ids, want, "every event, once");

    // retention: only the newest `keep` rotated files stay
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _) = sink(dir.path(), AuditConfig { keep: 3, ..cfg });
    for i in 0..200 {
        s.record(event(i));
    }
    s.close();
    let (ids, rotated) = all_ids(dir.path());
    assert_eq!(rotated, 3);
    assert!(ids.contains(&"e199".to_owned()), "the newest events stay");
    assert!(!ids.contains(&"e0".to_owned()), "the oldest are gone");
}

#[test]
fn the_audit_log_rotates_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _) = sink(
        dir.path(),
        AuditConfig {
            max_age_s: 1,
            ..AuditConfig::default()
        },
    );
    s.record(event(0));
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    s.record(event(1));
    s.close();
    let (ids, rotated) = all_ids(dir.path());
    assert!(rotated >= 1, "an old file is rotated");
    assert_eq!(ids.len(), 2);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let (s, dropped, _) = sink(
        dir.path(),
        AuditConfig {
            queue: 1,
            ..AuditConfig::default()
        },
    );
    let n = 20_000;
    for i in 0..n {
        s.record(event(i));
    }
    s.close();
    let (ids, _) = all_ids(dir.path());
    assert!(dropped.get() > 0, "a one-event queue overflows");
    assert_eq!(
        ids.len() as u64 + dropped.get(),
        n as u64,
        "every event written or counted"
    );
    // after close, events are counted as dropped
    s.record(event(n));
    assert_eq!(ids.len() as u64 + dropped.get(), n as u64 + 1);
}

/// `/dev/full` takes no writes: the audit log is "on a full disk".
#[tokio::test]
async fn an_unwritable_audit_log_refuses_exchanges_with_on_error_refuse() {
    // the gateway runs on Linux, which always has it: a missing one fails rather than
    // passing without testing anything
    assert!(
        std::path::Path::new("/dev/full").exists(),
        "/dev/full is needed to stand for a full disk"
    );
    let up = upstream().await;
    for (on_error, want) in [(AuditOnError::Refuse, 503), (AuditOnError::Continue, 200)] {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join("audit.jsonl")).unwrap();
        let gw = gateway(&up, dir.path(), |c| c.audit.on_error = on_error).await;
        let ask = || {
            call(
                gw.addr,
                "POST",
                "/v1/chat/completions",
                &[JSON],
                chat("hello"),
            )
        };
        assert_eq!(ask().await.0, 200, "the first exchange is served");
        // the writer finds out within a few milliseconds
        let mut status = 0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            status = ask().await.0;
            if status == want && want == 503 {
                break;
            }
        }
        assert_eq!(status, want, "{on_error:?}");
        let (_, _, metrics) = call(gw.admin_addr, "GET", "/metrics", &[], Vec::new()).await;
        let metrics = String::from_utf8(metrics).unwrap();
        assert!(
            metrics.contains("rampart_audit_write_errors_total ")
                && !metrics.contains("rampart_audit_write_errors_total 0"),
            "{metrics}"
        );
    }
}
