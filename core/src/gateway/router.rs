//! The gateway's HTTP routes: `/healthz` and `/readyz` answered at once, everything else
//! through the Host/Origin guard and the HTTP-plane layers to the MCP transports and the extra
//! routes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower::{Service, ServiceExt};

use crate::aggregate::{Aggregate, MemberHealth};
use crate::server::{
    BoxError, HttpRequest, HttpService, McpBody, SseService, StreamableHttpService, box_request,
};
use crate::upstream::UpstreamStatus;

/// The gateway's HTTP routes. `/healthz` and `/readyz` are answered directly; everything
/// else goes through the Host/Origin guard and the HTTP-plane layers to [`Routes`] — as they
/// are after the latest [`Gateway::reload`](super::Gateway::reload).
#[derive(Clone, Debug)]
pub struct Router {
    pub(super) guarded: Arc<ArcSwap<HttpService>>,
    aggregate: Aggregate,
}

impl Router {
    pub(super) fn new(guarded: Arc<ArcSwap<HttpService>>, aggregate: Aggregate) -> Self {
        Router { guarded, aggregate }
    }
}

impl<B> Service<Request<B>> for Router
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let resp = match req.uri().path() {
            "/healthz" => crate::server::plain(StatusCode::OK, "ok"),
            "/readyz" => readyz(&self.aggregate),
            _ => {
                let guarded = HttpService::clone(&self.guarded.load());
                return Box::pin(guarded.oneshot(box_request(req)));
            }
        };
        Box::pin(async move { Ok(resp) })
    }
}

/// The guarded routes by path — relative to where the router is mounted, so it can be nested
/// (`axum::Router::nest_service`): Streamable HTTP at the MCP path (with and without a trailing
/// slash), legacy SSE at `/sse` + `…/messages` and on a session-less GET of the MCP path, and the
/// extra routes layers added (REST, chat, metrics …). Anything else is 404.
#[derive(Clone, Debug)]
pub struct Routes {
    pub(super) streamable: StreamableHttpService,
    pub(super) sse: SseService,
    pub(super) mcp_path: Arc<str>,
    pub(super) extra: Arc<HashMap<String, HttpService>>,
}

impl Routes {
    /// The spec's backwards-compatibility rule: a GET of the MCP path with no session and an
    /// `Accept: text/event-stream` is a 2024-11-05 client looking for the `endpoint` event.
    fn is_legacy_get<B>(req: &Request<B>) -> bool {
        let h = req.headers();
        req.method() == http::Method::GET
            && !h.contains_key("mcp-session-id")
            && !h.contains_key("mcp-protocol-version")
            && crate::server::accepts(h, "text/event-stream")
    }
}

impl Service<HttpRequest> for Routes {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let path = req.uri().path();
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        if trimmed == "/sse" || trimmed == "/messages" {
            return self.sse.call(req);
        }
        if trimmed == &*self.mcp_path {
            if Self::is_legacy_get(&req) {
                return self.sse.call(req);
            }
            return self.streamable.call(req);
        }
        if let Some(route) = self.extra.get(path).or_else(|| self.extra.get(trimmed)) {
            return Box::pin(route.clone().oneshot(req));
        }
        // Legacy SSE names its POST URL relative to the stream (`messages?session_id=…`), so a
        // stream opened at `/mcp/` posts to `/mcp/messages`.
        if trimmed.ends_with("/messages") {
            return self.sse.call(req);
        }
        let resp = crate::server::plain(
            StatusCode::NOT_FOUND,
            format!("no route for {path}; the MCP endpoint is {}", self.mcp_path),
        );
        Box::pin(async move { Ok(resp) })
    }
}

fn readyz(aggregate: &Aggregate) -> Response<McpBody> {
    let (any_ready, body) = health_report(aggregate);
    let body = body.to_string();
    let mut r = Response::new(McpBody::full(body));
    *r.status_mut() = if any_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// What `/readyz` says, as JSON (`{"ready": …, "upstreams": […]}`), and whether any upstream
/// is ready: for other views of the gateway's health (the admin page).
pub fn health_report(aggregate: &Aggregate) -> (bool, serde_json::Value) {
    let health = aggregate.health();
    let any_ready = health.iter().any(MemberHealth::is_ready);
    let upstreams: Vec<serde_json::Value> = health
        .iter()
        .map(|h| {
            let failing = h.checks.iter().find(|c| !c.passing);
            let mut entry = match (&h.status, failing) {
                // Connected, but a layer keeps requests away from it (an open circuit).
                (UpstreamStatus::Ready(_), Some(check)) => serde_json::json!({
                    "name": h.name, "status": "failing", "reason": check.reason,
                    "tools": h.tools, "inflight": h.inflight,
                }),
                (UpstreamStatus::Ready(info), None) => serde_json::json!({
                    "name": h.name, "status": "ready", "tools": h.tools, "inflight": h.inflight,
                    "server": info.server_info.name, "protocolVersion": info.protocol_version,
                }),
                (UpstreamStatus::Starting, _) => serde_json::json!({
                    "name": h.name, "status": "starting",
                    "reason": format!(
                        "started {:.1} s ago; no answer to initialize yet",
                        h.started.elapsed().as_secs_f64()
                    ),
                }),
                (UpstreamStatus::Down { reason }, _) => {
                    serde_json::json!({"name": h.name, "status": "down", "reason": reason})
                }
            };
            if !h.checks.is_empty()
                && let Some(obj) = entry.as_object_mut()
            {
                let checks: serde_json::Map<String, serde_json::Value> = h
                    .checks
                    .iter()
                    .map(|c| {
                        let mut v = serde_json::json!({"passing": c.passing, "reason": c.reason});
                        if let (Some(v), Some(detail)) = (v.as_object_mut(), c.detail.as_object()) {
                            v.extend(detail.clone());
                        }
                        (c.name.to_string(), v)
                    })
                    .collect();
                obj.insert("checks".into(), checks.into());
            }
            if let Some(obj) = entry.as_object_mut() {
                obj.insert("transport".into(), h.transport.into());
                obj.insert("restarts".into(), h.restarts.into());
            }
            if !h.replicas.is_empty()
                && let Some(obj) = entry.as_object_mut()
            {
                let replicas: Vec<serde_json::Value> = h
                    .replicas
                    .iter()
                    .map(|r| {
                        let mut v = match &r.status {
                            UpstreamStatus::Ready(_) => serde_json::json!({"status": "ready"}),
                            UpstreamStatus::Starting => serde_json::json!({"status": "starting"}),
                            UpstreamStatus::Down { reason } => {
                                serde_json::json!({"status": "down", "reason": reason})
                            }
                        };
                        if let Some(v) = v.as_object_mut() {
                            v.insert("name".into(), r.name.clone().into());
                            v.insert("inflight".into(), r.inflight.into());
                            if let Some(left) = r.ejected_for {
                                v.insert("ejectedForMs".into(), (left.as_millis() as u64).into());
                            }
                        }
                        v
                    })
                    .collect();
                obj.insert("replicas".into(), replicas.into());
            }
            entry
        })
        .collect();
    (
        any_ready,
        serde_json::json!({"ready": any_ready, "upstreams": upstreams}),
    )
}
