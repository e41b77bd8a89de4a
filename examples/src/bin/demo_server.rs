//! `demo-server`: a small MCP server used as the upstream in toolgate's tests
//! and benchmarks.
//!
//! It is built on the official Rust SDK (`rmcp`) and speaks MCP over stdio
//! (the default) or over rmcp's Streamable HTTP server at `/mcp`.
//!
//! ```text
//! demo-server [--transport stdio|http] [--listen 127.0.0.1:PORT] [--name NAME]
//!             [--json-response] [--stateless]
//! ```
//!
//! Tools:
//!
//! | tool           | arguments                          | result                                        |
//! | :-             | :-                                 | :-                                            |
//! | `echo`         | `{message: string}`                | text `message`                                |
//! | `add`          | `{a: number, b: number}`           | text `"5"`, `structuredContent: {"sum": 5}`   |
//! | `sleep`        | `{ms: integer, steps?: integer}`   | text `"slept {ms}ms"`, progress if requested  |
//! | `fail`         | `{message: string}`                | `isError: true`, text `message`               |
//! | `crash`        | `{after_ms?: integer}`             | exits the process with code 3, no answer      |
//! | `toggle_extra` | `{}`                               | text `"extra on"` / `"extra off"`             |
//! | `extra`        | `{}` (only listed while toggled on)| text `"extra"`                                |
//! | `whoami`       | `{}`                               | text: the `--name` of this server             |
//!
//! Resources: `demo://readme` (text `toolgate demo server`) and the template
//! `demo://echo/{text}`, whose read returns the (percent-decoded) `text`.
//! Prompt: `greet {name}` returns one user message `Hello, {name}!`.
//!
//! The `extra` toggle is process-wide. `toggle_extra` sends
//! `notifications/tools/list_changed` to the calling legacy session before
//! its result is returned (over stdio it precedes the response; over HTTP
//! sessions rmcp routes it to the session's GET stream), to every other live
//! legacy session, and to every 2026-07-28 `subscriptions/listen` stream
//! that asked for `toolsListChanged`.
//!
//! Logs go to stderr only (stdout carries MCP in stdio mode). The default
//! filter is `warn,rmcp::service=error` so that nothing is logged per call;
//! set `RUST_LOG` to change it.
//!
//! On stdin EOF (stdio mode) rmcp lets in-flight calls finish for up to 5 s,
//! then the process exits 0. SIGTERM or ctrl-c exits 0 at once.

use std::{
    borrow::Cow,
    convert::Infallible,
    io::IsTerminal,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use rmcp::{
    ErrorData as McpError, Peer, RoleServer, ServerHandler, ServiceExt,
    handler::server::{
        router::{prompt::PromptRouter, tool::ToolRouter},
        tool::{ToolCallContext, schema_for_output},
        wrapper::Parameters,
    },
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
        ProgressNotificationParam, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
        Role, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
    },
    prompt, prompt_router,
    service::{NotificationContext, RequestContext, ServerInitializeError, SubscriptionContext},
    tool, tool_router,
    transport::{
        stdio_pipes,
        streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        },
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Path the Streamable HTTP endpoint is served at.
const MCP_PATH: &str = "/mcp";
/// URI of the fixed text resource.
const README_URI: &str = "demo://readme";
/// Text of the fixed text resource.
const README_TEXT: &str = "toolgate demo server";
/// Prefix of the `demo://echo/{text}` resource template.
const ECHO_PREFIX: &str = "demo://echo/";
/// Name of the tool that `toggle_extra` adds and removes.
const EXTRA_TOOL: &str = "extra";
/// Process exit code of the `crash` tool.
const CRASH_EXIT_CODE: i32 = 3;
/// Log filter used when `RUST_LOG` is unset. rmcp logs every JSON-RPC error
/// response at `warn` from `rmcp::service`; keep that quiet so error-path
/// tests and benchmarks do not log per call.
const DEFAULT_LOG_FILTER: &str = "warn,rmcp::service=error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportKind {
    /// MCP over stdin/stdout (newline-delimited JSON-RPC).
    Stdio,
    /// rmcp's Streamable HTTP server at `/mcp`.
    Http,
}

/// A small MCP server for exercising toolgate.
#[derive(Debug, Parser)]
#[command(name = "demo-server", version)]
struct Cli {
    /// Transport to serve MCP on.
    #[arg(long, value_enum, default_value_t = TransportKind::Stdio)]
    transport: TransportKind,

    /// Address to bind in http mode (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,

    /// serverInfo.name reported by initialize (and returned by `whoami`).
    #[arg(long, default_value = "demo-server")]
    name: String,

    /// http mode: answer POSTs with a single application/json body instead of
    /// an SSE stream when the answer is a lone response. rmcp honours this
    /// only for requests served statelessly (`--stateless`, or 2026-07-28
    /// requests); legacy session POSTs always get SSE.
    #[arg(long)]
    json_response: bool,

    /// http mode: no sessions (rmcp `legacy_session_mode = false`); every
    /// POST is served by a fresh handler, GET and DELETE answer 405.
    #[arg(long)]
    stateless: bool,

    /// http mode with `--stateless`: answer GET with 404 instead of 405, as some sessionless
    /// servers in the field do (toolgate's tests of such upstreams use it).
    #[arg(long, requires = "stateless")]
    get_not_found: bool,
}

// ---------------------------------------------------------------------------
// Tool and prompt parameters
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
struct EchoArgs {
    /// Text to return verbatim.
    message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct AddArgs {
    /// First addend.
    a: f64,
    /// Second addend.
    b: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct AddOutput {
    /// `a + b`.
    sum: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SleepArgs {
    /// Total time to sleep, in milliseconds.
    ms: u64,
    /// Progress notifications to send, evenly spaced, if `_meta.progressToken` is set (default 0).
    #[serde(default)]
    steps: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct FailArgs {
    /// Text of the tool error.
    message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CrashArgs {
    /// Delay before the process exits, in milliseconds (default 0).
    #[serde(default)]
    after_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
}

// ---------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------

/// State shared by every handler instance of the process (one per stdio
/// connection, per HTTP session, or per stateless HTTP request).
struct Shared {
    name: String,
    info: ServerConfig,
    tools: ToolRouter<DemoServer>,
    prompts: PromptRouter<DemoServer>,
    /// Tool list while `extra` is off, sorted by name.
    tools_off: Vec<Tool>,
    /// Tool list while `extra` is on, sorted by name.
    tools_on: Vec<Tool>,
    extra_tool: Tool,
    extra_enabled: AtomicBool,
    /// Bumped on every toggle; `subscriptions/listen` streams watch it.
    tools_changed: tokio::sync::watch::Sender<u64>,
    /// Live legacy sessions that finished `initialize`, keyed by instance id.
    sessions: Mutex<Vec<(u64, Peer<RoleServer>)>>,
    next_instance: AtomicU64,
}

/// The MCP handler. Cheap to construct: the HTTP transport builds one per
/// session (or per request when stateless).
#[derive(Clone)]
struct DemoServer {
    shared: Arc<Shared>,
    instance: u64,
}

impl std::fmt::Debug for DemoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoServer")
            .field("name", &self.shared.name)
            .field("instance", &self.instance)
            .finish()
    }
}

impl Shared {
    fn new(name: String) -> Arc<Self> {
        let tools = DemoServer::tool_router();
        let prompts = DemoServer::prompt_router();
        let extra_tool = Tool::new(
            EXTRA_TOOL,
            "Only listed after toggle_extra; returns \"extra\".",
            rmcp::handler::server::common::schema_for_empty_input(),
        );
        let tools_off = tools.list_all();
        let mut tools_on = tools_off.clone();
        tools_on.push(extra_tool.clone());
        tools_on.sort_by(|a, b| a.name.cmp(&b.name));
        let capabilities = ServerCapabilities::builder()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(name.clone(), env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "toolgate demo server: echo, add, sleep, fail, crash, toggle_extra, whoami.",
            );
        let (tools_changed, _) = tokio::sync::watch::channel(0);
        Arc::new(Self {
            name,
            info,
            tools,
            prompts,
            tools_off,
            tools_on,
            extra_tool,
            extra_enabled: AtomicBool::new(false),
            tools_changed,
            sessions: Mutex::new(Vec::new()),
            next_instance: AtomicU64::new(0),
        })
    }
}

impl DemoServer {
    fn new(shared: Arc<Shared>) -> Self {
        let instance = shared.next_instance.fetch_add(1, Ordering::Relaxed);
        Self { shared, instance }
    }
}

/// Whether the request is served under the 2026-07-28+ lifecycle, where
/// list-change notifications travel only on `subscriptions/listen` streams.
fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A JSON number for `value`: an integer when it is one (so `2 + 3` gives
/// `5`, not `5.0`), `None` when it is not finite.
fn json_number(value: f64) -> Option<serde_json::Number> {
    const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT_INT {
        return Some(serde_json::Number::from(value as i64));
    }
    serde_json::Number::from_f64(value)
}

/// Percent-decodes `input`; returns it unchanged when it is not valid
/// percent-encoded UTF-8.
fn percent_decode(input: &str) -> Cow<'_, str> {
    if !input.contains('%') {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => return Cow::Borrowed(input),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(input),
    }
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

#[tool_router]
impl DemoServer {
    /// Returns `message` unchanged as text.
    #[tool(description = "Echo the message back as text.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> CallToolResult {
        text_result(args.message)
    }

    /// Adds two numbers; text and structured output.
    #[tool(
        description = "Add two numbers. Text content is the sum; structuredContent is {\"sum\": a+b}.",
        output_schema = schema_for_output::<AddOutput>()
    )]
    async fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> CallToolResult {
        let Some(sum) = json_number(a + b) else {
            return CallToolResult::error(vec![ContentBlock::text(format!(
                "sum of {a} and {b} is not a finite number"
            ))]);
        };
        let mut result = text_result(sum.to_string());
        result.structured_content = Some(serde_json::json!({ "sum": sum }));
        result
    }

    /// Sleeps, optionally reporting progress, and honours cancellation.
    #[tool(
        description = "Sleep for ms milliseconds. With _meta.progressToken, sends `steps` evenly spaced progress notifications. Stops when cancelled."
    )]
    async fn sleep(
        &self,
        Parameters(SleepArgs { ms, steps }): Parameters<SleepArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let start = tokio::time::Instant::now();
        let total = Duration::from_millis(ms);
        let steps = steps.unwrap_or(0);
        let token = if steps > 0 {
            context.meta.get_progress_token()
        } else {
            None
        };
        let cancelled = || McpError::internal_error("sleep cancelled", None);
        if let Some(token) = token {
            for step in 1..=steps {
                let deadline = start + total.mul_f64(f64::from(step) / f64::from(steps));
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = context.ct.cancelled() => return Err(cancelled()),
                }
                let progress = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps))
                    .with_message(format!("step {step}/{steps}"));
                if let Err(error) = context.peer.notify_progress(progress).await {
                    tracing::debug!(%error, "progress notification not delivered");
                }
            }
        } else {
            tokio::select! {
                () = tokio::time::sleep_until(start + total) => {}
                () = context.ct.cancelled() => return Err(cancelled()),
            }
        }
        Ok(text_result(format!("slept {ms}ms")))
    }

    /// Returns a tool error (isError: true), not a JSON-RPC error.
    #[tool(description = "Return a tool error (isError: true) whose text is message.")]
    async fn fail(&self, Parameters(args): Parameters<FailArgs>) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(args.message)])
    }

    /// Exits the process with code 3 without answering.
    #[tool(
        description = "Exit the whole server process with code 3 after after_ms (default 0), without answering."
    )]
    async fn crash(&self, Parameters(args): Parameters<CrashArgs>) -> CallToolResult {
        let delay = args.after_ms.unwrap_or(0);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        std::process::exit(CRASH_EXIT_CODE);
    }

    /// Flips the `extra` tool and announces the tool list change.
    #[tool(
        description = "Add the `extra` tool if absent, remove it if present, then send notifications/tools/list_changed."
    )]
    async fn toggle_extra(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let now_on = !self.shared.extra_enabled.fetch_xor(true, Ordering::AcqRel);
        self.announce_tool_list_change(&context).await;
        text_result(if now_on { "extra on" } else { "extra off" })
    }

    /// Returns this server's `--name`.
    #[tool(description = "Return this server's name (the --name option).")]
    async fn whoami(&self) -> CallToolResult {
        text_result(self.shared.name.clone())
    }
}

impl DemoServer {
    /// Tells every interested client that the tool list changed: the caller
    /// first (inline, so the notification precedes the tool result on the
    /// same connection), then other legacy sessions, then 2026-07-28
    /// `subscriptions/listen` streams.
    async fn announce_tool_list_change(&self, context: &RequestContext<RoleServer>) {
        if !is_modern(context)
            && let Err(error) = context.peer.notify_tool_list_changed().await
        {
            tracing::debug!(%error, "tools/list_changed not delivered to caller");
        }
        let others: Vec<Peer<RoleServer>> = match self.shared.sessions.lock() {
            Ok(mut sessions) => {
                sessions.retain(|(_, peer)| !peer.is_transport_closed());
                sessions
                    .iter()
                    .filter(|(instance, _)| *instance != self.instance)
                    .map(|(_, peer)| peer.clone())
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for peer in others {
            tokio::spawn(async move {
                if let Err(error) = peer.notify_tool_list_changed().await {
                    tracing::debug!(%error, "tools/list_changed not delivered to a session");
                }
            });
        }
        self.shared.tools_changed.send_modify(|generation| {
            *generation = generation.wrapping_add(1);
        });
    }
}

// ---------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------

#[prompt_router]
impl DemoServer {
    /// Greets someone.
    #[prompt(name = "greet", description = "Greet someone by name.")]
    async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            format!("Hello, {}!", args.name),
        )]
    }
}

// ---------------------------------------------------------------------------
// ServerHandler
// ---------------------------------------------------------------------------

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Ok(mut sessions) = self.shared.sessions.lock() {
            sessions.retain(|(_, peer)| !peer.is_transport_closed());
            sessions.push((self.instance, context.peer));
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = if self.shared.extra_enabled.load(Ordering::Acquire) {
            &self.shared.tools_on
        } else {
            &self.shared.tools_off
        };
        Ok(ListToolsResult::with_all_items(tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if name == EXTRA_TOOL {
            return self
                .shared
                .extra_enabled
                .load(Ordering::Acquire)
                .then(|| self.shared.extra_tool.clone());
        }
        self.shared.tools.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name == EXTRA_TOOL {
            return if self.shared.extra_enabled.load(Ordering::Acquire) {
                Ok(text_result(EXTRA_TOOL).into())
            } else {
                Err(McpError::invalid_params("tool not found", None))
            };
        }
        let call = ToolCallContext::new(self, request, context);
        self.shared.tools.call(call).await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(
            self.shared.prompts.list_all(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let prompt = rmcp::handler::server::prompt::PromptContext::new(
            self,
            request.name,
            request.arguments,
            context,
        );
        self.shared.prompts.get_prompt(prompt).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let readme = Resource::new(README_URI, "readme")
            .with_description("About this server.")
            .with_mime_type("text/plain");
        Ok(ListResourcesResult::with_all_items(vec![readme]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let echo = ResourceTemplate::new("demo://echo/{text}", "echo")
            .with_description("Reading demo://echo/X returns X.")
            .with_mime_type("text/plain");
        Ok(ListResourceTemplatesResult::with_all_items(vec![echo]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let text = if request.uri == README_URI {
            README_TEXT.to_owned()
        } else if let Some(rest) = request.uri.strip_prefix(ECHO_PREFIX) {
            percent_decode(rest).into_owned()
        } else {
            return Err(McpError::resource_not_found(
                format!("resource not found: {}", request.uri),
                Some(serde_json::json!({ "uri": request.uri })),
            ));
        };
        let contents = ResourceContents::text(text, request.uri);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.shared.tools_changed.subscribe();
        let wants_tools = context.accepted().tools_list_changed == Some(true);
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if wants_tools && context.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// Resolves when SIGTERM or SIGINT (ctrl-c) arrives.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve_stdio(shared: Arc<Shared>) -> anyhow::Result<()> {
    let server = DemoServer::new(shared);
    let running = tokio::select! {
        served = server.serve(stdio_pipes()) => served,
        () = shutdown_signal() => return Ok(()),
    };
    let running = match running {
        Ok(running) => running,
        // stdin closed before the client sent anything: a clean exit.
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(error) => return Err(error).context("MCP initialization over stdio failed"),
    };
    tokio::select! {
        quit = running.waiting() => {
            quit.context("stdio service task failed")?;
        }
        () = shutdown_signal() => {}
    }
    Ok(())
}

type HttpBody = BoxBody<Bytes, Infallible>;

fn not_found() -> Response<HttpBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Not Found")).boxed());
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response
}

async fn serve_http(shared: Arc<Shared>, cli: &Cli) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot bind {}", cli.listen))?;
    let addr = listener.local_addr().context("cannot read bound address")?;

    let ct = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!cli.stateless)
        .with_json_response(cli.json_response)
        .with_cancellation_token(ct.child_token());
    if !addr.ip().is_loopback() {
        // rmcp only accepts loopback Host headers by default (DNS rebinding
        // protection); a server bound elsewhere is meant to be reached there.
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(DemoServer::new(shared.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );

    eprintln!("demo-server listening on http://{addr}{MCP_PATH}");

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let service = service.clone();
        let get_not_found = cli.get_not_found;
        tokio::spawn(async move {
            let handler = service_fn(move |request: Request<Incoming>| {
                let service = service.clone();
                async move {
                    if request.uri().path() != MCP_PATH
                        || (get_not_found && request.method() == http::Method::GET)
                    {
                        return Ok::<_, Infallible>(not_found());
                    }
                    Ok(service.handle(request).await)
                }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await
            {
                tracing::debug!(%error, "http connection ended with an error");
            }
        });
    }
    ct.cancel();
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging();
    let shared = Shared::new(cli.name.clone());
    let result = match cli.transport {
        TransportKind::Stdio => serve_stdio(shared).await,
        TransportKind::Http => serve_http(shared, &cli).await,
    };
    // Exit explicitly: a pending stdin read or live HTTP connections must
    // not keep the runtime alive after EOF or a shutdown signal.
    match result {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("demo-server: {error:#}");
            std::process::exit(1);
        }
    }
}
