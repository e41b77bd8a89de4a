//! Which requests a limit applies to (`server:`, `tool:`) and what it counts separately
//! (`per: [identity, server, tool]`), shared by rate limits and concurrency caps.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Deserialize;
use toolgate::McpRequest;
use toolgate::jsonrpc::Method;

use crate::error::Error;

/// The identity of callers the HTTP plane did not identify (stdio, no auth layer).
pub const ANONYMOUS: &str = "anonymous";

/// Something a limit counts separately.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Each caller (`Identity::subject`, or `anonymous`) has its own budget.
    Identity,
    /// Each upstream server has its own budget.
    Server,
    /// Each tool (server and tool name) has its own budget; only `tools/call` has a tool.
    Tool,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Dimension::Identity => "identity",
            Dimension::Server => "server",
            Dimension::Tool => "tool",
        }
    }
}

/// `per:` in a config file: one dimension or a list; absent or `[]` means one budget shared
/// by every request the rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Per {
    /// `per: identity`
    One(Dimension),
    /// `per: [identity, tool]`
    Many(Vec<Dimension>),
}

impl Default for Per {
    fn default() -> Self {
        Per::Many(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Per {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Per, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let parse = |name: &str| match name {
            "identity" => Ok(Dimension::Identity),
            "server" => Ok(Dimension::Server),
            "tool" => Ok(Dimension::Tool),
            other => Err(serde::de::Error::custom(format!(
                "unknown `per` dimension '{other}'; expected identity, server or tool"
            ))),
        };
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "`per` must be identity, server, tool, or a list of them (e.g. [identity, tool])",
            )
        })? {
            Raw::One(name) => Ok(Per::One(parse(&name)?)),
            Raw::Many(names) => names
                .iter()
                .map(|n| parse(n))
                .collect::<Result<_, _>>()
                .map(Per::Many),
        }
    }
}

impl Per {
    fn dimensions(&self) -> BTreeSet<Dimension> {
        match self {
            Per::One(d) => BTreeSet::from([*d]),
            Per::Many(v) => v.iter().copied().collect(),
        }
    }
}

/// What is known about a request for limiting: who calls, which server, which tool.
#[derive(Debug)]
pub(crate) struct Facts {
    pub(crate) identity: String,
    pub(crate) server: Option<String>,
    pub(crate) tool: Option<String>,
}

impl Facts {
    /// Reads the caller from the context and the server and tool from the request's route
    /// (decided by the gateway's routing step). An unrouted request has neither.
    pub(crate) fn of(req: &McpRequest) -> Facts {
        let identity = req
            .ctx
            .identity
            .as_ref()
            .map_or(ANONYMOUS, |i| i.subject.as_str())
            .to_owned();
        let is_tool = *req.method() == Method::ToolsCall;
        let (server, tool) = match req.route() {
            Some(route) => (
                Some(route.server.to_string()),
                is_tool.then(|| route.original.to_string()),
            ),
            None => (None, None),
        };
        Facts {
            identity,
            server,
            tool,
        }
    }
}

/// One budget's key: the facts a rule counts separately, the others left out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    identity: Option<String>,
    server: Option<String>,
    tool: Option<String>,
}

impl Key {
    /// The key as a Redis key suffix: each fact JSON-quoted (so no value can run into the
    /// next), absent ones empty.
    pub(crate) fn redis_suffix(&self) -> String {
        let part = |v: &Option<String>| {
            v.as_deref()
                .map(|s| serde_json::Value::from(s).to_string())
                .unwrap_or_default()
        };
        format!(
            "i={}|s={}|t={}",
            part(&self.identity),
            part(&self.server),
            part(&self.tool)
        )
    }
}

/// The part of a rule that says which requests it applies to and how they are keyed.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    per: BTreeSet<Dimension>,
    server: Option<String>,
    tool: Option<String>,
}

impl Scope {
    pub(crate) fn new(per: &Per, server: Option<&str>, tool: Option<&str>) -> Result<Scope, Error> {
        for (what, value) in [("server", server), ("tool", tool)] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(Error::settings(format!(
                    "`{what}:` may not be empty; leave it out to apply the rule to every {what}"
                )));
            }
        }
        Ok(Scope {
            per: per.dimensions(),
            server: server.map(str::to_owned),
            tool: tool.map(str::to_owned),
        })
    }

    /// The server this rule is limited to, if any.
    pub(crate) fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// The dimensions, for error data.
    pub(crate) fn per_names(&self) -> Vec<&'static str> {
        self.per.iter().map(|d| d.name()).collect()
    }

    /// The key of the budget `facts` count against, or `None` when the rule does not apply:
    /// another server or tool, or a dimension the request lacks (`per: tool` on `tools/list`).
    pub(crate) fn key(&self, facts: &Facts) -> Option<Key> {
        if self.server.is_some() && self.server != facts.server {
            return None;
        }
        if self.tool.is_some() && self.tool != facts.tool {
            return None;
        }
        let mut key = Key {
            identity: None,
            server: None,
            tool: None,
        };
        for d in &self.per {
            match d {
                Dimension::Identity => key.identity = Some(facts.identity.clone()),
                Dimension::Server => key.server = Some(facts.server.clone()?),
                Dimension::Tool => {
                    key.tool = Some(facts.tool.clone()?);
                    key.server = facts.server.clone();
                }
            }
        }
        Some(key)
    }

    /// Says which budget a request hit, for the error message: `caller 'alice' on server demo`.
    pub(crate) fn describe(&self, facts: &Facts) -> String {
        let mut out = String::new();
        let server = self.server.as_ref().or(facts.server.as_ref());
        let tool = self.tool.as_ref().or(facts.tool.as_ref());
        let by_tool = self.per.contains(&Dimension::Tool) || self.tool.is_some();
        let by_server = by_tool || self.per.contains(&Dimension::Server) || self.server.is_some();
        if self.per.contains(&Dimension::Identity) {
            let _ = write!(out, "caller '{}'", facts.identity);
        } else {
            out.push_str("all callers");
        }
        if by_tool && let Some(t) = tool {
            let _ = write!(out, ", tool '{t}'");
        }
        if by_server && let Some(s) = server {
            let _ = write!(out, ", server '{s}'");
        }
        out
    }
}

/// Checks that every server a rule names is configured, so a typo fails at start-up instead of
/// silently limiting nothing.
pub(crate) fn check_servers<'a>(
    named: impl IntoIterator<Item = &'a str>,
    known: &[&str],
) -> Result<(), Error> {
    for server in named {
        if !known.contains(&server) {
            return Err(Error::settings(format!(
                "no upstream server is named '{server}'; configured servers: {}",
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(identity: &str, server: Option<&str>, tool: Option<&str>) -> Facts {
        Facts {
            identity: identity.into(),
            server: server.map(Into::into),
            tool: tool.map(Into::into),
        }
    }

    #[test]
    fn per_tool_keys_by_server_and_tool() {
        let s = Scope::new(&Per::One(Dimension::Tool), None, None).expect("scope");
        let a = s
            .key(&facts("x", Some("a"), Some("echo")))
            .expect("applies");
        let b = s
            .key(&facts("y", Some("b"), Some("echo")))
            .expect("applies");
        assert_ne!(a, b, "same tool name on two servers: two budgets");
        assert_eq!(
            a,
            s.key(&facts("z", Some("a"), Some("echo")))
                .expect("applies"),
            "identity is not part of a per-tool key"
        );
        assert!(s.key(&facts("x", None, None)).is_none(), "no tool: no key");
    }

    #[test]
    fn scoped_rules_apply_only_to_their_server_and_tool() {
        let s = Scope::new(&Per::default(), Some("a"), Some("sleep")).expect("scope");
        assert!(s.key(&facts("x", Some("a"), Some("sleep"))).is_some());
        assert!(s.key(&facts("x", Some("a"), Some("echo"))).is_none());
        assert!(s.key(&facts("x", Some("b"), Some("sleep"))).is_none());
    }

    #[test]
    fn unknown_servers_are_named_in_the_error() {
        let e = check_servers(["dmeo"], &["demo", "other"]).expect_err("typo");
        assert!(e.to_string().contains("'dmeo'"), "{e}");
        assert!(e.to_string().contains("demo, other"), "{e}");
    }
}
