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
    /// An external service (service-token requests; no turns).
    ExternalService(crate::ids::ExternalServiceId),
    /// A request without valid credentials, or to a public endpoint.
    SourceIp(String),
}

impl Owner {
    fn partition_key(&self) -> String {
        match self {
            Self::Organization(id) => format!("LIMIT#ORG#{id}"),
            Self::ExternalService(id) => format!("LIMIT#SVC#{id}"),
            Self::SourceIp(ip) => format!("LIMIT#IP#{ip}"),
        }
    }
}

/// An external service's bucket (SPEC §6).
pub const EXTERNAL_SERVICE_RATE: Rate = Rate {
    per_second: 50,
    burst: 100,
};

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

/// The limiter of one warm function. It remembers each bucket as it last saw
/// it: enough to guess which conditional write applies next, and to refuse
/// without any write while that state already proves the bucket empty (a TAT
/// only grows, so a refusal from an older state is still right).
#[derive(Debug)]
pub struct Limiter {
    seen: TtlCache<String, BucketState>,
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

/// A bucket item's state, as returned by a write.
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

    /// Turns counted in `period` (none when the item counts another one).
    fn turns_in(&self, period: &str) -> u64 {
        if self.period.as_deref() == Some(period) {
            self.turns
        } else {
            0
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

/// A bucket's rate above which it is split over several items, so that no
/// partition key takes more than ~`SHARD_RATE` writes per second (DynamoDB
/// allows 1,000 WCU/s per partition key; see `docs/limits.md`).
pub const SHARD_RATE: u32 = 400;

impl Policy {
    /// Items the bucket is split over.
    pub fn shards(self) -> u32 {
        self.rate.per_second.div_ceil(SHARD_RATE).max(1)
    }

    /// One shard's share: rate, burst and turns divided, rounded down, so the
    /// shards together never admit more than the whole bucket.
    fn shard(self) -> Self {
        let n = self.shards();
        Self {
            rate: Rate {
                per_second: (self.rate.per_second / n).max(1),
                burst: (self.rate.burst / n).max(1),
            },
            turn_ceiling: self.turn_ceiling.map(|c| c / u64::from(n)),
        }
    }
}

/// What one bucket item said about a request, before scaling to the whole bucket.
type Outcome = Result<Admission, Denial>;

impl Limiter {
    /// Charges one request at `at` to `owner`'s bucket.
    pub async fn admit(
        &self,
        store: &Store,
        owner: &Owner,
        policy: Policy,
        at: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let shards = policy.shards();
        if shards == 1 {
            return self
                .admit_item(store, owner.partition_key(), policy, at)
                .await;
        }
        // A hot bucket: a random shard, and one more if that one is empty
        // while others may not be.
        let first = shard_index(shards);
        let mut outcome = self
            .admit_item(store, shard_key(owner, first), policy.shard(), at)
            .await?;
        if matches!(outcome, Err(Denial::RateLimited { .. })) {
            let second = (first + 1 + shard_index(shards - 1)) % shards;
            outcome = self
                .admit_item(store, shard_key(owner, second), policy.shard(), at)
                .await?;
        }
        Ok(scale(outcome, policy, shards))
    }

    /// Charges one request to one bucket item.
    async fn admit_item(
        &self,
        store: &Store,
        pk: String,
        policy: Policy,
        at: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let now = micros(at);
        let period = Period::of(at);
        let period_key = period.key();
        let state_of = |tat: Option<i64>, used| Admission {
            rate: policy.rate,
            remaining: policy.rate.remaining(tat.unwrap_or(now), now),
            reset_at: reset_instant(tat.unwrap_or(now).max(now)),
            turns: policy.turn_ceiling.map(|ceiling| TurnUsage {
                used,
                ceiling,
                resets_at: period.next_start(),
            }),
        };
        // Refuses when `state` already proves the bucket empty or the turns used up.
        let refusal = |state: &BucketState| -> Option<Denial> {
            let used = state.turns_in(&period_key);
            if policy.turn_ceiling.is_some_and(|ceiling| used >= ceiling) {
                let wait = micros(period.next_start()) - now;
                return Some(Denial::TurnsExhausted {
                    state: state_of(state.tat, used),
                    retry_after: gcra::retry_after_seconds(wait),
                });
            }
            match policy.rate.check(state.tat, now) {
                Verdict::Reject { retry_after } => Some(Denial::RateLimited {
                    state: state_of(state.tat, used),
                    retry_after: gcra::retry_after_seconds(retry_after),
                }),
                Verdict::Admit { .. } => None,
            }
        };

        let seen = self.seen.get(&pk);
        if let Some(denial) = seen.as_ref().and_then(refusal) {
            return Ok(Err(denial));
        }
        let mut branch = match &seen {
            Some(seen) => Branch {
                busy: seen.tat.is_some_and(|t| t > now),
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
                    let admission = state_of(after.tat, after.turns_in(&period_key));
                    self.seen.put(pk, after);
                    return Ok(Ok(admission));
                }
                Err(old) => {
                    let old = BucketState::from_item(old.as_ref());
                    if let Some(denial) = refusal(&old) {
                        self.seen.put(pk, old);
                        return Ok(Err(denial));
                    }
                    branch = Branch {
                        busy: old.tat.is_some_and(|t| t > now),
                        same_period: old.period.as_deref() == Some(&period_key),
                    };
                    self.seen.put(pk.clone(), old);
                }
            }
        }
        // Every guess lost a race with another writer: the bucket is that busy.
        let state = state_of(Some(now + policy.rate.tolerance()), 0);
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

/// The item of shard `index` (shard 0 is the unsharded item, so a bucket that
/// becomes hot keeps its state in one of its shards).
fn shard_key(owner: &Owner, index: u32) -> String {
    match index {
        0 => owner.partition_key(),
        k => format!("{}#{k}", owner.partition_key()),
    }
}

/// A random shard in `0..shards` (uniform enough for load spreading).
fn shard_index(shards: u32) -> u32 {
    (ulid::Ulid::generate().random() % u128::from(shards.max(1))) as u32
}

/// One shard's answer, reported for the whole bucket: its rate, and the
/// shard's remaining tokens and turns multiplied by the shard count (an
/// estimate: shards drain evenly on average).
fn scale(outcome: Outcome, whole: Policy, shards: u32) -> Outcome {
    let n = shards.max(1);
    let widen = |mut a: Admission| {
        a.rate = whole.rate;
        a.remaining = a.remaining.saturating_mul(n).min(whole.rate.burst);
        a.turns = a.turns.zip(whole.turn_ceiling).map(|(mut t, ceiling)| {
            t.used = t.used.saturating_mul(u64::from(n)).min(ceiling);
            t.ceiling = ceiling;
            t
        });
        a
    };
    match outcome {
        Ok(a) => Ok(widen(a)),
        Err(Denial::RateLimited { state, retry_after }) => Err(Denial::RateLimited {
            state: widen(state),
            retry_after,
        }),
        Err(Denial::TurnsExhausted { state, retry_after }) => Err(Denial::TurnsExhausted {
            state: widen(state),
            retry_after,
        }),
    }
}

/// Renders an ISO-8601 header timestamp.
pub fn header_time(at: OffsetDateTime) -> String {
    format_timestamp(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_shard_only_above_the_shard_rate() {
        let policy = |per_second, burst| Policy {
            rate: Rate { per_second, burst },
            turn_ceiling: Some(1_000),
        };
        assert_eq!(policy(400, 800).shards(), 1);
        assert_eq!(policy(401, 800).shards(), 2);
        assert_eq!(policy(2_000, 4_000).shards(), 5);
        let shard = policy(1_000, 2_000).shard();
        assert_eq!(
            shard.rate,
            Rate {
                per_second: 333,
                burst: 666
            }
        );
        assert_eq!(shard.turn_ceiling, Some(333));
        // The shards together never exceed the whole bucket.
        assert!(shard.rate.per_second * 3 <= 1_000 && shard.rate.burst * 3 <= 2_000);
    }

    #[test]
    fn shard_zero_is_the_unsharded_item() {
        let owner = Owner::SourceIp("192.0.2.1".into());
        assert_eq!(shard_key(&owner, 0), "LIMIT#IP#192.0.2.1");
        assert_eq!(shard_key(&owner, 2), "LIMIT#IP#192.0.2.1#2");
        assert!((0..100).all(|_| shard_index(3) < 3));
    }
}
