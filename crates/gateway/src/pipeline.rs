//! The hyper front end of the exchange core: it owns sockets, timeouts, the upstream client
//! and the limiter, and hands [`rampart_exchange`] what it reads, phase by phase. Every
//! exchange is held by a [`Pending`] guard, so `finish` runs however the exchange ends —
//! answered, refused, or abandoned by a caller that reset its stream or disconnected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rampart_exchange::engine::{CREDENTIAL_HEADERS, HOP_BY_HOP};
use rampart_exchange::{
    Admission, Code, Exchange, ExchangeSink, Finished, ReadError, Refusal, RequestHead,
    ResponseBody, Rewrite, StreamEnd, UpstreamFailure,
};

use crate::Gateway;
use crate::body::{ChannelBody, GatewayBody, full};
use crate::metrics::{ExchangeLabels, FindingLabels};

/// An exchange in flight. Dropped before [`Pending::finish`] (the caller went away, the
/// connection was cut), it finishes the exchange as `client_gone`: the audit event is
/// written and the limits settle, so no concurrency lease is held.
struct Pending {
    gw: Arc<Gateway>,
    ex: Option<Exchange>,
}

impl Pending {
    fn new(gw: Arc<Gateway>, ex: Exchange) -> Pending {
        gw.pending.fetch_add(1, Ordering::AcqRel);
        Pending { gw, ex: Some(ex) }
    }

    fn ex(&mut self) -> &mut Exchange {
        self.ex
            .as_mut()
            .expect("a pending exchange holds its exchange until finished")
    }

    /// finish: records the exchange with the status the caller got.
    fn finish(mut self, status: u16) {
        if let Some(ex) = self.ex.take() {
            let done = ex.finish(&self.gw.engine, status);
            self.gw.record(done);
            self.gw.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Sends `resp` and finishes.
    fn answer(self, resp: Response<GatewayBody>) -> Response<GatewayBody> {
        self.finish(resp.status().as_u16());
        resp
    }

    /// Renders a refusal in the exchange's shape and finishes.
    fn refuse(mut self, r: Refusal) -> Response<GatewayBody> {
        let provider = self.ex().provider().cloned();
        let rendered = r.render(provider.as_deref());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendered.content_type),
        );
        for (name, value) in &rendered.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(*name, v);
            }
        }
        let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::BAD_GATEWAY);
        self.answer(build(status, headers, Bytes::from(rendered.body)))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut ex) = self.ex.take() {
            ex.client_gone();
            // 499: the caller closed the request before an answer
            let done = ex.finish(&self.gw.engine, 499);
            self.gw.record(done);
            self.gw.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Gateway {
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        if req.method() == http::Method::CONNECT {
            return self.connect(req, peer).await;
        }
        let (parts, body) = req.into_parts();
        // HTTP/1 forward-proxy requests name their destination (`GET http://host/path`); HTTP/2
        // requests always carry scheme and authority, and are for the gateway itself
        let origin = match (parts.version, parts.uri.scheme_str(), parts.uri.authority()) {
            (v, Some(scheme), Some(authority)) if v < http::Version::HTTP_2 => Some((
                format!("{scheme}://{authority}"),
                authority.host().to_owned(),
            )),
            _ => None,
        };
        let host = parts.uri.host().map(str::to_owned).or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned())
        });
        let head = RequestHead {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            peer: peer.ip(),
            host,
            origin: origin.clone(),
        };
        // request_head
        let (ex, verdict) = self.engine.request_head(self.policies.current(), &head);
        let mut p = Pending::new(self.clone(), ex);
        if let Some((_, host)) = &origin
            && let Err((code, why)) = self.proxy_destination(host, None).await
        {
            let r = p.ex().forward_proxy_refused(code, why);
            return p.refuse(r);
        }
        if let Err(r) = verdict {
            return p.refuse(r);
        }

        // request_body: read within limits; with fail-open, bodies over the inspection limit
        // are still read (up to `max_uninspected_body`) to be forwarded uninspected
        let limits = &self.config.limits;
        let cap = p.ex().body_cap(&self.engine, limits.max_uninspected_body);
        let read = tokio::time::timeout(
            Duration::from_millis(limits.request_body_timeout_ms),
            Limited::new(body, cap).collect(),
        )
        .await;
        let raw = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Err(_) => {
                let r = p.ex().request_unread(&self.engine, ReadError::Timeout);
                return p.refuse(r);
            }
            Ok(Err(e)) => {
                let why = if e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ReadError::TooLarge
                } else {
                    ReadError::Broken
                };
                let r = p.ex().request_unread(&self.engine, why);
                return p.refuse(r);
            }
        };
        let t0 = Instant::now();
        let inspected = p.ex().request_body(&self.engine, &parts.headers, raw);
        self.metrics
            .inspect_seconds
            .observe(t0.elapsed().as_secs_f64());
        if let Err(r) = inspected {
            return p.refuse(r);
        }

        // admit: limits decided before anything goes upstream
        match p.ex().admission(&self.engine) {
            Admission::Free => {}
            Admission::Refuse(r) => {
                self.metrics.limit("refused");
                return p.refuse(r);
            }
            Admission::Check(plan) => {
                let answer = self.limiter.admit(&plan).await;
                self.metrics.limit(match &answer {
                    Ok(rampart_limits::Outcome::Admitted { .. }) => "admitted",
                    Ok(rampart_limits::Outcome::Denied(_)) => "refused",
                    Err(_) => "unavailable",
                });
                if let Err(r) = p.ex().admitted(&plan, answer) {
                    return p.refuse(r);
                }
            }
        }
        let ex = p.ex();
        tracing::debug!(id = %ex.id(), streaming = ex.streaming(), "forwarding");
        self.forward(p, parts.method).await
    }

    /// upstream, response_head, response_body, finish.
    async fn forward(
        self: Arc<Self>,
        mut p: Pending,
        method: http::Method,
    ) -> Response<GatewayBody> {
        let out = p.ex().take_outgoing();
        let base = p
            .ex()
            .route()
            .map(|r| r.base().to_owned())
            .unwrap_or_default();
        let uri = if out.query.is_empty() {
            format!("{base}{}", out.path)
        } else {
            format!("{base}{}?{}", out.path, out.query)
        };
        let mut req = Request::builder().method(method).uri(&uri);
        let injected = p.ex().provider().and_then(|pr| self.keys.get(pr.id()));
        for (name, value) in out.headers.iter() {
            let replaced = injected.is_some() && CREDENTIAL_HEADERS.contains(&name.as_str());
            if !HOP_BY_HOP.contains(&name.as_str()) && !replaced {
                req = req.header(name, value);
            }
        }
        if let Some((name, value)) = injected {
            req = req.header(name, value);
        }
        req = req.header(header::CONTENT_LENGTH, out.body.len());
        let req = match req.body(Full::new(out.body)) {
            Ok(r) => r,
            Err(e) => {
                let r = p
                    .ex()
                    .upstream_failed(UpstreamFailure::BadRequest(e.to_string()));
                return p.refuse(r);
            }
        };
        let limits = &self.config.limits;
        let asked = std::time::Instant::now();
        let upstream = tokio::time::timeout(
            Duration::from_millis(limits.upstream_timeout_ms),
            self.client.request(req),
        )
        .await;
        let resp = match upstream {
            Ok(Ok(resp)) => {
                let provider = p.ex().provider().map_or("api", |p| p.id());
                self.metrics
                    .upstream_seconds
                    .get_or_create(&crate::metrics::ProviderLabels {
                        provider: provider.to_owned(),
                    })
                    .observe(asked.elapsed().as_secs_f64());
                resp
            }
            Ok(Err(e)) => {
                let r = p
                    .ex()
                    .upstream_failed(UpstreamFailure::Unreachable(e.to_string()));
                return p.refuse(r);
            }
            Err(_) => {
                let r = p.ex().upstream_failed(UpstreamFailure::Timeout);
                return p.refuse(r);
            }
        };

        // response_head
        let (rparts, rbody) = resp.into_parts();
        let (mut headers, mode) = p.ex().response_head(&self.engine, &rparts.headers);
        if let ResponseBody::Stream(rewrite) = mode {
            return self.relay(p, rparts.status, headers, rbody, rewrite);
        }

        // response_body, whole
        let read = tokio::time::timeout(
            Duration::from_millis(limits.response_body_timeout_ms),
            Limited::new(rbody, limits.max_response_body).collect(),
        )
        .await;
        let raw = match read {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(_)) | Err(_) => {
                let r = p.ex().response_unread();
                return p.refuse(r);
            }
        };
        match p.ex().response_body(&self.engine, &mut headers, raw) {
            Ok(body) => p.answer(build(rparts.status, headers, body)),
            Err(r) => p.refuse(r),
        }
    }

    /// Sends a response on while `rewrite` inspects it frame by frame (idle timeout between
    /// frames); finishes the exchange when the stream ends.
    fn relay(
        self: Arc<Self>,
        mut p: Pending,
        status: StatusCode,
        headers: HeaderMap,
        mut body: Incoming,
        mut rewrite: Box<dyn Rewrite>,
    ) -> Response<GatewayBody> {
        let (tx, channel) = ChannelBody::new();
        let idle = Duration::from_millis(self.config.limits.stream_idle_timeout_ms);
        let gw = self.clone();
        tokio::spawn(async move {
            let mut end = StreamEnd::Done;
            loop {
                // a caller that leaves while the upstream is silent is noticed at once
                let next = tokio::select! {
                    next = tokio::time::timeout(idle, body.frame()) => next,
                    () = tx.closed() => {
                        end = StreamEnd::ClientGone;
                        break;
                    }
                };
                let frame = match next {
                    Err(_) => {
                        end = StreamEnd::Stalled;
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        end = StreamEnd::Broken(e.to_string());
                        break;
                    }
                    Ok(Some(Ok(frame))) => frame,
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let out = rewrite.push(&data);
                if !out.is_empty() && tx.send(Ok(out)).await.is_err() {
                    end = StreamEnd::ClientGone;
                    break;
                }
                if rewrite.blocked() {
                    // the rest of the upstream's answer is not read
                    break;
                }
            }
            if end != StreamEnd::ClientGone {
                let out = rewrite.finish();
                if !out.is_empty() && tx.send(Ok(out)).await.is_err() {
                    end = StreamEnd::ClientGone;
                }
                if rewrite.blocked() && !rewrite.ends_in_shape() {
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            "the response was blocked by policy",
                        )
                        .into()))
                        .await;
                }
                if let Some(why) = end.error() {
                    let _ = tx.send(Err(std::io::Error::other(why).into())).await;
                }
            }
            p.ex().stream_ended(&gw.engine, rewrite.as_ref(), end);
            p.finish(status.as_u16());
        });
        let mut resp = Response::new(http_body_util::BodyExt::boxed(channel));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    /// A `CONNECT` tunnel: allowed or refused by destination host, recorded either way. The
    /// tunnel carries TLS the gateway does not decrypt.
    async fn connect(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        let target = req
            .uri()
            .authority()
            .map(|a| (a.host().to_owned(), a.port_u16().unwrap_or(443)));
        let (ex, verdict) = self.engine.connect_head(
            self.policies.current(),
            &req.uri().to_string(),
            target.as_ref().map(|(h, port)| (h.as_str(), *port)),
            peer.ip(),
            req.headers(),
        );
        let mut p = Pending::new(self.clone(), ex);
        if let Err(r) = verdict {
            return p.refuse(r);
        }
        let Some((host, port)) = target else {
            return p.refuse(Refusal::new(
                400,
                Code::BadConnect,
                "CONNECT needs host:port",
            ));
        };
        let addrs = match self.proxy_destination(&host, Some(port)).await {
            Ok(addrs) => addrs,
            Err((code, why)) => {
                let r = p.ex().forward_proxy_refused(code, why);
                return p.refuse(r);
            }
        };
        let upstream = match tokio::time::timeout(
            Duration::from_millis(self.config.limits.upstream_timeout_ms),
            tokio::net::TcpStream::connect(&addrs[..]),
        )
        .await
        {
            Ok(Ok(s)) => s,
            _ => {
                let r = p.ex().tunnel_unreachable(&format!("{host}:{port}"));
                return p.refuse(r);
            }
        };
        p.finish(200);
        tokio::spawn(async move {
            let mut req = req;
            match hyper::upgrade::on(&mut req).await {
                Ok(upgraded) => {
                    let mut client = hyper_util::rt::TokioIo::new(upgraded);
                    let mut upstream = upstream;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
        });
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::OK;
        resp
    }

    /// Checks a destination a client names through the forward proxy: the proxy must be on,
    /// a tunnel's port allowed, and every address the host resolves to public unless
    /// `allow_private`; returns the addresses to connect to (checked, so a second lookup
    /// cannot change them) or the refusal's code and message.
    async fn proxy_destination(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<Vec<SocketAddr>, (Code, String)> {
        let fp = &self.config.forward_proxy;
        if !fp.enabled {
            return Err((
                Code::ForwardProxyOff,
                "forward-proxy requests and CONNECT are off; set forward_proxy.enabled: true in the configuration to serve them".into(),
            ));
        }
        if let Some(p) = port
            && !fp.connect_ports.contains(&p)
        {
            return Err((
                Code::PortRefused,
                format!(
                    "CONNECT to port {p} is not allowed; add it to forward_proxy.connect_ports"
                ),
            ));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((bare, port.unwrap_or(80))).await
        {
            Ok(a) => a.collect(),
            Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            return Err((Code::UpstreamError, format!("{host} could not be resolved")));
        }
        if !fp.allow_private && addrs.iter().any(|a| crate::config::is_restricted(a.ip())) {
            return Err((
                Code::DestinationRefused,
                format!(
                    "{host} is a loopback, private, link-local or metadata address; set forward_proxy.allow_private: true to allow it"
                ),
            ));
        }
        Ok(addrs)
    }

    /// Latency, status, the deciding rule, tokens and spend of a finished exchange.
    fn observe(&self, event: &rampart_exchange::AuditEvent) {
        use crate::metrics::{ModelLabels, ProviderLabels, RuleLabels, StatusLabels, TokenLabels};
        let m = &self.metrics;
        m.request_seconds
            .get_or_create(&ProviderLabels {
                provider: event.provider.clone(),
            })
            .observe(event.latency_ms / 1e3);
        m.responses
            .get_or_create(&StatusLabels {
                provider: event.provider.clone(),
                code: event.status.to_string(),
            })
            .inc();
        if let Some(rule) = &event.decided_by {
            m.rule_decisions
                .get_or_create(&RuleLabels {
                    rule: rule.clone(),
                    decision: format!("{:?}", event.decision).to_ascii_lowercase(),
                })
                .inc();
        }
        if let Some(u) = &event.usage {
            let prices = &self.engine.prices;
            // only models of the price table become labels: callers name models freely
            let model = event
                .model
                .as_deref()
                .filter(|m| prices.of(m).is_some())
                .unwrap_or("other")
                .to_owned();
            for (kind, n) in [("input", u.input), ("output", u.output)] {
                m.tokens
                    .get_or_create(&TokenLabels {
                        provider: event.provider.clone(),
                        model: model.clone(),
                        kind: kind.into(),
                    })
                    .inc_by(n);
            }
            let micros = match &event.limits {
                Some(l) => l.actual.cost_micros,
                None => {
                    prices
                        .cost(&event.provider, event.model.as_deref(), u.input, u.output)
                        .micros
                }
            };
            m.cost_usd
                .get_or_create(&ModelLabels {
                    provider: event.provider.clone(),
                    model,
                })
                .inc_by(micros as f64 / 1e6);
        }
    }

    /// Takes a finished exchange: metrics, the limits settled, the event to every sink.
    fn record(&self, done: Finished) {
        for fault in &done.faults {
            self.metrics.error(fault.as_str());
        }
        if let Some((ticket, actual)) = done.settle
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let limiter = self.limiter.clone();
            rt.spawn(async move { limiter.settle(&ticket, actual).await });
        }
        let event = done.event;
        self.metrics
            .exchanges
            .get_or_create(&ExchangeLabels {
                provider: event.provider.clone(),
                decision: format!("{:?}", event.decision).to_ascii_lowercase(),
            })
            .inc();
        self.observe(&event);
        for f in &event.findings {
            self.metrics
                .findings
                .get_or_create(&FindingLabels {
                    class: f.finding.class.name().into(),
                    direction: match f.direction {
                        rampart_core::Direction::Request => "request".into(),
                        rampart_core::Direction::Response => "response".into(),
                    },
                })
                .inc();
        }
        // only a block can ask for a quarantine: the policy set is not read otherwise
        if let Some(k) = &self.kubernetes
            && event.decision == rampart_core::Action::Block
        {
            k.consider(&event, &self.policies.current());
        }
        let event = Arc::new(event);
        self.console.record(&event);
        if let Some(d) = &self.discovery {
            ExchangeSink::record(d, event.clone());
        }
        ExchangeSink::record(&self.audit, event);
    }
}

fn build(status: StatusCode, mut headers: HeaderMap, body: Bytes) -> Response<GatewayBody> {
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
