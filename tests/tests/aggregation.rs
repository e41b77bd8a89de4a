//! Many upstreams behind one endpoint: namespaced names, third-party servers beside ours,
//! list changes, and the built-in default config.

use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::json;
use tokio::time::Instant;
use toolgate_tests::{Gateway, GatewayConfig, Upstream, demo_gateway, gateway_with_tools, text_of};

#[tokio::test]
async fn server_everything_beside_demo_server() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("everything", Upstream::everything()?)
        .server("demo", Upstream::demo("demo")?);
    let wanted = [
        "everything__echo",
        "everything__get-sum",
        "demo__echo",
        "demo__add",
    ];
    let (_gateway, session) = gateway_with_tools(&config, &wanted).await?;

    let names = session.tool_names().await?;
    ensure!(
        names
            .iter()
            .all(|n| n.starts_with("everything__") || n.starts_with("demo__")),
        "every tool carries its server's prefix: {names:?}"
    );

    let result = session
        .call_tool_ok("everything__echo", json!({"message": "via everything"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: via everything");

    let result = session
        .call_tool_ok("demo__echo", json!({"message": "via demo"}))
        .await?;
    assert_eq!(text_of(&result), "via demo");

    let result = session
        .call_tool_ok("everything__get-sum", json!({"a": 2, "b": 3}))
        .await?;
    ensure!(text_of(&result).contains('5'), "get-sum 2+3: {result}");

    let result = session
        .call_tool_ok("demo__add", json!({"a": 2, "b": 3}))
        .await?;
    assert_eq!(result["structuredContent"]["sum"], 5, "{result}");

    let prompts = session
        .list_names("prompts/list", "prompts", "name")
        .await?;
    ensure!(
        prompts.iter().any(|p| p == "demo__greet"),
        "prompts: {prompts:?}"
    );
    ensure!(
        prompts.iter().any(|p| p.starts_with("everything__")),
        "server-everything's prompts are listed: {prompts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn name_collisions_are_namespaced() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("alpha", Upstream::demo("alpha")?)
        .server("beta", Upstream::demo("beta")?);
    let wanted = ["alpha__echo", "beta__echo", "alpha__whoami", "beta__whoami"];
    let (_gateway, session) = gateway_with_tools(&config, &wanted).await?;

    let names = session.tool_names().await?;
    ensure!(
        !names.iter().any(|n| n == "echo" || n == "whoami"),
        "no unprefixed names: {names:?}"
    );

    let alpha = session.call_tool_ok("alpha__whoami", json!({})).await?;
    assert_eq!(text_of(&alpha), "alpha");
    let beta = session.call_tool_ok("beta__whoami", json!({})).await?;
    assert_eq!(text_of(&beta), "beta");

    let prompts = session
        .list_names("prompts/list", "prompts", "name")
        .await?;
    for wanted in ["alpha__greet", "beta__greet"] {
        ensure!(
            prompts.iter().any(|p| p == wanted),
            "{wanted} in {prompts:?}"
        );
    }
    let prompt = session
        .result(
            "prompts/get",
            Some(json!({"name": "beta__greet", "arguments": {"name": "Ada"}})),
        )
        .await?;
    ensure!(
        prompt["messages"].as_array().is_some_and(|m| !m.is_empty()),
        "prompts/get beta__greet: {prompt}"
    );

    Ok(())
}

#[tokio::test]
async fn resources_keep_their_uris() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let resources = session
        .list_names("resources/list", "resources", "uri")
        .await?;
    ensure!(
        resources.iter().any(|r| r == "demo://readme"),
        "resources: {resources:?}"
    );
    let readme = session
        .result("resources/read", Some(json!({"uri": "demo://readme"})))
        .await?;
    ensure!(
        readme["contents"].as_array().is_some_and(|c| !c.is_empty()),
        "resources/read demo://readme: {readme}"
    );

    let templates = session
        .list_names(
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate",
        )
        .await?;
    ensure!(
        templates.iter().any(|t| t == "demo://echo/{text}"),
        "resource templates: {templates:?}"
    );
    let echoed = session
        .result("resources/read", Some(json!({"uri": "demo://echo/hello"})))
        .await?;
    ensure!(
        echoed.to_string().contains("hello"),
        "resources/read demo://echo/hello: {echoed}"
    );
    Ok(())
}

#[tokio::test]
async fn separator_is_configurable() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .separator(".")
        .server("demo", Upstream::demo("demo")?);
    let (_gateway, session) = gateway_with_tools(&config, &["demo.echo"]).await?;
    let names = session.tool_names().await?;
    ensure!(
        !names.iter().any(|n| n.contains("__")),
        "the default separator is not used: {names:?}"
    );
    let result = session
        .call_tool_ok("demo.echo", json!({"message": "dot"}))
        .await?;
    assert_eq!(text_of(&result), "dot");
    Ok(())
}

#[tokio::test]
async fn list_changed_refreshes_and_reaches_client() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let names = session.tool_names().await?;
    ensure!(
        !names.iter().any(|n| n == "demo__extra"),
        "extra before toggling: {names:?}"
    );

    let mut stream = session.open_stream().await?;
    session
        .call_tool_ok("demo__toggle_extra", json!({}))
        .await?;

    stream
        .wait_for_message(Duration::from_secs(10), |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await?;
    session
        .wait_for_tools(&["demo__extra"], Duration::from_secs(10))
        .await?;

    // And back: the tool disappears again.
    session
        .call_tool_ok("demo__toggle_extra", json!({}))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = session.tool_names().await?;
        if !names.iter().any(|n| n == "demo__extra") {
            break;
        }
        if Instant::now() >= deadline {
            bail!("demo__extra still listed 10 s after toggling it off: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn gateway_default_config_serves_demo() -> anyhow::Result<()> {
    let gateway = Gateway::start_default().await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], Duration::from_secs(20))
        .await?;
    let result = session
        .call_tool_ok("demo__echo", json!({"message": "default"}))
        .await?;
    assert_eq!(text_of(&result), "default");
    Ok(())
}

/// Issue 12: `prefix:` replaces the server name in exposed names; `prefix: ""` exposes them as
/// they are, so a gateway in front of one server is transparent to clients expecting its names.
#[tokio::test]
async fn prefixes_rename_or_remove_the_server_part_of_names() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("main", Upstream::demo("main")?)
        .server_key("main", "prefix", "\"\"")
        .server("second", Upstream::demo("second")?)
        .server_key("second", "prefix", "two");
    let (_gateway, session) = gateway_with_tools(&config, &["whoami", "two__whoami"]).await?;
    let names = session.tool_names().await?;
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("main__") || n.starts_with("second__")),
        "{names:?}"
    );
    let result = session.call_tool_ok("whoami", json!({})).await?;
    assert_eq!(text_of(&result), "main");
    let result = session.call_tool_ok("two__whoami", json!({})).await?;
    assert_eq!(text_of(&result), "second");
    Ok(())
}
