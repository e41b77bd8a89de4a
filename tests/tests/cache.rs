//! `use: cache` (issue 13.5) in a gateway process in front of a real upstream process: a
//! burst of identical read-only calls is one upstream call, later ones are answered from the
//! cache, and other arguments are another entry. The upstream (`fault-server`'s `lookup`,
//! annotated `readOnlyHint: true`) numbers the lookups it really served, so the answers show
//! which ones reached it.

use std::sync::Arc;

use anyhow::ensure;
use serde_json::json;
use toolgate_tests::{GatewayConfig, Upstream, gateway_with_tools, result_of, text_of};

#[tokio::test]
async fn a_burst_of_identical_reads_reaches_the_upstream_once() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("faulty", Upstream::fault::<[&str; 0], &str>([])?)
        .section("layers:\n  - use: cache\n    ttl: 5m\n");
    let (gateway, session) = gateway_with_tools(&config, &["faulty__lookup"]).await?;

    // 100 identical calls at once, each on its own HTTP request; the upstream takes 300 ms.
    let session = Arc::new(session);
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let session = session.clone();
        burst.spawn(async move {
            let response = session
                .call_tool("faulty__lookup", json!({"ms": 300}))
                .await?;
            anyhow::Ok(text_of(result_of(&response)?))
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = burst.join_next().await {
        answers.push(answer??);
    }
    ensure!(answers.len() == 100, "{} answers", answers.len());
    ensure!(
        answers.iter().all(|a| a == "looked up #1"),
        "every caller got the one upstream answer: {:?}",
        answers.iter().collect::<std::collections::BTreeSet<_>>()
    );

    // Later: from the cache, a progress token notwithstanding.
    let again = session
        .request(
            "tools/call",
            Some(json!({"name": "faulty__lookup", "arguments": {"ms": 300},
                        "_meta": {"progressToken": "p1"}})),
        )
        .await?;
    ensure!(text_of(result_of(&again)?) == "looked up #1", "{again}");

    // Other arguments are another entry: the upstream's second lookup.
    let other = session
        .call_tool_ok("faulty__lookup", json!({"ms": 1}))
        .await?;
    ensure!(text_of(&other) == "looked up #2", "{other}");
    drop(gateway);
    Ok(())
}
