//! End users (SPEC §9): an organization's relationship with one person.

pub mod domain;
pub mod reindex;
pub mod scim;
pub mod store;

pub use domain::{Email, Metadata};
pub use store::{EndUserRecord, user_sk};

/// Reads an end user of an organization (strongly consistent).
pub async fn find(
    store: &crate::store::Store,
    org: crate::ids::OrganizationId,
    id: crate::ids::EndUserId,
) -> Result<Option<EndUserRecord>, crate::store::StoreError> {
    store::get(store, org, id).await
}

use crate::clock::Timestamp;
use crate::ids::{EndUserId, OrganizationId};
use crate::parse::{JsonObject, ParseBody};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether an end user is live or being purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Status {
    /// Live.
    Active,
    /// Deleted by the organization; purged asynchronously.
    Deleting,
}

/// An end user's subscription, set by external services (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Subscription {
    /// The default.
    Free,
    /// Paid, usually managed by an external service.
    Pro,
}

/// The end-user object of the organization and user APIs.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EndUser")]
pub struct EndUser<'a> {
    /// The end user's id.
    pub id: EndUserId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Contact address.
    pub email: Option<&'a str>,
    /// Name to show.
    pub display_name: Option<&'a str>,
    /// The organization's own id for the person.
    pub external_id: Option<&'a str>,
    /// Free-form metadata, as the organization sent it.
    #[schemars(with = "Metadata")]
    pub metadata: serde_json::Value,
    /// Set by external services.
    pub subscription: Subscription,
    /// Set while an external service manages the subscription (PRO).
    pub externally_managed: bool,
    /// `deleting` from the deletion until the purge.
    pub status: Status,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The directory that provisions it over SCIM; null for an end user
    /// the organization API created.
    pub directory: Option<Provisioned>,
}

/// How a directory provisions an end user (SPEC §18).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EndUserDirectory")]
pub struct Provisioned {
    /// The directory.
    pub directory_id: crate::ids::DirectoryId,
    /// Its SCIM `userName`.
    pub user_name: String,
    /// Its SCIM `active`: false while the directory suspends it (its access
    /// tokens refused, none minted, no SSO sign-in).
    pub active: bool,
}

/// `POST /v1/end-users` body.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreateEndUserRequest")]
pub struct CreateEndUser {
    /// Contact address.
    pub email: Option<Email>,
    /// Name to show.
    #[schemars(length(max = domain::TEXT_MAX_CHARS))]
    pub display_name: Option<String>,
    /// The organization's own id for this person.
    #[schemars(length(max = domain::TEXT_MAX_CHARS))]
    pub external_id: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Metadata>,
}

impl ParseBody for CreateEndUser {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let email = object
            .optional_string("email", domain::EMAIL_MAX_CHARS)
            .and_then(|s| Email::parse(s).map_err(|p| object.problem("email", p)).ok());
        Some(Self {
            email,
            display_name: object.optional_string("display_name", domain::TEXT_MAX_CHARS),
            external_id: object.optional_string("external_id", domain::TEXT_MAX_CHARS),
            metadata: domain::take_metadata(object),
        })
    }
}

/// Fields of the end-user object that exist but cannot be changed by PATCH.
const IMMUTABLE_FIELDS: &[&str] = &[
    "id",
    "organization_id",
    "email",
    "display_name",
    "external_id",
    "subscription",
    "externally_managed",
    "status",
    "created_at",
    "updated_at",
];

/// `PATCH /v1/end-users/{user_id}` body: only `metadata` is mutable.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UpdateEndUserRequest")]
pub struct UpdateEndUser {
    /// The replacement metadata, when sent.
    pub metadata: Option<Metadata>,
}

impl ParseBody for UpdateEndUser {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        for field in IMMUTABLE_FIELDS {
            if object.take(field).is_some() {
                object.problem(field, "cannot be changed; only metadata is mutable");
            }
        }
        Some(Self {
            metadata: domain::take_metadata(object),
        })
    }
}
