//! Policies as layers, end to end: rate limits, concurrency caps, timeouts, the tool filter and
//! the access log, each configured by name in the `layers:` list of a real gateway's config.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use tokio::time::Instant;
use toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT;
use toolgate_tests::{
    Gateway, GatewayConfig, McpSession, Upstream, error_code, expect_gateway_error, result_of,
    text_of,
};

/// toolgate: a rate or concurrency limit refused the request.
const RATE_LIMITED: i64 = -31002;
/// toolgate: the request ran out of time.
const TIMEOUT: i64 = -31001;
/// Invalid params, which includes an unknown tool.
const INVALID_PARAMS: i64 = -32602;

/// A config with demo-server on stdio as `demo` and the given `layers:` YAML (a list).
fn config(layers: &str) -> anyhow::Result<String> {
    // rmcp logs each cancellation it receives at info; the gateway copies the child's stderr
    // into its own log, which is how a test sees the upstream was told.
    let demo = Upstream::demo("demo")?.env("RUST_LOG", "warn,rmcp::service=info");
    Ok(format!(
        "{}layers:\n{layers}",
        GatewayConfig::new().server("demo", demo).to_yaml()
    ))
}

/// A gateway with `layers`, extra command-line `args`, and a session on which `tool` is listed.
async fn start(layers: &str, args: &[&str], tool: &str) -> anyhow::Result<(Gateway, McpSession)> {
    let yaml = config(layers)?;
    let gateway = Gateway::start_with(Some(&yaml), args).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&[tool], UPSTREAM_READY_TIMEOUT)
        .await
        .with_context(|| format!("gateway output so far:\n{}", gateway.output()))?;
    Ok((gateway, session))
}

/// Waits until the gateway's output has a line with every one of `needles`.
async fn wait_for_log(
    gateway: &Gateway,
    needles: &[&str],
    limit: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + limit;
    loop {
        let out = gateway.output();
        if let Some(line) = out.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return Ok(line.to_owned());
        }
        if Instant::now() >= deadline {
            bail!("no log line with {needles:?} within {limit:?}; output:\n{out}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn error_data(response: &Value) -> anyhow::Result<&Value> {
    response
        .get("error")
        .and_then(|e| e.get("data"))
        .with_context(|| format!("expected an error with data, got {response}"))
}

#[tokio::test]
async fn a_burst_past_the_limit_is_rejected_with_retry_information() -> anyhow::Result<()> {
    let (_gateway, session) = start(
        // `server: demo` keeps the `tools/list` polling of start-up out of the budget.
        "  - use: rate_limit\n    rules:\n      - {rate: 3/min, per: identity, server: demo}\n",
        &[],
        "demo__echo",
    )
    .await?;
    let mut rejected = None;
    for i in 0..4 {
        let response = session
            .call_tool("demo__echo", json!({"message": "hi"}))
            .await?;
        if response.get("error").is_some() {
            rejected = Some((i, response));
            break;
        }
        ensure!(text_of(result_of(&response)?) == "hi", "{response}");
    }
    let (i, response) = rejected.context("a burst of 4 against 3/min was never rejected")?;
    ensure!(
        i == 3,
        "the first 3 calls pass, the 4th is refused (refused call #{})",
        i + 1
    );
    expect_gateway_error(&response, RATE_LIMITED, "demo")?;
    let data = error_data(&response)?;
    ensure!(data["reason"] == "rate_limited", "{response}");
    ensure!(data["limit"] == "3/min", "{response}");
    let retry = data["retry_after_ms"]
        .as_u64()
        .with_context(|| format!("retry_after_ms must be an integer: {response}"))?;
    ensure!(
        (1..=20_000).contains(&retry),
        "3/min gives one request back every 20 s, so a wait of at most 20 s: {retry} ms"
    );
    Ok(())
}

#[tokio::test]
async fn a_per_tool_limit_does_not_affect_another_tool() -> anyhow::Result<()> {
    let (_gateway, session) = start(
        "  - use: rate_limit\n    rules:\n      - {rate: 2/min, per: tool}\n",
        &[],
        "demo__echo",
    )
    .await?;
    for _ in 0..2 {
        session
            .call_tool_ok("demo__echo", json!({"message": "hi"}))
            .await?;
    }
    let response = session
        .call_tool("demo__echo", json!({"message": "hi"}))
        .await?;
    expect_gateway_error(&response, RATE_LIMITED, "demo")?;
    ensure!(
        error_data(&response)?["per"] == json!(["tool"]),
        "{response}"
    );
    for _ in 0..2 {
        let sum = session
            .call_tool_ok("demo__add", json!({"a": 2, "b": 3}))
            .await?;
        ensure!(text_of(&sum) == "5", "add has its own budget: {sum}");
    }
    Ok(())
}

#[tokio::test]
async fn a_full_concurrency_cap_answers_busy_at_once() -> anyhow::Result<()> {
    let (_gateway, session) = start(
        "  - use: concurrency_limit\n    rules:\n      - {max: 1, server: demo, tool: sleep}\n",
        &[],
        "demo__sleep",
    )
    .await?;
    let (first, second) = tokio::join!(
        async {
            let r = session.call_tool("demo__sleep", json!({"ms": 3000})).await;
            (r, Instant::now())
        },
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let busy = session.call_tool("demo__sleep", json!({"ms": 10})).await;
            let at = Instant::now();
            // Another tool is not capped while sleep is busy.
            let echo = session
                .call_tool_ok("demo__echo", json!({"message": "free"}))
                .await;
            (busy, at, echo)
        }
    );
    let (first, first_done) = first;
    let (busy, busy_done, echo) = second;
    ensure!(text_of(result_of(&first?)?) == "slept 3000ms");
    let busy = busy?;
    expect_gateway_error(&busy, RATE_LIMITED, "demo")?;
    let data = error_data(&busy)?;
    ensure!(data["reason"] == "busy" && data["busy"] == true, "{busy}");
    ensure!(
        busy_done < first_done,
        "the second call was answered while the first still ran, not queued behind it"
    );
    ensure!(text_of(&echo?) == "free");
    // The slot is free again once the first call has answered.
    let again = session
        .call_tool_ok("demo__sleep", json!({"ms": 10}))
        .await?;
    ensure!(text_of(&again) == "slept 10ms", "{again}");
    Ok(())
}

const SLEEP_TIMEOUT: &str = "  - use: timeout\n    servers:\n      demo:\n        tools:\n          sleep: {timeout: 1s, max_total_timeout: 4s}\n";

#[tokio::test]
async fn a_slow_tool_times_out_and_is_cancelled_upstream() -> anyhow::Result<()> {
    let (gateway, session) = start(SLEEP_TIMEOUT, &[], "demo__sleep").await?;
    let response = session
        .call_tool("demo__sleep", json!({"ms": 30_000}))
        .await?;
    expect_gateway_error(&response, TIMEOUT, "demo")?;
    ensure!(error_data(&response)?["timeout_ms"] == 1000, "{response}");
    // demo-server (rmcp) logs every notifications/cancelled it gets for a request in flight.
    wait_for_log(
        &gateway,
        &["upstream", "demo", "rmcp::service", "cancelled id="],
        Duration::from_secs(10),
    )
    .await?;
    // Other tools are not held up by the timeout.
    let echo = session
        .call_tool_ok("demo__echo", json!({"message": "after"}))
        .await?;
    ensure!(text_of(&echo) == "after");
    Ok(())
}

#[tokio::test]
async fn progress_extends_the_deadline_up_to_the_cap() -> anyhow::Result<()> {
    let (_gateway, session) = start(SLEEP_TIMEOUT, &[], "demo__sleep").await?;

    // 2.5 s with progress every 250 ms: longer than the 1 s timeout, within the 4 s cap.
    let exchange = session
        .call_tool_with_progress("demo__sleep", json!({"ms": 2500, "steps": 10}), json!("p1"))
        .await?;
    let result = exchange
        .result()
        .with_context(|| format!("progress must keep the call alive: {:?}", exchange.response))?;
    ensure!(text_of(result) == "slept 2500ms", "{result}");
    ensure!(
        !exchange.notifications("notifications/progress").is_empty(),
        "the progress reached the client"
    );

    // The same without progress: the 1 s timeout ends it.
    let response = session
        .call_tool("demo__sleep", json!({"ms": 2500}))
        .await?;
    expect_gateway_error(&response, TIMEOUT, "demo")?;

    // Progress all along, but past the 4 s cap: ended there.
    let started = Instant::now();
    let exchange = session
        .call_tool_with_progress(
            "demo__sleep",
            json!({"ms": 10_000, "steps": 40}),
            json!("p2"),
        )
        .await?;
    let took = started.elapsed();
    expect_gateway_error(&exchange.response, TIMEOUT, "demo")?;
    let message = exchange.response["error"]["message"]
        .as_str()
        .unwrap_or_default();
    ensure!(message.contains("total limit"), "{}", exchange.response);
    ensure!(
        took >= Duration::from_secs(4),
        "progress kept it alive up to the cap, not just the timeout: ended after {took:?}"
    );
    ensure!(
        error_data(&exchange.response)?["max_total_timeout_ms"] == 4000,
        "{}",
        exchange.response
    );
    Ok(())
}

#[tokio::test]
async fn the_tool_filter_hides_renames_and_denies() -> anyhow::Result<()> {
    let (_gateway, session) = start(
        "  - use: tool_filter\n    servers:\n      demo:\n        deny: [crash, 'toggle_*']\n        hide: [whoami]\n        rename: {echo: say}\n",
        &[],
        "demo__say",
    )
    .await?;
    let names = session.tool_names().await?;
    for gone in [
        "demo__echo",
        "demo__crash",
        "demo__toggle_extra",
        "demo__whoami",
    ] {
        ensure!(!names.iter().any(|n| n == gone), "{gone} listed: {names:?}");
    }
    for kept in ["demo__say", "demo__add", "demo__sleep"] {
        ensure!(names.iter().any(|n| n == kept), "{kept} missing: {names:?}");
    }

    let said = session
        .call_tool_ok("demo__say", json!({"message": "renamed"}))
        .await?;
    ensure!(text_of(&said) == "renamed", "{said}");

    // The old name, a denied tool and a tool that never existed get the same answer.
    for name in ["demo__echo", "demo__crash", "demo__no_such_tool"] {
        let response = session.call_tool(name, json!({})).await?;
        ensure!(
            error_code(&response) == Some(INVALID_PARAMS),
            "{name}: {response}"
        );
        ensure!(
            response["error"]["message"] == format!("unknown tool: {name}"),
            "{name}: {response}"
        );
        ensure!(
            response["error"].get("data").is_none(),
            "{name}: {response}"
        );
    }

    // Hidden is not denied: it can still be called by name.
    let who = session.call_tool_ok("demo__whoami", json!({})).await?;
    ensure!(text_of(&who) == "demo", "{who}");
    Ok(())
}

#[tokio::test]
async fn the_access_log_has_one_json_event_per_request_and_no_secret() -> anyhow::Result<()> {
    const SECRET: &str = "sk-live-TOPSECRET0123456789abcdef";
    let (gateway, session) = start(
        "  - use: logging\n    params: true\n",
        &["--log-format", "json"],
        "demo__echo",
    )
    .await?;
    let id = json!("log-echo");
    let exchange = session
        .exchange_with_id(
            id.clone(),
            "tools/call",
            Some(json!({"name": "demo__echo", "arguments": {"message": "hi", "api_key": SECRET, "note": format!("Bearer {SECRET}")}})),
        )
        .await?;
    exchange.result()?;
    let unknown = session
        .exchange_with_id(
            json!("log-unknown"),
            "tools/call",
            Some(json!({"name": "demo__nope"})),
        )
        .await?;
    ensure!(error_code(&unknown.response) == Some(INVALID_PARAMS));

    wait_for_log(
        &gateway,
        &["toolgate::access", "log-unknown"],
        Duration::from_secs(10),
    )
    .await?;
    let out = gateway.output();
    let events: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "toolgate::access")
        .collect();
    let of = |rid: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["fields"]["request_id"] == rid)
            .collect()
    };
    let echo = of("log-echo");
    ensure!(echo.len() == 1, "exactly one event for the call: {echo:?}");
    let f = &echo[0]["fields"];
    ensure!(f["method"] == "tools/call", "{f}");
    ensure!(
        f["name"] == "demo__echo" && f["server"] == "demo" && f["tool"] == "echo",
        "{f}"
    );
    ensure!(f["identity"] == "anonymous" && f["status"] == "ok", "{f}");
    ensure!(f["duration_ms"].as_f64().is_some(), "{f}");
    ensure!(
        f["session"]
            .as_str()
            .is_some_and(|s| s.len() == 8 && session.id().starts_with(s)),
        "a prefix of the session id: {f}"
    );
    ensure!(
        f["params"]
            .as_str()
            .is_some_and(|p| p.contains("[REDACTED]")),
        "{f}"
    );

    let unknown = of("log-unknown");
    ensure!(unknown.len() == 1, "{unknown:?}");
    let f = &unknown[0]["fields"];
    ensure!(f["status"] == "error" && f["code"] == INVALID_PARAMS, "{f}");

    ensure!(
        !out.contains("TOPSECRET"),
        "a secret reached the gateway's log:\n{out}"
    );
    ensure!(
        !out.contains(session.id()),
        "the whole session id reached the gateway's log"
    );
    Ok(())
}

#[tokio::test]
async fn a_bad_layer_config_stops_the_gateway_with_the_reason() -> anyhow::Result<()> {
    for (layers, expected) in [
        (
            "  - use: rate_limit\n    rules: [{rate: 10/fortnight}]\n",
            "invalid rate '10/fortnight'",
        ),
        (
            "  - use: timeout\n    servers: {dmeo: {timeout: 1s}}\n",
            "no upstream server is named 'dmeo'",
        ),
        (
            "  - use: tool_filter\n    servers: {demo: {deny: ['a[']}}\n",
            "invalid glob",
        ),
        ("  - use: logging\n    levle: info\n", "levle"),
    ] {
        let yaml = config(layers)?;
        let dir = toolgate_tests::scratch::ScratchDir::new("policies-check")?;
        let file = dir.write("toolgate.yaml", &yaml)?;
        let out = toolgate_tests::gateway::run_toolgate([
            "check".as_ref(),
            "--config".as_ref(),
            file.as_os_str(),
        ])
        .await?;
        ensure!(
            !out.success(),
            "{layers} must be refused:\n{}",
            out.describe()
        );
        ensure!(
            out.describe().contains(expected),
            "the error says {expected:?}:\n{}",
            out.describe()
        );
    }
    Ok(())
}
