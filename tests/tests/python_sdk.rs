//! The official MCP Python SDK as a client of toolgate, over Streamable HTTP and over stdio.

use std::time::Duration;

use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{GatewayConfig, Upstream, demo_gateway, paths, run_python};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn python_sdk_lists_and_calls_over_streamable_http() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    run_python("http_list_and_call.py", [gateway.url()], PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn python_sdk_over_stdio() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("stdio")?;
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let config = scratch.write("toolgate.yaml", &config.to_yaml())?;
    let toolgate = paths::toolgate()?;
    let args = [
        "--".as_ref(),
        toolgate.as_os_str(),
        "--stdio".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    run_python("stdio_list_and_call.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn python_sdk_receives_progress_notifications() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let args = [
        gateway.url(),
        "--tool",
        "demo__sleep",
        "--arguments",
        r#"{"ms": 600, "steps": 3}"#,
        "--min-progress",
        "2",
        "--expect",
        "slept 600ms",
    ];
    run_python("http_progress.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}
