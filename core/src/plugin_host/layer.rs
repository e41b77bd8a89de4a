//! [`DylibLayer`]: wraps an MCP-plane service in a plugin's hooks.

use std::time::Duration;

use tower::Layer;

use super::{DEFAULT_HOOK_TIMEOUT, Dylib, LoadedPlugin};

/// Applies a loaded plugin to every request of the wrapped service; see [`Dylib`].
#[derive(Clone, Debug)]
pub struct DylibLayer {
    plugin: LoadedPlugin,
    hook_timeout: Duration,
}

impl DylibLayer {
    /// A layer running `plugin`'s hooks, each bounded by the default hook timeout (30 s).
    pub fn new(plugin: LoadedPlugin) -> Self {
        DylibLayer {
            plugin,
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }

    /// How long one hook call may take before the request fails with -32603.
    #[must_use]
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }
}

impl<S> Layer<S> for DylibLayer {
    type Service = Dylib<S>;

    fn layer(&self, inner: S) -> Dylib<S> {
        Dylib::new(inner, self.plugin.clone()).with_hook_timeout(self.hook_timeout)
    }
}
