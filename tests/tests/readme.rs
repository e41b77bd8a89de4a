//! The README's quick start, run as written: its Python block (the official SDK, current
//! `mcp` 2.x) against the gateway on its built-in default config. Only the address differs —
//! the test's gateway listens on a free port instead of 4000.

use std::time::Duration;

use anyhow::Context;
use toolgate_tests::process::run_command;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{Gateway, paths};

/// The first ```python block of `text`.
fn first_python_block(text: &str) -> Option<String> {
    let start = text.find("```python")?;
    let body = &text[start + "```python".len()..];
    let end = body.find("```")?;
    // The block is indented inside a list item: drop the common indentation.
    let lines: Vec<&str> = body[..end].lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Some(
        lines
            .iter()
            .map(|l| l.get(indent..).unwrap_or("").trim_end())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[tokio::test]
async fn the_readme_python_quick_start_runs_as_written() -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(paths::workspace_root().join("README.md"))?;
    let block = first_python_block(&readme).context("README.md has a ```python block")?;
    anyhow::ensure!(
        block.contains("127.0.0.1:4000"),
        "the quick start talks to the default address:\n{block}"
    );
    let gateway = Gateway::start_default().await?;
    let script = block.replace("127.0.0.1:4000", &gateway.addr().to_string());
    let scratch = ScratchDir::new("readme")?;
    let file = scratch.write("quick_start.py", &script)?;
    let python = paths::venv_python()?;
    let output = run_command(
        "README quick start",
        python,
        [file.as_os_str()],
        &[],
        Duration::from_secs(60),
    )
    .await?;
    anyhow::ensure!(output.success(), "{}", output.describe());
    anyhow::ensure!(
        output.stdout.contains("demo__echo") && output.stdout.lines().any(|l| l.trim() == "hello"),
        "the quick start prints the tools and the echoed text:\n{}",
        output.describe()
    );
    Ok(())
}
