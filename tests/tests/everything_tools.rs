//! Every tool of `@modelcontextprotocol/server-everything`, called by the official Python SDK
//! once directly and once through the gateway, must come back the same (issue 12: the whole
//! protocol through the gateway). The script answers sampling, elicitation (form and URL) and
//! roots with fixed values, so the comparison covers server-to-client requests in the middle of
//! a call, progress, structured content, resource links and embedded resources — tool by tool.
//!
//! What legitimately differs is listed in [`DYNAMIC`]: tools whose text carries the process
//! environment, a fresh id or the state of the connection, for which only the outcome and the
//! content types are compared.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::Value;
use toolgate_tests::{GatewayConfig, ServerEverything, Upstream, gateway_with_tools, run_python};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(150);
const PREFIX: &str = "everything__";

/// Tools whose text depends on the process or connection rather than on the call.
const DYNAMIC: [&str; 4] = [
    // The server's environment: the gateway's child has a different one.
    "get-env",
    // "Started/Stopped simulated logging for session <id>".
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    // The elicitation id is fresh per call.
    "trigger-url-elicitation",
];

/// server-everything asks for roots when its connection is initialized, outside any call; on a
/// connection shared by all clients the gateway has no one client to ask and answers with none.
const SHARED_CONNECTION: [&str; 1] = ["get-roots-list"];

/// Runs `everything_tools.py` against `url` and returns its per-tool outcomes.
async fn outcomes(url: &str, prefix: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let output = run_python(
        "everything_tools.py",
        [url, "--prefix", prefix],
        PYTHON_TIMEOUT,
    )
    .await?;
    let last = output
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("everything_tools.py printed no JSON summary")?;
    serde_json::from_str(last).context("everything_tools.py summary is not a JSON object")
}

/// Compares the gateway's outcomes with the direct ones, tool by tool.
fn compare(
    direct: &BTreeMap<String, Value>,
    gateway: &BTreeMap<String, Value>,
    also_dynamic: &[&str],
) -> anyhow::Result<()> {
    let direct_names: Vec<_> = direct.keys().collect();
    let gateway_names: Vec<_> = gateway.keys().collect();
    ensure!(
        direct_names == gateway_names,
        "the gateway lists other tools:\n direct:  {direct_names:?}\n gateway: {gateway_names:?}"
    );
    // The run must have exercised the interesting paths at all.
    for must in [
        "echo",
        "trigger-sampling-request",
        "trigger-elicitation-request",
        "trigger-long-running-operation",
        "get-structured-content",
    ] {
        ensure!(
            direct.contains_key(must),
            "server-everything has no {must} tool"
        );
    }
    let mut differences = Vec::new();
    for (tool, want) in direct {
        let got = &gateway[tool];
        ensure!(
            want.get("error").is_none(),
            "{tool} fails even directly: {want}"
        );
        let same = if DYNAMIC.contains(&tool.as_str()) || also_dynamic.contains(&tool.as_str()) {
            ["is_error", "content", "structured", "error"]
                .iter()
                .all(|k| want.get(k) == got.get(k))
        } else {
            want == got
        };
        if !same {
            differences.push(format!("{tool}:\n  direct:  {want}\n  gateway: {got}"));
        }
    }
    ensure!(
        differences.is_empty(),
        "{} tool(s) answer differently through the gateway:\n{}",
        differences.len(),
        differences.join("\n")
    );
    Ok(())
}

/// A shared Streamable HTTP upstream: every call goes over the gateway's one session.
#[tokio::test]
async fn every_tool_answers_the_same_through_a_shared_http_upstream() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let direct = outcomes(&everything.url(), "").await?;

    let config = GatewayConfig::new().server("everything", Upstream::http(everything.url()));
    let (gateway, _session) = gateway_with_tools(&config, &["everything__echo"]).await?;
    let through = outcomes(gateway.url(), PREFIX).await?;
    compare(&direct, &through, &SHARED_CONNECTION)
}

/// A stdio upstream per client session: the client's own connection, so the same answers —
/// roots included, asked of the client whose session made the connection.
#[tokio::test]
async fn every_tool_answers_the_same_through_a_per_session_stdio_upstream() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let direct = outcomes(&everything.url(), "").await?;

    let config = GatewayConfig::new()
        .server("everything", Upstream::everything()?)
        .server_key("everything", "session_mode", "per_session");
    let (gateway, _session) = gateway_with_tools(&config, &["everything__echo"]).await?;
    let through = outcomes(gateway.url(), PREFIX).await?;
    compare(&direct, &through, &[])
}
