//! Time: an injectable clock (tests move time; production reads the system
//! clock) and the RFC 3339 rendering every API timestamp uses.

use std::sync::Mutex;
use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

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

/// Renders `at` as an API timestamp (`2026-11-23T14:15:22Z`).
pub fn format_timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(RFC3339_SECONDS)
        // The description has no component that can fail for a UTC date in range.
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_whole_seconds_utc_with_z() {
        let at = datetime!(2026-11-23 14:15:22.987 +02:00);
        assert_eq!(format_timestamp(at), "2026-11-23T12:15:22Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-01-31 23:59:59 UTC));
        assert_eq!(clock.now(), clock.now());
        clock.advance(time::Duration::seconds(1));
        assert_eq!(format_timestamp(clock.now()), "2026-02-01T00:00:00Z");
    }
}
