//! The `extern "C"` side of [`export_plugin!`](crate::export_plugin): generic functions that
//! turn a [`Plugin`] into a [`PluginVTable`]. Each one parses its JSON input, calls the plugin
//! under `catch_unwind`, and hands back a [`Buffer`] that only the plugin's own `free_buffer`
//! frees.
//!
//! Not part of the public API: use the macro.

#![allow(unsafe_code)]

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Deserialize;

use crate::abi::{ABI_VERSION, Buffer, HostApi, PluginVTable, StrRef, status};
use crate::{Decision, Notification, Plugin, Request, SDK_VERSION};

/// The vtable of plugin `P`.
pub const fn vtable<P: Plugin>() -> PluginVTable {
    PluginVTable {
        abi_version: ABI_VERSION,
        sdk_version: StrRef::new(SDK_VERSION),
        name: StrRef::new(P::NAME),
        version: StrRef::new(P::VERSION),
        config_schema: config_schema::<P>,
        create: create::<P>,
        destroy: destroy::<P>,
        interests: interests::<P>,
        on_request: on_request::<P>,
        on_response: on_response::<P>,
        on_notification: on_notification::<P>,
        free_buffer,
    }
}

/// Runs `f` under `catch_unwind` and writes its output (or the error or panic message) to `out`.
fn guard(out: *mut Buffer, f: impl FnOnce() -> Result<(u32, Vec<u8>), String>) -> u32 {
    let (code, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(done)) => done,
        Ok(Err(message)) => (status::ERROR, message.into_bytes()),
        Err(payload) => (status::PANIC, panic_message(payload.as_ref()).into_bytes()),
    };
    if !out.is_null() {
        let buffer = if bytes.is_empty() {
            Buffer::empty()
        } else {
            Buffer::from_vec(bytes)
        };
        // SAFETY: the host passes a valid, writable out-pointer (checked non-null above).
        unsafe { out.write(buffer) };
    }
    code
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

fn encode(decision: Decision) -> Result<(u32, Vec<u8>), String> {
    Ok(match decision {
        Decision::Continue => (status::OK, Vec::new()),
        Decision::ContinueWith(v) => (status::CONTINUE_WITH, to_json(&v)?),
        Decision::Respond(v) => (status::RESPOND, to_json(&v)?),
        Decision::Reject(e) => (status::REJECT, to_json(&e)?),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("cannot serialize the decision: {e}"))
}

/// The input bytes.
///
/// # Safety
/// `ptr` must point at `len` readable bytes (or be null with `len == 0`).
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the host passes a live buffer of `len` bytes for the duration of the call.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// The plugin behind an instance pointer.
///
/// # Safety
/// `instance` must come from [`create`] for the same `P` and not be destroyed yet.
unsafe fn plugin<'a, P: Plugin>(instance: *const c_void) -> Result<&'a P, String> {
    if instance.is_null() {
        return Err("null plugin instance".into());
    }
    // SAFETY: the pointer is a live Box<P> made by `create::<P>` (caller's promise).
    Ok(unsafe { &*instance.cast::<P>() })
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("cannot parse the {what} from the host: {e}"))
}

unsafe extern "C" fn config_schema<P: Plugin>(out: *mut Buffer) -> u32 {
    guard(out, || {
        let schema = schemars::schema_for!(P::Config);
        serde_json::to_vec(&schema)
            .map(|v| (status::OK, v))
            .map_err(|e| format!("cannot serialize the config schema: {e}"))
    })
}

unsafe extern "C" fn create<P: Plugin>(
    host: *const HostApi,
    config: *const u8,
    config_len: usize,
    instance: *mut *mut c_void,
    out: *mut Buffer,
) -> u32 {
    guard(out, || {
        if !host.is_null() {
            // SAFETY: a non-null host pointer points at a HostApi valid for this call.
            crate::log::set_host(unsafe { *host });
        }
        if instance.is_null() {
            return Err("null instance out-pointer".into());
        }
        // SAFETY: the host's config buffer is live for the call.
        let bytes = unsafe { input(config, config_len) };
        let bytes = if bytes.is_empty() { &b"{}"[..] } else { bytes };
        let config: P::Config =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid config: {e}"))?;
        let plugin = P::new(config)?;
        // SAFETY: checked non-null above; the host owns the slot.
        unsafe { instance.write(Box::into_raw(Box::new(plugin)).cast()) };
        Ok((status::OK, Vec::new()))
    })
}

unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void) -> u32 {
    guard(std::ptr::null_mut(), || {
        if !instance.is_null() {
            // SAFETY: `instance` is a Box<P> from `create::<P>`, destroyed once by the host.
            drop(unsafe { Box::from_raw(instance.cast::<P>()) });
        }
        Ok((status::OK, Vec::new()))
    })
}

unsafe extern "C" fn interests<P: Plugin>(instance: *const c_void, out: *mut Buffer) -> u32 {
    guard(out, || {
        // SAFETY: the host passes an instance made by `create::<P>`.
        let plugin = unsafe { plugin::<P>(instance) }?;
        serde_json::to_vec(&plugin.interests())
            .map(|v| (status::OK, v))
            .map_err(|e| format!("cannot serialize the interests: {e}"))
    })
}

unsafe extern "C" fn on_request<P: Plugin>(
    instance: *const c_void,
    ptr: *const u8,
    len: usize,
    out: *mut Buffer,
) -> u32 {
    guard(out, || {
        // SAFETY: the host passes an instance made by `create::<P>` and a live input buffer.
        let (plugin, bytes) = unsafe { (plugin::<P>(instance)?, input(ptr, len)) };
        let request: Request = parse(bytes, "request")?;
        encode(plugin.on_request(&request))
    })
}

#[derive(Deserialize)]
struct ResponseInput {
    request: Request,
    result: serde_json::Value,
}

unsafe extern "C" fn on_response<P: Plugin>(
    instance: *const c_void,
    ptr: *const u8,
    len: usize,
    out: *mut Buffer,
) -> u32 {
    guard(out, || {
        // SAFETY: as in `on_request`.
        let (plugin, bytes) = unsafe { (plugin::<P>(instance)?, input(ptr, len)) };
        let input: ResponseInput = parse(bytes, "response")?;
        encode(plugin.on_response(&input.request, &input.result))
    })
}

#[derive(Deserialize)]
struct NotificationInput {
    request: Request,
    notification: Notification,
}

unsafe extern "C" fn on_notification<P: Plugin>(
    instance: *const c_void,
    ptr: *const u8,
    len: usize,
    out: *mut Buffer,
) -> u32 {
    guard(out, || {
        // SAFETY: as in `on_request`.
        let (plugin, bytes) = unsafe { (plugin::<P>(instance)?, input(ptr, len)) };
        let input: NotificationInput = parse(bytes, "notification")?;
        encode(plugin.on_notification(&input.request, &input.notification))
    })
}

unsafe extern "C" fn free_buffer(buf: Buffer) {
    // A panic here would cross `extern "C"`; freeing a Vec does not panic, but stay safe.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host hands back, once, a buffer this plugin made with `Buffer::from_vec`.
        drop(unsafe { buf.into_vec() });
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Interests, RpcError};
    use serde_json::{Value, json};

    struct Probe;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ProbeConfig {
        #[serde(default)]
        fail: bool,
    }

    impl Plugin for Probe {
        const NAME: &'static str = "probe";
        const VERSION: &'static str = "1.2.3";
        type Config = ProbeConfig;
        fn new(config: ProbeConfig) -> Result<Self, String> {
            if config.fail {
                return Err("told to fail".into());
            }
            Ok(Probe)
        }
        fn interests(&self) -> Interests {
            Interests::none().methods(["tools/call"]).requests()
        }
        fn on_request(&self, request: &Request) -> Decision {
            match request.tool_name() {
                Some("boom") => panic!("kaboom"),
                Some("deny") => Decision::Reject(RpcError::invalid_params("denied")),
                Some("swap") => Decision::ContinueWith(json!({"name": "other"})),
                _ => Decision::Continue,
            }
        }
    }

    static VT: PluginVTable = vtable::<Probe>();

    fn take(vt: &PluginVTable, buf: Buffer) -> Vec<u8> {
        // SAFETY: the buffer was just returned by this vtable's plugin.
        let bytes = unsafe { buf.as_slice() }.to_vec();
        // SAFETY: handed back once.
        unsafe { (vt.free_buffer)(buf) };
        bytes
    }

    fn make(config: &[u8]) -> (u32, *mut c_void, Vec<u8>) {
        let mut instance = std::ptr::null_mut();
        let mut out = Buffer::empty();
        // SAFETY: valid pointers for the duration of the call.
        let code = unsafe {
            (VT.create)(
                std::ptr::null(),
                config.as_ptr(),
                config.len(),
                &mut instance,
                &mut out,
            )
        };
        (code, instance, take(&VT, out))
    }

    fn call(instance: *mut c_void, input: &Value) -> (u32, Vec<u8>) {
        let bytes = serde_json::to_vec(input).expect("json");
        let mut out = Buffer::empty();
        // SAFETY: a live instance and input buffer.
        let code = unsafe { (VT.on_request)(instance, bytes.as_ptr(), bytes.len(), &mut out) };
        (code, take(&VT, out))
    }

    #[test]
    fn vtable_carries_identity_and_schema() {
        assert_eq!(VT.abi_version, ABI_VERSION);
        // SAFETY: static strings.
        assert_eq!(unsafe { VT.name.as_str() }, Some("probe"));
        // SAFETY: static strings.
        assert_eq!(unsafe { VT.version.as_str() }, Some("1.2.3"));
        let mut out = Buffer::empty();
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { (VT.config_schema)(&mut out) }, status::OK);
        let schema: Value = serde_json::from_slice(&take(&VT, out)).expect("schema is JSON");
        assert!(schema["properties"]["fail"].is_object(), "{schema}");
    }

    #[test]
    fn decisions_and_panics_cross_as_status_codes() {
        let (code, instance, _) = make(b"{}");
        assert_eq!(code, status::OK);
        let req = |name: &str| json!({"method": "tools/call", "params": {"name": name}});
        assert_eq!(call(instance, &req("fine")), (status::OK, Vec::new()));
        let (code, body) = call(instance, &req("swap"));
        assert_eq!(code, status::CONTINUE_WITH);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).expect("json"),
            json!({"name": "other"})
        );
        let (code, body) = call(instance, &req("deny"));
        assert_eq!(code, status::REJECT);
        let err: RpcError = serde_json::from_slice(&body).expect("error object");
        assert_eq!(err.code, -32602);
        let (code, body) = call(instance, &req("boom"));
        assert_eq!(code, status::PANIC);
        assert_eq!(String::from_utf8_lossy(&body), "kaboom");
        // Still usable after a caught panic.
        assert_eq!(call(instance, &req("fine")).0, status::OK);
        let (code, body) = call(instance, &json!("not a request"));
        assert_eq!(code, status::ERROR);
        assert!(String::from_utf8_lossy(&body).contains("cannot parse the request"));
        // SAFETY: destroyed once.
        assert_eq!(unsafe { (VT.destroy)(instance) }, status::OK);
    }

    #[test]
    fn create_reports_bad_config_and_refusals() {
        let (code, instance, msg) = make(br#"{"fial": true}"#);
        assert_eq!(code, status::ERROR);
        assert!(instance.is_null());
        assert!(String::from_utf8_lossy(&msg).contains("fial"));
        let (code, _, msg) = make(br#"{"fail": true}"#);
        assert_eq!(code, status::ERROR);
        assert_eq!(String::from_utf8_lossy(&msg), "told to fail");
    }
}
