//! The configuration file as written: the structs serde reads it into and schemars describes
//! it with. Their doc comments are the descriptions `toolgate schema` prints.
//!
//! Strings are kept as written: `${VAR}` is expanded, and values are checked, when
//! `validate.rs` turns these structs into a [`Config`](super::Config). A setting that is not a
//! string in Rust but may be written with `${VAR}` is a [`Scalar`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::units::{Duration, Size};

/// A toolgate configuration file (YAML or JSON).
///
/// Upstream servers go under `mcp_servers` (LiteLLM's form) or `mcpServers` (Claude
/// Desktop's form), not both. Every string value may reference environment variables
/// as `${NAME}` or `${NAME:-default}` (`$$` is a literal `$`), or be LiteLLM's
/// `os.environ/NAME`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map with the keys mcp_servers (or mcpServers), server, layers, model_list, plugin_dirs, redis"
)]
#[schemars(title = "toolgate configuration")]
pub(crate) struct File {
    /// Upstream MCP servers in LiteLLM's form: server name to server settings. Server
    /// names (letters, digits, `_`, `-`) become the prefix of the server's tool names.
    #[schemars(with = "Option<BTreeMap<String, Server>>")]
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_-]+$" }))]
    pub(crate) mcp_servers: Option<Servers>,
    /// Upstream MCP servers in Claude Desktop's form (same entries as `mcp_servers`).
    #[serde(rename = "mcpServers")]
    #[schemars(with = "Option<BTreeMap<String, Server>>")]
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_-]+$" }))]
    pub(crate) mcp_servers_claude: Option<Servers>,
    /// The gateway's own listener settings.
    pub(crate) server: Option<Settings>,
    /// The policy stack, outermost first: `- use: NAME` plus that layer's settings, or
    /// `- dylib: PATH` with optional `sha256:` and `config:`.
    pub(crate) layers: Option<Vec<Layer>>,
    /// Models for `/v1/chat/completions`, LiteLLM's form:
    /// `{model_name, litellm_params: {model, api_base, api_key}}`.
    pub(crate) model_list: Option<Vec<Model>>,
    /// Directories native plugins (`dylib:` layers) may be loaded from.
    pub(crate) plugin_dirs: Option<Vec<String>>,
    /// The Redis that gateway replicas share state through (`store: redis` in `rate_limit`).
    pub(crate) redis: Option<Redis>,
}

/// The shared Redis.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map of Redis settings (url, key_prefix, timeout)"
)]
pub(crate) struct Redis {
    /// `redis://[user:password@]host:port[/db]`; write the password as `${VAR}`.
    pub(crate) url: String,
    /// Put before every key the gateway writes (default `toolgate:`), so several gateways
    /// or other programs can share one Redis.
    pub(crate) key_prefix: Option<String>,
    /// The longest a Redis round trip (or connecting) may take before the layer using it
    /// applies its failure mode (default 250ms).
    pub(crate) timeout: Option<Scalar<Duration>>,
    /// For `rediss://`: a private CA to trust beside the system's, and a client certificate.
    pub(crate) tls: Option<RedisTls>,
}

/// TLS to Redis (`rediss://`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map of TLS settings (ca_file, cert_file, key_file)"
)]
pub(crate) struct RedisTls {
    /// PEM file of the CA that signed Redis's certificate (instead of the system's roots).
    pub(crate) ca_file: Option<String>,
    /// PEM file of a client certificate, for a Redis that requires one (`tls-auth-clients`).
    pub(crate) cert_file: Option<String>,
    /// PEM file of the client certificate's private key.
    pub(crate) key_file: Option<String>,
}

/// Servers by name, in file order; an entry may be empty (`name:` alone), which validation
/// reports as a server with neither `command` nor `url`.
pub(crate) type Servers = IndexMap<String, Option<Server>>;

/// One upstream MCP server. A server with `command` is a local stdio server; one
/// with `url` is remote (Streamable HTTP, or SSE when `transport`/`type` says so or
/// the URL path ends in `/sse`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a map of server settings (command, args, env, … or url, …)"
)]
#[schemars(rename = "Server")]
pub(crate) struct Server {
    /// Program to run as a stdio MCP server.
    pub(crate) command: Option<String>,
    /// Arguments for `command`.
    pub(crate) args: Option<Vec<String>>,
    /// Extra environment variables for `command`.
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// Working directory for `command`.
    pub(crate) cwd: Option<String>,
    /// URL of a remote MCP server (http:// or https://), or a list of URLs of replicas of one
    /// server: calls are balanced across them.
    pub(crate) url: Option<Urls>,
    /// Run this many replicas of the server (`command`: that many processes; `url`: that many
    /// sessions), calls balanced across them (default 1). With a list of URLs, leave it out.
    pub(crate) replicas: Option<Scalar<u64>>,
    /// When a replica is left out of the balance (with `replicas` or a list of URLs).
    pub(crate) outlier_detection: Option<OutlierDetection>,
    /// Transport (LiteLLM's key): inferred when absent.
    pub(crate) transport: Option<Scalar<Transport>>,
    /// Transport (Claude Desktop's key): inferred when absent.
    #[serde(rename = "type")]
    pub(crate) kind: Option<Scalar<Transport>>,
    /// HTTP headers sent to a remote server.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub(crate) headers: Option<IndexMap<String, String>>,
    /// More HTTP headers sent to a remote server (LiteLLM), merged with `headers`.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub(crate) static_headers: Option<IndexMap<String, String>>,
    /// LiteLLM: names of client headers to forward. Accepted for compatibility and
    /// ignored (with a warning): toolgate does not forward client headers.
    pub(crate) extra_headers: Option<Vec<String>>,
    /// How `authentication_token` is sent (LiteLLM).
    pub(crate) auth_type: Option<Scalar<AuthType>>,
    /// Credential sent to a remote server as described by `auth_type`.
    pub(crate) authentication_token: Option<String>,
    /// Human-readable description of the server.
    pub(crate) description: Option<String>,
    /// Only these tools (by the server's own tool names) are exposed.
    pub(crate) allowed_tools: Option<Vec<String>>,
    /// These tools (by the server's own tool names) are hidden.
    pub(crate) disallowed_tools: Option<Vec<String>>,
    /// Check `tools/call` arguments against each tool's `inputSchema` before forwarding
    /// (default true; false for servers whose schemas are wrong).
    pub(crate) validate_arguments: Option<bool>,
    /// Whether all gateway clients share one upstream session (`shared`, the default), or
    /// each client session gets its own (`per_session`: a child process or HTTP session per
    /// client, needed for sampling, elicitation and logging from stdio servers and for
    /// servers that keep per-client state).
    pub(crate) session_mode: Option<Scalar<SessionMode>>,
    /// With `session_mode: per_session`, the most client sessions with their own connection
    /// (default 64); one more gets a "busy" error.
    pub(crate) max_sessions: Option<Scalar<u64>>,
    /// Layers for this server's requests only, outermost first; entries as in the top-level
    /// `layers`.
    pub(crate) layers: Option<Vec<Layer>>,
    /// TLS settings for an `https://` server: a private CA, a client certificate (mTLS), the
    /// name its certificate carries.
    pub(crate) tls: Option<Tls>,
    /// OAuth 2 client of the gateway at this server's authorization server: its token goes
    /// on every request (client credentials), or callers' JWTs are exchanged for tokens
    /// (token exchange).
    pub(crate) oauth: Option<OAuth>,
    /// Pass the caller's own validated JWT (from `use: auth`) to this server unchanged
    /// (default false). Only for servers that accept tokens of the gateway's issuer.
    pub(crate) forward_authorization: Option<bool>,
    /// What this server's tool and prompt names are exposed under,
    /// `{prefix}{separator}{name}` (default: the server's name). `""` exposes them as they
    /// are.
    pub(crate) prefix: Option<String>,
}

/// One URL, or the URLs of replicas of one server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a URL, or a list of URLs (replicas of one server)"
)]
pub(crate) enum Urls {
    /// One server.
    One(String),
    /// Replicas of one server, balanced.
    Many(Vec<String>),
}

/// When a replica is left out of the balance.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map of outlier detection settings")]
pub(crate) struct OutlierDetection {
    /// Failed calls in a row (unreachable, died mid-call, broke the protocol) that eject a
    /// replica (default 3).
    pub(crate) consecutive_failures: Option<Scalar<u64>>,
    /// How long the first ejection lasts (default 1s); each further one doubles it.
    pub(crate) base_ejection: Option<Scalar<Duration>>,
    /// The longest ejection (default 30s).
    pub(crate) max_ejection: Option<Scalar<Duration>>,
}

/// TLS settings of a remote server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map of TLS settings")]
pub(crate) struct Tls {
    /// PEM file of CA certificates to trust beside the system's (a private CA).
    pub(crate) ca_file: Option<String>,
    /// PEM file of the client certificate chain, for servers that require one (mTLS).
    pub(crate) cert_file: Option<String>,
    /// PEM file of the client certificate's private key.
    pub(crate) key_file: Option<String>,
    /// The name the server's certificate must carry, if not the URL's host.
    pub(crate) server_name: Option<String>,
    /// Accept any certificate (default false). Never in production: logged as a warning.
    pub(crate) insecure_skip_verify: Option<bool>,
}

/// The gateway's OAuth 2 client at a remote server's authorization server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map of OAuth client settings")]
pub(crate) struct OAuth {
    /// `client_credentials` (default): the gateway's own token on every request.
    /// `token_exchange`: calls made for a caller carry the caller's JWT exchanged for an
    /// upstream token (RFC 8693); the gateway's own requests use client credentials.
    pub(crate) grant: Option<Scalar<OAuthGrant>>,
    /// The token endpoint (https:// unless on loopback).
    pub(crate) token_url: String,
    /// The client id.
    pub(crate) client_id: String,
    /// The client secret (use `${VAR}`).
    pub(crate) client_secret: String,
    /// How the secret is sent: `client_secret_basic` (default) or `client_secret_post`.
    pub(crate) client_auth: Option<Scalar<OAuthClientAuth>>,
    /// Scopes to ask for, space-separated.
    pub(crate) scope: Option<String>,
    /// The audience to ask for (the server's identifier at the authorization server).
    pub(crate) audience: Option<String>,
    /// The resource to ask for (RFC 8707), usually the server's URL.
    pub(crate) resource: Option<String>,
}

/// OAuth grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum OAuthGrant {
    /// The gateway's own token.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// Callers' tokens exchanged (RFC 8693).
    #[serde(rename = "token_exchange")]
    TokenExchange,
}

/// How an OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum OAuthClientAuth {
    /// HTTP Basic.
    #[serde(rename = "client_secret_basic")]
    Basic,
    /// In the form body.
    #[serde(rename = "client_secret_post")]
    Post,
}

/// How the gateway reaches a server; `http` and both spellings of `streamable_http` are the
/// same transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum Transport {
    /// Legacy HTTP+SSE.
    #[serde(rename = "sse")]
    Sse,
    /// Streamable HTTP.
    #[serde(rename = "http")]
    Http,
    /// Streamable HTTP (LiteLLM's name).
    #[serde(rename = "streamable_http")]
    StreamableHttp,
    /// Streamable HTTP (Claude Desktop's name).
    #[serde(rename = "streamable-http")]
    StreamableHttpDash,
    /// A local child process.
    #[serde(rename = "stdio")]
    Stdio,
}

/// LiteLLM's authentication types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum AuthType {
    /// No credential.
    #[serde(rename = "none")]
    None,
    /// Header `X-API-Key: <token>`.
    #[serde(rename = "api_key")]
    ApiKey,
    /// Header `Authorization: Bearer <token>`.
    #[serde(rename = "bearer_token")]
    BearerToken,
    /// Header `Authorization: Basic <token>` (the token is already base64).
    #[serde(rename = "basic")]
    Basic,
    /// Header `Authorization: <token>`.
    #[serde(rename = "authorization")]
    Authorization,
}

/// Upstream session sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub(crate) enum SessionMode {
    /// One upstream session shared by all gateway clients.
    #[serde(rename = "shared")]
    Shared,
    /// One upstream session per gateway client session.
    #[serde(rename = "per_session")]
    PerSession,
    /// The same as `per_session`.
    #[serde(rename = "per-session")]
    PerSessionDash,
}

/// The gateway's own listener settings; every key is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a map of gateway settings")]
#[schemars(rename = "ServerSettings")]
pub(crate) struct Settings {
    /// Address to listen on, such as `127.0.0.1:4000` (the default).
    pub(crate) listen: Option<String>,
    /// HTTP path of the MCP endpoint (default `/mcp`).
    pub(crate) mcp_path: Option<String>,
    /// Separator between server name and tool name in exposed tool names (default
    /// `__`); letters, digits, `_`, `.`, `-`.
    pub(crate) separator: Option<String>,
    /// Allowed `Host` header values, port ignored; `*` allows any (default:
    /// `localhost`, `127.0.0.1`, `[::1]`).
    pub(crate) allowed_hosts: Option<Vec<String>>,
    /// Allowed `Origin` header values as `scheme://host[:port]` (without a port, any
    /// port matches); `*` allows any (default: http and https on localhost,
    /// `127.0.0.1` and `[::1]`).
    pub(crate) allowed_origins: Option<Vec<String>>,
    /// Largest accepted request body (default 4MiB).
    pub(crate) max_body_bytes: Option<Scalar<Size>>,
    /// Idle time after which a client session is closed (default 30m).
    pub(crate) session_idle_timeout: Option<Scalar<Duration>>,
    /// Time limit for one upstream request (default 60s).
    pub(crate) request_timeout: Option<Scalar<Duration>>,
    /// Interval of keep-alive comments on idle SSE streams (default 15s).
    pub(crate) keep_alive: Option<Scalar<Duration>>,
    /// How long after start-up a request may wait for upstreams still on their first start
    /// (default 3s); after it, lists answer with what is ready.
    pub(crate) startup_grace: Option<Scalar<Duration>>,
    /// Allow listening on a non-loopback address without an `auth` layer (default false:
    /// the gateway refuses to start). Say `true` only behind something else that authenticates.
    pub(crate) allow_unauthenticated: Option<bool>,
    /// A secret shared by gateway replicas (at least 32 characters; write it as `${VAR}`):
    /// session ids are then sealed with it, and any replica serves any session.
    pub(crate) session_secret: Option<String>,
}

/// One entry of `layers:` as written: a map with `use:` or `dylib:`, told apart (and checked)
/// by validation.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Layer(pub(crate) Map<String, Value>);

impl JsonSchema for Layer {
    fn schema_name() -> Cow<'static, str> {
        "Layer".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A built-in layer (`use: NAME` and its settings) or a native plugin (`dylib: PATH`).",
            "oneOf": [
                generator.subschema_for::<UseLayer>(),
                generator.subschema_for::<DylibLayer>(),
            ]
        })
    }
}

/// A built-in layer: `use: NAME`, with the layer's settings as the entry's other keys.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct UseLayer {
    /// The name the layer is registered under.
    #[serde(rename = "use")]
    pub(crate) name: String,
    /// The layer's settings.
    #[serde(flatten)]
    pub(crate) settings: Map<String, Value>,
}

/// A native plugin: `dylib: PATH`, its settings under `config:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DylibLayer {
    /// The plugin's library file, inside one of `plugin_dirs`.
    pub(crate) dylib: String,
    /// The SHA-256 of the file, 64 hex digits: any other build is refused.
    #[schemars(regex(pattern = r"^[0-9A-Fa-f]{64}$"))]
    pub(crate) sha256: Option<String>,
    /// The plugin's settings, checked against the schema the plugin reports.
    pub(crate) config: Option<Value>,
}

/// One entry of LiteLLM's `model_list:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Model {
    /// The name clients ask for (`model` in a chat request).
    pub(crate) model_name: String,
    /// Where the model is served.
    pub(crate) litellm_params: ModelParams,
    /// LiteLLM's own bookkeeping: accepted and ignored.
    #[serde(rename = "model_info")]
    pub(crate) _model_info: Option<Value>,
}

/// `litellm_params` of a model: where it is served, and request defaults.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ModelParams {
    /// The upstream model, such as `openai/gpt-4o`.
    pub(crate) model: String,
    /// The OpenAI-compatible base URL (needed for every provider but `openai/`).
    pub(crate) api_base: Option<String>,
    /// The API key (use `os.environ/NAME` or `${NAME}`).
    pub(crate) api_key: Option<String>,
    /// Request defaults such as `temperature`, passed on as they are.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// A setting that may be written with `${VAR}` but is not a string in Rust (a duration, a
/// size, a choice): kept as written, and read as `T` once expanded.
#[derive(Debug)]
pub(crate) struct Scalar<T> {
    pub(crate) raw: Value,
    read_as: PhantomData<fn() -> T>,
}

impl<'de, T> Deserialize<'de> for Scalar<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Scalar {
            raw: Value::deserialize(d)?,
            read_as: PhantomData,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Scalar<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
