//! What the portal's Usage view shows: turns and relationships against the
//! plan, and the organization's rate-limit refusals per hour.
//!
//! Refusals are counted in `PK = ORG#<org>`, `SK = REFUSED#<YYYY-MM-DDTHH>`
//! (kept 8 days). A refusal must stay cheap — a flood of them is what a
//! limiter is for — so each warm function adds up its own and writes the
//! sum at most once a second per organization, beside the refusal that
//! finds the second elapsed. What a function had not written when it stops
//! (under a second's refusals) is lost: the chart is a close count, never
//! an overcount.

use crate::ids::OrganizationId;
use crate::organizations::{Organization, org_pk};
use crate::store::{self, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How often a function writes an organization's refusal count at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long hourly counts are kept.
const KEEP_SECONDS: i64 = 8 * 24 * 3600;
/// The hours the chart shows.
pub const CHART_HOURS: usize = 24;

/// A warm function's refusals not yet written, per organization.
#[derive(Debug, Default)]
pub struct Refusals {
    pending: Mutex<HashMap<OrganizationId, Pending>>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    count: u64,
    written_at: Option<Instant>,
}

impl Refusals {
    /// Counts one refusal of `org`: the sum to write now, when this
    /// function has not written one for it within the last second.
    pub fn count(&self, org: OrganizationId, now: Instant) -> Option<u64> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry(org).or_insert(Pending {
            count: 0,
            written_at: None,
        });
        entry.count += 1;
        let due = entry
            .written_at
            .is_none_or(|at| now.duration_since(at) >= FLUSH_EVERY);
        if !due {
            return None;
        }
        let count = std::mem::take(&mut entry.count);
        entry.written_at = Some(now);
        // The map holds only organizations refused recently.
        if pending.len() > 10_000 {
            pending.retain(|_, p| p.count > 0);
        }
        Some(count)
    }
}

fn hour_sk(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "REFUSED#{:04}-{:02}-{:02}T{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

/// Adds `count` refusals to `org`'s hour of `at`.
pub async fn record(
    store: &Store,
    org: OrganizationId,
    count: u64,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    store
        .update_item((org_pk(org), hour_sk(at)))
        .update_expression("ADD refused :n SET expires_at_epoch = :ttl")
        .expression_attribute_values(":n", store::n(count))
        .expression_attribute_values(":ttl", store::n(at.unix_timestamp() + KEEP_SECONDS))
        .send()
        .await?;
    Ok(())
}

/// One hour of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hour {
    /// Its start, `HH:00` UTC.
    pub label: String,
    /// Refusals counted in it.
    pub refused: u64,
}

/// `org`'s refusals in each of the last [`CHART_HOURS`] hours up to `now`,
/// oldest first: one query of the at most 192 hourly items kept.
pub async fn refusals(
    store: &Store,
    org: OrganizationId,
    now: OffsetDateTime,
) -> Result<Vec<Hour>, StoreError> {
    let hours: Vec<OffsetDateTime> = (0..CHART_HOURS)
        .rev()
        .map(|back| now - time::Duration::hours(back as i64))
        .collect();
    let items = store::query_all(store, &org_pk(org), "REFUSED#", |q| q).await?;
    let counted: HashMap<&str, u64> = items
        .iter()
        .filter_map(|item| {
            Some((
                store::get_s(item, store::SK)?,
                store::get_n(item, "refused").unwrap_or(0),
            ))
        })
        .collect();
    Ok(hours
        .into_iter()
        .map(|at| Hour {
            label: format!("{:02}:00", at.to_offset(time::UtcOffset::UTC).hour()),
            refused: counted.get(hour_sk(at).as_str()).copied().unwrap_or(0),
        })
        .collect())
}

/// Turns and relationships against the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Turns used this billing period.
    pub turns_used: u64,
    /// The period's ceiling.
    pub turn_ceiling: u64,
    /// Active end users.
    pub relationships: u64,
    /// Their ceiling.
    pub relationship_ceiling: u64,
    /// The plan's name.
    pub plan: String,
}

/// `organization`'s quotas as of `now`: the turn counter's items and the
/// relationship counter's shards.
pub async fn quotas(
    store: &Store,
    organization: &Organization,
    now: OffsetDateTime,
) -> Result<Quotas, StoreError> {
    let owner = crate::limits::Owner::Organization(organization.id);
    let (turns, counted) = futures_util::future::join(
        crate::limits::turns_used(store, &owner, organization.limiter_policy(), now),
        crate::relationships::counted(store, Some(organization.clone())),
    )
    .await;
    let limits = organization.limits();
    Ok(Quotas {
        turns_used: turns?,
        turn_ceiling: limits.turn_ceiling,
        relationships: counted?.map_or(organization.relationships_active, |o| {
            o.relationships_active
        }),
        relationship_ceiling: limits.relationship_ceiling,
        plan: organization.plan.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_function_writes_an_organizations_refusals_at_most_once_a_second() {
        let refusals = Refusals::default();
        let (org, other) = (OrganizationId::generate(), OrganizationId::generate());
        let start = Instant::now();
        assert_eq!(refusals.count(org, start), Some(1), "the first is written");
        for _ in 0..99 {
            assert_eq!(
                refusals.count(org, start + Duration::from_millis(500)),
                None
            );
        }
        assert_eq!(refusals.count(other, start), Some(1), "per organization");
        assert_eq!(
            refusals.count(org, start + Duration::from_millis(1000)),
            Some(100),
            "the next second's write carries what waited"
        );
    }

    #[test]
    fn hours_are_utc_and_sort_in_time() {
        assert_eq!(
            hour_sk(datetime!(2026-12-08 01:30 +02:00)),
            "REFUSED#2026-12-07T23"
        );
        assert!(
            hour_sk(datetime!(2026-12-08 09:00 UTC)) < hour_sk(datetime!(2026-12-08 10:00 UTC))
        );
    }
}
