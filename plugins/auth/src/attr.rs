//! The [`Identity`](toolgate::Identity) attributes authentication sets and authorization reads.
//!
//! Attributes under the `auth.` prefix are set by the gateway itself; a JWT claim copied with
//! `claims_to_attributes` keeps its own name, and claim names may not start with `auth.`, so
//! a token cannot pose as an API key.

/// How the caller authenticated: [`METHOD_API_KEY`] or [`METHOD_JWT`].
pub const METHOD: &str = "auth.method";
/// The name of the API key the caller presented (what `match: {key: NAME}` compares).
pub const KEY: &str = "auth.key";
/// The issuer (`iss`) of the caller's JWT.
pub const ISSUER: &str = "auth.issuer";
/// [`METHOD`] for an API key.
pub const METHOD_API_KEY: &str = "api_key";
/// [`METHOD`] for a JWT bearer token.
pub const METHOD_JWT: &str = "jwt";
/// The prefix reserved for attributes the gateway sets.
pub const RESERVED_PREFIX: &str = "auth.";

/// The values of attribute `name` on `identity`.
pub fn values<'a>(
    identity: &'a toolgate::Identity,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    identity
        .attributes
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
