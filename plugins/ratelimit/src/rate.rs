//! Rates as config files write them: `10/s`, `100/min`, `5000/h`, `20000/day`.
//!
//! `N/unit` allows a burst of `N` at once and gives one request back every `unit / N` (GCRA:
//! the bucket never holds more than `N`).

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

use crate::error::Error;

/// Requests per period, e.g. `10/s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    period: Period,
    quota: Quota,
}

/// The period of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Period {
    Second,
    Minute,
    Hour,
    Day,
}

impl Period {
    fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        })
    }
    fn unit(self) -> &'static str {
        match self {
            Period::Second => "s",
            Period::Minute => "min",
            Period::Hour => "h",
            Period::Day => "day",
        }
    }
}

const HELP: &str = "write a rate as N/s, N/min, N/h or N/day with N a whole number above zero, \
                    e.g. \"10/s\" or \"100/min\"";

impl Rate {
    fn new(count: u32, period: Period) -> Result<Rate, Error> {
        let count = NonZeroU32::new(count)
            .ok_or_else(|| Error::settings(format!("a rate of 0 allows nothing; {HELP}")))?;
        let every = period.duration() / count.get();
        let quota = Quota::with_period(every)
            .map(|q| q.allow_burst(count))
            .ok_or_else(|| {
                Error::settings(format!(
                    "rate {count}/{} is too high: at most 1000000000/s can be limited",
                    period.unit()
                ))
            })?;
        Ok(Rate {
            count,
            period,
            quota,
        })
    }
    /// `n` requests per second (burst `n`).
    pub fn per_second(n: u32) -> Result<Rate, Error> {
        Rate::new(n, Period::Second)
    }
    /// `n` requests per minute (burst `n`).
    pub fn per_minute(n: u32) -> Result<Rate, Error> {
        Rate::new(n, Period::Minute)
    }
    /// `n` requests per hour (burst `n`).
    pub fn per_hour(n: u32) -> Result<Rate, Error> {
        Rate::new(n, Period::Hour)
    }
    /// `n` requests per day (burst `n`).
    pub fn per_day(n: u32) -> Result<Rate, Error> {
        Rate::new(n, Period::Day)
    }
    /// How many requests per period (also the burst).
    pub fn count(&self) -> u32 {
        self.count.get()
    }
    /// The period.
    pub fn period(&self) -> Duration {
        self.period.duration()
    }

    /// The governor quota: burst `count`, one cell back every `period / count`.
    pub(crate) fn quota(&self) -> Quota {
        self.quota
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.unit())
    }
}

impl FromStr for Rate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Rate, Error> {
        let bad = || Error::settings(format!("invalid rate '{text}': {HELP}"));
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let count: u32 = count.parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Period::Second,
            "m" | "min" | "minute" => Period::Minute,
            "h" | "hr" | "hour" => Period::Hour,
            "d" | "day" => Period::Day,
            _ => return Err(bad()),
        };
        Rate::new(count, period)
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Rate {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*/\\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)\\s*$",
            "description": "Requests per period, e.g. \"10/s\", \"100/min\", \"5000/h\": a burst of N at once, then one more every period/N.",
            "examples": ["10/s", "100/min"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_every_unit() {
        for (text, count, secs) in [
            ("10/s", 10, 1),
            ("100/min", 100, 60),
            ("3/m", 3, 60),
            ("5000/h", 5000, 3600),
            (" 7 / hour ", 7, 3600),
            ("2/day", 2, 86_400),
        ] {
            let r: Rate = text.parse().expect(text);
            assert_eq!(r.count(), count, "{text}");
            assert_eq!(r.period(), Duration::from_secs(secs), "{text}");
        }
        assert_eq!(
            "100/minute".parse::<Rate>().expect("ok").to_string(),
            "100/min"
        );
    }

    #[test]
    fn bad_rates_say_what_to_write() {
        for text in [
            "",
            "10",
            "10/fortnight",
            "-1/s",
            "1.5/s",
            "0/s",
            "x/s",
            "99999999999/s",
        ] {
            let e = text.parse::<Rate>().expect_err(text);
            assert!(e.to_string().contains("N/s"), "{text}: {e}");
        }
        let e = "4000000000/s".parse::<Rate>().expect_err("too high");
        assert!(e.to_string().contains("too high"), "{e}");
    }

    #[test]
    fn quota_is_burst_n_and_one_back_every_period_over_n() {
        let q = "4/s".parse::<Rate>().expect("ok").quota();
        assert_eq!(q.burst_size().get(), 4);
        assert_eq!(q.replenish_interval(), Duration::from_millis(250));
    }
}
