//! External identities linked to end users (SPEC §9 identities, seed 001).
//!
//! A pair (identity provider, external id) belongs to at most one end user of
//! an organization. The identity and a uniqueness item keyed by the pair are
//! written in **one `TransactWriteItems`** together with condition checks on
//! the end user (exists, active) and the provider (exists), so every answer —
//! 201, 200 (already this user's), 404, 409, 422 — comes from that one call.

pub mod store;

pub use store::{IdentityRecord, LinkOutcome, LinkedBy, TokenBinding, link, pair_sk};
pub(crate) use store::{of_user, unlink_items};

use crate::clock::Timestamp;
use crate::ids::{EndUserId, IdentityId, IdentityProviderId};
use crate::parse::{JsonObject, ParseBody};
use crate::wire::PathId;
use schemars::JsonSchema;
use serde::Serialize;

/// Longest external id, username, email or display name (SPEC §9: 256).
/// Longest accepted identity field, in characters.
pub const FIELD_MAX_CHARS: usize = 256;

/// The identity object.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Identity")]
pub struct Identity<'a> {
    /// The identity's id.
    pub id: IdentityId,
    /// The end user it is linked to.
    pub user_id: EndUserId,
    /// The provider.
    pub identity_provider_id: IdentityProviderId,
    /// The subject at the provider.
    pub external_id: &'a str,
    /// Username at the provider.
    pub external_username: Option<&'a str>,
    /// Email at the provider.
    pub external_email: Option<&'a str>,
    /// Display name at the provider.
    pub external_display_name: Option<&'a str>,
    /// The id_token's `email_verified` (SSO links), or what the organization sent (false when absent).
    pub external_email_verified: bool,
    /// `auto` (the organization's backend) or `user` (SSO).
    pub linked_by: LinkedBy,
    /// Creation time.
    pub created_at: Timestamp,
}

/// `POST /v1/users/{user_id}/identities` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LinkIdentityRequest")]
pub struct LinkIdentity {
    /// The provider.
    #[schemars(with = "PathId")]
    pub identity_provider_id: IdentityProviderId,
    /// The subject at the provider.
    #[schemars(length(min = 1, max = FIELD_MAX_CHARS))]
    pub external_id: String,
    /// Username at the provider.
    #[schemars(length(max = FIELD_MAX_CHARS))]
    pub external_username: Option<String>,
    /// Email at the provider.
    #[schemars(length(max = FIELD_MAX_CHARS))]
    pub external_email: Option<String>,
    /// Display name at the provider.
    #[schemars(length(max = FIELD_MAX_CHARS))]
    pub external_display_name: Option<String>,
    /// Whether the organization vouches for the email (default false); in the Cedar context.
    #[serde(default)]
    pub external_email_verified: bool,
}

impl ParseBody for LinkIdentity {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let identity_provider_id = object.required_id(
            "identity_provider_id",
            FIELD_MAX_CHARS,
            IdentityProviderId::parse,
        );
        let external_id = object.required_string("external_id", FIELD_MAX_CHARS);
        Some(Self {
            identity_provider_id: identity_provider_id?,
            external_id: external_id?,
            external_username: object.optional_string("external_username", FIELD_MAX_CHARS),
            external_email: object.optional_string("external_email", FIELD_MAX_CHARS),
            external_display_name: object.optional_string("external_display_name", FIELD_MAX_CHARS),
            external_email_verified: object
                .optional_bool("external_email_verified")
                .unwrap_or(false),
        })
    }
}
