//! toolgate's OpenAI format adapter.
//!
//! - [`convert`]: MCP tools, tool calls and results ↔ OpenAI function calling, usable without
//!   the gateway (names mapped reversibly, schemas normalised, optional strict mode);
//! - [`client`]: the same over an rmcp client peer — [`client::load_mcp_tools`],
//!   [`client::call_openai_tool`] — the Rust counterpart of LiteLLM's `experimental_mcp_client`;
//! - [`rest`]: `GET /mcp-rest/tools/list` and `POST /mcp-rest/tools/call` (and `/mcp/tools/…`);
//! - [`chat`]: `POST /v1/chat/completions` in front of `model_list`, streaming passed through,
//!   and MCP tools run by the gateway for the model; `GET /v1/models`.
//!
//! [`install`] adds the routes to a [`GatewayBuilder`]:
//!
//! ```no_run
//! # fn run(config: toolgate::config::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use toolgate::registry::Registry;
//! use toolgate_openai::OpenAiOptions;
//!
//! let builder = Registry::new().builder(&config)?;
//! let builder = toolgate_openai::install(builder, &config.model_list, OpenAiOptions::default());
//! # Ok(()) }
//! ```
//!
//! The routes call the gateway's MCP plane, so every MCP-plane policy applies to them, with the
//! caller's [`Identity`](toolgate::Identity) from the HTTP plane. See `docs/openai.md`.

#![warn(missing_docs)]

pub mod chat;
pub mod client;
pub mod convert;
mod error;
mod http;
mod plane;
pub mod rest;

use std::sync::Arc;

use toolgate::config::ModelEntry;
use toolgate::gateway::GatewayBuilder;
use toolgate::server::HttpService;

pub use chat::{ChatService, Models, ModelsService};
pub use error::{Error, ErrorKind};
pub use plane::Endpoint;
pub use rest::RestService;

/// Rounds of server-side tool calls one chat request may take by default.
pub const DEFAULT_MAX_TOOL_ROUNDS: usize = 8;

/// Settings of the REST and chat routes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenAiOptions {
    /// Most rounds of MCP tool calls the gateway runs for one chat request before it gives up
    /// with an error (default [`DEFAULT_MAX_TOOL_ROUNDS`]).
    pub max_tool_rounds: usize,
    /// Offer MCP tools with `strict: true` schemas where they have a strict form (default off).
    pub strict: bool,
    /// Largest request body (default 4 MiB, like `server.max_body_bytes`).
    pub max_body_bytes: usize,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            max_tool_rounds: DEFAULT_MAX_TOOL_ROUNDS,
            strict: false,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

impl OpenAiOptions {
    /// Sets [`max_tool_rounds`](Self::max_tool_rounds).
    #[must_use]
    pub fn max_tool_rounds(mut self, rounds: usize) -> Self {
        self.max_tool_rounds = rounds;
        self
    }
    /// Sets [`strict`](Self::strict).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// Checks every `model_list` entry (for `toolgate check` and start-up): the first that cannot
/// be served is an [`ErrorKind::Model`] error that names it and says what to fix.
pub fn check_models(models: &[ModelEntry]) -> Result<(), Error> {
    Models::from_config(models).map(|_| ())
}

/// Adds the REST tool routes, the chat-completions routes for `models` and the model list to
/// `builder`. Entries of `models` that cannot be served are logged and answer with their
/// config error (use [`check_models`] first to refuse them at start-up).
pub fn install(
    builder: GatewayBuilder,
    models: &[ModelEntry],
    options: OpenAiOptions,
) -> GatewayBuilder {
    let models = Arc::new(Models::from_config_lenient(models));
    let mut b = builder;
    for (list, call) in rest::PATHS {
        let o = options.clone();
        b = b.route(list, move |parts| {
            HttpService::new(RestService::list(parts, &o))
        });
        let o = options.clone();
        b = b.route(call, move |parts| {
            HttpService::new(RestService::call(parts, &o))
        });
    }
    for path in chat::CHAT_PATHS {
        let (o, m) = (options.clone(), models.clone());
        b = b.route(path, move |parts| {
            HttpService::new(ChatService::new(parts, m, &o))
        });
    }
    for path in chat::MODELS_PATHS {
        let m = models.clone();
        b = b.route(path, move |_| HttpService::new(ModelsService::new(m)));
    }
    b
}

/// The OpenAI adapter as one component, `builder.with(OpenAi::new(&models, options))`: the same
/// routes as [`install`].
#[derive(Debug, Clone)]
pub struct OpenAi {
    models: Vec<ModelEntry>,
    options: OpenAiOptions,
}

impl OpenAi {
    /// REST tool routes and chat completions for `models`.
    pub fn new(models: &[ModelEntry], options: OpenAiOptions) -> Self {
        OpenAi {
            models: models.to_vec(),
            options,
        }
    }
}

impl toolgate::gateway::Install for OpenAi {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        install(builder, &self.models, self.options)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! A gateway whose MCP plane is a `tower-test` mock: tests answer its requests by hand.

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use toolgate::aggregate::Aggregate;
    use toolgate::gateway::GatewayParts;
    use toolgate::server::{HttpRequest, McpBody};
    use toolgate::{Dispatcher, McpError, McpRequest, McpResponse, McpService};
    use tower::ServiceExt;

    /// The mock's handle: `next_request()` yields what the routes sent to the MCP plane.
    pub(crate) type Handle = tower_test::mock::Handle<McpRequest, McpResponse>;

    /// Parts whose `service` is a mock; errors sent as [`McpError`] keep their kind.
    pub(crate) fn mock_parts() -> (GatewayParts, Handle) {
        let (mock, handle) = tower_test::mock::pair::<McpRequest, McpResponse>();
        let service =
            McpService::new(
                mock.map_err(|e: tower::BoxError| match e.downcast::<McpError>() {
                    Ok(m) => *m,
                    Err(e) => McpError::internal(e.to_string()),
                }),
            );
        let dispatcher = Dispatcher::new(service.clone());
        let options = toolgate::server::HttpOptions::default();
        let parts = GatewayParts {
            service,
            aggregate: Aggregate::new(Vec::new(), Some("__".into()), 0),
            streamable: toolgate::server::StreamableHttpService::new(
                dispatcher.clone(),
                options.clone(),
                None,
            ),
            sse: toolgate::server::SseService::new(dispatcher.clone(), options, "/messages", None),
            dispatcher,
        };
        (parts, handle)
    }

    /// A request with a body.
    pub(crate) fn request(method: &str, uri: &str, body: &str) -> HttpRequest {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_default();
        toolgate::server::box_request(req)
    }

    /// A response's status and JSON body.
    pub(crate) async fn json_of(
        resp: http::Response<McpBody>,
    ) -> (http::StatusCode, serde_json::Value) {
        let status = resp.status();
        let bytes = match resp.into_body().collect().await {
            Ok(c) => c.to_bytes(),
            Err(cut) => return (status, serde_json::Value::String(cut.to_string())),
        };
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// A chat-completions server on 127.0.0.1 answering with `replies` in order (the last one
    /// again when they run out); returns its base URL and the bodies it received.
    pub(crate) async fn fake_llm(
        replies: Vec<serde_json::Value>,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (record, replies) = (record.clone(), replies.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (record, replies) = (record.clone(), replies.clone());
                            async move {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                let n = {
                                    let mut seen = record
                                        .lock()
                                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                                    seen.push(serde_json::from_slice(&body).unwrap_or_default());
                                    seen.len() - 1
                                };
                                let reply = replies
                                    .get(n)
                                    .or(replies.last())
                                    .cloned()
                                    .unwrap_or_default();
                                let mut resp =
                                    http::Response::new(Full::new(Bytes::from(reply.to_string())));
                                resp.headers_mut().insert(
                                    "content-type",
                                    http::HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{addr}/v1"), seen)
    }

    /// A raw result for the mock to answer with.
    pub(crate) fn result(value: serde_json::Value) -> McpResponse {
        McpResponse::from_typed(&value).unwrap_or_else(|_| McpResponse::new(Default::default()))
    }
}
