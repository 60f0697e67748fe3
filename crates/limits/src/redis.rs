//! The shared backend: every replica keeps its counters in one Redis, or in one Redis Cluster.
//! A plan is decided by one Lua script (one round trip) that reads Redis' own clock, evaluates
//! every check and moves the counters only when all pass, so decisions are atomic and the same
//! for every replica. Settlement is a second script. Every call has a timeout; a failure is an
//! error the [`crate::Limiter`] answers with its fallback.
//!
//! In a cluster, a script may only touch keys of one hash slot. Every key of one limit carries
//! the limit's key as a hash tag (`rl:{name|caller}:gcra`, see [`crate::key_of`]), so a plan
//! whose checks all belong to one limit (or to limits that hash alike) is still one atomic
//! script. A plan spanning slots is decided slot by slot, in a fixed order; when a later slot
//! refuses, what the earlier slots admitted is given back ([`REFUND`]), so nothing stays counted
//! for a refused exchange. Between the two steps another exchange may see the earlier slots'
//! counters one request higher than they end: a cluster errs on the side of refusing.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::window::{LUA_WINDOW, code};
use crate::{BackendError, BackendKind, Check, Denial, Outcome, Plan, Remaining, Ticket, Usage};

/// The admission script. ARGV: lease, lease ttl (ms), then per check: `r emission tolerance`,
/// `c max` or `b window max reserve`. Returns `{0, check, retry_ms}` when refused, else
/// `{1, remaining, reset_ms, key-or-empty, ...}` per check.
const ADMIT: &str = r#"
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_us = now_s * 1000000 + tonumber(t[2])
local lease = ARGV[1]
local ttl = tonumber(ARGV[2])
local a = 3
local plan = {}
for i = 1, #KEYS do
  local kind = ARGV[a]
  if kind == 'r' then
    local em = tonumber(ARGV[a + 1]); local tol = tonumber(ARGV[a + 2]); a = a + 3
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now_us then tat = now_us end
    if tat - now_us > tol then return {0, i, math.ceil((tat - now_us - tol) / 1000)} end
    local new = tat + em
    local left = math.floor(math.max(0, tol + em - (new - now_us)) / em)
    plan[i] = {'r', new, left, math.ceil((new - now_us) / 1000)}
  elseif kind == 'c' then
    local max = tonumber(ARGV[a + 1]); a = a + 2
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now_us)
    local live = redis.call('ZCARD', KEYS[i])
    if live >= max then return {0, i, 1000} end
    plan[i] = {'c', max - live - 1}
  else
    local w = ARGV[a + 1]; local max = tonumber(ARGV[a + 2]); local res = tonumber(ARGV[a + 3]); a = a + 4
    local id, stop = window(w, now_s)
    local key = KEYS[i] .. ':' .. id
    local used = tonumber(redis.call('GET', key) or '0')
    if used < 0 then used = 0 end
    local reset = stop * 1000 - math.floor(now_us / 1000)
    if used >= max or used + res > max then return {0, i, reset} end
    plan[i] = {'b', key, res, stop, max - used - res, reset}
  end
end
local out = {1}
for i = 1, #KEYS do
  local p = plan[i]
  if p[1] == 'r' then
    redis.call('SET', KEYS[i], string.format('%.0f', p[2]), 'PX', p[4] + 1000)
    out[#out + 1] = p[3]; out[#out + 1] = p[4]; out[#out + 1] = ''
  elseif p[1] == 'c' then
    redis.call('ZADD', KEYS[i], now_us + ttl * 1000, lease)
    redis.call('PEXPIRE', KEYS[i], ttl + 60000)
    out[#out + 1] = p[2]; out[#out + 1] = 0; out[#out + 1] = ''
  else
    redis.call('INCRBY', p[2], p[3])
    redis.call('EXPIREAT', p[2], p[4] + 3600)
    out[#out + 1] = p[5]; out[#out + 1] = p[6]; out[#out + 1] = p[2]
  end
end
return out
"#;

/// The settlement script. KEYS: lease keys, then budget keys; ARGV: lease, number of lease
/// keys, then one delta per budget key.
const SETTLE: &str = r#"
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = n + 1, #KEYS do
  local d = tonumber(ARGV[i - n + 2])
  if d ~= 0 then redis.call('INCRBY', KEYS[i], d) end
end
return 1
"#;

/// Gives back what an admission of some checks took, when another slot of the same plan
/// refused. KEYS: per check its key (for a budget, the full key with the window the admission
/// returned); ARGV: lease, then per check `r emission`, `c` or `b reserve`.
const REFUND: &str = r#"
local a = 2
for i = 1, #KEYS do
  local kind = ARGV[a]
  if kind == 'r' then
    local em = tonumber(ARGV[a + 1]); a = a + 2
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat > 0 then
      redis.call('SET', KEYS[i], string.format('%.0f', tat - em), 'KEEPTTL')
    end
  elseif kind == 'c' then
    a = a + 1
    redis.call('ZREM', KEYS[i], ARGV[1])
  else
    local res = tonumber(ARGV[a + 1]); a = a + 2
    if res ~= 0 then redis.call('INCRBY', KEYS[i], -res) end
  end
end
return 1
"#;

/// Adds one replica's counts of an identity's minute to the shared totals and returns them.
/// KEYS: the minute's hash; ARGV: requests, embedding calls.
const SHARE: &str = r#"
local r = redis.call('HINCRBY', KEYS[1], 'r', tonumber(ARGV[1]))
local e = redis.call('HINCRBY', KEYS[1], 'e', tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], 180)
return {r, e}
"#;

/// How the backend reaches Redis.
enum Client {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, from its seed nodes.
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// A live connection; both kinds reconnect by themselves (the cluster one also follows
/// `MOVED` and `ASK` redirections and refreshes its slot map after a failover).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Counters in Redis.
pub struct RedisBackend {
    client: Client,
    url: String,
    /// Connected on first use, and again after a failed first connection; the connection then
    /// reconnects by itself.
    conn: tokio::sync::OnceCell<Conn>,
    admit: Script,
    settle: Script,
    refund: Script,
    share: Script,
    timeout: Duration,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with the password of its userinfo replaced by `***`.
fn without_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => {
            let user = url[start..start + at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..start], &url[start + at..])
        }
        None => url.to_owned(),
    }
}

impl RedisBackend {
    /// A backend for `url` (`redis://host:port/db`); connects on first use, so a gateway
    /// starts while Redis is down (the fallback applies until it is up). Every call gives up
    /// after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisBackend, BackendError> {
        // messages and logs name the server, never its password
        let shown = without_password(url);
        let client = redis::Client::open(url)
            .map_err(|e| BackendError(format!("bad Redis URL {shown:?}: {e}")))?;
        Ok(RedisBackend::with(Client::Single(client), shown, timeout))
    }

    /// A backend for a Redis Cluster reached through any of `nodes` (`redis://host:port`
    /// each; the others are found from the cluster's own slot map); connects on first use.
    pub fn cluster(nodes: &[String], timeout: Duration) -> Result<RedisBackend, BackendError> {
        let shown = nodes
            .iter()
            .map(|n| without_password(n))
            .collect::<Vec<_>>()
            .join(",");
        if nodes.is_empty() {
            return Err(BackendError(
                "a Redis Cluster needs at least one node URL".into(),
            ));
        }
        let client = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(|e| BackendError(format!("bad Redis Cluster nodes {shown:?}: {e}")))?;
        Ok(RedisBackend::with(
            Client::Cluster(Box::new(client)),
            format!("cluster {shown}"),
            timeout,
        ))
    }

    fn with(client: Client, url: String, timeout: Duration) -> RedisBackend {
        RedisBackend {
            client,
            url,
            conn: tokio::sync::OnceCell::new(),
            admit: Script::new(&format!("{LUA_WINDOW}\n{ADMIT}")),
            settle: Script::new(SETTLE),
            refund: Script::new(REFUND),
            share: Script::new(SHARE),
            timeout,
        }
    }

    /// Whether the backend is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster(_))
    }

    /// Connects to a cluster now (tests and start-up checks).
    pub async fn connect_cluster(
        nodes: &[String],
        timeout: Duration,
    ) -> Result<RedisBackend, BackendError> {
        let backend = RedisBackend::cluster(nodes, timeout)?;
        backend.conn().await?;
        Ok(backend)
    }

    /// Connects now (tests and start-up checks).
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisBackend, BackendError> {
        let backend = RedisBackend::new(url, timeout)?;
        backend.conn().await?;
        Ok(backend)
    }

    async fn conn(&self) -> Result<Conn, BackendError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let connect = async {
                    match &self.client {
                        Client::Single(client) => {
                            let config = redis::aio::ConnectionManagerConfig::new()
                                .set_connection_timeout(Some(self.timeout))
                                .set_response_timeout(Some(self.timeout))
                                .set_number_of_retries(1);
                            ConnectionManager::new_with_config(client.clone(), config)
                                .await
                                .map(Conn::Single)
                        }
                        Client::Cluster(client) => {
                            client.get_async_connection().await.map(Conn::Cluster)
                        }
                    }
                };
                tokio::time::timeout(self.timeout * 2, connect)
                    .await
                    .map_err(|_| {
                        BackendError(format!("Redis at {} did not answer in time", self.url))
                    })?
                    .map_err(|e| BackendError(format!("Redis at {}: {e}", self.url)))
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs a script invocation with the backend's timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, BackendError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
            .await
            .map_err(|_| BackendError("Redis did not answer in time".into()))?
            .map_err(|e| BackendError(e.to_string()))
    }

    /// Decides a plan: in one round trip, or in a cluster one per hash slot its keys span.
    pub async fn admit(&self, plan: &Plan) -> Result<Outcome, BackendError> {
        let all: Vec<usize> = (0..plan.checks.len()).collect();
        let groups = if self.is_cluster() {
            by_slot(all, |i| check_key(&plan.checks[i].1))
        } else {
            vec![all]
        };
        let mut ticket = Ticket {
            lease: plan.lease.clone(),
            backend: BackendKind::Redis,
            ..Ticket::default()
        };
        let mut remaining = Vec::with_capacity(plan.checks.len());
        // per admitted group: the refund of each of its checks (key, kind and amount)
        let mut taken: Vec<Vec<(String, Refund)>> = Vec::new();
        for group in &groups {
            match self.admit_group(plan, group).await {
                Ok(Ok(admitted)) => {
                    let mut refunds = Vec::new();
                    for (i, left, reset, key) in admitted {
                        remaining.push(Remaining {
                            check: i,
                            remaining: left,
                            reset_ms: reset,
                        });
                        match &plan.checks[i].1 {
                            Check::Rate {
                                key, emission_us, ..
                            } => {
                                refunds.push((key.clone(), Refund::Rate(*emission_us)));
                            }
                            Check::Concurrency { key, .. } => {
                                ticket.leases.push(key.clone());
                                refunds.push((key.clone(), Refund::Lease));
                            }
                            Check::Budget { what, reserve, .. } => {
                                ticket.reserved.push((key.clone(), *what, *reserve));
                                refunds.push((key, Refund::Budget(*reserve)));
                            }
                        }
                    }
                    taken.push(refunds);
                }
                Ok(Err(denial)) => {
                    // refused stays refused: a refund that fails leaves the earlier slots a
                    // request high until their windows pass, which errs toward refusing
                    if let Err(e) = self.give_back(&plan.lease, taken).await {
                        tracing::warn!(error = %e, "a refused plan's earlier slots could not be given back");
                    }
                    return Ok(Outcome::Denied(denial));
                }
                Err(e) => {
                    // the fallback decides; what earlier slots took is given back if possible
                    let _ = self.give_back(&plan.lease, taken).await;
                    return Err(e);
                }
            }
        }
        remaining.sort_by_key(|r| r.check);
        Ok(Outcome::Admitted { ticket, remaining })
    }

    /// Decides the checks `group` of `plan` (keys of one slot) in one script: per check its
    /// index, remaining, reset (ms) and full key (a budget's with its window), or the denial.
    async fn admit_group(
        &self,
        plan: &Plan,
        group: &[usize],
    ) -> Result<Result<Vec<(usize, u64, u64, String)>, Denial>, BackendError> {
        let mut inv = self.admit.prepare_invoke();
        inv.arg(&plan.lease).arg(plan.lease_ttl_ms);
        for &i in group {
            match &plan.checks[i].1 {
                Check::Rate {
                    key,
                    emission_us,
                    tolerance_us,
                } => {
                    inv.key(key).arg("r").arg(emission_us).arg(tolerance_us);
                }
                Check::Concurrency { key, max } => {
                    inv.key(key).arg("c").arg(max);
                }
                Check::Budget {
                    key,
                    window,
                    max,
                    reserve,
                    ..
                } => {
                    inv.key(key)
                        .arg("b")
                        .arg(code(*window))
                        .arg(max)
                        .arg(reserve);
                }
            }
        }
        let reply: Vec<redis::Value> = self.run(&inv).await?;
        parse_admit(group, &plan.checks, &reply)
    }

    /// Gives back what admitted groups took (a later slot refused), one script per group.
    async fn give_back(
        &self,
        lease: &str,
        taken: Vec<Vec<(String, Refund)>>,
    ) -> Result<(), BackendError> {
        // every group is tried; the first failure is reported
        let mut failed = None;
        for refunds in taken {
            let mut inv = self.refund.prepare_invoke();
            inv.arg(lease);
            for (key, refund) in refunds {
                match refund {
                    Refund::Rate(em) => inv.key(key).arg("r").arg(em),
                    Refund::Lease => inv.key(key).arg("c"),
                    Refund::Budget(res) => inv.key(key).arg("b").arg(res),
                };
            }
            if let Err(e) = self.run::<i64>(&inv).await {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Releases the lease and settles the budgets in one round trip.
    pub async fn settle(&self, ticket: &Ticket, used: Usage) -> Result<(), BackendError> {
        if ticket.leases.is_empty() && ticket.reserved.is_empty() {
            return Ok(());
        }
        // keys: the leases, then the budgets; in a cluster one script per slot
        let n = ticket.leases.len();
        let all: Vec<usize> = (0..n + ticket.reserved.len()).collect();
        let key = |i: usize| -> &str {
            if i < n {
                &ticket.leases[i]
            } else {
                &ticket.reserved[i - n].0
            }
        };
        let groups = if self.is_cluster() {
            by_slot(all, key)
        } else {
            vec![all]
        };
        for group in groups {
            let leases: Vec<usize> = group.iter().copied().filter(|&i| i < n).collect();
            let mut inv = self.settle.prepare_invoke();
            inv.arg(&ticket.lease).arg(leases.len());
            for &i in &leases {
                inv.key(key(i));
            }
            for &i in group.iter().filter(|&&i| i >= n) {
                let (k, what, reserved) = &ticket.reserved[i - n];
                inv.key(k).arg(used.of(*what) as i64 - *reserved as i64);
            }
            let _: i64 = self.run(&inv).await?;
        }
        Ok(())
    }

    /// Adds what this replica counted for abuse signals to the shared totals and returns
    /// them, one identity-minute at a time (each under its own hash tag, so a cluster spreads
    /// them): per pending entry, the requests and embedding calls of all replicas.
    pub async fn share_counts(
        &self,
        pending: &[crate::abuse::Pending],
    ) -> Result<Vec<(u32, u32)>, BackendError> {
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            let mut key = String::from("ab:{");
            crate::escape_into(&p.identity, &mut key);
            key.push_str(&format!("}}:{}", p.minute));
            let mut inv = self.share.prepare_invoke();
            inv.key(key).arg(p.requests).arg(p.embeddings);
            let (r, e): (i64, i64) = self.run(&inv).await?;
            out.push((
                u32::try_from(r.max(0)).unwrap_or(u32::MAX),
                u32::try_from(e.max(0)).unwrap_or(u32::MAX),
            ));
        }
        Ok(out)
    }

    /// The budget counters and lease counts under `rl:` (at most 1,000 keys).
    pub async fn usage(&self) -> Result<Vec<(String, i64)>, BackendError> {
        let mut conn = self.conn().await?;
        let work = async {
            let mut scan = redis::cmd("SCAN");
            scan.arg(0).arg("MATCH").arg("rl:*").arg("COUNT").arg(1000);
            let keys: Vec<String> = match &mut conn {
                Conn::Single(c) => scan
                    .query_async::<(u64, Vec<String>)>(c)
                    .await
                    .map(|(_, keys)| keys)?,
                // every primary holds its own slots' keys
                Conn::Cluster(c) => {
                    use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
                    let reply = c
                        .route_command(
                            scan,
                            RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
                        )
                        .await?;
                    scan_keys(reply)
                }
            };
            let mut out = Vec::new();
            for k in keys {
                if k.ends_with(":gcra") {
                    continue;
                }
                let v: i64 = if k.ends_with(":conc") {
                    redis::cmd("ZCARD").arg(&k).query_async(&mut conn).await?
                } else {
                    redis::cmd("GET")
                        .arg(&k)
                        .query_async::<Option<i64>>(&mut conn)
                        .await?
                        .unwrap_or(0)
                };
                out.push((k, v));
            }
            out.sort();
            Ok::<_, redis::RedisError>(out)
        };
        tokio::time::timeout(self.timeout * 10, work)
            .await
            .map_err(|_| BackendError("Redis did not answer in time".into()))?
            .map_err(|e| BackendError(e.to_string()))
    }
}

fn int(v: &redis::Value) -> Result<u64, BackendError> {
    match v {
        redis::Value::Int(n) => Ok((*n).max(0) as u64),
        other => Err(BackendError(format!("unexpected reply {other:?}"))),
    }
}

/// What giving back one admitted check takes.
enum Refund {
    /// A GCRA step of this many microseconds.
    Rate(u64),
    /// The lease in a concurrency set.
    Lease,
    /// This much reserved in a budget counter.
    Budget(u64),
}

/// The key a check's counters hash by (a budget's key without its window: the same tag).
fn check_key(check: &Check) -> &str {
    match check {
        Check::Rate { key, .. } | Check::Concurrency { key, .. } | Check::Budget { key, .. } => key,
    }
}

/// `items` grouped by the cluster hash slot of their keys: groups in the order of their first
/// item, items in their order within a group.
fn by_slot<'a>(items: Vec<usize>, key: impl Fn(usize) -> &'a str) -> Vec<Vec<usize>> {
    use redis::cluster_routing::Slot;
    let mut groups: Vec<(Slot, Vec<usize>)> = Vec::new();
    for i in items {
        let slot = Slot::for_key(key(i));
        match groups.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, g)) => g.push(i),
            None => groups.push((slot, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The keys of `SCAN` replies from several nodes (a map or list of `[cursor, keys]`).
fn scan_keys(reply: redis::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![reply];
    while let Some(v) = stack.pop() {
        match v {
            redis::Value::Map(entries) => stack.extend(entries.into_iter().map(|(_, v)| v)),
            redis::Value::Array(items) => match items.as_slice() {
                // one node's reply: the cursor, then the keys
                [redis::Value::BulkString(_), redis::Value::Array(keys)] => {
                    out.extend(keys.iter().filter_map(|k| match k {
                        redis::Value::BulkString(b) => {
                            Some(String::from_utf8_lossy(b).into_owned())
                        }
                        _ => None,
                    }));
                }
                _ => stack.extend(items),
            },
            _ => {}
        }
    }
    out
}

/// The admission script's reply for the checks `group` of `checks`.
#[allow(clippy::type_complexity)]
fn parse_admit(
    group: &[usize],
    checks: &[(usize, Check)],
    reply: &[redis::Value],
) -> Result<Result<Vec<(usize, u64, u64, String)>, Denial>, BackendError> {
    let flag = reply
        .first()
        .map(int)
        .transpose()?
        .ok_or_else(|| BackendError("empty reply".into()))?;
    if flag == 0 {
        let check = int(reply
            .get(1)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        let retry = int(reply
            .get(2)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        let at = usize::try_from(check.saturating_sub(1)).unwrap_or(usize::MAX);
        let check = *group
            .get(at)
            .ok_or_else(|| BackendError(format!("refusal of unknown check {check}")))?;
        return Ok(Err(Denial {
            check,
            retry_after_ms: retry,
        }));
    }
    let mut out = Vec::with_capacity(group.len());
    for (k, &i) in group.iter().enumerate() {
        let at = 1 + k * 3;
        let left = int(reply
            .get(at)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        let reset = int(reply
            .get(at + 1)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        let key = match (&checks[i].1, reply.get(at + 2)) {
            (Check::Budget { .. }, Some(redis::Value::BulkString(b))) => {
                String::from_utf8_lossy(b).into_owned()
            }
            (Check::Budget { .. }, other) => {
                return Err(BackendError(format!("unexpected key {other:?}")));
            }
            (c, _) => check_key(c).to_owned(),
        };
        out.push((i, left, reset, key));
    }
    Ok(Ok(out))
}
