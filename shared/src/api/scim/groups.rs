//! SCIM Groups (RFC 7644 §3): a directory's groups of its own users. A group
//! is one item, so a PATCH adding or removing up to 1,000 members is one
//! conditional write: it lands whole or not at all.

use super::{
    Failed, Refusal, base, list_reply, paging, param, projected, resource_reply, write_current,
};
use crate::directories::keys::{self, Unique};
use crate::end_users::scim as users;
use crate::error::ApiError;
use crate::groups::GroupRecord;
use crate::groups::store::{self, Refused};
use crate::ids::{EndUserId, GroupId};
use crate::pipeline::{NoBody, Reply, ScimBody, ScimCtx};
use crate::scim::filter::Filter;
use crate::scim::{self, ResourceKind, schema};
use lambda_http::http::StatusCode;
use lambda_http::http::header::LOCATION;
use serde_json::Value;
use std::collections::HashSet;

const KIND: ResourceKind = ResourceKind::Group;
const RESOURCE: &str = "group";
/// The most members one request may add or remove.
pub const MAX_MEMBER_CHANGES: usize = 1_000;

/// The group's full SCIM representation. Members are as the directory sent
/// them (`value`, `display`, `type`): no `$ref` is added, since a value may
/// name no end user.
fn representation(ctx: &ScimCtx, record: &GroupRecord) -> Value {
    let meta = schema::Meta {
        created: record.created_at.to_string(),
        last_modified: record.updated_at.to_string(),
        version: record.version,
        location: format!("{}/Groups/{}", base(ctx), record.id),
    };
    schema::representation(KIND, &record.id.to_string(), &record.canonical(), &meta)
}

/// The directory's group of the path, or 404.
async fn found(ctx: &ScimCtx) -> Result<GroupRecord, ApiError> {
    let id = ctx.path_id("id", GroupId::parse)?;
    read(ctx, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })
}

async fn read(ctx: &ScimCtx, id: GroupId) -> Result<Option<GroupRecord>, ApiError> {
    let group = store::get(&ctx.app.store, ctx.org, id).await?;
    Ok(group.filter(|g| g.directory_id == ctx.directory))
}

impl Refusal for Refused {
    fn moved(&self) -> bool {
        matches!(self, Self::Moved)
    }
}

fn refused(refused: Refused) -> ApiError {
    match refused {
        Refused::Taken(unique) => ApiError::ScimUniqueness {
            attribute: unique.attribute(),
        },
        Refused::Moved => ApiError::PreconditionFailed,
        Refused::TooLarge => ApiError::ScimInvalid {
            scim_type: "tooMany",
            detail: "the group's members do not fit in one group".into(),
        },
    }
}

/// Checks the members a change adds: one that is an end user of the
/// organization this directory does not provision (the organization API's,
/// another directory's, one being deleted) is refused — a directory never
/// reaches another's people. A value naming no end user is kept as sent
/// (an inert reference: RFC 7644 §3.5.2 applies a PATCH whole, and no end
/// user, no decision and no group list resolves it).
async fn directory_members(
    ctx: &ScimCtx,
    canonical: &Value,
    already: &HashSet<String>,
) -> Result<(), ApiError> {
    let asked: Vec<EndUserId> = canonical
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .filter(|id| !already.contains(*id))
        .filter_map(|id| EndUserId::parse(id).ok())
        .collect();
    let foreign = users::users(&ctx.app.store, ctx.org, &asked)
        .await?
        .into_iter()
        .find(|u| !u.provisioned_by(ctx.directory));
    match foreign {
        Some(user) => Err(ApiError::ScimInvalid {
            scim_type: "invalidValue",
            detail: format!("member {} is no user of this directory", user.id),
        }),
        None => Ok(()),
    }
}

/// `POST /Groups` → 201 with the group.
pub async fn create(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let canonical = scim::resource::parse(KIND, &body.0)?;
    directory_members(&ctx, &canonical.value, &HashSet::new()).await?;
    let record = GroupRecord::new(
        ctx.org,
        ctx.directory,
        &canonical.value,
        ctx.app.clock.now(),
    );
    store::create(&ctx.app.store, &record)
        .await?
        .map_err(refused)?;
    let resource = representation(&ctx, &record);
    let location = format!("{}/Groups/{}", base(&ctx), record.id);
    resource_reply(&ctx, StatusCode::CREATED, KIND, &resource, record.version)?
        .header(LOCATION, &location)
}

/// `GET /Groups/{id}`.
pub async fn get(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let record = found(&ctx).await?;
    let resource = representation(&ctx, &record);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, record.version)
}

/// `GET /Groups?filter=&startIndex=&count=`. List entries leave `members`
/// out unless `attributes` asks for them: a page of large groups would
/// otherwise be megabytes.
pub async fn list(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let (start, count) = paging(&ctx)?;
    let wants_members = param(&ctx, "attributes")?.is_some_and(|a| {
        a.split(',')
            .any(|name| name.trim().eq_ignore_ascii_case("members"))
    });
    let entry = |record: &GroupRecord| -> Result<Value, ApiError> {
        let mut resource = representation(&ctx, record);
        if !wants_members && let Some(object) = resource.as_object_mut() {
            object.remove("members");
        }
        projected(&ctx, KIND, &resource)
    };
    let Some(text) = param(&ctx, "filter")? else {
        let (ids, total) = store::page(&ctx.app.store, ctx.directory, start - 1, count).await?;
        let groups = store::get_many(&ctx.app.store, ctx.org, &ids).await?;
        let resources = groups
            .iter()
            .filter(|g| g.directory_id == ctx.directory)
            .map(entry)
            .collect::<Result<Vec<_>, _>>()?;
        return list_reply(total, start, resources);
    };
    let filter = Filter::parse(KIND, text)?;
    let candidate = if let Some(id) = filter.equal_to("id") {
        match GroupId::parse(id) {
            Ok(id) => read(&ctx, id).await?,
            Err(_) => None,
        }
    } else {
        let unique = if filter.equal_to("displayName").is_some() {
            Unique::GroupName
        } else if filter.equal_to("externalId").is_some() {
            Unique::GroupExternalId
        } else {
            return Err(ApiError::ScimInvalid {
                scim_type: "invalidFilter",
                detail: "a filter needs an `eq` clause on id, displayName or externalId".into(),
            });
        };
        let value = filter.equal_to(unique.attribute()).unwrap_or_default();
        match keys::owner(&ctx.app.store, ctx.directory, unique, value).await? {
            Some(id) => match GroupId::parse(&id) {
                Ok(id) => read(&ctx, id).await?,
                Err(_) => None,
            },
            None => None,
        }
    };
    let matching: Vec<&GroupRecord> = candidate
        .iter()
        .filter(|g| filter.matches(KIND, &representation(&ctx, g)))
        .collect();
    let resources = matching
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|g| entry(g))
        .collect::<Result<Vec<_>, _>>()?;
    list_reply(matching.len(), start, resources)
}

/// How a write finds the group's new canonical form from the current one.
type Change<'a> = &'a (dyn Fn(&GroupRecord) -> Result<Value, ApiError> + Sync);

/// Writes the change of the group of the path ([`write_current`]): its
/// members checked against the directory, at most 1,000 of them changed,
/// counted as asked before any is looked up (the bound is on the work).
async fn write(ctx: &ScimCtx, change: Change<'_>) -> Result<GroupRecord, ApiError> {
    let write = |current: GroupRecord| async move {
        let after = change(&current)?;
        let before: HashSet<String> = current
            .member_ids()
            .iter()
            .map(ToString::to_string)
            .collect();
        let asked: HashSet<String> = scim::patch::member_ids(&after).into_iter().collect();
        let changes = asked.symmetric_difference(&before).count();
        if changes > MAX_MEMBER_CHANGES {
            return Err(ApiError::ScimInvalid {
                scim_type: "invalidValue",
                detail: format!(
                    "a request may add or remove at most {MAX_MEMBER_CHANGES} members ({changes} asked)"
                ),
            }
            .into());
        }
        directory_members(ctx, &after, &before).await?;
        let now = ctx.app.clock.now();
        Ok::<_, Failed>(store::replace(&ctx.app.store, &current, &after, now).await?)
    };
    write_current(ctx, || found(ctx), |g| g.version, write, refused).await
}

/// `PUT /Groups/{id}`.
pub async fn replace(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let change = |current: &GroupRecord| {
        let canonical =
            scim::resource::replace(KIND, &current.id.to_string(), &current.canonical(), &body.0)?;
        Ok(canonical.value)
    };
    let written = write(&ctx, &change).await?;
    let resource = representation(&ctx, &written);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, written.version)
}

/// `PATCH /Groups/{id}` → 200 with the group.
pub async fn update(ctx: ScimCtx, body: ScimBody) -> Result<Reply, ApiError> {
    let change = |current: &GroupRecord| {
        let mut canonical = current.canonical();
        scim::patch::apply(KIND, &current.id.to_string(), &mut canonical, &body.0)?;
        Ok(canonical)
    };
    let written = write(&ctx, &change).await?;
    let resource = representation(&ctx, &written);
    resource_reply(&ctx, StatusCode::OK, KIND, &resource, written.version)
}

/// `DELETE /Groups/{id}` → 204.
pub async fn delete(ctx: ScimCtx, _: NoBody) -> Result<Reply, ApiError> {
    let ctx = &ctx;
    let delete = |current: GroupRecord| async move {
        Ok::<_, Failed>(store::delete(&ctx.app.store, &current).await?)
    };
    write_current(ctx, || found(ctx), |g| g.version, delete, refused).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
