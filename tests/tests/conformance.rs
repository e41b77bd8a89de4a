//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode) run
//! against the suite's own reference server directly and through toolgate — with the reference
//! server as a Streamable HTTP upstream and as a stdio upstream (`session_mode: per_session`),
//! both with `prefix: ""` — for
//! each protocol generation. Through toolgate every scenario that passes directly must pass,
//! except those listed with their reason in `tests/conformance/baseline.txt`; an entry there
//! that passes now fails the test too, so the list only shrinks.
//!
//! Each run also writes its table to `target/conformance/<version>.md` (the source of
//! `docs/conformance.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use toolgate_tests::conformance::{ReferenceServer, SuiteResult, run_server_suite};
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{Gateway, GatewayConfig, Upstream, paths};

/// One baseline entry: (version, target, scenario) → reason.
type Baseline = BTreeMap<(String, String, String), String>;

fn baseline() -> anyhow::Result<Baseline> {
    let path = paths::workspace_root().join("tests/conformance/baseline.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let mut out = Baseline::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(version), Some(target), Some(scenario)) =
            (words.next(), words.next(), words.next())
        else {
            bail!(
                "{}:{}: expected `version target scenario reason`",
                path.display(),
                n + 1
            );
        };
        let reason = words.collect::<Vec<_>>().join(" ");
        if reason.is_empty() || !matches!(target, "http" | "stdio") {
            bail!(
                "{}:{}: a target (http|stdio) and a reason are required",
                path.display(),
                n + 1
            );
        }
        out.insert((version.into(), target.into(), scenario.into()), reason);
    }
    Ok(out)
}

async fn suite(
    url: &str,
    version: &str,
    scratch: &ScratchDir,
    label: &str,
) -> anyhow::Result<SuiteResult> {
    run_server_suite(url, version, &scratch.path().join(label))
        .await
        .with_context(|| format!("the suite against {label} ({url})"))
}

/// Runs the three set-ups for `version` and checks them against the baseline.
async fn compare(version: &str) -> anyhow::Result<()> {
    let scratch = ScratchDir::new(&format!("conformance-{version}"))?;
    let reference = ReferenceServer::start_http().await?;
    let direct = suite(&reference.url(), version, &scratch, "direct").await?;
    anyhow::ensure!(
        !direct.passed().is_empty(),
        "nothing passes directly: the suite or the reference server is broken\n{}",
        direct.raw
    );

    let http = GatewayConfig::new()
        .server("ref", Upstream::http(reference.url()))
        .server_key("ref", "prefix", "\"\"");
    let gateway = Gateway::start_config(&http).await?;
    gateway
        .wait_upstream("ref", "ready", std::time::Duration::from_secs(30))
        .await?;
    let through_http = suite(gateway.url(), version, &scratch, "http").await?;
    drop(gateway);

    let (node, args, _cwd) = ReferenceServer::stdio_command()?;
    let stdio = GatewayConfig::new()
        .server("ref", Upstream::stdio(node.display().to_string(), args))
        .server_key("ref", "prefix", "\"\"")
        // A child per client session: what it sends during a call reaches that client.
        .server_key("ref", "session_mode", "per_session");
    let gateway = Gateway::start_config(&stdio).await?;
    gateway
        .wait_upstream("ref", "ready", std::time::Duration::from_secs(30))
        .await?;
    let through_stdio = suite(gateway.url(), version, &scratch, "stdio").await?;
    let gateway_output = gateway.output();
    drop(gateway);

    write_table(version, &direct, &through_http, &through_stdio)?;

    let baseline = baseline()?;
    let mut problems = Vec::new();
    let mut paste = String::new();
    for (target, run) in [("http", &through_http), ("stdio", &through_stdio)] {
        let regressed: BTreeSet<String> = direct
            .passed()
            .into_iter()
            .filter(|s| run.scenarios.get(*s) != Some(&true))
            .map(str::to_owned)
            .collect();
        for scenario in &regressed {
            let key = (version.to_owned(), target.to_owned(), scenario.clone());
            if !baseline.contains_key(&key) {
                let why = run
                    .failures
                    .get(scenario)
                    .map(|f| f.join("; "))
                    .unwrap_or_default();
                problems.push(format!(
                    "{target}: {scenario} passes directly but not through toolgate: {why}"
                ));
                let _ = writeln!(paste, "{version} {target} {scenario}  <reason>");
            }
        }
        for ((v, t, scenario), _) in baseline
            .iter()
            .filter(|((v, t, _), _)| v == version && t == target)
        {
            if !regressed.contains(scenario) {
                problems.push(format!(
                    "{t}: {scenario} is in tests/conformance/baseline.txt for {v} but does not regress any more: remove it"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s) at {version}:\n{}\n\nbaseline lines for the new regressions:\n{paste}\n\
             direct:\n{}\nthrough http:\n{}\nthrough stdio:\n{}\ngateway (stdio) output:\n{gateway_output}",
            problems.len(),
            problems.join("\n"),
            direct.describe(),
            through_http.describe(),
            through_stdio.describe(),
        );
    }
    Ok(())
}

/// `target/conformance/<version>.md`: one row per scenario, pass/fail for each set-up.
fn write_table(
    version: &str,
    direct: &SuiteResult,
    http: &SuiteResult,
    stdio: &SuiteResult,
) -> anyhow::Result<PathBuf> {
    let mark = |r: &SuiteResult, s: &str| match r.scenarios.get(s) {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "—",
    };
    let count = |r: &SuiteResult| format!("{}/{}", r.passed().len(), r.scenarios.len());
    let mut text = format!(
        "### {version}\n\n| scenario | direct | through toolgate, HTTP upstream | through toolgate, stdio upstream |\n|---|---|---|---|\n"
    );
    let names: BTreeSet<&String> = direct
        .scenarios
        .keys()
        .chain(http.scenarios.keys())
        .chain(stdio.scenarios.keys())
        .collect();
    for name in names {
        let _ = writeln!(
            text,
            "| {name} | {} | {} | {} |",
            mark(direct, name),
            mark(http, name),
            mark(stdio, name)
        );
    }
    let _ = writeln!(
        text,
        "| **passed** | **{}** | **{}** | **{}** |",
        count(direct),
        count(http),
        count(stdio)
    );
    let dir = paths::workspace_root().join("target/conformance");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{version}.md"));
    std::fs::write(&file, text)?;
    Ok(file)
}

#[tokio::test]
async fn conformance_2025_06_18_through_toolgate() -> anyhow::Result<()> {
    compare("2025-06-18").await
}

#[tokio::test]
async fn conformance_2025_11_25_through_toolgate() -> anyhow::Result<()> {
    compare("2025-11-25").await
}

#[tokio::test]
async fn conformance_2026_07_28_through_toolgate() -> anyhow::Result<()> {
    compare("2026-07-28").await
}
