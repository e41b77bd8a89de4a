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

mod control;
mod login;
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

pub use control::{ConfigControl, ReloadOutcome};
pub use settings::AdminSettings;

/// The paths served.
pub const PAGE_PATH: &str = "/admin";
/// The status API.
pub const STATUS_PATH: &str = "/admin/api/status";
/// The per-tool call statistics API.
pub const STATS_PATH: &str = "/admin/api/stats";
/// The running config (credentials masked) and the last reload's outcome.
pub const CONFIG_PATH: &str = "/admin/api/config";
/// POST: reload the config file (with the page's token in `X-Toolgate-Admin`).
pub const RELOAD_PATH: &str = "/admin/api/reload";
/// The catalog as the REST route lists it (`/mcp-rest/tools/list`), under `/admin`.
pub const TOOLS_LIST_PATH: &str = "/admin/api/tools/list";
/// A tool call as the REST route makes it (`/mcp-rest/tools/call`), under `/admin`.
pub const TOOLS_CALL_PATH: &str = "/admin/api/tools/call";
/// The login form for browsers under `use: auth` (public; sets the `toolgate_admin` cookie
/// that `use: auth` accepts under `/admin` only).
pub const LOGIN_PATH: &str = "/admin/login";
/// POST (with the page's token): forget the login cookie.
pub const LOGOUT_PATH: &str = "/admin/api/logout";

/// The header a state-changing admin request carries the page's token in.
pub const TOKEN_HEADER: &str = "x-toolgate-admin";

/// How long a reload request waits for the reload's outcome.
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The admin page and its API, as one component: `builder.with(Admin::new())`.
#[derive(Debug, Clone, Default)]
pub struct Admin {
    callers: Vec<String>,
    control: Option<ConfigControl>,
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

    /// Shows the running config file and offers its reload (the program that loaded the
    /// config does the reloading: see [`ConfigControl`]).
    #[must_use]
    pub fn config_control(mut self, control: ConfigControl) -> Self {
        self.control = Some(control);
        self
    }
}

impl Install for Admin {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        let control = self.control.unwrap_or_else(|| ConfigControl::new(None));
        let access = Arc::new(Access {
            callers: self.callers,
            token: control.token().to_owned(),
        });
        let a = access.clone();
        let s = access.clone();
        let c = access.clone();
        let r = access.clone();
        let (tl, tc, lo) = (access.clone(), access.clone(), access.clone());
        let reload = control.clone();
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
            .route(LOGIN_PATH, |_| HttpService::new(login::LoginService))
            .route(LOGOUT_PATH, move |_| {
                HttpService::new(AdminService {
                    access: lo,
                    view: View::Logout,
                })
            })
            .route(TOOLS_LIST_PATH, move |parts| {
                let rest = toolgate_openai::RestService::list(
                    parts,
                    &toolgate_openai::OpenAiOptions::default(),
                );
                HttpService::new(AdminService {
                    access: tl,
                    view: View::Rest(HttpService::new(rest)),
                })
            })
            .route(TOOLS_CALL_PATH, move |parts| {
                let rest = toolgate_openai::RestService::call(
                    parts,
                    &toolgate_openai::OpenAiOptions::default(),
                );
                HttpService::new(AdminService {
                    access: tc,
                    view: View::Rest(HttpService::new(rest)),
                })
            })
            .route(CONFIG_PATH, move |_| {
                HttpService::new(AdminService {
                    access: c,
                    view: View::Config(control),
                })
            })
            .route(RELOAD_PATH, move |_| {
                HttpService::new(AdminService {
                    access: r,
                    view: View::Reload(reload),
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
#[derive(Debug, Clone, Default)]
pub struct AdminFactory {
    control: Option<ConfigControl>,
}

impl AdminFactory {
    /// The factory; the pages it installs show no config.
    pub fn new() -> Self {
        AdminFactory::default()
    }

    /// The pages it installs show the running config and offer its reload.
    #[must_use]
    pub fn config_control(mut self, control: ConfigControl) -> Self {
        self.control = Some(control);
        self
    }
}

impl LayerFactory for AdminFactory {
    fn name(&self) -> &str {
        "admin"
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(AdminSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: AdminSettings = parse_config("admin", config)?;
        let mut admin = settings
            .callers
            .into_iter()
            .fold(Admin::new(), |a, c| a.caller(c));
        if let Some(control) = &self.control {
            admin = admin.config_control(control.clone());
        }
        Ok(builder.with(admin))
    }
}

#[derive(Debug)]
struct Access {
    callers: Vec<String>,
    /// Put in the page; state-changing requests must carry it (a cross-site form cannot).
    token: String,
}

impl Access {
    /// Whether the request carries the page's token (for requests that change state).
    fn token_in(&self, req: &HttpRequest) -> bool {
        req.headers()
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == self.token)
    }

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
        let list: Vec<Value> = self
            .streamable
            .sessions()
            .into_iter()
            .chain(self.sse.sessions())
            .map(|s| {
                serde_json::json!({
                    "transport": format!("{:?}", s.transport),
                    "protocolVersion": s.protocol_version,
                    "client": s.client,
                    "identity": s.identity,
                    "ageSeconds": s.age.as_secs(),
                    "inflight": s.inflight,
                })
            })
            .collect();
        report["session_list"] = list.into();
        report["version"] = env!("CARGO_PKG_VERSION").into();
        report
    }
}

#[derive(Clone, Debug)]
enum View {
    Page,
    Status(Box<StatusParts>),
    Stats(stats::Stats),
    Config(ConfigControl),
    Reload(ConfigControl),
    /// The REST route's service, behind the admin page's access rule.
    Rest(HttpService),
    /// Forgets the login cookie.
    Logout,
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
        if let Err(why) = self.access.check(&req) {
            let resp = plain(StatusCode::FORBIDDEN, why);
            return Box::pin(async move { Ok(resp) });
        }
        if let View::Rest(rest) = &self.view {
            // A call changes things upstream: only with the page's token, like a reload.
            if req.method() == Method::POST && !self.access.token_in(&req) {
                let resp = plain(
                    StatusCode::FORBIDDEN,
                    "a call from the admin page needs the page's token in X-Toolgate-Admin",
                );
                return Box::pin(async move { Ok(resp) });
            }
            return Box::pin(tower::ServiceExt::oneshot(rest.clone(), req));
        }
        let wanted = if matches!(self.view, View::Reload(_) | View::Logout) {
            Method::POST
        } else {
            Method::GET
        };
        if req.method() != wanted {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} answers {wanted} only", req.uri().path()),
            );
            if let Ok(allow) = http::HeaderValue::from_str(wanted.as_str()) {
                r.headers_mut().insert(http::header::ALLOW, allow);
            }
            return Box::pin(async move { Ok(r) });
        }
        let json = |v: Value| {
            with_type(
                Response::new(McpBody::full(v.to_string())),
                "application/json",
            )
        };
        let resp = match &self.view {
            View::Page => {
                let mut r = with_type(
                    Response::new(McpBody::full(page::render(&self.access.token))),
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
            View::Status(parts) => json(parts.json()),
            View::Stats(stats) => json(stats.json()),
            View::Config(control) => json(control.json()),
            View::Rest(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "unreachable"),
            View::Logout => {
                if !self.access.token_in(&req) {
                    plain(
                        StatusCode::FORBIDDEN,
                        "a logout needs the admin page's token in X-Toolgate-Admin",
                    )
                } else {
                    let mut r = Response::new(McpBody::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r.headers_mut().insert(
                        http::header::SET_COOKIE,
                        http::HeaderValue::from_static(
                            "toolgate_admin=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0",
                        ),
                    );
                    r
                }
            }
            View::Reload(control) => {
                if !self.access.token_in(&req) {
                    let resp = plain(
                        StatusCode::FORBIDDEN,
                        "a reload needs the admin page's token in X-Toolgate-Admin (reload from the page)",
                    );
                    return Box::pin(async move { Ok(resp) });
                }
                let control = control.clone();
                return Box::pin(async move {
                    Ok(match control.reload(RELOAD_WAIT).await {
                        Some(o) => json(serde_json::json!({
                            "at": o.at, "applied": o.applied, "message": o.message,
                        })),
                        None => plain(
                            StatusCode::CONFLICT,
                            "nothing to reload: the gateway runs without --config, or the reload \
                             did not finish within 10 s",
                        ),
                    })
                });
            }
        };
        Box::pin(async move { Ok(resp) })
    }
}
