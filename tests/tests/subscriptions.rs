//! Resource subscriptions per client session (issue 12.2): server-everything (on stdio, one
//! connection shared by every client) sends `notifications/resources/updated` for the URIs its
//! client subscribed to. Through the gateway only the session that subscribed gets them;
//! `resources.subscribe` is advertised because the upstream supports it; the upstream is
//! unsubscribed when its last subscriber leaves.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use toolgate_tests::{GatewayConfig, Upstream, gateway_with_tools};

const UPDATED: &str = "notifications/resources/updated";

fn is_update_of(uri: &str) -> impl FnMut(&Value) -> bool + '_ {
    move |m: &Value| m["method"] == UPDATED && m["params"]["uri"] == uri
}

#[tokio::test]
async fn resource_updates_reach_only_the_sessions_that_subscribed() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server("everything", Upstream::everything()?);
    let (gateway, subscriber) =
        gateway_with_tools(&config, &["everything__toggle-subscriber-updates"]).await?;
    let bystander = gateway.session().await?;
    anyhow::ensure!(
        subscriber.initialize_result()["capabilities"]["resources"]["subscribe"] == true,
        "the upstream supports subscriptions, so the gateway says so: {}",
        subscriber.initialize_result()
    );

    let resources = subscriber
        .request("resources/list", Some(json!({})))
        .await?;
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .with_context(|| format!("a resource to subscribe to: {resources}"))?
        .to_owned();
    let mut subscriber_stream = subscriber.open_stream().await?;
    let mut bystander_stream = bystander.open_stream().await?;

    let answer = subscriber
        .request("resources/subscribe", Some(json!({"uri": uri})))
        .await?;
    anyhow::ensure!(answer.get("result").is_some(), "{answer}");
    // server-everything sends updates for its subscribers every 5 s once this is on.
    subscriber
        .call_tool_ok("everything__toggle-subscriber-updates", json!({}))
        .await?;

    let update = subscriber_stream
        .wait_for_message(Duration::from_secs(15), is_update_of(&uri))
        .await?;
    assert_eq!(update["params"]["uri"], uri.as_str());
    let stray = bystander_stream
        .wait_for_message(Duration::from_secs(6), is_update_of(&uri))
        .await;
    assert!(
        stray.is_err(),
        "a session that did not subscribe got the update: {stray:?}"
    );

    // The last subscriber leaves: the upstream is unsubscribed, and the updates stop.
    let answer = subscriber
        .request("resources/unsubscribe", Some(json!({"uri": uri})))
        .await?;
    anyhow::ensure!(answer.get("result").is_some(), "{answer}");
    // One update may already be on its way.
    let _ = subscriber_stream
        .wait_for_message(Duration::from_millis(500), is_update_of(&uri))
        .await;
    let late = subscriber_stream
        .wait_for_message(Duration::from_secs(7), is_update_of(&uri))
        .await;
    assert!(
        late.is_err(),
        "updates went on after unsubscribing: {late:?}"
    );
    Ok(())
}

/// With `session_mode: per_session` each session subscribes on its own connection, and what
/// that connection says about the resource between calls reaches its session.
#[tokio::test]
async fn per_session_connections_deliver_their_resource_updates() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("everything", Upstream::everything()?)
        .server_key("everything", "session_mode", "per_session");
    let (_gateway, session) =
        gateway_with_tools(&config, &["everything__toggle-subscriber-updates"]).await?;
    let resources = session.request("resources/list", Some(json!({}))).await?;
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .with_context(|| format!("a resource to subscribe to: {resources}"))?
        .to_owned();
    let mut stream = session.open_stream().await?;
    let answer = session
        .request("resources/subscribe", Some(json!({"uri": uri})))
        .await?;
    anyhow::ensure!(answer.get("result").is_some(), "{answer}");
    session
        .call_tool_ok("everything__toggle-subscriber-updates", json!({}))
        .await?;
    let update = stream
        .wait_for_message(Duration::from_secs(15), is_update_of(&uri))
        .await?;
    assert_eq!(update["params"]["uri"], uri.as_str());
    Ok(())
}
