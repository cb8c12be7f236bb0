//! Durations as people write them: `"90s"`, `"10m"`, `"4h"`, `"7d"`, `"1h30m"`, `"250ms"`.
//!
//! Grammar: one or more `<digits><unit>` parts, units `d`, `h`, `m`, `s`, `ms`, each used at
//! most once and from the largest to the smallest (`"1h30m"`, not `"30m1h"`). No spaces, no
//! sign, no bare numbers: `"90"` is refused so that nobody has to guess the unit.

use std::time::Duration;

/// Why a duration string was refused by [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("empty duration")]
    Empty,
    /// A unit (or other text) came where a number was expected, e.g. `"h"` or `"-5s"`.
    #[error("expected a number at {found:?}")]
    MissingNumber {
        /// The text from the point where a number was expected.
        found: String,
    },
    /// A number had no unit after it, e.g. `"90"` or `"1h30"`.
    #[error("missing unit after {number} (use ms, s, m, h or d)")]
    MissingUnit {
        /// The number left without a unit.
        number: String,
    },
    /// A unit that is not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit {unit:?} (use ms, s, m, h or d)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// Units repeated or not from the largest to the smallest, e.g. `"30m1h"`.
    #[error(
        "units must go from the largest to the smallest, each at most once ({unit:?} is out of place)"
    )]
    UnitsOutOfOrder {
        /// The unit found out of place.
        unit: String,
    },
    /// The total does not fit in a `Duration` (or a number does not fit in 64 bits).
    #[error("duration too large")]
    TooLarge,
}

/// Units with their rank (larger first) and length in milliseconds.
const UNITS: [(&str, u8, u64); 5] = [
    ("d", 4, 86_400_000),
    ("h", 3, 3_600_000),
    ("m", 2, 60_000),
    ("s", 1, 1_000),
    ("ms", 0, 1),
];

/// Parses a duration such as `"90s"`, `"10m"`, `"4h"`, `"7d"`, `"1h30m"` or `"250ms"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(sesame_config::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(sesame_config::parse_duration("90").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut previous_rank = u8::MAX;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(DurationError::MissingNumber {
                found: rest.to_owned(),
            });
        }
        let (number, after) = rest.split_at(digits_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                number: number.to_owned(),
            });
        }
        let &(_, rank, unit_ms) =
            UNITS
                .iter()
                .find(|(name, _, _)| *name == unit)
                .ok_or_else(|| DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                })?;
        if rank >= previous_rank {
            return Err(DurationError::UnitsOutOfOrder {
                unit: unit.to_owned(),
            });
        }
        previous_rank = rank;
        let value: u64 = number.parse().map_err(|_| DurationError::TooLarge)?;
        total_ms = value
            .checked_mul(unit_ms)
            .and_then(|ms| ms.checked_add(total_ms))
            .ok_or(DurationError::TooLarge)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it, largest units first:
/// 5400 s gives `"1h30m"`, zero gives `"0s"`. Anything below a millisecond is dropped.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(sesame_config::format_duration(Duration::from_secs(4 * 3600)), "4h");
/// ```
pub fn format_duration(duration: Duration) -> String {
    // Milliseconds fit a u128; u64 holds 584 million years of them.
    let mut rest_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let mut out = String::new();
    for (name, _, unit_ms) in UNITS {
        let count = rest_ms / unit_ms;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            rest_ms %= unit_ms;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Serde glue: durations are strings in TOML (`"4h"`), read with [`parse_duration`].
pub(crate) mod as_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("90s"), Ok(90 * SECOND));
        assert_eq!(parse_duration("10m"), Ok(600 * SECOND));
        assert_eq!(parse_duration("4h"), Ok(4 * 3600 * SECOND));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400 * SECOND));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5400 * SECOND));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
    }

    #[test]
    fn refuses_malformed_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("90"),
            Err(DurationError::MissingUnit {
                number: "90".into()
            })
        );
        assert_eq!(
            parse_duration("1h30"),
            Err(DurationError::MissingUnit {
                number: "30".into()
            })
        );
        assert_eq!(
            parse_duration("h"),
            Err(DurationError::MissingNumber { found: "h".into() })
        );
        assert_eq!(
            parse_duration("-5s"),
            Err(DurationError::MissingNumber {
                found: "-5s".into()
            })
        );
        assert_eq!(
            parse_duration("4 h"),
            Err(DurationError::UnknownUnit { unit: " h".into() })
        );
        assert_eq!(
            parse_duration("3w"),
            Err(DurationError::UnknownUnit { unit: "w".into() })
        );
        assert_eq!(
            parse_duration("30m1h"),
            Err(DurationError::UnitsOutOfOrder { unit: "h".into() })
        );
        assert_eq!(
            parse_duration("1h1h"),
            Err(DurationError::UnitsOutOfOrder { unit: "h".into() })
        );
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::TooLarge)
        );
        assert_eq!(
            parse_duration("999999999999999d"),
            Err(DurationError::TooLarge)
        );
    }

    #[test]
    fn error_messages() {
        let message = |text: &str| parse_duration(text).unwrap_err().to_string();
        assert_eq!(message(""), "empty duration");
        assert_eq!(
            message("90"),
            "missing unit after 90 (use ms, s, m, h or d)"
        );
        assert_eq!(message("h"), "expected a number at \"h\"");
        assert_eq!(message("3w"), "unknown unit \"w\" (use ms, s, m, h or d)");
        assert_eq!(
            message("30m1h"),
            "units must go from the largest to the smallest, each at most once (\"h\" is out of place)"
        );
        assert_eq!(message("99999999999999999999s"), "duration too large");
    }

    #[test]
    fn formats_largest_units_first() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(90 * SECOND), "1m30s");
        assert_eq!(format_duration(4 * 3600 * SECOND), "4h");
        assert_eq!(format_duration(30 * 86_400 * SECOND), "30d");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_nanos(999)), "0s");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for ms in [
            0,
            1,
            999,
            1000,
            59_999,
            60_000,
            3_600_001,
            93_784_005,
            u64::MAX / 2,
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(
                parse_duration(&format_duration(duration)),
                Ok(duration),
                "{ms} ms"
            );
        }
    }
}
