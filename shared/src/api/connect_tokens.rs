//! Connect tokens the organization issues to external services (SPEC §9).

use crate::error::{ApiError, FieldErrors};
use crate::external_services::connect_tokens::{
    self, Cancelled, ConnectTokenRecord, CreateConnectToken, CreatedConnectToken,
};
use crate::ids::ConnectTokenId;
use crate::pipeline::{Json, NoBody, NoFields, OrgCtx, Reply};
use crate::secrets::ConnectToken;
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;

/// `POST /v1/connect-tokens` → 201 `{id, token, external_service_id, status, expires_at}`.
pub async fn create(ctx: OrgCtx, body: Json<CreateConnectToken>) -> Result<Reply, ApiError> {
    let secret = ConnectToken::generate(ctx.org).map_err(ApiError::internal)?;
    let record = ConnectTokenRecord::new(
        ctx.org,
        ctx.organization.name.clone(),
        &body.value,
        &secret,
        ctx.app.clock.now(),
    );
    if !crate::external_services::exists(&ctx.app, body.value.external_service_id).await? {
        let mut errors = FieldErrors::new();
        errors.push("external_service_id", "no such external service");
        return Err(ApiError::Validation(errors));
    }
    connect_tokens::put_new(&ctx.app.store, &record).await?;
    let body = CreatedConnectToken {
        object: record.view(),
        token: secret.expose(),
    };
    // The body carries a secret: no cache may keep it (SPEC §2).
    Reply::json(StatusCode::CREATED, &body)?.header(CACHE_CONTROL, "no-store")
}

/// The organization's token named by the path, or 404.
async fn find(ctx: &OrgCtx) -> Result<ConnectTokenRecord, ApiError> {
    let id = ctx.path_id("id", ConnectTokenId::parse)?;
    let record = connect_tokens::find(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "connect_token",
        })?;
    ctx.check_stored_in(record.organization_id, "connect_token")?;
    Ok(record)
}

/// `GET /v1/connect-tokens/{id}`.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let record = find(&ctx).await?;
    Reply::json(StatusCode::OK, &record.view())
}

/// `POST /v1/connect-tokens/{id}/cancel` → the token, `cancelled`. Cancelling
/// a cancelled token answers the same; a claimed or consumed one is 409.
pub async fn cancel(ctx: OrgCtx, _: Json<NoFields>) -> Result<Reply, ApiError> {
    let record = find(&ctx).await?;
    match connect_tokens::cancel(&ctx.app.store, &record, ctx.app.clock.now()).await? {
        Cancelled::Now(current) => Reply::json(StatusCode::OK, &current.view()),
        Cancelled::Unusable => Err(ApiError::ConnectTokenUnusable),
    }
}
