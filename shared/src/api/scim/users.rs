//! SCIM Users (RFC 7644 §3): a directory's users are end users of the
//! organization (SPEC §18). Only the directory's own users are visible:
//! another directory's, or one the organization API created, is 404.

use super::{
    Failed, Refusal, base, list_reply, paging, param, projected, resource_reply, write_current,
};
use crate::directories::keys::{self, Unique};
use crate::end_users::scim::{self as store, Refused};
use crate::end_users::{self, EndUserRecord};
use crate::error::ApiError;
use crate::ids::EndUserId;
use crate::pipeline::{NoBody, Reply, ScimBody, ScimCtx};
use crate::scim::filter::Filter;
use crate::scim::{self, ResourceKind, schema};
use lambda_http::http::StatusCode;
use lambda_http::http::header::LOCATION;
use serde_json::Value;

const KIND: ResourceKind = ResourceKind::User;
const RESOURCE: &str = "user";
/// Most users an email filter reads.
const EMAIL_MATCHES: usize = 100;

/// The user's full SCIM representation.
fn representation(ctx: &ScimCtx, record: &EndUserRecord) -> Value {
    let canonical = record.scim().unwrap_or_default();
    let meta = schema::Meta {
        created: record.created_at.to_string(),
        last_modified: record.updated_at.to_string(),
        version: record.version,
        location: format!("{}/Users/{}", base(ctx), record.id),
    };
    schema::representation(KIND, &record.id.to_string(), &canonical, &meta)
}

/// The directory's user of the path, or 404 (a malformed id included).
async fn found(ctx: &ScimCtx) -> Result<EndUserRecord, ApiError> {
    let id = ctx.path_id("id", EndUserId::parse)?;
    read(ctx, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })
}

/// User `id` if it is the directory's and not being deleted.
async fn read(ctx: &ScimCtx, id: EndUserId) -> Result<Option<EndUserRecord>, ApiError> {
    let record = end_users::find(&ctx.app.store, ctx.org, id).await?;
    Ok(record.filter(|r| r.provisioned_by(ctx.directory)))
}

impl Refusal for Refused {
    fn moved(&self) -> bool {
        matches!(self, Self::Moved)
    }
}

fn refused(refused: Refused, organization: &crate::organizations::Organization) -> ApiError {
    match refused {
        Refused::Taken(unique) => ApiError::ScimUniqueness {
            attribute: unique.attribute(),
        },
        Refused::AtCeiling(active) => ApiError::RelationshipQuotaExceeded {
            active,
            limit: organization.limits().relationship_ceiling,
        },
        Refused::Moved => ApiError::PreconditionFailed,
    }
}

fn log_ignored(ignored: &[String]) {
    if !ignored.is_empty() {
        // Names only: a dropped `password` is never logged by value.
        tracing::info!(scim_ignored = ?ignored, "undeclared SCIM attributes dropped");
    }
}

/// `POST /Users` → 201 with the user, `Location` and `ETag`.
pub async fn create(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let canonical = scim::resource::parse(KIND, &body.0)?;
    log_ignored(&canonical.ignored);
    let now = ctx.app.clock.now();
    let record = EndUserRecord::from_scim(&ctx.organization, ctx.directory, &canonical.value, now);
    store::create(
        &ctx.app.store,
        &ctx.organization,
        ctx.directory,
        &record,
        &canonical.value,
    )
    .await?
    .map_err(|r| refused(r, &ctx.organization))?;
    let resource = representation(&ctx, &record);
    let location = format!("{}/Users/{}", base(&ctx), record.id);
    resource_reply(&ctx, StatusCode::CREATED, KIND, &resource, record.version)?
        .header(LOCATION, &location)
}

/// `GET /Users/{id}`.
pub async fn get(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let record = found(&ctx).await?;
    let resource = representation(&ctx, &record);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, record.version)
}

/// `GET /Users?filter=&startIndex=&count=` → a `ListResponse`. A filter is
/// served from one of its clauses that names a key — `id`, `userName`,
/// `externalId` or an email — and the rest are checked on what it finds.
pub async fn list(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let (start, count) = paging(&ctx)?;
    let Some(text) = param(&ctx, "filter")? else {
        let (ids, total) = store::page(&ctx.app.store, ctx.directory, start - 1, count).await?;
        let users = store::users(&ctx.app.store, ctx.org, &ids).await?;
        let resources = users
            .iter()
            .filter(|u| u.provisioned_by(ctx.directory))
            .map(|u| projected(&ctx, KIND, &representation(&ctx, u)))
            .collect::<Result<Vec<_>, _>>()?;
        return list_reply(total, start, resources);
    };
    let filter = Filter::parse(KIND, text)?;
    let candidates = candidates(&ctx, &filter).await?;
    let matching: Vec<Value> = candidates
        .iter()
        .map(|u| representation(&ctx, u))
        .filter(|r| filter.matches(KIND, r))
        .collect();
    let total = matching.len();
    let resources = matching
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|r| projected(&ctx, KIND, r))
        .collect::<Result<Vec<_>, _>>()?;
    list_reply(total, start, resources)
}

/// The directory's users a filter's key clause names.
async fn candidates(ctx: &ScimCtx, filter: &Filter) -> Result<Vec<EndUserRecord>, ApiError> {
    let store_ = &ctx.app.store;
    let by_owner = |owner: Option<EndUserId>| async move {
        match owner {
            Some(id) => Ok::<_, ApiError>(read(ctx, id).await?.into_iter().collect()),
            None => Ok(Vec::new()),
        }
    };
    if let Some(id) = filter.equal_to("id") {
        return by_owner(EndUserId::parse(id).ok()).await;
    }
    if let Some(name) = filter.equal_to("userName") {
        let owner = keys::owner(store_, ctx.directory, Unique::UserName, name).await?;
        return by_owner(owner.and_then(|id| EndUserId::parse(&id).ok())).await;
    }
    if let Some(external) = filter.equal_to("externalId") {
        let owner = keys::owner(store_, ctx.directory, Unique::UserExternalId, external).await?;
        return by_owner(owner.and_then(|id| EndUserId::parse(&id).ok())).await;
    }
    if let Some(email) = filter.email() {
        let by = end_users::store::Lookup::Email(email.to_owned());
        let (users, _) =
            end_users::store::lookup(store_, ctx.org, &by, None, EMAIL_MATCHES).await?;
        return Ok(users
            .into_iter()
            .filter(|u| u.provisioned_by(ctx.directory))
            .collect());
    }
    Err(ApiError::ScimInvalid {
        scim_type: "invalidFilter",
        detail: "a filter needs an `eq` clause on id, userName, externalId or emails".into(),
    })
}

/// How a write finds its new canonical form from the current one.
type Change<'a> = &'a (dyn Fn(&EndUserRecord) -> Result<Value, ApiError> + Sync);

/// Writes the change of the user of the path ([`write_current`]).
async fn write(ctx: &ScimCtx, change: Change<'_>) -> Result<EndUserRecord, ApiError> {
    let write = |current: EndUserRecord| async move {
        let after = change(&current)?;
        let now = ctx.app.clock.now();
        Ok::<_, Failed>(store::replace(&ctx.app.store, &current, ctx.directory, &after, now).await?)
    };
    write_current(
        ctx,
        || found(ctx),
        |u| u.version,
        write,
        |r| refused(r, &ctx.organization),
    )
    .await
}

/// `PUT /Users/{id}`: replaces every writable attribute (an absent `active`
/// keeps the user's suspension as it is).
pub async fn replace(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let change = |current: &EndUserRecord| {
        let canonical = scim::resource::replace(
            KIND,
            &current.id.to_string(),
            &current.scim().unwrap_or_default(),
            &body.0,
        )?;
        log_ignored(&canonical.ignored);
        Ok(canonical.value)
    };
    let written = write(&ctx, &change).await?;
    let resource = representation(&ctx, &written);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, written.version)
}

/// `PATCH /Users/{id}` → 200 with the user (RFC 7644 §3.5.2).
pub async fn update(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let change = |current: &EndUserRecord| {
        let mut canonical = current.scim().unwrap_or_default();
        let applied = scim::patch::apply(KIND, &current.id.to_string(), &mut canonical, &body.0)?;
        log_ignored(&applied.ignored);
        Ok(canonical)
    };
    let written = write(&ctx, &change).await?;
    let resource = representation(&ctx, &written);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, written.version)
}

/// `DELETE /Users/{id}` → 204: the end user's deletion (SPEC §12's purge
/// follows); its `userName` and `externalId` are free again at once.
pub async fn delete(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let ctx = &ctx;
    let delete = |current: EndUserRecord| async move {
        let now = ctx.app.clock.now();
        Ok::<_, Failed>(store::delete(&ctx.app.store, &current, ctx.directory, now).await?)
    };
    write_current(
        ctx,
        || found(ctx),
        |u| u.version,
        delete,
        |r| refused(r, &ctx.organization),
    )
    .await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
