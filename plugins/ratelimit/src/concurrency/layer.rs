//! [`ConcurrencyLimitLayer`]: builds [`ConcurrencyLimit`] services that share one set of counts.

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::{Caps, ConcurrencyLimit};
use crate::error::Error;
use crate::settings::{ConcurrencyLimitSettings, ConcurrencyRule};

/// Applies concurrency caps; every service it makes (and every clone of it) shares the counts.
///
/// ```
/// use toolgate_ratelimit::{ConcurrencyLimitLayer, ConcurrencyRule, Dimension};
///
/// let layer = ConcurrencyLimitLayer::new([ConcurrencyRule::new(4).per(Dimension::Identity)])?;
/// # Ok::<(), toolgate_ratelimit::Error>(())
/// ```
#[derive(Clone)]
pub struct ConcurrencyLimitLayer {
    caps: Arc<Caps>,
}

impl fmt::Debug for ConcurrencyLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitLayer")
            .field("caps", &self.caps)
            .finish()
    }
}

impl ConcurrencyLimitLayer {
    /// A layer enforcing `rules` (at least one).
    pub fn new(rules: impl IntoIterator<Item = ConcurrencyRule>) -> Result<Self, Error> {
        Ok(ConcurrencyLimitLayer {
            caps: Arc::new(Caps::new(rules)?),
        })
    }
    /// A layer from config-file settings.
    pub fn from_settings(settings: ConcurrencyLimitSettings) -> Result<Self, Error> {
        Self::new(settings.rules)
    }
    /// The servers the caps name (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.caps.servers()
    }
    pub(crate) fn wrap<S>(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit::from_parts(inner, self.caps.clone())
    }
    #[cfg(test)]
    pub(crate) fn caps(&self) -> &Caps {
        &self.caps
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        self.wrap(inner)
    }
}
