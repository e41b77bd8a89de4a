//! A response cache for toolgate's MCP plane, with request coalescing: `resources/read`,
//! `prompts/get`, and `tools/call` of tools that change nothing.
//!
//! [`CacheLayer`] (`use: cache`) answers a request from the cache when the same request (same
//! method, upstream and params, `_meta` aside) was answered within its time to live, and
//! sends concurrent identical requests upstream once: the first goes, the others wait for
//! its answer. Entries live for the upstream's `ttlMs` (2026-07-28 cache hints, capped by
//! `max_ttl`) or the layer's `ttl`; results the upstream marks `cacheScope: "private"` — and,
//! unless `shared: true`, results it says nothing about — are kept per caller. Tool errors
//! (`isError: true`), JSON-RPC errors and `ttlMs: 0` are never kept. A list change drops the
//! entries it may have made stale; `notifications/resources/updated` drops that resource's.
//!
//! The store is [moka](https://docs.rs/moka)'s concurrent cache (size-bounded, TinyLFU,
//! per-entry expiry); its `try_get_with` does the coalescing.
//!
//! ```
//! use std::time::Duration;
//! use toolgate_cache::CacheLayer;
//!
//! let layer = CacheLayer::new()
//!     .ttl(Duration::from_secs(30))
//!     .max_entries(10_000)
//!     .tool("get_forecast");
//! # let _ = layer;
//! ```
//!
//! See `docs/policies/cache.md`.

mod error;
mod factory;
mod key;
mod layer;
mod remote;
mod service;
mod settings;
mod store;

pub use error::Error;
pub use factory::CacheFactory;
pub use layer::CacheLayer;
pub use service::Cache;
pub use settings::{CacheSettings, Store};

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/cache.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/cache.md")]
struct DocsPage;
