//! [`Cache`]: answers from the store, or sends the request once for every identical one
//! waiting, and keeps the answer as it allows.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use serde_json::value::RawValue;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::key::key_of;
use crate::layer::Shared;
use crate::store::{Entry, Keep, keep};

/// The cache over an inner MCP service. Made by [`CacheLayer`](crate::CacheLayer).
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Cache<S> {
    pub(crate) fn from_parts(inner: S, shared: Arc<Shared>) -> Self {
        Cache { inner, shared }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// How filling an entry ended when nothing was stored under the caller's key; every request
/// coalesced on it gets the same.
enum Fill {
    /// The upstream failed: everyone waiting gets the error.
    Failed(McpError),
    /// An answer that may not be kept (a tool error, `ttlMs: 0`): everyone waiting gets it.
    NotKept(Box<RawValue>),
    /// An answer kept for every caller, under the shared key.
    Shared(Arc<Entry>),
}

fn answer(entry: &Entry) -> McpResponse {
    McpResponse::new(entry.result.clone())
}

impl<S> Service<McpRequest> for Cache<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let Some(key) = key_of(&req, &self.shared.policy) else {
            return Box::pin(self.inner.call(req));
        };
        // The ready service goes with the request; this one gets a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let public = key.shared();
            let stats = &shared.stats;
            if let Some(hit) = shared.store.get(&public).await {
                stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(answer(&hit));
            }
            if let Some(hit) = shared.store.get(&key).await {
                stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(answer(&hit));
            }
            // A miss: the first request for the key goes upstream, identical ones from the
            // same caller wait for its answer.
            let fill = {
                let shared = shared.clone();
                let key = key.clone();
                async move {
                    // What another replica kept, in the shared store (`store: redis`).
                    if let Some(remote) = &shared.remote {
                        if let Some((result, ttl)) = remote.get(&public).await {
                            shared.stats.hits.fetch_add(1, Ordering::Relaxed);
                            let entry = Arc::new(Entry { result, ttl });
                            shared.store.insert(public, entry.clone()).await;
                            return Err(Fill::Shared(entry));
                        }
                        if let Some((result, ttl)) = remote.get(&key).await {
                            shared.stats.hits.fetch_add(1, Ordering::Relaxed);
                            return Ok(Arc::new(Entry { result, ttl }));
                        }
                    }
                    shared.stats.upstream.fetch_add(1, Ordering::Relaxed);
                    let response = inner.call(req).await.map_err(Fill::Failed)?;
                    match keep(&response.result, &shared.policy) {
                        Keep::No => Err(Fill::NotKept(response.result)),
                        Keep::PerCaller(ttl) => {
                            if let Some(remote) = &shared.remote {
                                remote.put(&key, &response.result, ttl);
                            }
                            Ok(Arc::new(Entry {
                                result: response.result,
                                ttl,
                            }))
                        }
                        Keep::Shared(ttl) => {
                            if let Some(remote) = &shared.remote {
                                remote.put(&public, &response.result, ttl);
                            }
                            let entry = Arc::new(Entry {
                                result: response.result,
                                ttl,
                            });
                            shared.store.insert(public, entry.clone()).await;
                            Err(Fill::Shared(entry))
                        }
                    }
                }
            };
            match shared.store.try_get_with(key, fill).await {
                Ok(entry) => Ok(answer(&entry)),
                Err(fill) => match &*fill {
                    Fill::Failed(e) => Err(e.clone()),
                    Fill::NotKept(result) => Ok(McpResponse::new(result.clone())),
                    Fill::Shared(entry) => Ok(answer(entry)),
                },
            }
        })
    }
}
