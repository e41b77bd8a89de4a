//! What identifies a cached answer: the kind of request, the upstream, the item, the params
//! without `_meta`, and — for answers kept per caller — who asked.

use std::sync::Arc;

use serde_json::value::RawValue;
use toolgate::McpRequest;
use toolgate::jsonrpc::Method;

use crate::settings::Policy;

/// The kinds of request the cache keeps answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `resources/read`
    Read,
    /// `prompts/get`
    Prompt,
    /// `tools/call`
    Tool,
}

/// One cached answer's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) kind: Kind,
    pub(crate) server: Arc<str>,
    /// The tool or prompt (the server's name) or the resource URI.
    pub(crate) item: Arc<str>,
    /// The params without `_meta`, as JSON text.
    params: Arc<str>,
    /// Who it is kept for; `None`: shared by every caller.
    caller: Option<Arc<str>>,
}

impl Key {
    /// Server, params and caller, for the shared store's key.
    pub(crate) fn rest(&self) -> String {
        format!(
            "{}\0{}\0{}",
            self.server,
            self.params,
            self.caller.as_deref().map_or("\u{1}", |c| c)
        )
    }

    /// The same key for every caller.
    pub(crate) fn shared(&self) -> Key {
        Key {
            caller: None,
            ..self.clone()
        }
    }
}

/// The key of `req` if the cache may answer it (kept per caller: the caller's subject, or
/// `""` without authentication), else `None`.
pub(crate) fn key_of(req: &McpRequest, policy: &Policy) -> Option<Key> {
    let kind = match req.method() {
        Method::ResourcesRead if policy.resources => Kind::Read,
        Method::PromptsGet if policy.prompts => Kind::Prompt,
        Method::ToolsCall => Kind::Tool,
        _ => return None,
    };
    let route = req.route()?;
    if kind == Kind::Tool {
        let listed = policy.tools.iter().any(|t| *t == *route.original);
        let read_only = policy.trust_annotations && route.is_read_only();
        if !listed && !read_only {
            return None;
        }
    }
    let params = without_meta(req.message.params.as_deref())?;
    let caller = req
        .ctx
        .identity
        .as_ref()
        .map_or_else(|| Arc::from(""), |i| Arc::from(i.subject.as_str()));
    Some(Key {
        kind,
        server: route.server.clone(),
        item: route.original.clone(),
        params: params.into(),
        caller: Some(caller),
    })
}

/// The params as canonical JSON text (keys sorted, no spaces) without their `_meta` (a
/// progress token is not part of what is asked); `None` when they are not an object.
fn without_meta(params: Option<&RawValue>) -> Option<String> {
    let Some(params) = params else {
        return Some("{}".to_owned());
    };
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params.get()).ok()?;
    map.remove("_meta");
    serde_json::to_string(&map).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_not_part_of_the_key() {
        let a = RawValue::from_string(
            r#"{"name":"x","arguments":{"q":1},"_meta":{"progressToken":7}}"#.into(),
        )
        .ok();
        let b = RawValue::from_string(r#"{"name":"x","arguments":{"q":1}}"#.into()).ok();
        assert_eq!(without_meta(a.as_deref()), without_meta(b.as_deref()));
        assert_eq!(without_meta(None).as_deref(), Some("{}"));
        // Key order and spacing as a client happens to write them do not matter either.
        let c = RawValue::from_string(r#"{ "arguments": {"q": 1}, "name": "x" }"#.into()).ok();
        assert_eq!(without_meta(c.as_deref()), without_meta(b.as_deref()));
    }
}
