//! Raw JSON-RPC params: read and edited as the text they arrived in.
//!
//! [`RawParams`] is a view of a params object: its members located in the text, keys unescaped
//! (`"progress\u0054oken"` is `progressToken`), duplicate keys refused. Every edit the gateway
//! makes — a tool's name, a progress token, `_meta` fields, a completion reference — is one
//! splice of that text: the other bytes (member order, whitespace, numbers of any precision)
//! reach the upstream as the client wrote them.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::McpError;

/// A params object, its members located in its text.
#[derive(Debug)]
pub struct RawParams<'a> {
    text: &'a str,
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawParams<'a> {
    /// Reads `raw`, which must be a JSON object without duplicate keys (-32602 otherwise).
    pub fn parse(raw: &'a RawValue) -> Result<Self, McpError> {
        Self::parse_str(raw.get())
    }

    /// Like [`RawParams::parse`], for params that may be absent (read as `{}`).
    pub fn parse_opt(raw: Option<&'a RawValue>) -> Result<Self, McpError> {
        Self::parse_str(raw.map_or("{}", RawValue::get))
    }

    fn parse_str(text: &'a str) -> Result<Self, McpError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let members = de
            .deserialize_map(Members)
            .and_then(|m| de.end().map(|()| m))
            .map_err(|e| McpError::invalid_params(format!("invalid params: {e}")))?;
        Ok(RawParams {
            text: text.trim(),
            members,
        })
    }

    /// The raw value of member `key`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Member `key` as a string: `Ok(None)` when absent, an error when it is not a string.
    pub fn get_str(&self, key: &str) -> Result<Option<Cow<'a, str>>, McpError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let mut de = serde_json::Deserializer::from_str(raw.get());
        <Cow<'a, str> as serde::Deserialize>::deserialize(&mut de)
            .map(Some)
            .map_err(|_| McpError::invalid_params(format!("params.{key} must be a string")))
    }

    /// Member `key` of the object in member `outer` (`_meta.progressToken`, say).
    pub fn get_in(&self, outer: &str, key: &str) -> Result<Option<&'a RawValue>, McpError> {
        match self.get(outer) {
            Some(inner) if inner.get().starts_with('{') => Ok(RawParams::parse(inner)?.get(key)),
            Some(_) => Err(McpError::invalid_params(format!(
                "params.{outer} must be an object"
            ))),
            None => Ok(None),
        }
    }

    /// The params with member `key` set to the raw JSON `value`: replaced where it is, or
    /// appended at the end.
    pub fn with_member(&self, key: &str, value: &str) -> Result<Box<RawValue>, McpError> {
        raw(self.splice_member(key, value)?)
    }

    /// The params with `key` set to `value` inside the object in member `outer` (created when
    /// absent).
    pub fn with_member_in(
        &self,
        outer: &str,
        key: &str,
        value: &str,
    ) -> Result<Box<RawValue>, McpError> {
        let inner = match self.get(outer) {
            Some(inner) if inner.get().starts_with('{') => {
                RawParams::parse(inner)?.splice_member(key, value)?
            }
            Some(_) => {
                return Err(McpError::invalid_params(format!(
                    "params.{outer} must be an object"
                )));
            }
            None => {
                let mut s = String::with_capacity(key.len() + value.len() + 8);
                s.push('{');
                push_key(&mut s, key)?;
                s.push_str(value);
                s.push('}');
                s
            }
        };
        raw(self.splice_member(outer, &inner)?)
    }

    /// The params with `_meta.{key}` set to the raw JSON `value`.
    pub fn with_meta(&self, key: &str, value: &str) -> Result<Box<RawValue>, McpError> {
        self.with_member_in("_meta", key, value)
    }

    /// The text with member `key`'s value replaced by `value`, or the member appended.
    fn splice_member(&self, key: &str, value: &str) -> Result<String, McpError> {
        match self.get(key) {
            Some(old) => {
                let range = self.range_of(old)?;
                Ok(splice(self.text, range, value))
            }
            None => {
                let close = self.text.len().saturating_sub(1);
                if !self.text.ends_with('}') {
                    return Err(McpError::internal("params text does not end its object"));
                }
                let mut member = String::with_capacity(key.len() + value.len() + 4);
                if !self.members.is_empty() {
                    member.push(',');
                }
                push_key(&mut member, key)?;
                member.push_str(value);
                Ok(splice(self.text, close..close, &member))
            }
        }
    }

    /// Where `value` (borrowed from our text) lies in it.
    fn range_of(&self, value: &RawValue) -> Result<Range<usize>, McpError> {
        let v = value.get();
        let start = (v.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        let end = start.wrapping_add(v.len());
        if self
            .text
            .get(start..end)
            .is_some_and(|s| std::ptr::eq(s, v))
        {
            Ok(start..end)
        } else {
            Err(McpError::internal(
                "could not locate a member in the params",
            ))
        }
    }
}

/// `text` with `range` replaced by `with`: the one splice every edit is made of.
fn splice(text: &str, range: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() - range.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

fn push_key(out: &mut String, key: &str) -> Result<(), McpError> {
    let quoted = serde_json::to_string(key)
        .map_err(|e| McpError::internal(format!("could not encode a key: {e}")))?;
    out.push_str(&quoted);
    out.push(':');
    Ok(())
}

fn raw(text: String) -> Result<Box<RawValue>, McpError> {
    RawValue::from_string(text)
        .map_err(|e| McpError::internal(format!("could not re-encode params: {e}")))
}

/// The `_meta.progressToken` of raw params, if any. Params that cannot carry one — no `_meta`
/// key, even escaped — are not parsed at all (the common case on the hot path).
pub fn progress_token(params: &RawValue) -> Result<Option<&RawValue>, McpError> {
    let text = params.get();
    if !text.contains("_meta") && !text.contains("\\u") {
        return Ok(None);
    }
    RawParams::parse(params)?.get_in("_meta", "progressToken")
}

/// Encodes `value` as raw JSON text (a string, a number …) for [`RawParams::with_member`].
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, McpError> {
    serde_json::to_string(value).map_err(|e| McpError::internal(format!("could not encode: {e}")))
}

/// Collects an object's members in order, refusing duplicate keys.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if out.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value: &'de RawValue = map.next_value()?;
            out.push((key, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).expect("raw")
    }

    #[test]
    fn members_are_found_by_their_unescaped_keys() {
        let p = raw(r#"{"na\u006de":"demo__echo","_meta":{"progress\u0054oken":7}}"#);
        let params = RawParams::parse(&p).expect("parses");
        assert_eq!(
            params.get_str("name").expect("string").as_deref(),
            Some("demo__echo")
        );
        assert_eq!(
            params
                .get_in("_meta", "progressToken")
                .expect("object")
                .map(RawValue::get),
            Some("7")
        );
    }

    #[test]
    fn duplicate_keys_and_non_objects_are_refused() {
        assert!(RawParams::parse(&raw(r#"{"_meta":{},"_meta":{}}"#)).is_err());
        assert!(RawParams::parse(&raw(r#"["a"]"#)).is_err());
        assert!(RawParams::parse(&raw(r#""a""#)).is_err());
    }

    #[test]
    fn an_edit_changes_only_its_member() {
        let p = raw(r#"{ "arguments" : {"n": 12345678901234567890123}, "name" : "a" }"#);
        let params = RawParams::parse(&p).expect("parses");
        let out = params.with_member("name", r#""b""#).expect("edit");
        assert_eq!(
            out.get(),
            r#"{ "arguments" : {"n": 12345678901234567890123}, "name" : "b" }"#
        );
        let out = params.with_member("extra", "1").expect("append");
        assert_eq!(
            out.get(),
            r#"{ "arguments" : {"n": 12345678901234567890123}, "name" : "a" ,"extra":1}"#
        );
    }

    #[test]
    fn meta_is_edited_in_place_or_created() {
        let p = raw(r#"{"_meta":{"a":1,"progressToken":"x"},"name":"t"}"#);
        let out = RawParams::parse(&p)
            .expect("parses")
            .with_meta("progressToken", "5")
            .expect("edit");
        assert_eq!(
            out.get(),
            r#"{"_meta":{"a":1,"progressToken":5},"name":"t"}"#
        );
        let p = raw(r#"{"name":"t"}"#);
        let out = RawParams::parse(&p)
            .expect("parses")
            .with_meta("traceparent", r#""00-x""#)
            .expect("create");
        assert_eq!(out.get(), r#"{"name":"t","_meta":{"traceparent":"00-x"}}"#);
        let out = RawParams::parse_opt(None)
            .expect("absent")
            .with_meta("k", "1")
            .expect("create");
        assert_eq!(out.get(), r#"{"_meta":{"k":1}}"#);
        let p = raw(r#"{"_meta":{}}"#);
        let out = RawParams::parse(&p)
            .expect("parses")
            .with_meta("k", "1")
            .expect("into empty");
        assert_eq!(out.get(), r#"{"_meta":{"k":1}}"#);
        assert!(
            RawParams::parse(&raw(r#"{"_meta":3}"#))
                .expect("parses")
                .with_meta("k", "1")
                .is_err()
        );
    }
}
