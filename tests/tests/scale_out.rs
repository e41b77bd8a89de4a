//! Gateway replicas (issue 14): a `rate_limit` with `store: redis` is one budget across two
//! gateway processes sharing a real `redis-server`, and while Redis is gone each gateway does
//! what its `on_store_error` says — at once, never hanging — and counts again when it is back;
//! with one `server.session_secret`, a session opened on one replica is served by any other,
//! so the official Python SDK keeps one session through a real haproxy (round robin, no
//! stickiness) over three gateways, one of them killed mid-run.

use std::time::Duration;

use anyhow::ensure;
use serde_json::{Value, json};
use toolgate_tests::haproxy::Haproxy;
use toolgate_tests::http::{error_code, text_of};
use toolgate_tests::process::ChildProcess;
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

/// Three gateways `gw1`…`gw3` (a demo server each, answering `whoami` with its gateway's name)
/// with one session secret and `extra` YAML, behind haproxy.
async fn three_replicas_behind_haproxy(
    extra: &str,
) -> anyhow::Result<(Vec<toolgate_tests::Gateway>, Haproxy)> {
    let mut gateways = Vec::new();
    for name in ["gw1", "gw2", "gw3"] {
        let config = GatewayConfig::new()
            .server("demo", Upstream::demo(name)?)
            .section(format!(
                "server:\n  session_secret: \"three-replicas-one-secret-0123456789\"\n{extra}"
            ));
        let (gateway, _session) = gateway_with_tools(&config, &["demo__whoami"]).await?;
        gateways.push(gateway);
    }
    let haproxy = Haproxy::start(&gateways.iter().map(|g| g.addr()).collect::<Vec<_>>()).await?;
    Ok((gateways, haproxy))
}

/// The Python SDK client of `replicas_one_session.py` making `calls` calls through `url`.
fn python_client(url: &str, calls: u32, pause_ms: u32) -> anyhow::Result<ChildProcess> {
    toolgate_tests::python::spawn_python(
        "replicas_one_session.py",
        [
            url.to_owned(),
            "--calls".into(),
            calls.to_string(),
            "--pause-ms".into(),
            pause_ms.to_string(),
        ],
    )
}

/// The client's closing JSON line: `{"ok", "failed", "answers", "errors"}`.
async fn summary_of(client: &mut ChildProcess) -> anyhow::Result<Value> {
    let line = client
        .wait_for_line("\"ok\"", Duration::from_secs(90))
        .await?;
    Ok(serde_json::from_str(&line[line.find('{').unwrap_or(0)..])?)
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

/// Two gateways with one `server.session_secret` and a third with another: a session opened
/// on the first is served by the second — calls, lists, the GET stream — for the identity that
/// opened it only, and the third (another secret) does not know it.
#[tokio::test]
async fn a_session_opened_on_one_replica_is_served_by_another() -> anyhow::Result<()> {
    const SECRET: &str = "a-secret-shared-by-the-replicas-0123456789";
    let replica = |secret: &str| -> anyhow::Result<GatewayConfig> {
        Ok(GatewayConfig::new()
            .server("demo", Upstream::demo("demo")?)
            .section(format!(
                "server:\n  session_secret: \"{secret}\"\nlayers:\n  - use: auth\n    api_keys:\n      - {{name: alice, key: alice-key-0123456789}}\n      - {{name: bob, key: bob-key-0123456789}}\n"
            )))
    };
    let a = toolgate_tests::Gateway::start_config(&replica(SECRET)?).await?;
    let b = toolgate_tests::Gateway::start_config(&replica(SECRET)?).await?;
    let c = toolgate_tests::Gateway::start_config(&replica(
        "another-secret-of-another-deployment-0123",
    )?)
    .await?;
    let alice = [("Authorization", "Bearer alice-key-0123456789")];
    let on_a = McpSession::connect_with(a.url(), &alice).await?;
    ensure!(on_a.id().starts_with("s1."), "a sealed id: {}", on_a.id());
    on_a.wait_for_tools(&["demo__echo"], Duration::from_secs(20))
        .await?;

    // The same session at B: calls and lists work, with the negotiated version.
    let on_b = on_a.sent_to(b.url(), None);
    on_b.wait_for_tools(&["demo__echo"], Duration::from_secs(20))
        .await?;
    let echoed = on_b
        .call_tool_ok("demo__echo", json!({"message": "moved"}))
        .await?;
    ensure!(text_of(&echoed) == "moved", "{echoed}");
    let stream = on_b.open_stream().await;
    ensure!(stream.is_ok(), "the GET stream opens at B: {stream:?}");
    // Back at A, it still works.
    let again = on_a
        .call_tool_ok("demo__echo", json!({"message": "back"}))
        .await?;
    ensure!(text_of(&again) == "back", "{again}");

    // Bob cannot use Alice's session anywhere, and C (another secret) does not know it.
    let bob = [("Authorization", "Bearer bob-key-0123456789")];
    for (who, session) in [
        ("bob at B", on_a.sent_to(b.url(), Some(&bob))),
        ("alice at C", on_a.sent_to(c.url(), None)),
    ] {
        let response = session
            .post(
                &[],
                json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).to_string(),
            )
            .await?;
        ensure!(response.status == 404, "{who}: {}", response.describe());
    }
    Ok(())
}

/// Three gateways with one session secret behind haproxy (round robin, no stickiness): the
/// Python SDK makes 200 calls in one session, spread over all three; one gateway is killed
/// (SIGKILL) after call 100, which costs at most the one call in flight, and later calls are
/// answered by the two others.
#[tokio::test]
async fn the_python_sdk_keeps_one_session_across_replicas_behind_haproxy() -> anyhow::Result<()> {
    let (mut gateways, haproxy) = three_replicas_behind_haproxy("").await?;
    let mut client = python_client(&haproxy.url(), 200, 10)?;
    client
        .wait_for_line("call 100 ", Duration::from_secs(60))
        .await?;
    gateways[1].kill();
    let summary = summary_of(&mut client).await?;
    let output = client.output();
    let (ok, failed) = (summary["ok"].as_u64(), summary["failed"].as_u64());
    ensure!(
        ok.zip(failed)
            .is_some_and(|(ok, failed)| ok + failed == 200 && failed <= 1),
        "200 calls, at most the one in flight lost: {summary}\n{output}"
    );
    for name in ["gw1", "gw2", "gw3"] {
        ensure!(
            summary["answers"][name].as_u64().is_some_and(|n| n > 0),
            "{name} served some of the session's calls: {summary}"
        );
    }
    // After the kill (and a moment for haproxy's health check), only gw1 and gw3 answer.
    let late: Vec<&str> = output
        .lines()
        .filter_map(|l| l.split_once("call "))
        .map(|(_, rest)| rest)
        .filter_map(|l| l.split_once(' '))
        .filter(|(i, _)| i.parse::<u32>().is_ok_and(|i| i > 110))
        .map(|(_, who)| who)
        .collect();
    ensure!(
        !late.is_empty() && late.iter().all(|who| *who == "gw1" || *who == "gw3"),
        "after the kill: {late:?}"
    );
    Ok(())
}

/// `use: cache` with `store: redis` on two gateways, each with its own fault-server process:
/// a read-only call answered by the first gateway's upstream is answered by the second from
/// Redis — its own upstream never sees it — while other arguments still go upstream there.
#[tokio::test]
async fn a_cache_in_redis_answers_on_every_replica() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let config = GatewayConfig::new()
        .server("svc", Upstream::fault::<[&str; 0], &str>([])?)
        .section(format!(
            "redis:\n  url: {}\n  key_prefix: \"cache-test-{}:\"\nlayers:\n  - use: cache\n    store: redis\n    ttl: 60s\n",
            redis.url(),
            std::process::id()
        ));
    let tools = ["svc__numbered", "svc__numbered_count"];
    let (_a, a) = gateway_with_tools(&config, &tools).await?;
    let (_b, b) = gateway_with_tools(&config, &tools).await?;
    let first = a.call_tool_ok("svc__numbered", json!({"ms": 1})).await?;
    ensure!(text_of(&first) == "call #1", "{first}");
    // The write to Redis happens in the background: wait until the entry is there.
    let pattern = format!("cache-test-{}:cache:tool:*", std::process::id());
    within(Duration::from_secs(5), "the entry to reach Redis", async {
        while redis.keys(&pattern)?.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::Ok(())
    })
    .await??;
    let from_redis = b.call_tool_ok("svc__numbered", json!({"ms": 1})).await?;
    let count = text_of(&b.call_tool_ok("svc__numbered_count", json!({})).await?);
    ensure!(count == "0", "B's upstream never got the call: {count}");
    ensure!(
        text_of(&from_redis) == "call #1",
        "A's answer, from Redis: {from_redis}"
    );
    let other = b.call_tool_ok("svc__numbered", json!({"ms": 2})).await?;
    ensure!(
        text_of(&other) == "call #1",
        "other arguments reach B's upstream: {other}"
    );
    let count = text_of(&b.call_tool_ok("svc__numbered_count", json!({})).await?);
    ensure!(
        count == "1",
        "B's upstream got exactly the new call: {count}"
    );
    Ok(())
}

/// A 100/min budget in Redis holds across three gateways behind haproxy: of 150 calls the
/// Python SDK makes in one session, 100 pass (±1 per replica allowed, exact in practice) and
/// the rest are refused with the rate limit's error, whichever replica they reach.
#[tokio::test]
async fn a_limit_in_redis_holds_across_three_replicas_behind_haproxy() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let (_gateways, haproxy) = three_replicas_behind_haproxy(&format!(
        "redis:\n  url: {}\n  key_prefix: \"limit-{}:\"\nlayers:\n  - use: rate_limit\n    store: redis\n    rules:\n      - {{rate: 100/min, server: demo, tool: whoami}}\n",
        redis.url(),
        std::process::id()
    ))
    .await?;
    let mut client = python_client(&haproxy.url(), 150, 0)?;
    let summary = summary_of(&mut client).await?;
    let ok = summary["ok"].as_u64().unwrap_or(0);
    ensure!(
        (97..=103).contains(&ok) && summary["failed"].as_u64() == Some(150 - ok),
        "100 of 150 pass across three replicas: {summary}"
    );
    let errors = summary["errors"].to_string();
    ensure!(errors.contains("rate limit 100/min exceeded"), "{summary}");
    let served = ["gw1", "gw2", "gw3"]
        .iter()
        .filter(|n| summary["answers"][**n].as_u64().is_some_and(|c| c > 0))
        .count();
    ensure!(served == 3, "every replica served some: {summary}");
    Ok(())
}

/// A Redis that speaks TLS only, with a certificate from a private CA: `rediss://` with the CA
/// in `redis.tls.ca_file` carries the shared budget; without the CA (the system's roots) the
/// handshake fails and a `fail_closed` limit refuses at once, saying why; a Redis that
/// requires client certificates gets the one in `redis.tls.cert_file`.
#[tokio::test]
async fn a_redis_over_tls_is_trusted_by_its_ca_only() -> anyhow::Result<()> {
    use toolgate_tests::tls::{Pki, Validity};
    let pki = Pki::new("redis")?;
    let cert = pki.server_cert("redis", &["127.0.0.1"], Validity::Current)?;
    let client = pki.client_cert("toolgate")?;
    let config = |url: String, tls: &str| -> anyhow::Result<GatewayConfig> {
        Ok(GatewayConfig::new()
            .server("demo", Upstream::demo("demo")?)
            .section(format!(
                "redis:\n  url: {url}\n  key_prefix: \"tls-{}:\"\n{tls}layers:\n  - use: rate_limit\n    store: redis\n    rules:\n      - {{rate: 2/min, server: demo, tool: echo}}\n",
                std::process::id()
            )))
    };
    let ca = pki.ca_file().to_string_lossy().into_owned();

    let redis = RedisServer::start_tls(&cert, None).await?;
    let trusted = config(redis.tls_url(), &format!("  tls: {{ca_file: \"{ca}\"}}\n"))?;
    let (_a, a) = gateway_with_tools(&trusted, &["demo__echo"]).await?;
    let codes: Vec<Option<i64>> = [echo(&a).await?, echo(&a).await?, echo(&a).await?]
        .iter()
        .map(error_code)
        .collect();
    ensure!(
        codes == [None, None, Some(RATE_LIMITED)],
        "two pass, the third is over the budget kept in Redis over TLS: {codes:?}"
    );

    let untrusted = config(redis.tls_url(), "")?;
    let (_b, b) = gateway_with_tools(&untrusted, &["demo__echo"]).await?;
    let refused = within(Duration::from_secs(5), "a refusal", echo(&b)).await??;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        refused["error"]["data"]["reason"] == "limit_store_unavailable"
            && message.to_ascii_lowercase().contains("certificate"),
        "an untrusted Redis certificate: {refused}"
    );

    let strict = RedisServer::start_tls(&cert, Some(pki.ca_file())).await?;
    let with_cert = config(
        strict.tls_url(),
        &format!(
            "  tls: {{ca_file: \"{ca}\", cert_file: \"{}\", key_file: \"{}\"}}\n",
            client.cert.display(),
            client.key.display()
        ),
    )?;
    let (_c, c) = gateway_with_tools(&with_cert, &["demo__echo"]).await?;
    let answer = echo(&c).await?;
    ensure!(error_code(&answer).is_none(), "mTLS to Redis: {answer}");
    Ok(())
}
