//! The response future of [`Authorize`](super::Authorize): a denial, the inner answer, or the
//! inner answer with a list filtered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

use super::ListFilter;

pin_project! {
    /// Resolves to the inner service's answer (lists filtered) or to the denial.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Denied { error: Option<McpError> },
        Forward { #[pin] future: F },
        Filtered { #[pin] future: F, filter: ListFilter },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn denied(error: McpError) -> Self {
        ResponseFuture {
            kind: Kind::Denied { error: Some(error) },
        }
    }
    pub(crate) fn forward(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Forward { future },
        }
    }
    pub(crate) fn filtered(future: F, filter: ListFilter) -> Self {
        ResponseFuture {
            kind: Kind::Filtered { future, filter },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, E>>,
    E: From<McpError>,
{
    type Output = Result<McpResponse, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Denied { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| McpError::internal("response future polled after completion"))
                .into())),
            KindProj::Forward { future } => future.poll(cx),
            KindProj::Filtered { future, filter } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(filter.apply(response).map_err(E::from))
            }
        }
    }
}
