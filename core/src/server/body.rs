//! The response body of the HTTP transports: one JSON buffer, a stream of SSE events made from
//! [`Outbound`] messages, or bytes passed through as they arrive (a proxied stream that is
//! already framed).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::outbound::Outbound;

/// A stream was cut off by the gateway (its client stopped reading). Ending the body with an
/// error makes hyper drop the connection and everything still queued for it.
#[derive(Debug, thiserror::Error)]
#[error("the stream was cut off: the client does not read it")]
pub struct CutOff;

/// An HTTP response body: a whole buffer, or SSE events fed by a channel.
///
/// On a stream, every JSON-RPC message becomes `event: message` + `data: …`,
/// [`Outbound::KeepAlive`] a comment, and [`Outbound::Endpoint`] legacy SSE's `endpoint` event.
#[derive(Debug)]
pub struct McpBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Sse {
        rx: mpsc::Receiver<Outbound>,
        cut: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    },
    Raw(mpsc::Receiver<Bytes>),
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Full(b) => f.debug_tuple("Full").field(b).finish(),
            Kind::Sse { cut, .. } => f
                .debug_struct("Sse")
                .field("cuttable", &cut.is_some())
                .finish(),
            Kind::Raw(_) => f.debug_tuple("Raw").finish(),
        }
    }
}

impl McpBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        McpBody {
            kind: Kind::Full(Some(bytes.into())),
        }
    }
    /// An empty body.
    pub fn empty() -> Self {
        McpBody {
            kind: Kind::Full(None),
        }
    }
    /// An SSE stream of the messages sent into `rx`; it ends when every sender is gone.
    pub fn sse(rx: mpsc::Receiver<Outbound>) -> Self {
        McpBody {
            kind: Kind::Sse { rx, cut: None },
        }
    }
    /// Like [`McpBody::sse`], but when `cut` fires the body fails at once: the connection is
    /// dropped with whatever was still queued, instead of waiting for a client that does not
    /// read.
    pub fn sse_until(rx: mpsc::Receiver<Outbound>, cut: CancellationToken) -> Self {
        McpBody {
            kind: Kind::Sse {
                rx,
                cut: Some(Box::pin(cut.cancelled_owned())),
            },
        }
    }
    /// The bytes sent into `rx`, unchanged and in order (a proxied stream that is already
    /// framed, such as an upstream's SSE); it ends when every sender is gone.
    pub fn channel(rx: mpsc::Receiver<Bytes>) -> Self {
        McpBody {
            kind: Kind::Raw(rx),
        }
    }
}

/// Encodes one message as an SSE event.
pub fn sse_event(message: &Outbound) -> Bytes {
    match message {
        Outbound::KeepAlive => Bytes::from_static(b": keep-alive\n\n"),
        Outbound::Endpoint(url) => Bytes::from(format!("event: endpoint\ndata: {url}\n\n")),
        other => match other.to_json() {
            Some(frame) => message_event(&frame),
            None => Bytes::from_static(b": keep-alive\n\n"),
        },
    }
}

/// `event: message` with one JSON-RPC frame as its data.
pub fn message_event(frame: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(frame.len() + 24);
    out.put_slice(b"event: message\ndata: ");
    // JSON text carries no raw newline inside strings; whitespace newlines would split the event.
    for &b in frame {
        out.put_u8(if b == b'\n' || b == b'\r' { b' ' } else { b });
    }
    out.put_slice(b"\n\n");
    out.freeze()
}

impl Body for McpBody {
    type Data = Bytes;
    type Error = CutOff;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, CutOff>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Sse { rx, cut } => {
                if let Some(c) = cut
                    && c.as_mut().poll(cx).is_ready()
                {
                    rx.close();
                    return Poll::Ready(Some(Err(CutOff)));
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => {
                        Poll::Ready(Some(Ok(Frame::data(sse_event(&frame)))))
                    }
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
            Kind::Raw(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Sse { .. } | Kind::Raw(_) => SizeHint::default(),
        }
    }
}
