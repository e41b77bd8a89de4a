//! Write native plugins for the toolgate MCP gateway.
//!
//! A plugin is a `cdylib` that implements [`Plugin`] and calls [`export_plugin!`] once. The
//! gateway loads it from its config file (`layers: [{dylib: ./libmy_plugin.so, config: {...}}]`)
//! and calls its hooks for every client request it is interested in:
//!
//! - [`Plugin::on_request`] before the request goes upstream: continue, continue with new
//!   params, answer it directly, or reject it with a JSON-RPC error;
//! - [`Plugin::on_response`] with the upstream's result: keep it, replace it, or reject;
//! - [`Plugin::on_notification`] for each notification sent to the client while the request
//!   runs (progress, log messages): keep it, replace its params, or drop it.
//!
//! Nothing but JSON bytes crosses the boundary: the SDK has no tokio and no Rust-ABI types in
//! its interface ([`abi`]), every call into the plugin runs under `catch_unwind` (a panic fails
//! that one request with -32603 instead of aborting the gateway), and buffers are freed by the
//! side that allocated them. Hooks run on the gateway's blocking thread pool, several at once:
//! a plugin must be `Send + Sync` and may block.
//!
//! ```
//! use toolgate_plugin_sdk::{Decision, Interests, Plugin, Request, RpcError, export_plugin};
//!
//! /// Refuses calls of one tool.
//! struct DenyTool { tool: String }
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// The exposed name of the tool to refuse (`server__tool`).
//!     tool: String,
//! }
//!
//! impl Plugin for DenyTool {
//!     const NAME: &'static str = "deny-tool";
//!     const VERSION: &'static str = "0.1.0";
//!     type Config = Config;
//!
//!     fn new(config: Config) -> Result<Self, String> {
//!         Ok(DenyTool { tool: config.tool })
//!     }
//!     fn interests(&self) -> Interests {
//!         Interests::none().methods(["tools/call"]).requests()
//!     }
//!     fn on_request(&self, request: &Request) -> Decision {
//!         if request.tool_name() == Some(self.tool.as_str()) {
//!             return Decision::Reject(RpcError::invalid_params(format!("{} is disabled", self.tool)));
//!         }
//!         Decision::Continue
//!     }
//! }
//!
//! export_plugin!(DenyTool);
//! ```

pub mod abi;
#[doc(hidden)]
pub mod ffi;
pub mod log;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use serde_json;

/// This SDK's version.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A plugin: its identity, its config type and its hooks.
///
/// Hooks are called concurrently from several threads; keep shared state behind a `Mutex` or
/// atomics. A hook may block (file or network I/O): it runs on a thread of the gateway's
/// blocking pool, not on an async worker.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's name, for logs and error messages.
    const NAME: &'static str;
    /// The plugin's version (`env!("CARGO_PKG_VERSION")` is a good choice).
    const VERSION: &'static str;
    /// The plugin's settings: the `config:` map of its `layers:` entry. Its JSON Schema
    /// (from schemars) is checked by the gateway before [`Plugin::new`] is called; use
    /// `#[serde(deny_unknown_fields)]` so that typos are errors.
    type Config: DeserializeOwned + schemars::JsonSchema;

    /// Builds the plugin from its settings. An `Err` stops the gateway at start-up with the
    /// message.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Which methods and hooks the plugin wants. Requests of other methods pass it by without
    /// crossing the boundary. The default is every hook for every method.
    fn interests(&self) -> Interests {
        Interests::all()
    }

    /// Called before a request goes upstream.
    fn on_request(&self, request: &Request) -> Decision {
        let _ = request;
        Decision::Continue
    }

    /// Called with the result of a request; [`Decision::ContinueWith`] or
    /// [`Decision::Respond`] replace the result.
    fn on_response(&self, request: &Request, result: &Value) -> Decision {
        let _ = (request, result);
        Decision::Continue
    }

    /// Called for each notification sent to the client while `request` runs;
    /// [`Decision::ContinueWith`] replaces its params, [`Decision::Respond`] and
    /// [`Decision::Reject`] drop it.
    fn on_notification(&self, request: &Request, notification: &Notification) -> Decision {
        let _ = (request, notification);
        Decision::Continue
    }
}

/// What a hook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go on unchanged.
    Continue,
    /// Go on with this instead: the request's new params, the new result, or the
    /// notification's new params.
    ContinueWith(Value),
    /// Answer the request with this result (from `on_request`: without calling upstream).
    Respond(Value),
    /// Fail the request with this JSON-RPC error.
    Reject(RpcError),
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The code: -32602 for bad params, -32600 for a refused request, -32603 for an internal
    /// error, or an application code outside -32768…-32000.
    pub code: i32,
    /// What is wrong, for the client.
    pub message: String,
    /// More detail; when absent the gateway adds `{"source": "plugin", "plugin": NAME}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
    /// -32602: invalid params (also used for unknown or blocked tools).
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }
    /// -32600: the request is refused as it stands.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(-32600, message)
    }
    /// -32603: internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(-32603, message)
    }
    /// Sets `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// One client request, as a plugin sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The method, e.g. `tools/call`.
    pub method: String,
    /// The params (`null` when the request had none).
    #[serde(default)]
    pub params: Value,
    /// Who sent it and where it goes.
    #[serde(default)]
    pub context: Context,
}

impl Request {
    /// `params.name` of a `tools/call` (the exposed name, `server__tool`).
    pub fn tool_name(&self) -> Option<&str> {
        if self.method != "tools/call" {
            return None;
        }
        self.params.get("name").and_then(Value::as_str)
    }
    /// `params.arguments` of a `tools/call`.
    pub fn arguments(&self) -> Option<&Map<String, Value>> {
        self.params.get("arguments").and_then(Value::as_object)
    }
}

/// What the gateway knows about a request besides its params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// The downstream session's id (`Mcp-Session-Id`), if the transport has one.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The inbound transport: `stdio`, `streamable_http` or `sse`.
    #[serde(default)]
    pub transport: Option<String>,
    /// The protocol version the client negotiated.
    #[serde(default)]
    pub protocol_version: Option<String>,
    /// The client's `clientInfo` from `initialize`.
    #[serde(default)]
    pub client: Option<ClientInfo>,
    /// The caller, when the HTTP plane authenticated one.
    #[serde(default)]
    pub identity: Option<Identity>,
    /// What the request is about: the exposed tool or prompt name, or a resource URI.
    #[serde(default)]
    pub target: Option<String>,
    /// The upstream server that serves `target`.
    #[serde(default)]
    pub server: Option<String>,
    /// `target`'s name on that server.
    #[serde(default)]
    pub original_name: Option<String>,
    /// For `tools/call`, when [`Interests::tool_definitions`] asked for it: the tool's
    /// definition as the gateway lists it now.
    #[serde(default)]
    pub tool: Option<Value>,
}

/// A client's name and version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// `clientInfo.name`.
    pub name: String,
    /// `clientInfo.version`.
    #[serde(default)]
    pub version: String,
}

/// An authenticated caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Key name or token subject.
    pub subject: String,
    /// Attributes (claims, labels) as `[name, value]` pairs.
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
}

/// A notification on its way to the client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The method, e.g. `notifications/progress`.
    pub method: String,
    /// The params (`null` when absent).
    #[serde(default)]
    pub params: Value,
}

/// Which requests reach a plugin and which of its hooks run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interests {
    /// Methods the plugin sees; `None` for every method.
    pub methods: Option<Vec<String>>,
    /// Whether [`Plugin::on_request`] is called.
    pub request: bool,
    /// Whether [`Plugin::on_response`] is called.
    pub response: bool,
    /// Whether [`Plugin::on_notification`] is called.
    pub notification: bool,
    /// Whether `tools/call` requests carry the tool's definition in [`Context::tool`].
    pub tool_definition: bool,
}

impl Default for Interests {
    fn default() -> Self {
        Self::all()
    }
}

impl Interests {
    /// Nothing: start here and add what the plugin needs.
    pub fn none() -> Self {
        Interests {
            methods: None,
            request: false,
            response: false,
            notification: false,
            tool_definition: false,
        }
    }
    /// Every hook for every method.
    pub fn all() -> Self {
        Interests {
            methods: None,
            request: true,
            response: true,
            notification: true,
            tool_definition: false,
        }
    }
    /// Only these methods.
    #[must_use]
    pub fn methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = Some(methods.into_iter().map(Into::into).collect());
        self
    }
    /// Calls [`Plugin::on_request`].
    #[must_use]
    pub fn requests(mut self) -> Self {
        self.request = true;
        self
    }
    /// Calls [`Plugin::on_response`].
    #[must_use]
    pub fn responses(mut self) -> Self {
        self.response = true;
        self
    }
    /// Calls [`Plugin::on_notification`].
    #[must_use]
    pub fn notifications(mut self) -> Self {
        self.notification = true;
        self
    }
    /// Puts the called tool's current definition in [`Context::tool`].
    #[must_use]
    pub fn tool_definitions(mut self) -> Self {
        self.tool_definition = true;
        self
    }
    /// Whether `method` reaches the plugin.
    pub fn wants(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
    }
}

/// Rewrites every string value (not object keys) inside `value` for which `f` returns a
/// replacement; returns whether anything changed. Handy for results: text content,
/// `structuredContent` and resource contents are all strings somewhere in the tree.
pub fn rewrite_strings(value: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) -> bool {
    match value {
        Value::String(s) => match f(s) {
            Some(new) if new != *s => {
                *s = new;
                true
            }
            _ => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| rewrite_strings(v, f) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| rewrite_strings(v, f) | changed),
        _ => false,
    }
}

/// Generates the plugin's exported entry point for the [`Plugin`] type given.
///
/// Call it once, at the top level of the `cdylib` crate: `export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The toolgate plugin entry point, generated by `export_plugin!`.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn toolgate_plugin_entry() -> *const $crate::abi::PluginVTable {
            static VTABLE: $crate::abi::PluginVTable = $crate::ffi::vtable::<$plugin>();
            &VTABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrite_strings_reaches_nested_strings_only() {
        let mut v = json!({"content": [{"type": "text", "text": "a secret"}], "secret": 1});
        let changed = rewrite_strings(&mut v, &mut |s| Some(s.replace("secret", "***")));
        assert!(changed);
        assert_eq!(v["content"][0]["text"], "a ***");
        assert_eq!(v["content"][0]["type"], "text");
        assert_eq!(v["secret"], 1);
        assert!(!rewrite_strings(&mut v, &mut |_| None));
    }

    #[test]
    fn interests_filter_methods() {
        let i = Interests::none().methods(["tools/call"]).responses();
        assert!(i.wants("tools/call"));
        assert!(!i.wants("tools/list"));
        assert!(!i.request && i.response);
        assert!(Interests::all().wants("anything"));
    }

    #[test]
    fn request_reads_tool_name_and_tolerates_missing_context() {
        let r: Request = serde_json::from_value(
            json!({"method": "tools/call", "params": {"name": "a__b", "arguments": {"x": 1}}}),
        )
        .expect("parses");
        assert_eq!(r.tool_name(), Some("a__b"));
        assert_eq!(r.arguments().and_then(|a| a.get("x")), Some(&json!(1)));
        assert_eq!(r.context, Context::default());
    }
}
