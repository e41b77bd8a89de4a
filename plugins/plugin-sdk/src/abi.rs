//! The C ABI between the gateway and a plugin: `#[repr(C)]` types, status codes and the
//! symbol name. Nothing here is Rust-ABI: pointers, lengths, `u32`s and `extern "C"` functions.
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`], an `extern "C" fn() -> *const PluginVTable`.
//! The host reads [`PluginVTable::abi_version`] — the first field, whose place never changes —
//! and reads nothing else unless it equals the host's [`ABI_VERSION`]. Every other field may
//! change with the version.
//!
//! Data crosses as JSON bytes. Input buffers belong to the host and are only borrowed for the
//! call; output buffers ([`Buffer`]) are allocated by the plugin and handed back to its own
//! [`PluginVTable::free_buffer`], so each side frees only what its own allocator made.

#![allow(unsafe_code)]

use std::ffi::c_void;

/// The ABI version this SDK speaks. Bumped on any change to the types in this module.
pub const ABI_VERSION: u32 = 1;

/// The exported symbol's name, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"toolgate_plugin_entry\0";

/// The exported entry point's type.
pub type EntryFn = extern "C" fn() -> *const PluginVTable;

/// Status of a call across the boundary; for hooks it is also the decision.
pub mod status {
    /// Success; for a hook: continue unchanged (the output buffer is empty).
    pub const OK: u32 = 0;
    /// Continue with the replacement in the output buffer (JSON: new params or new result).
    pub const CONTINUE_WITH: u32 = 1;
    /// Answer the request with the result in the output buffer (JSON object).
    pub const RESPOND: u32 = 2;
    /// Fail the request with the JSON-RPC error object in the output buffer.
    pub const REJECT: u32 = 3;
    /// The plugin reported an error; the output buffer holds a UTF-8 message.
    pub const ERROR: u32 = 4;
    /// The plugin panicked (caught); the output buffer holds the panic message.
    pub const PANIC: u32 = 5;
}

/// Log levels for [`HostApi::log`].
pub mod level {
    /// Something failed.
    pub const ERROR: u32 = 1;
    /// Something looks wrong.
    pub const WARN: u32 = 2;
    /// Worth knowing.
    pub const INFO: u32 = 3;
    /// For debugging.
    pub const DEBUG: u32 = 4;
}

/// A borrowed UTF-8 string with `'static` lifetime inside the plugin (names, versions).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// Points at a static string.
    pub const fn new(s: &'static str) -> Self {
        StrRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The string, if it is valid UTF-8.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that outlive `'a`.
    pub unsafe fn as_str<'a>(&self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees ptr/len describe live, readable memory.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// A byte buffer the plugin allocated; only the plugin's `free_buffer` may free it.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// First byte (null when empty).
    pub ptr: *mut u8,
    /// Bytes in use.
    pub len: usize,
    /// Allocated capacity.
    pub cap: usize,
}

impl Buffer {
    /// An empty buffer (nothing to free).
    pub const fn empty() -> Self {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// Hands a vector over the boundary (its memory is freed by [`Buffer::into_vec`]).
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buffer {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Takes the vector back. Only the side that made the buffer may call this.
    ///
    /// # Safety
    /// The buffer must come from [`Buffer::from_vec`] in the same binary and not be freed yet.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: ptr/len/cap came from a Vec<u8> of this binary's allocator (caller's promise).
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }

    /// The bytes, borrowed.
    ///
    /// # Safety
    /// The buffer must be live (not yet freed).
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: a live buffer's ptr/len describe initialized bytes (caller's promise).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// What the host offers a plugin, passed to [`PluginVTable::create`].
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostApi {
    /// The host's ABI version (equal to the plugin's, or `create` is never called).
    pub abi_version: u32,
    /// Opaque host data for `log`.
    pub ctx: *const c_void,
    /// Writes a message to the gateway's log, attributed to the plugin.
    pub log: unsafe extern "C" fn(ctx: *const c_void, level: u32, msg: *const u8, len: usize),
}

/// A hook: `(instance, input JSON, output) -> status`.
pub type HookFn = unsafe extern "C" fn(
    instance: *const c_void,
    input: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> u32;

/// Everything the plugin exports, behind [`ENTRY_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct PluginVTable {
    /// Must be the first field: the host reads it before anything else.
    pub abi_version: u32,
    /// The SDK version the plugin was built with (for messages).
    pub sdk_version: StrRef,
    /// The plugin's name.
    pub name: StrRef,
    /// The plugin's version.
    pub version: StrRef,
    /// Writes the JSON Schema of the plugin's config into `out`.
    pub config_schema: unsafe extern "C" fn(out: *mut Buffer) -> u32,
    /// Creates an instance from its config (JSON); on success writes the instance pointer.
    pub create: unsafe extern "C" fn(
        host: *const HostApi,
        config: *const u8,
        config_len: usize,
        instance: *mut *mut c_void,
        out: *mut Buffer,
    ) -> u32,
    /// Drops an instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void) -> u32,
    /// Writes the instance's [`Interests`](crate::Interests) (JSON) into `out`.
    pub interests: unsafe extern "C" fn(instance: *const c_void, out: *mut Buffer) -> u32,
    /// Input: a [`Request`](crate::Request). Output: the decision.
    pub on_request: HookFn,
    /// Input: `{"request": Request, "result": {...}}`. Output: the decision.
    pub on_response: HookFn,
    /// Input: `{"request": Request, "notification": {"method", "params"}}`. Output: the decision.
    pub on_notification: HookFn,
    /// Frees a buffer this plugin returned.
    pub free_buffer: unsafe extern "C" fn(buf: Buffer),
}

// SAFETY: a vtable holds pointers to the plugin's static strings and functions only; both are
// immutable and live as long as the library, which the host never unloads.
unsafe impl Sync for PluginVTable {}
// SAFETY: as above.
unsafe impl Send for PluginVTable {}
// SAFETY: `ctx` is the host's immutable, never-freed label; `log` may be called from any thread.
unsafe impl Sync for HostApi {}
// SAFETY: as above.
unsafe impl Send for HostApi {}
