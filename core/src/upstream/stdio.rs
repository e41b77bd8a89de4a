//! Upstream over stdio: a child process the gateway owns.
//!
//! One JSON-RPC message per line on the child's stdin/stdout; stderr is drained into the
//! gateway's log under the server's name. A supervisor restarts the child with backoff when it
//! exits; every call in flight at that moment fails at once with a retryable error. Children are
//! killed when the gateway stops (`kill_on_drop`, and on Linux `PR_SET_PDEATHSIG`, so not even a
//! SIGKILLed gateway leaves one behind). Shutdown closes stdin first, then kills.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use super::link::{Link, Pipe};
use super::table;
use super::{Backoff, Shared, UpstreamStatus, handshake};
use crate::lines::{Line, LineCodec};

/// Longest line accepted from a child (a larger message is dropped and logged).
const MAX_LINE: usize = 64 * 1024 * 1024;
/// How long a child gets to exit after its stdin closes, before it is killed.
const GRACE: Duration = Duration::from_secs(2);
/// A child that stayed up this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);
/// After a child's stdout ends, how long it has to exit on its own before it is killed (so the
/// reason says "exited" when it did).
const EXIT_AFTER_EOF: Duration = Duration::from_millis(500);

/// How to start a stdio server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StdioSpec {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (the gateway's environment is inherited).
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

pub(crate) fn spawn_supervisor(shared: Arc<Shared>, spec: StdioSpec) {
    tokio::spawn(supervise(shared, spec));
}

async fn supervise(shared: Arc<Shared>, spec: StdioSpec) {
    let mut backoff = Backoff::new(&shared.options);
    loop {
        let Some(reason) = run_once(&shared, &spec, &mut backoff).await else {
            break;
        };
        if !shared.went_down(reason, &mut backoff).await {
            break;
        }
    }
    shared.stopped();
}

/// Runs one child until it exits. `None` means the gateway is shutting down.
async fn run_once(shared: &Arc<Shared>, spec: &StdioSpec, backoff: &mut Backoff) -> Option<String> {
    let mut child = match spawn(spec) {
        Ok(c) => c,
        Err(e) => return Some(format!("could not start `{}`: {e}", spec.command)),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Some("child has no stdio pipes".into());
    };
    tokio::spawn(drain_stderr(shared.name.clone(), stderr));
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    tokio::spawn(crate::lines::write_lines(
        stdin,
        rx,
        shared.shutdown.clone(),
    ));
    let link = Link::new(Pipe(tx));
    // The reader ending (EOF, or a read error) is the upstream's death even if the process
    // lives on: nothing it answers can reach us any more.
    let reader = read_loop(shared.clone(), link.clone(), stdout);
    tokio::pin!(reader);

    let started = Instant::now();
    tokio::select! {
        r = handshake::initialize(shared, &link) => match r {
            Ok(info) => {
                tracing::info!(upstream = %shared.name, server = %info.server_info.name, version = %info.protocol_version, "upstream ready");
                shared.set_link(Some(link));
                shared.set_status(UpstreamStatus::Ready(Arc::new(info)));
            }
            Err(e) => {
                stop(&mut child).await;
                return Some(format!("initialize failed: {}", e.message()));
            }
        },
        status = child.wait() => {
            return Some(match status {
                Ok(s) => format!("exited during initialize ({s})"),
                Err(e) => format!("could not wait for the child: {e}"),
            });
        }
        why = &mut reader => return Some(after_eof(&mut child, why, "during initialize").await),
        _ = shared.shutdown.cancelled() => {
            stop(&mut child).await;
            return None;
        }
    }

    let reason = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => format!("exited ({s})"),
            Err(e) => format!("could not wait for the child: {e}"),
        },
        why = &mut reader => after_eof(&mut child, why, "").await,
        _ = shared.shutdown.cancelled() => {
            // The writer closes stdin on shutdown; give the child a moment to exit on its own.
            shared.set_link(None);
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                stop(&mut child).await;
            }
            return None;
        }
    };
    if started.elapsed() >= STABLE {
        backoff.reset();
    }
    Some(reason)
}

/// Kills the child and reaps it.
async fn stop(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// The child's stdout ended (`why`): the reason it is down. A child that exits on its own
/// right after is reported as exited; one that keeps running is killed.
async fn after_eof(child: &mut Child, why: String, phase: &str) -> String {
    let phase = if phase.is_empty() {
        String::new()
    } else {
        format!(" {phase}")
    };
    match tokio::time::timeout(EXIT_AFTER_EOF, child.wait()).await {
        Ok(Ok(status)) => format!("exited{phase} ({status})"),
        Ok(Err(e)) => format!("could not wait for the child: {e}"),
        Err(_) => {
            stop(child).await;
            format!("{why}{phase} but kept running; killed it")
        }
    }
}

fn spawn(spec: &StdioSpec) -> std::io::Result<Child> {
    let mut cmd = Command::new(&spec.command);
    cmd.args(&spec.args)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(target_os = "linux")]
    die_with_parent(&mut cmd);
    cmd.spawn()
}

/// Asks the kernel to SIGKILL the child when the gateway dies, however it dies.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Routes every line the child writes; returns why reading stopped.
async fn read_loop(shared: Arc<Shared>, link: Link, stdout: ChildStdout) -> String {
    let mut lines = FramedRead::new(stdout, LineCodec::new(MAX_LINE));
    while let Some(line) = lines.next().await {
        match line {
            Ok(Line::Message(line)) => {
                if !line.trim_ascii().is_empty() {
                    table::on_message(&shared, &link, &line);
                }
            }
            Ok(Line::TooLong) => {
                tracing::warn!(upstream = %shared.name, "dropped a message longer than {MAX_LINE} bytes");
            }
            Err(e) => return format!("reading its stdout failed ({e})"),
        }
    }
    "closed its stdout".into()
}

async fn drain_stderr(name: Arc<str>, stderr: ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "toolgate::upstream::stderr", upstream = %name, "{line}");
    }
}
