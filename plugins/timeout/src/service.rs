//! [`Timeout`]: gives each request its deadline, watches its progress, and cancels it upstream
//! when time runs out.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::future::{NO_PROGRESS, ResponseFuture, Timing};
use crate::layer::TimeoutLayer;
use crate::policy::Policy;

/// Enforces deadlines on the requests of an inner MCP service.
///
/// The request's cancellation token is replaced by a child the layer controls: on expiry the
/// layer cancels it, so the upstream connection sends `notifications/cancelled` and drops a
/// late answer, and the caller gets `-31001`. A client's own cancellation still reaches the
/// upstream through the parent.
#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S: fmt::Debug> fmt::Debug for Timeout<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S> Timeout<S> {
    pub(crate) fn from_parts(inner: S, policy: Arc<Policy>) -> Self {
        Timeout { inner, policy }
    }
    /// Wraps `inner` with the deadlines of `layer`.
    pub fn new(inner: S, layer: &TimeoutLayer) -> Self {
        layer.wrap(inner)
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

impl<S> Service<McpRequest> for Timeout<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: McpRequest) -> Self::Future {
        let is_tool = *req.method() == Method::ToolsCall;
        let (server, tool) = match req.route() {
            Some(route) => (
                Some(route.server.to_string()),
                is_tool.then(|| route.original.to_string()),
            ),
            None => (None, None),
        };
        let Some(deadline) = self.policy.deadline_for(server.as_deref(), tool.as_deref()) else {
            return ResponseFuture::untimed(self.inner.call(req));
        };
        let what = match req.target() {
            Some(target) => format!("{} {target}", req.method()),
            None => req.method().to_string(),
        };
        let cancel = req.ctx.cancel.child_token();
        req.ctx.cancel = cancel.clone();
        let start = tokio::time::Instant::now();
        let progress = deadline.max_total().map(|_| {
            let last = Arc::new(AtomicU64::new(NO_PROGRESS));
            let seen = last.clone();
            req.ctx.downstream = req.ctx.downstream.clone().observed(move |message| {
                if message.is_progress() {
                    let at = u64::try_from(start.elapsed().as_nanos()).unwrap_or(NO_PROGRESS - 1);
                    seen.store(at, Ordering::Relaxed);
                }
            });
            last
        });
        let timing = Timing {
            deadline,
            start,
            progress,
            cancel,
            what,
            server,
        };
        ResponseFuture::timed(self.inner.call(req), timing)
    }
}
