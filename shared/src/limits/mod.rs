//! Rate limits and quotas as counters in DynamoDB (SPEC §6, §7;
//! `docs/limits.md`).
//!
//! Each bucket is one item, `PK = LIMIT#<owner>`, `SK = LIMIT`, holding the
//! GCRA theoretical arrival time (`tat`, µs) and, for organizations, the turn
//! counter of the current billing period (`period`, `turns`). Admitting a
//! request and counting its turn is **one conditional `UpdateItem`**: the
//! limiter guesses which of four writes applies (bucket idle or draining ×
//! same or new period) and only on a wrong guess — told by the old item the
//! failed write returns — tries the one that does.

pub mod gcra;
pub mod period;

use crate::cache::TtlCache;
use crate::clock::format_timestamp;
use crate::ids::OrganizationId;
use crate::store::{self, Item, PK, SK, Store, StoreError, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
pub use gcra::Rate;
use gcra::{MICROS, Verdict};
pub use period::Period;
use std::time::Duration;
use time::OffsetDateTime;

/// Who a request is charged to (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An organization: API-key and user-token requests.
    Organization(OrganizationId),
    /// A request without valid credentials, or to a public endpoint.
    SourceIp(String),
}

impl Owner {
    fn partition_key(&self) -> String {
        match self {
            Self::Organization(id) => format!("LIMIT#ORG#{id}"),
            Self::SourceIp(ip) => format!("LIMIT#IP#{ip}"),
        }
    }
}

/// The per-IP bucket's defaults (SPEC §6).
pub const SOURCE_IP_RATE: Rate = Rate {
    per_second: 5,
    burst: 10,
};

/// Sort key of every bucket item.
const LIMIT_SK: &str = "LIMIT";
/// Idle per-IP buckets expire this long after they were last full.
const IP_BUCKET_TTL_SECONDS: i64 = 24 * 3600;
/// Writes tried for one request before contention counts as "too busy".
const MAX_ATTEMPTS: usize = 4;

/// What a bucket enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Rate and burst.
    pub rate: Rate,
    /// Turns per billing period, when the owner has a turn quota.
    pub turn_ceiling: Option<u64>,
}

/// The bucket after an admitted request (for the headers of SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The bucket's rate and burst.
    pub rate: Rate,
    /// Whole requests left.
    pub remaining: u32,
    /// When the bucket is full again.
    pub reset_at: OffsetDateTime,
    /// Turn usage, for owners with a quota.
    pub turns: Option<TurnUsage>,
}

/// Turns used in the current period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnUsage {
    /// Turns counted so far, this request's included when admitted.
    pub used: u64,
    /// The ceiling.
    pub ceiling: u64,
    /// The period's end (quota reset).
    pub resets_at: OffsetDateTime,
}

/// Why a request was refused (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The bucket is empty.
    RateLimited {
        /// The bucket as it stands.
        state: Admission,
        /// Whole seconds until a request would be admitted.
        retry_after: u64,
    },
    /// The period's turns are used up.
    TurnsExhausted {
        /// The bucket as it stands.
        state: Admission,
        /// Whole seconds until the period resets.
        retry_after: u64,
    },
}

/// The bucket as last seen by this warm function: enough to guess which
/// conditional write will apply next time.
#[derive(Debug, Clone)]
struct Seen {
    tat: i64,
    period: Option<String>,
}

/// The limiter of one warm function.
#[derive(Debug)]
pub struct Limiter {
    seen: TtlCache<String, Seen>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self {
            seen: TtlCache::new(Duration::from_secs(300), 16_384),
        }
    }
}

/// One of the four conditional writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Branch {
    /// The bucket is draining (`tat > now`), else idle.
    busy: bool,
    /// The item already counts this period's turns.
    same_period: bool,
}

/// The bucket item's state as read from a returned item.
#[derive(Debug, Clone, Default)]
struct BucketState {
    tat: Option<i64>,
    period: Option<String>,
    turns: u64,
}

impl BucketState {
    fn from_item(item: Option<&Item>) -> Self {
        let Some(item) = item else {
            return Self::default();
        };
        Self {
            tat: store::get_n(item, "tat"),
            period: store::get_s(item, "period").map(str::to_owned),
            turns: store::get_n(item, "turns").unwrap_or(0),
        }
    }
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The instant `micros` since the epoch, rounded up to a whole second (API
/// timestamps have whole seconds; rounding up never promises a full bucket early).
fn reset_instant(micros: i64) -> OffsetDateTime {
    let seconds = (micros + MICROS - 1).div_euclid(MICROS);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Limiter {
    /// Charges one request at `at` to `owner`'s bucket.
    pub async fn admit(
        &self,
        store: &Store,
        owner: &Owner,
        policy: Policy,
        at: OffsetDateTime,
    ) -> Result<Result<Admission, Denial>, StoreError> {
        let pk = owner.partition_key();
        let now = micros(at);
        let period = Period::of(at);
        let period_key = period.key();
        let usage = |used| {
            policy.turn_ceiling.map(|ceiling| TurnUsage {
                used,
                ceiling,
                resets_at: period.next_start(),
            })
        };
        let state_of = |tat: i64, used| Admission {
            rate: policy.rate,
            remaining: policy.rate.remaining(tat, now),
            reset_at: reset_instant(tat.max(now)),
            turns: usage(used),
        };

        if policy.turn_ceiling == Some(0) {
            // Nothing to count against: refuse without a write.
            let state = state_of(now, 0);
            let wait = micros(period.next_start()) - now;
            return Ok(Err(Denial::TurnsExhausted {
                state,
                retry_after: gcra::retry_after_seconds(wait),
            }));
        }
        let mut branch = match self.seen.get(&pk) {
            Some(seen) => Branch {
                busy: seen.tat > now,
                same_period: seen.period.as_deref() == Some(&period_key),
            },
            // A cold function bets on the common case: an existing, idle bucket.
            None => Branch {
                busy: false,
                same_period: true,
            },
        };
        for _ in 0..MAX_ATTEMPTS {
            match self
                .write(store, &pk, policy, branch, now, &period_key)
                .await?
            {
                Ok(item) => {
                    let after = BucketState::from_item(Some(&item));
                    let tat = after.tat.unwrap_or(now);
                    self.seen.put(
                        pk,
                        Seen {
                            tat,
                            period: after.period,
                        },
                    );
                    return Ok(Ok(state_of(tat, after.turns)));
                }
                Err(old) => {
                    let old = BucketState::from_item(old.as_ref());
                    let same_period = old.period.as_deref() == Some(&period_key);
                    let used = if same_period { old.turns } else { 0 };
                    self.seen.put(
                        pk.clone(),
                        Seen {
                            tat: old.tat.unwrap_or(now),
                            period: old.period.clone(),
                        },
                    );
                    let current = state_of(old.tat.unwrap_or(now), used);
                    if policy.turn_ceiling.is_some_and(|ceiling| used >= ceiling) {
                        let wait = micros(period.next_start()) - now;
                        return Ok(Err(Denial::TurnsExhausted {
                            state: current,
                            retry_after: gcra::retry_after_seconds(wait),
                        }));
                    }
                    match policy.rate.check(old.tat, now) {
                        Verdict::Reject { retry_after } => {
                            let retry_after = gcra::retry_after_seconds(retry_after);
                            return Ok(Err(Denial::RateLimited {
                                state: current,
                                retry_after,
                            }));
                        }
                        Verdict::Admit { busy, .. } => branch = Branch { busy, same_period },
                    }
                }
            }
        }
        // Every guess lost a race with another writer: the bucket is that busy.
        let state = state_of(now + policy.rate.tolerance(), 0);
        Ok(Err(Denial::RateLimited {
            state,
            retry_after: 1,
        }))
    }

    /// One conditional `UpdateItem`: `Ok(new item)` or `Err(old item)` when
    /// its condition did not hold.
    async fn write(
        &self,
        store: &Store,
        pk: &str,
        policy: Policy,
        branch: Branch,
        now: i64,
        period: &str,
    ) -> Result<Result<Item, Option<Item>>, StoreError> {
        let rate = policy.rate;
        let mut set = Vec::new();
        let mut conditions = Vec::new();
        let mut request = store
            .client()
            .update_item()
            .table_name(store.table())
            .key(PK, store::s(pk))
            .key(SK, store::s(LIMIT_SK))
            .expression_attribute_values(":now", store::n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(store::CAPACITY);
        if branch.busy {
            set.push("tat = tat + :interval");
            conditions.push("tat > :now AND tat <= :max_busy");
            request = request
                .expression_attribute_values(":interval", store::n(rate.interval()))
                .expression_attribute_values(":max_busy", store::n(rate.max_busy_tat(now)));
        } else {
            set.push("tat = :next");
            conditions.push("(attribute_not_exists(tat) OR tat <= :now)");
            request = request.expression_attribute_values(":next", store::n(now + rate.interval()));
        }
        if let Some(ceiling) = policy.turn_ceiling {
            request = request
                .expression_attribute_names("#period", "period")
                .expression_attribute_values(":period", store::s(period))
                .expression_attribute_values(":one", store::n(1));
            if branch.same_period {
                set.push("turns = turns + :one");
                conditions.push("#period = :period AND turns < :ceiling");
                request = request.expression_attribute_values(":ceiling", store::n(ceiling));
            } else {
                set.push("#period = :period, turns = :one");
                conditions.push("(attribute_not_exists(#period) OR #period <> :period)");
            }
        } else {
            // Per-IP buckets are many and short-lived: let TTL remove idle ones.
            set.push("#expires = :expires");
            request = request
                .expression_attribute_names("#expires", TTL_ATTRIBUTE)
                .expression_attribute_values(
                    ":expires",
                    store::n(now / MICROS + IP_BUCKET_TTL_SECONDS),
                );
        }
        let result = request
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await
            .map_err(StoreError::from);
        match result {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(StoreError::ConditionalCheckFailed { item }) => Ok(Err(item.map(|b| *b))),
            Err(err) => Err(err),
        }
    }
}

/// Renders an ISO-8601 header timestamp.
pub fn header_time(at: OffsetDateTime) -> String {
    format_timestamp(at)
}
