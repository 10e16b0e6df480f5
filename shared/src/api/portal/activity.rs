//! The Events and Usage views (SPEC §19): what happened in the
//! organization, and what it used of its plan.

use super::chrome;
use crate::error::ApiError;
use crate::events::{self, log};
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{NoBody, PortalCtx, Reply};
use crate::portal::View;
use crate::portal::page::{self, EventRow, EventsPage, TypeFilter, UsagePage};
use crate::portal::usage;
use lambda_http::http::StatusCode;
use serde_json::Value;

/// Events per page.
const EVENTS: usize = 25;
/// The events cursor's tag (the organization API's).
const EVENTS_CURSOR: &str = "ev1:";

/// `GET /portal/events[?types=…&after=…]`: the organization's events,
/// oldest first, filtered by type, a page at a time.
pub async fn events(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["types", "after"])?;
    let chosen: Vec<String> = ctx
        .query
        .all("types")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if chosen.iter().any(|t| !events::TYPES.contains(&t.as_str())) {
        return Err(ApiError::InvalidQueryParameter {
            name: "types".into(),
            problem: "must be event types",
        });
    }
    let after = ctx
        .query
        .cursor_named("after", EVENTS_CURSOR, str::parse::<u64>)?
        .unwrap_or(0);
    let types = (!chosen.is_empty()).then_some(chosen.as_slice());
    let now = ctx.app.clock.now().unix_timestamp();
    let page = log::page(&ctx.app.store, ctx.org, after, types, EVENTS, now).await?;
    let text = |v: &Value, path: &[&str]| {
        path.iter()
            .try_fold(v, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let rows = page
        .events
        .iter()
        .map(|e| EventRow {
            id: text(e, &["id"]),
            kind: text(e, &["type"]),
            at: text(e, &["created_at"])
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_owned(),
            actor: format!(
                "{} {}",
                text(e, &["actor", "type"]),
                text(e, &["actor", "id"])
            )
            .trim()
            .to_owned(),
            object: text(e, &["data", "object", "id"]),
        })
        .collect::<Vec<_>>();
    let next = (rows.len() == EVENTS).then(|| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("after", &encode_cursor(EVENTS_CURSOR, page.next));
        for t in &chosen {
            query.append_pair("types", t);
        }
        query.finish()
    });
    let filters = events::TYPES
        .iter()
        .map(|name| TypeFilter {
            name,
            checked: chosen.iter().any(|c| c == name),
        })
        .collect();
    let page = EventsPage {
        chrome: chrome(&ctx, View::Events),
        events: rows,
        filters,
        next,
    };
    Reply::page(StatusCode::OK, &page)
}

// ---- Usage --------------------------------------------------------------------

/// The refusal chart's drawing area, in SVG units.
const CHART: (u32, u32) = (600, 100);

/// `GET /portal/usage`: turns and relationships against the plan, and
/// rate-limit refusals per hour as an inline SVG chart (with its table).
pub async fn usage(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&[])?;
    let (store, now) = (&ctx.app.store, ctx.app.clock.now());
    let (quotas, hours) = futures_util::future::join(
        usage::quotas(store, &ctx.organization, now),
        usage::refusals(store, ctx.org, now),
    )
    .await;
    let (quotas, hours) = (quotas?, hours?);
    let (bars, peak) = page::bars(&hours, CHART.0, CHART.1);
    let page = UsagePage {
        chrome: chrome(&ctx, View::Usage),
        plan: quotas.plan.clone(),
        meters: vec![
            page::meter("Turns", quotas.turns_used, quotas.turn_ceiling),
            page::meter(
                "Relationships (active end users)",
                quotas.relationships,
                quotas.relationship_ceiling,
            ),
        ],
        total: hours.iter().map(|h| h.refused).sum(),
        bars,
        peak,
    };
    Reply::page(StatusCode::OK, &page)
}
