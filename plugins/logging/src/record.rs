//! One request's access-log record, and the one event it becomes.

use std::time::Instant;

use serde_json::Value;
use serde_json::value::RawValue;
use toolgate::jsonrpc::Method;
use toolgate::{ErrorKind, McpError, McpRequest, McpResponse};

use crate::redact::Redactor;
use crate::settings::{Level, LoggingSettings};

/// The `tracing` target of access events.
pub const TARGET: &str = "toolgate::access";

/// How many characters of the session id are logged: enough to tell sessions apart, too few
/// to take one over (a Streamable HTTP session id is a bearer capability).
const SESSION_PREFIX: usize = 8;

/// The settings, compiled.
#[derive(Debug)]
pub(crate) struct Config {
    level: Level,
    error_level: Level,
    params: bool,
    max_params_bytes: usize,
    redactor: Redactor,
}

impl Config {
    pub(crate) fn new(s: &LoggingSettings) -> Config {
        Config {
            level: s.level,
            error_level: s.error_level.unwrap_or(s.level),
            params: s.params,
            max_params_bytes: s.max_params_bytes,
            redactor: Redactor::new().with_keys(&s.redact_keys),
        }
    }
}

/// What is known about a request when it starts.
#[derive(Debug)]
pub(crate) struct Record {
    method: String,
    is_tool_call: bool,
    /// The tool or prompt name as called.
    name: Option<String>,
    /// The resource URI.
    uri: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    identity: String,
    session: Option<String>,
    request_id: String,
    params: Option<String>,
    start: Instant,
}

/// How a request ended.
pub(crate) enum Outcome<'a> {
    Answered(&'a McpResponse),
    Failed(&'a McpError),
    /// The caller dropped the request before it finished.
    Dropped,
}

/// Cuts `text` to at most `max` bytes on a character boundary, saying how long it was.
fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &text[..end], text.len())
}

impl Record {
    pub(crate) fn new(req: &McpRequest, config: &Config) -> Record {
        let is_tool_call = *req.method() == Method::ToolsCall;
        let target = req.target().map(|t| config.redactor.text(t).into_owned());
        let by_uri = matches!(
            req.method(),
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe
        );
        let (name, uri) = if by_uri {
            (None, target)
        } else {
            (target, None)
        };
        let (server, tool) = match req.route() {
            Some(r) => (
                Some(r.server.to_string()),
                is_tool_call.then(|| r.original.to_string()),
            ),
            None => (None, None),
        };
        let params = if config.params {
            req.message.params.as_deref().map(|p| {
                let mut v: Value = serde_json::from_str(p.get()).unwrap_or(Value::Null);
                config.redactor.value(&mut v);
                cut(v.to_string(), config.max_params_bytes)
            })
        } else {
            None
        };
        Record {
            method: req.method().to_string(),
            is_tool_call,
            name,
            uri,
            server,
            tool,
            identity: req
                .ctx
                .identity
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), |i| i.subject.clone()),
            session: req
                .ctx
                .session
                .id()
                .map(|s| s.chars().take(SESSION_PREFIX).collect()),
            request_id: req.message.id.to_string(),
            params,
            start: Instant::now(),
        }
    }

    /// Emits the one event for this request.
    pub(crate) fn emit(&self, config: &Config, outcome: Outcome<'_>) {
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let (status, code, error, level) = match outcome {
            Outcome::Answered(resp) => {
                let status = if self.is_tool_call && is_tool_error(&resp.result) {
                    "tool_error"
                } else {
                    "ok"
                };
                (status, None, None, config.level)
            }
            Outcome::Failed(e) if e.kind() == ErrorKind::Cancelled => {
                ("cancelled", None, None, config.level)
            }
            Outcome::Failed(e) => (
                "error",
                Some(e.code()),
                Some(config.redactor.text(e.message()).into_owned()),
                config.error_level,
            ),
            Outcome::Dropped => ("dropped", None, None, config.level),
        };
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    method = %self.method,
                    name = self.name.as_deref(),
                    uri = self.uri.as_deref(),
                    server = self.server.as_deref(),
                    tool = self.tool.as_deref(),
                    identity = %self.identity,
                    session = self.session.as_deref(),
                    request_id = %self.request_id,
                    status,
                    code,
                    error = error.as_deref(),
                    duration_ms,
                    params = self.params.as_deref(),
                    "mcp request"
                )
            };
        }
        match level {
            Level::Trace => event!(tracing::Level::TRACE),
            Level::Debug => event!(tracing::Level::DEBUG),
            Level::Info => event!(tracing::Level::INFO),
            Level::Warn => event!(tracing::Level::WARN),
            Level::Error => event!(tracing::Level::ERROR),
        }
    }
}

/// Whether a `tools/call` result says the tool failed (`isError: true`).
fn is_tool_error(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Flag {
        #[serde(rename = "isError", default)]
        is_error: bool,
    }
    // A cheap look first: most results do not mention it at all.
    result.get().contains("\"isError\"")
        && serde_json::from_str::<Flag>(result.get()).is_ok_and(|f| f.is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_params_are_cut_on_a_character_boundary() {
        assert_eq!(cut("abc".into(), 10), "abc");
        let cut_text = cut("ééé".into(), 3);
        assert_eq!(cut_text, "é…(6 bytes)");
    }

    #[test]
    fn tool_errors_are_recognised() {
        let yes = RawValue::from_string(r#"{"content":[],"isError":true}"#.into()).expect("raw");
        let no = RawValue::from_string(r#"{"content":[],"isError":false}"#.into()).expect("raw");
        let absent = RawValue::from_string(r#"{"content":[]}"#.into()).expect("raw");
        assert!(is_tool_error(&yes));
        assert!(!is_tool_error(&no));
        assert!(!is_tool_error(&absent));
    }
}
