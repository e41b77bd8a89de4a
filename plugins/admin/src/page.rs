//! The page itself: `assets/admin.html`, embedded at build time.

/// The admin page (HTML with its CSS and script inline).
const PAGE: &str = include_str!("../assets/admin.html");

/// The page with this gateway's token for state-changing requests in it.
pub(crate) fn render(token: &str) -> String {
    PAGE.replace("{{ADMIN_TOKEN}}", token)
}
