//! Support for toolgate's end-to-end tests: real processes, real sockets, real third-party peers.
//!
//! - [`paths`] finds the workspace, the built binaries and the interop peers;
//! - [`process`] owns child processes (output captured, killed and reaped on drop);
//! - [`gateway`], [`demo`] and [`everything`] start toolgate, demo-server and
//!   `@modelcontextprotocol/server-everything`;
//! - [`config`] writes gateway configs; [`http`] and [`sse`] are a small raw MCP-over-HTTP client;
//! - [`python`] runs the official MCP Python SDK scripts in `tests/python/`;
//! - [`scripted_llm`] is a scripted OpenAI-compatible chat server standing in for an LLM API.
//!
//! Everything is bounded in time: a hung peer fails the test with its captured output instead of
//! hanging the run. A missing binary or peer fails the test with a message saying how to get it.
//!
//! Running (`.ci/run` does all of it):
//! ```text
//! tests/interop/install.sh            # pinned Python SDK + server-everything into target/interop
//! cargo build --workspace --bins      # toolgate + demo-server into target/debug
//! cargo nextest run -p toolgate-tests # or: cargo test -p toolgate-tests
//! ```
//! `TOOLGATE_BIN_DIR` points the tests at binaries elsewhere; `TOOLGATE_NODE` at another node.
//! A failing test shows the output of every process it started.

pub mod config;
pub mod demo;
pub mod everything;
pub mod gateway;
pub mod http;
pub mod net;
pub mod paths;
pub mod proc_tree;
pub mod process;
pub mod python;
pub mod scratch;
pub mod scripted_llm;
pub mod sse;

use std::future::Future;
use std::time::Duration;

pub use config::{GatewayConfig, Upstream};
pub use demo::DemoServer;
pub use everything::ServerEverything;
pub use gateway::{Gateway, demo_gateway, demo_gateway_with, gateway_with_tools};
pub use http::{
    Exchange, HttpResponse, McpSession, error_code, expect_gateway_error, result_of, text_of,
};
pub use net::free_port;
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
