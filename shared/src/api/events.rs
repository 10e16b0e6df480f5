//! `GET /v1/events` (SPEC §15): the organization's events, oldest first.

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::events::{self, log};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{NoBody, OrgCtx, Reply};
use lambda_http::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Cursor tag of the event log.
const CURSOR_TAG: &str = "ev1:";

/// An event (SPEC §15).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Event")]
pub struct EventObject {
    /// `evt_…`, the same on every delivery of the event.
    pub id: String,
    /// The event type, e.g. `end_user.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The organization.
    pub organization_id: String,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Who made the change: `{type: api_key|end_user|external_service|system, id}`.
    pub actor: Value,
    /// `{object: <the resource as the API renders it>, previous?: <changed members>}`.
    pub data: Value,
}

/// A page of events; `next_cursor` is always present, so a consumer can
/// resume from it later.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "EventPage")]
pub struct EventPage {
    /// The events, oldest first.
    #[schemars(with = "Vec<EventObject>")]
    pub data: Vec<Value>,
    /// Pass as `after` to continue (also from an empty page).
    pub next_cursor: String,
}

/// `GET /v1/events?after=&types=&limit=` → `{data, next_cursor}`.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["after", "types", "limit"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx
        .query
        .cursor_named("after", CURSOR_TAG, str::parse::<u64>)?
        .unwrap_or(0);
    let types = match ctx.query.single("types")? {
        None => None,
        Some(raw) => {
            let types: Vec<String> = raw.split(',').map(|t| t.trim().to_owned()).collect();
            if types.iter().any(|t| !events::TYPES.contains(&t.as_str())) {
                return Err(ApiError::InvalidQueryParameter {
                    name: "types".into(),
                    problem: "must be a comma-separated list of event types",
                });
            }
            Some(types)
        }
    };
    let now = ctx.app.clock.now().unix_timestamp();
    let page = log::page(&ctx.app.store, ctx.org, after, types.as_deref(), limit, now).await?;
    Reply::json(
        StatusCode::OK,
        &EventPage {
            data: page.events,
            next_cursor: encode_cursor(CURSOR_TAG, page.next),
        },
    )
}
