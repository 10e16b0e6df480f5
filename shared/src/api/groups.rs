//! Groups through the organization API (SPEC §18), read scope: what the
//! organization's directories provision, and who is in them.

use crate::end_users::EndUserRecord;
use crate::error::ApiError;
use crate::groups::store::{self, GroupRecord};
use crate::groups::{Group, GroupMember};
use crate::ids::{EndUserId, GroupId};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{NoBody, OrgCtx, Reply};
use crate::wire::Page;
use lambda_http::http::StatusCode;
use serde_json::Value;

const RESOURCE: &str = "group";
const CURSOR_TAG: &str = "g1:";
const MEMBER_CURSOR_TAG: &str = "gm1:";

async fn found(ctx: &OrgCtx) -> Result<GroupRecord, ApiError> {
    let id = ctx.path_id("id", GroupId::parse)?;
    let record = store::get(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(record.organization_id, RESOURCE)?;
    Ok(record)
}

/// `GET /v1/groups` → `{data, next_cursor}`, oldest first.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(CURSOR_TAG, GroupId::parse)?;
    let (records, more) = store::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| records.last().map(|r| encode_cursor(CURSOR_TAG, r.id)))
        .flatten();
    let data: Vec<Group<'_>> = records.iter().map(GroupRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `GET /v1/groups/{id}`.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let record = found(&ctx).await?;
    Reply::json(StatusCode::OK, &record.view())
}

/// `GET /v1/groups/{id}/members` → `{data: [{end_user_id, display}], next_cursor}`,
/// in the order they were added.
pub async fn members(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(MEMBER_CURSOR_TAG, EndUserId::parse)?;
    let record = found(&ctx).await?;
    let members = record.members();
    let listed: Vec<(EndUserId, Option<&str>)> = members
        .iter()
        .filter_map(|m| {
            let id = EndUserId::parse(m.get("value").and_then(Value::as_str)?).ok()?;
            Some((id, m.get("display").and_then(Value::as_str)))
        })
        .collect();
    let start = match after {
        None => 0,
        Some(last) => listed
            .iter()
            .position(|(id, _)| *id == last)
            .map_or(listed.len(), |at| at + 1),
    };
    let slice: Vec<&(EndUserId, Option<&str>)> = listed.iter().skip(start).take(limit).collect();
    // Only end users: a value the directory sent that names none is no member.
    let ids: Vec<EndUserId> = slice.iter().map(|(id, _)| *id).collect();
    let existing: std::collections::HashSet<EndUserId> =
        crate::end_users::scim::users(&ctx.app.store, ctx.org, &ids)
            .await?
            .iter()
            .map(|u| u.id)
            .collect();
    let page: Vec<GroupMember<'_>> = slice
        .iter()
        .filter(|(id, _)| existing.contains(id))
        .map(|(id, display)| GroupMember {
            end_user_id: *id,
            display: *display,
        })
        .collect();
    let more = start + slice.len() < listed.len();
    let next_cursor = more
        .then(|| {
            slice
                .last()
                .map(|(id, _)| encode_cursor(MEMBER_CURSOR_TAG, id))
        })
        .flatten();
    Reply::json(
        StatusCode::OK,
        &Page {
            data: page,
            next_cursor,
        },
    )
}

/// `GET /v1/end-users/{user_id}/groups` → the groups the end user is in
/// (`{data, next_cursor}`; one page: an end user is in the groups of one
/// directory).
pub async fn of_end_user(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(CURSOR_TAG, GroupId::parse)?;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let record: EndUserRecord = crate::end_users::find(&ctx.app.store, ctx.org, user)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "end_user",
        })?;
    ctx.check_stored(
        crate::authz::Resource::EndUser {
            id: record.id,
            organization: record.organization_id,
        },
        "end_user",
    )?;
    let mut groups = store::of_user(&ctx.app.store, ctx.org, user).await?;
    groups.sort_by_key(|g| g.id.to_string());
    let start = after.map_or(0, |last| {
        groups
            .iter()
            .position(|g| g.id.to_string() > last.to_string())
            .unwrap_or(groups.len())
    });
    let page: Vec<Group<'_>> = groups
        .iter()
        .skip(start)
        .take(limit)
        .map(GroupRecord::view)
        .collect();
    let more = start + page.len() < groups.len();
    let next_cursor = more
        .then(|| page.last().map(|g| encode_cursor(CURSOR_TAG, g.id)))
        .flatten();
    Reply::json(
        StatusCode::OK,
        &Page {
            data: page,
            next_cursor,
        },
    )
}
