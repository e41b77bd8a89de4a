//! The crate's error type: settings that cannot work.

pub use toolgate::error::SettingsError as Error;
