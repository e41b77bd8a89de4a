//! Serving one request: lists from the merged catalog, routed requests to the stack of the
//! upstream that owns the name, with only the routing member of the params rewritten.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::value::RawValue;

use tower::ServiceExt;

use super::Aggregate;
use super::catalog::{self, Catalog};
use crate::arguments;
use crate::envelope::{McpRequest, McpResponse};
use crate::error::McpError;
use crate::jsonrpc::Method;
use crate::params::{RawParams, json_text};
use crate::upstream::UpstreamStatus;

impl Aggregate {
    /// Serves one request: a list from the catalog, or a routed request through its
    /// upstream's stack. The route is the one [`Routing`](super::Routing) decided in front of
    /// the policies; a request that was not routed (an `Aggregate` used on its own) is routed
    /// here.
    async fn handle(self, mut req: McpRequest) -> Result<McpResponse, McpError> {
        let catalog = self.catalog();
        let page_size = self.inner.page_size;
        let what = match req.method() {
            Method::ToolsList => return list_page(&catalog.tools, "tools", &req, page_size),
            Method::PromptsList => return list_page(&catalog.prompts, "prompts", &req, page_size),
            Method::ResourcesList => {
                return list_page(&catalog.resources, "resources", &req, page_size);
            }
            Method::ResourceTemplatesList => {
                return list_page(&catalog.templates, "resourceTemplates", &req, page_size);
            }
            Method::CompletionComplete => return self.complete(&catalog, req).await,
            // The level is the session's own: upstreams are shared, so each client's log
            // messages are filtered on their way to it (`Downstream::notify`).
            Method::LoggingSetLevel => {
                let params = RawParams::parse_opt(req.message.params.as_deref())?;
                let level = params.get_str("level").ok().flatten();
                return match level {
                    Some(level) if req.ctx.session.set_log_level(&level) => {
                        McpResponse::from_typed(&serde_json::json!({}))
                    }
                    _ => Err(McpError::invalid_params(format!(
                        "logging/setLevel needs params.level, one of {}",
                        crate::session::LOG_LEVELS.join(", ")
                    ))),
                };
            }
            Method::Ping => {
                return McpResponse::from_typed(&serde_json::json!({}));
            }
            Method::ToolsCall => "tool",
            Method::PromptsGet => "prompt",
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
                "resource"
            }
            other => return Err(McpError::method_not_found(other.as_str())),
        };
        let Some(target) = req.target().map(str::to_owned) else {
            let member = if what == "resource" { "uri" } else { "name" };
            return Err(McpError::invalid_params(format!(
                "{} needs params.{member}",
                req.method()
            )));
        };
        let leaf = match req.route().and_then(|r| r.leaf.clone()) {
            Some(leaf) => Some(leaf),
            None => self.resolve(req.method(), &target).and_then(|r| r.leaf),
        };
        let Some(leaf) = leaf else {
            return Err(if what == "resource" {
                let e = McpError::new(
                    crate::ErrorKind::ResourceNotFound,
                    format!("resource not found: {target}"),
                )
                .with_data(serde_json::json!({"uri": target}));
                // 2026-07-28 (SEP-2164): an unknown resource is invalid params.
                if req.ctx.session.protocol_version()
                    == Some(&rmcp::model::ProtocolVersion::V_2026_07_28)
                {
                    e.with_code(crate::error::code::INVALID_PARAMS)
                } else {
                    e
                }
            } else {
                self.unknown(what, &target)
            });
        };
        if let Some(check) = &leaf.arguments
            && let Err(refusal) = check.check(req.message.params.as_deref())
        {
            return match refusal.answer(&target, req.ctx.session.protocol_version()) {
                arguments::Answer::Error(e) => Err(e),
                arguments::Answer::ToolError(text) => tool_error(&text),
            };
        }
        match req.method() {
            Method::ResourcesSubscribe => {
                return self.subscribe_resource(leaf.upstream, target, req).await;
            }
            Method::ResourcesUnsubscribe => {
                return self.unsubscribe_resource(leaf.upstream, target, req).await;
            }
            _ => {}
        }
        if what != "resource" {
            let original = match req.route() {
                Some(r) => r.original.clone(),
                None => return Err(McpError::internal("a routed request lost its route")),
            };
            let renamed = rename(req.message.params.as_deref(), &original)?;
            req.replace_params(Some(renamed));
        }
        self.forward(leaf.upstream, req).await
    }

    /// The error for a name with no route: -32602, unless the name carries the prefix of an
    /// upstream that is down right now, or back up but not listed again yet (a restart) —
    /// then the caller learns that instead (-31000, retryable).
    fn unknown(&self, what: &str, name: &str) -> McpError {
        let unprefixed = self
            .inner
            .members
            .iter()
            .filter(|m| m.prefix.is_empty())
            .count();
        for (idx, m) in self.inner.members.iter().enumerate() {
            let prefix = m.upstream.name();
            let owned = match &self.inner.separator {
                Some(sep) if !m.prefix.is_empty() => name
                    .strip_prefix(&*m.prefix)
                    .is_some_and(|rest| rest.starts_with(sep.as_str())),
                // Names as they are: the one upstream that exposes them so owns them.
                Some(_) => unprefixed == 1,
                None => self.inner.members.len() == 1,
            };
            if !owned {
                continue;
            }
            let status = m.upstream.status();
            let listed = || {
                self.inner
                    .lists
                    .lock()
                    .get(idx)
                    .is_some_and(Option::is_some)
            };
            if !status.is_ready() || !listed() {
                let why = match status {
                    UpstreamStatus::Down { reason } => format!("is down: {reason}"),
                    UpstreamStatus::Ready(_) => {
                        "is (re)starting: its lists are being fetched".to_string()
                    }
                    UpstreamStatus::Starting => "is still starting".to_string(),
                };
                return McpError::upstream_unavailable(
                    prefix,
                    format!("{what} {name}: upstream '{prefix}' {why}"),
                );
            }
        }
        McpError::invalid_params(format!("unknown {what}: {name}"))
    }

    /// Hands `req` (params already in the upstream's names) to member `idx`'s stack.
    pub(super) async fn forward(
        &self,
        idx: usize,
        req: McpRequest,
    ) -> Result<McpResponse, McpError> {
        let stack = self
            .stack(idx)
            .ok_or_else(|| McpError::internal("route points at no upstream"))?;
        stack.oneshot(req).await
    }

    /// `completion/complete`: routed by the prompt or resource it refers to (`params.ref`).
    async fn complete(
        &self,
        catalog: &Catalog,
        mut req: McpRequest,
    ) -> Result<McpResponse, McpError> {
        let (idx, renamed) = {
            let params = RawParams::parse_opt(req.message.params.as_deref())?;
            let reference = match params.get("ref") {
                Some(r) if r.get().starts_with('{') => RawParams::parse(r)?,
                _ => {
                    return Err(McpError::invalid_params(
                        "completion/complete needs params.ref",
                    ));
                }
            };
            match reference.get_str("type")?.as_deref() {
                Some("ref/prompt") => {
                    let name = reference.get_str("name")?.unwrap_or_default();
                    let route = catalog.prompt_routes.get(name.as_ref()).ok_or_else(|| {
                        McpError::invalid_params(format!("unknown prompt: {name}"))
                    })?;
                    let raw =
                        params.with_member_in("ref", "name", &json_text(&*route.original)?)?;
                    (route.upstream, Some(raw))
                }
                Some("ref/resource") => {
                    let uri = reference.get_str("uri")?.unwrap_or_default();
                    let idx = catalog.resource_upstream(&uri).ok_or_else(|| {
                        McpError::invalid_params(format!("unknown resource: {uri}"))
                    })?;
                    (idx, None)
                }
                _ => {
                    return Err(McpError::invalid_params(
                        "params.ref.type must be ref/prompt or ref/resource",
                    ));
                }
            }
        };
        if renamed.is_some() {
            req.replace_params(renamed);
        }
        self.forward(idx, req).await
    }
}

/// A tool result that reports a failure to the model (`isError: true`).
fn tool_error(text: &str) -> Result<McpResponse, McpError> {
    McpResponse::from_typed(&serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
    }))
}

fn list_page(
    list: &catalog::MergedList,
    key: &str,
    req: &McpRequest,
    page_size: usize,
) -> Result<McpResponse, McpError> {
    #[derive(serde::Deserialize)]
    struct Cursor {
        cursor: Option<String>,
    }
    let offset = match req.message.params.as_deref() {
        Some(p) => match serde_json::from_str::<Cursor>(p.get()) {
            Ok(Cursor { cursor: Some(c) }) => c
                .parse::<usize>()
                .ok()
                .filter(|o| *o <= list.items.len())
                .ok_or_else(|| McpError::invalid_params(format!("invalid cursor: {c}")))?,
            Ok(_) => 0,
            Err(e) => return Err(McpError::invalid_params(format!("invalid params: {e}"))),
        },
        None => 0,
    };
    let body = list.page(key, offset, page_size);
    let raw = RawValue::from_string(body)
        .map_err(|e| McpError::internal(format!("could not build the list: {e}")))?;
    Ok(McpResponse::new(raw))
}

/// Replaces `params.name` with `value` (one splice of the raw text: every other byte is copied
/// as it came — no map, no re-encoding).
pub(crate) fn rename(params: Option<&RawValue>, value: &str) -> Result<Box<RawValue>, McpError> {
    let params = RawParams::parse_opt(params)?;
    if params.get("name").is_none() {
        return Err(McpError::invalid_params(
            "invalid params: missing field `name`",
        ));
    }
    params.with_member("name", &json_text(value)?)
}

impl tower::Service<McpRequest> for Aggregate {
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        Box::pin(self.clone().handle(req))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn rename_keeps_other_members_raw() {
        let p = RawValue::from_string(
            r#"{"name":"demo__echo","arguments":{"message":"hi  there"}}"#.into(),
        )
        .expect("raw");
        let out = rename(Some(&p), "echo").expect("ok");
        assert_eq!(
            out.get(),
            r#"{"name":"echo","arguments":{"message":"hi  there"}}"#,
            "only the name changes, byte for byte"
        );
        // Escapes in the old and the new name, whitespace around the member.
        let p = RawValue::from_string(r#"{ "arguments" : {}, "name" : "a\u005f_b" }"#.into())
            .expect("raw");
        let out = rename(Some(&p), "we\"ird").expect("ok");
        let v: Value = serde_json::from_str(out.get()).expect("json");
        assert_eq!(v["name"], "we\"ird");
        // A second `name` member is an error, not a chance to smuggle another tool through.
        let p = RawValue::from_string(r#"{"name":"a","name":"b"}"#.into()).expect("raw");
        assert!(rename(Some(&p), "x").is_err());
    }
}
