//! Logging into the gateway's log: messages appear there attributed to the plugin, at the
//! level given. Before the gateway has created the plugin (in a plugin's own unit tests) they
//! go to stderr.

#![allow(unsafe_code)]

use std::sync::OnceLock;

use crate::abi::{HostApi, level};

static HOST: OnceLock<HostApi> = OnceLock::new();

/// Remembers the host's logging callback (the first one wins: it is the same host).
pub(crate) fn set_host(host: HostApi) {
    let _ = HOST.set(host);
}

fn emit(level: u32, message: &str) {
    match HOST.get() {
        // SAFETY: the host's callback takes a live UTF-8 buffer for the duration of the call
        // and catches its own panics.
        Some(host) => unsafe { (host.log)(host.ctx, level, message.as_ptr(), message.len()) },
        None => eprintln!("{message}"),
    }
}

/// Logs an error.
pub fn error(message: impl AsRef<str>) {
    emit(level::ERROR, message.as_ref());
}

/// Logs a warning.
pub fn warn(message: impl AsRef<str>) {
    emit(level::WARN, message.as_ref());
}

/// Logs something worth knowing.
pub fn info(message: impl AsRef<str>) {
    emit(level::INFO, message.as_ref());
}

/// Logs a debugging detail.
pub fn debug(message: impl AsRef<str>) {
    emit(level::DEBUG, message.as_ref());
}
