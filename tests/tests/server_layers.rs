//! A server's own `layers:`: the same `use:` layers as the top-level list, in that upstream's
//! own stack only (issue 10: a stack per upstream).

use serde_json::json;
use toolgate_tests::gateway::run_toolgate;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{GatewayConfig, Upstream, error_code, gateway_with_tools, text_of};

/// Gateway-local failure: a limit refused the request.
const RATE_LIMITED: i64 = -31002;

#[tokio::test]
async fn a_servers_own_layers_apply_to_it_only() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server_key(
            "demo",
            "layers",
            "[{use: rate_limit, rules: [{rate: 2/h}]}]",
        )
        .server("other", Upstream::demo("other")?);
    let (_gateway, session) = gateway_with_tools(&config, &["demo__echo", "other__echo"]).await?;

    for i in 0..2 {
        let r = session
            .call_tool_ok("demo__echo", json!({"message": format!("d{i}")}))
            .await?;
        assert_eq!(text_of(&r), format!("d{i}"));
    }
    let third = session
        .call_tool("demo__echo", json!({"message": "d2"}))
        .await?;
    assert_eq!(
        error_code(&third),
        Some(RATE_LIMITED),
        "demo's own 2/h limit: {third}"
    );
    // The other server has no such layer, and lists are not behind demo's stack.
    for i in 0..4 {
        let r = session
            .call_tool_ok("other__echo", json!({"message": format!("o{i}")}))
            .await?;
        assert_eq!(text_of(&r), format!("o{i}"));
    }
    let names = session.tool_names().await?;
    assert!(names.iter().any(|n| n == "demo__echo"), "{names:?}");
    Ok(())
}

#[tokio::test]
async fn a_layer_with_http_routes_is_refused_in_a_servers_layers() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("server-layers")?;
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server_key("demo", "layers", "[{use: metrics}]");
    let file = scratch.write("bad.yaml", &config.to_yaml())?;
    let out = run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()]).await?;
    anyhow::ensure!(
        out.status.is_some_and(|s| !s.success()),
        "toolgate check must refuse it:\n{}",
        out.describe()
    );
    anyhow::ensure!(
        out.stderr.contains("mcp_servers.demo.layers[0]") && out.stderr.contains("top-level"),
        "the error names the entry and says where the layer belongs:\n{}",
        out.describe()
    );
    Ok(())
}
