//! The user API (SPEC §10): end users acting for themselves with an access
//! token; the token's minting (organization API) and public key set.

use crate::authz::IdentityContext;
use crate::end_users::{self, Status};
use crate::error::ApiError;
use crate::identities::{self, IdentityRecord, LinkedBy, TokenBinding};
use crate::identity_providers;
use crate::ids::EndUserId;
use crate::outbound::Outbound;
use crate::pipeline::{Ctx, Decided, Json, NoBody, NoFields, OrgCtx, Reply, Undecided, UserCtx};
use crate::sso::SsoLink;
use crate::tokens::{ACCESS_TOKEN_TTL_SECONDS, TokenKeys};
use crate::tokens::{AccessToken, TokenType};
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;
use std::sync::Arc;

/// `POST /v1/end-users/{user_id}/tokens` → 201 `{access_token, token_type, expires_in}`.
pub async fn create_token(
    ctx: OrgCtx,
    _: Json<NoFields>,
    keys: Arc<TokenKeys>,
) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let record = end_users::find(&ctx.app.store, org, user)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "end_user",
        })?;
    if record.status == Status::Deleting {
        return Err(ApiError::UserDeleting);
    }
    if record.is_suspended() {
        return Err(ApiError::UserSuspended);
    }
    let token = keys
        .mint(
            org,
            user,
            record.token_generation,
            ctx.app.clock.now().unix_timestamp(),
        )
        .map_err(ApiError::internal)?;
    Reply::json(
        StatusCode::CREATED,
        &AccessToken {
            access_token: &token,
            token_type: TokenType::Bearer,
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
        },
    )?
    .header(CACHE_CONTROL, "no-store")
}

/// `POST /v1/end-users/{user_id}/tokens/revoke` → 204: every access token of
/// the end user minted before is refused from the next request (401).
pub async fn revoke_tokens(ctx: OrgCtx, _: Json<NoFields>) -> Result<Reply, ApiError> {
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    if !end_users::store::revoke_tokens(&ctx.app.store, ctx.org, user).await? {
        return Err(ApiError::NotFound {
            resource: "end_user",
        });
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `GET /.well-known/jwks.json`: the public keys that verify access tokens.
pub async fn jwks(_: Ctx, _: NoBody, keys: Arc<TokenKeys>) -> Result<Reply, ApiError> {
    Reply::json(StatusCode::OK, &keys.jwks())?.header(CACHE_CONTROL, "public, max-age=300")
}

/// `GET /v1/me` → the authenticated end user.
pub async fn me(ctx: UserCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.user;
    // A token whose end user was purged, is being deleted or had its tokens
    // revoked no longer names anyone (SPEC §5).
    let record = end_users::find(&ctx.app.store, org, user)
        .await?
        .filter(|r| r.honours_token(ctx.token_generation))
        .ok_or(ApiError::InvalidCredentials)?;
    Reply::json(StatusCode::OK, &record.view())?
        .header(lambda_http::http::header::ETAG, &record.etag())
}

/// `POST /v1/me/sso/link` → 201 new link (`linked_by: "user"`), 200 already
/// mine, 409 another user's (not disclosed), 422 `invalid_id_token`. The
/// decision's context names the identity the id_token proves.
pub async fn link_sso(
    ctx: Undecided<UserCtx>,
    body: Json<SsoLink>,
    outbound: Arc<Outbound>,
) -> Result<Reply, ApiError> {
    let SsoLink {
        identity_provider_id: provider_id,
        id_token,
        nonce,
    } = body.value;
    let decided = ctx
        .decide(async |ctx: &UserCtx| {
            let provider =
                identity_providers::verified(&ctx.app, ctx.current(), ctx.org, provider_id)
                    .await?
                    .ok_or(ApiError::UnknownIdentityProvider)?;
            let claims = crate::sso::verify_with_fresh_keys(
                &ctx.app.store,
                &outbound,
                &provider,
                &id_token,
                ctx.app.clock.now(),
                nonce.as_deref(),
            )
            .await?
            .map_err(|reason| ApiError::InvalidIdToken { reason })?;
            let verified = claims.email_verified == Some(true);
            let identity = IdentityContext {
                identity_provider_id: provider_id.to_string(),
                external_id: claims.subject.clone(),
                // Only a verified address can meet an email policy (SPEC §8).
                external_email: claims.email.clone().filter(|_| verified),
                external_username: claims.username.clone(),
                external_email_verified: verified,
            };
            Ok((identity, claims))
        })
        .await?;
    let (ctx, claims) = match decided {
        Decided::Run(ctx, claims) => (ctx, claims),
        Decided::Replay(ctx, replay) => {
            // A replay only for a token that still names the end user.
            let record = end_users::find(&ctx.app.store, ctx.org, ctx.user).await?;
            if !record.is_some_and(|r| r.honours_token(ctx.token_generation)) {
                return Err(ApiError::InvalidCredentials);
            }
            return Ok(replay);
        }
    };
    let now = ctx.app.clock.now();
    let verified = claims.email_verified == Some(true);
    let mut identity = IdentityRecord::new(
        ctx.org,
        ctx.user,
        provider_id,
        claims.subject,
        claims.username,
        claims.email,
        claims.name,
        LinkedBy::User,
        now,
    );
    identity.external_email_verified = verified;
    let binding = TokenBinding::new(
        &id_token,
        claims.expires_at,
        now.unix_timestamp(),
        ctx.token_generation,
    );
    match identities::link(&ctx.app.store, &identity, Some(&binding)).await? {
        // Being deleted, or its tokens revoked since this one was minted:
        // the token no longer names anyone (SPEC §5).
        identities::LinkOutcome::UserDeleting | identities::LinkOutcome::UnknownUser => {
            Err(ApiError::InvalidCredentials)
        }
        outcome => crate::api::identities::link_reply(outcome),
    }
}
