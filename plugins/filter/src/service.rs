//! [`ToolFilter`]: rewrites `tools/list` answers and checks and maps `tools/call` names.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use indexmap::IndexMap;
use serde_json::value::RawValue;
use toolgate::aggregate::Resolve;
use toolgate::jsonrpc::Method;
use toolgate::params::{RawParams, json_text};
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::future::ResponseFuture;
use crate::policy::Policy;

/// The policy, shared by every clone of the layer and its services. Names are mapped to
/// servers with the table each request was routed with ([`McpRequest::routes`]).
pub(crate) struct Shared {
    pub(crate) policy: Arc<Policy>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The answer to a tool that is not there: the same as the aggregate's for an unknown name,
/// so a denied tool cannot be told apart from one that does not exist.
fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("unknown tool: {name}"))
}

/// `exposed` with its trailing `original` replaced by `new` (keeps the server prefix).
fn exposed_with(exposed: &str, original: &str, new: &str) -> String {
    match exposed.strip_suffix(original) {
        Some(prefix) => format!("{prefix}{new}"),
        None => new.to_owned(),
    }
}

/// A list item with `name` replaced, every other member kept raw.
fn with_name(item: &RawValue, name: &str) -> Result<Box<RawValue>, McpError> {
    RawParams::parse(item)?.with_member("name", &json_text(name)?)
}

impl Shared {
    /// The name a renamed tool is listed under, unless that name is taken by another tool (then
    /// the rename is ignored: an existing name always wins).
    fn listed_name(
        &self,
        routes: &dyn Resolve,
        exposed: &str,
        server: &str,
        original: &str,
    ) -> Option<String> {
        let new = self.policy.renamed(server, original)?;
        let candidate = exposed_with(exposed, original, new);
        if candidate == exposed {
            return None;
        }
        if routes.resolve(&Method::ToolsCall, &candidate).is_some() {
            tracing::warn!(server, tool = original, renamed = %candidate, "tool_filter: the new name is taken by another tool; rename ignored");
            return None;
        }
        Some(candidate)
    }

    /// Decides a `tools/call`: forward as is (`Ok(None)`), forward under the upstream-facing
    /// exposed name (`Ok(Some(name))`), or answer "unknown tool".
    fn route_call(&self, req: &McpRequest) -> Result<Option<String>, McpError> {
        let (Some(name), Some(routes)) = (req.target(), req.routes()) else {
            return Ok(None);
        };
        if let Some(res) = req.route() {
            if self
                .listed_name(&*routes, name, &res.server, &res.original)
                .is_some()
            {
                // The old name of a renamed tool is gone.
                return Err(unknown_tool(name));
            }
            if !self.policy.admits(&res.server, &res.original) {
                return Err(unknown_tool(name));
            }
            return Ok(None);
        }
        for (server, new, original) in self.policy.renames() {
            let Some(prefix) = name.strip_suffix(new) else {
                continue;
            };
            let candidate = format!("{prefix}{original}");
            let Some(res) = routes.resolve(&Method::ToolsCall, &candidate) else {
                continue;
            };
            if &*res.server != server || &*res.original != original {
                continue;
            }
            if self
                .listed_name(&*routes, &candidate, server, original)
                .as_deref()
                != Some(name)
            {
                continue;
            }
            if !self.policy.admits(server, original) {
                return Err(unknown_tool(name));
            }
            return Ok(Some(candidate));
        }
        Ok(None)
    }

    /// Drops denied and hidden tools from a `tools/list` result and renames tools; the rest of
    /// the result and of each item stays as the aggregate wrote it.
    pub(crate) fn filter_list(
        &self,
        resp: McpResponse,
        routes: &dyn Resolve,
    ) -> Result<McpResponse, McpError> {
        #[derive(serde::Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let Ok(mut top) = serde_json::from_str::<IndexMap<String, &RawValue>>(resp.result.get())
        else {
            return Ok(resp);
        };
        let Some(Ok(items)) = top
            .get("tools")
            .map(|t| serde_json::from_str::<Vec<&RawValue>>(t.get()))
        else {
            return Ok(resp);
        };
        let mut kept: Vec<Cow<'_, RawValue>> = Vec::with_capacity(items.len());
        let mut changed = false;
        for item in items {
            let Ok(Named { name }) = serde_json::from_str::<Named<'_>>(item.get()) else {
                kept.push(Cow::Borrowed(item));
                continue;
            };
            let Some(res) = routes.resolve(&Method::ToolsCall, &name) else {
                kept.push(Cow::Borrowed(item));
                continue;
            };
            if !self.policy.admits(&res.server, &res.original)
                || self.policy.hidden(&res.server, &res.original)
            {
                changed = true;
                continue;
            }
            match self.listed_name(routes, &name, &res.server, &res.original) {
                Some(new) => {
                    kept.push(Cow::Owned(with_name(item, &new)?));
                    changed = true;
                }
                None => kept.push(Cow::Borrowed(item)),
            }
        }
        if !changed {
            return Ok(resp);
        }
        let tools = serde_json::value::to_raw_value(&kept)
            .map_err(|e| McpError::internal(format!("could not re-encode tools/list: {e}")))?;
        top.insert("tools".to_owned(), &tools);
        let result = serde_json::value::to_raw_value(&top)
            .map_err(|e| McpError::internal(format!("could not re-encode tools/list: {e}")))?;
        Ok(McpResponse::new(result))
    }
}

/// Filters and renames the tools of an inner MCP service (the aggregate).
#[derive(Clone)]
pub struct ToolFilter<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for ToolFilter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolFilter")
            .field("inner", &self.inner)
            .field("policy", &self.shared.policy)
            .finish()
    }
}

impl<S> ToolFilter<S> {
    pub(crate) fn from_parts(inner: S, shared: Arc<Shared>) -> Self {
        ToolFilter { inner, shared }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for ToolFilter<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        if self.shared.policy.is_empty() {
            return ResponseFuture::forwarded(self.inner.call(req));
        }
        match req.method() {
            Method::ToolsList => {
                let routes = req.routes();
                ResponseFuture::listed(self.inner.call(req), self.shared.clone(), routes)
            }
            Method::ToolsCall => match self.shared.route_call(&req) {
                Ok(None) => ResponseFuture::forwarded(self.inner.call(req)),
                Ok(Some(name)) => {
                    // Under the upstream-facing name, routed again: the layers below see it.
                    let mut req = req;
                    match req.retarget(&name) {
                        Ok(()) => ResponseFuture::forwarded(self.inner.call(req)),
                        Err(e) => ResponseFuture::refused(e),
                    }
                }
                Err(e) => ResponseFuture::refused(e),
            },
            _ => ResponseFuture::forwarded(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_keep_their_prefix() {
        assert_eq!(exposed_with("demo__echo", "echo", "say"), "demo__say");
        assert_eq!(exposed_with("echo", "echo", "say"), "say");
    }

    #[test]
    fn renaming_keeps_other_members_raw() {
        let p = RawValue::from_string(r#"{"name":"a","arguments":{"x":  1},"_meta":{}}"#.into())
            .expect("raw");
        let out = with_name(&p, "b").expect("ok");
        assert_eq!(
            out.get(),
            r#"{"name":"b","arguments":{"x":  1},"_meta":{}}"#
        );
    }
}
