//! The child processes: where the binaries are, starting the servers, the gateway, haproxy and
//! redis-server and waiting until they serve, their log lines, and stopping them (SIGTERM, then
//! SIGKILL) on drop.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::cli::Cli;
use crate::client::{Endpoint, wait_ready};
use crate::measure::vm_rss_kib;

/// Longest wait for a child to print its listening line or for `/readyz` to answer 200.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Between SIGTERM and SIGKILL when stopping a child.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Log lines kept per child, shown when it fails to start.
const TAIL_LINES: usize = 40;
/// What redis-server logs once it accepts connections.
const REDIS_READY: &str = "Ready to accept connections";

/// Where `dist/index.js` of server-everything is under a workspace, once
/// `tests/interop/install.sh` has run there.
const EVERYTHING_ENTRY: &str =
    "target/interop/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
/// The node preload that makes express's `listen(PORT)` bind 127.0.0.1 only (the tests' copy).
const LOOPBACK_PRELOAD: &str = include_str!("../../../../tests/interop/loopback-listen.cjs");

/// The programs the scenarios run.
#[derive(Debug)]
pub(crate) struct Binaries {
    toolgate: PathBuf,
    /// `--baseline-toolgate`, when a scenario needs it.
    baseline: Option<PathBuf>,
    pub(crate) demo_server: PathBuf,
    /// Only when a scenario needs it.
    everything: Option<Everything>,
    /// Only when a `replicas-*` scenario is chosen.
    haproxy: Option<PathBuf>,
    /// Only when a `replicas-N` scenario (with Redis) is chosen.
    redis_server: Option<PathBuf>,
}

/// How to run `@modelcontextprotocol/server-everything`.
#[derive(Debug)]
struct Everything {
    node: PathBuf,
    entry: PathBuf,
    preload: TempFile,
}

impl Binaries {
    /// Finds `toolgate` and `demo-server` in `cli.bin_dir` (default: this executable's
    /// directory), and server-everything if a chosen scenario runs it.
    pub(crate) fn locate(cli: &Cli) -> anyhow::Result<Self> {
        let exe_dir = std::env::current_exe()
            .context("cannot locate the bench executable")?
            .parent()
            .context("the bench executable has no directory")?
            .to_owned();
        let dir = cli.bin_dir.clone().unwrap_or_else(|| exe_dir.clone());
        let find = |name: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            ensure!(
                path.is_file(),
                "{} not found; build it with `cargo build --release -p toolgate-examples --bins` or pass --bin-dir",
                path.display()
            );
            Ok(path)
        };
        let everything = if cli.scenarios.iter().any(|s| s.uses_everything()) {
            Some(Everything::locate(cli, &exe_dir)?)
        } else {
            None
        };
        let baseline = match &cli.baseline_toolgate {
            Some(path) => {
                ensure!(
                    path.is_file(),
                    "--baseline-toolgate {} not found",
                    path.display()
                );
                Some(path.clone())
            }
            None => {
                ensure!(
                    !cli.scenarios.iter().any(|s| s.uses_baseline()),
                    "the baseline-* scenarios need --baseline-toolgate PATH"
                );
                None
            }
        };
        let scale_outs: Vec<_> = cli.scenarios.iter().filter_map(|s| s.scale_out()).collect();
        let haproxy = if scale_outs.is_empty() {
            None
        } else {
            let fallbacks = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"];
            Some(find_program(
                cli.haproxy.as_deref(),
                "haproxy",
                &fallbacks,
                "-v",
            )?)
        };
        let redis_server = if scale_outs.iter().any(|s| s.redis) {
            let fallbacks = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];
            Some(find_program(
                cli.redis_server.as_deref(),
                "redis-server",
                &fallbacks,
                "--version",
            )?)
        } else {
            None
        };
        Ok(Binaries {
            toolgate: find("toolgate")?,
            baseline,
            demo_server: find("demo-server")?,
            everything,
            haproxy,
            redis_server,
        })
    }

    /// Starts server-everything on Streamable HTTP; returns it and its `/mcp` URL.
    pub(crate) async fn start_everything(&self) -> anyhow::Result<(Process, String)> {
        let everything = self
            .everything
            .as_ref()
            .context("server-everything was not located")?;
        // It echoes the PORT it is given, so it has to be a real one: chosen here, and taken
        // by someone else in between only by bad luck (then try another).
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            let mut command = Command::new(&everything.node);
            command
                .arg("--require")
                .arg(everything.preload.path())
                .arg(&everything.entry)
                .arg("streamableHttp")
                .env("PORT", port.to_string());
            let mut process = Process::spawn("server-everything", command)?;
            match process.wait_for_listening("listening on port ").await {
                Ok(_) => return Ok((process, format!("http://127.0.0.1:{port}/mcp"))),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("server-everything did not start")))
    }

    pub(crate) async fn start_demo_http(&self) -> anyhow::Result<(Process, String)> {
        let mut command = Command::new(&self.demo_server);
        command.args(["--transport", "http", "--listen", "127.0.0.1:0"]);
        // Its own default filter logs nothing per call.
        command.env_remove("RUST_LOG");
        let mut process = Process::spawn("demo-server", command)?;
        let url = process
            .wait_for_listening("demo-server listening on ")
            .await?;
        Ok((process, url))
    }

    /// Starts a redis-server on a free loopback port, without persistence, and waits until it
    /// accepts connections; returns it and its `redis://` URL.
    pub(crate) async fn start_redis(&self) -> anyhow::Result<(Process, String)> {
        let binary = self
            .redis_server
            .as_ref()
            .context("redis-server was not located")?;
        // A free port can be taken between choosing and binding it: try a few.
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            let mut command = Command::new(binary);
            command.args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
            command.args(["--save", "", "--appendonly", "no"]);
            // It logs to stdout.
            let mut process = Process::spawn_reading("redis-server", command, Log::Stdout)?;
            match process.wait_for_line(REDIS_READY).await {
                Ok(_) => return Ok((process, format!("redis://127.0.0.1:{port}"))),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// Starts haproxy on a free loopback port in front of `backends` (gateway listeners):
    /// `mode http`, round robin per request, no stickiness, no health checks, keep-alive on
    /// both sides (haproxy's default). Waits until a `/readyz` through it shows the upstream
    /// ready; returns it, its `/mcp` URL and its config file (keep it as long as the process).
    pub(crate) async fn start_haproxy(
        &self,
        name: &str,
        backends: &[SocketAddr],
    ) -> anyhow::Result<(Process, String, TempFile)> {
        let binary = self.haproxy.as_ref().context("haproxy was not located")?;
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            let mut config = format!(
                "defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n\
                 frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend toolgate\n\
                 backend toolgate\n  balance roundrobin\n"
            );
            for (i, addr) in backends.iter().enumerate() {
                config.push_str(&format!("  server gw{} {addr}\n", i + 1));
            }
            let file = TempFile::write(&format!("{name}-haproxy.cfg"), &config)?;
            let mut command = Command::new(binary);
            // -db: in the foreground, logging to stderr.
            command.arg("-db").arg("-f").arg(file.path());
            let mut process = Process::spawn("haproxy", command)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if let Err(e) = process.wait_for_port(addr).await {
                last_error = Some(e);
                continue;
            }
            let url = format!("http://{addr}/mcp");
            wait_ready(&Endpoint::parse(&url)?)
                .await
                .with_context(|| process.describe())?;
            return Ok((process, url, file));
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("haproxy did not start")))
    }

    /// Starts the gateway (the baseline build if `baseline`) and waits until `/readyz` says
    /// an upstream is ready.
    pub(crate) async fn start_gateway(
        &self,
        config: Option<&Path>,
        baseline: bool,
    ) -> anyhow::Result<(Process, String)> {
        let binary = match (baseline, &self.baseline) {
            (true, Some(b)) => b,
            (true, None) => anyhow::bail!("no --baseline-toolgate"),
            (false, _) => &self.toolgate,
        };
        let mut command = Command::new(binary);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn");
        let mut process = Process::spawn("toolgate", command)?;
        let url = process.wait_for_listening("toolgate listening on ").await?;
        let endpoint = Endpoint::parse(&url)?;
        wait_ready(&endpoint)
            .await
            .with_context(|| process.describe())?;
        Ok((process, url))
    }
}

impl Everything {
    /// `--everything`, else the installed copy in the workspace of this executable
    /// (`<workspace>/target/release/bench`) or of the current directory; and a node that runs.
    fn locate(cli: &Cli, exe_dir: &Path) -> anyhow::Result<Self> {
        let entry = match &cli.everything {
            Some(path) => {
                ensure!(
                    path.is_file(),
                    "--everything {}: no such file (it is server-everything's dist/index.js)",
                    path.display()
                );
                path.clone()
            }
            None => {
                let mut candidates: Vec<PathBuf> = exe_dir
                    .ancestors()
                    .nth(2)
                    .map(|root| root.join(EVERYTHING_ENTRY))
                    .into_iter()
                    .collect();
                if let Ok(dir) = std::env::current_dir() {
                    candidates.push(dir.join(EVERYTHING_ENTRY));
                }
                let found = candidates.iter().find(|p| p.is_file()).cloned();
                found.with_context(|| {
                    let looked: Vec<String> =
                        candidates.iter().map(|p| p.display().to_string()).collect();
                    format!(
                        "@modelcontextprotocol/server-everything not found (looked at {}): run tests/interop/install.sh in the workspace, or pass --everything PATH",
                        looked.join(", ")
                    )
                })?
            }
        };
        let version = Command::new(&cli.node)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        ensure!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "{} does not run ({}); server-everything needs node: install it or pass --node PATH",
            cli.node.display(),
            version.map_or_else(|e| e.to_string(), |o| o.status.to_string())
        );
        Ok(Everything {
            node: cli.node.clone(),
            entry,
            preload: TempFile::write("loopback-listen.cjs", LOOPBACK_PRELOAD)?,
        })
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; someone may take it before it is bound).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port())
}

/// `explicit` if given, else `name` in a directory of `PATH`, else the first of `fallbacks`
/// that exists; checked by running it with `version_flag`.
fn find_program(
    explicit: Option<&Path>,
    name: &str,
    fallbacks: &[&str],
    version_flag: &str,
) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let on_path: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
                .unwrap_or_default();
            on_path
                .into_iter()
                .chain(fallbacks.iter().map(PathBuf::from))
                .find(|p| p.is_file())
                .with_context(|| {
                    format!("{name} not found on the PATH nor in {fallbacks:?}: install it or pass --{name} PATH")
                })?
        }
    };
    let version = Command::new(&path)
        .arg(version_flag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    ensure!(
        version.as_ref().is_ok_and(ExitStatus::success),
        "{} {version_flag} does not run ({})",
        path.display(),
        version.map_or_else(|e| e.to_string(), |s| s.to_string())
    );
    Ok(path)
}

/// Which output of a child carries its log lines (the other goes to /dev/null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Log {
    Stderr,
    Stdout,
}

/// A child process, stopped and reaped on drop; its log output (stderr, or stdout for
/// redis-server) is drained by a thread.
#[derive(Debug)]
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    pub(crate) fn spawn(name: &'static str, command: Command) -> anyhow::Result<Self> {
        Process::spawn_reading(name, command, Log::Stderr)
    }

    pub(crate) fn spawn_reading(
        name: &'static str,
        mut command: Command,
        log: Log,
    ) -> anyhow::Result<Self> {
        let (stdout, stderr) = match log {
            Log::Stderr => (Stdio::null(), Stdio::piped()),
            Log::Stdout => (Stdio::piped(), Stdio::null()),
        };
        command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("NO_COLOR", "1")
            .env_remove(crate::netns::INSIDE);
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let output: Box<dyn Read + Send> = match log {
            Log::Stderr => Box::new(child.stderr.take().context("no stderr pipe")?),
            Log::Stdout => Box::new(child.stdout.take().context("no stdout pipe")?),
        };
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                let mut tail = keep.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(Process {
            name,
            child,
            lines,
            tail,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its name, pid and last words, for error messages.
    pub(crate) fn describe(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!(
            "{} (pid {}), last log lines:\n{}",
            self.name,
            self.pid(),
            lines.join("\n")
        )
    }

    /// Waits for a log line `"<marker><url>"` and returns the URL.
    pub(crate) async fn wait_for_listening(&mut self, marker: &str) -> anyhow::Result<String> {
        let rest = self.wait_for_line(marker).await?;
        rest.split_whitespace()
            .next()
            .map(str::to_owned)
            .with_context(|| format!("no URL after {marker:?}: {}", self.describe()))
    }

    /// Waits for a log line with `marker` in it and returns what follows the marker.
    pub(crate) async fn wait_for_line(&mut self, marker: &str) -> anyhow::Result<String> {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if let Some((_, rest)) = line.split_once(marker) {
                    return Ok(rest.to_owned());
                }
            }
            bail!("exited ({:?}) before {marker:?}", self.child.try_wait());
        };
        match tokio::time::timeout(STARTUP_TIMEOUT, wait).await {
            Ok(Ok(rest)) => Ok(rest),
            Ok(Err(e)) => Err(e.context(self.describe())),
            Err(_) => Err(anyhow::anyhow!(
                "did not log {marker:?} within {STARTUP_TIMEOUT:?}: {}",
                self.describe()
            )),
        }
    }

    /// Waits until `addr` accepts a TCP connection (for a child that logs nothing once it
    /// listens), failing at once if the child exits.
    pub(crate) async fn wait_for_port(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "exited ({status}) before listening on {addr}: {}",
                    self.describe()
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "did not listen on {addr} within {STARTUP_TIMEOUT:?}: {}",
                    self.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // std has no SIGTERM and the workspace forbids unsafe: ask kill(1).
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file in the temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn write(name: &str, contents: &str) -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("toolgate-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(TempFile(path))
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Resident memory of an idle gateway in its default configuration, in KiB.
pub(crate) async fn idle_gateway_rss(bins: &Binaries) -> anyhow::Result<u64> {
    let (gateway, _url) = bins.start_gateway(None, false).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    vm_rss_kib(gateway.pid())
}
