//! The generic cell rate algorithm: a token bucket kept as one number, the
//! theoretical arrival time (TAT) of the next request. Pure arithmetic in
//! whole microseconds, so it is exact and testable without a store.
//!
//! With emission interval `T = 1 s / rate` and tolerance `τ = burst × T`, a
//! request at `now` is admitted when `max(TAT, now) + T − now ≤ τ`, and then
//! `TAT' = max(TAT, now) + T`. Over any window of length `t` this admits at
//! most `burst + rate × t` requests.

/// Microseconds in a second.
pub const MICROS: i64 = 1_000_000;

/// A bucket's rate and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second (≥ 1).
    pub per_second: u32,
    /// Requests that may arrive at once (≥ 1).
    pub burst: u32,
}

/// What the bucket says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted; the bucket's new TAT.
    Admit {
        /// The TAT after this request.
        new_tat: i64,
        /// Whether the bucket was already draining (`TAT > now`): which of the
        /// two conditional writes applies.
        busy: bool,
    },
    /// Refused; how long until it would be admitted.
    Reject {
        /// Microseconds to wait.
        retry_after: i64,
    },
}

impl Rate {
    /// The emission interval `T`, rounded up so rounding never over-admits.
    pub fn interval(self) -> i64 {
        let per_second = i64::from(self.per_second.max(1));
        (MICROS + per_second - 1) / per_second
    }

    /// The tolerance `τ = burst × T`.
    pub fn tolerance(self) -> i64 {
        self.interval() * i64::from(self.burst.max(1))
    }

    /// Decides a request at `now` against a bucket whose TAT is `tat`
    /// (`None`: never used, i.e. full).
    pub fn check(self, tat: Option<i64>, now: i64) -> Verdict {
        let base = tat.unwrap_or(now).max(now);
        let new_tat = base + self.interval();
        if new_tat - now <= self.tolerance() {
            Verdict::Admit {
                new_tat,
                busy: tat.is_some_and(|t| t > now),
            }
        } else {
            Verdict::Reject {
                retry_after: new_tat - self.tolerance() - now,
            }
        }
    }

    /// Whole requests the bucket would still admit at `now` if its TAT is `tat`.
    pub fn remaining(self, tat: i64, now: i64) -> u32 {
        let used = (tat - now).max(0);
        let left = (self.tolerance() - used).max(0) / self.interval();
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// The largest TAT the busy write may find and still admit: `now + τ − T`.
    pub fn max_busy_tat(self, now: i64) -> i64 {
        now + self.tolerance() - self.interval()
    }
}

/// Whole seconds to wait for `micros`, rounded up, at least 1 (SPEC §3).
pub fn retry_after_seconds(micros: i64) -> u64 {
    let seconds = (micros.max(0) + MICROS - 1) / MICROS;
    u64::try_from(seconds.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_RPS_BURST_TEN: Rate = Rate {
        per_second: 5,
        burst: 10,
    };

    #[test]
    fn a_full_bucket_admits_exactly_burst_at_once() {
        let rate = FIVE_RPS_BURST_TEN;
        let now = 1_000 * MICROS;
        let mut tat = None;
        for i in 0..10 {
            match rate.check(tat, now) {
                Verdict::Admit { new_tat, busy } => {
                    assert_eq!(busy, i > 0);
                    tat = Some(new_tat);
                }
                Verdict::Reject { .. } => panic!("request {i} refused"),
            }
        }
        assert_eq!(rate.remaining(tat.unwrap(), now), 0);
        assert_eq!(
            rate.check(tat, now),
            Verdict::Reject {
                retry_after: 200_000
            }
        );
    }

    #[test]
    fn it_refills_at_the_rate() {
        let rate = FIVE_RPS_BURST_TEN;
        let now = 0;
        let tat = now + rate.tolerance(); // empty
        assert!(matches!(rate.check(Some(tat), now), Verdict::Reject { .. }));
        assert!(matches!(
            rate.check(Some(tat), now + 200_000),
            Verdict::Admit { .. }
        ));
        assert_eq!(rate.remaining(tat, now + MICROS), 5);
        assert_eq!(rate.remaining(tat, now + 2 * MICROS), 10);
        assert_eq!(
            rate.remaining(tat, now + 60 * MICROS),
            10,
            "never more than burst"
        );
    }

    #[test]
    fn never_admits_more_than_burst_plus_rate_times_elapsed() {
        // Requests every millisecond for 3 s: the bound is 10 + 5 × 3 = 25 (+1 at the edge).
        let rate = FIVE_RPS_BURST_TEN;
        let mut tat = None;
        let mut admitted = 0;
        for ms in 0..=3_000 {
            if let Verdict::Admit { new_tat, .. } = rate.check(tat, ms * 1_000) {
                tat = Some(new_tat);
                admitted += 1;
            }
        }
        assert!(admitted <= 10 + 5 * 3 + 1, "{admitted}");
        assert!(admitted >= 10 + 5 * 3, "{admitted}");
    }

    #[test]
    fn steady_load_below_the_rate_is_never_refused() {
        let rate = Rate {
            per_second: 5,
            burst: 1,
        };
        let mut tat = None;
        for i in 0..100 {
            match rate.check(tat, i * 200_000) {
                Verdict::Admit { new_tat, .. } => tat = Some(new_tat),
                Verdict::Reject { .. } => panic!("request {i} at exactly the rate refused"),
            }
        }
    }

    #[test]
    fn intervals_round_up_so_rounding_never_over_admits() {
        let rate = Rate {
            per_second: 3,
            burst: 1,
        };
        assert_eq!(rate.interval(), 333_334);
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(1_000_001), 2);
        assert_eq!(
            rate.max_busy_tat(0),
            0,
            "burst 1: the busy write never applies"
        );
    }
}
