//! Support for toolgate's end-to-end tests: real processes, real sockets, real third-party peers.
//!
//! - [`paths`] finds the workspace, the built binaries and the interop peers;
//! - [`process`] owns child processes (output captured, killed and reaped on drop);
//! - [`gateway`], [`demo`], [`everything`] and [`bridge`] start toolgate, demo-server,
//!   `@modelcontextprotocol/server-everything` and the `bridge` binary;
//! - [`config`] writes gateway configs; [`http`] and [`sse`] are a small raw MCP-over-HTTP client,
//!   [`legacy`] a raw legacy HTTP+SSE (2024-11-05) client;
//! - [`recorder`] is a stand-in HTTP server that records what it is sent;
//! - [`procfs`] reads a process's open fds and resident memory;
//! - [`python`] runs the official MCP Python SDK scripts in `tests/python/`.
//! - [`otlp`] is a stand-in OpenTelemetry collector that keeps the spans it receives.
//! - [`scripted_llm`] is a scripted OpenAI-compatible chat server standing in for an LLM API.
//! - [`tcp_counter`] forwards TCP connections and counts them (connection reuse).
//! - [`resumable`] is a Streamable HTTP server that answers only through SEP-1699 resumption.
//! - [`connect_proxy`] is a minimal HTTP `CONNECT` proxy (the gateway behind `HTTPS_PROXY`).
//! - [`tls`] makes a private CA and certificates in the test, and a TLS front on loopback.
//! - [`oauth`] starts a real OAuth 2 authorization server (`oidc-provider`, client credentials
//!   and RFC 8693 token exchange, JWT access tokens) from `tests/interop/oauth/server.mjs`.
//! - [`conformance`] runs the official MCP conformance suite (`@modelcontextprotocol/conformance`,
//!   server mode) and parses its per-scenario results, and starts the suite's reference server
//!   (`tests/interop/conformance-server/`) on Streamable HTTP or as a stdio command line; both
//!   run on the Node 22 that `install.sh` installs.
//! - the `fault-server` binary (`src/bin/fault-server.rs`, [`Upstream::fault`]) is a minimal
//!   MCP stdio server that misbehaves on demand (hangs in `initialize`, writes invalid UTF-8,
//!   closes its stdout…).
//!
//! Everything is bounded in time: a hung peer fails the test with its captured output instead of
//! hanging the run. A missing binary or peer fails the test with a message saying how to get it.
//!
//! Running (`.ci/run` does all of it):
//! ```text
//! tests/interop/install.sh            # pinned Python SDK and npm peers into target/interop
//! cargo build --workspace --bins      # toolgate, demo-server, fault-server into target/debug
//! cargo nextest run -p toolgate-tests # or: cargo test -p toolgate-tests
//! ```
//! `TOOLGATE_BIN_DIR` points the tests at binaries elsewhere; `TOOLGATE_NODE` at another node,
//! `TOOLGATE_NODE22` at another node >= 22 (for the conformance suite).
//! A failing test shows the output of every process it started.

pub mod bridge;
pub mod browser;
pub mod config;
pub mod conformance;
pub mod connect_proxy;
pub mod demo;
pub mod everything;
pub mod gateway;
pub mod haproxy;
pub mod http;
pub mod legacy;
pub mod net;
pub mod oauth;
pub mod otlp;
pub mod paths;
pub mod process;
pub mod procfs;
pub mod python;
pub mod recorder;
pub mod redis;
pub mod resumable;
pub mod scratch;
pub mod scripted_llm;
pub mod sse;
pub mod tcp_counter;
pub mod tls;

use std::future::Future;
use std::time::Duration;

pub use bridge::{BridgeConnect, BridgeServe};
pub use config::{GatewayConfig, Upstream};
pub use conformance::{ReferenceServer, SuiteResult, run_server_suite};
pub use demo::DemoServer;
pub use everything::{EverythingTransport, ServerEverything};
pub use gateway::{Gateway, demo_gateway, demo_gateway_with, gateway_with_tools};
pub use http::{
    Exchange, HttpResponse, McpSession, error_code, expect_gateway_error, result_of, text_of,
};
pub use legacy::LegacySession;
pub use net::free_port;
pub use oauth::{OAuthOptions, OAuthProvider};
pub use python::run_python;
pub use scripted_llm::ScriptedLlm;

/// How long a process may take to start listening (a cold node or a debug build on a busy box).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one HTTP exchange may take before the test gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `fut`, failing with `what` if it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no result within {limit:?}"))
}
