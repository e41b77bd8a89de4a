//! The response body of the HTTP transports: one JSON buffer, a stream of SSE events, or bytes
//! passed through as they arrive (a proxied stream that is already framed).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// An HTTP response body: a whole buffer, or SSE events fed by a channel.
///
/// On a stream, every JSON-RPC frame sent becomes `event: message` + `data: …`; an empty frame
/// becomes a keep-alive comment; a frame starting with `event:` is sent as it is (already an
/// SSE event, such as legacy SSE's `endpoint`).
#[derive(Debug)]
pub struct McpBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Sse(mpsc::Receiver<Bytes>),
    Raw(mpsc::Receiver<Bytes>),
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
    /// An SSE stream of the frames sent into `rx`; it ends when every sender is gone.
    pub fn sse(rx: mpsc::Receiver<Bytes>) -> Self {
        McpBody {
            kind: Kind::Sse(rx),
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

/// Encodes one frame as an SSE event.
pub fn sse_event(frame: &[u8]) -> Bytes {
    if frame.is_empty() {
        return Bytes::from_static(b": keep-alive\n\n");
    }
    if frame.starts_with(b"event:") {
        return Bytes::copy_from_slice(frame);
    }
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
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Sse(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(Frame::data(sse_event(&frame))))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
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
            Kind::Sse(_) | Kind::Raw(_) => SizeHint::default(),
        }
    }
}
