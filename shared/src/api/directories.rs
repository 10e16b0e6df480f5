//! An organization's directories (SPEC §18), admin scope: the SCIM
//! connections its identity providers provision its people through.

use crate::caps::Capped;
use crate::directories::{self, CreateDirectory, DirectoryRecord, WithToken};
use crate::error::ApiError;
use crate::ids::DirectoryId;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, NoFields, OrgCtx, OrgSettings, Reply};
use crate::secrets::DirectoryToken;
use crate::wire::Page;
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;

const RESOURCE: &str = "directory";
const CURSOR_TAG: &str = "d1:";

/// The directory with its token: never cached, never stored by a proxy.
fn with_token(
    ctx: &OrgCtx,
    status: StatusCode,
    record: &DirectoryRecord,
    token: &DirectoryToken,
) -> Result<Reply, ApiError> {
    let body = WithToken {
        directory: record.view(&ctx.app.config.public_base_url),
        bearer_token: token.expose(),
    };
    Reply::json(status, &body)?.header(CACHE_CONTROL, "no-store")
}

/// The organization's directory of the path, or 404.
async fn found(ctx: &OrgCtx) -> Result<DirectoryRecord, ApiError> {
    let id = ctx.path_id("id", DirectoryId::parse)?;
    found_by_id(ctx, id).await
}

/// The organization's directory `id`, or 404 (another organization's too).
pub async fn found_by_id(
    ctx: &impl OrgSettings,
    id: DirectoryId,
) -> Result<DirectoryRecord, ApiError> {
    let record = directories::get(&ctx.app.store, ctx.org(), id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(record.organization_id, RESOURCE)?;
    Ok(record)
}

/// `POST /v1/directories` → 201 with the bearer token, once.
pub async fn create(ctx: OrgCtx, body: Json<CreateDirectory>) -> Result<Reply, ApiError> {
    let (record, token) = open(&ctx, body.value.name).await?;
    with_token(&ctx, StatusCode::CREATED, &record, &token)
}

/// Creates a directory under the organization's cap (also the admin
/// portal's): the record and its token, which nothing shows again.
pub async fn open(
    ctx: &impl OrgSettings,
    name: String,
) -> Result<(DirectoryRecord, DirectoryToken), ApiError> {
    let now = ctx.app.clock.now();
    let created = directories::create(&ctx.app.store, ctx.organization(), name, now).await?;
    created.ok_or_else(|| Capped::Directories.reached(ctx.organization()))
}

/// `GET /v1/directories` → `{data, next_cursor}`.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(CURSOR_TAG, DirectoryId::parse)?;
    let (records, more) = directories::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| records.last().map(|r| encode_cursor(CURSOR_TAG, r.id)))
        .flatten();
    let base = &ctx.app.config.public_base_url;
    let data = records.iter().map(|r| r.view(base)).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `GET /v1/directories/{id}`.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let record = found(&ctx).await?;
    Reply::json(
        StatusCode::OK,
        &record.view(&ctx.app.config.public_base_url),
    )
}

/// `DELETE /v1/directories/{id}` → 204: the token stops at once; the
/// directory's end users stay.
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    // A roll at once changes the credential deleted: read it again.
    for _ in 0..3 {
        let record = found(&ctx).await?;
        if directories::delete(&ctx.app.store, &record, Some(&ctx.organization)).await? {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
    }
    Err(ApiError::ServiceUnavailable(
        "the directory kept changing".into(),
    ))
}

/// `POST /v1/directories/{id}/roll-token` → 200 with the new token, once;
/// the old one stops at once.
pub async fn roll_token(ctx: OrgCtx, _: Json<NoFields>) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", DirectoryId::parse)?;
    let (record, token) = roll(&ctx, id).await?;
    with_token(&ctx, StatusCode::OK, &record, &token)
}

/// Rolls directory `id`'s token (also the admin portal's): the old one
/// stops at once; the new one is shown once.
pub async fn roll(
    ctx: &impl OrgSettings,
    id: DirectoryId,
) -> Result<(DirectoryRecord, DirectoryToken), ApiError> {
    let now = ctx.app.clock.now();
    // Two rolls at once: the later one rolls what the first one made.
    for _ in 0..3 {
        let current = found_by_id(ctx, id).await?;
        let rolled =
            directories::roll_token(&ctx.app.store, &current, Some(ctx.organization()), now)
                .await?;
        if let Some(rolled) = rolled {
            return Ok(rolled);
        }
    }
    Err(ApiError::ServiceUnavailable(
        "the directory's token kept changing".into(),
    ))
}
