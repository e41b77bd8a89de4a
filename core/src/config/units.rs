//! Durations and sizes as config files write them, for the gateway's settings and every layer's:
//! one grammar each, one error message that says what to write.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

const DURATION_HELP: &str = "expected a number of seconds, or a string such as \"30s\", \"5m\", \
                             \"1h\", \"1h30m\" or \"500ms\"";

const SIZE_HELP: &str =
    "expected a number of bytes, or a string such as \"4194304\", \"512KiB\", \"4MiB\" or \"1GiB\"";

/// A span of time in a config file: whole seconds (`30`, `"30"`) or number-unit pairs with the
/// units `ms`, `s`, `m`, `h` (`"30s"`, `"5m"`, `"1h30m"`, `"500ms"`).
///
/// Zero parses; settings for which zero means nothing refuse it with [`Duration::positive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// A size in bytes in a config file: whole bytes (`4194304`), or a number with the suffix `B`,
/// `KiB`, `MiB` or `GiB` (`"512KiB"`, `"4MiB"`).
///
/// Zero parses; settings for which zero means nothing refuse it with [`Size::positive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub usize);

/// A duration or size that is not written the way config files write them; the message says how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

impl Duration {
    /// The duration, refusing zero (for deadlines, intervals and timeouts).
    pub fn positive(self) -> Result<std::time::Duration, UnitError> {
        if self.0.is_zero() {
            return Err(UnitError(format!(
                "the duration must be greater than zero ({DURATION_HELP})"
            )));
        }
        Ok(self.0)
    }
}

impl Size {
    /// The size, refusing zero.
    pub fn positive(self) -> Result<usize, UnitError> {
        if self.0 == 0 {
            return Err(UnitError(format!(
                "the size must be greater than zero ({SIZE_HELP})"
            )));
        }
        Ok(self.0)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl From<Size> for usize {
    fn from(s: Size) -> Self {
        s.0
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(value: &str) -> Result<Self, UnitError> {
        let text = value.trim();
        let bad = || UnitError(format!("invalid duration '{value}': {DURATION_HELP}"));
        if text.is_empty() {
            return Err(bad());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Duration(std::time::Duration::from_secs(
                text.parse().map_err(|_| bad())?,
            )));
        }
        let mut total = std::time::Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let seconds = |factor: u64| number.checked_mul(factor).ok_or_else(bad);
            let part = match &rest[..unit_len] {
                "ms" => std::time::Duration::from_millis(number),
                "s" => std::time::Duration::from_secs(number),
                "m" => std::time::Duration::from_secs(seconds(60)?),
                "h" => std::time::Duration::from_secs(seconds(3600)?),
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = total.checked_add(part).ok_or_else(bad)?;
        }
        Ok(Duration(total))
    }
}

impl FromStr for Size {
    type Err = UnitError;

    fn from_str(value: &str) -> Result<Self, UnitError> {
        let text = value.trim();
        let bad = || UnitError(format!("invalid size '{value}': {SIZE_HELP}"));
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = text[..digits].parse().map_err(|_| bad())?;
        let factor: u64 = match text[digits..].trim_start() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(bad()),
        };
        let bytes = number.checked_mul(factor).ok_or_else(bad)?;
        usize::try_from(bytes).map(Size).map_err(|_| bad())
    }
}

/// Reads a [`Duration`] or [`Size`]: a whole number in the base unit, or a string.
struct UnitVisitor<T> {
    what: &'static str,
    help: &'static str,
    from_u64: fn(u64) -> Option<T>,
}

impl<T: FromStr<Err = UnitError>> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.help)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        (self.from_u64)(value)
            .ok_or_else(|| E::custom(format!("the {} {value} is too large", self.what)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!(
                "invalid {} {value}: {}",
                self.what, self.help
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        Err(E::custom(format!(
            "invalid {} {value}: {}",
            self.what, self.help
        )))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            what: "duration",
            help: DURATION_HELP,
            from_u64: |secs| Some(Duration(std::time::Duration::from_secs(secs))),
        })
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            what: "size",
            help: SIZE_HELP,
            from_u64: |bytes| usize::try_from(bytes).ok().map(Size),
        })
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds, or a string such as \"30s\", \"5m\", \"1h\", \"1h30m\" or \"500ms\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string" }
            ]
        })
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes, or a string such as \"512KiB\", \"4MiB\" or \"1GiB\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn duration(text: &str) -> Result<Std, UnitError> {
        text.parse::<Duration>().map(Into::into)
    }

    #[test]
    fn durations_are_seconds_or_unit_pairs() {
        assert_eq!(duration("30s"), Ok(Std::from_secs(30)));
        assert_eq!(duration("5m"), Ok(Std::from_secs(300)));
        assert_eq!(duration("1h"), Ok(Std::from_secs(3600)));
        assert_eq!(duration("1h30m"), Ok(Std::from_secs(5400)));
        assert_eq!(duration("1500ms"), Ok(Std::from_millis(1500)));
        assert_eq!(duration("45"), Ok(Std::from_secs(45)));
        assert_eq!(duration("0s"), Ok(Std::ZERO));
        for bad in ["", "s", "5x", "5 m", "-5s", "1.5s", "5M"] {
            let e = duration(bad).expect_err(bad);
            assert!(e.to_string().contains("\"30s\""), "{bad}: {e}");
        }
    }

    #[test]
    fn zero_is_refused_only_where_asked() {
        let zero = Duration::default();
        assert!(zero.positive().is_err());
        assert!(Size(0).positive().is_err());
        assert_eq!(Size(1).positive(), Ok(1));
    }

    #[test]
    fn numbers_and_strings_deserialize() {
        let d = |v| serde_json::from_value::<Duration>(v).map(Std::from);
        assert_eq!(d(serde_json::json!(3)).ok(), Some(Std::from_secs(3)));
        assert_eq!(
            d(serde_json::json!("250ms")).ok(),
            Some(Std::from_millis(250))
        );
        let e = d(serde_json::json!(-1)).expect_err("negative");
        assert!(e.to_string().contains("\"30s\""), "{e}");
        let e = d(serde_json::json!("soon")).expect_err("words");
        assert!(e.to_string().contains("invalid duration 'soon'"), "{e}");
    }

    #[test]
    fn sizes() {
        let s = |t: &str| t.parse::<Size>().map(usize::from);
        assert_eq!(s("4MiB"), Ok(4 << 20));
        assert_eq!(s("512 KiB"), Ok(512 << 10));
        assert_eq!(s("100"), Ok(100));
        assert!(s("4MB").is_err());
        let v = serde_json::from_value::<Size>(serde_json::json!(2048)).map(usize::from);
        assert_eq!(v.ok(), Some(2048));
    }
}
