//! `examples/configs/full.yaml`, the config that turns every policy on, as committed: it passes
//! `toolgate check`, and one gateway started with it shows each policy at work — per-key server
//! limits, a burst refused with retry information, a slow tool timed out, metrics and spans with
//! the right names, and 401 without a key.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use http::{Method, StatusCode};
use serde_json::json;
use toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT;
use toolgate_tests::http::{HttpResponse, send};
use toolgate_tests::otlp::{Collector, KIND_CLIENT, KIND_SERVER};
use toolgate_tests::process::run_command;
use toolgate_tests::{Gateway, McpSession, error_code, paths};

const TEAM_A_KEY: &str = "team-a-0123456789abcdef";
const TEAM_B_KEY: &str = "team-b-0123456789abcdef";
const OPS_KEY: &str = "ops-0123456789abcdef";

fn full_yaml() -> PathBuf {
    paths::workspace_root().join("examples/configs/full.yaml")
}

/// The environment the file needs: its keys, and absolute paths for what it finds relative to
/// the repository root.
fn env(demo_server: &str, otlp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TEAM_A_KEY", TEAM_A_KEY.to_owned()),
        ("TEAM_B_KEY", TEAM_B_KEY.to_owned()),
        ("OPS_KEY", OPS_KEY.to_owned()),
        ("TOOLGATE_DEMO_SERVER", demo_server.to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.to_owned()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn session(gateway: &Gateway, key: &str) -> anyhow::Result<McpSession> {
    McpSession::connect_with(gateway.url(), &[("authorization", &bearer(key))])
        .await
        .with_context(|| format!("gateway output:\n{}", gateway.output()))
}

async fn get(gateway: &Gateway, path: &str, key: Option<&str>) -> anyhow::Result<HttpResponse> {
    let auth = key.map(bearer);
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let url = format!("http://{}{path}", gateway.addr());
    send(Method::GET, &url, None, &headers, "").await
}

/// The value of one Prometheus sample, by its exact series text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn toolgate_check_accepts_the_full_example() -> anyhow::Result<()> {
    let demo = paths::demo_server()?;
    let env = env(&demo.to_string_lossy(), "http://127.0.0.1:4318");
    let file = full_yaml();
    let out = run_command(
        "toolgate check",
        paths::toolgate()?,
        ["check".as_ref(), "--config".as_ref(), file.as_os_str()],
        &borrowed(&env),
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        out.status.is_some_and(|s| s.success()),
        "toolgate check failed: {out:?}"
    );

    // Without its keys, the file is refused and the message names the missing variable.
    let out = run_command(
        "toolgate check",
        paths::toolgate()?,
        ["check".as_ref(), "--config".as_ref(), file.as_os_str()],
        &[],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        out.status.is_some_and(|s| !s.success()) && out.stderr.contains("TEAM_A_KEY"),
        "expected a failure naming TEAM_A_KEY: {out:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_full_example_enforces_every_policy_through_one_gateway() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let demo = paths::demo_server()?;
    let env = env(&demo.to_string_lossy(), &collector.endpoint());
    let gateway = Gateway::start_file(&full_yaml(), &borrowed(&env)).await?;

    // No key: 401 before anything else sees the request, on MCP and on /metrics.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "full-config", "version": "1"}}});
    let anonymous = toolgate_tests::http::post(gateway.url(), None, &[], init.to_string()).await?;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.describe()
    );
    assert_eq!(
        get(&gateway, "/metrics", None).await?.status,
        StatusCode::UNAUTHORIZED
    );

    let ops = session(&gateway, OPS_KEY).await?;
    ops.wait_for_tools(&["alpha__echo", "beta__echo"], UPSTREAM_READY_TIMEOUT)
        .await
        .with_context(|| format!("gateway output:\n{}", gateway.output()))?;
    let all = ops.tool_names().await?;
    assert!(
        all.iter().any(|t| t == "beta__toggle_extra"),
        "ops sees everything: {all:?}"
    );
    assert!(
        !all.iter().any(|t| t.ends_with("__crash")),
        "tool_filter denies crash everywhere: {all:?}"
    );

    // Team A's key sees only server alpha, and another server's tool does not exist for it.
    let team_a = session(&gateway, TEAM_A_KEY).await?;
    let tools = team_a.tool_names().await?;
    assert!(
        tools.iter().any(|t| t == "alpha__echo") && tools.iter().all(|t| t.starts_with("alpha__")),
        "team-a sees alpha only: {tools:?}"
    );
    let echoed = team_a
        .call_tool_ok("alpha__echo", json!({"message": "hello"}))
        .await?;
    assert_eq!(echoed["content"][0]["text"], "hello");
    let denied = team_a
        .call_tool("beta__echo", json!({"message": "x"}))
        .await?;
    assert_eq!(error_code(&denied), Some(-32602), "{denied}");
    assert_eq!(denied["error"]["message"], "unknown tool: beta__echo");

    let team_b = session(&gateway, TEAM_B_KEY).await?;
    let tools = team_b.tool_names().await?;
    assert!(
        tools.iter().any(|t| t == "beta__echo")
            && tools.iter().all(|t| t.starts_with("beta__"))
            && !tools.iter().any(|t| t == "beta__toggle_extra"),
        "team-b sees beta minus what authorize denies: {tools:?}"
    );

    // A burst past `alpha`'s `add` budget (5/min per caller): the sixth call is refused with
    // the wait until it would pass.
    for i in 0..5 {
        let sum = team_a
            .call_tool_ok("alpha__add", json!({"a": i, "b": 1}))
            .await?;
        assert_eq!(sum["content"][0]["text"], (i + 1).to_string());
    }
    let limited = team_a
        .call_tool("alpha__add", json!({"a": 1, "b": 1}))
        .await?;
    assert_eq!(error_code(&limited), Some(-31002), "{limited}");
    let data = &limited["error"]["data"];
    let retry_after_ms = data["retry_after_ms"]
        .as_u64()
        .with_context(|| format!("an integer retry_after_ms in {limited}"))?;
    assert!(
        (1..=12_000).contains(&retry_after_ms),
        "a 5/min budget gives a call back every 12 s: {limited}"
    );
    assert_eq!(data["limit"], "5/min", "{limited}");
    assert_eq!(data["retryable"], true, "{limited}");
    // The budget is per caller: the operators' key still gets through.
    ops.call_tool_ok("alpha__add", json!({"a": 2, "b": 2}))
        .await?;

    // `alpha__sleep` has 1 s: a 30 s sleep comes back as -31001 long before it would finish.
    let started = Instant::now();
    let slow = team_a
        .call_tool("alpha__sleep", json!({"ms": 30_000}))
        .await?;
    assert_eq!(error_code(&slow), Some(-31001), "{slow}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout cut the call short: {:?}",
        started.elapsed()
    );
    // The timed-out call gave back its slot (sleep is capped at one in flight per caller).
    team_a
        .call_tool_ok("alpha__sleep", json!({"ms": 10}))
        .await?;

    // Metrics: the operation histogram with method and tool labels, refusals counted.
    let metrics = get(&gateway, "/metrics", Some(OPS_KEY)).await?;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.describe());
    let text = metrics.text();
    assert_eq!(
        sample(
            &text,
            r#"mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="alpha__echo",mcp_method_name="tools/call",server="alpha"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"mcp_server_operation_duration_seconds_count{error_type="-31001",gen_ai_tool_name="alpha__sleep",mcp_method_name="tools/call",server="alpha"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("toolgate_rate_limited_total{")
                && l.contains(r#"gen_ai_tool_name="alpha__add""#)),
        "{text}"
    );

    // Logging: one access event per request, with the caller.
    let output = gateway.output();
    assert!(
        output.lines().any(|l| l.contains("toolgate::access")
            && l.contains("team-a")
            && l.contains("alpha__echo")),
        "an access-log line for team-a's echo:\n{output}"
    );

    // Tracing: the echo call's SERVER span, with its upstream CLIENT span as a child.
    let spans = collector
        .wait_for("the echo call's spans", Duration::from_secs(20), |spans| {
            spans.iter().any(|server| {
                server.kind == KIND_SERVER
                    && server.name == "tools/call alpha__echo"
                    && spans.iter().any(|client| {
                        client.kind == KIND_CLIENT
                            && client.name == "tools/call echo"
                            && client.parent_span_id == server.span_id
                    })
            })
        })
        .await?;
    let server = spans
        .iter()
        .find(|s| s.kind == KIND_SERVER && s.name == "tools/call alpha__echo")
        .context("the server span")?;
    assert_eq!(server.service, "toolgate");
    assert_eq!(server.attr("toolgate.upstream"), Some("alpha"));
    Ok(())
}

/// `examples/configs/plugins.yaml`, the config that loads the redactor and tool-pinner
/// plugins, as committed: `toolgate check` accepts it, and a gateway started with it pins the
/// demo tools and redacts a secret the echo tool returns.
#[tokio::test]
async fn the_plugins_example_loads_both_native_plugins() -> anyhow::Result<()> {
    let file = paths::workspace_root().join("examples/configs/plugins.yaml");
    let scratch = toolgate_tests::scratch::ScratchDir::new("plugins-example")?;
    let pins = scratch.path().join("pins.json");
    let plugin_dir = paths::toolgate()?
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let env: [(&'static str, String); 3] = [
        (
            "TOOLGATE_DEMO_SERVER",
            paths::demo_server()?.to_string_lossy().into_owned(),
        ),
        (
            "TOOLGATE_PLUGIN_DIR",
            plugin_dir.to_string_lossy().into_owned(),
        ),
        ("TOOLGATE_PINS_FILE", pins.to_string_lossy().into_owned()),
    ];
    let out = run_command(
        "toolgate check",
        paths::toolgate()?,
        ["check".as_ref(), "--config".as_ref(), file.as_os_str()],
        &borrowed(&env),
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        out.status.is_some_and(|s| s.success()),
        "toolgate check failed: {out:?}"
    );
    let gateway = Gateway::start_file(&file, &borrowed(&env)).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], Duration::from_secs(20))
        .await?;
    let echoed = session
        .call_tool_ok(
            "demo__echo",
            serde_json::json!({"message": "badge EMP-123456 ok"}),
        )
        .await?;
    let text = toolgate_tests::http::text_of(&echoed);
    ensure!(
        text == "badge [REDACTED:employee_id] ok",
        "the redactor replaced the id: {text}"
    );
    let pinned = std::fs::read_to_string(&pins).unwrap_or_default();
    ensure!(
        pinned.contains("demo__echo"),
        "tool-pinner pinned the tools: {pinned}"
    );
    Ok(())
}
