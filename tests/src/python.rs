//! Runs the official MCP Python SDK scripts of `tests/python/` with the interop venv.
//!
//! A script's exit status is its verdict; its stdout and stderr are printed either way (the test
//! runner shows them when the test fails) and carried in the error.

use std::ffi::OsStr;
use std::time::Duration;

use crate::paths;
use crate::process::{CommandOutput, run_command};

/// Runs `tests/python/<script> ARGS…` with `target/interop/venv/bin/python`; fails unless it
/// exits 0 within `timeout`.
pub async fn run_python<I, S>(
    script: &str,
    args: I,
    timeout: Duration,
) -> anyhow::Result<CommandOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let python = paths::venv_python()?;
    let script_path = paths::python_script(script)?;
    let mut all = vec![script_path.into_os_string()];
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    // Unbuffered, so a killed script still shows how far it got; no bytecode in the source tree.
    let envs = [("PYTHONUNBUFFERED", "1"), ("PYTHONDONTWRITEBYTECODE", "1")];
    let output = run_command(&format!("python {script}"), python, all, &envs, timeout).await?;
    eprintln!("{}", output.describe());
    output.expect_success()
}

/// Starts `tests/python/<script> ARGS…` with the interop venv and returns it running, for tests
/// that act while it runs ([`ChildProcess::wait_for_line`](crate::process::ChildProcess::wait_for_line)).
pub fn spawn_python<I, S>(script: &str, args: I) -> anyhow::Result<crate::process::ChildProcess>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = std::process::Command::new(paths::venv_python()?);
    command
        .arg(paths::python_script(script)?)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    crate::process::ChildProcess::spawn(format!("python {script}"), command)
}
