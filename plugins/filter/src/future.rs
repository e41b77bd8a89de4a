//! The response future of [`ToolFilter`](crate::ToolFilter).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

use toolgate::aggregate::Resolve;

use crate::service::Shared;

pin_project! {
    /// The inner answer (a `tools/list` one filtered), or "unknown tool" at once.
    #[derive(Debug)]
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// Passed on unchanged.
        Forwarded {
            #[pin]
            future: F,
        },
        /// A `tools/list` whose answer is filtered.
        Listed {
            #[pin]
            future: F,
            shared: Arc<Shared>,
            routes: Option<Arc<dyn Resolve>>,
        },
        /// A denied or renamed-away tool.
        Refused {
            error: Option<McpError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn forwarded(future: F) -> Self {
        ResponseFuture::Forwarded { future }
    }
    pub(crate) fn listed(future: F, shared: Arc<Shared>, routes: Option<Arc<dyn Resolve>>) -> Self {
        ResponseFuture::Listed {
            future,
            shared,
            routes,
        }
    }
    pub(crate) fn refused(error: McpError) -> Self {
        ResponseFuture::Refused { error: Some(error) }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Forwarded { future } => future.poll(cx),
            Proj::Listed {
                future,
                shared,
                routes,
            } => {
                let resp = ready!(future.poll(cx))?;
                Poll::Ready(match routes.as_deref() {
                    Some(routes) => shared.filter_list(resp, routes),
                    // An unrouted list cannot be mapped to servers: nothing is shown.
                    None => Err(McpError::internal(
                        "tool_filter needs routed requests (a gateway routes every request)",
                    )),
                })
            }
            Proj::Refused { error } => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                McpError::internal("tool-filter future polled after completion")
            }))),
        }
    }
}
