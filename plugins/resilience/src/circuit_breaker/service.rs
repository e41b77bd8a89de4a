//! [`CircuitBreaker`]: admits or refuses each routed request by its circuit, and counts how it
//! ended.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use super::future::{Guard, ResponseFuture};
use super::state::{Admission, Breakers, Key};

/// The circuit breaker over an inner MCP service. Made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
#[derive(Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    breakers: Arc<Breakers>,
}

impl<S: fmt::Debug> fmt::Debug for CircuitBreaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> CircuitBreaker<S> {
    pub(crate) fn from_parts(inner: S, breakers: Arc<Breakers>) -> Self {
        CircuitBreaker { inner, breakers }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for CircuitBreaker<S>
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
        let Some(route) = req.route() else {
            return ResponseFuture::passed(self.inner.call(req));
        };
        let key = Key {
            server: route.server.clone(),
            tool: (self.breakers.policy.per_tool && *req.method() == Method::ToolsCall)
                .then(|| route.original.clone()),
        };
        let circuit = self.breakers.circuit(&key);
        let admission = circuit
            .lock()
            .admit(Instant::now(), &self.breakers.policy, &key);
        let probe = match admission {
            Admission::Refuse(e) => return ResponseFuture::refused(e),
            Admission::Pass => false,
            Admission::Probe => true,
        };
        let guard = Guard::new(circuit, self.breakers.clone(), probe);
        ResponseFuture::watched(self.inner.call(req), guard)
    }
}
