//! `POST .../organization-relations/claim` (SPEC §11, seed 002), the service's
//! organization list, and the organization's removal of a relation.
//!
//! Relation item: `PK = SVC#<service>`, `SK = REL#ORG#<organization>` (one per
//! pair, listed by the service), with `GSI1PK = ORG#<org>`, `GSI1SK =
//! REL#<relation id>` for the organization's removal by id. Each
//! `externalOrganizationId` is reserved for one organization per service by
//! `PK = SVC#<service>`, `SK = EXTORG#<sha256>`.

use super::connect_tokens::{ConnectTokenRecord, TokenStatus, token_pk};
use super::service_pk;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::ids::{ExternalServiceId, OrganizationId, RelationId};
use crate::organizations::org_pk;
use crate::parse::{JsonObject, ParseBody};
use crate::store::{self, Item, PK, SK, Store, StoreError, built};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Sort key of a service's relation with an organization.
pub fn relation_sk(org: OrganizationId) -> String {
    format!("REL#ORG#{org}")
}

pub(super) fn reservation_sk(external_organization_id: &str) -> String {
    format!(
        "EXTORG#{}",
        hex::encode(Sha256::digest(external_organization_id.as_bytes()))
    )
}

/// A relation as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelationRecord {
    #[serde(flatten)]
    pub(super) key: store::ItemKey,
    #[serde(flatten)]
    index: store::IndexKey,
    /// The relation's id.
    pub id: RelationId,
    /// The service.
    pub external_service_id: ExternalServiceId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The organization's name, copied at the claim.
    pub organization_name: String,
    /// The service's name, copied at the claim (names never change), so an
    /// event renders the relation as the organization's list does without a
    /// read. Absent on relations no claim has touched since it was added.
    pub external_service_name: Option<String>,
    /// The service's own id for the organization.
    pub external_organization_id: String,
    /// The connect token that made it (consumed when it is removed).
    pub connect_token_hash: String,
    /// The connect tokens that confirmed it since (consumed with it too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirming_token_hashes: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last claim that confirmed it.
    pub updated_at: Timestamp,
}

impl store::Record for RelationRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

impl RelationRecord {
    /// As the external-service API renders it.
    pub fn view(&self) -> Relation<'_> {
        Relation {
            id: self.id,
            external_service_id: self.external_service_id,
            organization_id: self.organization_id,
            external_organization_id: &self.external_organization_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// As the service's organization list renders it.
    pub fn organization_view(&self) -> ServiceOrganization<'_> {
        ServiceOrganization {
            organization_id: self.organization_id,
            organization_name: &self.organization_name,
            relation_id: self.id,
            external_organization_id: &self.external_organization_id,
            created_at: self.created_at,
        }
    }
}

/// A relation as the external-service API renders it (camelCase).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Relation")]
pub struct Relation<'a> {
    /// The relation's id.
    pub id: RelationId,
    /// The service.
    pub external_service_id: ExternalServiceId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The service's own id for the organization.
    #[schemars(length(max = EXTERNAL_ORGANIZATION_ID_MAX_CHARS))]
    pub external_organization_id: &'a str,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last claim that confirmed it.
    pub updated_at: Timestamp,
}

/// An organization in the service's list (camelCase).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ServiceOrganization")]
pub struct ServiceOrganization<'a> {
    /// The organization.
    pub organization_id: OrganizationId,
    /// Its name, as at the claim.
    pub organization_name: &'a str,
    /// The relation.
    pub relation_id: RelationId,
    /// The service's own id for the organization.
    #[schemars(length(max = EXTERNAL_ORGANIZATION_ID_MAX_CHARS))]
    pub external_organization_id: &'a str,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Longest `externalOrganizationId` and `connectToken`, in characters.
const EXTERNAL_ORGANIZATION_ID_MAX_CHARS: usize = 256;

/// The claim body (camelCase).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ClaimRequest")]
pub struct ClaimBody {
    /// `tct_<organization id>_<48 hex digits>`, as the organization handed it over; any other form is 400 `malformed_connect_token`.
    #[schemars(length(min = 1, max = EXTERNAL_ORGANIZATION_ID_MAX_CHARS))]
    pub connect_token: String,
    /// The service's own id for the organization.
    #[schemars(length(min = 1, max = EXTERNAL_ORGANIZATION_ID_MAX_CHARS))]
    pub external_organization_id: String,
}

impl ParseBody for ClaimBody {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        // Any string: its *format* is checked after the schema (400 malformed_connect_token).
        let connect_token =
            object.required_string("connectToken", EXTERNAL_ORGANIZATION_ID_MAX_CHARS);
        let external_organization_id =
            object.required_string("externalOrganizationId", EXTERNAL_ORGANIZATION_ID_MAX_CHARS);
        Some(Self {
            connect_token: connect_token?,
            external_organization_id: external_organization_id?,
        })
    }
}

/// What one claim transaction found.
#[derive(Debug)]
pub enum Attempt {
    /// Created or confirmed.
    Done(Box<RelationRecord>),
    /// The relation exists: confirm it if its external id matches.
    Exists(Box<Item>),
}

impl RelationRecord {
    /// A new relation of `service` (named `service_name`) with the
    /// organization that issued `token`.
    pub fn new(
        service: ExternalServiceId,
        service_name: Option<String>,
        token: &ConnectTokenRecord,
        external_organization_id: String,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = RelationId::generate();
        Self {
            key: store::ItemKey::new(service_pk(service), relation_sk(token.organization_id)),
            index: store::IndexKey::new(org_pk(token.organization_id), format!("REL#{id}")),
            id,
            external_service_id: service,
            organization_id: token.organization_id,
            organization_name: token.organization_name.clone(),
            external_service_name: service_name,
            external_organization_id,
            connect_token_hash: token.token_hash.clone(),
            confirming_token_hashes: Vec::new(),
            created_at: Timestamp::from(now),
            updated_at: Timestamp::from(now),
        }
    }
}

/// The token checks of SPEC §11, in order: issued for this service (404),
/// not expired (410), pending (409).
pub fn check_token(
    token: Option<ConnectTokenRecord>,
    service: ExternalServiceId,
    now: i64,
) -> Result<ConnectTokenRecord, ApiError> {
    let token = token
        .filter(|t| t.external_service_id == service)
        .ok_or(ApiError::ConnectTokenNotFound)?;
    if now >= token.expires_at_unix {
        return Err(ApiError::ExpiredConnectToken);
    }
    if token.status != TokenStatus::Pending {
        return Err(ApiError::ConnectTokenUnusable);
    }
    Ok(token)
}

/// One claim transaction: the token becomes `claimed`, the relation is created
/// (`existing: None`) or confirmed, and the external organization id is
/// reserved for this organization — all or nothing.
pub async fn attempt(
    store: &Store,
    token: &ConnectTokenRecord,
    relation: &RelationRecord,
    existing: Option<&RelationRecord>,
    now: time::OffsetDateTime,
) -> Result<Attempt, ApiError> {
    let table = store.table();
    let relation_id = existing.map_or(relation.id, |e| e.id);
    // A claimed token lives as long as its relation: no TTL until consumed —
    // but a confirmation beyond those the relation keeps is never consumed
    // with it, and expires as a consumed token does (7 days).
    let kept = existing.is_none_or(|e| e.confirming_token_hashes.len() < MAX_CONFIRMING_KEPT);
    let expression = if kept {
        "SET #status = :claimed, claimed_at = :now, relation_id = :relation REMOVE expires_at_epoch"
    } else {
        "SET #status = :claimed, claimed_at = :now, relation_id = :relation, expires_at_epoch = :ttl"
    };
    let claim_token = Update::builder()
        .table_name(table)
        .key(PK, store::s(token_pk(&token.token_hash)))
        .key(SK, store::s("CTOKEN"));
    let claim_token = if kept {
        claim_token
    } else {
        claim_token.expression_attribute_values(
            ":ttl",
            store::n(now.unix_timestamp() + CONSUMED_TOKEN_SECONDS),
        )
    };
    let claim_token = built(
        claim_token
            .update_expression(expression)
            .condition_expression(
                "#status = :pending AND external_service_id = :service AND expires_at_unix > :unix",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", store::s("claimed"))
            .expression_attribute_values(":pending", store::s("pending"))
            .expression_attribute_values(":now", store::timestamp(now))
            .expression_attribute_values(":relation", store::s(relation_id.to_string()))
            .expression_attribute_values(
                ":service",
                store::s(relation.external_service_id.to_string()),
            )
            .expression_attribute_values(":unix", store::n(now.unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )?;
    let write_relation = match existing {
        None => TransactWriteItem::builder()
            .put(built(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(store::to_item(relation)?))
                    .condition_expression("attribute_not_exists(PK)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build(),
            )?)
            .build(),
        Some(existing) => {
            // The confirming token is consumed with the relation (SPEC §11);
            // the service's name is stamped too, so a relation older than
            // the stamp gets it at its next confirmation.
            let name = relation.external_service_name.as_deref();
            let set_name = if name.is_some() {
                ", external_service_name = :name"
            } else {
                ""
            };
            // Bounded work (SPEC §4): a relation keeps at most
            // MAX_CONFIRMING_KEPT confirming tokens, so its removal touches a
            // fixed number of items; a token confirming beyond them is left
            // `claimed` at removal (as unusable as `consumed`).
            let append = if kept {
                ", confirming_token_hashes = list_append(if_not_exists(confirming_token_hashes, :none), :token)"
            } else {
                ""
            };
            let confirm = Update::builder()
                .table_name(table)
                .key(PK, store::s(&relation.key.pk))
                .key(SK, store::s(&relation.key.sk))
                .update_expression(format!("SET updated_at = :now{set_name}{append}"))
                .condition_expression(
                    "attribute_exists(PK) AND external_organization_id = :ext AND id = :id",
                )
                .expression_attribute_values(":now", store::timestamp(now))
                .expression_attribute_values(":ext", store::s(&existing.external_organization_id))
                .expression_attribute_values(":id", store::s(existing.id.to_string()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let confirm = match name {
                Some(name) => confirm.expression_attribute_values(":name", store::s(name)),
                None => confirm,
            };
            let confirm = if append.is_empty() {
                confirm
            } else {
                confirm
                    .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                    .expression_attribute_values(
                        ":token",
                        AttributeValue::L(vec![store::s(&token.token_hash)]),
                    )
            };
            TransactWriteItem::builder()
                .update(built(confirm.build())?)
                .build()
        }
    };
    let reserve = built(
        Put::builder()
            .table_name(table)
            .item(PK, store::s(&relation.key.pk))
            .item(
                SK,
                store::s(reservation_sk(&relation.external_organization_id)),
            )
            .item(
                "organization_id",
                store::s(relation.organization_id.to_string()),
            )
            .condition_expression("attribute_not_exists(PK) OR organization_id = :org")
            .expression_attribute_values(":org", store::s(relation.organization_id.to_string()))
            .build(),
    )?;
    let items = vec![
        TransactWriteItem::builder().update(claim_token).build(),
        write_relation,
        TransactWriteItem::builder().put(reserve).build(),
    ];
    match store::transact(store, items).await {
        Ok(()) => Ok(Attempt::Done(Box::new(match existing {
            None => relation.clone(),
            Some(existing) => RelationRecord {
                updated_at: Timestamp::from(now),
                external_service_name: relation
                    .external_service_name
                    .clone()
                    .or_else(|| existing.external_service_name.clone()),
                ..existing.clone()
            },
        }))),
        Err(StoreError::TransactionCanceled { reasons }) => {
            let failed = |i: usize| reasons.get(i).filter(|r| r.is_condition_failed());
            if let Some(token_reason) = failed(0) {
                // Another claim won, or the token changed since it was read.
                let old: Option<ConnectTokenRecord> = token_reason
                    .item
                    .clone()
                    .map(store::from_item)
                    .transpose()?;
                check_token(old, relation.external_service_id, now.unix_timestamp())?;
                return Err(ApiError::ConnectTokenUnusable);
            }
            if let Some(relation_reason) = failed(1) {
                return match (existing, relation_reason.item.clone()) {
                    (None, Some(item)) => Ok(Attempt::Exists(Box::new(item))),
                    _ => Err(ApiError::ExternalOrganizationIdMismatch),
                };
            }
            if failed(2).is_some() {
                return Err(ApiError::ExternalOrganizationIdAlreadyInUse);
            }
            Err(StoreError::TransactionCanceled { reasons }.into())
        }
        Err(err) => Err(err.into()),
    }
}

/// A page of the service's relations, by organization id, after `after`;
/// whether more follow.
pub async fn of_service(
    store: &Store,
    service: ExternalServiceId,
    after: Option<OrganizationId>,
    limit: usize,
) -> Result<(Vec<RelationRecord>, bool), StoreError> {
    store::query_page(
        store,
        &service_pk(service),
        "REL#ORG#",
        after.map(relation_sk),
        limit,
    )
    .await
}

/// A page of an organization's relations (through `GSI1`, eventually
/// consistent like every list), oldest first, after the relation `after`
/// (its service and id); whether more follow.
pub async fn of_organization(
    store: &Store,
    org: OrganizationId,
    after: Option<(ExternalServiceId, RelationId)>,
    limit: usize,
) -> Result<(Vec<RelationRecord>, bool), StoreError> {
    let start = after.map(|(service, id)| {
        Item::from([
            ("GSI1PK".to_owned(), store::s(org_pk(org))),
            ("GSI1SK".to_owned(), store::s(format!("REL#{id}"))),
            (PK.to_owned(), store::s(service_pk(service))),
            (SK.to_owned(), store::s(relation_sk(org))),
        ])
    });
    let (items, more) =
        store::query_items_page(store, store::Keys::Gsi1, &org_pk(org), "REL#", start, limit)
            .await?;
    let records = items
        .into_iter()
        .map(store::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, more))
}

/// A relation as the organization API renders it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OrganizationRelation")]
pub struct OrganizationRelation<'a> {
    /// The relation's id (what `DELETE /v1/external-service-relations/{id}` takes).
    pub id: RelationId,
    /// The external service.
    pub external_service_id: ExternalServiceId,
    /// Its name; null if the service no longer exists.
    pub external_service_name: Option<&'a str>,
    /// The service's own id for the organization.
    #[schemars(length(max = EXTERNAL_ORGANIZATION_ID_MAX_CHARS))]
    pub external_organization_id: &'a str,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last claim that confirmed it.
    pub updated_at: Timestamp,
}

impl RelationRecord {
    /// As the organization's list renders it: with the service's name stamped
    /// on the relation, else `looked_up` (`None` when not looked up).
    pub fn organization_relation<'a>(
        &'a self,
        looked_up: Option<&'a str>,
    ) -> OrganizationRelation<'a> {
        OrganizationRelation {
            id: self.id,
            external_service_id: self.external_service_id,
            external_service_name: self.external_service_name.as_deref().or(looked_up),
            external_organization_id: &self.external_organization_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// An organization's relation by id (through `GSI1`).
pub async fn find(
    store: &Store,
    org: OrganizationId,
    id: RelationId,
) -> Result<Option<RelationRecord>, StoreError> {
    let found = store::gsi1_item(store, org_pk(org), format!("REL#{id}")).await?;
    found.map(store::from_item).transpose()
}

/// Most items in one `TransactWriteItems`.
pub(super) const MAX_TRANSACT_ITEMS: usize = 100;
/// How long a consumed connect token is kept.
pub(super) const CONSUMED_TOKEN_SECONDS: i64 = 7 * 24 * 3600;
/// Confirming tokens a relation keeps, to be consumed with it: with the
/// claiming one, its removal's transaction holds them all.
pub const MAX_CONFIRMING_KEPT: usize = MAX_TRANSACT_ITEMS - 4;

pub use super::removal::remove;
