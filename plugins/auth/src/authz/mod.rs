//! Authorization on the MCP plane: [`Authorize`] lets each caller see and use only the servers,
//! tools, prompts and resources its [`AccessPolicy`] allows.
//!
//! - `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`: denied items
//!   are removed from the answer.
//! - `tools/call`, `prompts/get`: a denied name is answered exactly like an unknown one
//!   (-32602 `unknown tool: NAME` / `unknown prompt: NAME`), so a caller cannot tell a hidden
//!   tool from a missing one.
//! - `resources/read`, `resources/subscribe`, `resources/unsubscribe`: a denied URI gets the
//!   aggregate's not-found answer (-32002 `resource not found: URI`).
//! - `completion/complete`: a denied prompt or resource reference gets the aggregate's
//!   -32602 `unknown prompt` / `unknown resource`.
//!
//! Which server an item belongs to comes from the gateway's routing: the request's route
//! ([`McpRequest::route`]) for calls, and the table it was routed with
//! ([`McpRequest::routes`]) for list items and completion references — so decisions follow
//! the same routing table calls do.

mod future;
mod layer;
mod policy;

use std::sync::Arc;
use std::task::{Context, Poll};

use indexmap::IndexMap;
use serde_json::value::RawValue;
use toolgate::aggregate::Resolve;
use toolgate::jsonrpc::Method;
use toolgate::{ErrorKind, Identity, McpError, McpRequest, McpResponse};
use tower::Service;

pub use future::ResponseFuture;
pub use layer::AuthorizeLayer;
pub use policy::{AccessPolicy, Item, ItemKind, Matcher, Rule, Rules};

/// Enforces an [`AccessPolicy`]; see the [module docs](self).
pub struct Authorize<S> {
    inner: S,
    decide: Decide,
}

impl<S: Clone> Clone for Authorize<S> {
    fn clone(&self) -> Self {
        Authorize {
            inner: self.inner.clone(),
            decide: self.decide.clone(),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Authorize<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorize")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The policy, shared by every clone of the service.
#[derive(Clone)]
pub(crate) struct Decide {
    policy: Arc<dyn AccessPolicy>,
}

impl<S> Authorize<S> {
    /// Wraps `inner`, enforcing `policy`.
    pub fn new(inner: S, policy: impl AccessPolicy) -> Self {
        Authorize {
            inner,
            decide: Decide {
                policy: Arc::new(policy),
            },
        }
    }
    pub(crate) fn from_decide(inner: S, decide: Decide) -> Self {
        Authorize { inner, decide }
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

impl Decide {
    /// Whether `caller` may use the item `name` of `kind` on `server`.
    fn allows(
        &self,
        caller: Option<&Identity>,
        kind: ItemKind,
        server: Option<&str>,
        name: &str,
    ) -> bool {
        self.policy.allows(caller, &Item { kind, name, server })
    }

    /// Like [`Decide::allows`], with the server looked up in `routes` for `method`.
    fn allows_listed(
        &self,
        caller: Option<&Identity>,
        kind: ItemKind,
        routes: Option<&dyn Resolve>,
        method: &Method,
        name: &str,
    ) -> bool {
        let lookup = match kind {
            // A template is routed by its literal prefix, as reads of its URIs are.
            ItemKind::Resource => name.split('{').next().unwrap_or(name),
            _ => name,
        };
        let server = match routes {
            Some(r) if !lookup.is_empty() => r.resolve(method, lookup).map(|r| r.server),
            _ => None,
        };
        self.allows(caller, kind, server.as_deref(), name)
    }

    /// The error a denied request gets, or `None` if it may proceed.
    fn check(&self, req: &McpRequest) -> Option<McpError> {
        let caller = req.ctx.identity.as_ref();
        let method = req.method();
        let server = req.route().map(|r| &*r.server);
        match method {
            Method::ToolsCall | Method::PromptsGet => {
                let name = req.target()?;
                let (kind, what) = if *method == Method::ToolsCall {
                    (ItemKind::Tool, "tool")
                } else {
                    (ItemKind::Prompt, "prompt")
                };
                (!self.allows(caller, kind, server, name))
                    .then(|| McpError::invalid_params(format!("unknown {what}: {name}")))
            }
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
                let uri = req.target()?;
                (!self.allows(caller, ItemKind::Resource, server, uri)).then(|| {
                    McpError::new(
                        ErrorKind::ResourceNotFound,
                        format!("resource not found: {uri}"),
                    )
                    .with_data(serde_json::json!({"uri": uri}))
                })
            }
            Method::CompletionComplete => {
                #[derive(serde::Deserialize)]
                struct Params {
                    #[serde(rename = "ref")]
                    reference: Ref,
                }
                #[derive(serde::Deserialize)]
                struct Ref {
                    #[serde(rename = "type")]
                    kind: String,
                    name: Option<String>,
                    uri: Option<String>,
                }
                let params: Params = req.message.params_as().ok()?;
                let r = params.reference;
                let routes = req.routes();
                match (r.kind.as_str(), r.name, r.uri) {
                    ("ref/prompt", Some(name), _) => (!self.allows_listed(
                        caller,
                        ItemKind::Prompt,
                        routes.as_deref(),
                        &Method::PromptsGet,
                        &name,
                    ))
                    .then(|| McpError::invalid_params(format!("unknown prompt: {name}"))),
                    ("ref/resource", _, Some(uri)) => (!self.allows_listed(
                        caller,
                        ItemKind::Resource,
                        routes.as_deref(),
                        &Method::ResourcesRead,
                        &uri,
                    ))
                    .then(|| McpError::invalid_params(format!("unknown resource: {uri}"))),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Which list a response is, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    fn of(method: &Method) -> Option<ListKind> {
        Some(match method {
            Method::ToolsList => ListKind::Tools,
            Method::PromptsList => ListKind::Prompts,
            Method::ResourcesList => ListKind::Resources,
            Method::ResourceTemplatesList => ListKind::Templates,
            _ => return None,
        })
    }
    fn key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::Templates => "resourceTemplates",
        }
    }
}

/// Removes the items a caller may not see from one list answer.
pub(crate) struct ListFilter {
    decide: Decide,
    caller: Option<Identity>,
    routes: Option<Arc<dyn Resolve>>,
    list: ListKind,
}

impl ListFilter {
    fn visible(&self, item: &RawValue) -> bool {
        #[derive(serde::Deserialize)]
        struct Keys {
            name: Option<String>,
            uri: Option<String>,
            #[serde(rename = "uriTemplate")]
            uri_template: Option<String>,
        }
        // An item we cannot read is not shown: the filter fails closed.
        let Ok(keys) = serde_json::from_str::<Keys>(item.get()) else {
            return false;
        };
        let caller = self.caller.as_ref();
        let routes = self.routes.as_deref();
        let allows = |kind, method: &Method, name: &str| {
            self.decide
                .allows_listed(caller, kind, routes, method, name)
        };
        match self.list {
            ListKind::Tools => keys
                .name
                .is_some_and(|n| allows(ItemKind::Tool, &Method::ToolsCall, &n)),
            ListKind::Prompts => keys
                .name
                .is_some_and(|n| allows(ItemKind::Prompt, &Method::PromptsGet, &n)),
            ListKind::Resources => keys
                .uri
                .is_some_and(|u| allows(ItemKind::Resource, &Method::ResourcesRead, &u)),
            ListKind::Templates => keys
                .uri_template
                .is_some_and(|t| allows(ItemKind::Resource, &Method::ResourcesRead, &t)),
        }
    }

    pub(crate) fn apply(&self, response: McpResponse) -> Result<McpResponse, McpError> {
        let bad = |e: serde_json::Error| {
            McpError::internal(format!(
                "could not filter the {} list: {e}",
                self.list.key()
            ))
        };
        let mut page: IndexMap<String, Box<RawValue>> =
            serde_json::from_str(response.result.get()).map_err(bad)?;
        let Some(raw) = page.get(self.list.key()) else {
            return Ok(response);
        };
        let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).map_err(bad)?;
        let kept: Vec<&RawValue> = items
            .iter()
            .filter(|i| self.visible(i))
            .map(|i| &**i)
            .collect();
        if kept.len() == items.len() {
            return Ok(response);
        }
        let list = serde_json::value::to_raw_value(&kept).map_err(bad)?;
        page.insert(self.list.key().to_string(), list);
        Ok(McpResponse::new(
            serde_json::value::to_raw_value(&page).map_err(bad)?,
        ))
    }
}

impl<S> Service<McpRequest> for Authorize<S>
where
    S: Service<McpRequest, Response = McpResponse>,
    S::Error: From<McpError>,
{
    type Response = McpResponse;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        if let Some(error) = self.decide.check(&req) {
            tracing::debug!(
                method = %req.method().as_str(),
                target = req.target().unwrap_or(""),
                subject = req.ctx.identity.as_ref().map_or("", |i| i.subject.as_str()),
                "denied by the access policy"
            );
            return ResponseFuture::denied(error);
        }
        match ListKind::of(req.method()) {
            Some(list) => {
                let filter = ListFilter {
                    decide: self.decide.clone(),
                    caller: req.ctx.identity.clone(),
                    routes: req.routes(),
                    list,
                };
                ResponseFuture::filtered(self.inner.call(req), filter)
            }
            None => ResponseFuture::forward(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests;
