//! The hard deadline of one upstream request: every upstream's stack has one, just above the
//! connection (`server.request_timeout`). On expiry the caller gets -31001 and the request's
//! table entry is dropped, which sends the upstream `notifications/cancelled`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use crate::envelope::{McpRequest, McpResponse};
use crate::error::{ErrorKind, McpError};

/// Fails a request that its upstream did not answer within a limit.
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    server: Arc<str>,
    limit: Duration,
}

impl<S> Deadline<S> {
    /// `inner` (the stack of upstream `server`), bounded by `limit` per request.
    pub fn new(inner: S, server: impl Into<Arc<str>>, limit: Duration) -> Self {
        Deadline {
            inner,
            server: server.into(),
            limit,
        }
    }
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// [`Deadline`] as a layer.
#[derive(Clone, Debug)]
pub struct DeadlineLayer {
    server: Arc<str>,
    limit: Duration,
}

impl DeadlineLayer {
    /// Bounds each request to upstream `server` by `limit`.
    pub fn new(server: impl Into<Arc<str>>, limit: Duration) -> Self {
        DeadlineLayer {
            server: server.into(),
            limit,
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            server: self.server.clone(),
            limit: self.limit,
        }
    }
}

impl<S> Service<McpRequest> for Deadline<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let method = req.method().as_str().to_owned();
        let call = self.inner.call(req);
        let (server, limit) = (self.server.clone(), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                // Dropping `call` drops the request's table entry: the upstream is told.
                Err(_) => Err(McpError::gateway(
                    ErrorKind::Timeout,
                    &server,
                    true,
                    format!("upstream '{server}' did not answer {method} within {limit:?}"),
                )),
            }
        })
    }
}
