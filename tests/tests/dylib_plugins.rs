//! Native plugins end to end: the workspace's cdylibs (built by `cargo build --workspace`) are
//! copied into a scratch plugin directory, named in the gateway's config, and must act on real
//! tool calls through the running gateway — or, when something is wrong with them, stop it at
//! start-up with a message that names the file and the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use toolgate_tests::gateway::{UPSTREAM_READY_TIMEOUT, run_toolgate};
use toolgate_tests::paths;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{Gateway, GatewayConfig, Upstream, error_code, result_of, text_of};

/// The example plugin of docs/plugins.md.
const EXAMPLE: &str = "toolgate_plugin_example";
const REDACTOR: &str = "toolgate_plugin_redactor";
const PINNER: &str = "toolgate_plugin_tool_pinner";
const TEST_PLUGIN: &str = "toolgate_test_plugin";
const WRONG_ABI: &str = "toolgate_test_plugin_wrong_abi";
const NO_SYMBOL: &str = "toolgate_test_plugin_no_symbol";

/// A built plugin library in the target directory.
fn built(name: &str) -> anyhow::Result<PathBuf> {
    let file = paths::bin_dir().join(format!("lib{name}.so"));
    ensure!(
        file.is_file(),
        "plugin library {} not found: run `cargo build --workspace` first",
        file.display()
    );
    Ok(file)
}

fn chmod(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// A plugin directory (0755) holding copies (0644) of built plugin libraries.
struct PluginDir {
    scratch: ScratchDir,
}

impl PluginDir {
    fn with(libs: &[&str]) -> anyhow::Result<Self> {
        let scratch = ScratchDir::new("plugins")?;
        chmod(scratch.path(), 0o755)?;
        for lib in libs {
            let to = scratch.path().join(format!("lib{lib}.so"));
            std::fs::copy(built(lib)?, &to)
                .with_context(|| format!("copying {lib} into {}", to.display()))?;
            chmod(&to, 0o644)?;
        }
        Ok(PluginDir { scratch })
    }

    fn path(&self) -> &Path {
        self.scratch.path()
    }

    fn lib(&self, name: &str) -> PathBuf {
        self.path().join(format!("lib{name}.so"))
    }
}

/// `plugin_dirs:` and `layers:` for `layers` = (library path, optional sha256, config).
fn plugin_yaml(dir: &Path, layers: &[(PathBuf, Option<String>, Value)]) -> String {
    let q = |s: &str| Value::from(s).to_string();
    let mut yaml = format!("plugin_dirs: [{}]\nlayers:\n", q(&dir.to_string_lossy()));
    for (path, sha, config) in layers {
        yaml.push_str(&format!("  - dylib: {}\n", q(&path.to_string_lossy())));
        if let Some(sha) = sha {
            yaml.push_str(&format!("    sha256: {}\n", q(sha)));
        }
        yaml.push_str(&format!("    config: {config}\n"));
    }
    yaml
}

/// A gateway in front of demo-server (`demo`) with `layers`, serving `demo__echo`.
async fn demo_with(
    dir: &PluginDir,
    layers: &[(PathBuf, Option<String>, Value)],
) -> anyhow::Result<(Gateway, toolgate_tests::McpSession)> {
    let yaml = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .to_yaml()
        + &plugin_yaml(dir.path(), layers);
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await
        .with_context(|| format!("gateway output so far:\n{}", gateway.output()))?;
    Ok((gateway, session))
}

async fn echo(session: &toolgate_tests::McpSession, message: &str) -> anyhow::Result<Value> {
    session
        .call_tool("demo__echo", json!({"message": message}))
        .await
}

#[tokio::test]
async fn redactor_removes_secrets_from_tool_results() -> anyhow::Result<()> {
    let dir = PluginDir::with(&[REDACTOR])?;
    let (gateway, session) = demo_with(&dir, &[(dir.lib(REDACTOR), None, json!({}))]).await?;
    let key = "sk-proj-Zq3XbT9vLw2Ns8Kd4Hf6Jm1Pa5Rc7Ye0";
    let pem =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    let message = format!("use {key} with AKIAIOSFODNN7EXAMPLE and\n{pem}\nplease");
    let result = result_of(&echo(&session, &message).await?)?.clone();
    let text = text_of(&result);
    ensure!(
        text == "use [REDACTED:sk_api_key] with [REDACTED:aws_access_key_id] and\n[REDACTED:private_key]\nplease",
        "secrets must be replaced, the rest kept: {text:?}\n{}",
        gateway.output()
    );
    // Results without secrets pass unchanged.
    let clean = result_of(&echo(&session, "nothing to see").await?)?.clone();
    ensure!(text_of(&clean) == "nothing to see", "{clean}");
    Ok(())
}

#[tokio::test]
async fn example_plugin_from_the_docs_tags_results_and_refuses_denied_tools() -> anyhow::Result<()>
{
    // The doc shows the example's source as it is, and it stays under 60 lines.
    let source =
        std::fs::read_to_string(paths::workspace_root().join("plugins/example-plugin/src/lib.rs"))?;
    let doc = std::fs::read_to_string(paths::workspace_root().join("docs/plugins.md"))?;
    ensure!(
        doc.contains(source.trim_end()),
        "docs/plugins.md must include plugins/example-plugin/src/lib.rs verbatim"
    );
    ensure!(
        source.lines().count() < 60,
        "the example grew past 60 lines"
    );

    let dir = PluginDir::with(&[EXAMPLE])?;
    let config = json!({"tag": "[tagged]", "deny": ["demo__add"]});
    let (gateway, session) = demo_with(&dir, &[(dir.lib(EXAMPLE), None, config)]).await?;
    let result = result_of(&echo(&session, "hello").await?)?.clone();
    ensure!(
        text_of(&result) == "[tagged] hello",
        "{result}\n{}",
        gateway.output()
    );
    let refused = session
        .call_tool("demo__add", json!({"a": 2, "b": 3}))
        .await?;
    ensure!(error_code(&refused) == Some(-32602), "{refused}");
    ensure!(
        refused["error"]["message"] == "demo__add is not allowed here",
        "{refused}"
    );
    ensure!(
        refused["error"]["data"] == json!({"source": "plugin", "plugin": "tagger"}),
        "{refused}"
    );
    // Other methods do not reach the plugin: the tool list is untouched.
    let names = session.tool_names().await?;
    ensure!(names.iter().any(|n| n == "demo__add"), "{names:?}");
    Ok(())
}

#[tokio::test]
async fn one_library_serves_two_layers_with_their_own_configs() -> anyhow::Result<()> {
    let dir = PluginDir::with(&[TEST_PLUGIN])?;
    let lib = dir.lib(TEST_PLUGIN);
    let (_gateway, session) = demo_with(
        &dir,
        &[
            (
                lib.clone(),
                None,
                json!({"mode": "respond", "when": "ask-the-plugin"}),
            ),
            (lib, None, json!({"mode": "reject", "when": "forbidden"})),
        ],
    )
    .await?;
    let answered = result_of(&echo(&session, "ask-the-plugin").await?)?.clone();
    ensure!(text_of(&answered) == "answered by the plugin", "{answered}");
    let rejected = echo(&session, "forbidden").await?;
    ensure!(error_code(&rejected) == Some(-32600), "{rejected}");
    let passed = result_of(&echo(&session, "plain").await?)?.clone();
    ensure!(text_of(&passed) == "plain", "{passed}");
    Ok(())
}

#[tokio::test]
async fn a_panicking_hook_fails_only_its_request() -> anyhow::Result<()> {
    let dir = PluginDir::with(&[TEST_PLUGIN])?;
    let config = json!({"mode": "panic", "when": "boom"});
    let (gateway, session) = demo_with(&dir, &[(dir.lib(TEST_PLUGIN), None, config)]).await?;
    let failed = echo(&session, "boom").await?;
    ensure!(error_code(&failed) == Some(-32603), "{failed}");
    ensure!(
        failed["error"]["data"]["plugin"] == "test-plugin",
        "{failed}"
    );
    // The gateway keeps serving, the same session included.
    for _ in 0..3 {
        let ok = result_of(&echo(&session, "fine").await?)?.clone();
        ensure!(text_of(&ok) == "fine", "{ok}");
    }
    let other = gateway.session().await?;
    ensure!(text_of(result_of(&echo(&other, "also fine").await?)?) == "also fine");
    ensure!(
        gateway.output().contains("panicked"),
        "the panic is logged:\n{}",
        gateway.output()
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_hook_does_not_serialize_requests() -> anyhow::Result<()> {
    const CALLS: usize = 8;
    const HOOK_MS: u64 = 100;
    let dir = PluginDir::with(&[TEST_PLUGIN])?;
    let config = json!({"mode": "sleep", "sleep_ms": HOOK_MS});
    let (gateway, session) = demo_with(&dir, &[(dir.lib(TEST_PLUGIN), None, config)]).await?;
    let session = Arc::new(session);
    // One call first, so that the measured ones do not include any warm-up.
    result_of(&echo(&session, "warm-up").await?)?;

    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let session = Arc::clone(&session);
        calls.spawn(async move { echo(&session, &format!("call {i}")).await });
    }
    let mut most_at_once = 0;
    while let Some(done) = calls.join_next().await {
        let response = done.context("call task")??;
        let result = result_of(&response)?;
        most_at_once = most_at_once.max(
            result["_meta"]["toolgate-test-plugin/maxInFlight"]
                .as_u64()
                .with_context(|| format!("no maxInFlight in {result}"))?,
        );
    }
    let elapsed = started.elapsed();
    // Run one after another the hooks alone would take CALLS × HOOK_MS.
    let serialized = Duration::from_millis(HOOK_MS * CALLS as u64);
    ensure!(
        elapsed < serialized,
        "{CALLS} calls took {elapsed:?}, as long as running their hooks one by one\n{}",
        gateway.output()
    );
    // Hooks run on the async workers (2 on CI's 2 cores) would overlap at most that often.
    eprintln!("{CALLS} calls in {elapsed:?}, at most {most_at_once} hooks at once");
    ensure!(
        most_at_once >= 3,
        "at most {most_at_once} hooks ran at once: they are serialized or hold the runtime's workers"
    );
    Ok(())
}

/// `toolgate check` with `layers`: must fail, naming `file` and saying `problem`.
async fn check_refuses(
    what: &str,
    dir: &Path,
    layers: &[(PathBuf, Option<String>, Value)],
    file: &str,
    problem: &str,
) -> anyhow::Result<()> {
    let scratch = ScratchDir::new("check")?;
    let yaml = GatewayConfig::new().to_yaml() + &plugin_yaml(dir, layers);
    let config = scratch.write("toolgate.yaml", &yaml)?;
    let out = run_toolgate(["check".as_ref(), "--config".as_ref(), config.as_os_str()]).await?;
    ensure!(
        out.code() == Some(1),
        "{what}: expected exit 1\n{}",
        out.describe()
    );
    ensure!(
        out.stderr.contains(file) && out.stderr.contains(problem),
        "{what}: the error must name {file:?} and say {problem:?}\n{}",
        out.describe()
    );
    Ok(())
}

#[tokio::test]
async fn broken_plugins_stop_the_gateway_at_start_up() -> anyhow::Result<()> {
    let dir = PluginDir::with(&[WRONG_ABI, NO_SYMBOL, TEST_PLUGIN, REDACTOR])?;
    check_refuses(
        "wrong ABI version",
        dir.path(),
        &[(dir.lib(WRONG_ABI), None, json!({}))],
        WRONG_ABI,
        "ABI version 2",
    )
    .await?;
    check_refuses(
        "missing symbol",
        dir.path(),
        &[(dir.lib(NO_SYMBOL), None, json!({}))],
        NO_SYMBOL,
        "does not export `toolgate_plugin_entry`",
    )
    .await?;
    check_refuses(
        "config against the schema",
        dir.path(),
        &[(dir.lib(TEST_PLUGIN), None, json!({"mode": "explode"}))],
        TEST_PLUGIN,
        r#"at /mode: "explode" is not one of "pass", "panic""#,
    )
    .await?;
    check_refuses(
        "unknown config key",
        dir.path(),
        &[(dir.lib(REDACTOR), None, json!({"replacment": "x"}))],
        REDACTOR,
        "'replacment' was unexpected",
    )
    .await?;
    check_refuses(
        "wrong hash",
        dir.path(),
        &[(dir.lib(REDACTOR), Some("ab".repeat(32)), json!({}))],
        REDACTOR,
        "sha256 mismatch",
    )
    .await?;

    let elsewhere = PluginDir::with(&[REDACTOR])?;
    check_refuses(
        "outside the plugin directory",
        dir.path(),
        &[(elsewhere.lib(REDACTOR), None, json!({}))],
        REDACTOR,
        "outside the plugin directories",
    )
    .await?;

    let writable = PluginDir::with(&[REDACTOR])?;
    chmod(&writable.lib(REDACTOR), 0o666)?;
    check_refuses(
        "world-writable file",
        writable.path(),
        &[(writable.lib(REDACTOR), None, json!({}))],
        REDACTOR,
        "world-writable",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_right_pin_loads_and_a_wrong_one_keeps_the_gateway_from_serving() -> anyhow::Result<()>
{
    let dir = PluginDir::with(&[REDACTOR])?;
    let lib = dir.lib(REDACTOR);
    let scratch = ScratchDir::new("pin")?;
    let out = run_toolgate([
        "check".as_ref(),
        "--config".as_ref(),
        {
            let yaml = GatewayConfig::new().to_yaml()
                + &plugin_yaml(dir.path(), &[(lib.clone(), None, json!({}))]);
            scratch.write("unpinned.yaml", &yaml)?
        }
        .as_os_str(),
    ])
    .await?
    .expect_success()?;
    // The log of a successful load shows the hash to pin.
    let sha = out
        .stderr
        .split("sha256=")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .context(format!(
            "no sha256 in the load message:\n{}",
            out.describe()
        ))?
        .to_owned();
    let pinned = GatewayConfig::new().to_yaml()
        + &plugin_yaml(dir.path(), &[(lib.clone(), Some(sha.clone()), json!({}))]);
    run_toolgate([
        "check".as_ref(),
        "--config".as_ref(),
        scratch.write("pinned.yaml", &pinned)?.as_os_str(),
    ])
    .await?
    .expect_success()?;

    // Serving (not just `check`): the gateway exits at once instead of listening.
    let mut wrong = sha.into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong)?;
    let yaml = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .to_yaml()
        + &plugin_yaml(dir.path(), &[(lib, Some(wrong), json!({}))]);
    let file = scratch.write("wrong.yaml", &yaml)?;
    let out = run_toolgate([
        "--config".as_ref(),
        file.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ])
    .await?;
    ensure!(
        out.code() == Some(1) && !out.timed_out,
        "expected an exit with 1 at start-up\n{}",
        out.describe()
    );
    ensure!(
        out.stderr.contains("sha256 mismatch") && out.stderr.contains(REDACTOR),
        "{}",
        out.describe()
    );
    ensure!(!out.stderr.contains("listening"), "{}", out.describe());
    Ok(())
}

/// The rug pull: a tool keeps its name while its definition changes under a live gateway.
/// The upstream `srv` is a shell that runs demo-server until a flag file exists, then
/// server-everything, whose `echo` has another description and schema; demo-server's `crash`
/// tool makes the switch happen (the gateway restarts the upstream).
#[tokio::test]
async fn tool_pinner_blocks_a_tool_whose_definition_changed() -> anyhow::Result<()> {
    let dir = PluginDir::with(&[PINNER])?;
    let state = ScratchDir::new("pins")?;
    let pins = state.path().join("pins.json");
    let flag = state.path().join("switch-to-everything");
    let script = r#"if [ -e "$SWITCH_FLAG" ]; then exec "$NODE_BIN" "$EVERYTHING" stdio; else exec "$DEMO_BIN" --name srv; fi"#;
    let upstream = Upstream::stdio("sh", ["-c", script])
        .env("SWITCH_FLAG", flag.to_string_lossy())
        .env("NODE_BIN", paths::node().to_string_lossy())
        .env(
            "EVERYTHING",
            paths::server_everything_entry()?.to_string_lossy(),
        )
        .env("DEMO_BIN", paths::demo_server()?.to_string_lossy());
    let config = GatewayConfig::new().server("srv", upstream);
    let yaml = config.to_yaml()
        + &plugin_yaml(
            dir.path(),
            &[(
                dir.lib(PINNER),
                None,
                json!({"pins_file": pins.to_string_lossy()}),
            )],
        );
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["srv__echo", "srv__crash"], UPSTREAM_READY_TIMEOUT)
        .await?;
    let pinned: Value = serde_json::from_slice(&std::fs::read(&pins).context("pins file")?)?;
    let first_pin = pinned["tools"]["srv__echo"]
        .as_str()
        .with_context(|| format!("srv__echo not pinned: {pinned}"))?
        .to_owned();
    ensure!(
        text_of(result_of(
            &session
                .call_tool("srv__echo", json!({"message": "a"}))
                .await?
        )?) == "a"
    );

    // Swap the server behind the same name.
    std::fs::write(&flag, b"")?;
    let _ = session.call_tool("srv__crash", json!({})).await?;
    let deadline = Instant::now() + UPSTREAM_READY_TIMEOUT;
    let names = loop {
        let names = session.tool_names().await?;
        if names.iter().any(|n| n == "srv__get-sum") {
            break names;
        }
        if Instant::now() > deadline {
            bail!(
                "server-everything never replaced demo-server; tools: {names:?}\n{}",
                gateway.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        !names.iter().any(|n| n == "srv__echo"),
        "the changed echo must be hidden: {names:?}"
    );
    let blocked = session
        .call_tool("srv__echo", json!({"message": "b"}))
        .await?;
    ensure!(error_code(&blocked) == Some(-32602), "{blocked}");
    let data = &blocked["error"]["data"];
    ensure!(
        data["plugin"] == "tool-pinner"
            && data["tool"] == "srv__echo"
            && data["pinned"] == first_pin.as_str(),
        "{blocked}"
    );
    ensure!(data["current"] != first_pin.as_str(), "{blocked}");
    ensure!(
        gateway
            .output()
            .contains("srv__echo changed since it was pinned"),
        "the block is logged:\n{}",
        gateway.output()
    );

    // An operator accepts the new definition by dropping the old pin; no restart needed.
    let mut edited: Value = serde_json::from_slice(&std::fs::read(&pins)?)?;
    edited["tools"]
        .as_object_mut()
        .context("pins file has tools")?
        .remove("srv__echo");
    std::fs::write(&pins, serde_json::to_vec_pretty(&edited)?)?;
    let names = session.tool_names().await?;
    ensure!(names.iter().any(|n| n == "srv__echo"), "{names:?}");
    let answer = session
        .call_tool("srv__echo", json!({"message": "c"}))
        .await?;
    ensure!(text_of(result_of(&answer)?).contains('c'), "{answer}");
    let repinned: Value = serde_json::from_slice(&std::fs::read(&pins)?)?;
    ensure!(
        repinned["tools"]["srv__echo"] == data["current"],
        "{repinned}"
    );
    Ok(())
}

#[tokio::test]
async fn plugin_layers_sit_in_the_ordered_layers_list() -> anyhow::Result<()> {
    // Outermost first: the redactor sees the tagger's output, so a tag that looks like a
    // secret is redacted too.
    let dir = PluginDir::with(&[REDACTOR, EXAMPLE])?;
    let (_gateway, session) = demo_with(
        &dir,
        &[
            (dir.lib(REDACTOR), None, json!({})),
            (
                dir.lib(EXAMPLE),
                None,
                json!({"tag": "token=abcdefgh12345678"}),
            ),
        ],
    )
    .await?;
    let result = result_of(&echo(&session, "hi").await?)?.clone();
    ensure!(
        text_of(&result) == "token=[REDACTED:assigned_secret] hi",
        "{result}"
    );
    Ok(())
}

#[tokio::test]
async fn notifications_during_a_call_pass_the_plugin_in_order() -> anyhow::Result<()> {
    // demo-server's progress messages read "step N/3"; a custom redactor pattern hides them.
    let dir = PluginDir::with(&[REDACTOR])?;
    let config = json!({"patterns": {"step_counter": "step [0-9]+/[0-9]+"}});
    let (gateway, session) = demo_with(&dir, &[(dir.lib(REDACTOR), None, config)]).await?;
    let token = json!("progress-1");
    let exchange = session
        .call_tool_with_progress("demo__sleep", json!({"ms": 300, "steps": 3}), token.clone())
        .await?;
    let progress = exchange.notifications("notifications/progress");
    ensure!(
        progress.len() == 3,
        "every progress notification arrives: {:?}\n{}",
        exchange.messages,
        gateway.output()
    );
    for (i, note) in progress.iter().enumerate() {
        let params = &note["params"];
        ensure!(params["progressToken"] == token, "{note}");
        ensure!(
            params["progress"] == json!(i as f64 + 1.0),
            "in order: {note}"
        );
        ensure!(
            params["message"] == "[REDACTED:step_counter]",
            "rewritten by the plugin: {note}"
        );
    }
    ensure!(
        exchange.messages.last() == Some(&exchange.response),
        "the response comes last: {:?}",
        exchange.messages
    );
    ensure!(text_of(exchange.result()?) == "slept 300ms");
    Ok(())
}
