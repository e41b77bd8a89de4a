//! The dispatcher: where every inbound transport ends.
//!
//! It answers what belongs to the session itself — `initialize` (version negotiation with rmcp
//! types), `ping`, `server/discover`, `notifications/cancelled` — and turns every other request
//! into an [`McpRequest`] for the MCP-plane stack. The caller's id is kept here and put back on
//! the answer, so nothing below ever sees or reuses a client's id. The stack can be replaced
//! while requests run ([`Dispatcher::replace_service`], for config reload): each request uses
//! the stack that was current when it arrived.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use rmcp::model::{
    DiscoverResult, Implementation, InitializeRequestParams, InitializeResult, PromptsCapability,
    ProtocolVersion, ResourcesCapability, ServerCapabilities, ToolsCapability,
};
use serde_json::value::RawValue;
use tower::ServiceExt;

use crate::envelope::{Identity, McpContext, McpRequest, McpService};
use crate::error::McpError;
use crate::input_required::Suspensions;
use crate::jsonrpc::{
    JsonRpcRequest, Message, Method, RequestId, error_frame, response_frame, to_raw,
};
use crate::session::{Downstream, Session};

/// Turns inbound messages into calls on the MCP-plane stack.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    service: ArcSwap<McpService>,
    server_info: Implementation,
    instructions: Option<String>,
    capabilities: ServerCapabilities,
    /// Adjusts the capabilities to what the upstreams support, when a client asks for them.
    adjust: Option<AdjustCapabilities>,
    /// 2026-07-28 clients' calls waiting for their input.
    suspensions: Arc<Suspensions>,
}

/// See [`Dispatcher::with_capabilities_from`].
type AdjustCapabilities = Arc<dyn Fn(&mut ServerCapabilities) + Send + Sync>;

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("server_info", &self.server_info)
            .field("capabilities", &self.capabilities)
            .field("adjusted", &self.adjust.is_some())
            .finish()
    }
}

/// Per-message facts from the transport.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Where notifications for this request's caller go.
    pub downstream: Downstream,
    /// The caller, if the HTTP plane established one.
    pub identity: Option<Identity>,
    /// Request extensions from the HTTP plane.
    pub extensions: http::Extensions,
}

impl Dispatcher {
    /// A dispatcher in front of `service`.
    pub fn new(service: McpService) -> Self {
        let mut capabilities = ServerCapabilities::default();
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(true);
        let mut prompts = PromptsCapability::default();
        prompts.list_changed = Some(true);
        let mut resources = ResourcesCapability::default();
        resources.list_changed = Some(true);
        resources.subscribe = Some(true);
        capabilities.tools = Some(tools);
        capabilities.prompts = Some(prompts);
        capabilities.resources = Some(resources);
        capabilities.completions = Some(Default::default());
        capabilities.logging = Some(Default::default());
        Dispatcher {
            inner: Arc::new(Inner {
                service: ArcSwap::from_pointee(service),
                server_info: Implementation::new("toolgate", env!("CARGO_PKG_VERSION")),
                instructions: None,
                capabilities,
                adjust: None,
                suspensions: Arc::default(),
            }),
        }
    }

    /// Adjusts the capabilities each client is told (in `initialize` and `server/discover`)
    /// with `adjust` — to what the upstreams behind the gateway support right now.
    #[must_use]
    pub fn with_capabilities_from(
        self,
        adjust: impl Fn(&mut ServerCapabilities) + Send + Sync + 'static,
    ) -> Self {
        let inner = Inner {
            service: ArcSwap::new(self.inner.service.load_full()),
            server_info: self.inner.server_info.clone(),
            instructions: self.inner.instructions.clone(),
            capabilities: self.inner.capabilities.clone(),
            adjust: Some(Arc::new(adjust)),
            suspensions: self.inner.suspensions.clone(),
        };
        Dispatcher {
            inner: Arc::new(inner),
        }
    }

    /// The same dispatcher — server info, instructions, capabilities — in front of another
    /// `service` (a restricted view of the gateway served at another path, say).
    #[must_use]
    pub fn over(&self, service: McpService) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                service: ArcSwap::from_pointee(service),
                server_info: self.inner.server_info.clone(),
                instructions: self.inner.instructions.clone(),
                capabilities: self.inner.capabilities.clone(),
                adjust: self.inner.adjust.clone(),
                suspensions: Arc::default(),
            }),
        }
    }

    /// The capabilities a client is told now.
    fn capabilities(&self) -> ServerCapabilities {
        let mut capabilities = self.inner.capabilities.clone();
        if let Some(adjust) = &self.inner.adjust {
            adjust(&mut capabilities);
        }
        capabilities
    }

    /// Sets the `instructions` sent in `initialize`.
    #[must_use]
    pub fn with_instructions(self, instructions: impl Into<String>) -> Self {
        let inner = Inner {
            service: ArcSwap::new(self.inner.service.load_full()),
            server_info: self.inner.server_info.clone(),
            instructions: Some(instructions.into()),
            capabilities: self.inner.capabilities.clone(),
            adjust: self.inner.adjust.clone(),
            suspensions: self.inner.suspensions.clone(),
        };
        Dispatcher {
            inner: Arc::new(inner),
        }
    }

    /// The MCP-plane stack requests go to now.
    pub fn service(&self) -> McpService {
        McpService::clone(&self.inner.service.load())
    }

    /// Replaces the MCP-plane stack for every transport using this dispatcher (and its clones);
    /// requests already running finish on the old one. Returns the old stack.
    pub fn replace_service(&self, service: McpService) -> McpService {
        let old = self.inner.service.swap(Arc::new(service));
        Arc::unwrap_or_clone(old)
    }

    /// The protocol version answered to a client that asked for `requested`.
    pub fn negotiate(requested: &ProtocolVersion) -> ProtocolVersion {
        if ProtocolVersion::KNOWN_VERSIONS.contains(requested) && requested.has_initialize() {
            requested.clone()
        } else {
            ProtocolVersion::LATEST_WITH_INITIALIZE
        }
    }

    /// Handles one parsed message; returns the frame to send back, if any (requests always get
    /// one unless cancelled; notifications and responses never do).
    pub async fn handle(
        &self,
        session: &Arc<Session>,
        msg: Message,
        inbound: Inbound,
    ) -> Option<Bytes> {
        match msg {
            Message::Request(req) => self.request(session, req, inbound).await,
            Message::Notification { method, params } => {
                self.notification(session, &method, params.as_deref());
                None
            }
            // The client's answer to a request relayed from an upstream.
            Message::Response { id, outcome } => {
                let outcome = outcome.map_err(|raw| McpError::from_error_object(&raw));
                if !session.peer().answer(&id, outcome) {
                    tracing::debug!("a client answered a request nobody waits for");
                }
                None
            }
        }
    }

    /// Handles a request; `None` only when it was cancelled.
    pub async fn request(
        &self,
        session: &Arc<Session>,
        req: JsonRpcRequest,
        inbound: Inbound,
    ) -> Option<Bytes> {
        let id = req.id.clone();
        // 2026-07-28 results are stamped with what that version requires of them.
        let modern = (session.info().protocol_version() == Some(&ProtocolVersion::V_2026_07_28))
            .then(|| req.method.clone());
        let result = match req.method {
            Method::Initialize => self.initialize(session, &req),
            Method::Ping => to_raw(&serde_json::json!({})),
            Method::ServerDiscover => self.discover(),
            _ if session.info().is_stateless() => self.stateless(session, req, inbound).await,
            _ => match session.begin(&id) {
                // The entry is forgotten when `inflight` drops: at the end of this request, or
                // when its future is dropped because the client went away.
                Some(inflight) => {
                    let ctx = McpContext {
                        session: session.info().clone(),
                        identity: inbound.identity,
                        downstream: inbound.downstream.with_peer(session),
                        cancel: inflight.token().clone(),
                        extensions: inbound.extensions,
                    };
                    let out = self.service().oneshot(McpRequest::new(req, ctx)).await;
                    drop(inflight);
                    out.map(|r| r.result)
                }
                None => Err(McpError::invalid_request(format!(
                    "request id {} is already in flight in this session: use a new id for each request",
                    display_id(&id)
                ))),
            },
        };
        match result {
            Ok(raw) => match &modern {
                Some(method) => Some(response_frame(
                    &id,
                    &crate::server::stamp_modern_result(method, &raw),
                )),
                None => Some(response_frame(&id, &raw)),
            },
            Err(e) if e.is_cancelled() => None,
            Err(e) => Some(error_frame(Some(&id), &e)),
        }
    }

    /// A 2026-07-28 request: a retry carrying `requestState` resumes the call it names; any
    /// other runs with requests for the client turned into `input_required` results.
    async fn stateless(
        &self,
        session: &Arc<Session>,
        req: JsonRpcRequest,
        inbound: Inbound,
    ) -> Result<Box<RawValue>, McpError> {
        let suspensions = &self.inner.suspensions;
        if let Some(outcome) = suspensions.resume(req.params.as_deref()).await {
            return outcome;
        }
        let Some(inflight) = session.begin(&req.id) else {
            return Err(McpError::invalid_request("request id already in flight"));
        };
        let (input, inputs) = tokio::sync::mpsc::channel(4);
        let ctx = McpContext {
            session: session.info().clone(),
            identity: inbound.identity,
            downstream: inbound.downstream.with_peer(session).with_input(input),
            cancel: inflight.token().clone(),
            extensions: inbound.extensions,
        };
        let service = self.service();
        let request = McpRequest::new(req, ctx);
        let call = async move {
            let out = service.oneshot(request).await;
            drop(inflight);
            out.map(|r| r.result)
        };
        suspensions.run(call, inputs).await
    }

    /// Handles a notification from the client.
    pub fn notification(&self, session: &Session, method: &Method, params: Option<&RawValue>) {
        if method.as_str() == "notifications/cancelled" {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Cancelled {
                request_id: RequestId,
            }
            if let Some(p) = params
                && let Ok(c) = serde_json::from_str::<Cancelled>(p.get())
            {
                session.cancel(&c.request_id);
            }
        }
    }

    fn initialize(
        &self,
        session: &Session,
        req: &JsonRpcRequest,
    ) -> Result<Box<RawValue>, McpError> {
        let params: InitializeRequestParams = req.params_as()?;
        let version = Self::negotiate(&params.protocol_version);
        if !session
            .info()
            .set_initialized(version.clone(), params.client_info, params.capabilities)
        {
            return Err(McpError::invalid_request(
                "the session is already initialized",
            ));
        }
        let mut result = InitializeResult::new(self.capabilities())
            .with_server_info(self.inner.server_info.clone())
            .with_protocol_version(version);
        result.instructions = self.inner.instructions.clone();
        to_raw(&result)
    }

    fn discover(&self) -> Result<Box<RawValue>, McpError> {
        let mut result = DiscoverResult::new(
            ProtocolVersion::KNOWN_VERSIONS.to_vec(),
            self.capabilities(),
        );
        result.instructions = self.inner.instructions.clone();
        to_raw(&result)
    }
}

/// A request id as the client wrote it, for messages.
fn display_id(id: &RequestId) -> String {
    match id {
        RequestId::Number(n) => n.to_string(),
        RequestId::String(s) => format!("{:?}", s.as_ref()),
    }
}
