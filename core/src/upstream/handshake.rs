//! The `initialize` handshake, with rmcp model types, shared by every upstream transport.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    ClientCapabilities, Implementation, InitializeRequestParams, InitializeResult, ProtocolVersion,
};
use tokio_util::sync::CancellationToken;

use super::link::Link;
use super::table;
use super::{ReadyInfo, Shared, unavailable};
use crate::error::McpError;
use crate::jsonrpc::{notification_frame, to_raw};
use crate::session::Downstream;

/// The version toolgate asks upstreams for: the newest that still has `initialize`.
pub(crate) fn requested_version() -> ProtocolVersion {
    ProtocolVersion::LATEST_WITH_INITIALIZE
}

/// Runs `initialize` + `notifications/initialized` on a fresh link.
pub(crate) async fn initialize(shared: &Arc<Shared>, link: &Link) -> Result<ReadyInfo, McpError> {
    let params = InitializeRequestParams::new(
        relay_capabilities(),
        Implementation::new("toolgate", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(requested_version());
    let raw = to_raw(&params)?;
    let never = CancellationToken::new();
    let no_headers = http::HeaderMap::new();
    let call = table::call(
        shared,
        link,
        "initialize",
        Some(&raw),
        Downstream::none(),
        &never,
        &no_headers,
    );
    let result = tokio::time::timeout(shared.options.connect_timeout, call)
        .await
        .map_err(|_| {
            unavailable(
                shared,
                format_args!(
                    "did not answer initialize within {:?}",
                    shared.options.connect_timeout
                ),
            )
        })??;
    let init: InitializeResult = serde_json::from_str(result.get()).map_err(|e| {
        unavailable(
            shared,
            format_args!("sent an invalid initialize result: {e}"),
        )
    })?;
    if !ProtocolVersion::KNOWN_VERSIONS.contains(&init.protocol_version) {
        return Err(unavailable(
            shared,
            format_args!(
                "wants protocol version {} which toolgate does not speak",
                init.protocol_version
            ),
        ));
    }
    // Awaited: the server must have taken `initialized` before the first listing follows
    // (over HTTP a spawned POST could lose that race, and the first tools/list would fail).
    link.deliver(
        shared,
        notification_frame("notifications/initialized", None),
    )
    .await;
    Ok(ReadyInfo {
        protocol_version: init.protocol_version,
        server_info: init.server_info,
        capabilities: init.capabilities,
        instructions: init.instructions,
        since: Instant::now(),
    })
}

/// What toolgate tells upstreams it can do as their client: everything it can relay to the
/// client a request comes from (sampling, elicitation in both modes, roots). Whether that
/// client can, is checked per request; one that cannot gets -32601 with the reason.
fn relay_capabilities() -> ClientCapabilities {
    serde_json::from_value(serde_json::json!({
        "roots": {},
        "sampling": {},
        "elicitation": {"form": {}, "url": {}},
    }))
    .unwrap_or_default()
}
