//! Traffic between upstreams: copy a share of one server's calls to another (answers
//! discarded), or send a weighted share of them to another version of the server.
//!
//! - [`MirrorLayer`] (`use: mirror`): a `share` of the `tools/call` and `prompts/get` requests
//!   for server `from` is also sent to server `to`'s item of the same name, in the background;
//!   the caller gets `from`'s answer as before, whatever `to` does.
//! - [`CanaryLayer`] (`use: canary`): a `weight` of those requests is served by `to` instead —
//!   per session by default, so one client's session stays on one version.
//!
//! Both go in the top-level `layers:` (they reach another upstream through the rest of the
//! stack) and need the gateway's catalog to name `to`'s item: from config the factories bind
//! it; in Rust, call `bind` with the assembled gateway's aggregate.
//!
//! ```
//! use toolgate_traffic::{CanaryLayer, MirrorLayer};
//!
//! let mirror = MirrorLayer::new().route("search", "search-next", 0.25);
//! let canary = CanaryLayer::new().route("search", "search-next", 0.1);
//! # let _ = (mirror, canary);
//! ```
//!
//! See `docs/policies/traffic.md`.

mod canary;
mod error;
mod factory;
mod mirror;
mod settings;
mod split;

pub use canary::{Canary, CanaryLayer};
pub use error::Error;
pub use factory::{CanaryFactory, MirrorFactory};
pub use mirror::{Mirror, MirrorLayer};
pub use settings::{CanaryRoute, CanarySettings, MirrorRoute, MirrorSettings};

/// The examples of `docs/policies/traffic.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/traffic.md")]
struct DocsPage;
