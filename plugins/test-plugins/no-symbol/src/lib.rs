//! A valid shared library that is not a toolgate plugin: it exports no
//! `toolgate_plugin_entry`. The gateway must say so instead of crashing.

/// Some function a library might have.
pub extern "C" fn not_a_toolgate_plugin() -> u32 {
    42
}
