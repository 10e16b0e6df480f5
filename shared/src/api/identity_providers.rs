//! Identity providers of the organization (SPEC §9).

use crate::error::ApiError;
use crate::identity_providers::{self, CreateProvider, ProviderRecord, UpdateProvider, keys};
use crate::ids::IdentityProviderId;
use crate::outbound::Outbound;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, OrgCtx, Reply};
use crate::wire::Page;
use lambda_http::http::StatusCode;
use std::sync::Arc;

const RESOURCE: &str = "identity_provider";

/// `POST /v1/identity-providers` → 201 with the provider, its keys pinned
/// or fetched (422 `invalid_url`, `identity_provider_unreachable`).
pub async fn create(
    ctx: OrgCtx,
    body: Json<CreateProvider>,
    outbound: Arc<Outbound>,
) -> Result<Reply, ApiError> {
    let now = ctx.app.clock.now();
    let mut input = body.value;
    let source = std::mem::replace(
        &mut input.source,
        identity_providers::SourceInput::Discovery,
    );
    let keys = keys::resolve(&outbound, &input.issuer, source, now).await?;
    let record = ProviderRecord::new(ctx.org, input, keys, now);
    if !identity_providers::put_new(&ctx.app.store, &ctx.organization, &record).await? {
        return Err(crate::caps::Capped::IdentityProviders.reached(&ctx.organization));
    }
    Reply::json(StatusCode::CREATED, &record.view())
}

/// `PATCH /v1/identity-providers/{id}` → 200 with the provider: `name`,
/// `client_id`, and the key source (`jwks` pins, `jwks_uri` fetches); warm
/// functions use the change from their next request. `{}` changes nothing.
pub async fn update(
    ctx: OrgCtx,
    body: Json<UpdateProvider>,
    outbound: Arc<Outbound>,
) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    let (store, now) = (&ctx.app.store, ctx.app.clock.now());
    let current = identity_providers::get(store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(current.organization_id, RESOURCE)?;
    let input = body.value;
    if input.name.is_none() && input.client_id.is_none() && input.source.is_none() {
        return Reply::json(StatusCode::OK, &current.view());
    }
    let keys = match input.source {
        Some(source) => Some(keys::resolve(&outbound, &current.issuer, source, now).await?),
        None => None,
    };
    let changes = identity_providers::Changes {
        name: input.name,
        client_id: input.client_id,
        keys,
    };
    if !identity_providers::update(store, &ctx.organization, id, &changes, now).await? {
        return Err(ApiError::NotFound { resource: RESOURCE });
    }
    let updated = identity_providers::get(store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    Reply::json(StatusCode::OK, &updated.view())
}

/// `GET /v1/identity-providers` → `{data, next_cursor}`, oldest first.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor("p1:", IdentityProviderId::parse)?;
    let (providers, more) = identity_providers::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| providers.last().map(|p| encode_cursor("p1:", p.id)))
        .flatten();
    let data = providers.iter().map(ProviderRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `DELETE /v1/identity-providers/{id}` → 204, or 409
/// `identity_provider_in_use` while identities use it.
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    match identity_providers::delete(&ctx.app.store, &ctx.organization, id).await? {
        identity_providers::Deleted::Done => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        identity_providers::Deleted::InUse => Err(ApiError::IdentityProviderInUse),
        identity_providers::Deleted::NotFound => Err(ApiError::NotFound { resource: RESOURCE }),
    }
}

/// `GET /v1/identity-providers/{id}` → the provider (read scope), or 404.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    let provider = identity_providers::get(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(provider.organization_id, RESOURCE)?;
    Reply::json(StatusCode::OK, &provider.view())
}
