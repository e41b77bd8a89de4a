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

/// One fenced block of a Markdown file: its language, text (common indentation removed), line,
/// and the reason given in a `<!-- not run: … -->` comment right above it, if any.
#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    lang: String,
    text: String,
    not_run: Option<String>,
}

fn blocks(file: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(lang) = trimmed.strip_prefix("```").filter(|l| !l.is_empty()) {
            let indent = lines[i].len() - trimmed.len();
            let start = i;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim_start() != "```" {
                body.push(lines[i].get(indent..).unwrap_or(lines[i].trim_start()));
                i += 1;
            }
            let not_run = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!-- not run:"))
                .map(|r| r.trim_end_matches("-->").trim().to_owned());
            out.push(Block {
                file: file.to_owned(),
                line: start + 1,
                lang: lang.trim().to_owned(),
                text: body.join("\n"),
                not_run,
            });
        }
        i += 1;
    }
    out
}

/// Every shell and Python block of `README.md` and `docs/**/*.md` runs as written against a
/// gateway on the built-in default config (the demo server; only the address differs: a free
/// port instead of 4000), and must exit 0. A block that cannot run here says why in a
/// `<!-- not run: … -->` comment right above it; a comment without a reason fails the test.
#[tokio::test]
async fn every_shell_and_python_block_of_the_docs_runs() -> anyhow::Result<()> {
    let root = paths::workspace_root();
    let mut files = vec![root.join("README.md")];
    for dir in [root.join("docs"), root.join("docs/policies")] {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    let gateway = Gateway::start_default().await?;
    let address = gateway.addr().to_string();
    let scratch = ScratchDir::new("doc-blocks")?;
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path)?;
        for block in blocks(&name, &text) {
            let shell = matches!(block.lang.as_str(), "sh" | "bash" | "shell");
            if !shell && block.lang != "python" {
                continue;
            }
            let at = format!("{}:{}", block.file, block.line);
            if let Some(reason) = &block.not_run {
                anyhow::ensure!(
                    reason.len() > 10,
                    "{at}: a `not run` comment must say why: {reason:?}"
                );
                skipped.push(at);
                continue;
            }
            let script = block.text.replace("127.0.0.1:4000", &address);
            let output = if shell {
                let file = scratch.write(&format!("block-{}.sh", ran.len()), &script)?;
                run_command(
                    &at,
                    "bash",
                    ["-euo".as_ref(), "pipefail".as_ref(), file.as_os_str()],
                    &[],
                    Duration::from_secs(60),
                )
                .await?
            } else {
                let file = scratch.write(&format!("block-{}.py", ran.len()), &script)?;
                run_command(
                    &at,
                    paths::venv_python()?,
                    [file.as_os_str()],
                    &[],
                    Duration::from_secs(60),
                )
                .await?
            };
            anyhow::ensure!(output.success(), "{at} failed:\n{}", output.describe());
            ran.push(at);
        }
    }
    eprintln!("ran {} block(s): {ran:?}\nnot run: {skipped:?}", ran.len());
    anyhow::ensure!(
        ran.len() >= 2,
        "the README quick start and the REST examples run: {ran:?}"
    );
    Ok(())
}
