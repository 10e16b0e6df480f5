//! External identities linked by the organization (SPEC §9, seed 001).

use crate::authz::IdentityContext;
use crate::error::ApiError;
use crate::identities::store;
use crate::identities::{IdentityRecord, LinkIdentity, LinkOutcome, LinkedBy, link};
use crate::ids::{EndUserId, IdentityId, IdentityProviderId};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Decided, Json, NoBody, OrgCtx, Reply, Undecided};
use crate::wire::Page;
use lambda_http::http::StatusCode;

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

/// `POST /v1/users/{user_id}/identities` → 201 `linked_by: "auto"`, 200, 404,
/// 409, 422. The decision's context names the identity being linked.
pub async fn create(ctx: Undecided<OrgCtx>, body: Json<LinkIdentity>) -> Result<Reply, ApiError> {
    let input = body.value;
    let identity = IdentityContext {
        identity_provider_id: input.identity_provider_id.to_string(),
        external_id: input.external_id.clone(),
        external_email: input.external_email.clone(),
        external_username: input.external_username.clone(),
        external_email_verified: input.external_email_verified,
    };
    let ctx = match ctx.decide(async |_: &OrgCtx| Ok((identity, ()))).await? {
        Decided::Run(ctx, ()) => ctx,
        Decided::Replay(_, replay) => return Ok(replay),
    };
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let mut identity = IdentityRecord::new(
        ctx.org,
        user,
        input.identity_provider_id,
        input.external_id,
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

/// `GET /v1/identities?identity_provider_id=&external_id=` → `{data: [identity]}`
/// (zero or one): "who is this login?" in one read (SPEC §9).
pub async fn lookup(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["identity_provider_id", "external_id"])?;
    let required = |name: &'static str| {
        ctx.query
            .single(name)?
            .ok_or_else(|| ApiError::InvalidQueryParameter {
                name: name.into(),
                problem: "is required",
            })
    };
    let provider = IdentityProviderId::parse(required("identity_provider_id")?).map_err(|_| {
        ApiError::InvalidQueryParameter {
            name: "identity_provider_id".into(),
            problem: "must be a UUID",
        }
    })?;
    let external_id = required("external_id")?;
    if external_id.is_empty() || external_id.chars().count() > 256 {
        return Err(ApiError::InvalidQueryParameter {
            name: "external_id".into(),
            problem: "must be 1 to 256 characters",
        });
    }
    let found = store::find_by_pair(&ctx.app.store, ctx.org, provider, external_id).await?;
    let data = found.iter().map(IdentityRecord::view).collect();
    Reply::json(
        StatusCode::OK,
        &Page {
            data,
            next_cursor: None,
        },
    )
}
