//! Gateway configuration: one YAML or JSON file → a typed, validated [`Config`].
//!
//! # File format
//!
//! ```yaml
//! mcp_servers:                 # LiteLLM's form (or `mcpServers:`, Claude Desktop's form)
//!   files:                     # server name: letters, digits, `_`, `-`
//!     command: npx             # `command` → a local stdio server
//!     args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
//!     env: { DEBUG: "1" }
//!   search:
//!     url: https://search.example.com/mcp   # `url` → a remote server
//!     transport: http          # sse | http | streamable_http | stdio; inferred if absent
//!     auth_type: bearer_token  # none | api_key | bearer_token | basic | authorization
//!     authentication_token: ${SEARCH_TOKEN}
//!     allowed_tools: [search]
//! server:                      # the gateway's own listener; every key optional
//!   listen: 127.0.0.1:4000
//!   session_idle_timeout: 30m
//! ```
//!
//! Every string value may use `${NAME}`, `${NAME:-default}` and `$$` (a literal
//! `$`), or be LiteLLM's `os.environ/NAME`. Unknown keys, duplicate keys and
//! contradictory settings are errors that name the key path and the line.
//! [`Config::json_schema`] describes the format as a JSON Schema.
//!
//! # How it is read
//!
//! The text is checked for syntax and duplicate keys (`document.rs`), read by serde into the
//! structs of `file.rs` (which schemars also describes), and turned into a [`Config`] by plain
//! functions (`validate.rs`). Every error carries a key path; its line is found from the path.

mod document;
mod env;
mod error;
mod extensions;
mod file;
mod remote;
mod units;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrorKind};
pub use extensions::{LayerSource, LayerSpec, ModelEntry};
pub use units::{Duration, Size, UnitError};

pub(crate) use document::KeyPath;
pub(crate) use document::from_value;
pub(crate) use error::{Issue, Problem};

/// Expands `${VAR}`, `${VAR:-default}`, `$$` and a whole-value `os.environ/VAR` from the
/// process environment, as in config files (for command-line values such as headers).
pub fn expand_env(input: &str) -> Result<String, ConfigError> {
    env::expand(input, &env::process_env)
        .map_err(|issue| ConfigError::new(issue.kind, issue.message, None, None, None))
}

/// A complete, validated gateway configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Upstream MCP servers by name, in file order.
    pub servers: IndexMap<String, ServerConfig>,
    /// The gateway's own listener settings.
    pub server: ServerSettings,
    /// The policy stack, outermost first.
    pub layers: Vec<LayerSpec>,
    /// Models for the chat-completions endpoint (LiteLLM's form).
    pub model_list: Vec<ModelEntry>,
    /// Directories native plugins may be loaded from.
    pub plugin_dirs: Vec<PathBuf>,
    /// The Redis shared by gateway replicas (`redis:`), if configured.
    pub redis: Option<RedisSettings>,
}

/// The Redis that gateway replicas share state through (the `redis:` section).
///
/// `Debug` output hides the URL's password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Put before every key; default `toolgate:`.
    pub key_prefix: String,
    /// The longest a round trip or a connection attempt may take; default 250 ms.
    pub timeout: std::time::Duration,
    /// For `rediss://`: the CA to trust instead of the system's roots (`tls.ca_file`).
    pub ca_file: Option<PathBuf>,
    /// For `rediss://`: a client certificate and its key (`tls.cert_file`, `tls.key_file`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl RedisSettings {
    /// Settings for the Redis at `url`, with the default prefix and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        RedisSettings {
            url: url.into(),
            key_prefix: "toolgate:".into(),
            timeout: std::time::Duration::from_millis(250),
            ca_file: None,
            client_cert: None,
        }
    }

    /// The URL with any password replaced by `***`, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_url_password(&self.url)
    }
}

/// `text` with the password of the first URL in it (`scheme://user:password@host…`) replaced
/// by `***`; a `${VAR}` reference in its place is kept (it names a variable, not its value).
/// For logs, errors and config shown to operators.
pub fn redact_url_password(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_end = rest.find(['/', ' ', '"', '\'', ',']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') && !userinfo.contains("${") => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***@{host}{}",
                &text[..authority_start],
                &rest[authority_end..]
            )
        }
        _ => text.to_owned(),
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// The syntax of a configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// YAML (which also accepts JSON text).
    Yaml,
    /// Strict JSON.
    Json,
}

impl ConfigFormat {
    /// The format for a file name: JSON for a `.json` extension, YAML otherwise.
    pub fn for_path(path: &Path) -> Self {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Yaml,
        }
    }
}

impl Config {
    /// Reads and parses a configuration file: JSON if its name ends in `.json`, YAML
    /// otherwise. Environment references are expanded from the process environment.
    /// Errors name the file.
    pub fn from_path(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
        Self::from_str_with_env(&text, ConfigFormat::for_path(path), env::process_env)
            .map_err(|e| e.in_file(path))
    }

    /// Parses YAML configuration text (JSON text parses too, YAML being a superset).
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_str_with_env(text, ConfigFormat::Yaml, env::process_env)
    }

    /// Parses JSON configuration text.
    pub fn from_json_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_str_with_env(text, ConfigFormat::Json, env::process_env)
    }

    /// Parses configuration text, looking environment variables up with `env`
    /// instead of the process environment (for embedding and tests).
    pub fn from_str_with_env(
        text: &str,
        format: ConfigFormat,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let doc = std::sync::Arc::new(document::Document::new(text, format));
        let located = |problem: Problem| problem.into_error(Some(&doc));
        doc.check().map_err(located)?;
        let file = doc.read::<file::File>().map_err(located)?;
        validate::config(file, &doc, &env).map_err(located)
    }

    /// The JSON Schema of the configuration file format, as generated by schemars. Its
    /// `layers:` entries say only `use: NAME` or `dylib: PATH`; a registry that knows the
    /// layers describes their settings too
    /// ([`Registry::config_schema`](crate::registry::Registry::config_schema)).
    pub fn json_schema() -> serde_json::Value {
        schemars::schema_for!(file::File).to_value()
    }

    /// The built-in default: one stdio server named `demo` that runs
    /// `demo_server_path` with no arguments, and default listener settings.
    pub fn default_demo(demo_server_path: &Path) -> Config {
        let demo = ServerConfig::new(UpstreamTransport::Stdio {
            command: demo_server_path.to_string_lossy().into_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
        });
        Config {
            servers: IndexMap::from([("demo".to_owned(), demo)]),
            server: ServerSettings::default(),
            ..Config::default()
        }
    }
}

/// The gateway's own listener settings (the `server:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address to listen on; default `127.0.0.1:4000`.
    pub listen: SocketAddr,
    /// HTTP path of the MCP endpoint; default `/mcp`. Starts with `/`.
    pub mcp_path: String,
    /// Separator between server name and tool name in exposed tool names; default
    /// `__`. Non-empty, characters of `[A-Za-z0-9_.-]`; no server name contains it.
    pub separator: String,
    /// `Host` header allow-list (ports ignored; `*` allows any); default
    /// `localhost`, `127.0.0.1`, `[::1]`. Never empty. See [`host_allowed`](Self::host_allowed).
    pub allowed_hosts: Vec<String>,
    /// `Origin` allow-list of `scheme://host[:port]` entries (without a port, any port
    /// matches; `*` allows any); default: `http` and `https` on `localhost`,
    /// `127.0.0.1` and `[::1]`, any port. See [`origin_allowed`](Self::origin_allowed).
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body in bytes; default 4 MiB (4194304).
    pub max_body_bytes: usize,
    /// Idle time after which a client session is closed; default 30 minutes.
    pub session_idle_timeout: std::time::Duration,
    /// Time limit for one upstream request; default 60 seconds.
    pub request_timeout: std::time::Duration,
    /// Interval of keep-alive comments on idle SSE streams; default 15 seconds.
    pub keep_alive: std::time::Duration,
    /// How long after start-up a request may wait for upstreams still on their first start;
    /// default 3 seconds. Afterwards lists answer with what is ready, and calls to an upstream
    /// that is still starting fail at once.
    pub startup_grace: std::time::Duration,
    /// Whether the `toolgate` binary may listen on a non-loopback address without an `auth`
    /// layer; default false (it refuses to start).
    pub allow_unauthenticated: bool,
    /// Seals Streamable HTTP session ids with `server.session_secret`, so that any replica
    /// with the same secret serves any session; default none.
    pub session_seal: Option<crate::server::SessionSeal>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let local = ["localhost", "127.0.0.1", "[::1]"];
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 4000)),
            mcp_path: "/mcp".to_owned(),
            separator: "__".to_owned(),
            allowed_hosts: local.iter().map(|h| (*h).to_owned()).collect(),
            allowed_origins: ["http", "https"]
                .iter()
                .flat_map(|scheme| local.iter().map(move |host| format!("{scheme}://{host}")))
                .collect(),
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: std::time::Duration::from_secs(30 * 60),
            request_timeout: std::time::Duration::from_secs(60),
            keep_alive: std::time::Duration::from_secs(15),
            startup_grace: crate::aggregate::DEFAULT_STARTUP_GRACE,
            allow_unauthenticated: false,
            session_seal: None,
        }
    }
}

impl ServerSettings {
    /// The Host/Origin policy these settings describe.
    pub fn origin_policy(&self) -> crate::server::OriginPolicy {
        crate::server::OriginPolicy::new(self.allowed_hosts.clone(), self.allowed_origins.clone())
    }

    /// Whether a `Host` header value (with or without port) is allowed by
    /// [`allowed_hosts`](Self::allowed_hosts). Comparison ignores case and ports.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.origin_policy().host_allowed(host)
    }

    /// Whether an `Origin` header value is allowed by
    /// [`allowed_origins`](Self::allowed_origins).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origin_policy().origin_allowed(origin)
    }
}

/// One upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How to reach the server.
    pub transport: UpstreamTransport,
    /// Whether gateway clients share one upstream session; default [`SessionMode::Shared`].
    pub session_mode: SessionMode,
    /// Human-readable description.
    pub description: Option<String>,
    /// If set, only these tools (by the server's own tool names) are exposed.
    pub allowed_tools: Option<Vec<String>>,
    /// These tools (by the server's own tool names) are hidden.
    pub disallowed_tools: Vec<String>,
    /// Whether `tools/call` arguments are checked against the tool's `inputSchema` before
    /// they are forwarded; default true.
    pub validate_arguments: bool,
    /// Layers for this server's requests only (`mcp_servers.NAME.layers`), outermost first;
    /// default none.
    pub layers: Vec<LayerSpec>,
    /// TLS trust and client certificate for a remote server (`tls:`); default the system's
    /// roots, no client certificate.
    pub tls: crate::http::TlsOptions,
    /// OAuth client and caller tokens for a remote server (`oauth:`,
    /// `forward_authorization:`); default none.
    pub auth: crate::upstream::UpstreamAuth,
    /// What its tool and prompt names are exposed under (`prefix:`); default (`None`) the
    /// server's name, `Some("")` the names as they are.
    pub prefix: Option<String>,
    /// With [`SessionMode::PerSession`], the most client sessions with a connection of their
    /// own (`max_sessions:`); default 64.
    pub max_sessions: usize,
    /// More replicas of the server besides `transport`, balanced with it (`url: [a, b]` or
    /// `replicas: N`); default none.
    pub replicas: Vec<UpstreamTransport>,
    /// When a replica is left out of the balance (`outlier_detection:`).
    pub outlier_detection: crate::upstream::OutlierDetection,
}

impl ServerConfig {
    /// A server with the given transport and every other setting at its default.
    pub fn new(transport: UpstreamTransport) -> Self {
        Self {
            transport,
            session_mode: SessionMode::default(),
            description: None,
            allowed_tools: None,
            disallowed_tools: Vec::new(),
            validate_arguments: true,
            layers: Vec::new(),
            tls: crate::http::TlsOptions::default(),
            auth: crate::upstream::UpstreamAuth::default(),
            prefix: None,
            max_sessions: crate::upstream::DEFAULT_MAX_SESSIONS,
            replicas: Vec::new(),
            outlier_detection: crate::upstream::OutlierDetection::default(),
        }
    }

    /// Whether the upstream tool `name` (the server's own name for it) is exposed:
    /// listed in `allowed_tools` when that is set, and not in `disallowed_tools`.
    pub fn tool_allowed(&self, name: &str) -> bool {
        self.allowed_tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == name))
            && !self.disallowed_tools.iter().any(|t| t == name)
    }
}

/// How the gateway reaches an upstream server.
///
/// `Debug` output hides the values of `env` and `headers`, which often hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// A local process speaking MCP over stdin/stdout.
    Stdio {
        /// Program to run.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (added to the gateway's environment).
        env: BTreeMap<String, String>,
        /// Working directory, if not the gateway's.
        cwd: Option<PathBuf>,
    },
    /// A remote server speaking MCP Streamable HTTP.
    StreamableHttp {
        /// Endpoint URL (http or https).
        url: String,
        /// Headers sent with every request (including any authentication header).
        headers: BTreeMap<String, String>,
    },
    /// A remote server speaking the legacy HTTP+SSE transport.
    Sse {
        /// SSE endpoint URL (http or https).
        url: String,
        /// Headers sent with every request (including any authentication header).
        headers: BTreeMap<String, String>,
    },
}

impl UpstreamTransport {
    /// The same remote transport at another URL (a replica); a stdio one unchanged.
    pub(crate) fn at_url(&self, url: String) -> Self {
        match self {
            Self::StreamableHttp { headers, .. } => Self::StreamableHttp {
                url,
                headers: headers.clone(),
            },
            Self::Sse { headers, .. } => Self::Sse {
                url,
                headers: headers.clone(),
            },
            Self::Stdio { .. } => self.clone(),
        }
    }

    /// The transport's name as used in configuration: `stdio`, `http` or `sse`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stdio { .. } => "stdio",
            Self::StreamableHttp { .. } => "http",
            Self::Sse { .. } => "sse",
        }
    }
}

/// Lists map keys with redacted values.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, format_args!("<redacted>"))))
            .finish()
    }
}

impl fmt::Debug for UpstreamTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &Redacted(env))
                .field("cwd", cwd)
                .finish(),
            Self::StreamableHttp { url, headers } => f
                .debug_struct("StreamableHttp")
                .field("url", url)
                .field("headers", &Redacted(headers))
                .finish(),
            Self::Sse { url, headers } => f
                .debug_struct("Sse")
                .field("url", url)
                .field("headers", &Redacted(headers))
                .finish(),
        }
    }
}

/// Whether gateway clients share upstream sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionMode {
    /// One upstream session, shared by all gateway clients.
    #[default]
    Shared,
    /// One upstream session per gateway client session.
    PerSession,
}
