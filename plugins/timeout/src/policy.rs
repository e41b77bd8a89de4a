//! Which deadline a request gets: its tool's, else its server's, else the layer's default.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::Error;
use crate::settings::TimeoutSettings;

/// A request's time budget: `timeout`, restarted by each progress notification when
/// `max_total` is set, but never beyond `max_total` after the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    timeout: Duration,
    max_total: Option<Duration>,
}

impl Deadline {
    /// A fixed deadline: `timeout` after the request starts; progress does not extend it.
    pub fn new(timeout: Duration) -> Self {
        Deadline {
            timeout,
            max_total: None,
        }
    }
    /// Lets each progress notification restart the timeout, up to `max_total` after the start
    /// (a `max_total` shorter than the timeout means no extension).
    #[must_use]
    pub fn extend_on_progress(mut self, max_total: Duration) -> Self {
        self.max_total = Some(max_total.max(self.timeout));
        self
    }
    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// The hard cap, when progress extends the deadline.
    pub fn max_total(&self) -> Option<Duration> {
        self.max_total
    }
    /// The longest a request with this deadline can run.
    pub fn longest(&self) -> Duration {
        self.max_total.unwrap_or(self.timeout)
    }
}

/// Deadlines by server and tool.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub(crate) default: Option<Deadline>,
    pub(crate) servers: HashMap<String, ServerPolicy>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ServerPolicy {
    pub(crate) deadline: Option<Deadline>,
    pub(crate) tools: HashMap<String, Deadline>,
}

/// `timeout` and `max_total_timeout` of one level, after falling back to the level around it.
type Keys = (Option<Duration>, Option<Duration>);

/// Combines one level's keys with the level around it; `what` names the level for errors.
fn level(
    what: &str,
    timeout: Option<Duration>,
    max_total: Option<Duration>,
    parent: Keys,
) -> Result<(Option<Deadline>, Keys), Error> {
    let timeout = timeout.or(parent.0);
    let max_total = max_total.or(parent.1);
    let deadline = match (timeout, max_total) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Error::settings(format!(
                "{what}: max_total_timeout needs a timeout (the time allowed between progress notifications)"
            )));
        }
        (Some(t), None) => Some(Deadline::new(t)),
        (Some(t), Some(m)) if m < t => {
            return Err(Error::settings(format!(
                "{what}: max_total_timeout ({m:?}) is shorter than timeout ({t:?}); it must be at least as long"
            )));
        }
        (Some(t), Some(m)) => Some(Deadline::new(t).extend_on_progress(m)),
    };
    Ok((deadline, (timeout, max_total)))
}

impl Policy {
    pub(crate) fn from_settings(s: &TimeoutSettings) -> Result<Policy, Error> {
        let (default, top) = level("timeout", s.timeout, s.max_total_timeout, (None, None))?;
        let mut servers = HashMap::new();
        for (name, server) in &s.servers {
            let (deadline, inherited) = level(
                &format!("servers.{name}"),
                server.timeout,
                server.max_total_timeout,
                top,
            )?;
            let mut tools = HashMap::new();
            for (tool, t) in &server.tools {
                let (d, _) = level(
                    &format!("servers.{name}.tools.{tool}"),
                    t.timeout,
                    t.max_total_timeout,
                    inherited,
                )?;
                if let Some(d) = d {
                    tools.insert(tool.clone(), d);
                }
            }
            servers.insert(name.clone(), ServerPolicy { deadline, tools });
        }
        Ok(Policy { default, servers })
    }

    /// The deadline for a request to `server` (and `tool`, for `tools/call`).
    pub(crate) fn deadline_for(
        &self,
        server: Option<&str>,
        tool: Option<&str>,
    ) -> Option<Deadline> {
        let s = server.and_then(|s| self.servers.get(s));
        s.and_then(|s| tool.and_then(|t| s.tools.get(t)).copied())
            .or_else(|| s.and_then(|s| s.deadline))
            .or(self.default)
    }

    /// The longest any request can run under this policy, and where that is configured.
    pub(crate) fn longest(&self) -> Option<(Duration, String)> {
        let mut all: Vec<(Duration, String)> = Vec::new();
        if let Some(d) = self.default {
            all.push((d.longest(), "timeout".into()));
        }
        for (name, s) in &self.servers {
            if let Some(d) = s.deadline {
                all.push((d.longest(), format!("servers.{name}")));
            }
            for (tool, d) in &s.tools {
                all.push((d.longest(), format!("servers.{name}.tools.{tool}")));
            }
        }
        all.into_iter().max_by_key(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: serde_json::Value) -> TimeoutSettings {
        serde_json::from_value(v).expect("settings")
    }

    #[test]
    fn tool_beats_server_beats_default_and_keys_are_inherited() {
        let p = Policy::from_settings(&settings(serde_json::json!({
            "timeout": "30s",
            "servers": {"demo": {"timeout": "10s", "max_total_timeout": "1m",
                                 "tools": {"sleep": {"timeout": "1s"}}}}
        })))
        .expect("policy");
        let secs = Duration::from_secs;
        assert_eq!(
            p.deadline_for(Some("demo"), Some("sleep")),
            Some(Deadline::new(secs(1)).extend_on_progress(secs(60)))
        );
        assert_eq!(
            p.deadline_for(Some("demo"), Some("echo")),
            Some(Deadline::new(secs(10)).extend_on_progress(secs(60)))
        );
        assert_eq!(
            p.deadline_for(Some("other"), None),
            Some(Deadline::new(secs(30)))
        );
        assert_eq!(p.deadline_for(None, None), Some(Deadline::new(secs(30))));
        assert_eq!(p.longest().map(|l| l.0), Some(secs(60)));
    }

    #[test]
    fn without_a_default_unlisted_requests_have_no_deadline() {
        let p = Policy::from_settings(&settings(serde_json::json!({
            "servers": {"demo": {"tools": {"sleep": {"timeout": "1s"}}}}
        })))
        .expect("policy");
        assert_eq!(p.deadline_for(Some("demo"), Some("echo")), None);
        assert!(p.deadline_for(Some("demo"), Some("sleep")).is_some());
    }

    #[test]
    fn contradictions_are_refused_with_the_path() {
        let e = Policy::from_settings(&settings(serde_json::json!({
            "servers": {"demo": {"tools": {"sleep": {"timeout": "10s", "max_total_timeout": "1s"}}}}
        })))
        .expect_err("cap below timeout");
        assert!(e.to_string().contains("servers.demo.tools.sleep"), "{e}");
        let e = Policy::from_settings(&settings(serde_json::json!({"max_total_timeout": "1m"})))
            .expect_err("cap without timeout");
        assert!(e.to_string().contains("needs a timeout"), "{e}");
    }
}
