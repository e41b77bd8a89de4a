//! A created plugin instance behind its C vtable, with safe, blocking calls.
//!
//! [`LoadedPlugin`] owns one instance (made by the plugin's `create` from its config) and the
//! `'static` vtable of its library, which is never unloaded. Calls copy the plugin's output and
//! hand its buffer back to the plugin's own `free_buffer`.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;
use toolgate_plugin_sdk::abi::{self, Buffer, HookFn, HostApi, PluginVTable, status};
use toolgate_plugin_sdk::{Interests, Plugin};

use super::error::{Hook, HookError, HookErrorKind};
use crate::error::{ErrorKind, McpError, code};

/// What a hook decided, checked and ready for the gateway.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Go on unchanged.
    Continue,
    /// Go on with this JSON (new params, result or notification params).
    ContinueWith(Box<RawValue>),
    /// Answer with this result.
    Respond(Box<RawValue>),
    /// Fail the request.
    Reject(McpError),
}

/// A plugin instance, ready to be called from any thread.
#[derive(Clone)]
pub struct LoadedPlugin {
    inner: Arc<Instance>,
}

struct Instance {
    vtable: &'static PluginVTable,
    ptr: *mut c_void,
    name: String,
    version: String,
    path: PathBuf,
    interests: Interests,
}

// SAFETY: the instance is a `Box<P>` with `P: toolgate_plugin_sdk::Plugin`, which is `Send +
// Sync`; the vtable is immutable static data of a library that is never unloaded.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from this vtable's `create` and is destroyed exactly once, here.
        let _ = unsafe { (self.vtable.destroy)(self.ptr) };
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("path", &self.inner.path)
            .field("interests", &self.inner.interests)
            .finish()
    }
}

/// Why `create` failed (the loader turns it into a `LoadError`).
#[derive(Debug)]
pub(crate) enum CreateError {
    /// The plugin's name or version is not UTF-8.
    BadIdentity,
    /// The plugin refused its config (message from the plugin).
    Refused(String),
    /// `create` panicked.
    Panicked(String),
    /// `interests` failed or answered garbage.
    Interests(String),
}

impl LoadedPlugin {
    /// A plugin compiled into this program rather than loaded from a file: the same hooks, the
    /// same JSON boundary and `catch_unwind`, no `dlopen`. `config` is handed to `P::new` as
    /// it is (not checked against the schema; use [`PluginHost`](super::PluginHost) for that).
    pub fn linked<P: Plugin>(config: &Value) -> Result<LoadedPlugin, String> {
        // One small vtable per call, leaked: it must be 'static like a library's.
        let vtable: &'static PluginVTable =
            Box::leak(Box::new(toolgate_plugin_sdk::ffi::vtable::<P>()));
        // SAFETY: the vtable was made by the SDK for `P` in this very binary.
        unsafe { Self::create(vtable, config, Path::new(&format!("<linked {}>", P::NAME))) }
            .map_err(|e| match e {
                CreateError::BadIdentity => "the plugin's name is not UTF-8".to_owned(),
                CreateError::Refused(m) | CreateError::Panicked(m) | CreateError::Interests(m) => m,
            })
    }

    /// Creates an instance from `config` through `vtable`.
    ///
    /// # Safety
    /// `vtable` must be a vtable of [`abi::ABI_VERSION`] whose functions follow the ABI (made
    /// by the SDK's `export_plugin!`), in a library that stays loaded.
    pub(crate) unsafe fn create(
        vtable: &'static PluginVTable,
        config: &Value,
        path: &Path,
    ) -> Result<LoadedPlugin, CreateError> {
        // SAFETY: the vtable's strings are static data of the plugin (caller's promise).
        let (name, version) = unsafe { (vtable.name.as_str(), vtable.version.as_str()) };
        let (Some(name), Some(version)) = (name, version) else {
            return Err(CreateError::BadIdentity);
        };
        // The plugin keeps the log context for as long as it is loaded, that is for ever.
        let label: &'static String = Box::leak(Box::new(name.to_owned()));
        let host = HostApi {
            abi_version: abi::ABI_VERSION,
            ctx: std::ptr::from_ref(label).cast(),
            log: host_log,
        };
        let config = serde_json::to_vec(config).unwrap_or_else(|_| b"{}".to_vec());
        let mut ptr: *mut c_void = std::ptr::null_mut();
        let mut out = Buffer::empty();
        // SAFETY: every pointer is valid for the call; the vtable follows the ABI.
        let code =
            unsafe { (vtable.create)(&host, config.as_ptr(), config.len(), &mut ptr, &mut out) };
        // SAFETY: `out` was filled by this vtable's plugin.
        let message = unsafe { take(vtable, out) };
        let text = || String::from_utf8_lossy(&message).into_owned();
        match code {
            status::OK if !ptr.is_null() => {}
            status::PANIC => return Err(CreateError::Panicked(format!("panicked: {}", text()))),
            status::ERROR => return Err(CreateError::Refused(text())),
            other => {
                return Err(CreateError::Refused(format!(
                    "create returned status {other} without an instance"
                )));
            }
        }
        let mut instance = Instance {
            vtable,
            ptr,
            name: name.to_owned(),
            version: version.to_owned(),
            path: path.to_path_buf(),
            interests: Interests::none(),
        };
        let mut out = Buffer::empty();
        // SAFETY: a live instance of this vtable and a valid out-pointer.
        let code = unsafe { (vtable.interests)(instance.ptr, &mut out) };
        // SAFETY: filled by this vtable's plugin.
        let bytes = unsafe { take(vtable, out) };
        if code != status::OK {
            return Err(CreateError::Interests(format!(
                "interests failed: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        instance.interests = serde_json::from_slice(&bytes)
            .map_err(|e| CreateError::Interests(format!("interests are not valid JSON: {e}")))?;
        Ok(LoadedPlugin {
            inner: Arc::new(instance),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.inner.version
    }
    /// The library it came from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// Which methods and hooks it wants.
    pub fn interests(&self) -> &Interests {
        &self.inner.interests
    }

    /// Runs `hook` on `input` (blocking: call it from a blocking thread).
    pub(crate) fn call(&self, hook: Hook, input: &[u8]) -> Result<Outcome, HookError> {
        let vt = self.inner.vtable;
        let f: HookFn = match hook {
            Hook::Request => vt.on_request,
            Hook::Response => vt.on_response,
            Hook::Notification => vt.on_notification,
        };
        let mut out = Buffer::empty();
        // SAFETY: a live instance of this vtable, an input buffer alive for the call, and a
        // valid out-pointer.
        let code = unsafe { f(self.inner.ptr, input.as_ptr(), input.len(), &mut out) };
        // SAFETY: filled by this vtable's plugin.
        let bytes = unsafe { take(vt, out) };
        let fail = |kind, message: String| HookError::new(kind, &self.inner.name, hook, message);
        let json = |bytes: Vec<u8>| -> Result<Box<RawValue>, HookError> {
            let text = String::from_utf8(bytes)
                .map_err(|_| fail(HookErrorKind::BadOutput, "output is not UTF-8".to_owned()))?;
            RawValue::from_string(text)
                .map_err(|e| fail(HookErrorKind::BadOutput, format!("output is not JSON: {e}")))
        };
        match code {
            status::OK => Ok(Outcome::Continue),
            status::CONTINUE_WITH => Ok(Outcome::ContinueWith(json(bytes)?)),
            status::RESPOND => Ok(Outcome::Respond(json(bytes)?)),
            status::REJECT => {
                let error: toolgate_plugin_sdk::RpcError =
                    serde_json::from_slice(&bytes).map_err(|e| {
                        fail(
                            HookErrorKind::BadOutput,
                            format!("rejected with an invalid error object: {e}"),
                        )
                    })?;
                Ok(Outcome::Reject(self.rejection(error)))
            }
            status::PANIC => Err(fail(
                HookErrorKind::Panicked,
                format!("panicked: {}", String::from_utf8_lossy(&bytes)),
            )),
            status::ERROR => Err(fail(
                HookErrorKind::Failed,
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            other => Err(fail(
                HookErrorKind::BadOutput,
                format!("unknown status {other}"),
            )),
        }
    }

    /// The plugin's error object as an [`McpError`] with its code; `data` defaults to
    /// `{source: "plugin", plugin: NAME}`.
    fn rejection(&self, e: toolgate_plugin_sdk::RpcError) -> McpError {
        let kind = match e.code {
            code::PARSE_ERROR => ErrorKind::Parse,
            code::INVALID_REQUEST => ErrorKind::InvalidRequest,
            code::METHOD_NOT_FOUND => ErrorKind::MethodNotFound,
            code::INVALID_PARAMS => ErrorKind::InvalidParams,
            code::RESOURCE_NOT_FOUND => ErrorKind::ResourceNotFound,
            code::RATE_LIMITED => ErrorKind::RateLimited,
            _ => ErrorKind::Internal,
        };
        let data = e
            .data
            .unwrap_or_else(|| serde_json::json!({"source": "plugin", "plugin": self.inner.name}));
        McpError::new(kind, e.message)
            .with_code(e.code)
            .with_data(data)
    }
}

/// Copies a plugin buffer and hands it back to the plugin that made it.
///
/// # Safety
/// `buf` must have been returned by `vtable`'s plugin and not be freed yet.
unsafe fn take(vtable: &PluginVTable, buf: Buffer) -> Vec<u8> {
    if buf.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: a live buffer of this plugin (caller's promise).
    let bytes = unsafe { buf.as_slice() }.to_vec();
    // SAFETY: handed back exactly once, to the plugin that allocated it.
    unsafe { (vtable.free_buffer)(buf) };
    bytes
}

/// The host's logging callback: the plugin's messages go to `tracing` under its name.
unsafe extern "C" fn host_log(ctx: *const c_void, level: u32, msg: *const u8, len: usize) {
    let _ = std::panic::catch_unwind(|| {
        if ctx.is_null() || msg.is_null() {
            return;
        }
        // SAFETY: `ctx` is the leaked `String` made in `create`, never freed.
        let plugin: &String = unsafe { &*ctx.cast::<String>() };
        // SAFETY: the plugin passes a live buffer of `len` bytes for the call.
        let bytes = unsafe { std::slice::from_raw_parts(msg, len) };
        let text = String::from_utf8_lossy(bytes);
        match level {
            abi::level::ERROR => tracing::error!(plugin = %plugin, "{text}"),
            abi::level::WARN => tracing::warn!(plugin = %plugin, "{text}"),
            abi::level::INFO => tracing::info!(plugin = %plugin, "{text}"),
            _ => tracing::debug!(plugin = %plugin, "{text}"),
        }
    });
}

/// The plugin's config schema.
///
/// # Safety
/// `vtable` must follow [`abi::ABI_VERSION`].
pub(crate) unsafe fn schema_of(vtable: &PluginVTable) -> Result<Value, String> {
    let mut out = Buffer::empty();
    // SAFETY: a valid out-pointer; the vtable follows the ABI (caller's promise).
    let code = unsafe { (vtable.config_schema)(&mut out) };
    // SAFETY: filled by this vtable's plugin.
    let bytes = unsafe { take(vtable, out) };
    if code != status::OK {
        return Err(String::from_utf8_lossy(&bytes).into_owned());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}
