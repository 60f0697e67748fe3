//! `rampart up` safe by default, as a user runs it: no start without an enforcing policy, no
//! secret in the logs, and every exchange audited when the process is stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A loopback HTTP/1.1 upstream answering every request `200 {"ok":true}` with keep-alive.
fn fake_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

fn serve(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = b"{\"ok\":true}";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(answer).is_err() {
            return;
        }
    }
}

/// `rampart up` with `args`; returns the child, its data-plane address and its stderr lines
/// read so far (up to the start-up banner) with the rest of the stream.
fn up(
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    Child,
    SocketAddr,
    Vec<String>,
    std::io::Lines<BufReader<std::process::ChildStderr>>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("up")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no start-up line: {seen:?}"))
            .unwrap();
        if let Some(rest) = line.split("gateway on http://").nth(1) {
            let addr = rest.split(' ').next().unwrap().parse().unwrap();
            seen.push(line);
            break addr;
        }
        seen.push(line);
    };
    (child, addr, seen, lines)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

fn post(addr: SocketAddr, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

fn terminate(child: &mut Child) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn up_without_an_enforcing_policy_exits_2_and_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let monitor = root().join("policies/monitor-only.yaml");
    for policy in [&empty, &monitor] {
        let o = rampart(&[
            "up",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("no enforce-mode policy is loaded") && err.contains("--allow-unenforced"),
            "{err}"
        );
    }
    // asked for: it starts
    // the stderr reader stays open until the process has exited
    let (mut child, addr, _log, _rest) = up(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--policy",
            monitor.to_str().unwrap(),
            "--allow-unenforced",
        ],
        &[],
    );
    assert!(get(addr, "/nothing-routed").starts_with("HTTP/1.1 404"));
    terminate(&mut child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_redis_password_never_reaches_the_logs_or_error_messages() {
    const PASSWORD: &str = "s3cr3t-Pa55word";
    let dir = tempfile::tempdir().unwrap();
    let upstream = fake_upstream();
    let policy = dir.path().join("limited.yaml");
    std::fs::write(
        &policy,
        "apiVersion: rampart.dev/v1\nkind: RuntimeLimit\nmetadata: {name: lane}\nspec:\n  key: [caller]\n  requests: {count: 1000, per: 1m}\n---\napiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {name: limited}\nspec:\n  limits: [lane]\n  rules: [{groups: [pii], action: redact}]\n",
    )
    .unwrap();
    // nothing listens on port 1: every Redis call fails and the local fallback counts
    let config = dir.path().join("rampart.yaml");
    std::fs::write(
        &config,
        format!(
            "routes: [{{prefix: /api/, upstream: 'http://{upstream}'}}]\nrate_limits: {{redis_url: 'redis://:{PASSWORD}@127.0.0.1:1/0', redis_timeout_ms: 200, fallback: local}}\n"
        ),
    )
    .unwrap();
    let (mut child, addr, mut log, rest) = up(
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
        &[("RAMPART_LOG", "debug")],
    );
    for _ in 0..3 {
        let resp = post(addr, "/api/orders", "{\"note\":\"hello\"}");
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    terminate(&mut child);
    log.extend(rest.map(|l| l.unwrap()));
    assert_eq!(child.wait().unwrap().code(), Some(0), "{log:#?}");
    let log = log.join("\n");
    assert!(
        log.contains("the shared store failed"),
        "the failing store was logged: {log}"
    );
    assert!(!log.contains(PASSWORD), "{log}");

    // a URL the client rejects: the error names the setting, not the password
    std::fs::write(
        &config,
        format!("rate_limits: {{redis_url: 'redis://:{PASSWORD}@127.0.0.1:notaport/0'}}\n"),
    )
    .unwrap();
    let o = rampart(&[
        "up",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("rate_limits.redis_url"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[test]
fn a_thousand_requests_then_sigterm_leave_exactly_a_thousand_audit_events() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = fake_upstream();
    let config = dir.path().join("rampart.yaml");
    std::fs::write(
        &config,
        format!("routes: [{{prefix: /api/, upstream: 'http://{upstream}'}}]\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (mut child, addr, mut log, rest) = up(
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("RAMPART_LOG", "warn")],
    );
    for i in 0..1000 {
        let resp = get(addr, &format!("/api/items/{i}"));
        assert!(resp.starts_with("HTTP/1.1 200"), "{i}: {resp}");
    }
    // at once: the events still queued must reach the file before the process exits
    terminate(&mut child);
    log.extend(rest.map(|l| l.unwrap()));
    assert_eq!(child.wait().unwrap().code(), Some(0), "{log:#?}");
    let text = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let ids: std::collections::HashSet<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text.lines().count(), 1000);
    assert_eq!(ids.len(), 1000, "each exchange once");
}
