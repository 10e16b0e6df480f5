//! Identity providers of the organization (SPEC §9).

use crate::error::ApiError;
use crate::identity_providers::{self, CreateProvider, ProviderRecord};
use crate::ids::IdentityProviderId;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, OrgCtx, Reply};
use crate::wire::Page;
use lambda_http::http::StatusCode;

/// `POST /v1/identity-providers` → 201 with the provider.
#[tracing::instrument(name = "identity_providers.create", skip_all)]
pub async fn create(ctx: OrgCtx, body: Json<CreateProvider>) -> Result<Reply, ApiError> {
    let record = ProviderRecord::new(ctx.org, body.value, ctx.app.clock.now());
    identity_providers::put_new(&ctx.app.store, &record).await?;
    Reply::json(StatusCode::CREATED, &record.view())
}

/// `GET /v1/identity-providers` → `{data, next_cursor}`, oldest first.
#[tracing::instrument(name = "identity_providers.list", skip_all)]
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
#[tracing::instrument(name = "identity_providers.delete", skip_all)]
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    match identity_providers::delete(&ctx.app.store, ctx.org, id).await? {
        identity_providers::Deleted::Done => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        identity_providers::Deleted::InUse => Err(ApiError::IdentityProviderInUse),
        identity_providers::Deleted::NotFound => Err(ApiError::NotFound {
            resource: "identity_provider",
        }),
    }
}

/// `GET /v1/identity-providers/{id}` → the provider (read scope), or 404.
#[tracing::instrument(name = "identity_providers.read", skip_all)]
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", IdentityProviderId::parse)?;
    let provider = identity_providers::get(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "identity_provider",
        })?;
    Reply::json(StatusCode::OK, &provider.view())
}
