//! [`ConfigControl`]: what the admin page may show of the running config file, and its reload
//! button — given by the program that loaded the config (the `toolgate` binary), which does
//! the reloading and reports how it went.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

/// How one reload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadOutcome {
    /// When it ended, seconds since the epoch.
    pub at: u64,
    /// Whether the new config is running.
    pub applied: bool,
    /// What happened: the layers loaded, or why the running config stays.
    pub message: String,
}

/// The running config file and its reload, shared by the admin page and the program.
#[derive(Clone)]
pub struct ConfigControl {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    /// The page's token for state-changing requests: one per control, so it survives reloads.
    token: String,
    requested: Notify,
    outcome: watch::Sender<Option<ReloadOutcome>>,
}

impl fmt::Debug for ConfigControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigControl")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Keys whose values are credentials: shown as `***` unless they are `${VAR}` references.
const SECRET_KEYS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "password",
    "authorization",
    "credential",
    "api_key",
    "sha256",
];

impl ConfigControl {
    /// Control of the config at `path` (`None`: the built-in default, nothing to show or
    /// reload).
    pub fn new(path: Option<PathBuf>) -> Self {
        ConfigControl {
            inner: Arc::new(Inner {
                path,
                token: toolgate::server::random_token(),
                requested: Notify::new(),
                outcome: watch::Sender::new(None),
            }),
        }
    }

    /// The token the page must send with a reload.
    pub(crate) fn token(&self) -> &str {
        &self.inner.token
    }

    /// Resolves when the page asks for a reload (for the program's reload loop).
    pub async fn requested(&self) {
        self.inner.requested.notified().await;
    }

    /// Records how a reload ended (whoever asked for it: the page, SIGHUP, a file change).
    pub fn record(&self, applied: bool, message: impl Into<String>) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.inner.outcome.send_replace(Some(ReloadOutcome {
            at,
            applied,
            message: message.into(),
        }));
    }

    /// The last reload's outcome, if any.
    pub fn last(&self) -> Option<ReloadOutcome> {
        self.inner.outcome.borrow().clone()
    }

    /// Asks for a reload and waits for its outcome, at most `limit`.
    pub(crate) async fn reload(&self, limit: Duration) -> Option<ReloadOutcome> {
        self.inner.path.as_ref()?;
        let mut rx = self.inner.outcome.subscribe();
        rx.mark_unchanged();
        self.inner.requested.notify_one();
        tokio::time::timeout(limit, rx.changed()).await.ok()?.ok()?;
        self.last()
    }

    /// The file as written, credentials masked, with its path and the last reload.
    pub(crate) fn json(&self) -> Value {
        let outcome = self
            .last()
            .map(|o| json!({"at": o.at, "applied": o.applied, "message": o.message}));
        let Some(path) = &self.inner.path else {
            return json!({"path": null, "text": null, "last_reload": outcome,
                          "note": "the built-in default config: start with --config FILE to see and reload one"});
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => mask(&text),
            Err(e) => format!("# cannot read {}: {e}", path.display()),
        };
        json!({"path": path.display().to_string(), "text": text, "last_reload": outcome})
    }
}

/// The config text with credential values replaced by `***` (a `${VAR}` reference is kept: it
/// names a variable, not its value), and passwords in URLs too.
pub(crate) fn mask(text: &str) -> String {
    text.lines().map(mask_line).collect::<Vec<_>>().join("\n")
}

fn mask_line(line: &str) -> String {
    let line = toolgate::config::redact_url_password(line);
    // `key: value` (YAML) or `"key": value` (JSON), possibly inside a flow map `{a: b, c: d}`.
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(colon) = rest.find(':') {
        let (before, after) = rest.split_at(colon);
        out.push_str(before);
        out.push(':');
        let after = &after[1..];
        let key = before
            .rsplit(|c: char| c == '{' || c == ',' || c == '-' || c.is_whitespace())
            .next()
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'')
            .to_ascii_lowercase();
        let secret = !key.is_empty() && SECRET_KEYS.iter().any(|k| key.contains(k));
        // The value runs to the next `,` or `}` in a flow map, or to the end of the line.
        let end = after.find([',', '}']).unwrap_or(after.len());
        let (value, tail) = after.split_at(end);
        let v = value.trim().trim_matches(|c| c == '"' || c == '\'');
        if secret && !v.is_empty() && !v.starts_with("${") && !v.starts_with("os.environ/") {
            out.push_str(" \"***\"");
        } else {
            out.push_str(value);
        }
        rest = tail;
        if !tail.starts_with([',', '}']) {
            break;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_and_references_kept() {
        let text = "\
mcp_servers:
  remote:
    url: https://api.example/mcp
    headers:
      Authorization: Bearer abc123
      X-Team: platform
    authentication_token: ${REMOTE_TOKEN}
layers:
  - use: auth
    api_keys:
      - {name: team-a, key: literal-key-123, servers: [demo]}
      - {name: ops, sha256: 9f86d081884c7d65}
redis:
  url: redis://:hunter2@redis:6379/0
  other: rediss://gw:${REDIS_PASSWORD}@redis:6380";
        let masked = mask(text);
        for secret in ["abc123", "literal-key-123", "9f86d081884c7d65", "hunter2"] {
            assert!(!masked.contains(secret), "{secret} in\n{masked}");
        }
        for kept in [
            "X-Team: platform",
            "${REMOTE_TOKEN}",
            "name: team-a",
            "servers: [demo]",
            "https://api.example/mcp",
            "${REDIS_PASSWORD}",
        ] {
            assert!(masked.contains(kept), "{kept} missing in\n{masked}");
        }
        assert_eq!(masked.lines().count(), text.lines().count());
    }

    #[tokio::test]
    async fn a_reload_request_waits_for_its_outcome() {
        let control = ConfigControl::new(Some(PathBuf::from("gateway.yaml")));
        let program = control.clone();
        tokio::spawn(async move {
            program.requested().await;
            program.record(
                false,
                "layer 'x': unknown key; the running configuration stays",
            );
        });
        let outcome = control
            .reload(Duration::from_secs(5))
            .await
            .expect("an outcome");
        assert!(!outcome.applied);
        assert!(outcome.message.contains("unknown key"));
        // Without a config file there is nothing to reload.
        assert!(
            ConfigControl::new(None)
                .reload(Duration::from_millis(10))
                .await
                .is_none()
        );
    }
}
