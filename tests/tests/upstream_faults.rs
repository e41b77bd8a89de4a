//! Upstreams that crash or never start: callers get a fast gateway error, the child is
//! restarted, and the other upstreams keep serving.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::json;
use tokio::time::Instant;
use toolgate_tests::{
    GatewayConfig, Upstream, demo_gateway, error_code, expect_gateway_error, gateway_with_tools,
    text_of,
};

/// Gateway-local failure: upstream crashed or down.
const UPSTREAM_DOWN: i64 = -31000;

#[tokio::test]
async fn upstream_crash_mid_call_fails_fast_and_restarts() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;

    // One call is left pending in the upstream, then the upstream dies under a second one.
    let started = Instant::now();
    let (pending, crashing) = tokio::join!(
        session.call_tool("demo__sleep", json!({"ms": 30_000})),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            session
                .call_tool("demo__crash", json!({"after_ms": 200}))
                .await
        }
    );
    let failed_after = started.elapsed();
    expect_gateway_error(&pending?, UPSTREAM_DOWN, "demo")?;
    expect_gateway_error(&crashing?, UPSTREAM_DOWN, "demo")?;
    ensure!(
        failed_after < Duration::from_secs(10),
        "calls pending on a dead upstream must fail at once, not time out (took {failed_after:?})"
    );

    // The child is restarted: calls work again within a few seconds.
    let crashed_at = Instant::now();
    let deadline = crashed_at + Duration::from_secs(10);
    loop {
        let response = session
            .call_tool("demo__echo", json!({"message": "back"}))
            .await?;
        if let Some(result) = response.get("result") {
            assert_eq!(text_of(result), "back");
            break;
        }
        ensure!(
            error_code(&response) == Some(UPSTREAM_DOWN),
            "while the upstream restarts, calls fail with {UPSTREAM_DOWN}: {response}"
        );
        if Instant::now() >= deadline {
            bail!("demo upstream not back 10 s after crashing; last answer: {response}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("upstream back after {:?}", crashed_at.elapsed());
    let names = session.tool_names().await?;
    ensure!(
        names.iter().any(|n| n == "demo__echo"),
        "after restart: {names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn one_upstream_down_others_keep_serving() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server(
            "broken",
            Upstream::stdio("/nonexistent/toolgate-test-upstream", ["stdio"]),
        )
        .server("quitter", Upstream::stdio("false", Vec::<String>::new()))
        .server("demo", Upstream::demo("demo")?);
    let (_gateway, session) = gateway_with_tools(&config, &["demo__echo"]).await?;

    let names = session.tool_names().await?;
    ensure!(
        !names
            .iter()
            .any(|n| n.starts_with("broken__") || n.starts_with("quitter__")),
        "upstreams that cannot start have no tools listed: {names:?}"
    );

    let result = session
        .call_tool_ok("demo__echo", json!({"message": "still here"}))
        .await?;
    assert_eq!(text_of(&result), "still here");

    let response = session
        .call_tool("broken__echo", json!({"message": "x"}))
        .await?;
    ensure!(
        matches!(error_code(&response), Some(-32602) | Some(UPSTREAM_DOWN)),
        "a tool of a down upstream is an error (-32602 or {UPSTREAM_DOWN}): {response}"
    );

    // Still serving a while later (restart attempts of the broken ones must not disturb it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let result = session
        .call_tool_ok("demo__echo", json!({"message": "still here"}))
        .await?;
    assert_eq!(text_of(&result), "still here");
    Ok(())
}
