//! A library that exports the toolgate plugin entry point with an ABI version the gateway does
//! not speak, as a plugin built against a newer SDK would. The gateway must refuse it after
//! reading the version and before touching anything else.

// The entry point has to be exported by hand, unmangled: there is no SDK for the future ABI.
#![allow(unsafe_code)]

/// The only field every plugin ABI version shares.
#[repr(C)]
#[derive(Debug)]
pub struct FutureVTable {
    /// Not the gateway's version.
    pub abi_version: u32,
}

static VTABLE: FutureVTable = FutureVTable {
    abi_version: toolgate_plugin_sdk::abi::ABI_VERSION + 1,
};

/// The plugin entry point of a future ABI.
#[unsafe(no_mangle)]
pub extern "C" fn toolgate_plugin_entry() -> *const FutureVTable {
    &VTABLE
}
