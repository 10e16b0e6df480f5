//! Time: an injectable clock (tests move time; production reads the system
//! clock) and [`Timestamp`], the instant every record and API object holds.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem,
    macros::format_description,
};

/// `2026-11-23T14:15:22Z`: whole seconds, always UTC with `Z` (SPEC §2).
const RFC3339_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An instant as the table stores it and the API renders it:
/// `2026-11-23T14:15:22Z` (SPEC §2). Always UTC and whole seconds — made
/// from an [`OffsetDateTime`] by converting to UTC and dropping the
/// fraction — so every value renders, and parses back to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The instant, in UTC.
    pub const fn as_offset_date_time(self) -> OffsetDateTime {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    /// `at` in UTC, truncated to the second. An instant whose UTC date
    /// falls outside the calendar `time` supports (only near year ±9999
    /// with an offset) becomes that calendar's first or last second.
    fn from(at: OffsetDateTime) -> Self {
        let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or_else(|| {
            let edge = if at.offset().is_negative() {
                PrimitiveDateTime::MAX
            } else {
                PrimitiveDateTime::MIN
            };
            edge.assume_utc()
        });
        Self(utc.truncate_to_second())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The description has no component that can fail for a UTC date in
        // range, and every Timestamp is one.
        let text = self.0.format(RFC3339_SECONDS).map_err(|_| fmt::Error)?;
        f.pad(&text)
    }
}

impl FromStr for Timestamp {
    type Err = time::error::Parse;

    /// Exactly the rendered form: `Z`, no fraction, no other offset.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PrimitiveDateTime::parse(text, RFC3339_SECONDS).map(|at| Self(at.assume_utc()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TimestampVisitor)
    }
}

/// Reads a [`Timestamp`] from a string.
struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a UTC time in whole seconds, like 2026-11-23T14:15:22Z")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        text.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn parse(text: &str) -> Result<Timestamp, serde_json::Error> {
        serde_json::from_value(serde_json::Value::String(text.to_owned()))
    }

    #[test]
    fn timestamps_are_whole_seconds_utc_with_z() {
        let at = Timestamp::from(datetime!(2026-11-23 14:15:22.987 +02:00));
        assert_eq!(at.to_string(), "2026-11-23T12:15:22Z");
        assert_eq!(at.as_offset_date_time(), datetime!(2026-11-23 12:15:22 UTC));
        assert_eq!(
            at,
            Timestamp::from(datetime!(2026-11-23 12:15:22 UTC)),
            "the fraction is gone, not kept aside"
        );
    }

    #[test]
    fn what_renders_parses_back_to_itself() {
        for at in [
            datetime!(2026-11-23 14:15:22 UTC),
            datetime!(0001-01-01 00:00:00 UTC),
            PrimitiveDateTime::MIN.assume_utc(),
            PrimitiveDateTime::MAX.assume_utc(),
        ] {
            let at = Timestamp::from(at);
            let json = serde_json::to_value(at).unwrap();
            assert_eq!(json, serde_json::Value::String(at.to_string()));
            assert_eq!(parse(&at.to_string()).unwrap(), at, "{at}");
        }
    }

    #[test]
    fn only_the_rendered_form_parses() {
        assert_eq!(
            parse("2026-11-23T14:15:22Z").unwrap(),
            Timestamp::from(datetime!(2026-11-23 14:15:22 UTC))
        );
        for bad in [
            "2026-11-23T14:15:22+02:00",
            "2026-11-23T14:15:22+00:00",
            "2026-11-23T14:15:22.5Z",
            "2026-11-23T14:15:22z",
            "2026-11-23 14:15:22Z",
            "2026-11-23T14:15Z",
            "2026-02-30T00:00:00Z",
            "2026-11-23T14:15:22Z ",
            "",
            "yesterday",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("like 2026-11-23T14:15:22Z") && err.contains(bad),
                "{bad:?}: {err}"
            );
        }
        assert!(serde_json::from_value::<Timestamp>(serde_json::json!(1_700_000_000)).is_err());
    }

    #[test]
    fn order_is_time_order() {
        let earlier = Timestamp::from(datetime!(2026-11-23 14:15:22 +02:00));
        let later = Timestamp::from(datetime!(2026-11-23 13:15:22 UTC));
        assert!(earlier < later);
        assert_eq!(earlier.max(later), later);
        assert_eq!(
            earlier.to_string().cmp(&later.to_string()),
            earlier.cmp(&later)
        );
    }

    #[test]
    fn instants_beyond_the_calendar_saturate() {
        let at = Timestamp::from(datetime!(9999-12-31 23:30:00 -01:00));
        assert_eq!(at, Timestamp::from(PrimitiveDateTime::MAX.assume_utc()));
        assert_eq!(at.to_string(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-01-31 23:59:59 UTC));
        assert_eq!(clock.now(), clock.now());
        clock.advance(time::Duration::seconds(1));
        assert_eq!(
            Timestamp::from(clock.now()).to_string(),
            "2026-02-01T00:00:00Z"
        );
    }
}
