//! JSON-RPC 2.0 framing, kept raw.
//!
//! A message is parsed once, shallowly: `jsonrpc`, `id` and `method` are read, `params`,
//! `result` and `error` stay [`RawValue`]s so a call crosses the gateway without being rebuilt.
//! Duplicate top-level keys are an error (a second `"method"` must not slip past inspection), and
//! keys are case-sensitive. Frames are written by concatenation: one allocation, no `Value` tree.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::McpError;

pub use rmcp::model::RequestId;

/// An MCP method name: the ones the gateway routes on, and everything else verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `initialize`
    Initialize,
    /// `ping`
    Ping,
    /// `server/discover` (2026-07-28)
    ServerDiscover,
    /// `tools/list`
    ToolsList,
    /// `tools/call`
    ToolsCall,
    /// `prompts/list`
    PromptsList,
    /// `prompts/get`
    PromptsGet,
    /// `resources/list`
    ResourcesList,
    /// `resources/templates/list`
    ResourceTemplatesList,
    /// `resources/read`
    ResourcesRead,
    /// `resources/subscribe`
    ResourcesSubscribe,
    /// `resources/unsubscribe`
    ResourcesUnsubscribe,
    /// `completion/complete`
    CompletionComplete,
    /// `logging/setLevel`
    LoggingSetLevel,
    /// Any other method, as sent.
    Other(String),
}

impl Method {
    /// Parses a method name.
    pub fn parse(name: &str) -> Method {
        match name {
            "initialize" => Method::Initialize,
            "ping" => Method::Ping,
            "server/discover" => Method::ServerDiscover,
            "tools/list" => Method::ToolsList,
            "tools/call" => Method::ToolsCall,
            "prompts/list" => Method::PromptsList,
            "prompts/get" => Method::PromptsGet,
            "resources/list" => Method::ResourcesList,
            "resources/templates/list" => Method::ResourceTemplatesList,
            "resources/read" => Method::ResourcesRead,
            "resources/subscribe" => Method::ResourcesSubscribe,
            "resources/unsubscribe" => Method::ResourcesUnsubscribe,
            "completion/complete" => Method::CompletionComplete,
            "logging/setLevel" => Method::LoggingSetLevel,
            other => Method::Other(other.to_owned()),
        }
    }

    /// Whether the method only reads: sending it twice does no more than sending it once
    /// (lists, reads, `prompts/get`, completion, `ping`). `tools/call` is not, whatever the
    /// tool: see [`Route::is_repeatable`](crate::route::Route::is_repeatable).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Method::Ping
                | Method::ServerDiscover
                | Method::ToolsList
                | Method::PromptsList
                | Method::PromptsGet
                | Method::ResourcesList
                | Method::ResourceTemplatesList
                | Method::ResourcesRead
                | Method::CompletionComplete
        )
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Initialize => "initialize",
            Method::Ping => "ping",
            Method::ServerDiscover => "server/discover",
            Method::ToolsList => "tools/list",
            Method::ToolsCall => "tools/call",
            Method::PromptsList => "prompts/list",
            Method::PromptsGet => "prompts/get",
            Method::ResourcesList => "resources/list",
            Method::ResourceTemplatesList => "resources/templates/list",
            Method::ResourcesRead => "resources/read",
            Method::ResourcesSubscribe => "resources/subscribe",
            Method::ResourcesUnsubscribe => "resources/unsubscribe",
            Method::CompletionComplete => "completion/complete",
            Method::LoggingSetLevel => "logging/setLevel",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One client request, kept as it arrived.
#[derive(Debug, Clone)]
pub struct JsonRpcRequest {
    /// The id the client chose; restored on the answer.
    pub id: RequestId,
    /// The method.
    pub method: Method,
    /// The params, raw.
    pub params: Option<Box<RawValue>>,
}

impl JsonRpcRequest {
    /// A request with raw params.
    pub fn new(id: RequestId, method: Method, params: Option<Box<RawValue>>) -> Self {
        JsonRpcRequest { id, method, params }
    }

    /// A typed view of the params (rmcp model types or any `Deserialize`); absent params parse
    /// as `{}`. Errors are -32602 naming the method.
    pub fn params_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, McpError> {
        let text = self.params.as_deref().map_or("{}", RawValue::get);
        serde_json::from_str(text).map_err(|e| {
            McpError::invalid_params(format!("invalid params for {}: {e}", self.method))
        })
    }
}

/// One inbound message, classified.
#[derive(Debug)]
pub enum Message {
    /// A request: has `method` and `id`.
    Request(JsonRpcRequest),
    /// A notification: `method`, no `id`.
    Notification {
        /// The method.
        method: Method,
        /// The params, raw.
        params: Option<Box<RawValue>>,
    },
    /// A response to a request the receiver sent: `id` and `result` or `error`.
    Response {
        /// The id of the answered request.
        id: RequestId,
        /// `Ok(result)` or `Err(error object)`, raw.
        outcome: Result<Box<RawValue>, Box<RawValue>>,
    },
}

/// Deepest nesting of arrays and objects accepted in `params` (the params object is level 1).
/// Deeper structures are refused at the edge rather than forwarded: parsers upstream (and
/// this gateway's own, for argument validation) recurse per level.
pub const MAX_PARAMS_DEPTH: usize = 100;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    /// `Some` whenever the member is present, even as `null` (which is not a notification).
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Whether `json` (valid JSON text) nests arrays and objects deeper than `max` levels.
fn nests_deeper_than(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// What went wrong parsing an inbound message, with the id when it could be read.
#[derive(Debug)]
pub struct ParseFailure {
    /// The request id, if the message had a readable one (errors echo it).
    pub id: Option<RequestId>,
    /// The error to send back.
    pub error: McpError,
}

impl Message {
    /// Parses one JSON-RPC message. Batches (JSON arrays) are refused with -32600.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseFailure> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return Err(ParseFailure {
                id: None,
                error: McpError::invalid_request(
                    "JSON-RPC batches are not supported (removed in MCP 2025-06-18): send one message per request",
                ),
            });
        }
        let wire: Wire<'_> = match serde_json::from_slice(bytes) {
            Ok(w) => w,
            Err(e) if e.is_syntax() || e.is_eof() => {
                return Err(ParseFailure {
                    id: None,
                    error: McpError::parse(format!("parse error: {e}")),
                });
            }
            Err(e) => {
                return Err(ParseFailure {
                    id: None,
                    error: McpError::invalid_request(format!("invalid JSON-RPC message: {e}")),
                });
            }
        };
        let id = match wire.id {
            Some(raw) if raw.get() == "null" => {
                return Err(ParseFailure {
                    id: None,
                    error: McpError::invalid_request(
                        "`id` must be a string or an integer, not null (a notification has no `id` member at all)",
                    ),
                });
            }
            Some(raw) => {
                Some(
                    serde_json::from_str::<RequestId>(raw.get()).map_err(|_| ParseFailure {
                        id: None,
                        error: McpError::invalid_request("`id` must be a string or an integer"),
                    })?,
                )
            }
            None => None,
        };
        let fail = |id: Option<RequestId>, msg: &'static str| ParseFailure {
            id,
            error: McpError::invalid_request(msg),
        };
        if wire.jsonrpc.as_deref() != Some("2.0") {
            return Err(fail(id, "`jsonrpc` must be \"2.0\""));
        }
        if let Some(p) = wire.params {
            if !p.get().starts_with('{') {
                return Err(fail(id, "`params` must be an object"));
            }
            if nests_deeper_than(p.get().as_bytes(), MAX_PARAMS_DEPTH) {
                return Err(ParseFailure {
                    id,
                    error: McpError::invalid_request(format!(
                        "`params` nests arrays and objects deeper than {MAX_PARAMS_DEPTH} levels; flatten the arguments"
                    )),
                });
            }
        }
        match (wire.method, id) {
            (Some(method), Some(id)) => Ok(Message::Request(JsonRpcRequest {
                id,
                method: Method::parse(&method),
                params: wire.params.map(RawValue::to_owned),
            })),
            (Some(method), None) => Ok(Message::Notification {
                method: Method::parse(&method),
                params: wire.params.map(RawValue::to_owned),
            }),
            (None, Some(id)) => match (wire.result, wire.error) {
                (Some(r), None) => Ok(Message::Response {
                    id,
                    outcome: Ok(r.to_owned()),
                }),
                (None, Some(e)) => Ok(Message::Response {
                    id,
                    outcome: Err(e.to_owned()),
                }),
                _ => Err(ParseFailure {
                    id: Some(id),
                    error: McpError::invalid_request(
                        "a response must carry exactly one of `result` and `error`",
                    ),
                }),
            },
            (None, None) => Err(fail(None, "a message needs a `method` or an `id`")),
        }
    }
}

fn push_id(out: &mut Vec<u8>, id: &RequestId) {
    match id {
        RequestId::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        RequestId::String(s) => {
            // serde_json escapes; a string id is rare enough to take the slow path.
            if serde_json::to_writer(&mut *out, s.as_ref()).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
}

/// `{"jsonrpc":"2.0","id":ID,"result":RESULT}`
pub fn response_frame(id: &RequestId, result: &RawValue) -> Bytes {
    let mut out = Vec::with_capacity(40 + result.get().len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    push_id(&mut out, id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(result.get().as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// `{"jsonrpc":"2.0","id":ID|null,"error":{...}}`
pub fn error_frame(id: Option<&RequestId>, error: &McpError) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    match id {
        Some(id) => push_id(&mut out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","error":"#);
    if serde_json::to_writer(&mut out, &error.to_error_object()).is_err() {
        out.extend_from_slice(br#"{"code":-32603,"message":"internal error"}"#);
    }
    out.push(b'}');
    Bytes::from(out)
}

/// `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}` with a numeric id (upstream side).
pub fn request_frame(id: i64, method: &str, params: Option<&RawValue>) -> Bytes {
    request_frame_with_id(&RequestId::Number(id), method, params)
}

/// `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}` with any id (a request to a client).
pub fn request_frame_with_id(id: &RequestId, method: &str, params: Option<&RawValue>) -> Bytes {
    let plen = params.map_or(0, |p| p.get().len());
    let mut out = Vec::with_capacity(64 + method.len() + plen);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    push_id(&mut out, id);
    out.extend_from_slice(br#","method":"#);
    push_str(&mut out, method);
    if let Some(p) = params {
        out.extend_from_slice(br#","params":"#);
        out.extend_from_slice(p.get().as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
}

/// `{"jsonrpc":"2.0","method":M,"params":P}`
pub fn notification_frame(method: &str, params: Option<&RawValue>) -> Bytes {
    let plen = params.map_or(0, |p| p.get().len());
    let mut out = Vec::with_capacity(48 + method.len() + plen);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    push_str(&mut out, method);
    if let Some(p) = params {
        out.extend_from_slice(br#","params":"#);
        out.extend_from_slice(p.get().as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
}

/// A response frame answering a request the peer sent us (server→client), with a raw id.
pub fn raw_response_frame(id: &RawValue, result: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
        id.get()
    ))
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// Serializes a value into a [`RawValue`]; serialization of model types cannot fail in practice,
/// but if it does the caller gets -32603 rather than a panic.
pub fn to_raw<T: serde::Serialize>(value: &T) -> Result<Box<RawValue>, McpError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| McpError::internal(format!("could not serialize a result: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keeps_params_raw() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","arguments":{"x": 1}}}"#).expect("parses");
        match m {
            Message::Request(r) => {
                assert_eq!(r.id, RequestId::Number(7));
                assert_eq!(r.method, Method::ToolsCall);
                assert_eq!(
                    r.params.as_deref().map(RawValue::get),
                    Some(r#"{"name":"a","arguments":{"x": 1}}"#)
                );
            }
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_parse_error() {
        let e = Message::parse(b"{not json").expect_err("must fail");
        assert_eq!(e.error.code(), -32700);
    }

    #[test]
    fn duplicate_method_key_is_rejected() {
        let e =
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#)
                .expect_err("duplicate key");
        assert_eq!(e.error.code(), -32600);
    }

    #[test]
    fn keys_are_case_sensitive() {
        let e = Message::parse(br#"{"jsonrpc":"2.0","id":1,"Method":"tools/call"}"#)
            .expect_err("no method");
        assert_eq!(e.error.code(), -32600);
    }

    #[test]
    fn batches_are_refused() {
        let e =
            Message::parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).expect_err("batch");
        assert_eq!(e.error.code(), -32600);
    }

    #[test]
    fn wrong_version_is_invalid_request_with_id() {
        let e = Message::parse(br#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#).expect_err("v1");
        assert_eq!(e.error.code(), -32600);
        assert_eq!(e.id, Some(RequestId::String("a".into())));
    }

    #[test]
    fn null_id_is_not_a_notification() {
        let e = Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#)
            .expect_err("null id");
        assert_eq!(e.error.code(), -32600);
        assert!(e.id.is_none());
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
    }

    #[test]
    fn deep_params_are_refused_shallow_ones_kept() {
        let deep = |levels: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"v":{}{}}}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        let e = Message::parse(deep(100_000).as_bytes()).expect_err("deep");
        assert_eq!(e.error.code(), -32600);
        assert_eq!(e.id, Some(RequestId::Number(1)));
        assert!(
            e.error.message().contains("deeper than"),
            "{}",
            e.error.message()
        );
        assert!(Message::parse(deep(MAX_PARAMS_DEPTH).as_bytes()).is_err());
        assert!(Message::parse(deep(MAX_PARAMS_DEPTH - 2).as_bytes()).is_ok());
        // Brackets inside strings do not count.
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"s":"{}\"{}"}}}}"#,
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(Message::parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn params_must_be_an_object() {
        let e = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#)
            .expect_err("array params");
        assert_eq!(e.error.code(), -32600);
    }

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let e = Message::parse(b"\xff\xfe").expect_err("not UTF-8");
        assert_eq!(e.error.code(), -32700);
        let e = Message::parse(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}")
            .expect_err("not UTF-8 in a string");
        assert_eq!(e.error.code(), -32700);
    }

    #[test]
    fn frames_round_trip() {
        let raw = RawValue::from_string("{\"ok\":true}".into()).expect("raw");
        let f = response_frame(&RequestId::String("x\"y".into()), &raw);
        let v: serde_json::Value = serde_json::from_slice(&f).expect("json");
        assert_eq!(v["id"], "x\"y");
        assert_eq!(v["result"]["ok"], true);
        let f = request_frame(3, "tools/call", Some(&raw));
        let v: serde_json::Value = serde_json::from_slice(&f).expect("json");
        assert_eq!(v["method"], "tools/call");
        let f = error_frame(None, &McpError::parse("bad"));
        let v: serde_json::Value = serde_json::from_slice(&f).expect("json");
        assert_eq!(v["error"]["code"], -32700);
        assert!(v["id"].is_null());
    }
}
