//! The gateway's command line besides serving: `toolgate check` and `toolgate schema`.

use anyhow::ensure;
use serde_json::Value;
use toolgate_tests::gateway::run_toolgate;
use toolgate_tests::paths;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{GatewayConfig, Upstream};

/// `toolgate schema`, parsed.
async fn schema() -> anyhow::Result<Value> {
    let out = run_toolgate(["schema"]).await?.expect_success()?;
    serde_json::from_str(&out.stdout)
        .map_err(|e| anyhow::anyhow!("stdout is not JSON ({e}):\n{}", out.describe()))
}

/// `examples/configs/full.yaml` as a JSON value.
fn full_example() -> anyhow::Result<Value> {
    let path = paths::workspace_root().join("examples/configs/full.yaml");
    Ok(yaml_serde::from_str(&std::fs::read_to_string(path)?)?)
}

#[tokio::test]
async fn check_accepts_good_config() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("check")?;
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server("remote", Upstream::http("http://127.0.0.1:9/mcp"))
        .max_body_bytes(1 << 20);
    let file = scratch.write("good.yaml", &config.to_yaml())?;
    run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()])
        .await?
        .expect_success()?;
    Ok(())
}

#[tokio::test]
async fn check_rejects_bad_config() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("check")?;
    let cases = [
        // (what, file contents, words of which the error must mention one)
        (
            "unknown key",
            "mcp_servers:\n  demo:\n    comand: demo-server\n",
            &["comand"][..],
        ),
        ("not YAML", "mcp_servers: [unclosed\n", &[]),
        (
            "wrong type",
            "mcp_servers: {}\nserver:\n  max_body_bytes: lots\n",
            &["max_body_bytes", "lots"],
        ),
        (
            "unknown section",
            "mcp_servers: {}\nsurver: {}\n",
            &["surver"],
        ),
    ];
    for (i, (what, yaml, mention)) in cases.into_iter().enumerate() {
        let file = scratch.write(&format!("bad-{i}.yaml"), yaml)?;
        let out = run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()]).await?;
        ensure!(
            out.code() == Some(1),
            "{what}: expected exit 1\n{}",
            out.describe()
        );
        ensure!(
            !out.stderr.trim().is_empty(),
            "{what}: no error on stderr\n{}",
            out.describe()
        );
        ensure!(
            mention.is_empty() || mention.iter().any(|w| out.stderr.contains(w)),
            "{what}: the error names one of {mention:?}\n{}",
            out.describe()
        );
    }

    let missing = scratch.path().join("does-not-exist.yaml");
    let out = run_toolgate(["check".as_ref(), "--config".as_ref(), missing.as_os_str()]).await?;
    ensure!(
        out.code() == Some(1),
        "missing file: expected exit 1\n{}",
        out.describe()
    );
    Ok(())
}

#[tokio::test]
async fn schema_prints_json_schema() -> anyhow::Result<()> {
    let out = run_toolgate(["schema"]).await?.expect_success()?;
    let schema: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| anyhow::anyhow!("stdout is not JSON ({e}):\n{}", out.describe()))?;
    ensure!(schema.is_object(), "a JSON Schema is an object: {schema}");
    ensure!(
        schema.get("$schema").is_some() || schema.get("properties").is_some(),
        "no $schema or properties: {schema}"
    );
    ensure!(
        out.stdout.contains("mcp_servers"),
        "the schema describes mcp_servers"
    );
    Ok(())
}

#[tokio::test]
async fn schema_accepts_the_full_example_and_names_every_layer() -> anyhow::Result<()> {
    let schema = schema().await?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| anyhow::anyhow!("not a valid JSON Schema: {e}"))?;
    let full = full_example()?;
    let errors: Vec<String> = validator
        .iter_errors(&full)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    ensure!(errors.is_empty(), "full.yaml fails the schema: {errors:#?}");

    let names: Vec<&str> = schema
        .pointer("/$defs/Layer/oneOf")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.pointer("/properties/use/const")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    for layer in [
        "auth",
        "authorize",
        "rate_limit",
        "concurrency_limit",
        "timeout",
        "tool_filter",
        "logging",
        "tracing",
        "metrics",
        "circuit_breaker",
        "retry",
        "hedge",
        "cache",
        "tool_search",
        "mirror",
        "canary",
        "toolsets",
        "admin",
    ] {
        ensure!(
            names.contains(&layer),
            "no `use: {layer}` entry in {names:?}"
        );
    }
    ensure!(
        schema.pointer("/$defs/Server/properties/layers").is_some(),
        "servers have `layers:` too"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_in_a_layer_fails_the_schema_at_its_entry() -> anyhow::Result<()> {
    let schema = schema().await?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| anyhow::anyhow!("not a valid JSON Schema: {e}"))?;
    let mut full = full_example()?;
    let layers = full
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow::anyhow!("full.yaml has no layers"))?;
    let at = layers
        .iter()
        .position(|l| l["use"] == "rate_limit")
        .ok_or_else(|| anyhow::anyhow!("full.yaml has no rate_limit layer"))?;
    layers[at]["rules"][0]["pre"] = Value::from("identity");
    let paths: Vec<String> = validator
        .iter_errors(&full)
        .map(|e| e.instance_path().to_string())
        .collect();
    ensure!(
        paths == [format!("/layers/{at}")],
        "expected one error at /layers/{at}: {paths:?}"
    );
    Ok(())
}

#[tokio::test]
async fn check_names_the_path_and_line_of_a_wrong_layer_setting() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("check")?;
    let cases = [
        (
            "mcp_servers: {}\nlayers:\n  - use: logging\n  - use: rate_limit\n    rules:\n      - {rate: 1/s, per: user}\n",
            "layer 'rate_limit': layers[1].rules[0].per at line 6: ",
        ),
        (
            "mcp_servers: {}\nlayers:\n  - use: timeout\n    servers:\n      demo:\n        timout: 1s\n",
            "layer 'timeout': unknown key 'timout' in layers[0].servers.demo at line 6; expected one of timeout, max_total_timeout, tools (did you mean 'timeout'?)",
        ),
        (
            "mcp_servers: {}\nlayers:\n  - use: logging\n    level: loud\n",
            "layer 'logging': layers[0].level at line 4: expected one of trace, debug, info, warn, error (found 'loud')",
        ),
    ];
    for (i, (yaml, expected)) in cases.into_iter().enumerate() {
        let file = scratch.write(&format!("layer-{i}.yaml"), yaml)?;
        let out = run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()]).await?;
        ensure!(
            out.code() == Some(1) && out.stderr.contains(expected),
            "expected exit 1 and `{expected}`\n{}",
            out.describe()
        );
    }
    Ok(())
}
