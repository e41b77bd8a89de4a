//! The admin page: what an operator wants to see at a glance, served by the gateway itself.
//!
//! - `GET /admin`: one HTML page (embedded in the binary: plain HTML, CSS and a small script,
//!   no build step) showing the upstreams with their status, reason, server, protocol version,
//!   tools and calls in flight (refreshed every two seconds); the merged catalog with a search
//!   box, each tool's input schema and OpenAI form, and a form that calls it; the open
//!   sessions.
//! - `GET /admin/api/status`: the JSON behind it — `/readyz`'s upstreams plus session counts —
//!   for scripts (`toolgate status URL`).
//! - `GET /admin/api/stats`: per-tool calls, errors and latency percentiles over the last five
//!   minutes in ten-second buckets, recorded by an MCP-plane layer ([`stats::StatsLayer`])
//!   the component adds where `use: admin` sits in the stack; the page's "Calls" section.
//!
//! The catalog and the call form use the gateway's REST routes (`/mcp-rest/tools/list`,
//! `/mcp-rest/tools/call`), so every MCP-plane policy applies to what the page shows and calls,
//! as to any client.
//!
//! **Who may see it.** A caller the HTTP plane authenticated (`use: auth`) whose subject is in
//! `callers` of `use: admin`; without authentication, only callers on a loopback address (the
//! peer address of the connection). Everyone else gets 403, and a request with no known peer
//! (the router mounted in another server) too. Nothing changes state on GET; the call form
//! POSTs JSON to the REST route, and the gateway's Host/Origin guard refuses requests from
//! other origins (and DNS-rebinding hosts) before any of this. The page's
//! `Content-Security-Policy` allows its own inline script and styles only, and no framing.

mod page;
mod settings;
pub mod stats;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Response, StatusCode};
use serde_json::Value;
use toolgate::gateway::{GatewayBuilder, GatewayParts, Install};
use toolgate::registry::{LayerError, LayerFactory, parse_config};
use toolgate::server::{
    HttpRequest, HttpService, McpBody, SseService, StreamableHttpService, plain,
};
use toolgate::{Identity, PeerAddr};

pub use settings::AdminSettings;

/// The paths served.
pub const PAGE_PATH: &str = "/admin";
/// The status API.
pub const STATUS_PATH: &str = "/admin/api/status";
/// The per-tool call statistics API.
pub const STATS_PATH: &str = "/admin/api/stats";

/// The admin page and its API, as one component: `builder.with(Admin::new())`.
#[derive(Debug, Clone, Default)]
pub struct Admin {
    callers: Vec<String>,
}

impl Admin {
    /// Loopback callers only (without authentication); no authenticated caller.
    pub fn new() -> Self {
        Admin::default()
    }

    /// Lets the authenticated caller `subject` in.
    #[must_use]
    pub fn caller(mut self, subject: impl Into<String>) -> Self {
        self.callers.push(subject.into());
        self
    }
}

impl Install for Admin {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        let access = Arc::new(Access {
            callers: self.callers,
        });
        let a = access.clone();
        let s = access.clone();
        let stats = stats::Stats::new();
        let recorder = stats.clone();
        builder
            .layer(stats::StatsLayer::new(recorder))
            .route(STATS_PATH, move |_| {
                HttpService::new(AdminService {
                    access: s,
                    view: View::Stats(stats),
                })
            })
            .route(PAGE_PATH, move |_| {
                HttpService::new(AdminService {
                    access: a,
                    view: View::Page,
                })
            })
            .route(STATUS_PATH, move |parts| {
                HttpService::new(AdminService {
                    access,
                    view: View::Status(Box::new(StatusParts::of(parts))),
                })
            })
    }
}

/// `use: admin` ([`AdminSettings`]): who may see the admin page.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminFactory;

impl LayerFactory for AdminFactory {
    fn name(&self) -> &str {
        "admin"
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(AdminSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: AdminSettings = parse_config("admin", config)?;
        let admin = settings
            .callers
            .into_iter()
            .fold(Admin::new(), |a, c| a.caller(c));
        Ok(builder.with(admin))
    }
}

#[derive(Debug)]
struct Access {
    callers: Vec<String>,
}

impl Access {
    /// Whether the request may see the admin page, and if not, why.
    fn check(&self, req: &HttpRequest) -> Result<(), &'static str> {
        if let Some(identity) = req.extensions().get::<Identity>() {
            return if self.callers.contains(&identity.subject) {
                Ok(())
            } else {
                Err("this identity is not an admin: add it to `callers` of `use: admin`")
            };
        }
        match req.extensions().get::<PeerAddr>() {
            Some(PeerAddr(addr)) if addr.ip().is_loopback() => Ok(()),
            _ => Err(
                "the admin page answers loopback callers only, or admins authenticated by `use: auth`",
            ),
        }
    }
}

#[derive(Clone, Debug)]
struct StatusParts {
    aggregate: toolgate::aggregate::Aggregate,
    streamable: StreamableHttpService,
    sse: SseService,
}

impl StatusParts {
    fn of(parts: &GatewayParts) -> Self {
        StatusParts {
            aggregate: parts.aggregate.clone(),
            streamable: parts.streamable.clone(),
            sse: parts.sse.clone(),
        }
    }

    fn json(&self) -> Value {
        let (ready, mut report) = toolgate::gateway::health_report(&self.aggregate);
        report["ready"] = ready.into();
        report["sessions"] = serde_json::json!({
            "streamable_http": self.streamable.session_count(),
            "sse": self.sse.session_count(),
        });
        report["version"] = env!("CARGO_PKG_VERSION").into();
        report
    }
}

#[derive(Clone, Debug)]
enum View {
    Page,
    Status(Box<StatusParts>),
    Stats(stats::Stats),
}

#[derive(Clone, Debug)]
struct AdminService {
    access: Arc<Access>,
    view: View,
}

fn with_type(mut r: Response<McpBody>, content_type: &'static str) -> Response<McpBody> {
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

impl tower::Service<HttpRequest> for AdminService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let resp = if let Err(why) = self.access.check(&req) {
            plain(StatusCode::FORBIDDEN, why)
        } else if req.method() != Method::GET {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} answers GET only", req.uri().path()),
            );
            r.headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
            r
        } else {
            match &self.view {
                View::Page => {
                    let mut r = with_type(
                        Response::new(McpBody::full(page::PAGE)),
                        "text/html; charset=utf-8",
                    );
                    // The page's own script and styles only; nothing may frame it.
                    r.headers_mut().insert(
                        http::header::CONTENT_SECURITY_POLICY,
                        http::HeaderValue::from_static(
                            "default-src 'self'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                        ),
                    );
                    r
                }
                View::Status(parts) => with_type(
                    Response::new(McpBody::full(parts.json().to_string())),
                    "application/json",
                ),
                View::Stats(stats) => with_type(
                    Response::new(McpBody::full(stats.json().to_string())),
                    "application/json",
                ),
            }
        };
        Box::pin(async move { Ok(resp) })
    }
}
