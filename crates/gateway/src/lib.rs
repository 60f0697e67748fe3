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
pub mod metrics;
mod pipeline;
pub mod sse;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_detect::{HashKey, Scanner};
use rampart_llm::Provider;
use tokio::net::TcpListener;

use config::CompiledRules;
pub use config::Config;

/// The outbound client: HTTP and HTTPS (rustls, ring, webpki roots), pooled, HTTP/1.1 and
/// HTTP/2 by ALPN.
type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A running gateway's shared state.
pub struct Gateway {
    config: Config,
    providers: Vec<Arc<dyn Provider>>,
    upstreams: HashMap<&'static str, String>,
    /// Provider id -> the credential header injected toward it.
    keys: HashMap<&'static str, (http::HeaderName, http::HeaderValue)>,
    request_rules: CompiledRules,
    response_rules: CompiledRules,
    client: UpstreamClient,
    audit: audit::AuditSink,
    /// The gateway's metrics.
    pub metrics: metrics::Metrics,
    hash_key: HashKey,
    scanner: &'static Scanner,
    next_id: AtomicU64,
    started_ms: u128,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Set once to drain and stop.
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.config.listen)
            .field("upstreams", &self.upstreams)
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
    /// Drains the gateway: `/readyz` turns unready, the listener closes, exchanges in flight
    /// (streams included) finish within `limits.shutdown_grace_ms`, and connections still
    /// open after that are cut. Returns when the data plane has stopped.
    pub async fn shutdown(self) -> Drained {
        self.gateway.stop.send_replace(true);
        self.serving.await.unwrap_or(Drained { open: 0, cut: true })
    }
}

impl Gateway {
    /// Checks the configuration and builds the gateway (no sockets yet).
    pub async fn new(config: Config) -> anyhow::Result<Arc<Gateway>> {
        // one crypto provider for every TLS use in the process
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            upstreams.insert(p.id(), url.trim_end_matches('/').to_owned());
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
        let request_rules = config
            .policy
            .request
            .compile()
            .map_err(|e| anyhow::anyhow!("policy.request: {e}"))?;
        let response_rules = config
            .policy
            .response
            .compile()
            .map_err(|e| anyhow::anyhow!("policy.response: {e}"))?;
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
        let audit = audit::AuditSink::start(&config.data_dir).await?;
        let hash_key = match std::env::var("RAMPART_HASH_KEY") {
            Ok(secret) if !secret.is_empty() => HashKey::derive(secret.as_bytes()),
            _ => HashKey::random(),
        };
        Ok(Arc::new(Gateway {
            config,
            providers,
            upstreams,
            keys,
            request_rules,
            response_rules,
            client,
            audit,
            metrics: metrics::Metrics::new(),
            hash_key,
            scanner: Scanner::builtin(),
            next_id: AtomicU64::new(0),
            started_ms: now_ms(),
            tls,
            stop: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Binds the configured listeners and serves until the process ends.
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
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.handle(req, peer).await) }
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
        match tokio::time::timeout(grace, graceful.shutdown()).await {
            Ok(()) => Drained { open, cut: false },
            Err(_) => {
                tracing::warn!("the grace period ran out; cutting the connections still open");
                Drained { open, cut: true }
            }
        }
    }

    /// Serves `/healthz`, `/readyz` and `/metrics`.
    pub async fn serve_admin(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let gw = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let gw = gw.clone();
                    async move {
                        let (status, ctype, text) = match req.uri().path() {
                            "/healthz" => (200, "text/plain", "ok\n".to_owned()),
                            "/readyz" if *gw.stop.borrow() => {
                                (503, "text/plain", "draining\n".to_owned())
                            }
                            "/readyz" => (200, "text/plain", "ready\n".to_owned()),
                            "/metrics" => (
                                200,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                gw.metrics.encode(),
                            ),
                            _ => (404, "text/plain", "not found\n".to_owned()),
                        };
                        let resp = hyper::Response::builder()
                            .status(status)
                            .header(http::header::CONTENT_TYPE, ctype)
                            .body(body::full(text))
                            .expect("static response parts are valid");
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
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

fn check_url(url: &str) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => anyhow::bail!("{url:?} must be an http:// or https:// URL with a host"),
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
