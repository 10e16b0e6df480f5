//! Billing periods: calendar months in UTC (SPEC §7).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// One billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    year: i32,
    month: Month,
}

impl Period {
    /// The period `at` falls in.
    pub fn of(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    /// Its key, e.g. `2026-11`.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, u8::from(self.month))
    }

    /// The first instant of the next period: when quotas reset.
    pub fn next_start(self) -> OffsetDateTime {
        let (year, month) = match self.month {
            Month::December => (self.year + 1, Month::January),
            m => (self.year, m.next()),
        };
        let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MAX);
        PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_are_utc_calendar_months() {
        let p = Period::of(datetime!(2026-11-30 23:59:59 UTC));
        assert_eq!(p.key(), "2026-11");
        assert_eq!(p.next_start(), datetime!(2026-12-01 00:00:00 UTC));
        assert_eq!(
            Period::of(datetime!(2026-12-01 00:30 +01:00)).key(),
            "2026-11"
        );
        assert_eq!(
            Period::of(datetime!(2026-12-31 12:00 UTC)).next_start(),
            datetime!(2027-01-01 0:00 UTC)
        );
    }
}
