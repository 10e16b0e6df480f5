//! What the portal's Usage view shows: turns and relationships against the
//! plan, and the organization's rate-limit refusals per hour (counted by
//! [`crate::limits::refusals`]).

use crate::ids::OrganizationId;
use crate::limits::refusals::{hour_sk, partition};
use crate::organizations::Organization;
use crate::store::{self, Store, StoreError};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The hours the chart shows.
pub const CHART_HOURS: usize = 24;

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
    let items = store::query_all(store, &partition(org), "REFUSED#", |q| q).await?;
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
