//! Traefik's duration type: a Go duration string (`10s`, `1m30s`, `1.5h`, `-1s`, `0`) or a bare
//! number of seconds (`30`, `"30"`, `2.5`).
//!
//! Durations are signed because some options give a negative value a meaning
//! (`responseForwarding.flushInterval: -1` flushes after every write). The value is kept in
//! nanoseconds, like Go's `time.Duration`, and serializes back as a Go-style string. This module
//! only parses and prints; what a zero or negative value means is the runtime's business.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Newtype name through which the config decoder recognises a duration (to word errors for
/// flags given without a value).
pub(crate) const DURATION_MARKER: &str = "$switchyard::duration";

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_MIN: i64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MIN;

/// A signed duration with nanosecond precision, parsed the way Traefik parses durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i64,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason}")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// A duration of `nanos` nanoseconds (may be negative).
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    /// A duration of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: i64) -> Self {
        Duration {
            nanos: millis.saturating_mul(NANOS_PER_MILLI),
        }
    }

    /// A duration of `secs` seconds (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// A duration of `secs` fractional seconds; `None` if not finite or out of range.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let nanos = secs * NANOS_PER_SEC as f64;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos <= i64::MIN as f64 {
            return None;
        }
        Some(Duration {
            nanos: nanos.round() as i64,
        })
    }

    /// The signed number of nanoseconds.
    pub const fn as_nanos(&self) -> i64 {
        self.nanos
    }

    /// The value as a `std::time::Duration`, or `None` when negative.
    pub fn as_std(&self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// True for durations below zero.
    pub const fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// True for the zero duration.
    pub const fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Parses Traefik's textual forms: a bare number (seconds) or a Go duration string.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let text = input.trim();
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(err("empty value"));
        }
        if let Ok(secs) = text.parse::<i64>() {
            return secs
                .checked_mul(NANOS_PER_SEC)
                .map(Duration::from_nanos)
                .ok_or_else(|| err("out of range"));
        }
        if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        {
            let secs: f64 = text.parse().map_err(|_| err("not a number"))?;
            return Duration::from_secs_f64(secs).ok_or_else(|| err("out of range"));
        }
        parse_go(text).map_err(err)
    }
}

/// Go's `time.ParseDuration` grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`.
fn parse_go(text: &str) -> Result<Duration, &'static str> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("missing number");
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number before the unit");
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "m" => NANOS_PER_MIN,
            "h" => NANOS_PER_HOUR,
            "" => return Err("missing unit (use ns, us, ms, s, m or h)"),
            _ => return Err("unknown unit (use ns, us, ms, s, m or h)"),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<i128>().map_err(|_| "out of range")?
        };
        let mut value = whole.checked_mul(i128::from(scale)).ok_or("out of range")?;
        // Fraction digits beyond nanosecond precision are dropped, as Go does.
        let mut divisor: i128 = 1;
        let mut frac: i128 = 0;
        for digit in frac_part.bytes().take(18) {
            frac = frac * 10 + i128::from(digit - b'0');
            divisor *= 10;
        }
        value += frac * i128::from(scale) / divisor;
        total = total.checked_add(value).ok_or("out of range")?;
        if total > i128::from(i64::MAX) + 1 {
            return Err("out of range");
        }
    }
    let signed = if negative { -total } else { total };
    i64::try_from(signed)
        .map(Duration::from_nanos)
        .map_err(|_| "out of range")
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Writes `value / unit` with up to `digits` fraction digits, trailing zeros removed (Go style).
fn write_fraction(f: &mut fmt::Formatter<'_>, value: u128, unit: u128, digits: u32) -> fmt::Result {
    let whole = value / unit;
    let mut frac = value % unit;
    write!(f, "{whole}")?;
    if frac == 0 {
        return Ok(());
    }
    let mut width = digits as usize;
    while frac > 0 && frac / 10 * 10 == frac {
        frac /= 10;
        width -= 1;
    }
    write!(f, ".{frac:0width$}")
}

impl fmt::Display for Duration {
    /// Formats like Go's `time.Duration.String()`: `1h30m0s`, `1.5s`, `100ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0s");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let abs = u128::from(self.nanos.unsigned_abs());
        let sec = NANOS_PER_SEC as u128;
        if abs < sec {
            let (unit, digits, suffix) = if abs < NANOS_PER_MICRO as u128 {
                (1, 0, "ns")
            } else if abs < NANOS_PER_MILLI as u128 {
                (NANOS_PER_MICRO as u128, 3, "µs")
            } else {
                (NANOS_PER_MILLI as u128, 6, "ms")
            };
            write_fraction(f, abs, unit, digits)?;
            return f.write_str(suffix);
        }
        let hours = abs / (NANOS_PER_HOUR as u128);
        let minutes = (abs / (NANOS_PER_MIN as u128)) % 60;
        let rest = abs % (NANOS_PER_MIN as u128);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fraction(f, rest, sec, 9)?;
        f.write_str("s")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as `10s`, `1m30s`, `100ms`, or a number of seconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        v.checked_mul(NANOS_PER_SEC)
            .map(Duration::from_nanos)
            .ok_or_else(|| E::custom(format!("duration of {v} seconds is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        i64::try_from(v)
            .map_err(|_| E::custom(format!("duration of {v} seconds is out of range")))
            .and_then(|v| self.visit_i64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::from_secs_f64(v)
            .ok_or_else(|| E::custom(format!("duration of {v} seconds is out of range")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        Duration::parse(v).map_err(E::custom)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(DURATION_MARKER, DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_and_bare_forms() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("0s", 0),
            ("10s", 10 * NANOS_PER_SEC),
            ("1m30s", 90 * NANOS_PER_SEC),
            ("1.5h", 90 * NANOS_PER_MIN),
            ("100ms", 100 * NANOS_PER_MILLI),
            ("-1s", -NANOS_PER_SEC),
            ("+2m", 2 * NANOS_PER_MIN),
            ("30", 30 * NANOS_PER_SEC),
            ("-1", -NANOS_PER_SEC),
            ("2.5", 2_500 * NANOS_PER_MILLI),
            (
                "1h2m3s4ms5us6ns",
                NANOS_PER_HOUR + 2 * NANOS_PER_MIN + 3 * NANOS_PER_SEC + 4_005_006,
            ),
            ("1µs", 1_000),
            (".5s", 500 * NANOS_PER_MILLI),
            ("2160h", 2160 * NANOS_PER_HOUR),
            (" 5s ", 5 * NANOS_PER_SEC),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                Duration::parse(text),
                Ok(Duration::from_nanos(*nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for text in [
            "",
            "s",
            "10x",
            "1.2.3s",
            "abc",
            "--1s",
            "9999999999999h",
            "1s-",
        ] {
            assert!(Duration::parse(text).is_err(), "{text:?} should fail");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (NANOS_PER_SEC, "1s"),
            (90 * NANOS_PER_MIN, "1h30m0s"),
            (100 * NANOS_PER_MILLI, "100ms"),
            (1_500 * NANOS_PER_MILLI, "1.5s"),
            (-NANOS_PER_SEC, "-1s"),
            (1_500, "1.5µs"),
            (7, "7ns"),
            (61 * NANOS_PER_SEC, "1m1s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Duration::from_nanos(*nanos).to_string(), *text);
            assert_eq!(Duration::parse(text), Ok(Duration::from_nanos(*nanos)));
        }
    }

    #[test]
    fn std_conversion() {
        assert_eq!(
            Duration::from_secs(3).as_std(),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(Duration::from_secs(-3).as_std(), None);
        assert!(Duration::from_secs(-3).is_negative());
    }

    #[test]
    fn serde_json_round_trip() {
        let d: Duration = serde_json::from_str("\"1m30s\"").expect("string");
        assert_eq!(d, Duration::from_secs(90));
        let d: Duration = serde_json::from_str("42").expect("int");
        assert_eq!(d, Duration::from_secs(42));
        let d: Duration = serde_json::from_str("0.25").expect("float");
        assert_eq!(d, Duration::from_millis(250));
        assert_eq!(
            serde_json::to_string(&Duration::from_secs(90)).expect("ser"),
            "\"1m30s\""
        );
    }
}
