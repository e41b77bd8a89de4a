//! Child processes owned by a test: output captured, bounded waits, stopped and reaped on drop.
//!
//! [`ChildProcess`] is for servers that run beside the test (the gateway, demo-server,
//! server-everything): their stdout and stderr are drained by threads into one buffer, which is
//! printed when the process is dropped so that a failing test shows what its peers said.
//! [`run_command`] is for short-lived commands (`toolgate check`, the Python scripts).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// How long a stopped process gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// A server process started by a test.
#[derive(Debug)]
pub struct ChildProcess {
    label: String,
    child: Child,
    output: Arc<Mutex<String>>,
    stdin: Option<ChildStdin>,
}

impl ChildProcess {
    /// Spawns `command` with stdin closed and stdout/stderr captured.
    pub fn spawn(label: impl Into<String>, command: Command) -> anyhow::Result<Self> {
        Self::spawn_with(label, command, false)
    }

    /// Spawns `command` with stdin a pipe (see [`Self::stdin`]) and stdout/stderr captured.
    /// Stdin is closed when the process is stopped, before any signal.
    pub fn spawn_with_stdin(label: impl Into<String>, command: Command) -> anyhow::Result<Self> {
        Self::spawn_with(label, command, true)
    }

    fn spawn_with(
        label: impl Into<String>,
        mut command: Command,
        stdin: bool,
    ) -> anyhow::Result<Self> {
        let label = label.into();
        command
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1");
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {label}: {command:?}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, "[stdout] ", Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, "", Arc::clone(&output));
        }
        let stdin = child.stdin.take();
        Ok(Self {
            label,
            child,
            output,
            stdin,
        })
    }

    /// The write end of its stdin, if spawned with [`Self::spawn_with_stdin`] and not closed.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// Closes its stdin (EOF for the process).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Kills the process at once (SIGKILL, no grace period) and reaps it.
    pub fn kill(&mut self) {
        if self.exit_status().is_some() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout lines prefixed with `[stdout] `).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the process prints a line containing `needle` and returns that line.
    /// Fails early if the process exits first, and after `timeout`.
    pub async fn wait_for_line(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.output().lines().find(|l| l.contains(needle)) {
                return Ok(line.to_owned());
            }
            if let Some(status) = self.exit_status() {
                // Let the drain threads catch the last words before reporting them.
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "{} exited ({status}) before printing {needle:?}; its output:\n{}",
                    self.label,
                    self.output()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}; its output so far:\n{}",
                    self.label,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `"<name> listening on <url>"` and returns the URL.
    pub async fn wait_for_listening(
        &mut self,
        marker: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let line = self.wait_for_line(marker, timeout).await?;
        let url = line
            .split_once(marker)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .with_context(|| format!("no URL after {marker:?} in {line:?}"))?;
        Ok(url.to_owned())
    }

    /// Stops the process: SIGTERM, a grace period, then SIGKILL; always reaps it.
    pub fn stop(&mut self) {
        self.close_stdin();
        if self.exit_status().is_some() {
            return;
        }
        // std has no SIGTERM and the workspace forbids unsafe: ask kill(1).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = std::time::Instant::now() + GRACE;
        while std::time::Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
        let output = self.output();
        if !output.is_empty() {
            // Captured by the test runner: shown only when the test fails.
            eprintln!(
                "----- output of {} (pid {}) -----\n{}----- end of {} -----",
                self.label,
                self.pid(),
                output,
                self.label
            );
        }
    }
}

/// Copies lines from `pipe` into `into`, prefixed, until the pipe closes.
fn drain(pipe: impl Read + Send + 'static, prefix: &'static str, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let mut out = into.lock().unwrap_or_else(PoisonError::into_inner);
                    out.push_str(prefix);
                    out.push_str(text.trim_end_matches(['\n', '\r']));
                    out.push('\n');
                }
            }
        }
    });
}

/// What a finished (or timed-out) command did.
#[derive(Debug)]
pub struct CommandOutput {
    /// What ran, for messages.
    pub label: String,
    /// The exit status; `None` if it had to be killed.
    pub status: Option<ExitStatus>,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
    /// Whether it was killed for running past its deadline.
    pub timed_out: bool,
}

impl CommandOutput {
    /// Exited on its own with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// The exit code, if it exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// A multi-line account of the run: status, stdout and stderr.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let how = match (self.timed_out, self.status) {
            (true, _) => "timed out and was killed".to_owned(),
            (false, Some(status)) => format!("exited with {status}"),
            (false, None) => "ended without a status".to_owned(),
        };
        let _ = writeln!(text, "{} {how}", self.label);
        let _ = writeln!(text, "--- stdout ---\n{}", self.stdout.trim_end());
        let _ = write!(text, "--- stderr ---\n{}", self.stderr.trim_end());
        text
    }

    /// `Ok(self)` if the command succeeded, else an error carrying [`Self::describe`].
    pub fn expect_success(self) -> anyhow::Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            bail!("{}", self.describe())
        }
    }
}

/// Runs `program args…` (with `envs` added to the environment) to completion with captured
/// output, killing it after `timeout`.
///
/// Only a failure to start is an `Err`; a non-zero exit or a timeout is reported in the
/// [`CommandOutput`].
pub async fn run_command<I, S>(
    label: &str,
    program: impl AsRef<OsStr>,
    args: I,
    envs: &[(&str, &str)],
    timeout: Duration,
) -> anyhow::Result<CommandOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = tokio::process::Command::new(program.as_ref());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .envs(envs.iter().copied())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("spawning {label}: {command:?}"))?;

    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (
            Some(status.with_context(|| format!("waiting for {label}"))?),
            false,
        ),
        Err(_) => {
            // kill() also reaps it.
            let _ = child.kill().await;
            (None, true)
        }
    };
    // A grandchild may still hold the pipes open; take what arrived.
    let settle = Duration::from_secs(2);
    let _ = tokio::time::timeout(settle, async {
        let _ = tokio::join!(stdout.1, stderr.1);
    })
    .await;
    let text = |buf: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&buf.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    };
    Ok(CommandOutput {
        label: label.to_owned(),
        status,
        stdout: text(&stdout.0),
        stderr: text(&stderr.0),
        timed_out,
    })
}

type Collected = (Arc<Mutex<Vec<u8>>>, tokio::task::JoinHandle<()>);

/// Reads `pipe` to its end into a shared buffer (readable while the read is still going).
fn collect(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let task = tokio::spawn(async move {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, task)
}
