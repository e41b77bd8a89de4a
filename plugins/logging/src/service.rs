//! [`Logging`]: one structured event per request, when it ends.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::future::ResponseFuture;
use crate::record::{Config, Record};

/// Logs every request through an inner MCP service.
#[derive(Clone)]
pub struct Logging<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for Logging<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logging")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S> Logging<S> {
    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Logging { inner, config }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for Logging<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let record = Record::new(&req, &self.config);
        ResponseFuture::new(self.inner.call(req), record, self.config.clone())
    }
}
