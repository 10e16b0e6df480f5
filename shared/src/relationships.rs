//! The active-relationship counter (SPEC §7): exact under any concurrency,
//! and split over several items when one would be too hot.
//!
//! Every end-user creation counts itself in the same transaction as its
//! `Put`. AWS cancels a transaction whose item is part of another one in
//! progress (`TransactionConflict`), so one counter item serialises an
//! organization's creations: at a pro organization's 100 creations/s and a
//! few milliseconds of hold per transaction, most attempts would conflict
//! (docs/limits.md, "Relationships", for the arithmetic).
//!
//! - **Unsharded** (one shard: the free plan): the organization item holds
//!   `relationships_active`, counted under `relationships_active < ceiling`.
//! - **Sharded** (more shards: from the plan's rate, [`shard_count`]): shard 0
//!   is still the organization item, shards 1.. are items `ORG#RELS#<k>` of
//!   the same partition. Each shard has a *cap*; a creation counts in a random
//!   shard under `active < cap` and the ceiling the cap was computed for. The
//!   invariant `Σ max(active, cap) ≤ ceiling` makes the total exact: a shard
//!   admits only below its cap. When the chosen shard is full (or its cap is
//!   for another ceiling), the creation reads every shard (one consistent
//!   query), takes an open one, or — when none is open and the total is
//!   below the ceiling — redistributes the room that is left ([`caps`]) in
//!   one transaction conditioned on no shard having grown; at the ceiling it
//!   is refused with the exact total. A conflict moves to another shard at
//!   once (later tries also wait a jittered moment) instead of waiting for
//!   the same item.
//!
//! An organization, once sharded, stays sharded (`relationship_shards` on its
//! item only grows), so no count is ever left outside the caps.

use crate::organizations::{ORG_SK, Organization, org_pk};
use crate::store::{self, Item, Store, StoreError};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// Sort-key prefix of shards 1.. of an organization's counter.
const SHARD_PREFIX: &str = "ORG#RELS#";
/// Creations per second one counter item is given. At AWS's hold of a few
/// milliseconds per transaction, 10/s keeps an attempt's chance of meeting
/// another transaction on its item near 10 % (docs/limits.md).
pub const CREATIONS_PER_SHARD: u32 = 10;
/// The most shards an organization's counter is split over (a transaction
/// that redistributes the caps writes every shard; at most 100 items).
pub const MAX_SHARDS: u32 = 16;
/// Attempts of one creation (conflicts and full shards) before a 503: with
/// [`backoff`], a creation keeps trying for up to about a second, so a burst
/// at the plan's rate that meets itself on every shard still drains.
pub const ATTEMPTS: u32 = 10;
/// How long one creation keeps trying before its 503, whatever is left of
/// [`ATTEMPTS`] (the functions' timeout is 10 s; a try's calls are bounded
/// by the SDK's own timeouts).
const TRYING_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The attributes every shard (the organization item included) uses.
const ACTIVE: &str = "relationships_active";
const CAP: &str = "relationships_cap";
const CAP_CEILING: &str = "relationships_cap_ceiling";
/// On the organization item: how many shards the counter has been split over.
pub const SHARDS: &str = "relationship_shards";

/// How many shards `org`'s counter uses: one per [`CREATIONS_PER_SHARD`] of
/// its plan's rate, never fewer than it already has, never more than
/// [`MAX_SHARDS`] (or its ceiling, when it is lower: every shard needs room
/// for one).
pub fn shard_count(org: &Organization) -> u32 {
    let by_rate = org
        .plan
        .defaults()
        .rate_limit
        .div_ceil(CREATIONS_PER_SHARD)
        .min(MAX_SHARDS);
    let by_ceiling = u32::try_from(org.limits().relationship_ceiling).unwrap_or(u32::MAX);
    by_rate.min(by_ceiling).max(org.relationship_shards).max(1)
}

/// The key of shard `k` (0: the organization item).
fn shard_key(org: crate::ids::OrganizationId, k: u32) -> (String, String) {
    let sk = if k == 0 {
        ORG_SK.to_owned()
    } else {
        format!("{SHARD_PREFIX}{k:02}")
    };
    (org_pk(org), sk)
}

/// The shard an end user counted in, as its record keeps it (`None`: the
/// organization item).
pub fn slot(k: u32) -> Option<u32> {
    (k > 0).then_some(k)
}

/// The transaction part that takes one off the count of the shard `slot`
/// (the purge's).
pub fn uncount(
    store: &Store,
    org: crate::ids::OrganizationId,
    slot: Option<u32>,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = shard_key(org, slot.unwrap_or(0));
    let update = store::built(
        Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(pk))
            .key(store::SK, store::s(sk))
            .update_expression("SET #active = #active - :one")
            .condition_expression("#active > :zero")
            .expression_attribute_names("#active", ACTIVE)
            .expression_attribute_values(":one", store::n(1))
            .expression_attribute_values(":zero", store::n(0))
            .build(),
    )?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The transaction part that counts one more relationship in shard `k`.
fn count(
    store: &Store,
    org: crate::ids::OrganizationId,
    k: u32,
    ceiling: u64,
    sharded: bool,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = shard_key(org, k);
    let builder = Update::builder()
        .table_name(store.table())
        .key(store::PK, store::s(pk))
        .key(store::SK, store::s(sk))
        .update_expression("SET #active = if_not_exists(#active, :zero) + :one")
        .expression_attribute_names("#active", ACTIVE)
        .expression_attribute_values(":zero", store::n(0))
        .expression_attribute_values(":one", store::n(1))
        .expression_attribute_values(":ceiling", store::n(ceiling));
    let builder = if sharded {
        builder
            .condition_expression("#active < #cap AND #cap_ceiling = :ceiling")
            .expression_attribute_names("#cap", CAP)
            .expression_attribute_names("#cap_ceiling", CAP_CEILING)
    } else {
        // The organization item alone, unless it has been sharded since
        // the caller read it: then the sharded path must judge.
        builder
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(#active) OR #active < :ceiling) \
                 AND (attribute_not_exists(#shards) OR #shards <= :one)",
            )
            .expression_attribute_names("#shards", SHARDS)
    };
    Ok(TransactWriteItem::builder()
        .update(store::built(
            builder
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?)
        .build())
}

/// One shard as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Its index (0: the organization item).
    pub k: u32,
    /// Relationships counted in it.
    pub active: u64,
    /// What it may hold, for the ceiling `cap_ceiling` (`None`: no cap yet).
    pub cap: Option<(u64, u64)>,
}

/// An organization's counter as read at once (one consistent query).
#[derive(Debug, Clone)]
pub struct Counts {
    /// The organization, as of the same read.
    pub organization: Organization,
    /// Every shard that exists (the organization item first).
    pub shards: Vec<Shard>,
}

impl Counts {
    /// The exact number of active relationships.
    pub fn total(&self) -> u64 {
        self.shards.iter().map(|s| s.active).sum()
    }

    /// A shard below `shards` with room under a cap for `ceiling`, other
    /// than `not`.
    fn open(&self, shards: u32, ceiling: u64) -> Option<u32> {
        let open: Vec<u32> = self
            .shards
            .iter()
            .filter(|s| {
                s.k < shards && s.cap.is_some_and(|(cap, c)| c == ceiling && s.active < cap)
            })
            .map(|s| s.k)
            .collect();
        (!open.is_empty()).then(|| open[random_below(open.len() as u32) as usize])
    }
}

fn shard_of(k: u32, item: &Item) -> Shard {
    Shard {
        k,
        active: store::get_n(item, ACTIVE).unwrap_or(0),
        cap: store::get_n(item, CAP).zip(store::get_n(item, CAP_CEILING)),
    }
}

/// Reads the organization and every shard of its counter (consistent).
pub async fn read(
    store: &Store,
    org: crate::ids::OrganizationId,
) -> Result<Option<Counts>, StoreError> {
    let items = store::query_all(store, &org_pk(org), ORG_SK, |q| q).await?;
    let mut organization = None;
    let mut shards = Vec::new();
    for item in items {
        match store::get_s(&item, store::SK) {
            Some(ORG_SK) => {
                shards.push(shard_of(0, &item));
                organization = Some(store::from_item::<Organization>(item)?);
            }
            Some(sk) => {
                if let Some(k) = sk
                    .strip_prefix(SHARD_PREFIX)
                    .and_then(|k| k.parse::<u32>().ok())
                {
                    shards.push(shard_of(k, &item));
                }
            }
            None => {}
        }
    }
    shards.sort_by_key(|s| s.k);
    Ok(organization.map(|mut organization| {
        organization.relationships_active = shards.iter().map(|s| s.active).sum();
        Counts {
            organization,
            shards,
        }
    }))
}

/// `org` as read from its item, with the relationships its counter's other
/// shards hold added to the item's own: one query, only for an organization
/// whose counter is sharded (the quota headers' count).
pub async fn counted(
    store: &Store,
    org: Option<Organization>,
) -> Result<Option<Organization>, StoreError> {
    let Some(mut org) = org else {
        return Ok(None);
    };
    if org.relationship_shards > 1 {
        let items = store::query_all(store, &org_pk(org.id), SHARD_PREFIX, |q| q).await?;
        org.relationships_active += items
            .iter()
            .map(|i| store::get_n::<u64>(i, ACTIVE).unwrap_or(0))
            .sum::<u64>();
    }
    Ok(Some(org))
}

/// The caps of shards `0..n` (and 0 for any shard at or above `n`) that
/// share what is left of `ceiling` after the counted `shards`: each gets its
/// own count plus an even share of the room, so `Σ max(active, cap)` is the
/// ceiling exactly. `None` when there is no room.
pub fn caps(shards: &[Shard], n: u32, ceiling: u64) -> Option<Vec<(u32, u64)>> {
    let total: u64 = shards.iter().map(|s| s.active).sum();
    let room = ceiling.checked_sub(total).filter(|room| *room > 0)?;
    let highest = shards.iter().map(|s| s.k + 1).max().unwrap_or(0).max(n);
    let active = |k: u32| shards.iter().find(|s| s.k == k).map_or(0, |s| s.active);
    let n64 = u64::from(n);
    Some(
        (0..highest)
            .map(|k| {
                let cap = if k < n {
                    let k64 = u64::from(k);
                    active(k) + room / n64 + u64::from(k64 < room % n64)
                } else {
                    0
                };
                (k, cap)
            })
            .collect(),
    )
}

/// Writes `caps` for `ceiling` in one transaction, on condition that no
/// shard grew since `counts` was read (purges may have lowered one: the
/// invariant still holds). `false` when that raced.
async fn redistribute(
    store: &Store,
    counts: &Counts,
    caps: &[(u32, u64)],
    ceiling: u64,
    n: u32,
) -> Result<bool, StoreError> {
    let org = counts.organization.id;
    let items = caps
        .iter()
        .map(|&(k, cap)| {
            let seen = counts.shards.iter().find(|s| s.k == k).map(|s| s.active);
            let (pk, sk) = shard_key(org, k);
            let mut update = Update::builder()
                .table_name(store.table())
                .key(store::PK, store::s(pk))
                .key(store::SK, store::s(sk))
                .expression_attribute_names("#active", ACTIVE)
                .expression_attribute_names("#cap", CAP)
                .expression_attribute_names("#cap_ceiling", CAP_CEILING)
                .expression_attribute_values(":cap", store::n(cap))
                .expression_attribute_values(":ceiling", store::n(ceiling))
                .expression_attribute_values(":zero", store::n(0));
            let set =
                "SET #cap = :cap, #cap_ceiling = :ceiling, #active = if_not_exists(#active, :zero)";
            update = if k == 0 {
                update
                    .update_expression(format!("{set}, #shards = :shards"))
                    .expression_attribute_names("#shards", SHARDS)
                    .expression_attribute_values(":shards", store::n(n))
            } else {
                update.update_expression(set)
            };
            // (DynamoDB Local rejects parentheses around a whole condition.)
            let condition = match (k, seen) {
                (0, Some(_)) => {
                    "attribute_exists(PK) AND (attribute_not_exists(#active) OR #active <= :seen)"
                }
                (0, None) => "attribute_exists(PK) AND attribute_not_exists(#active)",
                (_, Some(_)) => "attribute_not_exists(#active) OR #active <= :seen",
                (_, None) => "attribute_not_exists(#active)",
            };
            update = update.condition_expression(condition);
            if let Some(seen) = seen {
                update = update.expression_attribute_values(":seen", store::n(seen));
            }
            Ok(TransactWriteItem::builder()
                .update(store::built(update.build())?)
                .build())
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    match store::transact_with(store, items, 1).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

/// What a new organization's counter starts with, when its plan shards it:
/// the caps of every shard (the whole ceiling, shared), so that its first
/// creations need not redistribute — written with the organization. Adds
/// the organization item's own cap and shard count to `item`; returns the
/// other shards' items.
pub fn seed(org: &Organization, item: &mut Item) -> Vec<Item> {
    let n = shard_count(org);
    let ceiling = org.limits().relationship_ceiling;
    if n <= 1 {
        return Vec::new();
    }
    let fields = |cap: u64| {
        [
            (ACTIVE.to_owned(), store::n(0)),
            (CAP.to_owned(), store::n(cap)),
            (CAP_CEILING.to_owned(), store::n(ceiling)),
        ]
    };
    let mut shards = Vec::new();
    for (k, cap) in caps(&[], n, ceiling).unwrap_or_default() {
        if k == 0 {
            item.extend(fields(cap));
            item.insert(SHARDS.to_owned(), store::n(n));
        } else {
            let (pk, sk) = shard_key(org.id, k);
            let mut shard = Item::from([
                (store::PK.to_owned(), store::s(pk)),
                (store::SK.to_owned(), store::s(sk)),
            ]);
            shard.extend(fields(cap));
            shards.push(shard);
        }
    }
    shards
}

/// Stores a new organization, with its counter's shards and caps when its
/// plan shards the counter ([`seed`]), in one transaction.
pub async fn put_organization(store: &Store, org: &Organization) -> Result<(), StoreError> {
    let mut item = store::to_item(org)?;
    let shards = seed(org, &mut item);
    crate::organizations::put_organization_items(store, org, item, shards).await
}

/// Why a creation was not counted.
#[derive(Debug)]
pub enum Refused {
    /// The organization is at its ceiling; the exact count it has.
    AtCeiling(u64),
    /// Another item of the creation's own transaction failed its condition:
    /// the cancellation, for the caller to read by index.
    Other(Vec<store::CancellationReason>),
}

/// Runs a creation that counts one relationship of `org` (the caller's
/// view of it). `build(slot)` gives the creation's own items, which record
/// `slot` (the shard the end user is counted in, see [`slot`]); the
/// counting item is appended after them.
pub async fn create_counted(
    store: &Store,
    org: &Organization,
    build: impl Fn(Option<u32>) -> Result<Vec<TransactWriteItem>, StoreError>,
) -> Result<Result<(), Refused>, StoreError> {
    let mut ceiling = org.limits().relationship_ceiling;
    let mut n = shard_count(org);
    let mut shard = random_below(n);
    let started = std::time::Instant::now();
    for attempt in 1..=ATTEMPTS {
        // A slow DynamoDB makes each try long: the 503 must come well
        // inside the function's timeout, never after it.
        if started.elapsed() > TRYING_FOR {
            break;
        }
        let mut items = build(slot(shard))?;
        let own = items.len();
        items.push(count(store, org.id, shard, ceiling, n > 1)?);
        let reasons = match store::transact_with(store, items, 1).await {
            Ok(()) => return Ok(Ok(())),
            Err(StoreError::TransactionCanceled { reasons }) => reasons,
            Err(err) => return Err(err),
        };
        if reasons[..own.min(reasons.len())]
            .iter()
            .any(store::CancellationReason::is_condition_failed)
        {
            return Ok(Err(Refused::Other(reasons)));
        }
        let counter = reasons.get(own);
        if reasons.iter().any(|r| r.code == "TransactionConflict") {
            store.note_conflict();
            // Another shard is tried at once; later tries also wait a
            // jittered, growing moment, so that a burst of creations that
            // met each other does not meet again inside the same holds. One
            // item: wait for the transaction holding it.
            if n > 1 {
                shard = other_than(shard, n);
            }
            let waits = if n > 1 { attempt - 1 } else { attempt };
            if waits > 0 && attempt < ATTEMPTS {
                tokio::time::sleep(backoff(waits)).await;
            }
            continue;
        }
        if !counter.is_some_and(store::CancellationReason::is_condition_failed) {
            return Err(StoreError::TransactionCanceled { reasons });
        }
        if n == 1 && !is_sharded(counter.and_then(|r| r.item.as_ref())) {
            let active = counter
                .and_then(|r| r.item.as_ref())
                .and_then(|i| store::get_n(i, ACTIVE))
                .unwrap_or(0);
            return Ok(Err(Refused::AtCeiling(active)));
        }
        // A full shard, a cap for another ceiling, or no caps yet: judge
        // from every shard as they are now.
        let Some(counts) = read(store, org.id).await? else {
            return Ok(Err(Refused::AtCeiling(0)));
        };
        ceiling = counts.organization.limits().relationship_ceiling;
        n = shard_count(&counts.organization).max(n);
        let total = counts.total();
        if total >= ceiling {
            return Ok(Err(Refused::AtCeiling(total)));
        }
        if let Some(k) = counts.open(n, ceiling) {
            shard = k;
        } else if let Some(caps) = caps(&counts.shards, n, ceiling)
            && redistribute(store, &counts, &caps, ceiling, n).await?
        {
            shard = random_below(n);
        }
    }
    // Contended through every try (conflicts, or shards filling and
    // redistributions racing near the ceiling): a 503 to retry, not a 500.
    Err(StoreError::Conflict {
        source: "the relationship counter stayed contended through every try".into(),
    })
}

/// Whether an organization item says its counter is sharded.
fn is_sharded(item: Option<&Item>) -> bool {
    item.and_then(|i| store::get_n::<u32>(i, SHARDS))
        .is_some_and(|n| n > 1)
}

/// The wait before the `waits`-th retry after a conflict: exponential from
/// 5 ms, capped at 160 ms, with jitter over its upper half, so that
/// creations that met once spread apart instead of meeting again.
fn backoff(waits: u32) -> std::time::Duration {
    let full = 5u64 << waits.saturating_sub(1).min(5);
    let half = full / 2;
    std::time::Duration::from_millis(half + u64::from(random_below(half as u32 + 1)))
}

/// A number in `0..n` (n ≥ 1), from the ULID generator's randomness.
fn random_below(n: u32) -> u32 {
    (ulid::Ulid::generate().random() % u128::from(n.max(1))) as u32
}

/// A shard in `0..n` other than `k` (n ≥ 2).
fn other_than(k: u32, n: u32) -> u32 {
    (k + 1 + random_below(n - 1)) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(k: u32, active: u64) -> Shard {
        Shard {
            k,
            active,
            cap: None,
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_and_a_whole_budget_lasts_about_a_second() {
        for waits in 1..ATTEMPTS {
            let full = 5u64 << (waits - 1).min(5);
            let wait = backoff(waits).as_millis() as u64;
            assert!((full / 2..=full).contains(&wait), "{waits}: {wait}");
        }
        let most: u64 = (1..ATTEMPTS).map(|w| 5u64 << (w - 1).min(5)).sum();
        assert!((600..=1_200).contains(&most), "{most}");
    }

    #[test]
    fn caps_share_the_room_left_and_sum_to_the_ceiling() {
        let shards = [shard(0, 7), shard(1, 2)];
        let caps = caps(&shards, 4, 20).unwrap();
        assert_eq!(caps, vec![(0, 10), (1, 5), (2, 3), (3, 2)]);
        let held: u64 = caps
            .iter()
            .map(|&(k, cap)| cap.max(shards.iter().find(|s| s.k == k).map_or(0, |s| s.active)))
            .sum();
        assert_eq!(held, 20);
    }

    #[test]
    fn shards_beyond_the_count_are_closed_but_keep_counting() {
        let shards = [shard(0, 1), shard(5, 3)];
        let caps = caps(&shards, 2, 10).unwrap();
        assert_eq!(caps, vec![(0, 4), (1, 3), (2, 0), (3, 0), (4, 0), (5, 0)]);
    }

    #[test]
    fn no_room_means_no_caps() {
        assert_eq!(caps(&[shard(0, 10)], 3, 10), None);
        assert_eq!(caps(&[shard(0, 12)], 3, 10), None);
    }

    #[test]
    fn another_shard_is_never_the_same_one() {
        for k in 0..5 {
            for _ in 0..50 {
                let other = other_than(k, 5);
                assert!(other < 5 && other != k);
            }
        }
    }
}
