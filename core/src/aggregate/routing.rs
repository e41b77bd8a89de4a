//! The routing step in front of the MCP plane: every request's target is resolved here, once,
//! and every layer below reads the answer from the request ([`McpRequest::route`]).
//!
//! During the start-up grace it is also the gate: a request whose target is not routable yet
//! (or a list) waits for the upstreams still on their first start, so that every layer — not
//! just the aggregate — decides on a complete catalog (a rate limit per server must not miss the
//! first calls). The grace is counted from start-up, not per request, and a call whose target
//! is already routable never waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use super::{Aggregate, Resolve};
use crate::envelope::{McpRequest, McpResponse, McpService};
use crate::error::McpError;

/// Routes each request with an [`Aggregate`]'s tables before `inner` sees it.
#[derive(Clone, Debug)]
pub struct Routing {
    inner: McpService,
    aggregate: Aggregate,
    routes: Arc<dyn Resolve>,
}

impl Routing {
    /// Routes requests for `inner` with `aggregate`.
    pub fn new(inner: McpService, aggregate: Aggregate) -> Self {
        Routing {
            inner,
            routes: Arc::new(aggregate.clone()),
            aggregate,
        }
    }
}

/// Puts [`Routing`] in front of a stack.
#[derive(Clone, Debug)]
pub struct RoutingLayer {
    aggregate: Aggregate,
}

impl RoutingLayer {
    /// Routes with `aggregate`'s tables.
    pub fn new(aggregate: Aggregate) -> Self {
        RoutingLayer { aggregate }
    }
}

impl Layer<McpService> for RoutingLayer {
    type Service = Routing;
    fn layer(&self, inner: McpService) -> Routing {
        Routing::new(inner, self.aggregate.clone())
    }
}

impl Service<McpRequest> for Routing {
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: McpRequest) -> Self::Future {
        req.route_with(self.routes.clone());
        if req.route().is_some() || self.aggregate.is_settled() {
            return self.inner.call(req);
        }
        let inner = self.inner.clone();
        let aggregate = self.aggregate.clone();
        let routes = self.routes.clone();
        Box::pin(async move {
            aggregate.settle().await;
            // Decided again on the catalog as it is now.
            req.route_with(routes);
            inner.oneshot(req).await
        })
    }
}
