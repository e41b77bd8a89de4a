//! The response future of [`McpMetrics`](super::McpMetrics): records the outcome when it is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

use super::{Labels, Metrics};
use crate::semconv::{CANCELLED, TOOL_ERROR};

pin_project! {
    /// Resolves to the inner service's answer and records its duration and outcome. A request
    /// abandoned before it finished (the future dropped) is not recorded.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        metrics: Metrics,
        labels: Labels,
        tool_call: bool,
        start: Instant,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, metrics: Metrics, labels: Labels, tool_call: bool) -> Self {
        ResponseFuture {
            inner,
            metrics,
            labels,
            tool_call,
            start: Instant::now(),
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let code;
        let error_type = match &out {
            Err(e) if e.is_cancelled() => CANCELLED,
            Err(e) => {
                code = e.code().to_string();
                code.as_str()
            }
            Ok(r) if *this.tool_call && crate::trace::is_tool_error(&r.result) => TOOL_ERROR,
            Ok(_) => "",
        };
        this.metrics
            .record(this.labels, this.start.elapsed(), error_type);
        Poll::Ready(out)
    }
}
