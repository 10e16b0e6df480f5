//! Events and webhook endpoints of the organization API (SPEC §15).

use super::organization::org_api;
use super::{Docs, Endpoint, Touch, op};
use crate::api;
use crate::auth::Scope;
use crate::wire::schema;

/// `POST /v1/webhook-endpoints`
pub const CREATE_WEBHOOK_ENDPOINT: Endpoint = org_api(
    "create-webhook-endpoint",
    ("POST", "/v1/webhook-endpoints"),
    "webhook_endpoints.create",
    op!(api::webhooks::create),
    Docs::new(
        "Register a webhook endpoint (its secret is in this response only)",
        (
            201,
            "The endpoint and its signing secret.",
            Some(schema::<crate::webhooks::endpoints::WithSecret<'static>>),
        ),
        &[409],
    ),
)
.example(
    Some(r##"{"url": "http://127.0.0.1:8089/tether", "event_types": ["end_user.created"]}"##),
    "",
)
.needing(Scope::Admin);
/// `GET /v1/webhook-endpoints`
pub const LIST_WEBHOOK_ENDPOINTS: Endpoint = org_api(
    "list-webhook-endpoints",
    ("GET", "/v1/webhook-endpoints"),
    "webhook_endpoints.list",
    op!(api::webhooks::list),
    Docs::new(
        "List webhook endpoints",
        (
            200,
            "A page of webhook endpoints.",
            Some(schema::<crate::wire::Page<crate::webhooks::endpoints::WebhookEndpoint<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Admin);
/// `GET /v1/webhook-endpoints/{id}`
pub const GET_WEBHOOK_ENDPOINT: Endpoint = org_api(
    "get-webhook-endpoint",
    ("GET", "/v1/webhook-endpoints/{id}"),
    "webhook_endpoints.read",
    op!(api::webhooks::get),
    Docs::new(
        "Get a webhook endpoint",
        (
            200,
            "The endpoint (never its secret).",
            Some(schema::<crate::webhooks::endpoints::WebhookEndpoint<'static>>),
        ),
        &[],
    ),
)
.needing(Scope::Admin);
/// `PATCH /v1/webhook-endpoints/{id}`
pub const UPDATE_WEBHOOK_ENDPOINT: Endpoint = org_api(
    "update-webhook-endpoint",
    ("PATCH", "/v1/webhook-endpoints/{id}"),
    "webhook_endpoints.update",
    op!(api::webhooks::update),
    Docs::new(
        "Change a webhook endpoint's URL, event types or description, or re-enable it",
        (
            200,
            "The endpoint.",
            Some(schema::<crate::webhooks::endpoints::WebhookEndpoint<'static>>),
        ),
        &[],
    ),
)
.example(Some(r##"{"description": "CRM sync"}"##), "")
.needing(Scope::Admin);
/// `DELETE /v1/webhook-endpoints/{id}`
pub const DELETE_WEBHOOK_ENDPOINT: Endpoint = org_api(
    "delete-webhook-endpoint",
    ("DELETE", "/v1/webhook-endpoints/{id}"),
    "webhook_endpoints.delete",
    op!(api::webhooks::delete),
    Docs::new("Delete a webhook endpoint", (204, "Deleted.", None), &[]),
)
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::Admin);
/// `POST /v1/webhook-endpoints/{id}/roll-secret`
pub const ROLL_WEBHOOK_SECRET: Endpoint = org_api(
    "roll-webhook-secret",
    ("POST", "/v1/webhook-endpoints/{id}/roll-secret"),
    "webhook_endpoints.roll_secret",
    op!(api::webhooks::roll_secret),
    Docs::new(
        "Roll a webhook endpoint's signing secret (the old one signs too for 24 h)",
        (
            200,
            "The endpoint and its new signing secret.",
            Some(schema::<crate::webhooks::endpoints::WithSecret<'static>>),
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.needing(Scope::Admin);
/// `GET /v1/events`
pub const LIST_EVENTS: Endpoint = org_api(
    "list-events",
    ("GET", "/v1/events"),
    "events.list",
    op!(api::events::list),
    Docs::new(
        "The organization's events, oldest first (kept 30 days)",
        (200, "A page of events; resume later from next_cursor.", Some(schema::<crate::api::events::EventPage>)),
        &[],
    )
    .query(&[
        super::QueryParameter {
            name: "after",
            required: false,
            description: "A next_cursor from an earlier page: the events after it.",
            id: false,
        },
        super::QueryParameter {
            name: "types",
            required: false,
            description: "Comma-separated event types to return (the cursor moves past the others).",
            id: false,
        },
        super::QueryParameter {
            name: "limit",
            required: false,
            description: "Page size, 1 to 100 (default 20).",
            id: false,
        },
    ]),
)
.example(None, "limit=20")
.needing(Scope::Admin);
/// `POST /v1/webhook-endpoints/{id}/test`
pub const TEST_WEBHOOK_ENDPOINT: Endpoint = org_api(
    "test-webhook-endpoint",
    ("POST", "/v1/webhook-endpoints/{id}/test"),
    "webhook_endpoints.test",
    op!(api::webhooks::test),
    Docs::new(
        "Send a ping event to a webhook endpoint",
        (
            202,
            "The ping's delivery (see its delivery log for the outcome).",
            Some(schema::<crate::deliveries::records::WebhookDelivery<'static>>),
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.needing(Scope::Admin);
/// `GET /v1/webhook-endpoints/{id}/deliveries`
pub const LIST_WEBHOOK_DELIVERIES: Endpoint = org_api(
    "list-webhook-deliveries",
    ("GET", "/v1/webhook-endpoints/{id}/deliveries"),
    "webhook_endpoints.deliveries",
    op!(api::webhooks::deliveries),
    Docs::new(
        "A webhook endpoint's deliveries, newest first, with every attempt (kept 30 days)",
        (
            200,
            "A page of deliveries.",
            Some(schema::<crate::wire::Page<crate::deliveries::records::WebhookDelivery<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Admin);
/// `POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry`
pub const RETRY_WEBHOOK_DELIVERY: Endpoint = org_api(
    "retry-webhook-delivery",
    (
        "POST",
        "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
    ),
    "webhook_endpoints.deliveries",
    op!(api::webhooks::retry),
    Docs::new(
        "Attempt a delivery again now",
        (
            202,
            "The delivery, pending again.",
            Some(schema::<crate::deliveries::records::WebhookDelivery<'static>>),
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.needing(Scope::Admin);
