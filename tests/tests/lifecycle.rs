//! The gateway's process lifecycle: a clean stop on SIGTERM, and no child process outlives it,
//! however it dies.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::ensure;
use toolgate_tests::gateway::demo_gateway;
use toolgate_tests::procfs::{children, wait_gone};

#[tokio::test]
async fn sigterm_stops_the_gateway_cleanly_and_its_children_with_it() -> anyhow::Result<()> {
    let (mut gateway, _session) = demo_gateway().await?;
    let kids = children(gateway.pid());
    ensure!(
        !kids.is_empty(),
        "the stdio upstream should be a child of the gateway"
    );
    let status = gateway.terminate();
    ensure!(
        status.is_some_and(|s| s.success()),
        "SIGTERM should end the gateway with status 0, got {status:?}:\n{}",
        gateway.output()
    );
    let left = wait_gone(&kids, Duration::from_secs(3)).await;
    ensure!(
        left.is_empty(),
        "children still alive after the gateway stopped: {left:?}"
    );
    Ok(())
}

#[tokio::test]
async fn sigkilled_gateway_leaves_no_orphan() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let kids = children(gateway.pid());
    ensure!(
        !kids.is_empty(),
        "the stdio upstream should be a child of the gateway"
    );
    let killed = Command::new("kill")
        .args(["-KILL", &gateway.pid().to_string()])
        .stdin(Stdio::null())
        .status()?;
    ensure!(killed.success(), "kill -KILL failed");
    let left = wait_gone(&kids, Duration::from_secs(3)).await;
    ensure!(
        left.is_empty(),
        "children outlived a SIGKILLed gateway: {left:?}"
    );
    Ok(())
}
