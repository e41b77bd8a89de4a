//! The harness against third-party peers alone, without toolgate: the venv and the official
//! Python SDK, the node preload and server-everything, and the raw HTTP client all work, so a
//! failure in the gateway tests is the gateway's.

use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::json;
use toolgate_tests::everything::EverythingTransport;
use toolgate_tests::http::open_stream;
use toolgate_tests::{McpSession, ServerEverything, paths, run_python, text_of};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn python_sdk_talks_to_server_everything_over_streamable_http() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let url = everything.url();
    let args = [
        &url,
        "--echo-tool",
        "echo",
        "--message",
        "hi",
        "--expect",
        "Echo: hi",
    ];
    run_python("http_list_and_call.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn python_sdk_sees_server_everything_progress() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let url = everything.url();
    let args = [
        &url,
        "--tool",
        "trigger-long-running-operation",
        "--arguments",
        r#"{"duration": 0.6, "steps": 3}"#,
        "--min-progress",
        "3",
        "--expect",
        "Long running operation completed. Duration: 0.6 seconds, Steps: 3.",
    ];
    run_python("http_progress.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn python_sdk_drives_server_everything_over_stdio() -> anyhow::Result<()> {
    let entry = paths::server_everything_entry()?;
    let node = paths::node();
    let args = [
        "--echo-tool".as_ref(),
        "echo".as_ref(),
        "--message".as_ref(),
        "over stdio".as_ref(),
        "--expect".as_ref(),
        "Echo: over stdio".as_ref(),
        "--".as_ref(),
        node.as_os_str(),
        entry.as_os_str(),
        "stdio".as_ref(),
    ];
    run_python("stdio_list_and_call.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn raw_client_talks_to_server_everything() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let session = McpSession::connect(&everything.url()).await?;
    ensure!(!session.id().is_empty(), "empty session id");

    let names = session.tool_names().await?;
    ensure!(
        names.iter().any(|n| n == "echo"),
        "no echo tool in {names:?}"
    );

    let result = session
        .call_tool_ok("echo", json!({"message": "raw"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: raw");

    // server-everything answers requests as SSE: this exercises the SSE path of the client.
    let exchange = session
        .call_tool_with_progress(
            "trigger-long-running-operation",
            json!({"duration": 0.3, "steps": 3}),
            json!("raw-progress"),
        )
        .await?;
    let progress = exchange.notifications("notifications/progress");
    assert_eq!(progress.len(), 3, "progress: {:?}", exchange.messages);
    for note in &progress {
        assert_eq!(note["params"]["progressToken"], "raw-progress");
    }
    assert_eq!(
        exchange.messages.last(),
        Some(&exchange.response),
        "the response comes after the progress"
    );

    let deleted = session.delete().await?;
    ensure!(
        deleted.status.is_success(),
        "DELETE: {}",
        deleted.describe()
    );
    Ok(())
}

#[tokio::test]
async fn server_everything_sse_mode_announces_its_endpoint() -> anyhow::Result<()> {
    let everything = ServerEverything::start(EverythingTransport::Sse).await?;
    let mut stream = open_stream(&everything.url(), None, &[]).await?;
    let event = stream
        .next_event(Duration::from_secs(10))
        .await?
        .context("the SSE stream ended before the endpoint event")?;
    assert_eq!(event.event.as_deref(), Some("endpoint"), "{event:?}");
    ensure!(
        event.data.contains("/message") && event.data.contains("sessionId="),
        "endpoint event data: {:?}",
        event.data
    );
    Ok(())
}

#[tokio::test]
async fn server_everything_listens_on_loopback_only() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let port = format!(":{:04X}", everything.port());
    // /proc/net/tcp{,6}: "sl local_address rem_address st ..."; st 0A = LISTEN.
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).with_context(|| format!("reading {table}"))?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [_, local, _, "0A", ..] = fields[..]
                && local.ends_with(&port)
            {
                listening.push(local.to_owned());
            }
        }
    }
    ensure!(
        !listening.is_empty(),
        "nothing listens on port {}",
        everything.port()
    );
    ensure!(
        listening.iter().all(|l| l == &format!("0100007F{port}")),
        "the loopback preload binds 127.0.0.1 only; listening sockets: {listening:?}"
    );
    Ok(())
}
