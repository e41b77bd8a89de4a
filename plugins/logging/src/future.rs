//! The response future of [`Logging`](crate::Logging): emits the request's event when the
//! answer is there, or when the caller drops the request first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use toolgate::{McpError, McpResponse};

use crate::record::{Config, Outcome, Record};

/// Holds the record until the request ends; logs it as dropped if nobody waited for the end.
#[derive(Debug)]
struct Pending {
    record: Option<Box<Record>>,
    config: Arc<Config>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            record.emit(&self.config, Outcome::Dropped);
        }
    }
}

pin_project! {
    /// The inner service's future; logs its outcome.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Pending,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, record: Record, config: Arc<Config>) -> Self {
        ResponseFuture {
            inner,
            pending: Pending {
                record: Some(Box::new(record)),
                config,
            },
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
        if let Some(record) = this.pending.record.take() {
            let outcome = match &out {
                Ok(resp) => Outcome::Answered(resp),
                Err(e) => Outcome::Failed(e),
            };
            record.emit(&this.pending.config, outcome);
        }
        Poll::Ready(out)
    }
}
