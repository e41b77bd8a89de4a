//! What protocol version 2026-07-28 asks of a request and of its answer, beyond 2025-11-25:
//! every request carries in `params._meta` what `initialize` used to say (SEP-2575) and names
//! the version its `MCP-Protocol-Version` header names; the methods the version removed are
//! answered as removed; every result says `resultType`, and the cacheable ones carry caching
//! hints (SEP-2549). Upstreams are 2025-era connections, so the gateway stamps what their
//! results lack.

use std::borrow::Cow;

use http::StatusCode;
use rmcp::model::{ClientCapabilities, ProtocolVersion};
use serde_json::value::RawValue;

use crate::error::{McpError, code};
use crate::jsonrpc::{JsonRpcRequest, Method};
use crate::params::RawParams;

const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// `subscriptions/listen`: a 2026-07-28 client's stream of change notifications.
pub(crate) const LISTEN: &str = "subscriptions/listen";
const SUBSCRIPTION_KEY: &str = "io.modelcontextprotocol/subscriptionId";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";

/// Why a 2026-07-28 request is refused before it is served: the HTTP status and the error.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) error: McpError,
}

impl Refusal {
    fn new(status: StatusCode, error: McpError) -> Self {
        Refusal { status, error }
    }
}

/// Checks a request sent with `MCP-Protocol-Version: 2026-07-28` and returns the client
/// capabilities its `_meta` declares.
pub(crate) fn check_request(req: &JsonRpcRequest) -> Result<ClientCapabilities, Refusal> {
    let removed = matches!(
        req.method,
        Method::Initialize
            | Method::Ping
            | Method::LoggingSetLevel
            | Method::ResourcesSubscribe
            | Method::ResourcesUnsubscribe
    );
    if removed {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            McpError::method_not_found(req.method.as_str()).with_data(serde_json::json!({
                "reason": "removed in protocol version 2026-07-28",
            })),
        ));
    }
    if let Method::Other(name) = &req.method
        && name != LISTEN
    {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            McpError::method_not_found(name),
        ));
    }
    let invalid = |why: &str| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            McpError::invalid_params(format!(
                "protocol version 2026-07-28: {why} (every request carries params._meta with \
                 \"{VERSION_KEY}\" and \"{CAPABILITIES_KEY}\")"
            )),
        )
    };
    let params = RawParams::parse_opt(req.params.as_deref())
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
    let Some(meta) = params.get("_meta") else {
        return Err(invalid("params._meta is missing"));
    };
    let meta = RawParams::parse(meta).map_err(|_| invalid("params._meta is not an object"))?;
    let version = match meta.get_str(VERSION_KEY) {
        Ok(Some(v)) => v,
        _ => return Err(invalid(&format!("_meta has no \"{VERSION_KEY}\" string"))),
    };
    let Some(capabilities) = meta.get(CAPABILITIES_KEY) else {
        return Err(invalid(&format!("_meta has no \"{CAPABILITIES_KEY}\"")));
    };
    let capabilities: ClientCapabilities = serde_json::from_str(capabilities.get())
        .map_err(|e| invalid(&format!("\"{CAPABILITIES_KEY}\" is not valid: {e}")))?;
    if version != ProtocolVersion::V_2026_07_28.as_str() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            McpError::invalid_request(format!(
                "the MCP-Protocol-Version header says 2026-07-28 but _meta says {version}"
            ))
            .with_code(code::HEADER_MISMATCH),
        ));
    }
    Ok(capabilities)
}

/// What a `subscriptions/listen` stream delivers: the list changes the client asked for
/// (`toolsListChanged`, `promptsListChanged`, `resourcesListChanged`). The gateway makes those
/// itself when a merged list changes. `resourceSubscriptions` is not honored yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ListenFilter {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl ListenFilter {
    /// The filter of a `subscriptions/listen` request, narrowed to what the gateway delivers.
    pub(crate) fn of(req: &JsonRpcRequest) -> ListenFilter {
        let wants = |key: &str| {
            RawParams::parse_opt(req.params.as_deref())
                .ok()
                .and_then(|p| p.get("notifications").map(ToOwned::to_owned))
                .and_then(|n| {
                    RawParams::parse(&n)
                        .ok()
                        .and_then(|n| n.get(key).map(|v| v.get() == "true"))
                })
                .unwrap_or(false)
        };
        ListenFilter {
            tools: wants("toolsListChanged"),
            prompts: wants("promptsListChanged"),
            resources: wants("resourcesListChanged"),
        }
    }

    /// `notifications/subscriptions/acknowledged`, the stream's first message: the
    /// subscription's id and the honored filter.
    pub(crate) fn acknowledgement(&self, subscription: &str) -> crate::outbound::Outbound {
        let mut honored = serde_json::Map::new();
        for (on, key) in [
            (self.tools, "toolsListChanged"),
            (self.prompts, "promptsListChanged"),
            (self.resources, "resourcesListChanged"),
        ] {
            if on {
                honored.insert(key.into(), serde_json::Value::Bool(true));
            }
        }
        let params = serde_json::json!({
            "_meta": {SUBSCRIPTION_KEY: subscription},
            "notifications": honored,
        });
        notification("notifications/subscriptions/acknowledged", &params)
    }

    /// `message` as this stream delivers it — a list change it asked for, tagged with the
    /// subscription's id — or `None`.
    pub(crate) fn deliver(
        &self,
        subscription: &str,
        message: &crate::outbound::Outbound,
    ) -> Option<crate::outbound::Outbound> {
        let method = message.method()?;
        let wanted = match method {
            "notifications/tools/list_changed" => self.tools,
            "notifications/prompts/list_changed" => self.prompts,
            "notifications/resources/list_changed" => self.resources,
            _ => false,
        };
        wanted.then(|| {
            notification(
                method,
                &serde_json::json!({"_meta": {SUBSCRIPTION_KEY: subscription}}),
            )
        })
    }
}

fn notification(method: &str, params: &serde_json::Value) -> crate::outbound::Outbound {
    crate::outbound::Outbound::Notification {
        method: method.into(),
        params: serde_json::value::to_raw_value(params)
            .ok()
            .map(std::sync::Arc::from),
    }
}

/// Whether results of `method` carry caching hints.
fn cacheable(method: &Method) -> bool {
    matches!(
        method,
        Method::ServerDiscover
            | Method::ToolsList
            | Method::PromptsList
            | Method::ResourcesList
            | Method::ResourceTemplatesList
            | Method::ResourcesRead
    )
}

/// The result of `method` as a 2026-07-28 client must see it: `resultType` (`complete` unless
/// it says otherwise) and, on cacheable results, `ttlMs`/`cacheScope` — `0`/`private` (do not
/// reuse) unless the upstream said more — added where missing; anything present is kept.
pub(crate) fn stamp_result<'a>(method: &Method, result: &'a RawValue) -> Cow<'a, RawValue> {
    let Ok(members) = RawParams::parse(result) else {
        return Cow::Borrowed(result);
    };
    let mut missing: Vec<(&str, &str)> = Vec::new();
    let interim = match members.get("resultType") {
        None => {
            missing.push(("resultType", "\"complete\""));
            false
        }
        Some(kind) => kind.get() != "\"complete\"",
    };
    // An interim result (`input_required`) is not cacheable and carries no hints.
    if cacheable(method) && !interim {
        if members.get("ttlMs").is_none() {
            missing.push(("ttlMs", "0"));
        }
        if members.get("cacheScope").is_none() {
            missing.push(("cacheScope", "\"private\""));
        }
    }
    if missing.is_empty() {
        return Cow::Borrowed(result);
    }
    let mut text: Box<RawValue> = result.to_owned();
    for (key, value) in missing {
        match RawParams::parse(&text).and_then(|p| p.with_member(key, value)) {
            Ok(next) => text = next,
            Err(_) => return Cow::Borrowed(result),
        }
    }
    Cow::Owned(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, params: &str) -> JsonRpcRequest {
        let text = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        match crate::jsonrpc::Message::parse(text.as_bytes()) {
            Ok(crate::jsonrpc::Message::Request(r)) => r,
            _ => panic!("not a request: {text}"),
        }
    }

    const META: &str = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}}"#;

    #[test]
    fn a_request_with_its_meta_passes_and_says_what_the_client_can_do() {
        let caps = check_request(&request("tools/list", META)).expect("valid");
        assert!(caps.sampling.is_some());
    }

    #[test]
    fn requests_without_meta_or_with_another_version_are_refused_with_the_spec_codes() {
        let missing = check_request(&request("tools/list", "{}")).expect_err("no _meta");
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing.error.code(), code::INVALID_PARAMS);
        let no_caps = check_request(&request(
            "tools/list",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#,
        ))
        .expect_err("no capabilities");
        assert_eq!(no_caps.error.code(), code::INVALID_PARAMS);
        let other = check_request(&request(
            "tools/list",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        ))
        .expect_err("mismatch");
        assert_eq!(other.error.code(), code::HEADER_MISMATCH);
    }

    #[test]
    fn removed_and_unknown_methods_are_404() {
        for method in [
            "initialize",
            "ping",
            "logging/setLevel",
            "resources/subscribe",
            "nope/nope",
        ] {
            let r = check_request(&request(method, META)).expect_err(method);
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
            assert_eq!(r.error.code(), code::METHOD_NOT_FOUND, "{method}");
        }
    }

    #[test]
    fn results_get_result_type_and_cacheable_ones_hints_keeping_what_is_there() {
        let raw = RawValue::from_string(r#"{"tools":[],"ttlMs":5000}"#.into()).expect("raw");
        let stamped = stamp_result(&Method::ToolsList, &raw);
        let v: serde_json::Value = serde_json::from_str(stamped.get()).expect("json");
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["ttlMs"], 5000, "the upstream's hint is kept");
        assert_eq!(v["cacheScope"], "private");
        let call = RawValue::from_string(r#"{"content":[]}"#.into()).expect("raw");
        let v: serde_json::Value =
            serde_json::from_str(stamp_result(&Method::ToolsCall, &call).get()).expect("json");
        assert_eq!(v["resultType"], "complete");
        assert!(v.get("ttlMs").is_none(), "tools/call is not cacheable");
        let done = RawValue::from_string(r#"{"resultType":"input_required"}"#.into()).expect("raw");
        assert!(matches!(
            stamp_result(&Method::ToolsCall, &done),
            Cow::Borrowed(_)
        ));
    }
}
