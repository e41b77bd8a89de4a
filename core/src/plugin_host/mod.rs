//! Native plugins: shared libraries built with `toolgate-plugin-sdk`, loaded from the config
//! file's `layers:` (`- dylib: PATH`) and run as MCP-plane layers.
//!
//! [`PluginHost`] is the [`DylibLoader`](crate::registry::DylibLoader): it checks the file
//! (inside `plugin_dirs`, not world-writable, optional SHA-256 pin) before `dlopen`, checks the
//! ABI version, validates the `config:` against the plugin's JSON Schema and creates an
//! instance ([`LoadedPlugin`]); every failure is a start-up error naming the file. Libraries are
//! never unloaded. [`DylibLayer`] / [`Dylib`] run the plugin's hooks around each request it is
//! interested in:
//!
//! 1. `on_request` with the request and its context (session, identity, target resolved to
//!    server and original name): continue, continue with new params, respond, or reject;
//! 2. while the request runs, `on_notification` for each notification on its way to the client
//!    (progress): pass, replace params, or drop — the notifications are relayed in order and
//!    all of them before the response;
//! 3. `on_response` with the result: keep, replace, or reject.
//!
//! Hooks run on tokio's blocking pool (`spawn_blocking`), so a slow plugin never stalls the
//! runtime's workers and concurrent requests run its hooks in parallel. A hook that panics,
//! fails, answers garbage or exceeds the hook timeout fails that one request with -32603 and is
//! logged with the details; the gateway keeps serving. Notifications the aggregate broadcasts
//! to whole sessions (`list_changed`) do not belong to a request and do not reach plugins.

mod context;
mod error;
mod future;
mod layer;
mod loader;
mod plugin;

#[cfg(test)]
mod tests;

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tower::Service;

pub use error::{Hook, HookError, HookErrorKind, LoadError, LoadErrorKind};
pub use future::ResponseFuture;
pub use layer::DylibLayer;
pub use loader::PluginHost;
pub use plugin::LoadedPlugin;

use crate::envelope::{McpRequest, McpResponse};
use crate::error::McpError;
use crate::outbound::Outbound;
use crate::session::Downstream;
use plugin::Outcome;

/// How long one hook call may take by default.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Notifications held for `on_notification` at once; beyond that they are dropped, as a client
/// that does not read would drop them (they are advisory).
const NOTIFICATION_QUEUE: usize = 64;

/// Runs a plugin's hooks around the requests of an MCP-plane service.
#[derive(Clone, Debug)]
pub struct Dylib<S> {
    inner: S,
    plugin: LoadedPlugin,
    hook_timeout: Duration,
}

impl<S> Dylib<S> {
    /// Wraps `inner` in `plugin`'s hooks.
    pub fn new(inner: S, plugin: LoadedPlugin) -> Self {
        Dylib {
            inner,
            plugin,
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
    /// Bounds each hook call.
    #[must_use]
    pub fn with_hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }
    /// The plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for Dylib<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let interests = self.plugin.interests();
        let hooked = interests.request || interests.response || interests.notification;
        if !hooked || !interests.wants(req.method().as_str()) {
            return ResponseFuture::bypass(self.inner.call(req));
        }
        // The ready service goes with the request; a fresh clone stays for the next one.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let run = Run {
            plugin: self.plugin.clone(),
            hook_timeout: self.hook_timeout,
        };
        ResponseFuture::hooked(Box::pin(run.call(inner, req)))
    }
}

/// One request's trip through the hooks.
struct Run {
    plugin: LoadedPlugin,
    hook_timeout: Duration,
}

impl Run {
    async fn call<S>(self, mut inner: S, mut req: McpRequest) -> Result<McpResponse, McpError>
    where
        S: Service<McpRequest, Response = McpResponse, Error = McpError>,
    {
        let interests = self.plugin.interests();
        let with_tool = interests.tool_definition;
        let mut request = context::request_json(&req, with_tool);
        if interests.request {
            match self.hook(Hook::Request, request.clone()).await? {
                Outcome::Continue => {}
                Outcome::ContinueWith(params) => {
                    self.expect_object(Hook::Request, &params, "params")?;
                    // Its target is read and routed again from the new params.
                    req.set_params(Some(params));
                    request = context::request_json(&req, with_tool);
                }
                Outcome::Respond(result) => {
                    self.expect_object(Hook::Request, &result, "result")?;
                    return Ok(McpResponse::new(result));
                }
                Outcome::Reject(e) => return Err(self.rejected(&req, Hook::Request, e)),
            }
        }
        let method = req.method().clone();
        let target = req.target().map(str::to_owned);
        let response = if interests.notification && req.ctx.downstream.is_connected() {
            self.call_relaying(inner, req, &request).await?
        } else {
            inner.call(req).await?
        };
        if !interests.response {
            return Ok(response);
        }
        let input = context::response_json(&request, &response.result);
        match self.hook(Hook::Response, Bytes::from(input)).await? {
            Outcome::Continue => Ok(response),
            Outcome::ContinueWith(result) | Outcome::Respond(result) => {
                self.expect_object(Hook::Response, &result, "result")?;
                Ok(McpResponse::new(result))
            }
            Outcome::Reject(e) => {
                tracing::info!(
                    plugin = self.plugin.name(),
                    method = %method,
                    target = target.as_deref().unwrap_or(""),
                    code = e.code(),
                    "plugin rejected the response: {}",
                    e.message()
                );
                Err(e)
            }
        }
    }

    /// Calls `inner` with a downstream that passes every notification through
    /// `on_notification` before it reaches the client, all of them before the response.
    async fn call_relaying<S>(
        &self,
        mut inner: S,
        mut req: McpRequest,
        request: &Bytes,
    ) -> Result<McpResponse, McpError>
    where
        S: Service<McpRequest, Response = McpResponse, Error = McpError>,
    {
        let (tx, mut rx) = mpsc::channel::<Outbound>(NOTIFICATION_QUEUE);
        let client = std::mem::replace(&mut req.ctx.downstream, Downstream::new(tx));
        let mut call = std::pin::pin!(inner.call(req));
        let mut open = true;
        let result = loop {
            tokio::select! {
                biased;
                frame = rx.recv(), if open => match frame {
                    Some(frame) => self.relay(&client, request, frame).await?,
                    None => open = false,
                },
                result = &mut call => break result,
            }
        };
        // Whatever was sent before the answer goes out before it.
        while let Ok(frame) = rx.try_recv() {
            self.relay(&client, request, frame).await?;
        }
        result
    }

    /// One notification through `on_notification`, then to the client (or dropped).
    async fn relay(
        &self,
        client: &Downstream,
        request: &Bytes,
        message: Outbound,
    ) -> Result<(), McpError> {
        // What the plugin sees is the JSON-RPC message; anything else passes.
        let Some(frame) = message.to_json() else {
            client.send(message);
            return Ok(());
        };
        let input = context::notification_json(request, &frame);
        match self.hook(Hook::Notification, Bytes::from(input)).await? {
            Outcome::Continue => {
                client.send(message);
            }
            Outcome::ContinueWith(params) => {
                self.expect_object(Hook::Notification, &params, "params")?;
                let method = message.method().unwrap_or_default().to_owned();
                client.send(Outbound::notification(&method, Some(&params)));
            }
            Outcome::Respond(_) | Outcome::Reject(_) => {
                tracing::debug!(plugin = self.plugin.name(), "plugin dropped a notification");
            }
        }
        Ok(())
    }

    /// Runs one hook on the blocking pool, bounded by the hook timeout; failures are logged
    /// with their details and become -32603.
    async fn hook(&self, hook: Hook, input: Bytes) -> Result<Outcome, McpError> {
        let plugin = self.plugin.clone();
        let task = tokio::task::spawn_blocking(move || plugin.call(hook, &input));
        let name = self.plugin.name();
        let outcome = match tokio::time::timeout(self.hook_timeout, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => Err(HookError::new(
                HookErrorKind::Failed,
                name,
                hook,
                format!("the hook's task failed: {join}"),
            )),
            Err(_) => Err(HookError::new(
                HookErrorKind::TimedOut,
                name,
                hook,
                format!("no answer within {:?}", self.hook_timeout),
            )),
        };
        outcome.map_err(|e| {
            tracing::error!(
                plugin = name,
                hook = %hook,
                kind = ?e.kind(),
                error = %e,
                "plugin hook failed; the request gets -32603"
            );
            McpError::from(e)
        })
    }

    fn expect_object(&self, hook: Hook, value: &RawValue, what: &str) -> Result<(), McpError> {
        if value.get().trim_start().starts_with('{') {
            return Ok(());
        }
        let e = HookError::new(
            HookErrorKind::BadOutput,
            self.plugin.name(),
            hook,
            format!("the new {what} must be a JSON object, got {}", value.get()),
        );
        tracing::error!(plugin = self.plugin.name(), hook = %hook, error = %e, "plugin hook failed; the request gets -32603");
        Err(McpError::from(e))
    }

    fn rejected(&self, req: &McpRequest, hook: Hook, e: McpError) -> McpError {
        tracing::info!(
            plugin = self.plugin.name(),
            hook = %hook,
            method = %req.method(),
            target = req.target().unwrap_or(""),
            code = e.code(),
            "plugin rejected the request: {}",
            e.message()
        );
        e
    }
}
