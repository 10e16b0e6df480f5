//! Organizations' rate-limit refusals per hour, for the admin portal's Usage
//! view: in the organization's bucket's partition, `PK = LIMIT#ORG#<org>`,
//! `SK = REFUSED#<YYYY-MM-DDTHH>` (kept 8 days). A
//! refusal must stay cheap — a flood of them is what a limiter is for — so
//! each warm function adds up its own and writes the sum at most once a
//! second per organization, beside the refusal that finds the second
//! elapsed. What a function had not written when it stops (under a
//! second's refusals) is lost: the count is close, never over.

use crate::ids::OrganizationId;
use crate::store::{self, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The partition of `org`'s bucket, which holds its refusal counts too.
pub fn partition(org: OrganizationId) -> String {
    super::Owner::Organization(org).partition_key()
}

/// How often a function writes an organization's refusal count at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long hourly counts are kept.
const KEEP_SECONDS: i64 = 8 * 24 * 3600;
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

pub fn hour_sk(at: OffsetDateTime) -> String {
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
        .update_item((partition(org), hour_sk(at)))
        .update_expression("ADD refused :n SET expires_at_epoch = :ttl")
        .expression_attribute_values(":n", store::n(count))
        .expression_attribute_values(":ttl", store::n(at.unix_timestamp() + KEEP_SECONDS))
        .send()
        .await?;
    Ok(())
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
