//! The gateway's command line besides serving: `toolgate check` and `toolgate schema`.

use anyhow::ensure;
use serde_json::Value;
use toolgate_tests::gateway::run_toolgate;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{GatewayConfig, Upstream};

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
