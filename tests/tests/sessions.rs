//! Sessions over Streamable HTTP: isolation between clients sharing an upstream, progress
//! routed to its caller, and ending a session.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use http::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;
use toolgate_tests::{demo_gateway, text_of, within};

#[tokio::test]
async fn two_clients_with_id_zero_never_cross() -> anyhow::Result<()> {
    let (gateway, a) = demo_gateway().await?;
    let b = gateway.session().await?;

    // Concurrent sleeps of different lengths, both id 0: the short one answers first.
    for round in 0..3u64 {
        let (slow_ms, fast_ms) = (300 + round * 10, 100 + round * 10);
        let call = |ms: u64| Some(json!({"name": "demo__sleep", "arguments": {"ms": ms}}));
        let (slow, fast) = tokio::join!(
            a.exchange_with_id(json!(0), "tools/call", call(slow_ms)),
            b.exchange_with_id(json!(0), "tools/call", call(fast_ms)),
        );
        let (slow, fast) = (slow?, fast?);
        assert_eq!(slow.response["id"], 0);
        assert_eq!(fast.response["id"], 0);
        assert_eq!(
            text_of(slow.result()?),
            format!("slept {slow_ms}ms"),
            "session A, round {round}"
        );
        assert_eq!(
            text_of(fast.result()?),
            format!("slept {fast_ms}ms"),
            "session B, round {round}"
        );
    }

    // Many echoes at once from many sessions, all id 0 (one request in flight per session:
    // an id may not be reused within a session while in flight): each gets its own message.
    let mut sessions = vec![Arc::new(a), Arc::new(b)];
    for _ in 2..20 {
        sessions.push(Arc::new(gateway.session().await?));
    }
    let mut calls = JoinSet::new();
    for (i, session) in sessions.iter().enumerate() {
        let session = Arc::clone(session);
        calls.spawn(async move {
            let message = format!("session-{i}");
            let params = json!({"name": "demo__echo", "arguments": {"message": message}});
            let exchange = session
                .exchange_with_id(json!(0), "tools/call", Some(params))
                .await?;
            let got = text_of(exchange.result()?);
            ensure!(
                got == message,
                "session {i} sent {message:?} and got {got:?}"
            );
            anyhow::Ok(())
        });
    }
    within(Duration::from_secs(60), "20 concurrent echoes", async {
        while let Some(done) = calls.join_next().await {
            done.context("echo task panicked")??;
        }
        anyhow::Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test]
async fn progress_notifications_reach_the_caller() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;

    for token in [json!("progress-1"), json!(7)] {
        let exchange = session
            .call_tool_with_progress("demo__sleep", json!({"ms": 600, "steps": 3}), token.clone())
            .await?;
        ensure!(
            exchange.http.is_sse(),
            "a request with a progressToken, from a client that accepts SSE, is answered as SSE:\n{}",
            exchange.http.describe()
        );
        let progress = exchange.notifications("notifications/progress");
        ensure!(
            !progress.is_empty(),
            "no progress notifications: {:?}",
            exchange.messages
        );
        let mut last = f64::MIN;
        for note in &progress {
            assert_eq!(
                note["params"]["progressToken"], token,
                "the caller's own token comes back unchanged"
            );
            let value = note["params"]["progress"].as_f64().unwrap_or(f64::NAN);
            ensure!(value > last, "progress must increase: {progress:?}");
            last = value;
        }
        assert_eq!(
            exchange.messages.last(),
            Some(&exchange.response),
            "the response ends the stream, after the progress"
        );
        assert_eq!(text_of(exchange.result()?), "slept 600ms");
    }
    Ok(())
}

#[tokio::test]
async fn answers_without_progress_token_are_json() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let exchange = session
        .exchange(
            "tools/call",
            Some(json!({"name": "demo__echo", "arguments": {"message": "plain"}})),
        )
        .await?;
    assert_eq!(
        exchange.http.content_type().as_deref(),
        Some("application/json"),
        "{}",
        exchange.http.describe()
    );
    assert_eq!(text_of(exchange.result()?), "plain");
    Ok(())
}

#[tokio::test]
async fn delete_ends_session() -> anyhow::Result<()> {
    let (gateway, session) = demo_gateway().await?;
    let other = gateway.session().await?;

    let deleted = session.delete().await?;
    ensure!(
        deleted.status.is_success(),
        "DELETE: {}",
        deleted.describe()
    );

    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string();
    let after = session.post(&[], body).await?;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.describe());

    // Other sessions are untouched.
    let names = other.tool_names().await?;
    ensure!(names.iter().any(|n| n == "demo__echo"), "{names:?}");
    Ok(())
}

#[tokio::test]
async fn a_new_get_stream_ends_the_previous_one() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let mut first = session.open_stream().await?;
    let mut second = session.open_stream().await?;
    // The first stream must end (cleanly or by a dropped connection), not stay open beside the
    // second: a session has one stream, and no message goes out on two.
    match first.next_event(Duration::from_secs(5)).await {
        Ok(None) => {}
        Ok(Some(event)) => anyhow::bail!("the replaced stream still carried an event: {event:?}"),
        Err(e) => ensure!(
            !e.to_string().contains("no SSE event within"),
            "the replaced stream stayed open: {e:#}"
        ),
    }
    session
        .call_tool_ok("demo__toggle_extra", json!({}))
        .await?;
    second
        .wait_for_message(Duration::from_secs(10), |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await?;
    Ok(())
}
