//! A bucket too fast for one item is split over several (shards), so no
//! partition key takes more than ~[`SHARD_RATE`] writes/s (docs/limits.md).

use super::{Admission, BucketState, Denial, LIMIT_SK, Outcome, Owner, Period, Policy, Rate};
use crate::store::{self, Store, StoreError};
use time::OffsetDateTime;

/// A bucket's rate above which it is split over several items: no partition
/// key takes more than ~`SHARD_RATE` writes/s (AWS: 1,000; `docs/limits.md`).
pub const SHARD_RATE: u32 = 400;

impl Policy {
    /// Items the bucket is split over: one per `SHARD_RATE` of its rate, at
    /// most its burst (every shard keeps a burst ≥ 1; they add up exactly).
    pub fn shards(self) -> u32 {
        self.rate
            .per_second
            .div_ceil(SHARD_RATE)
            .min(self.rate.burst)
            .max(1)
    }

    /// Shard `index`'s share: rate, burst and turn ceiling divided with the
    /// remainders spread over the first shards, so the shards together hold
    /// exactly the whole bucket — never more (`burst + rate × t` holds) and,
    /// for turns, never less (the ceiling is exact: a request refused by one
    /// exhausted shard tries the others).
    pub(super) fn shard(self, index: u32) -> Self {
        let n = self.shards();
        let share = |total: u32| total / n + u32::from(index < total % n);
        Self {
            rate: Rate {
                per_second: share(self.rate.per_second),
                burst: share(self.rate.burst),
            },
            turn_ceiling: self
                .turn_ceiling
                .map(|c| c / u64::from(n) + u64::from(u64::from(index) < c % u64::from(n))),
        }
    }
}

/// The item of shard `index` (shard 0 is the unsharded item, so a bucket that
/// becomes hot keeps its state in one of its shards).
pub fn shard_key(owner: &Owner, index: u32) -> String {
    match index {
        0 => owner.partition_key(),
        k => format!("{}#{k}", owner.partition_key()),
    }
}

/// A random shard in `0..shards` (uniform enough for load spreading).
pub(super) fn shard_index(shards: u32) -> u32 {
    (ulid::Ulid::generate().random() % u128::from(shards.max(1))) as u32
}

/// One shard's answer, reported for the whole bucket: its rate, and the
/// shard's remaining tokens and turns multiplied by the shard count (an
/// estimate: shards drain evenly on average).
pub(super) fn scale<O>(outcome: Outcome<O>, whole: Policy, shards: u32) -> Outcome<O> {
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
        Err(Denial::Outdated(outdated)) => Err(Denial::Outdated(outdated)),
    }
}

/// The turns `owner` used in the period `at` falls in, read from every item
/// its bucket is split over under `policy` (strongly consistent: the count
/// the next write would judge by).
pub async fn turns_used(
    store: &Store,
    owner: &Owner,
    policy: Policy,
    at: OffsetDateTime,
) -> Result<u64, StoreError> {
    let keys: Vec<store::Key> = (0..policy.shards())
        .map(|index| (shard_key(owner, index), LIMIT_SK.to_owned()))
        .collect();
    let period = Period::of(at).key();
    let items = store::get_items(store, &keys).await?;
    Ok(items
        .iter()
        .map(|item| BucketState::from_item(item.as_ref()).turns_in(&period))
        .sum())
}
