//! The response future of [`RateLimit`](super::RateLimit).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

pin_project! {
    /// Either the inner service's future, or the rejection, answered at once.
    #[derive(Debug)]
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// The request passed: the inner service's answer.
        Called {
            #[pin]
            future: F,
        },
        /// A limit refused it.
        Rejected {
            error: Option<McpError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F) -> Self {
        ResponseFuture::Called { future }
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
            Proj::Called { future } => future.poll(cx),
            Proj::Rejected { error } => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                McpError::internal("rate-limit future polled after completion")
            }))),
        }
    }
}
