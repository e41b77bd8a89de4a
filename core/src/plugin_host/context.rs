//! The JSON a plugin's hooks receive: the request (method, raw params) with its context, and
//! the response and notification inputs built around it by concatenation.
//!
//! The shape is the SDK's `Request` (`{"method", "params", "context": {...}}`); params and
//! results are copied raw, never parsed into a tree here.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::envelope::McpRequest;
use crate::session::TransportKind;

#[derive(Serialize)]
struct RequestOut<'a> {
    method: &'a str,
    params: Option<&'a RawValue>,
    context: ContextOut<'a>,
}

#[derive(Serialize)]
struct ContextOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<ClientOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<IdentityOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ClientOut<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct IdentityOut<'a> {
    subject: &'a str,
    attributes: &'a [(String, String)],
}

fn transport_name(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Stdio => "stdio",
        TransportKind::StreamableHttp => "streamable_http",
        TransportKind::Sse => "sse",
    }
}

/// The request as the SDK's `Request`, with where the gateway routed it (server, original
/// name) and, when `with_tool` is set, the called tool's definition as listed.
pub(crate) fn request_json(req: &McpRequest, with_tool: bool) -> Bytes {
    let session = &req.ctx.session;
    let target = req.target();
    let route = req.route();
    let tool = match route {
        Some(r) if with_tool && *req.method() == crate::jsonrpc::Method::ToolsCall => {
            r.definition()
        }
        _ => None,
    };
    let (server, original_name) = match route {
        Some(r) => (Some(&*r.server), Some(&*r.original)),
        None => (None, None),
    };
    let out = RequestOut {
        method: req.method().as_str(),
        params: req.message.params.as_deref(),
        context: ContextOut {
            session_id: session.id(),
            transport: transport_name(session.transport()),
            protocol_version: session.protocol_version().map(ToString::to_string),
            client: session.client_info().map(|c| ClientOut {
                name: &c.name,
                version: &c.version,
            }),
            identity: req.ctx.identity.as_ref().map(|i| IdentityOut {
                subject: &i.subject,
                attributes: &i.attributes,
            }),
            target,
            server,
            original_name,
            tool,
        },
    };
    // Borrowed strings and raw values: serialization cannot fail.
    Bytes::from(serde_json::to_vec(&out).unwrap_or_else(|_| b"{\"method\":\"\"}".to_vec()))
}

/// `{"request": REQUEST, "result": RESULT}` for `on_response`.
pub(crate) fn response_json(request: &[u8], result: &RawValue) -> Vec<u8> {
    wrap(request, b"result", result.get().as_bytes())
}

/// `{"request": REQUEST, "notification": FRAME}` for `on_notification`.
pub(crate) fn notification_json(request: &[u8], frame: &[u8]) -> Vec<u8> {
    wrap(request, b"notification", frame)
}

fn wrap(request: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len() + value.len() + 32);
    out.extend_from_slice(br#"{"request":"#);
    out.extend_from_slice(request);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
    out.push(b'}');
    out
}
