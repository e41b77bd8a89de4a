//! A config reload changes rate limits while a session stays open: a tighter budget refuses the
//! session's calls, a looser one rewritten into the file lets the same session through, and a
//! broken file is rejected while the looser limit stays in force.
//! (`telemetry.rs` covers reloading other layers, upstream changes, and SIGHUP.)

use std::time::Duration;

use anyhow::Context as _;
use http::{Method, StatusCode};
use serde_json::json;
use toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT;
use toolgate_tests::http::send;
use toolgate_tests::{Gateway, GatewayConfig, Upstream, error_code, within};

/// How long a rewritten file may take to be picked up (the gateway checks every second).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

fn with_rate(base: &str, rate: &str) -> String {
    format!(
        "{base}layers:\n  - use: rate_limit\n    rules:\n      - {{rate: {rate}, per: identity}}\n"
    )
}

fn rewrite(gateway: &Gateway, yaml: &str) -> anyhow::Result<()> {
    let path = gateway
        .config_path()
        .context("started with a config file")?;
    std::fs::write(path, yaml).with_context(|| format!("rewriting {}", path.display()))
}

/// Waits until the gateway's log has `needle` more times than `before` (bounded).
async fn wait_for_log(gateway: &Gateway, needle: &str, before: usize) -> anyhow::Result<()> {
    within(RELOAD_TIMEOUT, needle, async {
        while gateway.output().matches(needle).count() <= before {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .with_context(|| format!("gateway output:\n{}", gateway.output()))
}

/// Waits until `/readyz` says an upstream is ready.
async fn wait_ready(gateway: &Gateway) -> anyhow::Result<()> {
    let url = format!("http://{}/readyz", gateway.addr());
    within(UPSTREAM_READY_TIMEOUT, "the upstream to be ready", async {
        loop {
            if send(Method::GET, &url, None, &[], "").await?.status == StatusCode::OK {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .with_context(|| format!("gateway output:\n{}", gateway.output()))?
}

#[tokio::test]
async fn reload_changes_rate_limits_without_dropping_the_session() -> anyhow::Result<()> {
    let base = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .to_yaml();
    let gateway = Gateway::start(&with_rate(&base, "1/min")).await?;
    let session = gateway.session().await?;
    // Wait for the upstream without spending the session's budget on `tools/list`.
    wait_ready(&gateway).await?;

    // 1/min per caller: the first call passes, the second is refused with the limit named.
    session
        .call_tool_ok("demo__echo", json!({"message": "one"}))
        .await?;
    let refused = session
        .call_tool("demo__echo", json!({"message": "two"}))
        .await?;
    assert_eq!(error_code(&refused), Some(-31002), "{refused}");
    assert_eq!(refused["error"]["data"]["limit"], "1/min", "{refused}");

    let reloads = gateway.output().matches("config reloaded").count();
    rewrite(&gateway, &with_rate(&base, "100/min"))?;
    wait_for_log(&gateway, "config reloaded", reloads).await?;

    for i in 0..5 {
        let echoed = session
            .call_tool_ok("demo__echo", json!({"message": format!("after {i}")}))
            .await
            .context("the same session, under the new limit")?;
        assert_eq!(echoed["content"][0]["text"], format!("after {i}"));
    }

    let rejections = gateway.output().matches("config reload rejected").count();
    rewrite(
        &gateway,
        &format!(
            "{base}layers:\n  - use: rate_limit\n    rules:\n      - {{rate: lots, per: identity}}\n"
        ),
    )?;
    wait_for_log(&gateway, "config reload rejected", rejections).await?;
    let output = gateway.output();
    let rejected = output
        .lines()
        .rfind(|l| l.contains("config reload rejected"))
        .context("the rejection line")?;
    assert!(rejected.contains("rate_limit"), "{rejected}");

    // The 100/min budget is still the one in force, on the same session: calls pass until it
    // runs out (ten of it are spent above; it gives one back every 600 ms meanwhile), and the
    // refusal names it.
    let mut passed = 0;
    let refused = loop {
        let response = session
            .call_tool("demo__echo", json!({"message": "still"}))
            .await
            .context("the same session, after a rejected reload")?;
        if error_code(&response).is_some() {
            break response;
        }
        passed += 1;
        assert!(passed <= 200, "100/min should refuse long before 200 calls");
    };
    assert_eq!(error_code(&refused), Some(-31002), "{refused}");
    assert_eq!(refused["error"]["data"]["limit"], "100/min", "{refused}");
    assert!(passed >= 90, "only {passed} calls passed under 100/min");
    Ok(())
}
