//! The response future of [`ConcurrencyLimit`](super::ConcurrencyLimit): holds the request's
//! slots until the inner service answers (or the caller drops it).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

use super::Permit;

pin_project! {
    /// Either the inner service's future with the slots it holds, or the "busy" answer.
    #[derive(Debug)]
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// The request runs and holds its slots.
        Called {
            #[pin]
            future: F,
            permits: Vec<Permit>,
        },
        /// A cap was full.
        Rejected {
            error: Option<McpError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F, permits: Vec<Permit>) -> Self {
        ResponseFuture::Called { future, permits }
    }
    pub(crate) fn rejected(error: McpError) -> Self {
        ResponseFuture::Rejected { error: Some(error) }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Called { future, permits } => {
                let out = std::task::ready!(future.poll(cx));
                // Free the slots the moment the answer exists, not when the future is dropped.
                permits.clear();
                Poll::Ready(out)
            }
            Proj::Rejected { error } => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                McpError::internal("concurrency-limit future polled after completion")
            }))),
        }
    }
}
