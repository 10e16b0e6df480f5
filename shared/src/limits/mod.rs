//! Rate limits and quotas as counters in DynamoDB (SPEC §6, §7;
//! `docs/limits.md`).
//!
//! Each bucket is one item, `PK = LIMIT#<owner>`, `SK = LIMIT`: the GCRA
//! theoretical arrival time (`tat`, µs) and, for organizations, the turns of
//! the current period (`period`, `turns`). Admitting a request and counting its
//! turn is **one conditional `UpdateItem`**: the limiter guesses which of four
//! writes applies (idle or draining × same or new period); a wrong guess, told
//! by the old item the failed write returns, tries the one that does.

mod owner;
pub mod period;
pub mod refusals;
mod shards;

use crate::cache::TtlCache;
use crate::clock::Timestamp;
pub use crate::config::SOURCE_IP_RATE;
pub use crate::gcra::Rate;
use crate::gcra::{self, MICROS, Verdict};
use crate::store::{self, Item, Store, StoreError, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
pub use owner::Owner;
pub use period::Period;
pub use shards::{SHARD_RATE, shard_key, turns_used};
use shards::{scale, shard_index};
use std::time::Duration;
use time::OffsetDateTime;

/// An external service's bucket (SPEC §6).
pub const EXTERNAL_SERVICE_RATE: Rate = Rate {
    per_second: 50,
    burst: 100,
};

/// What an external service's bucket enforces: its rate, no turns.
pub const EXTERNAL_SERVICE_POLICY: Policy = Policy {
    rate: EXTERNAL_SERVICE_RATE,
    turn_ceiling: None,
};

/// Sort key of every bucket item.
pub const LIMIT_SK: &str = "LIMIT";
/// The attribute of a bucket item that holds its owner's version.
pub const VERSION_ATTRIBUTE: &str = "version";
/// The attribute of a bucket item naming the last charge written to it: an
/// SDK retry of a write that landed (its answer lost to a timeout or a 500)
/// finds its own charge there and is not counted twice.
const CHARGE_ATTRIBUTE: &str = "charge";
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
    /// The owner's version (SPEC §5): bumped by every change of its
    /// credentials, policies or plan, returned by the same write that admitted
    /// the request, so a warm cache can tell whether it is still current.
    pub version: u64,
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

/// Why a request was refused (429), or not judged (`Outdated`, only for a
/// charge held to a version: [`ReadAt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial<O = Changed> {
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
    /// Not judged: the owner changed since the policy was read. Nothing was
    /// counted; charge again with the owner read anew.
    Outdated(O),
}

/// The owner changed past the version its policy was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The owner's version now.
    pub version: u64,
}

/// What a charge is held to: the owner's version its policy was read at
/// ([`CachedAt`]), or nothing ([`Unconditioned`]: read by this request, or
/// configuration) — then it cannot be outdated, and its type says so.
pub trait ReadAt: Copy + Send + Sync + 'static {
    /// What a charge answers when the owner changed since.
    type Outdated: Copy + std::fmt::Debug + Send;

    /// The version the write's condition holds the charge to.
    fn version(self) -> Option<u64>;

    /// The answer when the owner's version is `now`, if that is past it.
    fn outdated(self, now: u64) -> Option<Self::Outdated>;

    /// The owner's version an outdated charge found.
    fn found(outdated: &Self::Outdated) -> u64;
}

/// A policy read at this version of its owner (a cached record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedAt(pub u64);

impl ReadAt for CachedAt {
    type Outdated = Changed;

    fn version(self) -> Option<u64> {
        Some(self.0)
    }

    fn outdated(self, now: u64) -> Option<Changed> {
        (now > self.0).then_some(Changed { version: now })
    }

    fn found(outdated: &Changed) -> u64 {
        outdated.version
    }
}

/// A policy no change can outdate: read by this request, or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unconditioned;

impl ReadAt for Unconditioned {
    type Outdated = std::convert::Infallible;

    fn version(self) -> Option<u64> {
        None
    }

    fn outdated(self, _: u64) -> Option<std::convert::Infallible> {
        None
    }

    fn found(outdated: &std::convert::Infallible) -> u64 {
        match *outdated {}
    }
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

/// How one request is judged.
#[derive(Debug, Clone, Copy)]
struct Judge<R> {
    /// Refusals from a write only ([`Owner::versioned`]).
    versioned: bool,
    /// The owner's version the policy was read at.
    read_at: R,
    /// The request's time.
    at: OffsetDateTime,
    /// The request's charge: the SDK's retries of a write carry it unchanged.
    charge: ulid::Ulid,
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
    version: u64,
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
            version: store::get_n(item, VERSION_ATTRIBUTE).unwrap_or(0),
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

/// What one bucket item said about a request, before scaling to the whole bucket.
type Outcome<O = Changed> = Result<Admission, Denial<O>>;

impl Limiter {
    /// Charges one request at `at` to `owner`'s bucket under `policy` as read
    /// at the owner's version `read_at`, which the write's condition holds it
    /// to ([`Denial::Outdated`] when it changed).
    pub async fn admit<R: ReadAt>(
        &self,
        store: &Store,
        owner: &Owner,
        policy: Policy,
        read_at: R,
        at: OffsetDateTime,
    ) -> Result<Outcome<R::Outdated>, StoreError> {
        let judge = Judge {
            versioned: owner.versioned(),
            read_at,
            at,
            charge: ulid::Ulid::generate(),
        };
        let shards = policy.shards();
        if shards == 1 {
            return self
                .admit_item(store, owner.partition_key(), policy, judge)
                .await;
        }
        // A hot bucket: a random shard first; when it is empty, one more; when
        // its share of the turns is used up, every other shard in turn, so a
        // request is refused for turns only once all shares are used up — the
        // whole ceiling (turns never decrease within a period).
        let first = shard_index(shards);
        let mut rate_refusal = None;
        let mut tried_for_rate = 0;
        for step in 0..shards {
            let index = (first + step) % shards;
            let outcome = self
                .admit_item(store, shard_key(owner, index), policy.shard(index), judge)
                .await?;
            match outcome {
                Ok(_) => return Ok(scale(outcome, policy, shards)),
                Err(Denial::Outdated(_)) => return Ok(outcome),
                Err(Denial::TurnsExhausted { .. }) if step + 1 < shards => {}
                Err(Denial::TurnsExhausted { state, retry_after }) => {
                    if let Some(refusal) = rate_refusal {
                        return Ok(scale(Err(refusal), policy, shards));
                    }
                    // Every share is used up: the whole ceiling is.
                    let mut state = state;
                    state.turns = state.turns.map(|mut t| {
                        t.used = policy.turn_ceiling.unwrap_or(t.used);
                        t
                    });
                    return Ok(scale(
                        Err(Denial::TurnsExhausted { state, retry_after }),
                        policy,
                        shards,
                    ));
                }
                Err(refusal @ Denial::RateLimited { .. }) => {
                    tried_for_rate += 1;
                    rate_refusal = Some(refusal);
                    if tried_for_rate >= 2 {
                        return Ok(scale(Err(refusal), policy, shards));
                    }
                }
            }
        }
        Ok(scale(
            Err(rate_refusal.unwrap_or(Denial::RateLimited {
                state: Admission {
                    rate: policy.rate,
                    remaining: 0,
                    reset_at: at,
                    turns: None,
                    version: 0,
                },
                retry_after: 1,
            })),
            policy,
            shards,
        ))
    }

    /// Takes a bucket item read from the table (`None`: there is none yet)
    /// as this function's view of it, unless a write has told it more: the
    /// first write then takes the form that applies, where an unseen bucket
    /// is a guess. A hint only, like everything remembered here: the write's
    /// condition still judges, and an organization's refusals come from writes
    /// (a write's answer landing between the check and the put is replaced by
    /// the older read: one more write at worst).
    pub fn remember(&self, pk: &str, item: Option<&Item>) {
        if self.seen.get(&pk.to_owned()).is_none() {
            self.seen.put(pk.to_owned(), BucketState::from_item(item));
        }
    }

    /// Whether this function last saw `owner`'s (single-item) bucket empty or
    /// its turns used up: a read beside the write would be discarded. A hint
    /// only: the write still judges.
    pub fn looks_exhausted(&self, owner: &Owner, policy: Policy, at: OffsetDateTime) -> bool {
        let seen = self.seen.get(&owner.partition_key());
        let Some(seen) = seen.filter(|_| policy.shards() == 1) else {
            return false;
        };
        let turns_used_up = policy
            .turn_ceiling
            .is_some_and(|ceiling| seen.turns_in(&Period::of(at).key()) >= ceiling);
        turns_used_up
            || matches!(
                policy.rate.check(seen.tat, micros(at)),
                Verdict::Reject { .. }
            )
    }

    /// Charges one request to one bucket item. A `versioned` owner's
    /// refusals come from a write, never from memory (see [`Owner`]).
    async fn admit_item<R: ReadAt>(
        &self,
        store: &Store,
        pk: String,
        policy: Policy,
        judge: Judge<R>,
    ) -> Result<Outcome<R::Outdated>, StoreError> {
        let Judge {
            versioned,
            read_at,
            at,
            ..
        } = judge;
        let now = micros(at);
        let period = Period::of(at);
        let mut period_key = period.key();
        let state_of = |tat: Option<i64>, used, version| Admission {
            rate: policy.rate,
            remaining: policy.rate.remaining(tat.unwrap_or(now), now),
            reset_at: reset_instant(tat.unwrap_or(now).max(now)),
            turns: policy.turn_ceiling.map(|ceiling| TurnUsage {
                used,
                ceiling,
                resets_at: period.next_start(),
            }),
            version,
        };
        // Refuses when `state` already proves the bucket empty or the turns used up.
        let refusal = |state: &BucketState, period_key: &str| -> Option<Denial<R::Outdated>> {
            let used = state.turns_in(period_key);
            if policy.turn_ceiling.is_some_and(|ceiling| used >= ceiling) {
                let wait = micros(period.next_start()) - now;
                return Some(Denial::TurnsExhausted {
                    state: state_of(state.tat, used, state.version),
                    retry_after: gcra::retry_after_seconds(wait),
                });
            }
            match policy.rate.check(state.tat, now) {
                Verdict::Reject { retry_after } => Some(Denial::RateLimited {
                    state: state_of(state.tat, used, state.version),
                    retry_after: gcra::retry_after_seconds(retry_after),
                }),
                Verdict::Admit { .. } => None,
            }
        };

        let seen = self.seen.get(&pk);
        // An unseen bucket is full; only a zero share of turns refuses it.
        if !versioned
            && let Some(denial) = refusal(
                seen.as_ref().unwrap_or(&BucketState::default()),
                &period_key,
            )
        {
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
        for attempt in 1..=MAX_ATTEMPTS {
            let written = match self
                .write(store, &pk, policy, branch, judge, &period_key)
                .await
            {
                // A change of the owner is committing a transaction on this
                // item (its version): wait a moment and write again.
                Err(StoreError::Conflict { .. }) if attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(2 * attempt as u64)).await;
                    continue;
                }
                other => other?,
            };
            match written {
                Ok(item) => {
                    let after = BucketState::from_item(Some(&item));
                    let admission = state_of(after.tat, after.turns_in(&period_key), after.version);
                    self.seen.put(pk, after);
                    return Ok(Ok(admission));
                }
                Err(old) => {
                    let old = BucketState::from_item(old.as_ref());
                    if let Some(outdated) = read_at.outdated(old.version) {
                        self.seen.put(pk, old);
                        return Ok(Err(Denial::Outdated(outdated)));
                    }
                    // The item already counts a later period: this function's
                    // clock lags behind a month boundary. Count the turn there;
                    // the period never goes backwards.
                    if let Some(later) = old.period.as_ref().filter(|p| **p > period_key) {
                        period_key = later.clone();
                    }
                    if let Some(denial) = refusal(&old, &period_key) {
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
        let version = seen.as_ref().map_or(0, |s| s.version);
        let state = state_of(Some(now + policy.rate.tolerance()), 0, version);
        Ok(Err(Denial::RateLimited {
            state,
            retry_after: 1,
        }))
    }

    /// One conditional `UpdateItem`: `Ok(new item)` or `Err(old item)` when
    /// its condition did not hold (a retry of a write that landed is `Ok`).
    async fn write<R: ReadAt>(
        &self,
        store: &Store,
        pk: &str,
        policy: Policy,
        branch: Branch,
        judge: Judge<R>,
        period: &str,
    ) -> Result<Result<Item, Option<Item>>, StoreError> {
        let (now, read_at) = (micros(judge.at), judge.read_at.version());
        let rate = policy.rate;
        let mut set = vec!["#charge = :charge"];
        let mut conditions = vec!["(attribute_not_exists(#charge) OR #charge <> :charge)"];
        if read_at.is_some() {
            // The policy is the owner's as of `read_at`: no later change.
            conditions.push("(attribute_not_exists(#version) OR #version <= :read_at)");
        }
        let mut request = store
            .update_item((pk, LIMIT_SK))
            .expression_attribute_values(":now", store::n(now))
            .expression_attribute_names("#charge", CHARGE_ATTRIBUTE)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(read_at) = read_at {
            request = request
                .expression_attribute_names("#version", VERSION_ATTRIBUTE)
                .expression_attribute_values(":read_at", store::n(read_at));
        }
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
                // `<`, not `<>`: a function whose clock lags behind a month
                // boundary must not turn the counter back to the old period.
                conditions.push("(attribute_not_exists(#period) OR #period < :period)");
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
        let charge = judge.charge.to_string();
        let result = request
            .expression_attribute_values(":charge", store::s(&charge))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await
            .map_err(StoreError::from);
        match result {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            // Refused because an earlier attempt of this very write landed
            // (the SDK retried it): the item is what that attempt wrote.
            Err(StoreError::ConditionalCheckFailed { item: Some(item) })
                if store::get_s(&item, CHARGE_ATTRIBUTE) == Some(&charge) =>
            {
                Ok(Ok(*item))
            }
            Err(StoreError::ConditionalCheckFailed { item }) => Ok(Err(item.map(|b| *b))),
            Err(err) => Err(err),
        }
    }
}

/// Renders an ISO-8601 header timestamp.
pub fn header_time(at: OffsetDateTime) -> String {
    Timestamp::from(at).to_string()
}

#[cfg(test)]
mod tests;
