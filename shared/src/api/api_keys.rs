//! The organization's API keys (SPEC §5): create, list, revoke, roll.

use crate::api_keys::{
    self, ApiKeyEntry, CreateApiKey, CreatedApiKey, NewKey, Outcome, RollApiKey,
};
use crate::error::{ApiError, FieldErrors};
use crate::ids::ApiKeyId;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, OrgCtx, Reply};
use crate::wire::Page;
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;

/// The 201 of a new key: the secret shown once, never cached (SPEC §2).
fn created(key: &NewKey) -> Result<Reply, ApiError> {
    let body = CreatedApiKey {
        object: key.entry.view(),
        key: key.secret.expose(),
    };
    Reply::json(StatusCode::CREATED, &body)?.header(CACHE_CONTROL, "no-store")
}

/// `POST /v1/api-keys` → 201 `{id, key, name, scopes, prefix, created_at, expires_at}`.
pub async fn create(ctx: OrgCtx, body: Json<CreateApiKey>) -> Result<Reply, ApiError> {
    let CreateApiKey {
        scopes,
        name,
        expires_at,
    } = body.value;
    let now = ctx.app.clock.now();
    if expires_at.is_some_and(|at| at <= now) {
        let mut errors = FieldErrors::new();
        errors.push("expires_at", "must be in the future");
        return Err(ApiError::Validation(errors));
    }
    // A time that is only in the calendar with its offset (9999-12-31T23:30
    // at -01:00) would be stored clamped but enforced as sent.
    if expires_at.is_some_and(|at| at.checked_to_offset(time::UtcOffset::UTC).is_none()) {
        let mut errors = FieldErrors::new();
        errors.push("expires_at", "must be before the year 10000 in UTC");
        return Err(ApiError::Validation(errors));
    }
    let key =
        NewKey::generate(ctx.org, scopes, name, expires_at, now).map_err(ApiError::internal)?;
    if !api_keys::create(&ctx.app.store, &key).await? {
        return Err(ApiError::InvalidCredentials);
    }
    created(&key)
}

/// `GET /v1/api-keys` → a page of keys, never their secrets.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("k1:", ApiKeyId::parse)?;
    let (keys, more) = api_keys::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| keys.last().map(|k| encode_cursor("k1:", k.id)))
        .flatten();
    let data = keys.iter().map(ApiKeyEntry::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// The organization's live key named by the path, or 404.
async fn find(ctx: &OrgCtx) -> Result<ApiKeyEntry, ApiError> {
    let id = ctx.path_id("id", ApiKeyId::parse)?;
    let now = ctx.app.clock.now();
    api_keys::find(&ctx.app.store, ctx.org, id)
        .await?
        .filter(|entry| entry.live(now))
        .ok_or(ApiError::NotFound {
            resource: "api_key",
        })
}

fn outcome<T>(outcome: Outcome<T>) -> Result<T, ApiError> {
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::NotFound => Err(ApiError::NotFound {
            resource: "api_key",
        }),
        Outcome::LastAdminKey => Err(ApiError::LastAdminKey),
    }
}

/// `DELETE /v1/api-keys/{id}` → 204: revoked for every function from the
/// next request; 409 `last_admin_key` for the last non-expiring admin key.
pub async fn revoke(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let entry = find(&ctx).await?;
    outcome(api_keys::revoke(&ctx.app.store, &entry, Some(&ctx.organization)).await?)?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST /v1/api-keys/{id}/roll` `{expires_in_seconds?}` → 201 with the new
/// key; the old one ends after the grace period (now by default).
pub async fn roll(ctx: OrgCtx, body: Json<RollApiKey>) -> Result<Reply, ApiError> {
    let entry = find(&ctx).await?;
    let grace = time::Duration::seconds(body.value.expires_in_seconds);
    let (store, now) = (&ctx.app.store, ctx.app.clock.now());
    let key = outcome(api_keys::roll(store, &entry, Some(&ctx.organization), grace, now).await?)?;
    created(&key)
}
