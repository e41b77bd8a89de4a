//! Keyed concurrency caps: at most `max` requests in flight per caller, server, tool, or any
//! mix. A request that finds its cap full is refused at once ("busy", `-31002`), never queued,
//! so a slow upstream cannot pile up unbounded work in the gateway.

mod future;
mod layer;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;

use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

pub use future::ResponseFuture;

pub use layer::ConcurrencyLimitLayer;

use crate::error::{BUSY_RETRY_HINT, Error, ErrorKind};
use crate::rules::{Facts, Key, Scope};
use crate::settings::ConcurrencyRule;

/// The compiled caps, shared by every clone of a layer and its services.
pub(crate) struct Caps {
    rules: Vec<Arc<Cap>>,
}

struct Cap {
    max: u32,
    scope: Scope,
    /// Requests in flight per key; a key is removed when its count drops to zero, so the table
    /// only ever holds keys with work in flight.
    inflight: Mutex<HashMap<Key, u32>>,
}

impl fmt::Debug for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|c| (c.max, &c.scope)))
            .finish()
    }
}

/// A slot a request holds in one concurrency cap while it runs; released on drop.
pub struct Permit {
    cap: Arc<Cap>,
    key: Option<Key>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("max", &self.cap.max)
            .finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut map = self.cap.inflight.lock();
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

impl Caps {
    pub(crate) fn new(rules: impl IntoIterator<Item = ConcurrencyRule>) -> Result<Caps, Error> {
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if r.max == 0 {
                    return Err(Error::settings(format!(
                        "rules[{i}]: max 0 would refuse every request; write max: 1 or more"
                    )));
                }
                let scope = Scope::new(&r.per, r.server.as_deref(), r.tool.as_deref())
                    .map_err(|e| Error::settings(format!("rules[{i}]: {e}")))?;
                Ok(Arc::new(Cap {
                    max: r.max,
                    scope,
                    inflight: Mutex::new(HashMap::new()),
                }))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if rules.is_empty() {
            return Err(Error::settings(
                "`rules` is empty: add at least one cap such as {max: 4, per: identity}",
            ));
        }
        Ok(Caps { rules })
    }

    pub(crate) fn servers(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|r| r.scope.server())
    }

    /// Takes a slot in every cap that applies, or none at all if one is full.
    pub(crate) fn acquire(&self, facts: &Facts) -> Result<Vec<Permit>, Error> {
        let mut permits = Vec::with_capacity(self.rules.len());
        for cap in &self.rules {
            let Some(key) = cap.scope.key(facts) else {
                continue;
            };
            let mut map = cap.inflight.lock();
            let n = map.entry(key.clone()).or_insert(0);
            if *n >= cap.max {
                drop(map);
                // `permits` drops here and gives back the slots taken from earlier caps.
                return Err(Error::rejected(
                    ErrorKind::Busy,
                    format!(
                        "busy: {} requests already in flight for {} (the limit); try again shortly",
                        cap.max,
                        cap.scope.describe(facts)
                    ),
                    BUSY_RETRY_HINT,
                    facts.server.as_deref(),
                    format!("max {} in flight", cap.max),
                    cap.scope.per_names(),
                ));
            }
            *n += 1;
            drop(map);
            permits.push(Permit {
                cap: cap.clone(),
                key: Some(key),
            });
        }
        Ok(permits)
    }

    #[cfg(test)]
    pub(crate) fn inflight_keys(&self) -> usize {
        self.rules.iter().map(|c| c.inflight.lock().len()).sum()
    }
}

/// Caps the requests in flight through an inner MCP service.
#[derive(Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    caps: Arc<Caps>,
}

impl<S: fmt::Debug> fmt::Debug for ConcurrencyLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("inner", &self.inner)
            .field("caps", &self.caps)
            .finish()
    }
}

impl<S> ConcurrencyLimit<S> {
    pub(crate) fn from_parts(inner: S, caps: Arc<Caps>) -> Self {
        ConcurrencyLimit { inner, caps }
    }
    /// Wraps `inner` with the caps of `layer` (sharing its counts).
    pub fn new(inner: S, layer: &ConcurrencyLimitLayer) -> Self {
        layer.wrap(inner)
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

impl<S> Service<McpRequest> for ConcurrencyLimit<S>
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
        let facts = Facts::of(&req);
        match self.caps.acquire(&facts) {
            Ok(permits) => ResponseFuture::called(self.inner.call(req), permits),
            Err(e) => ResponseFuture::rejected(e.into()),
        }
    }
}
