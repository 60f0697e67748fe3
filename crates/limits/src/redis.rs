//! The shared backend: every replica keeps its counters in one Redis. A plan is decided by one
//! Lua script (one round trip) that reads Redis' own clock, evaluates every check and moves the
//! counters only when all pass, so decisions are atomic and the same for every replica.
//! Settlement is a second script. Every call has a timeout; a failure is an error the
//! [`crate::Limiter`] answers with its fallback.

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

/// Counters in Redis.
pub struct RedisBackend {
    client: redis::Client,
    url: String,
    /// Connected on first use, and again after a failed first connection; the manager then
    /// reconnects by itself.
    conn: tokio::sync::OnceCell<ConnectionManager>,
    admit: Script,
    settle: Script,
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
        Ok(RedisBackend {
            client,
            url: shown,
            conn: tokio::sync::OnceCell::new(),
            admit: Script::new(&format!("{LUA_WINDOW}\n{ADMIT}")),
            settle: Script::new(SETTLE),
            timeout,
        })
    }

    /// Connects now (tests and start-up checks).
    pub async fn connect(url: &str, timeout: Duration) -> Result<RedisBackend, BackendError> {
        let backend = RedisBackend::new(url, timeout)?;
        backend.conn().await?;
        Ok(backend)
    }

    async fn conn(&self) -> Result<ConnectionManager, BackendError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    self.timeout * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| BackendError(format!("Redis at {} did not answer in time", self.url)))?
                .map_err(|e| BackendError(format!("Redis at {}: {e}", self.url)))
            })
            .await?;
        Ok(conn.clone())
    }

    /// Decides a plan in one round trip.
    pub async fn admit(&self, plan: &Plan) -> Result<Outcome, BackendError> {
        let mut inv = self.admit.prepare_invoke();
        inv.arg(&plan.lease).arg(plan.lease_ttl_ms);
        for (_, check) in &plan.checks {
            match check {
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
        let mut conn = self.conn().await?;
        let reply: Vec<redis::Value> =
            tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
                .await
                .map_err(|_| BackendError("Redis did not answer in time".into()))?
                .map_err(|e| BackendError(e.to_string()))?;
        parse_admit(plan, &reply)
    }

    /// Releases the lease and settles the budgets in one round trip.
    pub async fn settle(&self, ticket: &Ticket, used: Usage) -> Result<(), BackendError> {
        if ticket.leases.is_empty() && ticket.reserved.is_empty() {
            return Ok(());
        }
        let mut inv = self.settle.prepare_invoke();
        inv.arg(&ticket.lease).arg(ticket.leases.len());
        for key in &ticket.leases {
            inv.key(key);
        }
        for (key, what, reserved) in &ticket.reserved {
            inv.key(key).arg(used.of(*what) as i64 - *reserved as i64);
        }
        let mut conn = self.conn().await?;
        let _: i64 = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
            .await
            .map_err(|_| BackendError("Redis did not answer in time".into()))?
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(())
    }

    /// The budget counters and lease counts under `rl:` (at most 1,000 keys).
    pub async fn usage(&self) -> Result<Vec<(String, i64)>, BackendError> {
        let mut conn = self.conn().await?;
        let work = async {
            let keys: Vec<String> = redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg("rl:*")
                .arg("COUNT")
                .arg(1000)
                .query_async::<(u64, Vec<String>)>(&mut conn)
                .await
                .map(|(_, keys)| keys)?;
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

fn parse_admit(plan: &Plan, reply: &[redis::Value]) -> Result<Outcome, BackendError> {
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
        return Ok(Outcome::Denied(Denial {
            check: check.saturating_sub(1) as usize,
            retry_after_ms: retry,
        }));
    }
    let mut ticket = Ticket {
        lease: plan.lease.clone(),
        backend: BackendKind::Redis,
        ..Ticket::default()
    };
    let mut remaining = Vec::with_capacity(plan.checks.len());
    for (i, (_, check)) in plan.checks.iter().enumerate() {
        let at = 1 + i * 3;
        let left = int(reply
            .get(at)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        let reset = int(reply
            .get(at + 1)
            .ok_or_else(|| BackendError("short reply".into()))?)?;
        remaining.push(Remaining {
            check: i,
            remaining: left,
            reset_ms: reset,
        });
        match check {
            Check::Concurrency { key, .. } => ticket.leases.push(key.clone()),
            Check::Budget { what, reserve, .. } => {
                let key = match reply.get(at + 2) {
                    Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    other => return Err(BackendError(format!("unexpected key {other:?}"))),
                };
                ticket.reserved.push((key, *what, *reserve));
            }
            Check::Rate { .. } => {}
        }
    }
    Ok(Outcome::Admitted { ticket, remaining })
}
