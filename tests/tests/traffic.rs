//! `use: mirror` and `use: canary` (issue 13.7) in a gateway process over two real upstream
//! processes standing for two versions of one server: mirrored calls reach the second one in
//! the background while callers get the first one's answers; canary calls are served by the
//! second one for exactly their weight, per call or per session.

use std::time::Duration;

use anyhow::ensure;
use serde_json::json;
use toolgate_tests::{GatewayConfig, McpSession, Upstream, gateway_with_tools, text_of, within};

fn two_versions(layers: &str) -> anyhow::Result<GatewayConfig> {
    Ok(GatewayConfig::new()
        .server("stable", Upstream::fault::<[&str; 0], &str>([])?)
        .server("next", Upstream::fault::<[&str; 0], &str>([])?)
        .section(layers))
}

async fn pid(session: &McpSession, server: &str) -> anyhow::Result<String> {
    Ok(text_of(
        &session
            .call_tool_ok(&format!("{server}__pid"), json!({}))
            .await?,
    ))
}

#[tokio::test]
async fn a_share_of_calls_is_copied_to_the_mirror_and_its_answers_dropped() -> anyhow::Result<()> {
    let config = two_versions(
        "layers:\n  - use: mirror\n    routes:\n      - {from: stable, to: next, share: 0.5}\n",
    )?;
    let tools = ["stable__numbered", "next__numbered", "next__numbered_count"];
    let (_gateway, session) = gateway_with_tools(&config, &tools).await?;
    for i in 1..=4 {
        let answer = session
            .call_tool_ok("stable__numbered", json!({"ms": 1}))
            .await?;
        ensure!(
            text_of(&answer) == format!("call #{i}"),
            "stable answers: {answer}"
        );
    }
    // Exactly half were copied; the copies run in the background.
    within(
        Duration::from_secs(10),
        "the mirror to get its two copies",
        async {
            loop {
                let n = text_of(
                    &session
                        .call_tool_ok("next__numbered_count", json!({}))
                        .await?,
                );
                if n == "2" {
                    return anyhow::Ok(());
                }
                ensure!(n == "0" || n == "1", "more copies than the share: {n}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await??;
    // Calls made directly to the mirror are not copied back.
    let direct = session
        .call_tool_ok("next__numbered", json!({"ms": 1}))
        .await?;
    ensure!(text_of(&direct) == "call #3", "{direct}");
    Ok(())
}

#[tokio::test]
async fn a_per_call_canary_serves_exactly_its_weight() -> anyhow::Result<()> {
    let config = two_versions(
        "layers:\n  - use: canary\n    routes:\n      - {from: stable, to: next, weight: 0.5, sticky: false}\n",
    )?;
    let (_gateway, session) = gateway_with_tools(&config, &["stable__pid", "next__pid"]).await?;
    let next = pid(&session, "next").await?;
    let mut served_by_next = 0;
    for _ in 0..10 {
        if pid(&session, "stable").await? == next {
            served_by_next += 1;
        }
    }
    ensure!(
        served_by_next == 5,
        "{served_by_next} of 10 calls went to next"
    );
    Ok(())
}

#[tokio::test]
async fn a_sticky_canary_keeps_each_session_on_one_version() -> anyhow::Result<()> {
    let config = two_versions(
        "layers:\n  - use: canary\n    routes:\n      - {from: stable, to: next, weight: 0.5}\n",
    )?;
    let (gateway, first) = gateway_with_tools(&config, &["stable__pid", "next__pid"]).await?;
    let next = pid(&first, "next").await?;
    let mut versions = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let session = gateway.session().await?;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            seen.insert(pid(&session, "stable").await?);
        }
        ensure!(seen.len() == 1, "one session, one version: {seen:?}");
        versions.extend(seen);
    }
    // Sessions are placed by a fixed hash of their serial: at weight 0.5, twelve of them
    // land on both versions.
    ensure!(
        versions.len() == 2 && versions.contains(&next),
        "12 sessions at weight 0.5 use both versions: {versions:?} (next is {next})"
    );
    Ok(())
}
