//! `PUT /api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}`
//! (SPEC §11): an external service links one of its users to an organization
//! it is related to, creating the end user (201) or updating its subscription (200).
//!
//! Link item: `PK = ORG#<org>`, `SK = EXTUSER#<service>#<sha256(externalUserId)>`
//! → `end_user_id`. Creation is one transaction: relation exists, link item
//! new, end user new, relationship count below the ceiling.

use super::relations::relation_sk;
use super::service_pk;
use crate::clock::Timestamp;
use crate::end_users::domain::{EMAIL_MAX_CHARS, TEXT_MAX_CHARS};
use crate::end_users::{Email, EndUserRecord, Status, Subscription, user_sk};
use crate::error::ApiError;
use crate::ids::{EndUserId, ExternalServiceId, OrganizationId};
use crate::organizations::org_pk;
use crate::parse::{JsonObject, ParseBody};
use crate::store::{self, PK, SK, Store, StoreError, built};
use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An end user as the external-service API renders it (camelCase).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "OrganizationUser")]
pub struct OrganizationUser<'a> {
    /// The end user's id.
    pub id: EndUserId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// The service's own id for the user.
    pub external_user_id: &'a str,
    /// Contact address.
    pub email: Option<&'a str>,
    /// Name to show.
    pub display_name: Option<&'a str>,
    /// The subscription the service set.
    pub subscription: ServiceSubscription,
    /// Set while an external service manages the subscription (PRO).
    pub externally_managed: bool,
    /// `deleting` from the organization's deletion until the purge.
    pub status: Status,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A subscription as the external-service API spells it.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(inline)]
pub enum ServiceSubscription {
    /// Free.
    Free,
    /// Paid; the end user becomes externally managed.
    Pro,
}

impl From<Subscription> for ServiceSubscription {
    fn from(subscription: Subscription) -> Self {
        match subscription {
            Subscription::Free => Self::Free,
            Subscription::Pro => Self::Pro,
        }
    }
}

/// The PUT body (camelCase).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PutOrganizationUserRequest")]
pub struct PutUser {
    /// Contact address (used when the end user is created).
    pub email: Option<Email>,
    /// Name to show (used when the end user is created).
    #[schemars(length(max = TEXT_MAX_CHARS))]
    pub display_name: Option<String>,
    /// `PRO` marks the end user externally managed; `FREE` clears it.
    #[schemars(with = "ServiceSubscription")]
    pub subscription: Subscription,
}

impl ParseBody for PutUser {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let email = object
            .optional_string("email", EMAIL_MAX_CHARS)
            .and_then(|s| Email::parse(s).map_err(|p| object.problem("email", p)).ok());
        let display_name = object.optional_string("displayName", TEXT_MAX_CHARS);
        let subscription = match object.take("subscription") {
            None => {
                object.problem("subscription", "is required");
                None
            }
            Some(Value::String(s)) if s == "FREE" => Some(Subscription::Free),
            Some(Value::String(s)) if s == "PRO" => Some(Subscription::Pro),
            Some(_) => {
                object.problem("subscription", "must be \"FREE\" or \"PRO\"");
                None
            }
        };
        Some(Self {
            email,
            display_name,
            subscription: subscription?,
        })
    }
}

pub fn link_sk(service: ExternalServiceId, external_user_id: &str) -> String {
    format!(
        "EXTUSER#{service}#{}",
        hex::encode(Sha256::digest(external_user_id.as_bytes()))
    )
}

/// The end user as the external-service API renders it.
pub fn view<'a>(user: &'a EndUserRecord, external_user_id: &'a str) -> OrganizationUser<'a> {
    OrganizationUser {
        id: user.id,
        organization_id: user.organization_id,
        external_user_id,
        email: user.email.as_deref(),
        display_name: user.display_name.as_deref(),
        subscription: user.subscription.into(),
        externally_managed: user.externally_managed,
        status: user.status,
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}

fn relation_check(
    store: &Store,
    service: ExternalServiceId,
    org: OrganizationId,
) -> Result<TransactWriteItem, StoreError> {
    let check = built(
        ConditionCheck::builder()
            .table_name(store.table())
            .key(PK, store::s(service_pk(service)))
            .key(SK, store::s(relation_sk(org)))
            .condition_expression("attribute_exists(PK)")
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// What creating a linked end user found.
#[derive(Debug)]
pub enum Linked {
    /// Created now.
    Created,
    /// The service's user is already linked: to this end user.
    Existing(EndUserId),
}

/// Creates `user` linked to the service's `external_user_id`, in one
/// transaction: the relation exists (else 403), the link is new (else the
/// end user it names), the organization is below its relationship ceiling
/// ([`crate::relationships`]).
pub async fn create_linked(
    store: &Store,
    service: ExternalServiceId,
    organization: &crate::organizations::Organization,
    external_user_id: &str,
    user: &EndUserRecord,
) -> Result<Linked, ApiError> {
    let org = organization.id;
    let outcome = crate::relationships::create_counted(store, organization, |slot| {
        let link = built(
            Put::builder()
                .table_name(store.table())
                .item(PK, store::s(org_pk(org)))
                .item(SK, store::s(link_sk(service, external_user_id)))
                .item("end_user_id", store::s(user.id.to_string()))
                .item("external_user_id", store::s(external_user_id))
                .item("external_service_id", store::s(service.to_string()))
                .condition_expression("attribute_not_exists(PK)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        let mut user = user.clone();
        user.count_shard = slot;
        let put_user = built(
            Put::builder()
                .table_name(store.table())
                .set_item(Some(store::to_item(&user)?))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        Ok(vec![
            relation_check(store, service, org)?,
            TransactWriteItem::builder().put(link).build(),
            TransactWriteItem::builder().put(put_user).build(),
        ])
    })
    .await?;
    let reasons = match outcome {
        Ok(()) => return Ok(Linked::Created),
        Err(crate::relationships::Refused::AtCeiling(active)) => {
            return Err(ApiError::RelationshipQuotaExceeded {
                active,
                limit: organization.limits().relationship_ceiling,
            });
        }
        Err(crate::relationships::Refused::Other(reasons)) => reasons,
    };
    let failed = |i: usize| reasons.get(i).filter(|r| r.is_condition_failed());
    if failed(0).is_some() {
        return Err(ApiError::OrganizationAccessDenied);
    }
    if let Some(link) = failed(1) {
        let id = link
            .item
            .as_ref()
            .and_then(|i| store::get_s(i, "end_user_id"))
            .and_then(|s| EndUserId::parse(s).ok());
        return id
            .map(Linked::Existing)
            .ok_or_else(|| ApiError::internal("link item without end_user_id"));
    }
    Err(StoreError::TransactionCanceled { reasons }.into())
}

/// Sets an existing linked end user's subscription, and the contact fields
/// when sent, while the relation exists and the end user is active.
#[allow(clippy::too_many_arguments, reason = "one write's every input, named")]
pub async fn update_linked(
    store: &Store,
    service: ExternalServiceId,
    org: OrganizationId,
    existing: EndUserId,
    email: Option<Email>,
    display_name: Option<String>,
    subscription: Subscription,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let mut set = vec![
        "subscription = :sub",
        "externally_managed = :managed",
        "updated_at = :now",
        "#version = #version + :one",
    ];
    let mut update = Update::builder()
        .table_name(store.table())
        .key(PK, store::s(org_pk(org)))
        .key(SK, store::s(user_sk(existing)))
        .condition_expression("attribute_exists(PK) AND #status = :active")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":active", store::s("active"))
        .expression_attribute_values(
            ":sub",
            store::s(if subscription == Subscription::Pro {
                "pro"
            } else {
                "free"
            }),
        )
        .expression_attribute_values(
            ":managed",
            aws_sdk_dynamodb::types::AttributeValue::Bool(subscription == Subscription::Pro),
        )
        .expression_attribute_values(":now", store::timestamp(now))
        .expression_attribute_values(":one", store::n(1))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if let Some(email) = email {
        set.push("email = :email");
        update = update.expression_attribute_values(":email", store::s(email.into_inner()));
    }
    if let Some(name) = display_name {
        set.push("display_name = :name");
        update = update.expression_attribute_values(":name", store::s(name));
    }
    let update = built(
        update
            .update_expression(format!("SET {}", set.join(", ")))
            .build(),
    )?;
    let items = vec![
        relation_check(store, service, org)?,
        TransactWriteItem::builder().update(update).build(),
    ];
    match store::transact(store, items).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { reasons }) => {
            let failed = |i: usize| reasons.get(i).filter(|r| r.is_condition_failed());
            if failed(0).is_some() {
                return Err(ApiError::OrganizationAccessDenied);
            }
            if let Some(user) = failed(1) {
                return Err(match user.item {
                    Some(_) => ApiError::UserDeleting,
                    None => ApiError::NotFound {
                        resource: "end_user",
                    },
                });
            }
            Err(StoreError::TransactionCanceled { reasons }.into())
        }
        Err(err) => Err(err.into()),
    }
}
