//! Organizations (tenants) and their plans (SPEC §6, §7).

use crate::clock::Timestamp;
use crate::ids::OrganizationId;
use crate::store::{self, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Sort key of the organization item.
pub const ORG_SK: &str = "ORG";
/// The partition of the directory items that list every organization
/// (operators only): `PK = ORGS`, `SK = ORG#<id>`. A separate item rather
/// than an index entry of the organization item, which the relationship
/// counter writes on every end-user creation: an index entry would double
/// those writes.
const DIRECTORY_PK: &str = "ORGS";

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

    /// The plan's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
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
                caps: Caps::DEFAULT,
            },
            Self::Pro => Limits {
                rate_limit: 100,
                burst: 200,
                turn_ceiling: 1_000_000,
                relationship_ceiling: 100_000,
                caps: Caps::DEFAULT,
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
    /// How many of the objects that multiply work it may have.
    #[serde(flatten)]
    pub caps: Caps,
}

/// The per-organization caps on the objects that multiply a request's or a
/// fan-out's work (SPEC §4): beyond them, 409 `limit_reached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Webhook endpoints (every event is fanned out to each).
    pub webhook_endpoints: u64,
    /// Identity providers (each a key set kept and refreshed).
    pub identity_providers: u64,
    /// Cedar policies (every decision evaluates them all).
    pub policies: u64,
    /// SCIM directories (each a credential and a provisioning stream).
    pub directories: u64,
}

impl Caps {
    /// Every plan's caps unless overridden.
    pub const DEFAULT: Self = Self {
        webhook_endpoints: 20,
        identity_providers: 50,
        policies: 100,
        directories: 5,
    };
}

/// Per-organization overrides of the plan's limits (`tetherctl org create --rate-limit ...`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    /// Overrides the plan's rate.
    pub rate_limit: Option<u32>,
    /// Overrides the plan's burst.
    pub burst: Option<u32>,
    /// Overrides the plan's turn ceiling.
    pub turn_ceiling: Option<u64>,
    /// Overrides the plan's relationship ceiling.
    pub relationship_ceiling: Option<u64>,
    /// Overrides the plan's cap on webhook endpoints.
    pub webhook_endpoints_cap: Option<u64>,
    /// Overrides the plan's cap on identity providers.
    pub identity_providers_cap: Option<u64>,
    /// Overrides the plan's cap on Cedar policies.
    pub policies_cap: Option<u64>,
    /// Overrides the plan's cap on SCIM directories.
    pub directories_cap: Option<u64>,
}

/// The organization item: `PK = ORG#<id>`, `SK = ORG`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    #[serde(flatten)]
    key: store::ItemKey,
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
    pub created_at: Timestamp,
    /// End users not yet purged (SPEC §7), counted in the transactions that
    /// create and purge them. Stored, the organization item's own share;
    /// as read by [`get_organization`], every shard's
    /// ([`crate::relationships`]).
    #[serde(default)]
    pub relationships_active: u64,
    /// How many items the relationship counter is split over, once it is
    /// (only grows; 0 or 1: the organization item alone).
    #[serde(default)]
    pub relationship_shards: u32,
    /// Admin-scoped API keys without an expiry: the last one cannot be
    /// revoked (409 `last_admin_key`). Changed only in the transactions that
    /// create, revoke and roll keys.
    #[serde(default)]
    pub admin_keys: u64,
    /// The organization's version (SPEC §5): bumped by every change of its
    /// credentials, policies or plan, and copied to its limiter bucket items
    /// in the same transaction ([`change`]).
    #[serde(default)]
    pub revision: u64,
}

impl store::Record for Organization {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
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
            key: store::ItemKey::new(org_pk(id), ORG_SK.to_owned()),
            id,
            name,
            plan,
            overrides,
            created_at: Timestamp::from(now),
            relationships_active: 0,
            relationship_shards: 0,
            admin_keys: 0,
            revision: 0,
        }
    }

    /// The limiter policy of its plan and overrides.
    pub fn limiter_policy(&self) -> crate::limits::Policy {
        let limits = self.limits();
        crate::limits::Policy {
            rate: crate::limits::Rate {
                per_second: limits.rate_limit,
                burst: limits.burst,
            },
            turn_ceiling: Some(limits.turn_ceiling),
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
            caps: Caps {
                webhook_endpoints: o.webhook_endpoints_cap.unwrap_or(d.caps.webhook_endpoints),
                identity_providers: o
                    .identity_providers_cap
                    .unwrap_or(d.caps.identity_providers),
                policies: o.policies_cap.unwrap_or(d.caps.policies),
                directories: o.directories_cap.unwrap_or(d.caps.directories),
            },
        }
    }
}

/// Reads an organization item (strongly consistent: a just-created
/// organization is usable at once). Its `relationships_active` is the
/// item's own share; [`crate::relationships::counted`] adds the other shards'.
pub async fn get_organization(
    store: &Store,
    id: OrganizationId,
) -> Result<Option<Organization>, StoreError> {
    store::get_consistent(store, &(org_pk(id), ORG_SK.to_owned())).await
}

/// Stores a new organization (its item as `item`), its directory item and
/// `more` items written with it — the relationship counter's shards, through
/// `relationships::put_organization`, the one way to create one. The
/// id is fresh, so the conditions only guard against an id collision.
pub async fn put_organization_items(
    store: &Store,
    org: &Organization,
    item: store::Item,
    more: Vec<store::Item>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let put = |item| {
        store::built(
            Put::builder()
                .table_name(store.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )
        .map(|p| TransactWriteItem::builder().put(p).build())
    };
    let directory = store::Item::from([
        (store::PK.to_owned(), store::s(DIRECTORY_PK)),
        (store::SK.to_owned(), store::s(org_pk(org.id))),
    ]);
    let mut items = vec![put(item)?, put(directory)?];
    for extra in more {
        items.push(put(extra)?);
    }
    store::transact(store, items).await
}

/// Every organization, oldest first (`tetherctl org list`): the directory
/// items (strongly consistent), then the organizations, 100 per `BatchGetItem`.
pub async fn list_all(store: &Store) -> Result<Vec<Organization>, StoreError> {
    let entries = store::query_all(store, DIRECTORY_PK, "ORG#", |q| q).await?;
    let keys: Vec<store::Key> = entries
        .iter()
        .filter_map(|e| store::get_s(e, "SK"))
        .map(|sk| (sk.to_owned(), ORG_SK.to_owned()))
        .collect();
    let mut all = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        for item in store::get_items(store, chunk).await?.into_iter().flatten() {
            all.push(store::from_item(item)?);
        }
    }
    Ok(all)
}

/// An operator's change of an organization (`tetherctl org update`): each
/// field set replaces the stored one.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// A new name.
    pub name: Option<String>,
    /// A new plan.
    pub plan: Option<Plan>,
    /// New overrides of the plan's limits.
    pub overrides: LimitOverrides,
}

/// Applies `update` as a change of the organization (SPEC §5: the limiter
/// and quotas apply it from the next request).
pub async fn update(
    store: &Store,
    id: OrganizationId,
    update: &Update,
) -> Result<Changed, StoreError> {
    change(store, id, |org| {
        let mut edit = Edit::default();
        let mut after = org.clone();
        if let Some(name) = &update.name {
            edit.set.push("#name = :name".into());
            edit.names.push(("#name", "name"));
            edit.values.push((":name", store::s(name)));
        }
        if let Some(plan) = update.plan {
            edit.set.push("#plan = :plan".into());
            edit.names.push(("#plan", "plan"));
            edit.values.push((":plan", store::s(plan.as_str())));
            after.plan = plan;
        }
        let o = update.overrides;
        for (field, placeholder, value) in [
            ("rate_limit", ":rate_limit", o.rate_limit.map(u64::from)),
            ("burst", ":burst", o.burst.map(u64::from)),
            ("turn_ceiling", ":turn_ceiling", o.turn_ceiling),
            (
                "relationship_ceiling",
                ":relationship_ceiling",
                o.relationship_ceiling,
            ),
            (
                "webhook_endpoints_cap",
                ":webhook_endpoints_cap",
                o.webhook_endpoints_cap,
            ),
            (
                "identity_providers_cap",
                ":identity_providers_cap",
                o.identity_providers_cap,
            ),
            ("policies_cap", ":policies_cap", o.policies_cap),
            ("directories_cap", ":directories_cap", o.directories_cap),
        ] {
            if let Some(value) = value {
                edit.set.push(format!("{field} = {placeholder}"));
                edit.values.push((placeholder, store::n(value)));
            }
        }
        after.overrides = LimitOverrides {
            rate_limit: o.rate_limit.or(org.overrides.rate_limit),
            burst: o.burst.or(org.overrides.burst),
            turn_ceiling: o.turn_ceiling.or(org.overrides.turn_ceiling),
            relationship_ceiling: o
                .relationship_ceiling
                .or(org.overrides.relationship_ceiling),
            webhook_endpoints_cap: o
                .webhook_endpoints_cap
                .or(org.overrides.webhook_endpoints_cap),
            identity_providers_cap: o
                .identity_providers_cap
                .or(org.overrides.identity_providers_cap),
            policies_cap: o.policies_cap.or(org.overrides.policies_cap),
            directories_cap: o.directories_cap.or(org.overrides.directories_cap),
        };
        edit.policy_after = Some(after.limiter_policy());
        Ok(edit)
    })
    .await
}

/// What a change of an organization writes besides bumping its version.
#[derive(Debug, Default)]
pub struct Edit {
    /// Extra `SET` clauses on the organization item (e.g. a plan).
    pub set: Vec<String>,
    /// Extra conditions on the organization item (e.g. `admin_keys > :one`).
    pub conditions: Vec<String>,
    /// Values the clauses and conditions name.
    pub values: Vec<(&'static str, store::AttributeValue)>,
    /// Attribute names the clauses and conditions name.
    pub names: Vec<(&'static str, &'static str)>,
    /// The change's other writes, in order.
    pub items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    /// The organization's limiter policy after the change, when it changes.
    pub policy_after: Option<crate::limits::Policy>,
}

/// How a change ended.
#[derive(Debug)]
pub enum Changed {
    /// Committed: the organization is now at `version`.
    Done {
        /// The new version.
        version: u64,
    },
    /// No such organization.
    NoOrganization,
    /// An extra condition on the organization item did not hold.
    Refused,
    /// The write at this index of [`Edit::items`] did not hold its
    /// condition; the item as it was, when asked for.
    ItemRefused(usize, Option<store::Item>),
}

/// Commits a change of organization `id` (SPEC §5): in one transaction, the
/// writes `build` returns for the organization as it is, its revision bumped
/// (conditioned on the revision read, so concurrent changes serialize) and
/// copied to every limiter bucket item, where each request's limiter write
/// returns it to warm functions. Retried when another change came first.
pub async fn change(
    store: &Store,
    id: OrganizationId,
    build: impl Fn(&Organization) -> Result<Edit, StoreError>,
) -> Result<Changed, StoreError> {
    change_at(store, id, None, build).await
}

/// [`change`], built first from `known` when given — the organization as
/// the request making the change holds it, current at the request's
/// version — instead of reading it: one round trip fewer. Should it have
/// moved on since, the revision condition fails and the change is built
/// again from a read.
pub async fn change_at(
    store: &Store,
    id: OrganizationId,
    known: Option<&Organization>,
    build: impl Fn(&Organization) -> Result<Edit, StoreError>,
) -> Result<Changed, StoreError> {
    use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
    const ATTEMPTS: u32 = 5;
    let mut known = known.filter(|org| org.id == id).cloned();
    for _ in 0..ATTEMPTS {
        let org = match known.take() {
            Some(org) => org,
            None => match get_organization(store, id).await? {
                Some(org) => org,
                None => return Ok(Changed::NoOrganization),
            },
        };
        let edit = build(&org)?;
        let next = org.revision + 1;
        let mut set = vec!["revision = :next".to_owned()];
        set.extend(edit.set.iter().cloned());
        let mut conditions = vec![
            "attribute_exists(PK)".to_owned(),
            if org.revision == 0 {
                "(attribute_not_exists(revision) OR revision = :revision)".to_owned()
            } else {
                "revision = :revision".to_owned()
            },
        ];
        conditions.extend(edit.conditions.iter().map(|c| format!("({c})")));
        let mut update = Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(org_pk(id)))
            .key(store::SK, store::s(ORG_SK))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .expression_attribute_values(":next", store::n(next))
            .expression_attribute_values(":revision", store::n(org.revision))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in &edit.values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        for (placeholder, name) in &edit.names {
            update = update.expression_attribute_names(*placeholder, *name);
        }
        let mut items = vec![
            TransactWriteItem::builder()
                .update(store::built(update.build())?)
                .build(),
        ];
        // Every shard of the bucket, before and after the change, carries the version.
        let shards = org
            .limiter_policy()
            .shards()
            .max(edit.policy_after.map_or(1, |p| p.shards()));
        let owner = crate::limits::Owner::Organization(id);
        for index in 0..shards {
            let bump = Update::builder()
                .table_name(store.table())
                .key(store::PK, store::s(crate::limits::shard_key(&owner, index)))
                .key(store::SK, store::s(crate::limits::LIMIT_SK))
                .update_expression("SET #version = :next")
                .expression_attribute_names("#version", crate::limits::VERSION_ATTRIBUTE)
                .expression_attribute_values(":next", store::n(next));
            items.push(
                TransactWriteItem::builder()
                    .update(store::built(bump.build())?)
                    .build(),
            );
        }
        let first_item = items.len();
        items.extend(edit.items);
        match store::transact(store, items).await {
            Ok(()) => return Ok(Changed::Done { version: next }),
            Err(StoreError::TransactionCanceled { reasons }) => {
                if let Some(org_reason) = reasons.first().filter(|r| r.is_condition_failed()) {
                    let now_at = org_reason
                        .item
                        .as_ref()
                        .and_then(|i| store::get_n::<u64>(i, "revision"))
                        .unwrap_or(0);
                    if org_reason.item.is_none() {
                        return Ok(Changed::NoOrganization);
                    }
                    if now_at != org.revision {
                        continue; // another change came first: build again
                    }
                    return Ok(Changed::Refused);
                }
                if let Some((index, reason)) = reasons
                    .iter()
                    .enumerate()
                    .skip(first_item)
                    .find(|(_, r)| r.is_condition_failed())
                {
                    return Ok(Changed::ItemRefused(
                        index - first_item,
                        reason.item.clone(),
                    ));
                }
                return Err(StoreError::TransactionCanceled { reasons });
            }
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::TransactionCanceled {
        reasons: Vec::new(),
    })
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
