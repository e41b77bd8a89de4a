//! Routes: where a request's target leads (upstream server, original name), decided once by
//! the gateway's routing step and read by every layer, and [`Resolve`], the table that decides
//! it (the aggregate's, or a closure in tests and custom stacks).

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::arguments::ArgumentCheck;
use crate::jsonrpc::Method;

/// Where a request's target leads: the upstream server that serves it and the item's name
/// there. Decided once, by the gateway's routing step in front of every policy
/// ([`McpRequest::route`](crate::McpRequest::route)).
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstream's configured name.
    pub server: Arc<str>,
    /// The item's name on that upstream (a resource keeps its URI).
    pub original: Arc<str>,
    /// The tool or prompt as listed, when known.
    pub(crate) definition: Option<Arc<RawValue>>,
    /// What the aggregate needs to serve it, when the aggregate decided the route.
    pub(crate) leaf: Option<Leaf>,
}

/// The aggregate's part of a route: which member, and the tool's argument check.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) upstream: usize,
    pub(crate) arguments: Option<Arc<ArgumentCheck>>,
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.server == other.server && self.original == other.original
    }
}

impl Eq for Route {}

impl Route {
    /// A route to `original` on `server`.
    pub fn new(server: impl Into<Arc<str>>, original: impl Into<Arc<str>>) -> Self {
        Route {
            server: server.into(),
            original: original.into(),
            definition: None,
            leaf: None,
        }
    }

    /// The same route with the item's listed definition (for stacks and tests that route
    /// without the aggregate; the aggregate sets it itself).
    #[must_use]
    pub fn with_definition(mut self, definition: Option<Arc<RawValue>>) -> Self {
        self.definition = definition;
        self
    }

    /// The tool or prompt as `tools/list` / `prompts/list` shows it right now (exposed name),
    /// when the gateway routed the request: for policies that check what is being called,
    /// such as tool pinning.
    pub fn definition(&self) -> Option<&RawValue> {
        self.definition.as_deref()
    }

    /// Whether the listed tool says it changes nothing (`annotations.readOnlyHint: true`);
    /// false when the definition is unknown or says nothing.
    pub fn is_read_only(&self) -> bool {
        self.hints().0
    }

    /// Whether calling the listed tool twice does no more than calling it once: its
    /// annotations say `readOnlyHint: true` or `idempotentHint: true`. Hints come from the
    /// upstream: trust them only as far as you trust it.
    pub fn is_repeatable(&self) -> bool {
        let (read_only, idempotent) = self.hints();
        read_only || idempotent
    }

    /// (`readOnlyHint`, `idempotentHint`) of the definition, false when absent or unreadable.
    fn hints(&self) -> (bool, bool) {
        let Some(definition) = self.definition.as_deref() else {
            return (false, false);
        };
        // Most definitions carry no hints: skip parsing them.
        if !definition.get().contains("Hint") {
            return (false, false);
        }
        #[derive(serde::Deserialize)]
        struct Definition {
            #[serde(default)]
            annotations: Option<Annotations>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Annotations {
            #[serde(default)]
            read_only_hint: Option<bool>,
            #[serde(default)]
            idempotent_hint: Option<bool>,
        }
        serde_json::from_str::<Definition>(definition.get())
            .ok()
            .and_then(|d| d.annotations)
            .map_or((false, false), |a| {
                (
                    a.read_only_hint == Some(true),
                    a.idempotent_hint == Some(true),
                )
            })
    }
}

/// Tells which upstream serves a request's target, and under which name: the
/// [`Aggregate`](crate::aggregate::Aggregate) does it from its routing tables
/// ([`Routing`](crate::aggregate::Routing) asks it once per request); tests and custom stacks
/// may use a closure.
pub trait Resolve: Send + Sync + 'static {
    /// The server and original name behind `target` (a tool or prompt name as exposed, or a
    /// resource URI) for `method`; `None` when nothing serves it.
    fn resolve(&self, method: &Method, target: &str) -> Option<Route>;
}

impl std::fmt::Debug for dyn Resolve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolve")
    }
}

impl<F> Resolve for F
where
    F: Fn(&Method, &str) -> Option<Route> + Send + Sync + 'static,
{
    fn resolve(&self, method: &Method, target: &str) -> Option<Route> {
        self(method, target)
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    fn route(definition: &str) -> Route {
        let raw = RawValue::from_string(definition.to_owned())
            .ok()
            .map(Arc::from);
        Route::new("s", "a").with_definition(raw)
    }

    #[test]
    fn annotations_say_what_may_be_repeated() {
        let read_only = route(r#"{"name":"a","annotations":{"readOnlyHint":true}}"#);
        assert!(read_only.is_read_only() && read_only.is_repeatable());
        let idempotent =
            route(r#"{"name":"a","annotations":{"idempotentHint":true,"destructiveHint":false}}"#);
        assert!(idempotent.is_repeatable() && !idempotent.is_read_only());
        for neither in [
            r#"{"name":"a","annotations":{"idempotentHint":false}}"#,
            r#"{"name":"a","description":"readOnlyHint: true"}"#,
            r#"{"name":"a"}"#,
            r#""not a definition, Hint""#,
        ] {
            assert!(!route(neither).is_repeatable(), "{neither}");
        }
        assert!(!Route::new("s", "a").is_repeatable());
    }
}
