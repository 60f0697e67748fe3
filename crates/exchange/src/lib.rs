//! Rampart's exchange core, sans IO: the phases one inspected request and its response go
//! through, over a per-exchange context ([`Exchange`]), each returning a typed outcome. The
//! core reads no socket, starts no timer and calls no store: a front end (the hyper gateway
//! today; an Envoy external processor could be another) reads and writes, and hands the core
//! what it read.
//!
//! | phase | function | outcome |
//! |---|---|---|
//! | request head | [`Engine::request_head`] (or [`Engine::connect_head`]) | route, caller, policy set, egress lists; `Err(Refusal)` |
//! | request body | [`Exchange::request_body`] (or [`Exchange::request_unread`]) | decode once, scan once, parse once; decide; the [`Outgoing`] request, rewritten only where policy redacts; `Err(Refusal)` |
//! | admit | [`Exchange::admission`] then [`Exchange::admitted`] | a limits [`rampart_limits::Plan`] for the front end's limiter, its answer judged |
//! | upstream | [`Exchange::take_outgoing`]; on failure [`Exchange::upstream_failed`] | |
//! | response head | [`Exchange::response_head`] | headers inspected; [`ResponseBody::Whole`] or [`ResponseBody::Stream`] with its rewriter |
//! | response body | [`Exchange::response_body`] or [`Rewrite`] then [`Exchange::stream_ended`] | the body to send; `Err(Refusal)` |
//! | finish | [`Exchange::finish`] ([`Exchange::client_gone`] first when the caller left) | one [`AuditEvent`], what the limits settle, the faults met |
//!
//! Refusals are values ([`Refusal`]) rendered in one place ([`Refusal::render`]): the
//! provider's own error shape, or an RFC 9457 problem document for API routes. What the
//! exchange ended as is an [`Outcome`], never a free-form string.
#![forbid(unsafe_code)]

pub mod engine;
pub mod event;
mod exchange;
pub mod identity;
pub mod llm;
pub mod refusal;
mod request;
mod response;
pub mod sse;
pub mod stream;

pub use engine::{ApiRoute, BodyLimits, Engine, RequestHead, Sampler};
pub use event::{AuditEvent, Bodies, ExchangeSink, Outcome};
pub use exchange::{Exchange, Fault, Finished, Outgoing, Route};
pub use refusal::{Code, Refusal, Rendered};
pub use request::{Admission, ReadError, content_encoding, decode_body, path_safe, redactor};
pub use response::{ResponseBody, StreamEnd, UpstreamFailure};
pub use stream::{Rewrite, TextRewrite, stream_rules};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
