//! External identities linked to end users (SPEC §9 identities, seed 001).
//!
//! A pair (identity provider, external id) belongs to at most one end user of
//! an organization. The identity and a uniqueness item keyed by the pair are
//! written in **one `TransactWriteItems`** together with condition checks on
//! the end user (exists, active) and the provider (exists), so every answer —
//! 201, 200 (already this user's), 404, 409, 422 — comes from that one call.

mod store;

pub use store::{IdentityRecord, LinkOutcome, LinkedBy, TokenBinding, link, pair_sk};
pub(crate) use store::{of_user, unlink_items};

use crate::authz::IdentityContext;
use crate::error::ApiError;
use crate::ids::{EndUserId, IdentityId, IdentityProviderId};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, JsonObject, NoBody, OrgCtx, ParseBody, Reply};
use crate::wire::{Page, PathId, Timestamp};
use lambda_http::http::StatusCode;
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
    #[schemars(with = "Timestamp")]
    pub created_at: &'a str,
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

/// The answer to a link: 201 new, 200 already this user's, else the error.
pub fn link_reply(outcome: LinkOutcome) -> Result<Reply, ApiError> {
    match outcome {
        LinkOutcome::Linked(identity) => Reply::json(StatusCode::CREATED, &identity.view()),
        LinkOutcome::AlreadyLinked(identity) => Reply::json(StatusCode::OK, &identity.view()),
        LinkOutcome::OtherUser => Err(ApiError::IdentityAlreadyLinked),
        LinkOutcome::UnknownUser => Err(ApiError::NotFound {
            resource: "end_user",
        }),
        LinkOutcome::UserDeleting => Err(ApiError::UserDeleting),
        LinkOutcome::UnknownProvider => Err(ApiError::UnknownIdentityProvider),
        LinkOutcome::Replayed => Err(ApiError::InvalidIdToken { reason: "replayed" }),
    }
}

/// `POST /v1/users/{user_id}/identities` → 201 `linked_by: "auto"`, 200, 404, 409, 422.
#[tracing::instrument(name = "identities.create", skip_all)]
pub async fn create(ctx: OrgCtx, body: Json<LinkIdentity>) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let input = body.value;
    let (provider, external_id) = (input.identity_provider_id, input.external_id);
    if let Some(replay) = ctx
        .authorize_identity(&IdentityContext {
            identity_provider_id: provider.to_string(),
            external_id: external_id.clone(),
            external_email: input.external_email.clone(),
            external_username: input.external_username.clone(),
            external_email_verified: input.external_email_verified,
        })
        .await?
    {
        return Ok(replay);
    }
    let mut identity = IdentityRecord::new(
        org,
        user,
        provider,
        external_id,
        input.external_username,
        input.external_email,
        input.external_display_name,
        LinkedBy::Auto,
        ctx.app.clock.now(),
    );
    identity.external_email_verified = input.external_email_verified;
    link_reply(link(&ctx.app.store, &identity, None).await?)
}

/// `GET /v1/users/{user_id}/identities` → `{data: [...]}`.
#[tracing::instrument(name = "identities.list", skip_all)]
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("i1:", IdentityId::parse)?;
    let (identities, more) = store::list(&ctx.app.store, org, user, after, limit)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "end_user",
        })?;
    let next_cursor = more
        .then(|| identities.last().map(|i| encode_cursor("i1:", i.id)))
        .flatten();
    let data = identities.iter().map(IdentityRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `DELETE /v1/users/{user_id}/identities/{identity_id}` → 204; the pair is free again.
#[tracing::instrument(name = "identities.delete", skip_all)]
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let identity = ctx.path_id("identity_id", IdentityId::parse)?;
    if store::unlink(&ctx.app.store, org, user, identity).await? {
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::NotFound {
            resource: "identity",
        })
    }
}
