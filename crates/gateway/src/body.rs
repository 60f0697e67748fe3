//! Response bodies the gateway produces: whole buffers and channels fed by a streaming task.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

/// The error type of gateway bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any body the gateway answers with.
pub type GatewayBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed chunk by chunk through a channel; an `Err` ends it with that error.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it (a bounded channel: a slow caller slows the
    /// upstream reads instead of filling memory).
    pub fn new() -> (mpsc::Sender<Result<Bytes, BoxError>>, ChannelBody) {
        let (tx, rx) = mpsc::channel(16);
        (tx, ChannelBody { rx })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}
