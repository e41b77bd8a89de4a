//! Gateway configuration files, written the way users write them (LiteLLM's `mcp_servers` form).
//!
//! ```yaml
//! mcp_servers:
//!   demo: {command: ".../demo-server", args: ["--transport", "stdio", "--name", "demo"]}
//!   remote: {url: "http://127.0.0.1:PORT/mcp", transport: "http"}
//! server: {separator: "__", max_body_bytes: 4096}
//! ```
//! Every scalar is written JSON-quoted, which YAML reads as the same string.

use std::fmt::Write as _;

use crate::paths;

/// One entry of `mcp_servers`.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A child process speaking MCP on stdio.
    Stdio {
        /// The executable.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: Vec<(String, String)>,
    },
    /// A remote server.
    Remote {
        /// Its MCP endpoint.
        url: String,
        /// `http` (Streamable HTTP) or `sse` (legacy HTTP+SSE); empty leaves `transport` out
        /// of the config, so the gateway infers it from the URL.
        transport: String,
    },
    /// Replicas of one remote server: `url: [a, b, …]`.
    Replicas {
        /// Their MCP endpoints.
        urls: Vec<String>,
    },
}

impl Upstream {
    /// A stdio upstream running `command args…`.
    pub fn stdio<I, S>(command: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Stdio {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable (stdio upstreams only; ignored for remote ones).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let Self::Stdio { env, .. } = &mut self {
            env.push((key.into(), value.into()));
        }
        self
    }

    /// The workspace's demo-server on stdio, answering `whoami` with `name`.
    pub fn demo(name: &str) -> anyhow::Result<Self> {
        let bin = paths::demo_server()?;
        Ok(Self::stdio(
            bin.to_string_lossy(),
            ["--transport", "stdio", "--name", name],
        ))
    }

    /// This crate's `fault-server` on stdio, with `args` (`--hang-initialize`, or none for a
    /// server whose faults are triggered by its tools; see `tests/src/bin/fault-server.rs`).
    pub fn fault<I, S>(args: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let bin = paths::fault_server()?;
        Ok(Self::stdio(bin.to_string_lossy(), args))
    }

    /// `@modelcontextprotocol/server-everything` on stdio (run by node).
    pub fn everything() -> anyhow::Result<Self> {
        let entry = paths::server_everything_entry()?;
        Ok(Self::stdio(
            paths::node().to_string_lossy(),
            [entry.to_string_lossy().into_owned(), "stdio".to_owned()],
        ))
    }

    /// A remote Streamable HTTP server.
    pub fn http(url: impl Into<String>) -> Self {
        Self::Remote {
            url: url.into(),
            transport: "http".to_owned(),
        }
    }

    /// A remote server with no `transport` key: the gateway infers it from the URL (a path
    /// ending in `/sse` is legacy HTTP+SSE, anything else Streamable HTTP).
    pub fn url(url: impl Into<String>) -> Self {
        Self::Remote {
            url: url.into(),
            transport: String::new(),
        }
    }

    /// Replicas of one remote server at `urls` (`url: [a, b, …]`), transport inferred.
    pub fn replicas<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Replicas {
            urls: urls.into_iter().map(Into::into).collect(),
        }
    }

    /// A remote legacy HTTP+SSE server.
    pub fn sse(url: impl Into<String>) -> Self {
        Self::Remote {
            url: url.into(),
            transport: "sse".to_owned(),
        }
    }
}

/// A whole gateway config file.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    servers: Vec<(String, Upstream)>,
    server_keys: Vec<(String, String, String)>,
    separator: Option<String>,
    max_body_bytes: Option<u64>,
    sections: Vec<String>,
}

impl GatewayConfig {
    /// An empty config.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an upstream called `name`.
    pub fn server(mut self, name: impl Into<String>, upstream: Upstream) -> Self {
        self.servers.push((name.into(), upstream));
        self
    }

    /// Adds `key: value` to the settings of upstream `server` (`mcp_servers.<server>.<key>`,
    /// beside `command`/`url`). `value` is YAML as written (`false`, `[a, b]`, `"text"`).
    pub fn server_key(
        mut self,
        server: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.server_keys
            .push((server.into(), key.into(), value.into()));
        self
    }

    /// Appends top-level YAML (a whole section such as `layers:\n  - use: auth\n…`) to the
    /// file as written.
    pub fn section(mut self, yaml: impl Into<String>) -> Self {
        let mut yaml = yaml.into();
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        self.sections.push(yaml);
        self
    }

    /// Sets `server.separator`.
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = Some(separator.into());
        self
    }

    /// Sets `server.max_body_bytes`.
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> String {
        let mut yaml = String::from("mcp_servers:\n");
        if self.servers.is_empty() {
            yaml = String::from("mcp_servers: {}\n");
        }
        for (name, upstream) in &self.servers {
            let _ = writeln!(yaml, "  {}:", quote(name));
            match upstream {
                Upstream::Stdio { command, args, env } => {
                    let _ = writeln!(yaml, "    command: {}", quote(command));
                    let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
                    let _ = writeln!(yaml, "    args: [{}]", args.join(", "));
                    if !env.is_empty() {
                        let _ = writeln!(yaml, "    env:");
                        for (key, value) in env {
                            let _ = writeln!(yaml, "      {}: {}", quote(key), quote(value));
                        }
                    }
                }
                Upstream::Replicas { urls } => {
                    let urls: Vec<String> = urls.iter().map(|u| quote(u)).collect();
                    let _ = writeln!(yaml, "    url: [{}]", urls.join(", "));
                }
                Upstream::Remote { url, transport } => {
                    let _ = writeln!(yaml, "    url: {}", quote(url));
                    if !transport.is_empty() {
                        let _ = writeln!(yaml, "    transport: {}", quote(transport));
                    }
                }
            }
            for (_, key, value) in self.server_keys.iter().filter(|(s, _, _)| s == name) {
                let _ = writeln!(yaml, "    {}: {value}", quote(key));
            }
        }
        if self.separator.is_some() || self.max_body_bytes.is_some() {
            yaml.push_str("server:\n");
            if let Some(separator) = &self.separator {
                let _ = writeln!(yaml, "  separator: {}", quote(separator));
            }
            if let Some(bytes) = self.max_body_bytes {
                let _ = writeln!(yaml, "  max_body_bytes: {bytes}");
            }
        }
        for section in &self.sections {
            yaml.push_str(section);
        }
        yaml
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_every_scalar() {
        let yaml = GatewayConfig::new()
            .server(
                "a",
                Upstream::stdio("/bin/x y", ["--name", "it's \"q\""]).env("K", "v"),
            )
            .server("b", Upstream::http("http://127.0.0.1:1/mcp"))
            .server("c", Upstream::url("http://127.0.0.1:2/sse"))
            .server_key("a", "allowed_tools", "[x]")
            .max_body_bytes(4096)
            .section("layers:\n  - use: auth")
            .to_yaml();
        assert_eq!(
            yaml,
            "mcp_servers:\n  \"a\":\n    command: \"/bin/x y\"\n    args: [\"--name\", \"it's \\\"q\\\"\"]\n    env:\n      \"K\": \"v\"\n    \"allowed_tools\": [x]\n  \"b\":\n    url: \"http://127.0.0.1:1/mcp\"\n    transport: \"http\"\n  \"c\":\n    url: \"http://127.0.0.1:2/sse\"\nserver:\n  max_body_bytes: 4096\nlayers:\n  - use: auth\n"
        );
    }
}
