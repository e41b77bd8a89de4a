//! The stacks, assembled: the MCP plane (routing, then the policies, then the aggregate), each
//! upstream's own stack (ending in its connection), and the HTTP plane in front of the
//! transports. Read top to bottom: each line says what its layer does.

use std::collections::HashMap;
use std::sync::Arc;

use tower::Layer;

use super::GatewayParts;
use super::builder::{HttpStackFn, PerUpstreamFn, RouteFn, StackFn, UpstreamEntry};
use super::router::Routes;
use crate::aggregate::{Aggregate, RoutingLayer};
use crate::envelope::McpService;
use crate::server::{HttpService, OriginGuardLayer, OriginPolicy};
use crate::upstream::{DeadlineLayer, PerSession, Upstream, UpstreamOptions, UpstreamSpec};

/// What a per-upstream layer is told about the upstream whose stack it wraps.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct UpstreamTarget<'a> {
    /// The upstream's configured name.
    pub name: &'a str,
    /// How it is reached.
    pub spec: &'a UpstreamSpec,
}

/// The MCP-plane stack: routing, then the layers (the first added outermost), then the
/// aggregate.
pub(super) fn mcp_plane(stack: Vec<StackFn>, aggregate: &Aggregate) -> McpService {
    // Innermost: the aggregate answers lists and hands routed requests to upstream stacks.
    let mut service = McpService::new(aggregate.clone());
    // The policies, first added outermost; each reads the request's route, none resolves.
    for wrap in stack.into_iter().rev() {
        service = wrap(service);
    }
    // Outermost: the request's target is routed once (and, during the start-up grace, an
    // unroutable request waits for upstreams still starting).
    McpService::new(RoutingLayer::new(aggregate.clone()).layer(service))
}

/// One upstream's stack, outermost first: its own `layers:`, then what global policies add to
/// every upstream, then the hard deadline of one request, then the connection.
pub(super) fn upstream_stack(
    upstream: &Upstream,
    per_session: Option<&PerSession>,
    entry: UpstreamEntry,
    per_upstream: &[PerUpstreamFn],
    options: &UpstreamOptions,
) -> McpService {
    let target = UpstreamTarget {
        name: &entry.name,
        spec: &entry.spec,
    };
    // The connection: ids rewritten both ways, progress routed back, the request table —
    // shared by every client session, or each session's own (`session_mode: per_session`).
    let mut service = match per_session {
        Some(connections) => McpService::new(connections.clone()),
        None => McpService::new(upstream.clone()),
    };
    // For upstreams that act on the caller's behalf: the caller's JWT, exchanged (RFC 8693)
    // or passed through, on each call; a call without one is refused.
    if let Some(act_for_caller) = upstream.act_for_caller() {
        service = McpService::new(act_for_caller.layer(service));
    }
    // The ceiling of one upstream request (`server.request_timeout`): -31001, and the upstream
    // gets `notifications/cancelled`.
    service = McpService::new(
        DeadlineLayer::new(upstream.name(), options.request_timeout).layer(service),
    );
    // Added by global policies for every upstream (the tracing layer's CLIENT span and trace
    // context), first added outermost.
    for wrap in per_upstream.iter().rev() {
        service = wrap(&target, service);
    }
    // This server's own `layers:`, first listed outermost.
    for wrap in entry.layers.into_iter().rev() {
        service = wrap(service);
    }
    service
}

/// Every upstream's stack, in order, over the running connections (for reload).
pub(super) fn upstream_stacks(
    aggregate: &Aggregate,
    mut entries: Vec<UpstreamEntry>,
    per_upstream: &[PerUpstreamFn],
    options: &UpstreamOptions,
) -> Vec<McpService> {
    aggregate
        .members()
        .iter()
        .map(
            |m| match entries.iter().position(|e| e.name == m.upstream.name()) {
                Some(at) => {
                    let entry = entries.swap_remove(at);
                    upstream_stack(
                        &m.upstream,
                        m.per_session.as_ref(),
                        entry,
                        per_upstream,
                        options,
                    )
                }
                None => m.service.clone(),
            },
        )
        .collect()
}

/// Everything behind the Host/Origin guard: the HTTP-plane layers (the first added outermost)
/// over the MCP endpoint and the extra routes, built from `parts`.
pub(super) fn http_plane(
    parts: &GatewayParts,
    mcp_path: &str,
    routes: Vec<(String, RouteFn)>,
    http_stack: Vec<HttpStackFn>,
    origin: OriginPolicy,
) -> HttpService {
    let extra: HashMap<String, HttpService> = routes
        .into_iter()
        .map(|(path, make)| (path, make(parts)))
        .collect();
    let routes = Routes {
        streamable: parts.streamable.clone(),
        sse: parts.sse.clone(),
        mcp_path: mcp_path.trim_end_matches('/').into(),
        extra: Arc::new(extra),
    };
    let mut http = HttpService::new(routes);
    for wrap in http_stack.into_iter().rev() {
        http = wrap(http);
    }
    HttpService::new(OriginGuardLayer::new(origin).layer(http))
}
