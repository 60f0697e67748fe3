//! Rampart's inline gateway: it sits between applications and the APIs and AI providers they
//! call, inspects every request and response (bodies through every encoding layer, headers,
//! query strings, server-sent event streams), and redacts or blocks what policy says before it
//! leaves. One exchange runs through named phases: `request_head` (route, caller),
//! `request_body` (read within limits, decode, scan, decide, redact or block), `upstream`,
//! `response_head`, `response_body` (whole or streamed, scanned and redacted) and `finish`
//! (one decision, one audit event, metrics), which always runs.
#![forbid(unsafe_code)]

pub mod audit;
pub mod body;
pub mod config;
pub mod console;
pub mod discovery;
pub mod kubernetes;
pub mod limits_view;
pub mod metrics;
mod pipeline;
pub mod policies;
mod secrets;
pub use rampart_exchange::{llm, sse};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_detect::{HashKey, Scanner};
use rampart_llm::Provider;
use tokio::net::TcpListener;

pub use config::Config;
use policies::{LoadError, PolicyStore, Reloaded};

/// The outbound client: HTTP and HTTPS (rustls, ring, webpki roots), pooled, HTTP/1.1 and
/// HTTP/2 by ALPN.
type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A running gateway's shared state.
pub struct Gateway {
    config: Config,
    /// The exchange core: scanner, providers, routes, prices, abuse signals, callers.
    engine: rampart_exchange::Engine,
    /// Provider id -> the credential header injected toward it.
    keys: HashMap<&'static str, (http::HeaderName, http::HeaderValue)>,
    /// The policies in force, swapped atomically on reload.
    policies: PolicyStore,
    /// The bearer token state-changing admin calls (and `/admin/*` reads off loopback)
    /// require: from `admin_token_env`, else `<data_dir>/admin.token`.
    admin_token: String,
    /// Rate, token and spend limits.
    limiter: Arc<rampart_limits::Limiter>,
    client: UpstreamClient,
    audit: audit::AuditSink,
    /// The live inventory (when `discovery.enabled`).
    discovery: Option<discovery::Discovery>,
    /// The link to Rampart's controller (when `kubernetes.controller` is set).
    kubernetes: Option<Arc<kubernetes::Kubernetes>>,
    /// The web console: sessions and the live feed.
    console: console::Console,
    /// The gateway's metrics.
    pub metrics: metrics::Metrics,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Set once to drain and stop.
    stop: tokio::sync::watch::Sender<bool>,
    /// Exchanges begun and not yet recorded: a shutdown waits for them before it closes the
    /// audit writer.
    pending: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.config.listen)
            .field("engine", &self.engine)
            .finish()
    }
}

/// Addresses a started gateway listens on.
#[derive(Debug)]
pub struct Running {
    /// The data plane.
    pub addr: SocketAddr,
    /// The admin port (health, readiness, metrics).
    pub admin_addr: SocketAddr,
    gateway: Arc<Gateway>,
    serving: tokio::task::JoinHandle<Drained>,
}

/// How a graceful shutdown ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Connections open when the listener closed.
    pub open: usize,
    /// Whether the grace period ran out and connections were cut.
    pub cut: bool,
}

impl Running {
    /// The admin API's bearer token (from `admin_token_env` or `<data_dir>/admin.token`), for
    /// the process that embeds the gateway. Never log it.
    pub fn admin_token(&self) -> &str {
        &self.gateway.admin_token
    }

    /// Reloads the policy files now (what SIGHUP does).
    pub fn reload_policies(&self) -> Result<Reloaded, LoadError> {
        self.gateway.reload_policies()
    }

    /// Drains the gateway: `/readyz` turns unready, the listener closes, exchanges in flight
    /// (streams included) finish within `limits.shutdown_grace_ms`, and connections still
    /// open after that are cut. Returns when the data plane has stopped.
    pub async fn shutdown(self) -> Drained {
        self.gateway.stop.send_replace(true);
        let drained = self.serving.await.unwrap_or(Drained { open: 0, cut: true });
        // every exchange has recorded: write what is queued and stop the audit writer
        if let Some(d) = &self.gateway.discovery {
            d.flush().await;
        }
        let gw = self.gateway.clone();
        let _ = tokio::task::spawn_blocking(move || gw.audit.close()).await;
        drained
    }
}

/// How often a replica sends its abuse counts to the shared store and reads the totals back.
pub const SHARE_SIGNALS_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Gateway {
    /// The exchange core this gateway drives (for embedding, and for benchmarks of the
    /// inspection without the network).
    pub fn engine(&self) -> &rampart_exchange::Engine {
        &self.engine
    }

    /// The policy set in force now.
    pub fn policy_set(&self) -> Arc<rampart_policy::PolicySet> {
        self.policies.current()
    }

    /// Checks the configuration and builds the gateway (no sockets yet).
    pub async fn new(config: Config) -> anyhow::Result<Arc<Gateway>> {
        // one crypto provider for every TLS use in the process
        let _ = rustls::crypto::ring::default_provider().install_default();
        // the embedded classifiers load and the threat patterns compile now, not on the first
        // request
        rampart_threat::Classifier::injection().assess("warm up");
        rampart_threat::Classifier::indirect().document("warm up");
        rampart_threat::output::find("warm up", &rampart_threat::output::Allowlist::default());
        let providers: Vec<Arc<dyn Provider>> = rampart_llm::providers()
            .into_iter()
            .map(Arc::from)
            .collect();
        let mut upstreams = HashMap::new();
        for p in &providers {
            upstreams.insert(p.id(), p.default_base_url().to_owned());
        }
        for (id, url) in &config.upstreams {
            let Some(p) = providers.iter().find(|p| p.id() == id) else {
                anyhow::bail!(
                    "unknown provider {id:?} in upstreams; known: {}",
                    providers
                        .iter()
                        .map(|p| p.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            check_url(url).map_err(|e| anyhow::anyhow!("upstream {id}: {e}"))?;
            let base = url.trim_end_matches('/');
            if let Some(version) = version_suffix(base) {
                anyhow::bail!(
                    "upstream {id}: {base} ends in /{version}, which the gateway takes from the request path (e.g. /{version}/...), so it would be sent twice; use {}",
                    &base[..base.len() - version.len() - 1]
                );
            }
            upstreams.insert(p.id(), base.to_owned());
        }
        let mut keys = HashMap::new();
        for (id, var) in &config.upstream_keys {
            let Some(p) = providers.iter().find(|p| p.id() == id) else {
                anyhow::bail!("unknown provider {id:?} in upstream_keys");
            };
            let key = std::env::var(var).map_err(|_| {
                anyhow::anyhow!("upstream_keys.{id}: environment variable {var} is not set")
            })?;
            let (name, value) = p.auth_header(key.trim());
            let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
                anyhow::anyhow!("upstream_keys.{id}: {var} is not a valid header value")
            })?;
            value.set_sensitive(true);
            keys.insert(p.id(), (http::HeaderName::from_static(name), value));
        }
        for r in &config.routes {
            check_url(&r.upstream).map_err(|e| anyhow::anyhow!("route {}: {e}", r.prefix))?;
            if !r.prefix.starts_with('/') {
                anyhow::bail!("route prefix {:?} must start with /", r.prefix);
            }
        }
        let policies = PolicyStore::open(
            config.policies.clone(),
            policies::Requirements {
                allow_unenforced: config.allow_unenforced,
            },
        )
        .map_err(|e| match e {
            LoadError::Invalid(d) => anyhow::anyhow!("the policies do not compile:\n{d}"),
            other => anyhow::anyhow!("{other}"),
        })?;
        for w in &policies.current().warnings {
            tracing::warn!("policy: {w}");
        }
        if !policies.current().all_limits().is_empty() {
            // the OpenAI tokenizers load in the background, not on the first limited request
            std::thread::spawn(rampart_limits::tokens::warm_up);
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data folder {}: {e}",
                config.data_dir.display()
            )
        })?;
        let admin_token = match &config.admin_token_env {
            None => {
                let (token, path, created) = secrets::admin_token(&config.data_dir)?;
                if created {
                    tracing::info!(path = %path.display(), "generated the admin API token (state-changing admin calls need `Authorization: Bearer <token>`)");
                } else {
                    tracing::info!(path = %path.display(), "the admin API token is in this file");
                }
                token
            }
            Some(var) => std::env::var(var)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("admin_token_env: environment variable {var} is not set")
                })?
                .trim()
                .to_owned(),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(upstream_tls(config.upstream_ca.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .build(https);
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let metrics = metrics::Metrics::new();
        let audit = audit::AuditSink::start(
            &config.data_dir,
            &config.audit,
            metrics.audit_dropped.clone(),
            metrics.audit_write_errors.clone(),
        )?;
        let hash_key = secrets::hash_key(config.hash_key_env.as_deref(), &config.data_dir)?;
        let callers = caller_entries(&config.callers)?;
        let abuse = rampart_limits::abuse::Tracker::new(config.abuse.clone());
        let rl = &config.rate_limits;
        let timeout = std::time::Duration::from_millis(rl.redis_timeout_ms.max(1));
        let limiter = match &rl.redis_url {
            Some(_) if !rl.redis_cluster.is_empty() => anyhow::bail!(
                "rate_limits: set redis_url (one Redis) or redis_cluster (a Redis Cluster), not both"
            ),
            None if !rl.redis_cluster.is_empty() => {
                let shown: Vec<String> = rl
                    .redis_cluster
                    .iter()
                    .map(|u| config::redact_url(u))
                    .collect();
                let backend =
                    rampart_limits::redis::RedisBackend::cluster(&rl.redis_cluster, timeout)
                        .map_err(|e| {
                            let mut text = e.to_string();
                            for url in &rl.redis_cluster {
                                text = redact_text(&text, url);
                            }
                            anyhow::anyhow!(
                                "rate_limits.redis_cluster {}: {text}",
                                shown.join(", ")
                            )
                        })?;
                rampart_limits::Limiter::shared(backend, rl.fallback)
            }
            None => rampart_limits::Limiter::local(),
            Some(url) => {
                let backend =
                    rampart_limits::redis::RedisBackend::new(url, timeout).map_err(|e| {
                        anyhow::anyhow!(
                            "rate_limits.redis_url {}: {}",
                            config::redact_url(url),
                            redact_text(&e.to_string(), url)
                        )
                    })?;
                rampart_limits::Limiter::shared(backend, rl.fallback)
            }
        };
        let mut prices = rampart_limits::price::Prices::shipped();
        if let Some(path) = &rl.prices {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("rate_limits.prices {}: {e}", path.display()))?;
            let custom = rampart_limits::price::Prices::parse(&text)
                .map_err(|e| anyhow::anyhow!("rate_limits.prices {}: {e}", path.display()))?;
            prices = prices.with_overrides(custom);
        }
        let discovery = if config.discovery.enabled {
            Some(
                discovery::Discovery::start(
                    &config.discovery,
                    &config.data_dir,
                    prices.clone(),
                    metrics.discovery_dropped.clone(),
                )
                .await?,
            )
        } else {
            None
        };
        // configured callers first; then, with a controller, pods by address
        let kubernetes = kubernetes::Kubernetes::new(&config.kubernetes)?.map(Arc::new);
        let mut identity_chain: Vec<Arc<dyn rampart_exchange::identity::ResolveCaller>> =
            vec![Arc::new(
                rampart_exchange::identity::ConfiguredCallers::new(callers, &hash_key),
            )];
        if let Some(k) = &kubernetes {
            identity_chain.push(k.pods.clone());
        }
        let mut engine = rampart_exchange::Engine::new(
            keyed_scanner(&hash_key),
            hash_key.clone(),
            providers,
            upstreams,
            config
                .routes
                .iter()
                .map(|r| rampart_exchange::ApiRoute {
                    prefix: r.prefix.clone(),
                    name: r.route_name(),
                    base: r.upstream.trim_end_matches('/').to_owned(),
                })
                .collect(),
            prices,
            abuse,
            rampart_exchange::identity::Identity::new(identity_chain),
            rampart_exchange::BodyLimits {
                max_request_body: config.limits.max_request_body,
            },
        );
        if discovery.is_some() {
            engine.samples =
                rampart_exchange::Sampler::per_second(config.discovery.schema_samples.into());
        }
        Ok(Arc::new(Gateway {
            config,
            engine,
            keys,
            policies,
            admin_token,
            limiter: Arc::new(limiter),
            client,
            audit,
            discovery,
            kubernetes,
            console: console::Console::default(),
            metrics,
            tls,
            stop: tokio::sync::watch::Sender::new(false),
            pending: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// Binds the configured listeners and serves until the process ends (with a shared limits
    /// store, a task also shares the abuse counts every [`SHARE_SIGNALS_EVERY`]).
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<Running> {
        let listener = TcpListener::bind(self.config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", self.config.listen))?;
        let admin = TcpListener::bind(self.config.admin_listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {} (admin): {e}", self.config.admin_listen)
            })?;
        let admin_addr = admin.local_addr()?;
        tokio::spawn(self.clone().serve_admin(admin));
        if self.config.policy_poll_ms > 0 && self.policies.watches_files() {
            tokio::spawn(self.clone().watch_policies());
        }
        if let Some(k) = &self.kubernetes {
            tokio::spawn(k.clone().send_quarantines());
            tokio::spawn(self.clone().follow_controller(k.clone()));
        }
        if self.limiter.is_shared() {
            // the abuse counts that need the global view travel through the limits store,
            // off the request path
            self.engine.abuse.share_counts();
            let gw = self.clone();
            tokio::spawn(async move {
                let mut stop = gw.stop.subscribe();
                let mut tick = tokio::time::interval(SHARE_SIGNALS_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let stopped = tokio::select! {
                        _ = tick.tick() => false,
                        _ = stop.wait_for(|&s| s) => true,
                    };
                    if stopped {
                        break;
                    }
                    gw.limiter.share_counts(&gw.engine.abuse, 256).await;
                }
                // what was counted last goes out before the replica stops
                gw.limiter.share_counts(&gw.engine.abuse, usize::MAX).await;
            });
        }
        Ok(Running {
            addr: listener.local_addr()?,
            admin_addr,
            gateway: self.clone(),
            serving: tokio::spawn(self.clone().serve(listener)),
        })
    }

    /// Serves the data plane on `listener`: HTTP/1.1 with keep-alive, and HTTP/2 (h2c), until
    /// a shutdown is asked for; then drains (see [`Running::shutdown`]).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Drained {
        let max_head = self.config.limits.max_header_bytes.max(8192);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut connections = tokio::task::JoinSet::new();
        let mut stop = self.stop.subscribe();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|&stop| stop) => break,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let watcher = graceful.watcher();
            let _ = stream.set_nodelay(true);
            let gw = self.clone();
            let tls = self.tls.clone();
            // finished connections are reaped as new ones come
            while connections.try_join_next().is_some() {}
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move {
                        if !gw.accepting_exchanges() {
                            gw.metrics.error("audit");
                            return Ok::<_, std::convert::Infallible>(audit_unavailable());
                        }
                        Ok::<_, std::convert::Infallible>(gw.handle(req, peer).await)
                    }
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .max_buf_size(max_head)
                    .header_read_timeout(std::time::Duration::from_secs(30))
                    .timer(hyper_util::rt::TokioTimer::new());
                let served = match tls {
                    None => {
                        watcher
                            .watch(
                                builder
                                    .serve_connection_with_upgrades(TokioIo::new(stream), service),
                            )
                            .await
                    }
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            std::time::Duration::from_secs(10),
                            acceptor.accept(stream),
                        )
                        .await;
                        match handshake {
                            Ok(Ok(tls)) => {
                                watcher
                                    .watch(
                                        builder.serve_connection_with_upgrades(
                                            TokioIo::new(tls),
                                            service,
                                        ),
                                    )
                                    .await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                if let Err(e) = served {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
        drop(listener);
        let open = graceful.count();
        let grace = std::time::Duration::from_millis(self.config.limits.shutdown_grace_ms);
        tracing::info!(open, ?grace, "draining: the listener is closed");
        let drained = match tokio::time::timeout(grace, graceful.shutdown()).await {
            Ok(()) => Drained { open, cut: false },
            Err(_) => {
                tracing::warn!("the grace period ran out; cutting the connections still open");
                // dropping a connection drops its exchanges' bodies: each records as
                // `client_gone` and frees its lease
                connections.abort_all();
                Drained { open, cut: true }
            }
        };
        while connections.join_next().await.is_some() {}
        // streams record from their own tasks once their caller is gone: wait for them (bounded)
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.pending.load(std::sync::atomic::Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drained
    }

    /// Reloads the policy files; counts and logs the result.
    pub fn reload_policies(&self) -> Result<Reloaded, LoadError> {
        let result = self.policies.reload();
        self.metrics.reload(match &result {
            Ok(Reloaded::Swapped { .. }) => "ok",
            Ok(Reloaded::Unchanged) => "unchanged",
            Err(_) => "error",
        });
        result
    }

    /// Checks the policy files for changes every `policy_poll_ms` until the gateway stops.
    async fn watch_policies(self: Arc<Self>) {
        let every = std::time::Duration::from_millis(self.config.policy_poll_ms);
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|&s| s) => return,
            }
            // reading and compiling is blocking work
            let gw = self.clone();
            let result = tokio::task::spawn_blocking(move || gw.policies.reload()).await;
            if let Ok(result) = result {
                match &result {
                    Ok(Reloaded::Swapped { .. }) => self.metrics.reload("ok"),
                    // a broken file is reported once, not every poll
                    Err(LoadError::StillInvalid(_)) | Ok(Reloaded::Unchanged) => {}
                    Err(_) => self.metrics.reload("error"),
                }
            }
        }
    }

    /// `GET /admin/kubernetes`: the clusters' workloads and posture (from the store the
    /// controllers write, else live from the controller link), with the models running in
    /// them joined to the AI use discovery recorded.
    async fn kubernetes_view(&self) -> Result<serde_json::Value, (u16, String)> {
        let mut state = match &self.discovery {
            Some(d) => d.clusters().await.map_err(|e| (503, e.to_string()))?,
            None => rampart_store::ClusterState::default(),
        };
        if state.workloads.is_empty()
            && state.findings.is_empty()
            && let Some(k) = &self.kubernetes
        {
            let (w, p) = k.cluster().await.map_err(|e| (502, e.to_string()))?;
            for x in w["workloads"].as_array().into_iter().flatten() {
                state.workloads.push(("local".into(), x.clone()));
            }
            for x in p["findings"].as_array().into_iter().flatten() {
                state.findings.push(("local".into(), x.clone()));
            }
        }
        if state.workloads.is_empty() && state.findings.is_empty() && self.kubernetes.is_none() {
            return Err((
                404,
                "no cluster data: set kubernetes.controller, or run `rampart controller --store` on the discovery store".into(),
            ));
        }
        let ai = match &self.discovery {
            Some(d) => d.document().await.map(|doc| doc.ai).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut view = kubernetes::view(&state, &ai);
        if let Some(k) = &self.kubernetes {
            view["quarantines"] = k.quarantines().await.unwrap_or_default();
        }
        Ok(view)
    }

    /// Follows Rampart's controller: the identity index and the policy documents, every
    /// `kubernetes.refresh_ms`. A controller that cannot be reached leaves both as they were.
    async fn follow_controller(self: Arc<Self>, k: Arc<kubernetes::Kubernetes>) {
        let every = std::time::Duration::from_millis(self.config.kubernetes.refresh_ms.max(100));
        let mut stop = self.stop.subscribe();
        loop {
            match k.refresh_identities().await {
                Ok(_) => {}
                Err(e) => {
                    k.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot read the controller's identities");
                }
            }
            match k.fetch_policies().await {
                Ok(Some(sources)) => {
                    let gw = self.clone();
                    let result =
                        tokio::task::spawn_blocking(move || gw.policies.set_remote(sources)).await;
                    match result {
                        Ok(Ok(Reloaded::Swapped { version })) => {
                            self.metrics.reload("ok");
                            tracing::info!(%version, "policies from the controller in force");
                        }
                        Ok(Ok(Reloaded::Unchanged)) => {}
                        Ok(Err(e)) => {
                            self.metrics.reload("error");
                            tracing::error!(error = %e, "the controller's policies do not compile here; the set in force stays");
                        }
                        Err(_) => {}
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    k.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot read the controller's policies");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|&s| s) => return,
            }
        }
    }

    /// Serves `/healthz`, `/readyz`, `/metrics` and the policy admin API.
    pub async fn serve_admin(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let gw = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let gw = gw.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.admin(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn admin(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<body::GatewayBody> {
        let text = |status: u16, ctype: &'static str, text: String| {
            hyper::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, ctype)
                .body(body::full(text))
                .expect("static response parts are valid")
        };
        let json =
            |status: u16, v: serde_json::Value| text(status, "application/json", v.to_string());
        let path = req.uri().path().to_owned();
        if path == "/console" || path.starts_with("/console/") {
            return self.console_page(req, &path).await;
        }
        if path.starts_with("/admin/")
            && let Err(why) = self.admin_allowed(&req)
        {
            return json(401, serde_json::json!({"error": why}));
        }
        match (req.method().as_str(), path.as_str()) {
            (_, "/healthz") => text(200, "text/plain", "ok\n".into()),
            (_, "/readyz") if *self.stop.borrow() => text(503, "text/plain", "draining\n".into()),
            (_, "/readyz") => text(200, "text/plain", "ready\n".into()),
            (_, "/metrics") => text(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.metrics.encode(),
            ),
            ("GET", "/admin/limits") => {
                let usage = self.limiter.usage().await;
                let c = &self.limiter.counters;
                use std::sync::atomic::Ordering::Relaxed;
                json(
                    200,
                    serde_json::json!({
                        "store": self.limiter.store(),
                        "shared_decisions": c.shared.load(Relaxed),
                        "fallback_decisions": c.fallback.load(Relaxed),
                        "store_errors": c.errors.load(Relaxed),
                        "counters": usage.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
                        "headroom": limits_view::headroom(&usage, self.policy_set().all_limits()),
                    }),
                )
            }
            ("GET", "/admin/openapi.json") => text(
                200,
                "application/json",
                include_str!("admin_openapi.json").to_owned(),
            ),
            (
                "GET",
                "/admin/discovery/endpoints"
                | "/admin/discovery/findings"
                | "/admin/discovery/ai"
                | "/admin/discovery/graph"
                | "/admin/discovery/openapi",
            ) => match &self.discovery {
                Some(d) => match d.document().await {
                    Ok(doc) => {
                        let query = req.uri().query().unwrap_or("");
                        let param = |name: &str| {
                            query.split('&').find_map(|kv| {
                                let (k, v) = kv.split_once('=')?;
                                (k == name && !v.is_empty()).then_some(v)
                            })
                        };
                        let v = match path.as_str() {
                            "/admin/discovery/endpoints" => serde_json::json!({
                                "endpoints": rampart_discover::render::filter_endpoints(
                                    &doc,
                                    param("status"),
                                    param("host"),
                                    param("method"),
                                    param("class"),
                                )
                            }),
                            "/admin/discovery/findings" => serde_json::json!({
                                "findings": rampart_discover::render::findings(
                                    &doc,
                                    param("severity"),
                                    param("owasp"),
                                    param("class"),
                                    param("host"),
                                    param("detector"),
                                )
                            }),
                            "/admin/discovery/ai" => serde_json::json!({"ai": doc.ai}),
                            "/admin/discovery/graph" => rampart_discover::render::graph(&doc),
                            _ => rampart_discover::render::openapi(&doc),
                        };
                        json(200, v)
                    }
                    Err(e) => json(503, serde_json::json!({"error": e.to_string()})),
                },
                None => json(
                    404,
                    serde_json::json!({"error": "discovery is off (discovery.enabled: false)"}),
                ),
            },
            ("GET", "/admin/events") => hyper::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "text/event-stream")
                .header(http::header::CACHE_CONTROL, "no-store")
                .body(self.console.events(50))
                .expect("static response parts are valid"),
            ("GET", "/admin/exchanges") => {
                let query = req.uri().query().unwrap_or("");
                let param = |name: &str| {
                    query.split('&').find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k == name && !v.is_empty()).then_some(v)
                    })
                };
                let limit = param("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(100usize)
                    .min(1000);
                json(
                    200,
                    serde_json::json!({"exchanges": self.console.recent(param("decision"), limit)}),
                )
            }
            ("GET", p) if p.starts_with("/admin/exchanges/") => {
                match self.console.exchange(&p["/admin/exchanges/".len()..]) {
                    Some(x) => json(200, x),
                    None => json(
                        404,
                        serde_json::json!({"error": "no such exchange among the last 1,000"}),
                    ),
                }
            }
            ("POST", "/admin/kubernetes/release") => {
                let Some(k) = self.kubernetes.clone() else {
                    return json(
                        404,
                        serde_json::json!({"error": "no controller is linked (kubernetes.controller)"}),
                    );
                };
                let body = small_body(req).await;
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                match (v["namespace"].as_str(), v["pod"].as_str()) {
                    (Some(ns), Some(pod)) if !ns.is_empty() && !pod.is_empty() => {
                        match k.release(ns, pod).await {
                            Ok(r) => json(200, r),
                            Err(e) => json(502, serde_json::json!({"error": e.to_string()})),
                        }
                    }
                    _ => json(
                        400,
                        serde_json::json!({"error": "expected {\"namespace\": …, \"pod\": …}"}),
                    ),
                }
            }
            ("GET", "/admin/kubernetes") => match self.kubernetes_view().await {
                Ok(v) => json(200, v),
                Err((status, e)) => json(status, serde_json::json!({"error": e})),
            },
            ("GET", "/admin/discovery") => match &self.discovery {
                Some(d) => match d.document().await {
                    Ok(doc) => {
                        let mut resp = json(200, serde_json::to_value(&doc).unwrap_or_default());
                        use std::sync::atomic::Ordering::Relaxed;
                        for (name, n) in [
                            ("x-rampart-discovery-recorded", d.recorded.load(Relaxed)),
                            ("x-rampart-discovery-dropped", d.dropped.load(Relaxed)),
                            (
                                "x-rampart-discovery-store-errors",
                                d.store_errors.load(Relaxed),
                            ),
                        ] {
                            resp.headers_mut().insert(name, http::HeaderValue::from(n));
                        }
                        resp.headers_mut().insert(
                            "x-rampart-discovery-store",
                            http::HeaderValue::from_static(d.store_kind()),
                        );
                        resp
                    }
                    Err(e) => json(503, serde_json::json!({"error": e.to_string()})),
                },
                None => json(
                    404,
                    serde_json::json!({"error": "discovery is off (discovery.enabled: false)"}),
                ),
            },
            ("GET", "/admin/policies") => json(
                200,
                serde_json::to_value(self.policies.state()).unwrap_or_default(),
            ),
            ("POST", "/admin/policies/reload") => {
                let gw = self.clone();
                match tokio::task::spawn_blocking(move || gw.reload_policies()).await {
                    Ok(Ok(Reloaded::Swapped { version })) => json(
                        200,
                        serde_json::json!({"result": "reloaded", "version": version}),
                    ),
                    Ok(Ok(Reloaded::Unchanged)) => json(
                        200,
                        serde_json::json!({"result": "unchanged", "version": self.policies.current().version()}),
                    ),
                    Ok(Err(e)) => json(
                        422,
                        serde_json::json!({
                            "result": "rejected",
                            "error": e.to_string(),
                            "version": self.policies.current().version(),
                        }),
                    ),
                    Err(_) => json(
                        500,
                        serde_json::json!({"error": "the reload did not finish"}),
                    ),
                }
            }
            (_, "/admin/policies" | "/admin/policies/reload") => json(
                405,
                serde_json::json!({"error": "use GET /admin/policies or POST /admin/policies/reload"}),
            ),
            _ => text(404, "text/plain", "not found\n".into()),
        }
    }

    /// The console's pages: the login page for anyone without a session, the console and
    /// its assets for those with one.
    async fn console_page(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        path: &str,
    ) -> hyper::Response<body::GatewayBody> {
        let page = |status: u16, ctype: &'static str, text: String, cookie: Option<String>| {
            let mut r = hyper::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, ctype)
                .header(http::header::CACHE_CONTROL, "no-store")
                .header("x-content-type-options", "nosniff")
                .header("x-frame-options", "DENY")
                .header(
                    "content-security-policy",
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
                );
            if let Some(c) = cookie {
                r = r.header(http::header::SET_COOKIE, c);
            }
            r.body(body::full(text))
                .expect("static response parts are valid")
        };
        let login = |status: u16, error: &str| {
            page(
                status,
                "text/html; charset=utf-8",
                console::LOGIN.replace("{{error}}", error),
                None,
            )
        };
        let redirect = |cookie: Option<String>| {
            let mut r = hyper::Response::builder()
                .status(303)
                .header(http::header::LOCATION, "/console/");
            if let Some(c) = cookie {
                r = r.header(http::header::SET_COOKIE, c);
            }
            r.body(body::full(""))
                .expect("static response parts are valid")
        };
        match (req.method().as_str(), path) {
            ("POST", "/console/login") => {
                let body = small_body(req).await;
                let given = console::form_token(&body).unwrap_or_default();
                let key = &self.engine.hash_key;
                let same = key.hash(rampart_core::DataClass::Secret, given.trim().as_bytes())
                    == key.hash(rampart_core::DataClass::Secret, self.admin_token.as_bytes());
                if !same {
                    return login(401, "That token is not the admin token.");
                }
                let id = self.console.login();
                redirect(Some(format!(
                    "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
                    console::COOKIE
                )))
            }
            ("POST", "/console/logout") => {
                if let Some(id) = console::session_id(&req) {
                    self.console.logout(id);
                }
                redirect(Some(format!(
                    "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                    console::COOKIE
                )))
            }
            _ if !self.console.session(&req) => login(200, ""),
            ("GET", "/console" | "/console/" | "/console/index.html") => {
                page(200, "text/html; charset=utf-8", console::INDEX.into(), None)
            }
            ("GET", "/console/app.js") => page(
                200,
                "text/javascript; charset=utf-8",
                console::APP_JS.into(),
                None,
            ),
            ("GET", "/console/app.css") => page(
                200,
                "text/css; charset=utf-8",
                console::APP_CSS.into(),
                None,
            ),
            _ => page(404, "text/plain", "not found\n".into(), None),
        }
    }

    /// Who may call the admin API: a state-changing call (any method but `GET` and `HEAD`)
    /// always needs the bearer token (configured or generated); reads of `/admin/*` need it
    /// when `admin_token_env` is configured or the admin listener is not on loopback.
    fn admin_allowed(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> Result<(), &'static str> {
        let given = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // compared by keyed hash: no early exit on the first differing byte
        let same = given.is_some_and(|g| {
            self.engine
                .hash_key
                .hash(rampart_core::DataClass::Secret, g.as_bytes())
                == self
                    .engine
                    .hash_key
                    .hash(rampart_core::DataClass::Secret, self.admin_token.as_bytes())
        });
        let read = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        // the console's session: reads, and writes that carry the console's header (a form
        // on another site cannot set it)
        if self.console.session(req) && (read || req.headers().contains_key("x-rampart-console")) {
            return Ok(());
        }
        // reads keep the earlier rule: open on loopback unless a token is configured
        // ... and only to requests that name a loopback host: a page on another site whose
        // name resolves to 127.0.0.1 (DNS rebinding) sends its own name and is refused
        let open_reads = self.config.admin_token_env.is_none()
            && self.config.admin_listen.ip().is_loopback()
            && loopback_host(req);
        match (same, read) {
            (true, _) => Ok(()),
            (false, true) if open_reads => Ok(()),
            (false, true) => Err(
                "the admin API on a non-loopback address needs `Authorization: Bearer <token>` (admin_token_env, or the token in <data_dir>/admin.token)",
            ),
            (false, false) => Err(
                "state-changing admin calls need `Authorization: Bearer <token>` (admin_token_env, or the token in <data_dir>/admin.token)",
            ),
        }
    }

    /// Whether new exchanges may be served: false only while the audit log cannot be
    /// written and `audit.on_error` is `refuse` (the front end then answers 503). One atomic
    /// load; cheap enough for every exchange.
    pub fn accepting_exchanges(&self) -> bool {
        self.audit.healthy()
    }
}

/// The built-in scanner with findings hashed under `key`: compiled once per process, one
/// keyed copy per distinct key (a handful in tests, one in a real process), kept for the
/// process' life because exchanges and streams borrow it as `&'static`.
fn keyed_scanner(key: &HashKey) -> &'static Scanner {
    static KEYED: std::sync::Mutex<Vec<(HashKey, &'static Scanner)>> =
        std::sync::Mutex::new(Vec::new());
    let mut keyed = KEYED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = keyed.iter().find(|(k, _)| k == key) {
        return s;
    }
    let s: &'static Scanner = Box::leak(Box::new(Scanner::builtin().with_hash_key(key.clone())));
    keyed.push((key.clone(), s));
    s
}

/// `text` with every occurrence of the URL `url` and of its password replaced by the
/// redacted URL: error messages from clients may quote what they were given.
fn redact_text(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &config::redact_url(url));
    if let Some(password) = config::url_password(url)
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    out
}

/// The configured callers, their keys read from the environment and their address ranges
/// parsed; says which entry is wrong and why.
fn caller_entries(
    defs: &[config::CallerDef],
) -> anyhow::Result<Vec<rampart_exchange::identity::CallerEntry>> {
    let mut out = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        if d.id.is_empty() {
            anyhow::bail!("callers[{i}]: `id` is required");
        }
        let key = match &d.key_env {
            None => None,
            Some(var) => Some(
                std::env::var(var)
                    .ok()
                    .filter(|k| !k.trim().is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "callers[{i}] ({}): environment variable {var} is not set",
                            d.id
                        )
                    })?,
            ),
        };
        let mut nets = Vec::new();
        for c in &d.cidrs {
            let net = c
                .parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("callers[{i}] ({}): {c:?} is not an address range", d.id)
                })?;
            nets.push(net);
        }
        out.push(rampart_exchange::identity::CallerEntry {
            caller: rampart_policy::Caller {
                ip: None,
                key_id: Some(d.id.clone()),
                workload: d.workload.clone(),
                namespace: d.namespace.clone(),
                service_account: d.service_account.clone(),
                labels: d.labels.clone(),
            },
            key,
            nets,
        });
    }
    Ok(out)
}

/// The API version segment a base URL ends in (`v1`, `v1beta`, `v2`), if any: requests
/// already carry it in their path.
fn version_suffix(base: &str) -> Option<&str> {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let (_, path) = rest.split_once('/')?;
    let last = path.rsplit('/').next()?;
    let digits = last.strip_prefix('v')?;
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &digits[n..];
    (n > 0 && (tail.is_empty() || tail.starts_with("beta") || tail.starts_with("alpha")))
        .then_some(last)
}

/// The TLS client configuration toward upstreams: the public web PKI, plus the roots of
/// `extra_ca` when given.
fn upstream_tls(extra_ca: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("upstream_ca {}: {e}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("upstream_ca {}: no certificate in the file", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("upstream_ca {}: {e}", path.display()))?;
        }
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A TLS acceptor for the data plane: the configured certificate, ALPN `h2` then `http/1.1`.
fn tls_acceptor(tls: &config::Tls) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("tls.cert {}: {e}", tls.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "tls.cert {}: no certificate in the file",
            tls.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| anyhow::anyhow!("tls.key {}: {e}", tls.key.display()))?;
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("tls: the certificate and key do not work together: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// The answer while the audit log cannot be written and `audit.on_error` is `refuse`.
fn audit_unavailable() -> hyper::Response<body::GatewayBody> {
    hyper::Response::builder()
        .status(503)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::RETRY_AFTER, "1")
        .body(body::full(
            serde_json::json!({"error": {
                "type": "rampart_unavailable",
                "code": "audit_unavailable",
                "message": "the gateway cannot record exchanges right now (audit log not writable); retry later",
            }})
            .to_string(),
        ))
        .expect("static response parts are valid")
}

fn check_url(url: &str) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => anyhow::bail!("{url:?} must be an http:// or https:// URL with a host"),
    }
}

/// A small request body (a login form, a release request): at most 8 KiB, else empty.
async fn small_body(req: hyper::Request<hyper::body::Incoming>) -> Bytes {
    http_body_util::BodyExt::collect(http_body_util::Limited::new(req.into_body(), 8 << 10))
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// Whether a request names a loopback host (`127.0.0.1`, `[::1]`, `localhost`, with any port),
/// or names none (HTTP/1.0).
fn loopback_host<B>(req: &hyper::Request<B>) -> bool {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
