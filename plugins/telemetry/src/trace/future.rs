//! The response future of [`McpTrace`](super::McpTrace): ends the span with the outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use opentelemetry::Context;
use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

pin_project! {
    /// Resolves to the inner service's answer; records it on the request's span first. If the
    /// future is dropped (the request was abandoned), the span ends when its context is dropped.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cx: Context,
        tool_call: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, cx: Context, tool_call: bool) -> Self {
        ResponseFuture {
            inner,
            cx,
            tool_call,
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        super::finish(this.cx, out.as_ref().map(|r| &*r.result), *this.tool_call);
        Poll::Ready(out)
    }
}
