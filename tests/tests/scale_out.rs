//! Gateway replicas sharing state through a real `redis-server` on loopback (issue 14): a
//! `rate_limit` with `store: redis` is one budget across two gateway processes, and while
//! Redis is gone each gateway does what its `on_store_error` says — at once, never hanging —
//! and goes back to counting when Redis is back.

use std::time::Duration;

use anyhow::ensure;
use serde_json::{Value, json};
use toolgate_tests::http::{error_code, text_of};
use toolgate_tests::redis::RedisServer;
use toolgate_tests::{GatewayConfig, McpSession, Upstream, gateway_with_tools, within};

const RATE_LIMITED: i64 = -31002;

fn config(redis: &RedisServer, rate: &str, on_store_error: &str) -> anyhow::Result<GatewayConfig> {
    Ok(GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .section(format!(
            "redis:\n  url: {}\n  key_prefix: \"test-{}:\"\n  timeout: 200ms\nlayers:\n  - use: rate_limit\n    store: redis\n    on_store_error: {on_store_error}\n    rules:\n      - {{rate: {rate}, server: demo, tool: echo}}\n",
            redis.url(),
            std::process::id(),
        )))
}

async fn echo(session: &McpSession) -> anyhow::Result<Value> {
    session
        .call_tool("demo__echo", json!({"message": "hi"}))
        .await
}

/// 20 calls spread over two gateways against a 10/min budget in Redis: exactly 10 pass,
/// whichever gateway they reach, and the others are told when to retry.
#[tokio::test]
async fn a_rate_limit_in_redis_is_one_budget_across_gateway_replicas() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let config = config(&redis, "10/min", "fail_closed")?;
    let (_a, a) = gateway_with_tools(&config, &["demo__echo"]).await?;
    let (_b, b) = gateway_with_tools(&config, &["demo__echo"]).await?;
    let (mut passed, mut limited) = (0, 0);
    for i in 0..20 {
        let answer = echo(if i % 2 == 0 { &a } else { &b }).await?;
        match error_code(&answer) {
            None => {
                ensure!(text_of(&answer["result"]) == "hi", "{answer}");
                passed += 1;
            }
            Some(RATE_LIMITED) => {
                let data = &answer["error"]["data"];
                ensure!(
                    data["reason"] == "rate_limited"
                        && data["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
                    "{answer}"
                );
                limited += 1;
            }
            Some(_) => anyhow::bail!("unexpected {answer}"),
        }
    }
    ensure!(
        passed == 10 && limited == 10,
        "{passed} passed and {limited} limited of 20 (one budget of 10 for both gateways)"
    );
    Ok(())
}

/// Redis killed under two gateways: the `fail_closed` one refuses calls at once with
/// `limit_store_unavailable`, the `fail_open` one lets them through; once Redis is back both
/// count again.
#[tokio::test]
async fn without_redis_each_gateway_fails_as_configured_then_recovers() -> anyhow::Result<()> {
    let mut redis = RedisServer::start().await?;
    let (_closed, closed) =
        gateway_with_tools(&config(&redis, "1000/min", "fail_closed")?, &["demo__echo"]).await?;
    let (_open, open) =
        gateway_with_tools(&config(&redis, "1000/min", "fail_open")?, &["demo__echo"]).await?;
    for s in [&closed, &open] {
        let answer = echo(s).await?;
        ensure!(error_code(&answer).is_none(), "with Redis up: {answer}");
    }

    redis.kill();
    let refused = within(
        Duration::from_secs(5),
        "a refusal without Redis",
        echo(&closed),
    )
    .await??;
    ensure!(
        error_code(&refused) == Some(RATE_LIMITED)
            && refused["error"]["data"]["reason"] == "limit_store_unavailable"
            && refused["error"]["data"]["retryable"] == true,
        "fail_closed: {refused}"
    );
    let passed = within(Duration::from_secs(5), "a call without Redis", echo(&open)).await??;
    ensure!(error_code(&passed).is_none(), "fail_open: {passed}");
    // Refusals stay prompt during the outage: ten in a row well within the bound.
    within(Duration::from_secs(10), "ten refusals", async {
        for _ in 0..10 {
            let answer = echo(&closed).await?;
            ensure!(error_code(&answer) == Some(RATE_LIMITED), "{answer}");
        }
        anyhow::Ok(())
    })
    .await??;

    redis.restart().await?;
    within(
        Duration::from_secs(20),
        "the fail_closed gateway to recover",
        async {
            loop {
                if error_code(&echo(&closed).await?).is_none() {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        },
    )
    .await??;
    Ok(())
}
