//! The admin page (issue 15) in a real browser: headless Chromium (Debian's package) driven
//! over the DevTools protocol against a gateway process with a demo-server upstream. The page
//! loads without errors, shows the upstream ready and its tools, the search filters them, the
//! call form calls `demo__echo` and shows the answer, the Calls section counts that call, and
//! a killed upstream turns its row down. A screenshot of each state goes to
//! `target/admin-screenshots/`. Without a browser: who may see the page and its APIs.

use std::time::Duration;

use anyhow::{Context, ensure};
use toolgate_tests::browser::Browser;
use toolgate_tests::http::send;
use toolgate_tests::procfs::children;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{Gateway, GatewayConfig, Upstream, paths};

fn screenshots() -> std::path::PathBuf {
    paths::workspace_root()
        .join("target")
        .join("admin-screenshots")
}

#[tokio::test]
async fn the_admin_page_shows_upstreams_and_tools_and_calls_one() -> anyhow::Result<()> {
    // The demo server, started by a shell that refuses to start it again once `stay-down`
    // exists: a killed upstream then stays down for the page to show.
    let scratch = ScratchDir::new("admin")?;
    let marker = scratch.path().join("stay-down");
    let demo = paths::demo_server()?;
    let script = format!(
        "test -e '{}' && exit 1; exec '{}' --transport stdio --name demo",
        marker.display(),
        demo.display()
    );
    let config =
        GatewayConfig::new().server("demo", Upstream::stdio("sh", ["-c", script.as_str()]));
    let gateway = Gateway::start_config(&config).await?;
    gateway
        .wait_upstream("demo", "ready", Duration::from_secs(20))
        .await?;
    let base = gateway.url().trim_end_matches("/mcp").to_owned();

    let browser = Browser::start().await?;
    browser.open(&format!("{base}/admin")).await?;
    let row = r#"document.querySelector('#upstreams tr[data-upstream="demo"] .status')"#;
    browser
        .wait_for(
            &format!("{row}?.textContent === 'ready'"),
            Duration::from_secs(10),
        )
        .await?;
    let transport = browser
        .eval(r#"document.querySelector('#upstreams tr[data-upstream="demo"]').children[3].textContent"#)
        .await?;
    ensure!(transport == "stdio", "the transport column: {transport}");
    browser
        .wait_for(
            "document.querySelectorAll('#tools details').length === 7",
            Duration::from_secs(10),
        )
        .await?;
    let shots = screenshots();
    browser.screenshot(&shots.join("1-ready.png")).await?;

    // Search.
    browser
        .eval(
            "(() => { const s = document.querySelector('#search'); s.value = 'echo'; \
             s.dispatchEvent(new Event('input')); return true; })()",
        )
        .await?;
    let shown = browser
        .eval("[...document.querySelectorAll('#tools details')].map(d => d.dataset.tool)")
        .await?;
    ensure!(
        shown == serde_json::json!(["demo__echo"]),
        "search 'echo' shows {shown}"
    );
    browser.screenshot(&shots.join("2-search.png")).await?;

    // The call form.
    browser
        .eval(
            "(() => { const d = document.querySelector('#tools details[data-tool=\"demo__echo\"]'); \
             d.open = true; d.querySelector('textarea').value = '{\"message\": \"from the browser\"}'; \
             d.querySelector('button').click(); return true; })()",
        )
        .await?;
    browser
        .wait_for(
            "document.querySelector('#tools details[data-tool=\"demo__echo\"] .result')\
             ?.textContent.includes('\"text\": \"from the browser\"') === true",
            Duration::from_secs(10),
        )
        .await?;
    browser.screenshot(&shots.join("3-call.png")).await?;

    // The Calls section counts that call at its next refresh.
    browser
        .wait_for(
            "Number(document.querySelector('#calls tr[data-tool=\"demo__echo\"]')\
             ?.dataset.calls ?? 0) >= 1",
            Duration::from_secs(10),
        )
        .await?;
    let sparks = browser
        .eval("document.querySelectorAll('#calls tr[data-tool=\"demo__echo\"] svg.spark').length")
        .await?;
    ensure!(sparks == 2, "the demo__echo row has {sparks} sparklines");
    browser.screenshot(&shots.join("5-stats.png")).await?;

    // The upstream dies and stays down: its row says so at the next refresh.
    std::fs::write(&marker, "")?;
    let kids = children(gateway.pid());
    ensure!(!kids.is_empty(), "the gateway runs its upstream");
    for pid in kids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    browser
        .wait_for(
            &format!("{row}?.textContent === 'down'"),
            Duration::from_secs(10),
        )
        .await?;
    browser.screenshot(&shots.join("4-down.png")).await?;

    let errors = browser.errors();
    ensure!(errors.is_empty(), "the page logged errors: {errors:#?}");
    Ok(())
}

/// Loopback callers without authentication may see the page; with `use: auth`, only callers
/// named in `use: admin`; everything else is refused, and so is a foreign Origin.
#[tokio::test]
async fn only_admins_and_loopback_callers_see_the_admin_page() -> anyhow::Result<()> {
    let open = Gateway::start_config(&GatewayConfig::new().server("demo", Upstream::demo("demo")?))
        .await?;
    let base = open.url().trim_end_matches("/mcp").to_owned();
    let get = |url: String, headers: Vec<(&'static str, String)>| async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        send(http::Method::GET, &url, None, &h, bytes::Bytes::new()).await
    };
    let page = get(format!("{base}/admin"), vec![]).await?;
    ensure!(
        page.status == 200 && page.text().contains("<title>toolgate admin</title>"),
        "{}",
        page.describe()
    );
    let status = get(format!("{base}/admin/api/status"), vec![]).await?;
    let json = status.json()?;
    ensure!(
        json["upstreams"][0]["name"] == "demo" && json["sessions"].is_object(),
        "{json}"
    );
    let stats = get(format!("{base}/admin/api/stats"), vec![]).await?;
    let json = stats.json()?;
    ensure!(
        json["bucket_seconds"] == 10 && json["tools"].is_array(),
        "{json}"
    );
    let post = send(
        http::Method::POST,
        &format!("{base}/admin/api/status"),
        None,
        &[],
        bytes::Bytes::from_static(b"{}"),
    )
    .await?;
    ensure!(post.status == 405, "{}", post.describe());
    let call = send(
        http::Method::POST,
        &format!("{base}/admin/api/tools/call"),
        None,
        &[],
        bytes::Bytes::from_static(
            b"{\"name\": \"demo__echo\", \"arguments\": {\"message\": \"x\"}}",
        ),
    )
    .await?;
    ensure!(
        call.status == 403 && call.text().contains("token"),
        "a call without the page's token: {}",
        call.describe()
    );
    let foreign = get(
        format!("{base}/admin/api/status"),
        vec![("Origin", "https://evil.example".into())],
    )
    .await?;
    ensure!(foreign.status == 403, "{}", foreign.describe());

    let guarded = Gateway::start_config(
        &GatewayConfig::new()
            .server("demo", Upstream::demo("demo")?)
            .section(
                "layers:\n  - use: auth\n    api_keys:\n      - {name: ops, key: ops-key-0123456789}\n      - {name: dev, key: dev-key-0123456789}\n  - use: admin\n    callers: [ops]\n",
            ),
    )
    .await?;
    let base = guarded.url().trim_end_matches("/mcp").to_owned();
    let url = format!("{base}/admin/api/status");
    let anonymous = get(url.clone(), vec![]).await?;
    ensure!(anonymous.status == 401, "{}", anonymous.describe());
    let dev = get(
        url.clone(),
        vec![("Authorization", "Bearer dev-key-0123456789".into())],
    )
    .await?;
    ensure!(
        dev.status == 403 && dev.text().contains("not an admin"),
        "{}",
        dev.describe()
    );
    let ops = get(
        url,
        vec![("Authorization", "Bearer ops-key-0123456789".into())],
    )
    .await?;
    ensure!(ops.status == 200, "{}", ops.describe());
    let dev_stats = get(
        format!("{base}/admin/api/stats"),
        vec![("Authorization", "Bearer dev-key-0123456789".into())],
    )
    .await?;
    ensure!(dev_stats.status == 403, "{}", dev_stats.describe());
    Ok(())
}

/// `toolgate status URL` prints a running gateway's upstreams; `toolgate tools` and
/// `toolgate call` start the config's upstreams and answer like a client.
#[tokio::test]
async fn the_operator_commands_list_call_and_report() -> anyhow::Result<()> {
    use toolgate_tests::gateway::run_toolgate;
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let gateway = Gateway::start_config(&config).await?;
    gateway
        .wait_upstream("demo", "ready", Duration::from_secs(20))
        .await?;
    let status = run_toolgate(["status", gateway.url()]).await?;
    let out = status.stdout.clone();
    ensure!(
        status.success()
            && out
                .lines()
                .any(|l| l.starts_with("demo") && l.contains("ready")),
        "{}",
        status.describe()
    );
    let path = gateway.config_path().context("config file")?.to_owned();
    let tools = run_toolgate([
        "--config".as_ref(),
        path.as_os_str(),
        "tools".as_ref(),
        "--json".as_ref(),
    ])
    .await?;
    let listed: serde_json::Value =
        serde_json::from_str(&tools.stdout).with_context(|| tools.describe())?;
    ensure!(
        listed
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "demo__echo")),
        "{}",
        tools.describe()
    );
    let called = run_toolgate([
        "--config".as_ref(),
        path.as_os_str(),
        "call".as_ref(),
        "demo__echo".as_ref(),
        r#"{"message": "from the command line"}"#.as_ref(),
    ])
    .await?;
    ensure!(
        called.success()
            && called
                .stdout
                .contains("\"text\": \"from the command line\""),
        "{}",
        called.describe()
    );
    let bad = run_toolgate([
        "--config".as_ref(),
        path.as_os_str(),
        "call".as_ref(),
        "demo__echo".as_ref(),
        "not json".as_ref(),
    ])
    .await?;
    ensure!(
        !bad.success() && bad.stderr.contains("the arguments are not JSON"),
        "{}",
        bad.describe()
    );
    Ok(())
}

/// The running config on the admin API, credentials masked; a reload asked with the page's
/// token runs and reports how it went — applied, or rejected with the reason while the running
/// config stays — and without the token it is refused.
#[tokio::test]
async fn the_admin_api_shows_the_config_masked_and_reloads_it() -> anyhow::Result<()> {
    let demo = Upstream::demo("demo")?.env("API_TOKEN", "literal-secret-value");
    let gateway = Gateway::start_config(&GatewayConfig::new().server("demo", demo)).await?;
    let base = gateway.url().trim_end_matches("/mcp").to_owned();
    let path = gateway.config_path().context("config file")?.to_owned();
    let get = |url: String| async move {
        send(http::Method::GET, &url, None, &[], bytes::Bytes::new()).await
    };
    let config = get(format!("{base}/admin/api/config")).await?.json()?;
    let text = config["text"].as_str().unwrap_or_default();
    ensure!(
        !text.contains("literal-secret-value")
            && text.contains("API_TOKEN")
            && text.contains("***"),
        "the config with its credential masked: {config}"
    );
    ensure!(config["path"] == path.display().to_string(), "{config}");

    let reload = |token: Option<String>| {
        let url = format!("{base}/admin/api/reload");
        async move {
            let mut headers = vec![];
            if let Some(t) = &token {
                headers.push(("X-Toolgate-Admin", t.as_str()));
            }
            send(
                http::Method::POST,
                &url,
                None,
                &headers,
                bytes::Bytes::from_static(b"{}"),
            )
            .await
        }
    };
    let refused = reload(None).await?;
    ensure!(refused.status == 403, "{}", refused.describe());
    let page = get(format!("{base}/admin")).await?.text();
    let token = page
        .split("name=\"toolgate-admin-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the page carries its token")?
        .to_owned();
    ensure!(token.len() == 64, "a 32-byte token: {token}");
    let applied = reload(Some(token.clone())).await?;
    let outcome = applied.json()?;
    ensure!(
        outcome["applied"] == true
            && outcome["message"]
                .as_str()
                .is_some_and(|m| m.contains("reloaded")),
        "{outcome}"
    );

    let good = std::fs::read_to_string(&path)?;
    std::fs::write(&path, format!("{good}layers:\n  - use: no_such_layer\n"))?;
    let rejected = reload(Some(token)).await?.json()?;
    ensure!(
        rejected["applied"] == false
            && rejected["message"]
                .as_str()
                .is_some_and(|m| m.contains("no_such_layer")),
        "{rejected}"
    );
    let last = get(format!("{base}/admin/api/config")).await?.json()?;
    ensure!(last["last_reload"]["applied"] == false, "{last}");
    // The running config stayed: the gateway still serves.
    let status = get(format!("{base}/admin/api/status")).await?.json()?;
    ensure!(status["upstreams"][0]["status"] == "ready", "{status}");
    Ok(())
}

/// `/admin/api/status` counts an upstream's restarts: its child killed, the supervisor starts
/// it again, and the count goes from 0 to 1.
#[tokio::test]
async fn the_status_api_counts_restarts() -> anyhow::Result<()> {
    let gateway =
        Gateway::start_config(&GatewayConfig::new().server("demo", Upstream::demo("demo")?))
            .await?;
    gateway
        .wait_upstream("demo", "ready", Duration::from_secs(20))
        .await?;
    let url = format!(
        "{}/admin/api/status",
        gateway.url().trim_end_matches("/mcp")
    );
    let status = send(http::Method::GET, &url, None, &[], bytes::Bytes::new())
        .await?
        .json()?;
    ensure!(
        status["upstreams"][0]["transport"] == "stdio" && status["upstreams"][0]["restarts"] == 0,
        "{status}"
    );
    for pid in children(gateway.pid()) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    toolgate_tests::within(Duration::from_secs(20), "a restart to be counted", async {
        loop {
            let status = send(http::Method::GET, &url, None, &[], bytes::Bytes::new())
                .await?
                .json()?;
            let demo = &status["upstreams"][0];
            if demo["restarts"] == 1 && demo["status"] == "ready" {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await??;
    Ok(())
}

/// Under `use: auth`, a browser logs in at `/admin/login` with an admin's API key: the page
/// then shows the upstream and its tools and calls one; a non-admin key logs in to a 403, and
/// the cookie credential counts under `/admin` only (not at `/mcp`).
#[tokio::test]
async fn under_auth_a_browser_logs_in_and_uses_the_page() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .section(
            "layers:\n  - use: auth\n    api_keys:\n      - {name: ops, key: ops-key-0123456789}\n      - {name: dev, key: dev-key-0123456789}\n  - use: admin\n    callers: [ops]\n",
        );
    let gateway = Gateway::start_config(&config).await?;
    gateway
        .wait_upstream("demo", "ready", Duration::from_secs(20))
        .await?;
    let base = gateway.url().trim_end_matches("/mcp").to_owned();
    let browser = Browser::start().await?;
    let log_in = |key: &'static str| {
        let browser = &browser;
        let base = base.clone();
        async move {
            browser.open(&format!("{base}/admin/login")).await?;
            browser
                .wait_for(
                    "document.querySelector('#credential') !== null",
                    Duration::from_secs(10),
                )
                .await?;
            browser
                .eval(&format!(
                    "(() => {{ document.querySelector('#credential').value = '{key}'; \
                     setTimeout(() => document.querySelector('form').submit(), 0); return true; }})()"
                ))
                .await?;
            anyhow::Ok(())
        }
    };
    log_in("dev-key-0123456789").await?;
    browser
        .wait_for(
            "document.body && document.body.innerText.includes('not an admin')",
            Duration::from_secs(10),
        )
        .await?;
    log_in("ops-key-0123456789").await?;
    let row = r#"document.querySelector('#upstreams tr[data-upstream="demo"] .status')"#;
    browser
        .wait_for(
            &format!("{row}?.textContent === 'ready'"),
            Duration::from_secs(10),
        )
        .await?;
    browser
        .wait_for(
            "document.querySelectorAll('#tools details').length === 7",
            Duration::from_secs(10),
        )
        .await?;
    browser
        .eval(
            "(() => { const d = document.querySelector('#tools details[data-tool=\"demo__echo\"]'); \
             d.open = true; d.querySelector('textarea').value = '{\"message\": \"logged in\"}'; \
             d.querySelector('button').click(); return true; })()",
        )
        .await?;
    browser
        .wait_for(
            "document.querySelector('#tools details[data-tool=\"demo__echo\"] .result')\
             ?.textContent.includes('\"text\": \"logged in\"') === true",
            Duration::from_secs(10),
        )
        .await?;
    browser
        .screenshot(&screenshots().join("6-logged-in.png"))
        .await?;
    // Log out: the cookie is gone, the page is refused again.
    browser
        .eval("(() => { setTimeout(() => document.querySelector('#logout').click(), 0); return true; })()")
        .await?;
    browser
        .wait_for(
            "location.pathname === '/admin/login' && document.querySelector('#credential') !== null",
            Duration::from_secs(10),
        )
        .await?;
    browser.open(&format!("{base}/admin")).await?;
    browser
        .wait_for(
            "document.body && document.body.innerText.includes('/admin/login')",
            Duration::from_secs(10),
        )
        .await?;
    // The cookie is no credential outside /admin.
    let mcp = send(
        http::Method::POST,
        gateway.url(),
        None,
        &[("Cookie", "toolgate_admin=ops-key-0123456789")],
        bytes::Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
    )
    .await?;
    ensure!(mcp.status == 401, "{}", mcp.describe());
    Ok(())
}
