//! Replicas of one upstream (issue 13.1) in a gateway process: `replicas: N` over real
//! fault-server child processes and `url: [a, b, c]` over real demo-server HTTP processes.
//! Calls are spread over the replicas; when one is killed mid-load, every call that can be
//! repeated is answered by another, the others get -31000 rather than being sent twice, and
//! `/readyz` shows the replica ejected.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use toolgate_tests::demo::DemoServer;
use toolgate_tests::http::{error_code, text_of};
use toolgate_tests::procfs::children;
use toolgate_tests::{GatewayConfig, McpSession, Upstream, gateway_with_tools, within};

const UPSTREAM_DOWN: i64 = -31000;

fn kill(pid: &str) -> anyhow::Result<()> {
    let status = Command::new("kill").args(["-KILL", pid]).status()?;
    ensure!(status.success(), "kill -KILL {pid}: {status}");
    Ok(())
}

/// The process ids that answer `svc__pid` over `calls` calls.
async fn pids_seen(session: &McpSession, calls: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for _ in 0..calls {
        seen.insert(text_of(&session.call_tool_ok("svc__pid", json!({})).await?));
    }
    Ok(seen)
}

fn svc_readyz(readyz: &Value) -> anyhow::Result<&Value> {
    readyz["upstreams"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["name"] == "svc"))
        .with_context(|| format!("svc in {readyz}"))
}

/// Three fault-server processes behind `svc`: calls reach all three; 60 read-only calls in
/// flight when one is killed all succeed (the killed one's calls fail over), and the killed
/// replica is ejected while the others keep serving.
#[tokio::test]
async fn a_replica_killed_mid_load_loses_no_call_that_could_be_repeated() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("svc", Upstream::fault::<[&str; 0], &str>([])?)
        .server_key("svc", "replicas", "3")
        .server_key(
            "svc",
            "outlier_detection",
            "{consecutive_failures: 1, base_ejection: 30s, max_ejection: 60s}",
        );
    let (gateway, session) = gateway_with_tools(&config, &["svc__pid", "svc__lookup"]).await?;
    within(Duration::from_secs(20), "all three replicas ready", async {
        loop {
            let readyz = gateway.readyz().await?;
            let svc = svc_readyz(&readyz)?;
            let ready = svc["replicas"]
                .as_array()
                .map_or(0, |r| r.iter().filter(|r| r["status"] == "ready").count());
            if ready == 3 {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await??;

    // Spread: 60 calls one after another reach every replica (P2C picks at random among
    // idle ones; missing one has odds of about 1e-10).
    let pids = pids_seen(&session, 60).await?;
    ensure!(pids.len() == 3, "calls reached {pids:?}");
    let kids: BTreeSet<String> = children(gateway.pid())
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    ensure!(
        pids.is_subset(&kids),
        "the replicas {pids:?} are the gateway's children {kids:?}"
    );

    // 60 read-only calls of 400 ms in flight, then one replica dies.
    let session = Arc::new(session);
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let session = session.clone();
        load.spawn(async move { session.call_tool("svc__lookup", json!({"ms": 400})).await });
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let victim = pids.iter().next().context("a pid")?.clone();
    kill(&victim)?;
    let answers = within(Duration::from_secs(30), "the load to finish", async {
        let mut answers = Vec::new();
        while let Some(answer) = load.join_next().await {
            answers.push(answer??);
        }
        anyhow::Ok(answers)
    })
    .await??;
    let failed: Vec<&Value> = answers
        .iter()
        .filter(|a| a.get("error").is_some() || a["result"]["isError"] == true)
        .collect();
    ensure!(
        answers.len() == 60 && failed.is_empty(),
        "{} of 60 calls failed: {failed:?}",
        failed.len()
    );

    // The killed replica is ejected: new calls go to the two others only, even once the
    // supervisor has restarted it.
    let readyz = gateway.readyz().await?;
    let svc = svc_readyz(&readyz)?;
    ensure!(svc["status"] == "ready", "svc stays ready: {svc}");
    let ejected = svc["replicas"].as_array().map_or(0, |r| {
        r.iter().filter(|r| r.get("ejectedForMs").is_some()).count()
    });
    ensure!(ejected == 1, "one replica ejected: {svc}");
    let after = pids_seen(&session, 30).await?;
    ensure!(
        after.len() == 2 && !after.contains(&victim),
        "after the kill calls reach {after:?}, not {victim}"
    );
    Ok(())
}

/// A call that could do something twice (`sleep`, no read-only or idempotent annotation) is
/// not sent to a second replica when the first dies under it: it gets -31000, retryable,
/// and the calls on the other replica are answered.
#[tokio::test]
async fn a_call_that_may_not_be_repeated_fails_rather_than_running_twice() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("svc", Upstream::fault::<[&str; 0], &str>([])?)
        .server_key("svc", "replicas", "2");
    let (_gateway, session) = gateway_with_tools(&config, &["svc__pid", "svc__sleep"]).await?;
    let pids = within(Duration::from_secs(20), "both replicas to answer", async {
        loop {
            let pids = pids_seen(&session, 10).await?;
            if pids.len() == 2 {
                return anyhow::Ok(pids);
            }
        }
    })
    .await??;
    let session = Arc::new(session);
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let session = session.clone();
        load.spawn(async move { session.call_tool("svc__sleep", json!({"ms": 800})).await });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill(pids.iter().next().context("a pid")?)?;
    let mut answered = 0;
    let mut refused = Vec::new();
    within(Duration::from_secs(30), "the calls to finish", async {
        while let Some(answer) = load.join_next().await {
            let answer = answer??;
            match error_code(&answer) {
                None => {
                    ensure!(text_of(&answer["result"]) == "slept", "{answer}");
                    answered += 1;
                }
                Some(UPSTREAM_DOWN) => refused.push(answer),
                Some(_) => anyhow::bail!("unexpected answer {answer}"),
            }
        }
        anyhow::Ok(())
    })
    .await??;
    // P2C on requests in flight splits the ten calls about evenly: the killed replica's are
    // refused, not sent again; the other's are answered.
    ensure!(
        answered >= 1 && !refused.is_empty() && answered + refused.len() == 10,
        "{answered} answered, {} refused: {refused:?}",
        refused.len()
    );
    for r in &refused {
        ensure!(
            r["error"]["data"]["retryable"] == true,
            "-31000 says it may be retried: {r}"
        );
    }
    Ok(())
}

/// `url: [a, b, dead]` over two demo-server HTTP processes and a closed port: calls reach
/// both live servers, the dead one shows in `/readyz` as down without making svc unready,
/// and with every replica gone svc is down with each one's reason.
#[tokio::test]
async fn a_list_of_urls_is_balanced_and_a_dead_one_is_left_out() -> anyhow::Result<()> {
    let a = DemoServer::start_http("replica-a").await?;
    let b = DemoServer::start_http("replica-b").await?;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}/mcp", l.local_addr()?)
    };
    let config =
        GatewayConfig::new().server("svc", Upstream::replicas([a.url(), b.url(), dead.as_str()]));
    let (gateway, session) = gateway_with_tools(&config, &["svc__whoami"]).await?;
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let answer = session.call_tool_ok("svc__whoami", json!({})).await?;
        seen.insert(text_of(&answer));
    }
    ensure!(
        seen == BTreeSet::from(["replica-a".to_owned(), "replica-b".to_owned()]),
        "calls reached {seen:?}"
    );
    let readyz = gateway.readyz().await?;
    let svc = svc_readyz(&readyz)?;
    let replicas = svc["replicas"].as_array().context("replicas")?;
    ensure!(
        svc["status"] == "ready"
            && replicas.len() == 3
            && replicas[2]["name"] == "svc#3"
            && replicas[2]["status"] != "ready",
        "{svc}"
    );
    drop((a, b));
    let down = within(Duration::from_secs(20), "svc to go down", async {
        loop {
            let answer = session.call_tool("svc__whoami", json!({})).await?;
            if error_code(&answer) == Some(UPSTREAM_DOWN) {
                let readyz = gateway.readyz().await?;
                let svc = svc_readyz(&readyz)?.clone();
                if svc["status"] == "down" {
                    return anyhow::Ok(svc);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await??;
    let reason = down["reason"].as_str().unwrap_or_default();
    ensure!(
        reason.starts_with("all 3 replicas are down")
            && ["svc#1", "svc#2", "svc#3"]
                .iter()
                .all(|r| reason.contains(r)),
        "{down}"
    );
    Ok(())
}
