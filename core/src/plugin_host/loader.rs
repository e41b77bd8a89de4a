//! [`PluginHost`]: turns a `dylib:` entry of `layers:` into a [`DylibLayer`].
//!
//! Before `dlopen` runs any of the library's code, the file is checked: its canonical path
//! (symlinks resolved; relative paths against the current directory) must lie inside one of the
//! config's `plugin_dirs`, neither it nor any directory between it and that plugin directory may
//! be world-writable, and its SHA-256 must match the pin when the entry has one. The checks, the
//! hash and the load all use one open file descriptor (on Linux, `dlopen("/proc/self/fd/N")`),
//! so the file cannot be swapped between the check and the load. Then the ABI version is read,
//! the config validated against the plugin's JSON Schema, and an instance created. Libraries
//! are never unloaded.

#![allow(unsafe_code)]

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use toolgate_plugin_sdk::abi::{self, ABI_VERSION, EntryFn, PluginVTable};

use super::error::{LoadError, LoadErrorKind};
use super::plugin::{CreateError, LoadedPlugin, schema_of};
use super::{DEFAULT_HOOK_TIMEOUT, DylibLayer};
use crate::config::{LayerSource, LayerSpec};
use crate::gateway::GatewayBuilder;
use crate::registry::{DylibLoader, LayerError};

/// Loads native plugins (`dylib:` layers) for a [`Registry`](crate::registry::Registry).
///
/// ```
/// use toolgate::plugin_host::PluginHost;
/// use toolgate::registry::Registry;
///
/// let registry = Registry::new().with_dylib_loader(PluginHost::new());
/// # let _ = registry;
/// ```
#[derive(Debug, Clone)]
pub struct PluginHost {
    hook_timeout: Duration,
}

impl Default for PluginHost {
    fn default() -> Self {
        PluginHost {
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

impl PluginHost {
    /// A host with the default hook timeout (30 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long one hook call may take before its request fails with -32603.
    #[must_use]
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Checks, loads and configures the plugin at `path`.
    pub fn load(
        &self,
        path: &Path,
        sha256: Option<&str>,
        config: &Value,
        plugin_dirs: &[PathBuf],
    ) -> Result<LoadedPlugin, LoadError> {
        let err = |kind, message: String| LoadError::new(kind, path, message);
        let mut checked = open_checked(path, plugin_dirs)?;
        let digest = sha256_hex(&mut checked.file).map_err(|e| {
            err(
                LoadErrorKind::NotFound,
                format!("cannot read the file: {e}"),
            )
        })?;
        if let Some(expected) = sha256
            && !expected.eq_ignore_ascii_case(&digest)
        {
            return Err(err(
                LoadErrorKind::HashMismatch,
                format!(
                    "sha256 mismatch: the config pins {expected} but the file has {digest}; \
                     if this build is the one you trust, put the new hash in `sha256:`"
                ),
            ));
        }
        let vtable = open_library(&checked, path)?;
        let Checked { file, canonical } = checked;
        keep_open(file);
        // SAFETY: `open_library` checked the ABI version, so the vtable follows this ABI.
        let schema = unsafe { schema_of(vtable) }.map_err(|e| {
            err(
                LoadErrorKind::BadPlugin,
                format!("cannot read its config schema: {e}"),
            )
        })?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            err(
                LoadErrorKind::BadPlugin,
                format!("its config schema is not a valid JSON Schema: {e}"),
            )
        })?;
        let problems: Vec<String> = validator
            .iter_errors(config)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                match choices(&schema, &e.schema_path().to_string()) {
                    Some(allowed) => format!("at {at}: {} is not one of {allowed}", e.instance()),
                    None => format!("at {at}: {e}"),
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(err(
                LoadErrorKind::Config,
                format!(
                    "`config:` does not match the plugin's schema: {}",
                    problems.join("; ")
                ),
            ));
        }
        // SAFETY: as above; the library stays loaded for ever.
        let plugin =
            unsafe { LoadedPlugin::create(vtable, config, path) }.map_err(|e| match e {
                CreateError::BadIdentity => err(
                    LoadErrorKind::BadPlugin,
                    "its name or version is not UTF-8".into(),
                ),
                CreateError::Refused(m) => err(
                    LoadErrorKind::Config,
                    format!("the plugin refused its config: {m}"),
                ),
                CreateError::Panicked(m) => err(
                    LoadErrorKind::BadPlugin,
                    format!("the plugin failed to start: {m}"),
                ),
                CreateError::Interests(m) => err(LoadErrorKind::BadPlugin, m),
            })?;
        tracing::info!(
            plugin = plugin.name(),
            version = plugin.version(),
            path = %canonical.display(),
            sha256 = %digest,
            "loaded native plugin"
        );
        Ok(plugin)
    }
}

impl DylibLoader for PluginHost {
    fn apply(
        &self,
        spec: &LayerSpec,
        plugin_dirs: &[PathBuf],
        builder: GatewayBuilder,
    ) -> Result<GatewayBuilder, LayerError> {
        let LayerSource::Dylib { path, sha256 } = &spec.source else {
            return Err(LayerError::new(spec.describe(), "not a `dylib:` layer"));
        };
        let plugin = self
            .load(path, sha256.as_deref(), &spec.config, plugin_dirs)
            .map_err(|e| LayerError::new(format!("dylib: {}", path.display()), e.message()))?;
        let timeout = self.hook_timeout;
        Ok(builder.layer(DylibLayer::new(plugin).hook_timeout(timeout)))
    }
}

/// A plugin file that passed the path and permission checks, open.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) file: File,
    pub(crate) canonical: PathBuf,
}

/// Resolves `path`, checks it lies inside one of `plugin_dirs` and that neither it nor the
/// directories up to that plugin directory are world-writable, and opens it.
pub(crate) fn open_checked(path: &Path, plugin_dirs: &[PathBuf]) -> Result<Checked, LoadError> {
    let err = |kind, message: String| LoadError::new(kind, path, message);
    if plugin_dirs.is_empty() {
        return Err(err(
            LoadErrorKind::OutsidePluginDirs,
            "no `plugin_dirs:` in the config; native plugins load only from listed directories: \
             add `plugin_dirs: [DIR]` naming the directory that holds this file"
                .into(),
        ));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "?".into());
        err(
            LoadErrorKind::NotFound,
            format!("cannot find the file ({e}); relative paths are resolved against the current directory, {cwd}"),
        )
    })?;
    let dirs: Vec<PathBuf> = plugin_dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    let Some(home) = dirs.iter().find(|d| canonical.starts_with(d)) else {
        let listed: Vec<String> = plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Err(err(
            LoadErrorKind::OutsidePluginDirs,
            format!(
                "it resolves to {}, which is outside the plugin directories ({}); \
                 move it into one of them or add its directory to `plugin_dirs:`",
                canonical.display(),
                listed.join(", ")
            ),
        ));
    };
    let file = File::open(&canonical).map_err(|e| {
        err(
            LoadErrorKind::NotFound,
            format!("cannot open the file: {e}"),
        )
    })?;
    let meta = file.metadata().map_err(|e| {
        err(
            LoadErrorKind::NotFound,
            format!("cannot stat the file: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(err(
            LoadErrorKind::Permissions,
            format!("{} is not a regular file", canonical.display()),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 {
            return Err(err(
                LoadErrorKind::Permissions,
                format!(
                    "{} is world-writable (mode {:o}): anyone could change the code the gateway runs; \
                     fix it with `chmod o-w`",
                    canonical.display(),
                    mode & 0o7777
                ),
            ));
        }
        for dir in canonical.ancestors().skip(1) {
            let mode = std::fs::metadata(dir)
                .map_err(|e| {
                    err(
                        LoadErrorKind::NotFound,
                        format!("cannot stat {}: {e}", dir.display()),
                    )
                })?
                .permissions()
                .mode();
            if mode & 0o002 != 0 {
                return Err(err(
                    LoadErrorKind::Permissions,
                    format!(
                        "directory {} is world-writable (mode {:o}): anyone could replace the plugin; \
                         fix it with `chmod o-w`",
                        dir.display(),
                        mode & 0o7777
                    ),
                ));
            }
            if dir == home.as_path() {
                break;
            }
        }
    }
    Ok(Checked { file, canonical })
}

/// For a failed `oneOf`/`anyOf` whose alternatives are all constants (how schemars writes a
/// documented enum), the allowed values, e.g. `"pass", "panic"`: clearer than "not valid under
/// any of the schemas listed".
pub(crate) fn choices(schema: &Value, keyword: &str) -> Option<String> {
    if !(keyword.ends_with("/oneOf") || keyword.ends_with("/anyOf")) {
        return None;
    }
    let alternatives = schema.pointer(keyword)?.as_array()?;
    let mut allowed = Vec::new();
    for alt in alternatives {
        match (alt.get("const"), alt.get("enum").and_then(Value::as_array)) {
            (Some(c), _) => allowed.push(c.to_string()),
            (None, Some(values)) => allowed.extend(values.iter().map(Value::to_string)),
            _ => return None,
        }
    }
    Some(allowed.join(", "))
}

fn sha256_hex(file: &mut File) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `dlopen`s the checked file (never closed), finds the entry point and checks the ABI version.
fn open_library(checked: &Checked, path: &Path) -> Result<&'static PluginVTable, LoadError> {
    let err = |kind, message: String| LoadError::new(kind, path, message);
    // The descriptor we checked and hashed, so the file cannot be swapped in between.
    #[cfg(target_os = "linux")]
    let target = {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", checked.file.as_raw_fd()))
    };
    #[cfg(not(target_os = "linux"))]
    let target = checked.canonical.clone();
    // SAFETY: loading runs the library's initializers; the file passed the path, permission
    // and hash checks above, which is the trust decision the operator configured.
    #[cfg(unix)]
    let library = unsafe {
        libloading::os::unix::Library::open(
            Some(&target),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    }
    .map(libloading::Library::from);
    // SAFETY: as above.
    #[cfg(not(unix))]
    let library = unsafe { libloading::Library::new(&target) };
    let library = library.map_err(|e| {
        err(
            LoadErrorKind::Open,
            format!("the dynamic loader refused it: {e}"),
        )
    })?;
    // Never unloaded: instances, vtables and buffers point into it for the life of the process.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    let symbol = String::from_utf8_lossy(&abi::ENTRY_SYMBOL[..abi::ENTRY_SYMBOL.len() - 1]);
    // SAFETY: the symbol, if present, is the SDK's entry point of type `EntryFn`.
    let entry = unsafe { library.get::<EntryFn>(abi::ENTRY_SYMBOL) }.map_err(|_| {
        err(
            LoadErrorKind::MissingSymbol,
            format!(
                "it does not export `{symbol}`: not a toolgate plugin, or built without \
                 `toolgate_plugin_sdk::export_plugin!`"
            ),
        )
    })?;
    let vtable = entry();
    if vtable.is_null() {
        return Err(err(
            LoadErrorKind::BadPlugin,
            format!("`{symbol}` returned no vtable"),
        ));
    }
    // SAFETY: every ABI version starts the vtable with the `u32` version; nothing else is read
    // before it matches.
    let version = unsafe { vtable.cast::<u32>().read() };
    if version != ABI_VERSION {
        return Err(err(
            LoadErrorKind::AbiVersion,
            format!(
                "it was built for plugin ABI version {version}, this gateway loads version \
                 {ABI_VERSION}: rebuild it against toolgate-plugin-sdk {}",
                toolgate_plugin_sdk::SDK_VERSION
            ),
        ));
    }
    // SAFETY: same version, so the pointer is a `PluginVTable` in static library memory.
    Ok(unsafe { &*vtable })
}

/// Keeps the descriptor a library was loaded through open for ever. The loader knows the
/// library by the name `/proc/self/fd/N`; were `N` reused for the next plugin, `dlopen` would
/// hand back the first library instead of loading the second.
fn keep_open(file: File) {
    std::mem::forget(file);
}
