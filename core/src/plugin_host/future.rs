//! [`ResponseFuture`] of the [`Dylib`](super::Dylib) service: the inner future untouched for
//! requests the plugin does not want, or the boxed hook sequence for those it does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::envelope::McpResponse;
use crate::error::McpError;

pub(crate) type Hooked = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

pin_project! {
    /// The response future of [`Dylib`](super::Dylib).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Bypass { #[pin] future: F },
        Hooked { future: Hooked },
    }
}

impl<F> ResponseFuture<F> {
    /// The plugin is not interested: the inner future as it is.
    pub(crate) fn bypass(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Bypass { future },
        }
    }
    /// The request goes through the plugin's hooks.
    pub(crate) fn hooked(future: Hooked) -> Self {
        ResponseFuture {
            kind: Kind::Hooked { future },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Bypass { .. } => "bypass",
            Kind::Hooked { .. } => "hooked",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Bypass { future } => future.poll(cx),
            KindProj::Hooked { future } => future.as_mut().poll(cx),
        }
    }
}
