//! The assembled gateway: upstreams → their stacks → aggregate → MCP-plane stack → dispatcher →
//! transports.
//!
//! [`GatewayBuilder`] (`builder.rs`) is the Rust API (the `toolgate` binary builds one from the
//! config file with a [`Registry`](crate::registry::Registry)); the stacks are assembled in
//! `stacks.rs`; [`Gateway::router`] is the HTTP service to mount (`router.rs`),
//! [`Gateway::serve`] runs it on a listener and [`Gateway::serve_stdio`] on stdin/stdout
//! (`serve.rs`); [`Gateway::reload`] swaps in the layers, routes and Host/Origin policy of a new
//! builder while serving (`reload.rs`).

mod builder;
mod reload;
mod router;
mod serve;
mod stacks;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::aggregate::Aggregate;
use crate::dispatcher::Dispatcher;
use crate::envelope::McpService;
use crate::server::{SseService, StreamableHttpService};

pub use crate::upstream::UpstreamSpec;
pub use builder::{BuildError, GatewayBuilder, Install};
pub use reload::Reloaded;
use reload::RestartSettings;
pub use router::{Router, Routes, health_report};
pub use stacks::UpstreamTarget;

/// What extra routes are built from: the assembled MCP-plane stack and its pieces.
#[derive(Clone, Debug)]
pub struct GatewayParts {
    /// The whole MCP-plane stack (routing, every layer, then the aggregate).
    pub service: McpService,
    /// The aggregate (upstreams, merged catalog, notifications).
    pub aggregate: Aggregate,
    /// The dispatcher (answers `initialize`, `ping`, … and calls `service`).
    pub dispatcher: Dispatcher,
    /// The Streamable HTTP endpoint (sessions open: `session_count`).
    pub streamable: StreamableHttpService,
    /// The legacy HTTP+SSE endpoint (sessions open: `session_count`).
    pub sse: SseService,
}

impl GatewayParts {
    /// A Streamable HTTP endpoint like the gateway's own — its limits, capabilities and
    /// notifications, sessions of its own — serving `service` instead of the MCP-plane stack:
    /// for a route that serves a view of the gateway (a toolset, say) wrapped around
    /// [`service`](Self::service).
    pub fn streamable_endpoint(&self, service: McpService) -> StreamableHttpService {
        self.streamable.over(self.dispatcher.over(service))
    }
}

/// A running gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<GatewayInner>,
}

#[derive(Debug)]
struct GatewayInner {
    /// What lives as long as the gateway (`service` is the stack it was built with).
    parts: GatewayParts,
    settings: RestartSettings,
    router: Router,
    shutdown: CancellationToken,
}

impl Gateway {
    /// The aggregate (health, tool names, notifications).
    pub fn aggregate(&self) -> &Aggregate {
        &self.inner.parts.aggregate
    }
    /// The dispatcher, to serve other transports.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.parts.dispatcher
    }
    /// The HTTP service: the MCP endpoint plus `/healthz` and `/readyz`. Mount it in a hyper or
    /// axum app, or use [`Gateway::serve`].
    pub fn router(&self) -> Router {
        self.inner.router.clone()
    }
    /// Stops serving and shuts the upstreams down (children get their stdin closed, then killed).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }
    /// Fires on shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, StatusCode};
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::dispatcher::Inbound;
    use crate::jsonrpc::{JsonRpcRequest, Method, RequestId};
    use crate::server::{HttpOptions, HttpRequest, HttpService};
    use crate::session::{Session, SessionInfo, TransportKind};
    use crate::upstream::StdioSpec;
    use crate::{McpRequest, McpResponse};

    /// A layer that answers every request itself with `{"from": text}`.
    fn answering(text: &'static str) -> impl Layer<McpService, Service = McpService> + Send {
        tower::layer::layer_fn(move |_inner: McpService| {
            McpService::new(tower::service_fn(move |_req: McpRequest| async move {
                McpResponse::from_typed(&serde_json::json!({ "from": text }))
            }))
        })
    }

    async fn ask(dispatcher: &Dispatcher, session: &Arc<Session>) -> String {
        let req = JsonRpcRequest::new(RequestId::Number(1), Method::ToolsList, None);
        let frame = dispatcher
            .request(session, req, Inbound::default())
            .await
            .expect("an answer");
        String::from_utf8_lossy(&frame).into_owned()
    }

    #[tokio::test]
    async fn reload_swaps_the_stack_and_routes_for_running_sessions() {
        let gateway = GatewayBuilder::new().layer(answering("old")).build();
        let dispatcher = gateway.dispatcher().clone();
        let session = Arc::new(Session::new(SessionInfo::new(None, TransportKind::Stdio)));
        assert!(ask(&dispatcher, &session).await.contains("old"));
        let extra = |req_path: &'static str| {
            Request::get(req_path)
                .header(http::header::HOST, "localhost")
                .body(http_body_util::Empty::<Bytes>::new())
                .expect("request")
        };
        let before = gateway.router().oneshot(extra("/extra")).await;
        assert_eq!(before.map(|r| r.status()).ok(), Some(StatusCode::NOT_FOUND));

        let reloaded = gateway.reload(GatewayBuilder::new().layer(answering("new")).route(
            "/extra",
            |_| {
                HttpService::new(tower::service_fn(|_req: HttpRequest| async {
                    Ok::<_, Infallible>(crate::server::plain(StatusCode::OK, "extra"))
                }))
            },
        ));
        assert!(reloaded.needs_restart.is_empty(), "{reloaded:?}");
        // The same session and the same dispatcher clone now reach the new stack.
        assert!(ask(&dispatcher, &session).await.contains("new"));
        let after = gateway.router().oneshot(extra("/extra")).await;
        assert_eq!(after.map(|r| r.status()).ok(), Some(StatusCode::OK));
    }

    #[test]
    fn changes_that_need_a_restart_are_named() {
        let spec = |cmd: &str| StdioSpec {
            command: cmd.into(),
            ..Default::default()
        };
        let old = GatewayBuilder::new()
            .stdio("a", spec("x"))
            .stdio("b", spec("y"));
        let new = GatewayBuilder::new()
            .stdio("a", spec("x2"))
            .stdio("c", spec("z"))
            .http_options(HttpOptions {
                max_body_bytes: 1,
                ..HttpOptions::default()
            });
        let changes = RestartSettings::of(&old).changes(&RestartSettings::of(&new));
        assert_eq!(
            changes,
            [
                "mcp_servers.a changed",
                "mcp_servers.c added",
                "mcp_servers.b removed",
                "server.max_body_bytes changed"
            ]
        );
        let same = GatewayBuilder::new()
            .stdio("a", spec("x"))
            .stdio("b", spec("y"));
        assert!(
            RestartSettings::of(&old)
                .changes(&RestartSettings::of(&same))
                .is_empty()
        );
    }
}
