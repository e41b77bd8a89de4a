//! `use: circuit_breaker` and `use: retry` (issue 13) against real upstream processes that
//! fail on command: demo-server upstreams that sleep past a deadline or crash mid-call, a
//! gateway process configured with the layers in a server's own `layers:`, and `/readyz` and
//! `/metrics` read over HTTP.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use toolgate_tests::gateway::run_toolgate;
use toolgate_tests::http::{error_code, text_of};
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{GatewayConfig, Upstream, gateway_with_tools, within};

const UPSTREAM_DOWN: i64 = -31000;
const TIMED_OUT: i64 = -31001;

fn data(response: &Value) -> &Value {
    &response["error"]["data"]
}

/// Three timeouts in a row open `flaky`'s circuit: its calls are refused at once with
/// `retry_after_ms`, `/readyz` and `/metrics` show it, the other upstream is untouched, and
/// once the open interval is over a probe that succeeds closes it.
#[tokio::test]
async fn an_upstream_that_keeps_timing_out_is_cut_off_then_probed_back() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("flaky", Upstream::demo("flaky")?)
        .server("steady", Upstream::demo("steady")?)
        .server_key(
            "flaky",
            "layers",
            "[{use: circuit_breaker, consecutive_failures: 3, open_for: 2s}, {use: timeout, timeout: 200ms}]",
        )
        .section("layers:\n  - use: metrics\n");
    let (gateway, session) = gateway_with_tools(&config, &["flaky__sleep", "steady__echo"]).await?;

    for i in 0..3 {
        let response = session
            .call_tool("flaky__sleep", json!({"ms": 2_000}))
            .await?;
        ensure!(
            error_code(&response) == Some(TIMED_OUT),
            "call {i} times out: {response}"
        );
    }

    // Open: refused without reaching the upstream.
    let started = Instant::now();
    let refused = session
        .call_tool("flaky__echo", json!({"message": "hi"}))
        .await?;
    let took = started.elapsed();
    ensure!(
        error_code(&refused) == Some(UPSTREAM_DOWN),
        "an open circuit refuses: {refused}"
    );
    let d = data(&refused);
    ensure!(
        d["reason"] == "circuit_open" && d["retryable"] == true && d["upstream"] == "flaky",
        "{refused}"
    );
    let retry_after = d["retry_after_ms"].as_u64().context("retry_after_ms")?;
    ensure!(
        retry_after > 0 && retry_after <= 2_000,
        "retry_after_ms within the open interval: {refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("3 failures in a row") && message.contains("timed out"),
        "the refusal says why: {message}"
    );
    // Not a bound on speed (that is in the bench), only that nothing waited on the upstream.
    ensure!(
        took < Duration::from_secs(1),
        "refused at once, took {took:?}"
    );

    // Other upstreams are not affected.
    let steady = session
        .call_tool_ok("steady__echo", json!({"message": "still here"}))
        .await?;
    ensure!(text_of(&steady) == "still here", "{steady}");

    // /readyz: flaky is failing with the breaker's reason; the gateway is still ready.
    let ready = gateway.readyz().await?;
    let flaky = ready["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "flaky"))
        .cloned()
        .context("flaky in /readyz")?;
    ensure!(
        flaky["status"] == "failing"
            && flaky["checks"]["circuit_breaker"]["state"] == "open"
            && flaky["checks"]["circuit_breaker"]["passing"] == false,
        "{ready}"
    );
    ensure!(
        ready["ready"] == true,
        "steady keeps the gateway ready: {ready}"
    );

    // /metrics
    let metrics = toolgate_tests::http::send(
        http::Method::GET,
        &format!("http://{}/metrics", gateway.addr()),
        None,
        &[],
        bytes::Bytes::new(),
    )
    .await?
    .text();
    ensure!(
        metrics.contains(
            r#"toolgate_upstream_check_passing{check="circuit_breaker",server="flaky"} 0"#
        ),
        "{metrics}"
    );

    // After the open interval, a probe that answers closes the circuit.
    let back = within(
        Duration::from_secs(10),
        "the circuit to let a probe through",
        async {
            loop {
                let response = session
                    .call_tool("flaky__echo", json!({"message": "probe"}))
                    .await?;
                if response.get("result").is_some() {
                    return anyhow::Ok(response);
                }
                ensure!(
                    data(&response)["reason"] == "circuit_open",
                    "only the circuit refuses meanwhile: {response}"
                );
                let wait = data(&response)["retry_after_ms"].as_u64().unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(wait.clamp(10, 2_000))).await;
            }
        },
    )
    .await??;
    ensure!(text_of(&back["result"]) == "probe", "{back}");
    let entry = gateway
        .wait_upstream("flaky", "ready", Duration::from_secs(5))
        .await?;
    ensure!(
        entry["checks"]["circuit_breaker"]["state"] == "closed",
        "{entry}"
    );
    Ok(())
}

/// The upstream dies under three calls: the one the config says is safe to repeat (`sleep`)
/// and the one the tool's annotations say is read-only (`lookup`) are sent again once the
/// upstream is back, and succeed; the one that is neither (`exit`) fails with -31000 and is
/// not repeated — the upstream died once, not again under a retry.
#[tokio::test]
async fn calls_safe_to_repeat_survive_the_upstream_dying_under_them() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("faulty", Upstream::fault::<[&str; 0], &str>([])?)
        .server_key(
            "faulty",
            "layers",
            "[{use: retry, max_retries: 6, initial_backoff: 200ms, max_backoff: 1s, idempotent_tools: [sleep]}]",
        );
    let (_gateway, session) = gateway_with_tools(
        &config,
        &[
            "faulty__sleep",
            "faulty__lookup",
            "faulty__exit",
            "faulty__pid",
        ],
    )
    .await?;
    let pid_before = text_of(&session.call_tool_ok("faulty__pid", json!({})).await?);

    let (slept, looked_up, exited) = tokio::join!(
        session.call_tool("faulty__sleep", json!({"ms": 1_500})),
        session.call_tool("faulty__lookup", json!({"ms": 1_500})),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            session
                .call_tool("faulty__exit", json!({"after_ms": 100}))
                .await
        }
    );
    let (slept, looked_up, exited) = (slept?, looked_up?, exited?);
    ensure!(
        slept.get("result").map(text_of).as_deref() == Some("slept"),
        "the call named idempotent was retried on the restarted upstream: {slept}"
    );
    ensure!(
        looked_up
            .get("result")
            .map(text_of)
            .is_some_and(|t| t.starts_with("looked up #")),
        "the read-only call was retried on the restarted upstream: {looked_up}"
    );
    ensure!(
        error_code(&exited) == Some(UPSTREAM_DOWN),
        "exit is not safe to repeat and fails: {exited}"
    );
    let pid_after = text_of(&session.call_tool_ok("faulty__pid", json!({})).await?);
    ensure!(
        pid_before != pid_after,
        "the upstream was restarted ({pid_before} → {pid_after})"
    );
    // Had `exit` been retried, the restarted process would have died too.
    let pid_later = text_of(&session.call_tool_ok("faulty__pid", json!({})).await?);
    ensure!(
        pid_after == pid_later,
        "{pid_after} → {pid_later}: died again"
    );
    Ok(())
}

/// `use: hedge`: once the upstream has a latency history, a read-only call that takes far
/// longer than usual is sent a second time and the copy's answer wins. The upstream numbers
/// the calls as they arrive and makes call 21 slow, so the answer says which copy won.
#[tokio::test]
async fn a_read_only_call_stuck_upstream_is_answered_by_its_hedge() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("faulty", Upstream::fault::<[&str; 0], &str>([])?)
        .server_key(
            "faulty",
            "layers",
            "[{use: hedge, percentile: 0.9, min_samples: 20, window: 2s}]",
        );
    let (_gateway, session) = gateway_with_tools(&config, &["faulty__numbered"]).await?;
    let args = json!({"ms": 5, "slow": 21, "slow_ms": 20_000});
    for i in 1..=20 {
        let answer = session
            .call_tool_ok("faulty__numbered", args.clone())
            .await?;
        ensure!(text_of(&answer) == format!("call #{i}"), "{answer}");
    }
    // The hedge delay is read from the latencies of the last full half-window (1 s here).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let started = Instant::now();
    let answer = session.call_tool_ok("faulty__numbered", args).await?;
    ensure!(
        text_of(&answer) == "call #22",
        "the hedge (call 22) answered, not the stuck call 21: {answer}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(15),
        "answered before the stuck call's 20 s"
    );
    Ok(())
}

/// Bad settings stop the gateway at start-up with the layer, key and what to write.
#[tokio::test]
async fn bad_settings_are_refused_by_check() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .section("layers:\n  - use: circuit_breaker\n    failure_rate: 2\n");
    let dir = ScratchDir::new("resilience-check")?;
    let file = dir.path().join("toolgate.yaml");
    std::fs::write(&file, config.to_yaml())?;
    let out = run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()]).await?;
    ensure!(!out.success(), "check must fail: {}", out.describe());
    ensure!(
        out.stderr.contains("circuit_breaker") && out.stderr.contains("at most 1"),
        "{}",
        out.describe()
    );
    Ok(())
}
