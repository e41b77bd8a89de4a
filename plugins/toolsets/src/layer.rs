//! [`ToolsetLayer`] and [`ToolsetService`]: requests seen through one toolset — the one an
//! endpoint serves, or the one the caller is bound to.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::error::Error;
use crate::toolset::Toolset;

enum Select {
    /// Every request (a toolset's own endpoint).
    One(Toolset),
    /// The caller's toolset, by identity subject; callers not listed see everything.
    ByCaller(HashMap<String, Toolset>),
}

/// Shows requests one toolset: `tools/list` lists its tools only, and `tools/call` of any
/// other tool is answered like an unknown tool (`-32602 unknown tool: NAME`). Prompts,
/// resources and everything else pass.
///
/// [`ToolsetLayer::serving`] applies one toolset to every request (wrap it around
/// [`GatewayParts::service`](toolgate::gateway::GatewayParts::service) and serve it with
/// [`GatewayParts::streamable_endpoint`](toolgate::gateway::GatewayParts::streamable_endpoint));
/// [`ToolsetLayer::by_caller`] applies the toolset a caller is bound to (by the identity
/// `use: auth` established), and leaves other callers alone.
///
/// ```
/// use toolgate_toolsets::{Toolset, ToolsetLayer};
///
/// let research = Toolset::new("research", ["search__*", "wiki__lookup"])?;
/// let endpoint = ToolsetLayer::serving(research.clone());
/// let bound = ToolsetLayer::by_caller([("ci-bot", research)])?;
/// # let _ = (endpoint, bound);
/// # Ok::<(), toolgate_toolsets::Error>(())
/// ```
#[derive(Clone)]
pub struct ToolsetLayer {
    select: Arc<Select>,
}

impl fmt::Debug for ToolsetLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.select {
            Select::One(t) => f.debug_tuple("ToolsetLayer").field(t).finish(),
            Select::ByCaller(m) => f
                .debug_struct("ToolsetLayer")
                .field("by_caller", m)
                .finish(),
        }
    }
}

impl ToolsetLayer {
    /// Every request sees `toolset`.
    pub fn serving(toolset: Toolset) -> Self {
        ToolsetLayer {
            select: Arc::new(Select::One(toolset)),
        }
    }

    /// Each listed caller (identity subject) sees its toolset; a caller listed twice is an
    /// error.
    pub fn by_caller<I, S>(bindings: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, Toolset)>,
        S: Into<String>,
    {
        let mut map: HashMap<String, Toolset> = HashMap::new();
        for (caller, toolset) in bindings {
            let caller = caller.into();
            if let Some(other) = map.get(&caller) {
                return Err(Error::new(format!(
                    "caller '{caller}' is bound to toolsets '{}' and '{}'; a caller gets one \
                     toolset",
                    other.name(),
                    toolset.name()
                )));
            }
            map.insert(caller, toolset);
        }
        Ok(ToolsetLayer {
            select: Arc::new(Select::ByCaller(map)),
        })
    }

    fn for_request(&self, req: &McpRequest) -> Option<&Toolset> {
        match &*self.select {
            Select::One(t) => Some(t),
            Select::ByCaller(m) => req.ctx.identity.as_ref().and_then(|id| m.get(&id.subject)),
        }
    }
}

impl<S> Layer<S> for ToolsetLayer {
    type Service = ToolsetService<S>;
    fn layer(&self, inner: S) -> ToolsetService<S> {
        ToolsetService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`ToolsetLayer`].
#[derive(Clone, Debug)]
pub struct ToolsetService<S> {
    inner: S,
    layer: ToolsetLayer,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

impl<S> Service<McpRequest> for ToolsetService<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> BoxFuture {
        let Some(toolset) = self.layer.for_request(&req).cloned() else {
            return Box::pin(self.inner.call(req));
        };
        match req.method() {
            Method::ToolsList => {
                let answer = self.inner.call(req);
                Box::pin(async move { toolset.cut_list(answer.await?) })
            }
            Method::ToolsCall => {
                let name = req.target().unwrap_or_default();
                if !toolset.admits(name) {
                    let e = McpError::invalid_params(format!("unknown tool: {name}"));
                    return Box::pin(async move { Err(e) });
                }
                Box::pin(self.inner.call(req))
            }
            _ => Box::pin(self.inner.call(req)),
        }
    }
}
