//! Compiled rules: which tools of which server are admitted, hidden, or renamed.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind};
use crate::settings::{ServerRules, ToolFilterSettings};

/// The key of the rules that apply to every server.
pub(crate) const ALL: &str = "*";

#[derive(Debug, Default)]
pub(crate) struct Rules {
    allow: Option<GlobSet>,
    deny: GlobSet,
    hide: GlobSet,
    /// original → new
    rename: HashMap<String, String>,
    /// new → original
    reverse: HashMap<String, String>,
}

fn globs(server: &str, what: &str, patterns: &[String]) -> Result<GlobSet, Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| {
            Error::new(
                ErrorKind::Glob,
                format!("servers.{server}.{what}: invalid glob '{p}': {e}"),
            )
        })?;
        b.add(glob);
    }
    b.build()
        .map_err(|e| Error::new(ErrorKind::Glob, format!("servers.{server}.{what}: {e}")))
}

/// MCP tool names: 1–128 characters of `[A-Za-z0-9_.-]`.
fn check_tool_name(server: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Rename,
            format!(
                "servers.{server}.rename: '{name}' is not a valid tool name (1 to 128 of A-Z, a-z, 0-9, '_', '.', '-')"
            ),
        ))
    }
}

impl Rules {
    fn new(server: &str, r: &ServerRules) -> Result<Rules, Error> {
        if server == ALL && !r.rename.is_empty() {
            return Err(Error::new(
                ErrorKind::Rename,
                "servers.\"*\".rename: renames belong to one server; move them under its name",
            ));
        }
        let mut reverse = HashMap::new();
        for (original, new) in &r.rename {
            check_tool_name(server, original)?;
            check_tool_name(server, new)?;
            if let Some(other) = reverse.insert(new.clone(), original.clone()) {
                return Err(Error::new(
                    ErrorKind::Rename,
                    format!(
                        "servers.{server}.rename: '{other}' and '{original}' are both renamed to '{new}'"
                    ),
                ));
            }
        }
        Ok(Rules {
            allow: r
                .allow
                .as_ref()
                .map(|a| globs(server, "allow", a))
                .transpose()?,
            deny: globs(server, "deny", &r.deny)?,
            hide: globs(server, "hide", &r.hide)?,
            rename: r.rename.clone().into_iter().collect(),
            reverse,
        })
    }

    fn admits(&self, tool: &str) -> bool {
        !self.deny.is_match(tool) && self.allow.as_ref().is_none_or(|a| a.is_match(tool))
    }
}

/// Every server's rules, plus the rules for all servers.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    all: Option<Rules>,
    servers: HashMap<String, Rules>,
}

impl Policy {
    pub(crate) fn new(s: &ToolFilterSettings) -> Result<Policy, Error> {
        let mut p = Policy::default();
        for (server, rules) in &s.servers {
            let compiled = Rules::new(server, rules)?;
            if server == ALL {
                p.all = Some(compiled);
            } else {
                p.servers.insert(server.clone(), compiled);
            }
        }
        Ok(p)
    }

    /// The servers with rules of their own.
    pub(crate) fn servers(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    fn rules(&self, server: &str) -> impl Iterator<Item = &Rules> {
        self.all.iter().chain(self.servers.get(server))
    }

    /// Whether `tool` of `server` may be listed (unless hidden) and called.
    pub(crate) fn admits(&self, server: &str, tool: &str) -> bool {
        self.rules(server).all(|r| r.admits(tool))
    }

    /// Whether `tool` of `server` is left out of lists.
    pub(crate) fn hidden(&self, server: &str, tool: &str) -> bool {
        self.rules(server).any(|r| r.hide.is_match(tool))
    }

    /// The new name of `tool` of `server`, if renamed.
    pub(crate) fn renamed(&self, server: &str, tool: &str) -> Option<&str> {
        self.servers
            .get(server)?
            .rename
            .get(tool)
            .map(String::as_str)
    }

    /// Every rename as (server, new, original), to map a called name back.
    pub(crate) fn renames(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.servers.iter().flat_map(|(server, r)| {
            r.reverse
                .iter()
                .map(move |(new, orig)| (server.as_str(), new.as_str(), orig.as_str()))
        })
    }

    /// True when the policy changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_none() && self.servers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Result<Policy, Error> {
        Policy::new(&serde_json::from_value(v).expect("settings"))
    }

    #[test]
    fn deny_wins_over_allow_and_star_rules_apply_to_every_server() {
        let p = policy(serde_json::json!({"servers": {
            "demo": {"allow": ["e*", "sleep"], "deny": ["echo_secret"]},
            "*": {"deny": ["*delete*"]}
        }}))
        .expect("policy");
        assert!(p.admits("demo", "echo"));
        assert!(p.admits("demo", "sleep"));
        assert!(!p.admits("demo", "echo_secret"));
        assert!(!p.admits("demo", "crash"), "not in allow");
        assert!(!p.admits("demo", "e_delete_all"), "the * rules apply too");
        assert!(!p.admits("other", "delete_everything"));
        assert!(p.admits("other", "crash"), "no allow list for other");
    }

    #[test]
    fn bad_globs_and_renames_are_refused_with_the_path() {
        let e =
            policy(serde_json::json!({"servers": {"demo": {"deny": ["a[b"]}}})).expect_err("glob");
        assert_eq!(e.kind(), ErrorKind::Glob);
        assert!(e.to_string().contains("servers.demo.deny"), "{e}");
        let e = policy(serde_json::json!({"servers": {"demo": {"rename": {"a": "x", "b": "x"}}}}))
            .expect_err("two to one");
        assert!(e.to_string().contains("both renamed to 'x'"), "{e}");
        let e = policy(serde_json::json!({"servers": {"demo": {"rename": {"a": "no spaces"}}}}))
            .expect_err("bad name");
        assert!(e.to_string().contains("not a valid tool name"), "{e}");
        let e = policy(serde_json::json!({"servers": {"*": {"rename": {"a": "b"}}}}))
            .expect_err("rename for all");
        assert_eq!(e.kind(), ErrorKind::Rename);
    }
}
