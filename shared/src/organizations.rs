//! Organizations (tenants) and their plans (SPEC §6, §7).

use crate::clock::format_timestamp;
use crate::ids::OrganizationId;
use crate::store::{self, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Sort key of the organization item.
pub const ORG_SK: &str = "ORG";

/// Partition key of everything an organization owns.
pub fn org_pk(id: OrganizationId) -> String {
    format!("ORG#{id}")
}

/// A billing plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// 10 rps, burst 20, 10,000 turns, 100 relationships.
    Free,
    /// 100 rps, burst 200, 1,000,000 turns, 100,000 relationships.
    Pro,
}

impl Plan {
    /// Parses a plan name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Self::Free),
            "pro" => Some(Self::Pro),
            _ => None,
        }
    }

    /// The plan's default limits.
    pub fn defaults(self) -> Limits {
        match self {
            Self::Free => Limits {
                rate_limit: 10,
                burst: 20,
                turn_ceiling: 10_000,
                relationship_ceiling: 100,
            },
            Self::Pro => Limits {
                rate_limit: 100,
                burst: 200,
                turn_ceiling: 1_000_000,
                relationship_ceiling: 100_000,
            },
        }
    }
}

/// An organization's effective limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Requests per second.
    pub rate_limit: u32,
    /// Bucket size.
    pub burst: u32,
    /// Turns per billing period.
    pub turn_ceiling: u64,
    /// Active end users.
    pub relationship_ceiling: u64,
}

/// Per-organization overrides of the plan's limits (`tetherctl org create --rate-limit ...`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    /// Overrides the plan's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Overrides the plan's burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Overrides the plan's turn ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_ceiling: Option<u64>,
    /// Overrides the plan's relationship ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_ceiling: Option<u64>,
}

/// The organization item: `PK = ORG#<id>`, `SK = ORG`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// The organization's id.
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Billing plan.
    pub plan: Plan,
    /// Limits that differ from the plan's.
    #[serde(flatten)]
    pub overrides: LimitOverrides,
    /// When it was created.
    pub created_at: String,
    /// End users not yet purged (SPEC §7). Changed only inside the
    /// transactions that create and purge end users.
    #[serde(default)]
    pub relationships_active: u64,
}

impl Organization {
    /// A new organization.
    pub fn new(
        name: String,
        plan: Plan,
        overrides: LimitOverrides,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = OrganizationId::generate();
        Self {
            pk: org_pk(id),
            sk: ORG_SK.to_owned(),
            id,
            name,
            plan,
            overrides,
            created_at: format_timestamp(now),
            relationships_active: 0,
        }
    }

    /// The plan's limits with this organization's overrides applied.
    pub fn limits(&self) -> Limits {
        let d = self.plan.defaults();
        let o = self.overrides;
        Limits {
            rate_limit: o.rate_limit.unwrap_or(d.rate_limit),
            burst: o.burst.unwrap_or(d.burst),
            turn_ceiling: o.turn_ceiling.unwrap_or(d.turn_ceiling),
            relationship_ceiling: o.relationship_ceiling.unwrap_or(d.relationship_ceiling),
        }
    }
}

/// The transaction part that counts one more active relationship of `org`,
/// conditioned on staying below `ceiling` (`ALL_OLD` on failure, so the
/// refusal can report the current count). Every end-user creation carries it.
pub fn count_relationship(
    store: &Store,
    org: OrganizationId,
    ceiling: u64,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let update = store::built(
        aws_sdk_dynamodb::types::Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(org_pk(org)))
            .key(store::SK, store::s(ORG_SK))
            .update_expression("SET relationships_active = if_not_exists(relationships_active, :zero) + :one")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(relationships_active) OR relationships_active < :ceiling)",
            )
            .expression_attribute_values(":zero", store::n(0))
            .expression_attribute_values(":one", store::n(1))
            .expression_attribute_values(":ceiling", store::n(ceiling))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build(),
    )?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .update(update)
        .build())
}

/// The count an organization item returned by a failed [`count_relationship`] holds.
pub fn relationships_in(item: Option<&store::Item>) -> u64 {
    item.and_then(|i| store::get_n(i, "relationships_active"))
        .unwrap_or(0)
}

/// Reads an organization (strongly consistent: a just-created organization is
/// usable at once).
pub async fn get_organization(
    store: &Store,
    id: OrganizationId,
) -> Result<Option<Organization>, StoreError> {
    store::get_consistent(store, &(org_pk(id), ORG_SK.to_owned())).await
}

/// Stores a new organization (the id is fresh, so the condition only guards
/// against an id collision).
pub async fn put_organization(store: &Store, org: &Organization) -> Result<(), StoreError> {
    store::put_new(store, org).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let org = Organization::new(
            "Acme".into(),
            Plan::Free,
            LimitOverrides {
                burst: Some(3),
                ..Default::default()
            },
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let limits = org.limits();
        assert_eq!(limits.burst, 3);
        assert_eq!(limits.rate_limit, 10);
        assert_eq!(limits.relationship_ceiling, 100);
        assert_eq!(Plan::Pro.defaults().turn_ceiling, 1_000_000);
    }

    #[test]
    fn organization_round_trips_through_an_item() {
        let org = Organization::new(
            "Acme".into(),
            Plan::Pro,
            LimitOverrides::default(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let item = store::to_item(&org).unwrap();
        assert_eq!(store::get_s(&item, "PK"), Some(org_pk(org.id).as_str()));
        assert!(
            !item.contains_key("burst"),
            "unset overrides are not stored"
        );
        let back: Organization = store::from_item(item).unwrap();
        assert_eq!(back.limits(), org.limits());
    }
}
