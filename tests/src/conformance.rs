//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) and its reference
//! server, both installed by `tests/interop/install.sh` and run on Node 22 ([`node22`]).
//!
//! - [`ReferenceServer`] is the suite's own "everything" test server
//!   (`tests/interop/conformance-server/`): on Streamable HTTP at `http://127.0.0.1:PORT/mcp`
//!   ([`ReferenceServer::start_http`]), or as a stdio command line for a gateway upstream
//!   ([`ReferenceServer::stdio_command`]).
//! - [`run_server_suite`] runs `conformance server --url URL --suite all --spec-version V -o DIR`
//!   and parses its per-scenario results into a [`SuiteResult`].
//!
//! Many scenarios expect the reference server's own tools, resources and prompts, so a gateway is
//! judged by comparing its run with a direct run against the reference server, scenario by
//! scenario ([`SuiteResult::regressions_from`]). Directly, with suite 0.2.0-alpha.12, every
//! scenario passes at 2025-03-26, 2025-06-18 and 2025-11-25; at 2026-07-28 31 of 40 pass.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::STARTUP_TIMEOUT;
use crate::net::free_port;
use crate::paths;
use crate::process::{ChildProcess, run_command};

/// How long a whole suite run may take before it is killed (a run against the reference server
/// takes about 5 s; every scenario has its own 30 s timeout inside the suite).
pub const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

/// The Node 22 executable (the suite and its reference server need node >= 22).
pub fn node22() -> anyhow::Result<PathBuf> {
    paths::node22()
}

/// The suite's reference server, started by a test (stopped on drop).
#[derive(Debug)]
pub struct ReferenceServer {
    process: ChildProcess,
    port: u16,
}

impl ReferenceServer {
    /// Serving Streamable HTTP at `http://127.0.0.1:PORT/mcp` on a free port; retries with
    /// another port if it dies before listening (someone may have taken the port in between).
    pub async fn start_http() -> anyhow::Result<Self> {
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            match Self::spawn_http(port).await? {
                Ok(this) => return Ok(this),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the reference server did not start")))
    }

    /// Serving Streamable HTTP on `port` (to bring a server back where its clients expect it).
    pub async fn start_http_on_port(port: u16) -> anyhow::Result<Self> {
        Self::spawn_http(port).await?
    }

    /// `Ok(Err(_))`: it exited before listening (the port may be taken); `Err(_)`: any other
    /// failure.
    async fn spawn_http(port: u16) -> anyhow::Result<anyhow::Result<Self>> {
        let (node, args, cwd) = node_command("everything-server.ts")?;
        let mut command = Command::new(node);
        command
            .args(&args)
            .current_dir(&cwd)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1");
        let mut process =
            ChildProcess::spawn(format!("conformance reference server :{port}"), command)?;
        match wait_until_serving(&mut process, port).await {
            Ok(()) => Ok(Ok(Self { process, port })),
            Err(e) if process.exit_status().is_some() => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }

    /// How to run it on stdio, e.g. as a gateway upstream: `(node 22, args, cwd)`. The args hold
    /// absolute paths (tsx's loader as a `file://` URL, the script), so they work from any
    /// working directory; `cwd` is the installed server's folder all the same.
    pub fn stdio_command() -> anyhow::Result<(PathBuf, Vec<String>, PathBuf)> {
        node_command("everything-server-stdio.ts")
    }

    /// Its Streamable HTTP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// `node22 --import file:///…/node_modules/tsx/dist/loader.mjs /…/<script>` in the installed
/// reference server's folder.
fn node_command(script: &str) -> anyhow::Result<(PathBuf, Vec<String>, PathBuf)> {
    let node = paths::node22()?;
    let dir = paths::conformance_server_dir()?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let script_path = dir.join(script);
    if !script_path.is_file() {
        bail!(
            "{} missing: run tests/interop/install.sh",
            script_path.display()
        );
    }
    let loader = file_url(&dir.join("node_modules/tsx/dist/loader.mjs"))?;
    let script_path = script_path
        .to_str()
        .with_context(|| format!("non-UTF-8 path {}", script_path.display()))?
        .to_owned();
    Ok((node, vec!["--import".into(), loader, script_path], dir))
}

/// A `file://` URL for an absolute path (`--import` takes URLs or specifiers, not paths).
fn file_url(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("non-UTF-8 path {}", path.display()))?;
    let mut url = String::from("file://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    Ok(url)
}

async fn wait_until_serving(process: &mut ChildProcess, port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = process.exit_status() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            bail!(
                "the conformance reference server exited ({status}) before listening on {addr}; \
                 output:\n{}",
                process.output()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the conformance reference server did not listen on {addr} within \
                 {STARTUP_TIMEOUT:?}; output:\n{}",
                process.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one server-mode suite run found.
#[derive(Debug, Clone, Default)]
pub struct SuiteResult {
    /// Every scenario the suite ran → passed (no check with status `FAILURE`; `WARNING` and
    /// `INFO` checks do not fail a scenario, as in the suite's own summary).
    pub scenarios: BTreeMap<String, bool>,
    /// For each failed scenario, its failed checks as `"<check id>: <errorMessage>"` (from the
    /// scenario's `checks.json`; a scenario the suite could not run at all has none).
    pub failures: BTreeMap<String, Vec<String>>,
    /// The suite's exit code (0: all passed, 1: some failed).
    pub exit_code: Option<i32>,
    /// The suite's stdout, then its stderr.
    pub raw: String,
}

impl SuiteResult {
    /// The scenarios that passed.
    pub fn passed(&self) -> Vec<&str> {
        self.with_outcome(true)
    }

    /// The scenarios that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.with_outcome(false)
    }

    fn with_outcome(&self, passed: bool) -> Vec<&str> {
        self.scenarios
            .iter()
            .filter(|&(_, &p)| p == passed)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The scenarios that pass in `baseline` (e.g. a direct run against the reference server) but
    /// fail or are missing here (e.g. the same run through the gateway), each with why.
    pub fn regressions_from(&self, baseline: &SuiteResult) -> Vec<String> {
        baseline
            .scenarios
            .iter()
            .filter(|&(_, &passed)| passed)
            .filter_map(|(name, _)| match self.scenarios.get(name) {
                Some(true) => None,
                Some(false) => Some(format!(
                    "{name}: fails ({})",
                    self.failures
                        .get(name)
                        .map(|f| f.join("; "))
                        .unwrap_or_default()
                )),
                None => Some(format!("{name}: not run")),
            })
            .collect()
    }

    /// One line per scenario (`✓ name` / `✗ name: failed checks`).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (name, passed) in &self.scenarios {
            if *passed {
                let _ = writeln!(text, "✓ {name}");
            } else {
                let why = self
                    .failures
                    .get(name)
                    .map(|f| f.join("; "))
                    .unwrap_or_default();
                let _ = writeln!(text, "✗ {name}: {why}");
            }
        }
        text
    }
}

/// Runs the conformance suite in server mode against `url`:
/// `node22 conformance server --url URL --suite all --spec-version SPEC -o OUT_DIR`
/// (killed after [`SUITE_TIMEOUT`]), and parses its results.
///
/// `out_dir` must be empty or absent: the suite writes one `server-<scenario>-<timestamp>/`
/// folder with a `checks.json` per scenario there. The pass/fail of each scenario comes from the
/// summary the suite prints (`✓ name: N passed, M failed` / `✗ …`), which also covers scenarios
/// that crashed (they have no `checks.json`); the failed checks come from the `checks.json` files.
/// A non-zero exit is not an error (it means some scenario failed); a timeout, an exit without a
/// summary, or a summary that does not match the announced scenario count is.
pub async fn run_server_suite(
    url: &str,
    spec_version: &str,
    out_dir: &Path,
) -> anyhow::Result<SuiteResult> {
    let node = paths::node22()?;
    let cli = paths::conformance_cli()?;
    if out_dir.exists()
        && std::fs::read_dir(out_dir)
            .with_context(|| format!("reading {}", out_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "conformance output directory {} is not empty",
            out_dir.display()
        );
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let args = [
        cli.as_os_str(),
        "server".as_ref(),
        "--url".as_ref(),
        url.as_ref(),
        "--suite".as_ref(),
        "all".as_ref(),
        "--spec-version".as_ref(),
        spec_version.as_ref(),
        "--output-dir".as_ref(),
        out_dir.as_os_str(),
    ];
    let label = format!("conformance server --url {url} --spec-version {spec_version}");
    let output = run_command(&label, &node, args, &[], SUITE_TIMEOUT).await?;
    if output.timed_out {
        bail!("{}", output.describe());
    }
    let raw = format!("{}{}", output.stdout, output.stderr);
    let scenarios = parse_summary(&output.stdout)
        .with_context(|| format!("parsing the suite's summary\n{}", output.describe()))?;
    let mut failures = BTreeMap::new();
    for (scenario, checks) in read_checks(out_dir)? {
        if scenarios.get(&scenario) == Some(&false) {
            failures.insert(scenario, failed_checks(&checks));
        }
    }
    Ok(SuiteResult {
        scenarios,
        failures,
        exit_code: output.code(),
        raw,
    })
}

/// The scenario outcomes of the suite's stdout: `Running <suite> (N scenarios) against URL`,
/// …, `=== SUMMARY ===`, then one `✓|✗ <scenario>: P passed, F failed` line per scenario.
fn parse_summary(stdout: &str) -> anyhow::Result<BTreeMap<String, bool>> {
    let announced = stdout
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("Running ")?;
            let (_, count) = rest.split_once(" (")?;
            let (count, _) = count.split_once(" scenarios)")?;
            count.parse::<usize>().ok()
        })
        .context("no `Running … (N scenarios) against …` line")?;
    let (_, summary) = stdout
        .split_once("=== SUMMARY ===")
        .context("no `=== SUMMARY ===`")?;
    let mut scenarios = BTreeMap::new();
    for line in summary.lines() {
        let (passed, rest) = if let Some(rest) = line.strip_prefix("✓ ") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("✗ ") {
            (false, rest)
        } else {
            continue;
        };
        let (name, counts) = rest
            .rsplit_once(": ")
            .with_context(|| format!("summary line without counts: {line:?}"))?;
        let failed = counts
            .split(", ")
            .find_map(|part| part.strip_suffix(" failed"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .with_context(|| format!("summary line without a failed count: {line:?}"))?;
        if passed != (failed == 0) {
            bail!("summary line contradicts itself: {line:?}");
        }
        scenarios.insert(name.to_owned(), passed);
    }
    if scenarios.len() != announced {
        bail!(
            "the suite announced {announced} scenarios but summarised {}",
            scenarios.len()
        );
    }
    Ok(scenarios)
}

/// The `checks.json` arrays under `out_dir`, by scenario (from the folder name
/// `server-<scenario>-<YYYY-MM-DDTHH-MM-SS-mmmZ>`).
fn read_checks(out_dir: &Path) -> anyhow::Result<Vec<(String, Vec<serde_json::Value>)>> {
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(out_dir).with_context(|| format!("reading {}", out_dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(scenario) = scenario_of_dir(&name) else {
            continue;
        };
        let file = entry.path().join("checks.json");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let checks: Vec<serde_json::Value> =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        found.push((scenario.to_owned(), checks));
    }
    Ok(found)
}

/// `server-tools-list-2026-12-07T21-48-02-414Z` → `tools-list`.
fn scenario_of_dir(name: &str) -> Option<&str> {
    // `new Date().toISOString()` with `:` and `.` replaced by `-`: 24 characters.
    const STAMP: usize = "2026-12-07T21-48-02-414Z".len();
    let rest = name.strip_prefix("server-")?;
    if rest.len() < STAMP + 2 || !rest.is_char_boundary(rest.len() - STAMP - 1) {
        return None;
    }
    let (scenario, stamp) = rest.split_at(rest.len() - STAMP - 1);
    let stamp = stamp.strip_prefix('-')?;
    let looks_like_stamp = stamp.len() == STAMP
        && stamp.ends_with('Z')
        && stamp.as_bytes()[10] == b'T'
        && stamp[..STAMP - 1]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'T');
    looks_like_stamp.then_some(scenario)
}

/// `"<id>: <errorMessage>"` for every check with status `FAILURE`.
fn failed_checks(checks: &[serde_json::Value]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.get("status").and_then(|s| s.as_str()) == Some("FAILURE"))
        .map(|c| {
            let id = c.get("id").and_then(|s| s.as_str()).unwrap_or("?");
            let message = c
                .get("errorMessage")
                .and_then(|s| s.as_str())
                .or_else(|| c.get("description").and_then(|s| s.as_str()))
                .unwrap_or("");
            format!("{id}: {message}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary() -> anyhow::Result<()> {
        let stdout = "Running all suite (3 scenarios) against http://127.0.0.1:3900/mcp\n\n\
            \n=== Running scenario: ping ===\nResults saved to /x\n\n=== SUMMARY ===\n\
            ✓ ping: 2 passed, 0 failed\n✗ tools-call-image: 1 passed, 1 failed\n\
            ✓ http-header-validation: 4 passed, 0 failed\n\nTotal: 7 passed, 1 failed\n";
        let scenarios = parse_summary(stdout)?;
        assert_eq!(scenarios.len(), 3);
        assert_eq!(scenarios.get("ping"), Some(&true));
        assert_eq!(scenarios.get("tools-call-image"), Some(&false));
        let short = "Running all suite (4 scenarios) against u\n=== SUMMARY ===\n\
            ✓ a: 1 passed, 0 failed\n";
        assert!(parse_summary(short).is_err());
        assert!(parse_summary("Running all suite (1 scenarios) against u\n").is_err());
        Ok(())
    }

    #[test]
    fn names_scenarios_from_result_folders() {
        assert_eq!(
            scenario_of_dir("server-server-initialize-2026-12-07T21-48-01-924Z"),
            Some("server-initialize")
        );
        assert_eq!(
            scenario_of_dir("server-tools-list-2026-12-07T21-48-02-414Z"),
            Some("tools-list")
        );
        assert_eq!(scenario_of_dir("client-x-2026-12-07T21-48-02-414Z"), None);
        assert_eq!(scenario_of_dir("server-tools-list"), None);
    }

    #[test]
    fn file_urls_escape() -> anyhow::Result<()> {
        assert_eq!(
            file_url(Path::new("/a b/c%.mjs"))?,
            "file:///a%20b/c%25.mjs"
        );
        Ok(())
    }

    #[test]
    fn regressions() {
        let mut direct = SuiteResult::default();
        direct.scenarios.insert("a".into(), true);
        direct.scenarios.insert("b".into(), true);
        direct.scenarios.insert("c".into(), false);
        let mut gw = SuiteResult::default();
        gw.scenarios.insert("a".into(), true);
        gw.scenarios.insert("b".into(), false);
        gw.scenarios.insert("c".into(), false);
        gw.failures.insert("b".into(), vec!["x: y".into()]);
        assert_eq!(
            gw.regressions_from(&direct),
            vec!["b: fails (x: y)".to_owned()]
        );
    }
}
