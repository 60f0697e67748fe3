//! A throwaway `redis-server` on a loopback port, for the tests and benches that run the Redis
//! backend against a real Redis (`scripts/test.sh` installs `redis-server`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` process without persistence, stopped (killed) on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        RedisServer::on(port)
    }

    /// Starts one on `port` (again on the same port after a kill, to test recovery); returns
    /// once it accepts connections (or after 2 s).
    pub fn on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway Redis Cluster on loopback: `masters` primaries with `replicas` replicas each,
/// made by `redis-cli --cluster create`, without persistence; every node is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<(u16, Option<Child>)>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts the nodes and joins them into a cluster; returns once every node reports the
    /// cluster healthy (panics after 20 s: a test cannot go on without it).
    pub fn start(masters: usize, replicas: usize) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "rampart-redis-cluster-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let port = cluster_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "1000"])
                // replicas sync at once instead of waiting for others to join the transfer
                .args(["--repl-diskless-sync-delay", "0"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed (scripts/test.sh installs it)");
            nodes.push((port, Some(child)));
        }
        for (port, _) in &nodes {
            wait_for(*port);
        }
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|(p, _)| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is installed (scripts/test.sh installs it)");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes, dir };
        let start = std::time::Instant::now();
        // healthy, and every replica in sync with its primary (a replica that never synced
        // does not stand for election)
        while !cluster.healthy()
            || cluster.live().any(|p| {
                let info = cli(p, &["INFO", "replication"]);
                info.contains("role:slave") && !info.contains("master_link_status:up")
            })
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the cluster did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// `redis://127.0.0.1:PORT/` of every node started (replicas included).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(p, _)| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// Whether every live node says `cluster_state:ok` and every slot is served.
    pub fn healthy(&self) -> bool {
        self.live().all(|p| {
            let info = cli(p, &["CLUSTER", "INFO"]);
            info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
        })
    }

    /// The port of the primary that serves `key`'s hash slot now.
    pub fn primary_of(&self, key: &str) -> Option<u16> {
        let slot: u16 = self
            .live()
            .next()
            .and_then(|p| cli(p, &["CLUSTER", "KEYSLOT", key]).trim().parse().ok())?;
        self.live().find(|&p| {
            cli(p, &["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains("myself") && l.contains("master") && serves(l, slot))
        })
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the cluster).
    pub fn kill(&mut self, port: u16) {
        if let Some((_, Some(child))) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(n) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            n.1 = None;
        }
    }

    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a `CLUSTER NODES` line's slot ranges hold `slot`.
fn serves(line: &str, slot: u16) -> bool {
    line.split_whitespace().skip(8).any(|range| {
        let mut ends = range.splitn(2, '-');
        let lo = ends.next().and_then(|s| s.parse::<u16>().ok());
        let hi = ends.next().and_then(|s| s.parse::<u16>().ok()).or(lo);
        matches!((lo, hi), (Some(lo), Some(hi)) if lo <= slot && slot <= hi)
    })
}

/// `redis-cli -p PORT ARGS...`'s output ("" when it fails).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A free loopback port whose cluster bus port (+10,000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Waits until `port` accepts connections (at most 2 s).
fn wait_for(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
