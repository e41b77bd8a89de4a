//! Authentication and authorization for toolgate, as tower layers.
//!
//! - [`authn`] (HTTP plane): [`Authenticate`](authn::Authenticate) checks API keys and JWT
//!   bearer tokens, answers 401 (with `WWW-Authenticate`), 403 or 503 itself, and puts a
//!   [`toolgate::Identity`] into the request extensions for the MCP plane. The OAuth protected
//!   resource metadata document (RFC 9728) is served by [`authn::metadata`].
//! - [`authz`] (MCP plane): [`Authorize`](authz::Authorize) decides per caller which servers,
//!   tools, prompts and resources exist: denied items are absent from the lists, and calling one
//!   is answered exactly like an unknown one.
//!
//! In a config file they are the layers `use: auth` and `use: authorize` (see [`factory`] and
//! `docs/policies/auth.md`, `docs/policies/authorize.md`); in Rust, [`GatewayBuilderExt`] adds
//! them to a [`GatewayBuilder`](toolgate::gateway::GatewayBuilder):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use toolgate::gateway::GatewayBuilder;
//! use toolgate::upstream::StdioSpec;
//! use toolgate_auth::authn::{ApiKeys, Auth};
//! use toolgate_auth::authz::{Rule, Rules};
//! use toolgate_auth::GatewayBuilderExt;
//!
//! let keys = ApiKeys::new().key("team-a", &std::env::var("TEAM_A_KEY")?);
//! let rules = Rules::deny_by_default().rule(Rule::for_key("team-a").allow_servers(["demo"])?);
//! let gateway = GatewayBuilder::new()
//!     .stdio("demo", StdioSpec { command: "demo-server".into(), ..Default::default() })
//!     .auth(Auth::new().api_keys(keys))
//!     .authorize(rules)
//!     .build();
//! # let _ = gateway; Ok(()) }
//! ```

pub mod attr;
pub mod authn;
pub mod authz;
pub mod config;
pub mod ext;
pub mod factory;

pub use config::ConfigError;
pub use ext::GatewayBuilderExt;
pub use factory::{AuthFactory, AuthorizeFactory};

/// A boxed, sendable future (what the extension-point traits return).
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
