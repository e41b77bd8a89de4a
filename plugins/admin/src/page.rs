//! The page itself: `assets/admin.html`, embedded at build time.

/// The admin page (HTML with its CSS and script inline).
pub(crate) const PAGE: &str = include_str!("../assets/admin.html");
