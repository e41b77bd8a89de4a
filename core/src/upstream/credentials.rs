//! What a remote upstream is shown besides its static headers: the gateway's own OAuth token
//! (client credentials), and — for calls made on a caller's behalf — the caller's JWT
//! exchanged for an upstream token (RFC 8693) or, when explicitly allowed, passed through.
//!
//! The gateway's own token goes on every request of the connection (`initialize`, listings,
//! the GET stream, notifications) and is refreshed once when the upstream answers 401. The
//! caller's token is added per call by [`ActForCaller`], a layer just above the connection in
//! the upstream's stack: it goes on that call's POST only, as its `Authorization` header. A
//! client's credential is never forwarded unless `forward_authorization` says so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderValue;
use http::header::AUTHORIZATION;
use tower::{Layer, Service};

use super::UpstreamHeaders;
use crate::envelope::{CallerToken, McpRequest, McpResponse};
use crate::error::{ErrorKind, McpError};
use crate::http::{Client, TlsOptions};
use crate::oauth::{Grant, OAuthSettings, TokenExchange, TokenSource};

/// How the gateway authenticates to one remote upstream, beyond static headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamAuth {
    /// An OAuth client: its client-credentials token on every request; with
    /// [`Grant::TokenExchange`], callers' JWTs exchanged for their calls.
    pub oauth: Option<OAuthSettings>,
    /// Calls made for a caller carry the caller's own validated JWT, unchanged. Only for
    /// upstreams that accept tokens of the gateway's issuer; off by default.
    pub forward_authorization: bool,
}

impl UpstreamAuth {
    /// The gateway's own OAuth client for this upstream.
    #[must_use]
    pub fn oauth(mut self, settings: OAuthSettings) -> Self {
        self.oauth = Some(settings);
        self
    }
    /// Passes callers' JWTs through (see the field).
    #[must_use]
    pub fn forward_authorization(mut self, yes: bool) -> Self {
        self.forward_authorization = yes;
        self
    }
    /// Whether calls need the caller's token.
    pub fn acts_for_callers(&self) -> bool {
        self.forward_authorization
            || self
                .oauth
                .as_ref()
                .is_some_and(|o| o.grant == Grant::TokenExchange)
    }
}

/// The runtime side of an [`UpstreamAuth`]: token caches, shared by the connection and the
/// per-call layer.
#[derive(Debug)]
pub(crate) struct Credentials {
    name: Arc<str>,
    own: Option<TokenSource>,
    exchange: Option<TokenExchange>,
    forward: bool,
}

impl Credentials {
    /// Builds the token caches; the token endpoint is reached with the upstream's own trust
    /// settings (minus its `server_name`, which names the upstream, not the endpoint).
    pub(crate) fn new(
        name: &Arc<str>,
        auth: &UpstreamAuth,
        tls: &TlsOptions,
        timeout: Duration,
    ) -> Result<Self, String> {
        let (own, exchange) = match &auth.oauth {
            None => (None, None),
            Some(settings) => {
                let mut tls = tls.clone();
                tls.server_name = None;
                let client = Client::builder()
                    .connect_timeout(timeout)
                    .tls(tls)
                    .build()
                    .map_err(|e| format!("oauth: {e}"))?;
                let exchange = (settings.grant == Grant::TokenExchange)
                    .then(|| TokenExchange::new(settings.clone(), client.clone(), timeout));
                (
                    Some(TokenSource::new(settings.clone(), client, timeout)),
                    exchange,
                )
            }
        };
        Ok(Credentials {
            name: name.clone(),
            own,
            exchange,
            forward: auth.forward_authorization,
        })
    }

    /// No credentials beyond static headers.
    pub(crate) fn none(name: &Arc<str>) -> Self {
        Credentials {
            name: name.clone(),
            own: None,
            exchange: None,
            forward: false,
        }
    }

    /// The `Authorization` value of the gateway's own requests, if it has a token source.
    pub(crate) async fn own_authorization(&self) -> Result<Option<HeaderValue>, McpError> {
        let Some(source) = &self.own else {
            return Ok(None);
        };
        let token = source.token().await.map_err(|e| {
            McpError::upstream_unavailable(
                &self.name,
                format!("upstream '{}': no OAuth token: {e}", self.name),
            )
        })?;
        bearer(&token).map(Some).map_err(|()| {
            McpError::upstream_unavailable(
                &self.name,
                format!(
                    "upstream '{}': the token endpoint issued a token that is not a valid header value",
                    self.name
                ),
            )
        })
    }

    /// The upstream refused `value` (401): the next own request fetches a new token. Returns
    /// whether it was the gateway's own token (worth one retry).
    pub(crate) async fn refused(&self, value: &HeaderValue) -> bool {
        let (Some(source), Some(token)) = (
            &self.own,
            value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")),
        ) else {
            return false;
        };
        source.invalidate(token).await;
        true
    }

    fn acts_for_callers(&self) -> bool {
        self.forward || self.exchange.is_some()
    }

    /// The `Authorization` value of a call made for the holder of `caller`.
    async fn caller_authorization(&self, caller: &CallerToken) -> Result<HeaderValue, McpError> {
        let token: Arc<str> = match &self.exchange {
            Some(exchange) => exchange.exchange(caller.secret()).await.map_err(|e| {
                McpError::gateway(
                    ErrorKind::UpstreamUnavailable,
                    &self.name,
                    false,
                    format!(
                        "upstream '{}': the caller's token could not be exchanged: {e}",
                        self.name
                    ),
                )
            })?,
            None => caller.secret().into(),
        };
        bearer(&token).map_err(|()| {
            McpError::gateway(
                ErrorKind::UpstreamUnavailable,
                &self.name,
                false,
                format!(
                    "upstream '{}': the token is not a valid header value",
                    self.name
                ),
            )
        })
    }
}

fn bearer(token: &str) -> Result<HeaderValue, ()> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Whom a call to an upstream that acts for callers is made for: set by [`ActForCaller`] in
/// the request's extensions. Transports that bind a session to its credentials (Streamable
/// HTTP) keep one upstream session per `key`.
#[derive(Clone)]
pub struct UpstreamCaller {
    /// The caller's stable name (their identity's subject).
    pub key: Arc<str>,
    /// The `Authorization` value their calls carry.
    pub authorization: HeaderValue,
}

impl std::fmt::Debug for UpstreamCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCaller")
            .field("key", &self.key)
            .field("authorization", &"<redacted>")
            .finish()
    }
}

/// Puts the caller's (exchanged or forwarded) token on each call to an upstream that acts on
/// callers' behalf. A call without a validated caller JWT is refused: falling back to the
/// gateway's own credential would let any caller act with the gateway's rights.
#[derive(Clone, Debug)]
pub struct ActForCaller<S> {
    inner: S,
    credentials: Arc<Credentials>,
}

impl<S> ActForCaller<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// [`ActForCaller`] as a layer; built by the upstream for its own stack.
#[derive(Clone, Debug)]
pub struct ActForCallerLayer {
    credentials: Arc<Credentials>,
}

impl ActForCallerLayer {
    /// `None` when the upstream does not act for callers.
    pub(crate) fn new(credentials: &Arc<Credentials>) -> Option<Self> {
        credentials.acts_for_callers().then(|| ActForCallerLayer {
            credentials: credentials.clone(),
        })
    }
}

impl<S> Layer<S> for ActForCallerLayer {
    type Service = ActForCaller<S>;
    fn layer(&self, inner: S) -> ActForCaller<S> {
        ActForCaller {
            inner,
            credentials: self.credentials.clone(),
        }
    }
}

impl<S> Service<McpRequest> for ActForCaller<S>
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

    fn call(&mut self, mut req: McpRequest) -> Self::Future {
        let credentials = self.credentials.clone();
        // The clone took no readiness: swap, so the ready one serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(caller) = req.ctx.extensions.get::<CallerToken>().cloned() else {
                let what = if credentials.exchange.is_some() {
                    "exchanges the caller's token for its own (oauth grant token_exchange)"
                } else {
                    "receives the caller's token (forward_authorization)"
                };
                return Err(McpError::gateway(
                    ErrorKind::UpstreamUnauthorized,
                    &credentials.name,
                    false,
                    format!(
                        "upstream '{}' {what}, and this request carries no JWT validated by the \
                         gateway (authenticate with a bearer JWT through `use: auth`)",
                        credentials.name
                    ),
                ));
            };
            let value = credentials.caller_authorization(&caller).await?;
            let key: Arc<str> = match &req.ctx.identity {
                Some(identity) => identity.subject.as_str().into(),
                None => hex_digest(caller.secret()).into(),
            };
            req.ctx.extensions.insert(UpstreamCaller {
                key,
                authorization: value.clone(),
            });
            let headers = &mut req.ctx.extensions;
            match headers.get_mut::<UpstreamHeaders>() {
                Some(h) => {
                    h.0.insert(AUTHORIZATION, value);
                }
                None => {
                    let mut h = http::HeaderMap::new();
                    h.insert(AUTHORIZATION, value);
                    headers.insert(UpstreamHeaders(h));
                }
            }
            let result = inner.call(req).await;
            if let (Err(e), Some(exchange)) = (&result, &credentials.exchange)
                && e.kind() == ErrorKind::UpstreamUnauthorized
            {
                exchange.invalidate(caller.secret());
            }
            result
        })
    }
}

fn hex_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
