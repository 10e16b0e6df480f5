//! The Webhooks view (SPEC §19): the endpoints, one's delivery log with
//! every attempt, and its forms (add, roll, test, retry) through the
//! organization API's own operations.

use super::chrome;
use super::views::{id_field, op, parsed, refused, time};
use crate::api::webhooks as webhook_api;
use crate::deliveries::records as deliveries;
use crate::error::{ApiError, FieldErrors};
use crate::events;
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::outbound::Outbound;
use crate::pipeline::{Form, NoBody, PortalCtx, Reply};
use crate::portal::View;
use crate::portal::page::{AttemptRow, Chrome, DeliveryRow, EndpointRow, Revealed, WebhooksPage};
use crate::queue::DeliveryQueue;
use crate::sealed::Keyring;
use crate::webhooks::endpoints::{self, CreateEndpoint, EndpointRecord};
use lambda_http::http::StatusCode;
use serde_json::{Map, json};
use std::sync::Arc;

/// The most endpoints the view lists (the cap keeps an organization's well under it).
const LISTED: usize = 100;
/// Deliveries shown for an endpoint.
const DELIVERIES: usize = 20;

fn endpoint_row(record: &EndpointRecord, selected: Option<WebhookEndpointId>) -> EndpointRow {
    EndpointRow {
        id: record.id.to_string(),
        url: record.url.clone(),
        status: serde_json::to_value(record.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        event_types: if record.event_types.is_empty() {
            "all".to_owned()
        } else {
            record.event_types.join(", ")
        },
        description: record.description.clone().unwrap_or_default(),
        selected: selected == Some(record.id),
    }
}

struct WebhooksForm {
    revealed: Option<Revealed>,
    url: String,
    description: String,
}

async fn webhooks_page(
    ctx: &PortalCtx,
    chrome: Chrome,
    selected: Option<WebhookEndpointId>,
    form: WebhooksForm,
) -> Result<WebhooksPage, ApiError> {
    let store = &ctx.app.store;
    let (records, _) = endpoints::list(store, ctx.org, None, LISTED).await?;
    let deliveries = match selected {
        None => None,
        Some(id) => {
            let endpoint = webhook_api::found(ctx, id).await?;
            let (log, _) = deliveries::list(store, ctx.org, id, None, DELIVERIES).await?;
            let rows = log
                .iter()
                .map(|d| DeliveryRow {
                    id: d.id.to_string(),
                    event_type: d.event_type.clone(),
                    event_id: d.event_id.clone(),
                    status: serde_json::to_value(d.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    created_at: time(d.created_at),
                    attempts: d
                        .attempts
                        .iter()
                        .map(|a| AttemptRow {
                            at: time(a.attempted_at),
                            status_code: a.status_code.map(|c| c.to_string()).unwrap_or_default(),
                            error: a.error.clone().unwrap_or_default(),
                            duration_ms: a.duration_ms,
                        })
                        .collect(),
                })
                .collect();
            Some((endpoint_row(&endpoint, selected), rows))
        }
    };
    Ok(WebhooksPage {
        chrome,
        endpoints: records.iter().map(|r| endpoint_row(r, selected)).collect(),
        revealed: form.revealed,
        deliveries,
        event_types: events::TYPES,
        url: form.url,
        description: form.description,
    })
}

/// `GET /portal/webhooks[?endpoint=<id>]`: the endpoints, and one's
/// delivery log with every attempt.
pub async fn webhooks(ctx: PortalCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["endpoint"])?;
    let selected = match ctx.query.single("endpoint")? {
        None => None,
        Some(id) => {
            Some(
                WebhookEndpointId::parse(id).map_err(|_| ApiError::InvalidQueryParameter {
                    name: "endpoint".into(),
                    problem: "must be a webhook endpoint id",
                })?,
            )
        }
    };
    let form = WebhooksForm {
        revealed: None,
        url: String::new(),
        description: String::new(),
    };
    let page = webhooks_page(&ctx, chrome(&ctx, View::Webhooks), selected, form).await?;
    Reply::page(StatusCode::OK, &page)
}

/// `POST /portal/webhooks`: `op=create` (`url`, `description`,
/// `event_types`), `roll`, `test` (`endpoint_id`) or `retry`
/// (`endpoint_id`, `delivery_id`); a secret made is shown once.
pub async fn webhooks_change(
    ctx: PortalCtx,
    form: Form,
    ((outbound, keyring), queue): ((Arc<Outbound>, Arc<Keyring>), DeliveryQueue),
) -> Result<Reply, ApiError> {
    let fields = ctx.fields(form)?;
    let mut chrome = chrome(&ctx, View::Webhooks);
    let mut errors = FieldErrors::new();
    let url = fields.text("url", 2048, &mut errors).unwrap_or_default();
    let description = fields
        .text("description", 500, &mut errors)
        .unwrap_or_default();
    let mut page_form = WebhooksForm {
        revealed: None,
        url: url.clone(),
        description: description.clone(),
    };
    let operation = op(&fields, &["create", "roll", "test", "retry"])?;
    let endpoint = match operation {
        "create" => None,
        _ => Some(id_field(&fields, "endpoint_id", WebhookEndpointId::parse)?),
    };
    let done: Result<Option<WebhookEndpointId>, ApiError> = async {
        match (operation, endpoint) {
            ("create", _) => {
                errors.into_result(|| ())?;
                let mut members = Map::from_iter([("url".to_owned(), json!(url))]);
                if !description.is_empty() {
                    members.insert("description".to_owned(), json!(description));
                }
                let types = fields.all("event_types");
                if !types.is_empty() {
                    members.insert("event_types".to_owned(), json!(types));
                }
                let input: CreateEndpoint = parsed(members)?;
                let (record, secret) = webhook_api::add(&ctx, input, &outbound, &keyring).await?;
                page_form.revealed = Some(Revealed {
                    label: format!("Signing secret of {}", record.url),
                    value: secret,
                    hint: "Verify every delivery's webhook-signature with it (Standard Webhooks)."
                        .to_owned(),
                });
                chrome.notice = Some("Endpoint added.".to_owned());
                Ok(Some(record.id))
            }
            ("roll", Some(id)) => {
                let (record, secret) = webhook_api::roll(&ctx, id, &keyring).await?;
                page_form.revealed = Some(Revealed {
                    label: format!("New signing secret of {}", record.url),
                    value: secret,
                    hint: "The previous secret keeps signing beside it for 24 hours.".to_owned(),
                });
                chrome.notice = Some("Secret rolled.".to_owned());
                Ok(Some(id))
            }
            ("test", Some(id)) => {
                webhook_api::ping(&ctx, id, &queue).await?;
                chrome.notice =
                    Some("A ping event is on its way; its delivery shows below.".to_owned());
                Ok(Some(id))
            }
            (_, Some(id)) => {
                let delivery = id_field(&fields, "delivery_id", WebhookDeliveryId::parse)?;
                webhook_api::again(&ctx, id, delivery, &queue).await?;
                chrome.notice = Some("The delivery is being attempted again.".to_owned());
                Ok(Some(id))
            }
            (_, None) => Err(ApiError::internal("an endpoint operation without its id")),
        }
    }
    .await;
    let (status, selected) = match done {
        Ok(selected) => {
            // Done: the form starts empty again.
            page_form.url.clear();
            page_form.description.clear();
            (StatusCode::OK, selected)
        }
        // An endpoint of another organization stays a 404 page.
        Err(err @ ApiError::NotFound { .. }) => return Err(err),
        Err(err) => (refused(err, &mut chrome)?, endpoint),
    };
    Reply::page(
        status,
        &webhooks_page(&ctx, chrome, selected, page_form).await?,
    )
}
