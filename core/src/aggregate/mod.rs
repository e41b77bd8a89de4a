//! Aggregation: many upstreams behind one namespace.
//!
//! [`Aggregate`] is the leaf of the MCP-plane stack. It answers the list methods from a merged
//! catalog (`{server}{separator}{name}`), routes `tools/call`, `prompts/get`,
//! `resources/read` and `completion/complete` to the upstream that owns the name — by table
//! lookup, never by splitting the name — and rewrites only `params.name`. A refresher task per
//! upstream re-lists on status changes and `notifications/*/list_changed`, and the aggregate
//! tells every downstream session when a merged list changed.

mod arguments;
mod catalog;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use catalog::ToolFilter;
use catalog::{Catalog, MergeInput, UpstreamLists};

use crate::envelope::{McpRequest, McpResponse};
use crate::error::McpError;
use crate::jsonrpc::{Method, notification_frame};
use crate::params::{RawParams, json_text};
use crate::session::Downstream;
use crate::upstream::hook::{UpstreamCall, UpstreamHook};
use crate::upstream::{ListKind, Upstream, UpstreamEvent, UpstreamStatus};

/// Most pages fetched from one upstream for one list (a guard against endless cursors).
const MAX_PAGES: usize = 100;
/// How long after the aggregate starts a request may wait for upstreams that are still on
/// their first start (see [`Aggregate::with_startup_grace`]).
pub const DEFAULT_STARTUP_GRACE: Duration = Duration::from_secs(3);

/// One upstream as the aggregate sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The upstream.
    pub upstream: Upstream,
    /// Which of its tools are exposed.
    pub filter: ToolFilter,
    /// Whether `tools/call` arguments are checked against the tool's `inputSchema` before
    /// they are forwarded (the config's `validate_arguments`, on by default).
    pub validate_arguments: bool,
}

impl Member {
    /// A member exposing every tool, with argument checks on.
    pub fn new(upstream: Upstream) -> Self {
        Member {
            upstream,
            filter: ToolFilter::default(),
            validate_arguments: true,
        }
    }
}

/// Where an exposed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The upstream's configured name.
    pub server: String,
    /// The item's name on that upstream (a resource keeps its URI).
    pub original: String,
}

/// Tells a policy which upstream serves a request's target, and under which name: the
/// [`Aggregate`] does it from its routing tables; tests and custom stacks may use a closure.
pub trait Resolve: Send + Sync + 'static {
    /// The server and original name behind `target` (a tool or prompt name as exposed, or a
    /// resource URI) for `method`; `None` when nothing serves it.
    fn resolve(&self, method: &Method, target: &str) -> Option<Resolved>;
}

impl Resolve for Aggregate {
    fn resolve(&self, method: &Method, target: &str) -> Option<Resolved> {
        Aggregate::resolve(self, method, target)
    }
}

impl<F> Resolve for F
where
    F: Fn(&Method, &str) -> Option<Resolved> + Send + Sync + 'static,
{
    fn resolve(&self, method: &Method, target: &str) -> Option<Resolved> {
        self(method, target)
    }
}

/// Health of one upstream, for `/readyz` and logs.
#[derive(Debug, Clone)]
pub struct MemberHealth {
    /// Configured name.
    pub name: String,
    /// Ready, starting or down (with the reason).
    pub status: UpstreamStatus,
    /// Tools currently exposed from it.
    pub tools: usize,
    /// Requests in flight on its connection.
    pub inflight: usize,
    /// When it was started.
    pub started: Instant,
}

/// Many upstreams merged into one MCP server: a `tower::Service<McpRequest>`.
#[derive(Clone, Debug)]
pub struct Aggregate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    members: Vec<Member>,
    separator: Option<String>,
    page_size: usize,
    lists: Mutex<Vec<Option<UpstreamLists>>>,
    catalog: RwLock<Arc<Catalog>>,
    notifications: broadcast::Sender<Bytes>,
    /// How many upstreams have settled: listed once after their first start, or failed it.
    settled: tokio::sync::watch::Sender<usize>,
    /// Until then, a request may wait for upstreams still on their first start; after it,
    /// nothing waits for an upstream's start.
    startup_deadline: parking_lot::Mutex<Instant>,
    created: Instant,
    /// Set once start-up is over for good (the fast path of [`Aggregate::is_settled`]).
    open: std::sync::atomic::AtomicBool,
}

impl Inner {
    fn grace_over(&self) -> bool {
        Instant::now() >= *self.startup_deadline.lock()
    }
}

impl Aggregate {
    /// Merges `members` under `{name}{separator}{item}` (or unchanged names when `separator`
    /// is `None`, for a single upstream) and starts watching them. `page_size` 0 returns whole
    /// lists.
    pub fn new(members: Vec<Member>, separator: Option<String>, page_size: usize) -> Aggregate {
        let (notifications, _) = broadcast::channel(256);
        let n = members.len();
        let agg = Aggregate {
            inner: Arc::new(Inner {
                members,
                separator,
                page_size,
                lists: Mutex::new(vec![None; n]),
                catalog: RwLock::new(Arc::new(Catalog::default())),
                notifications,
                settled: tokio::sync::watch::Sender::new(0),
                startup_deadline: parking_lot::Mutex::new(Instant::now() + DEFAULT_STARTUP_GRACE),
                created: Instant::now(),
                open: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        for idx in 0..n {
            tokio::spawn(refresher(Arc::downgrade(&agg.inner), idx));
        }
        agg
    }

    /// Notifications for every downstream session (list changes, resource updates), as frames.
    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.inner.notifications.subscribe()
    }

    /// The sender behind [`Aggregate::subscribe`], for transports that subscribe per stream.
    pub fn notification_sender(&self) -> broadcast::Sender<Bytes> {
        self.inner.notifications.clone()
    }

    /// The members, in config order.
    pub fn members(&self) -> &[Member] {
        &self.inner.members
    }

    /// Health of every upstream.
    pub fn health(&self) -> Vec<MemberHealth> {
        let catalog = self.catalog();
        self.inner
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberHealth {
                name: m.upstream.name().to_string(),
                status: m.upstream.status(),
                tools: catalog
                    .tool_routes
                    .values()
                    .filter(|r| r.upstream == i)
                    .count(),
                inflight: m.upstream.inflight(),
                started: m.upstream.started(),
            })
            .collect()
    }

    /// Which upstream serves the target of a request — the tool or prompt name of
    /// `tools/call` / `prompts/get`, or the URI of a resource request — and under which name.
    /// For policies (authorization, logging, tracing) that decide per server.
    pub fn resolve(&self, method: &Method, target: &str) -> Option<Resolved> {
        let catalog = self.catalog();
        let (idx, original) = match method {
            Method::ToolsCall => {
                let r = catalog.tool_routes.get(target)?;
                (r.upstream, r.original.to_string())
            }
            Method::PromptsGet => {
                let r = catalog.prompt_routes.get(target)?;
                (r.upstream, r.original.to_string())
            }
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
                (catalog.resource_upstream(target)?, target.to_string())
            }
            _ => return None,
        };
        let server = self.inner.members.get(idx)?.upstream.name().to_string();
        Some(Resolved { server, original })
    }

    /// Names of every exposed tool, in list order.
    pub fn tool_names(&self) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct N {
            name: String,
        }
        let c = self.catalog();
        c.tools
            .items
            .iter()
            .filter_map(|item| serde_json::from_str::<N>(item.get()).ok())
            .map(|n| n.name)
            .collect()
    }

    /// The definition of the exposed tool `exposed` as `tools/list` shows it now (for
    /// policies that check what is being called, such as tool pinning).
    pub fn tool(&self, exposed: &str) -> Option<Box<RawValue>> {
        #[derive(serde::Deserialize)]
        struct N<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        self.catalog()
            .tools
            .items
            .iter()
            .find(|item| serde_json::from_str::<N<'_>>(item.get()).is_ok_and(|n| n.name == exposed))
            .cloned()
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.read().clone()
    }

    /// Sets how long after start-up a request may wait for upstreams that are still on their
    /// first start ([`DEFAULT_STARTUP_GRACE`]; zero: never wait). Counted from
    /// [`Aggregate::new`]; the clock is the gateway's, not the request's, so a request that
    /// arrives later waits less, and none waits once it has passed.
    #[must_use]
    pub fn with_startup_grace(self, grace: Duration) -> Self {
        *self.inner.startup_deadline.lock() = self.inner.created + grace;
        self
    }

    /// Waits until every upstream has finished its first start (listed once, or failed), or
    /// the start-up grace is over — whichever comes first. Returns at once afterwards.
    pub async fn settle(&self) {
        if self.is_settled() {
            return;
        }
        let n = self.inner.members.len();
        let deadline = *self.inner.startup_deadline.lock();
        let mut rx = self.inner.settled.subscribe();
        let _ = tokio::time::timeout_at(deadline.into(), rx.wait_for(|c| *c >= n)).await;
    }

    /// Whether requests no longer wait for start-up: every upstream has finished its first
    /// start, or the start-up grace is over (see [`Aggregate::settle`]).
    pub fn is_settled(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.inner.open.load(Ordering::Relaxed) {
            return true;
        }
        let open =
            *self.inner.settled.borrow() >= self.inner.members.len() || self.inner.grace_over();
        if open {
            self.inner.open.store(true, Ordering::Relaxed);
        }
        open
    }

    /// Serves one request. The gateway waits for [`Aggregate::settle`] before its outermost
    /// layer; code that calls an `Aggregate` directly right after start should do the same.
    async fn handle(self, req: McpRequest) -> Result<McpResponse, McpError> {
        let catalog = self.catalog();
        let page_size = self.inner.page_size;
        match req.method() {
            Method::ToolsList => list_page(&catalog.tools, "tools", &req, page_size),
            Method::PromptsList => list_page(&catalog.prompts, "prompts", &req, page_size),
            Method::ResourcesList => list_page(&catalog.resources, "resources", &req, page_size),
            Method::ResourceTemplatesList => {
                list_page(&catalog.templates, "resourceTemplates", &req, page_size)
            }
            Method::ToolsCall | Method::PromptsGet => {
                let (routes, what) = if *req.method() == Method::ToolsCall {
                    (&catalog.tool_routes, "tool")
                } else {
                    (&catalog.prompt_routes, "prompt")
                };
                let name = req.target().ok_or_else(|| {
                    McpError::invalid_params(format!("{} needs params.name", req.method()))
                })?;
                let route = routes.get(name).ok_or_else(|| self.unknown(what, name))?;
                if let Some(check) = &route.arguments
                    && let Err(refusal) = check.check(req.message.params.as_deref())
                {
                    return match refusal.answer(name, req.ctx.session.protocol_version()) {
                        arguments::Answer::Error(e) => Err(e),
                        arguments::Answer::ToolError(text) => tool_error(&text),
                    };
                }
                let params = rename(req.message.params.as_deref(), &route.original)?;
                self.forward(route.upstream, &req, Some(&params)).await
            }
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
                let uri = req.target().ok_or_else(|| {
                    McpError::invalid_params(format!("{} needs params.uri", req.method()))
                })?;
                let idx = catalog.resource_upstream(uri).ok_or_else(|| {
                    McpError::new(
                        crate::ErrorKind::ResourceNotFound,
                        format!("resource not found: {uri}"),
                    )
                    .with_data(serde_json::json!({"uri": uri}))
                })?;
                self.forward(idx, &req, req.message.params.as_deref()).await
            }
            Method::CompletionComplete => self.complete(&catalog, &req).await,
            Method::LoggingSetLevel => McpResponse::from_typed(&serde_json::json!({})),
            Method::Ping => McpResponse::from_typed(&serde_json::json!({})),
            other => Err(McpError::method_not_found(other.as_str())),
        }
    }

    /// The error for a name with no route: -32602, unless the name carries the prefix of an
    /// upstream that is down right now — then the caller learns that instead (-31000).
    fn unknown(&self, what: &str, name: &str) -> McpError {
        for m in &self.inner.members {
            let prefix = m.upstream.name();
            let owned = match &self.inner.separator {
                Some(sep) => name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(sep.as_str())),
                None => self.inner.members.len() == 1,
            };
            if owned && !m.upstream.status().is_ready() {
                let why = match m.upstream.status() {
                    UpstreamStatus::Down { reason } => format!("is down: {reason}"),
                    _ => "is still starting".to_string(),
                };
                return McpError::upstream_unavailable(
                    prefix,
                    format!("{what} {name}: upstream '{prefix}' {why}"),
                );
            }
        }
        McpError::invalid_params(format!("unknown {what}: {name}"))
    }

    async fn forward(
        &self,
        idx: usize,
        req: &McpRequest,
        params: Option<&RawValue>,
    ) -> Result<McpResponse, McpError> {
        let member = self
            .inner
            .members
            .get(idx)
            .ok_or_else(|| McpError::internal("route points at no upstream"))?;
        let upstream = &member.upstream;
        let method = req.method().as_str();
        let Some(hook) = req.ctx.extensions.get::<UpstreamHook>() else {
            let result = upstream
                .call(method, params, req.ctx.downstream.clone(), &req.ctx.cancel)
                .await?;
            return Ok(McpResponse::new(result));
        };
        let mut observed = hook.start(&UpstreamCall {
            server: upstream.name(),
            method,
            params,
        });
        let replaced = observed.params.take();
        let result = upstream
            .call_with_headers(
                method,
                replaced.as_deref().or(params),
                req.ctx.downstream.clone(),
                &req.ctx.cancel,
                &observed.headers,
            )
            .await;
        if let Some(end) = observed.on_end.take() {
            end(result.as_deref());
        }
        Ok(McpResponse::new(result?))
    }

    async fn complete(&self, catalog: &Catalog, req: &McpRequest) -> Result<McpResponse, McpError> {
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
                let route = catalog
                    .prompt_routes
                    .get(name.as_ref())
                    .ok_or_else(|| McpError::invalid_params(format!("unknown prompt: {name}")))?;
                let raw = params.with_member_in("ref", "name", &json_text(&*route.original)?)?;
                self.forward(route.upstream, req, Some(&raw)).await
            }
            Some("ref/resource") => {
                let uri = reference.get_str("uri")?.unwrap_or_default();
                let idx = catalog
                    .resource_upstream(&uri)
                    .ok_or_else(|| McpError::invalid_params(format!("unknown resource: {uri}")))?;
                self.forward(idx, req, req.message.params.as_deref()).await
            }
            _ => Err(McpError::invalid_params(
                "params.ref.type must be ref/prompt or ref/resource",
            )),
        }
    }

    /// Re-lists `kinds` of upstream `idx` (or forgets it when it is not ready) and, if
    /// `announce`, tells clients about merged lists that changed.
    async fn refresh(inner: &Arc<Inner>, idx: usize, kinds: &[ListKind], announce: bool) {
        let Some(member) = inner.members.get(idx) else {
            return;
        };
        let upstream = &member.upstream;
        let new_lists = match upstream.status() {
            UpstreamStatus::Ready(info) => {
                let mut lists = inner
                    .lists
                    .lock()
                    .get(idx)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                let caps = &info.capabilities;
                for kind in kinds {
                    match kind {
                        ListKind::Tools if caps.tools.is_some() => {
                            lists.tools = fetch_all(upstream, "tools/list", "tools").await;
                            lists.arguments = if member.validate_arguments {
                                arguments::compile_all(upstream.name(), &lists.tools)
                            } else {
                                Default::default()
                            };
                        }
                        ListKind::Prompts if caps.prompts.is_some() => {
                            lists.prompts = fetch_all(upstream, "prompts/list", "prompts").await;
                        }
                        ListKind::Resources if caps.resources.is_some() => {
                            lists.resources =
                                fetch_all(upstream, "resources/list", "resources").await;
                            lists.templates = fetch_all(
                                upstream,
                                "resources/templates/list",
                                "resourceTemplates",
                            )
                            .await;
                        }
                        _ => {}
                    }
                }
                Some(lists)
            }
            _ => None,
        };
        // Slot update, merge and swap under one lock: two upstreams refreshing at once must not
        // publish a merge that misses the other's lists.
        let (old, new) = {
            let mut lists = inner.lists.lock();
            if let Some(slot) = lists.get_mut(idx) {
                *slot = new_lists;
            }
            let new = Arc::new(Self::rebuild(inner, &lists));
            let old = std::mem::replace(&mut *inner.catalog.write(), new.clone());
            (old, new)
        };
        for (changed, method) in [
            (
                !same(&old.tools.items, &new.tools.items),
                "notifications/tools/list_changed",
            ),
            (
                !same(&old.prompts.items, &new.prompts.items),
                "notifications/prompts/list_changed",
            ),
            (
                !same(&old.resources.items, &new.resources.items)
                    || !same(&old.templates.items, &new.templates.items),
                "notifications/resources/list_changed",
            ),
        ] {
            if changed && announce {
                let _ = inner.notifications.send(notification_frame(method, None));
            }
        }
    }

    fn rebuild(inner: &Inner, lists: &[Option<UpstreamLists>]) -> Catalog {
        let inputs: Vec<MergeInput<'_>> = inner
            .members
            .iter()
            .zip(lists.iter())
            .map(|(m, l)| MergeInput {
                name: m.upstream.name(),
                lists: l.as_ref(),
                filter: &m.filter,
            })
            .collect();
        Catalog::merge(&inputs, inner.separator.as_deref())
    }
}

/// A tool result that reports a failure to the model (`isError: true`).
fn tool_error(text: &str) -> Result<McpResponse, McpError> {
    McpResponse::from_typed(&serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
    }))
}

fn same(a: &[Box<RawValue>], b: &[Box<RawValue>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.get() == y.get())
}

const ALL_KINDS: [ListKind; 3] = [ListKind::Tools, ListKind::Prompts, ListKind::Resources];

/// Keeps one upstream's share of the catalog current.
async fn refresher(inner: std::sync::Weak<Inner>, idx: usize) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let Some(member) = strong.members.get(idx) else {
        return;
    };
    let mut events = member.upstream.events();
    let mut status = member.upstream.watch_status();
    let upstream_ready = status
        .wait_for(|s| !matches!(s, UpstreamStatus::Starting))
        .await
        .is_ok_and(|s| s.is_ready());
    if upstream_ready {
        // The first listing is start-up, not a change worth announcing — unless it comes after
        // the start-up grace, when clients may already have listed without it.
        let late = strong.grace_over();
        Aggregate::refresh(&strong, idx, &ALL_KINDS, late).await;
    }
    strong.settled.send_modify(|c| *c += 1);
    drop(strong);
    loop {
        let event = events.recv().await;
        let Some(inner) = inner.upgrade() else { return };
        match event {
            Ok(UpstreamEvent::StatusChanged(_)) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Aggregate::refresh(&inner, idx, &ALL_KINDS, true).await
            }
            Ok(UpstreamEvent::ListChanged(_, kind)) => {
                Aggregate::refresh(&inner, idx, &[kind], true).await
            }
            Ok(UpstreamEvent::ResourceUpdated(_, frame)) => {
                let _ = inner.notifications.send(frame);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Fetches every page of one list. A failing upstream yields what it gave so far.
async fn fetch_all(upstream: &Upstream, method: &str, key: &str) -> Vec<Map<String, Value>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        next_cursor: Option<String>,
        #[serde(flatten)]
        rest: Map<String, Value>,
    }
    let never = CancellationToken::new();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .and_then(|c| serde_json::value::to_raw_value(&serde_json::json!({"cursor": c})).ok());
        let result = match upstream
            .call(method, params.as_deref(), Downstream::none(), &never)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(upstream = upstream.name(), method, error = %e, "listing failed");
                break;
            }
        };
        let Ok(mut page) = serde_json::from_str::<Page>(result.get()) else {
            tracing::warn!(
                upstream = upstream.name(),
                method,
                "upstream sent a malformed list"
            );
            break;
        };
        if let Some(Value::Array(list)) = page.rest.remove(key) {
            items.extend(list.into_iter().filter_map(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }));
        }
        match page.next_cursor {
            Some(c) if !c.is_empty() && Some(&c) != cursor.as_ref() => cursor = Some(c),
            _ => break,
        }
    }
    items
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
        return Err(McpError::invalid_params("invalid params: missing field `name`"));
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
