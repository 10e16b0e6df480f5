//! Webhook endpoints of the organization (SPEC §15), admin scope.

use crate::deliveries::Job;
use crate::deliveries::records::{self, DeliveryRecord};
use crate::error::ApiError;
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::outbound::Outbound;
use crate::pipeline::query::encode_cursor;
use crate::pipeline::{Json, NoBody, NoFields, OrgCtx, OrgSettings, Reply};
use crate::queue::DeliveryQueue;
use crate::sealed::Keyring;
use crate::webhooks::endpoints::{
    self, CreateEndpoint, EndpointRecord, UpdateEndpoint, WithSecret,
};
use crate::wire::Page;
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;
use std::sync::Arc;

const RESOURCE: &str = "webhook_endpoint";
const CURSOR_TAG: &str = "w1:";

/// Checks a URL the caller gave, resolving its host (SPEC §16).
async fn checked_url(outbound: &Outbound, url: &str) -> Result<(), ApiError> {
    let policy = outbound.policy();
    let invalid = |refused: crate::outbound::UrlRefused| ApiError::InvalidUrl {
        field: "url",
        problem: refused.to_string(),
    };
    let parsed = policy.parse(url).map_err(invalid)?;
    policy.resolve(&parsed).await.map_err(invalid)
}

fn with_secret(
    status: StatusCode,
    record: &EndpointRecord,
    secret: String,
) -> Result<Reply, ApiError> {
    Reply::json(
        status,
        &WithSecret {
            endpoint: record.view(),
            secret,
        },
    )?
    .header(CACHE_CONTROL, "no-store")
}

/// `POST /v1/webhook-endpoints` → 201 with the secret, once.
pub async fn create(
    ctx: OrgCtx,
    body: Json<CreateEndpoint>,
    (outbound, keyring): (Arc<Outbound>, Arc<Keyring>),
) -> Result<Reply, ApiError> {
    let (record, secret) = add(&ctx, body.value, &outbound, &keyring).await?;
    with_secret(StatusCode::CREATED, &record, secret)
}

/// Adds an endpoint under the organization's cap, its URL checked (also
/// the admin portal's): the record and its signing secret, shown once.
pub async fn add(
    ctx: &impl OrgSettings,
    input: CreateEndpoint,
    outbound: &Outbound,
    keyring: &Keyring,
) -> Result<(EndpointRecord, String), ApiError> {
    checked_url(outbound, &input.url).await?;
    let (record, secret) = EndpointRecord::new(ctx.org(), input, keyring, ctx.app.clock.now())?;
    if !endpoints::put_new(&ctx.app.store, ctx.organization(), &record).await? {
        return Err(crate::caps::Capped::WebhookEndpoints.reached(ctx.organization()));
    }
    Ok((record, secret.expose()))
}

/// `GET /v1/webhook-endpoints` → `{data, next_cursor}`.
pub async fn list(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(CURSOR_TAG, WebhookEndpointId::parse)?;
    let (records, more) = endpoints::list(&ctx.app.store, ctx.org, after, limit).await?;
    let next_cursor = more
        .then(|| records.last().map(|r| encode_cursor(CURSOR_TAG, r.id)))
        .flatten();
    let data = records.iter().map(EndpointRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `GET /v1/webhook-endpoints/{id}`.
pub async fn get(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    let record = endpoints::get(&ctx.app.store, ctx.org, id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(record.organization_id, RESOURCE)?;
    Reply::json(StatusCode::OK, &record.view())
}

/// `PATCH /v1/webhook-endpoints/{id}`: url, event types, description,
/// `status: "enabled"` to re-enable.
pub async fn update(
    ctx: OrgCtx,
    body: Json<UpdateEndpoint>,
    outbound: Arc<Outbound>,
) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    if let Some(url) = &body.value.url {
        checked_url(&outbound, url).await?;
    }
    let record = endpoints::update(
        &ctx.app.store,
        ctx.org,
        id,
        &body.value,
        ctx.app.clock.now(),
    )
    .await?
    .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(record.organization_id, RESOURCE)?;
    Reply::json(StatusCode::OK, &record.view())
}

/// `DELETE /v1/webhook-endpoints/{id}` → 204.
pub async fn delete(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    if !endpoints::delete(&ctx.app.store, ctx.org, id).await? {
        return Err(ApiError::NotFound { resource: RESOURCE });
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST /v1/webhook-endpoints/{id}/roll-secret` → 200 with the new secret;
/// the old one keeps signing beside it for 24 h.
pub async fn roll_secret(
    ctx: OrgCtx,
    _: Json<NoFields>,
    keyring: Arc<Keyring>,
) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    let (updated, secret) = roll(&ctx, id, &keyring).await?;
    with_secret(StatusCode::OK, &updated, secret)
}

/// Rolls endpoint `id`'s secret (also the admin portal's): the endpoint
/// and its new secret, shown once; the old one signs beside it for 24 h.
pub async fn roll(
    ctx: &impl OrgSettings,
    id: WebhookEndpointId,
    keyring: &Keyring,
) -> Result<(EndpointRecord, String), ApiError> {
    let (store, now) = (&ctx.app.store, ctx.app.clock.now());
    // Two rolls at once: the later one rolls what the first one made.
    for _ in 0..3 {
        let current = found(ctx, id).await?;
        if let Some(secret) = endpoints::roll_secret(store, &current, keyring, now).await? {
            let updated = found(ctx, id).await?;
            return Ok((updated, secret.expose()));
        }
    }
    Err(ApiError::ServiceUnavailable(
        "the secret kept changing".into(),
    ))
}

/// The organization's endpoint `id`, or 404 (another organization's too).
pub async fn found(
    ctx: &impl OrgSettings,
    id: WebhookEndpointId,
) -> Result<EndpointRecord, ApiError> {
    let record = endpoints::get(&ctx.app.store, ctx.org(), id)
        .await?
        .ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(record.organization_id, RESOURCE)?;
    Ok(record)
}

/// Sends a delivery now: its message on the queue, marked as a person's.
async fn enqueue(
    ctx: &impl OrgSettings,
    queue: &DeliveryQueue,
    record: &DeliveryRecord,
) -> Result<(), ApiError> {
    let job = Job {
        org: ctx.org(),
        endpoint: record.endpoint_id,
        delivery: record.id,
        seq: record.seq,
        manual: true,
    };
    queue
        .send(&[job.body()])
        .await
        .map_err(|e| ApiError::ServiceUnavailable(Box::new(e)))
}

/// `POST /v1/webhook-endpoints/{id}/test` → 202: a `ping` event is
/// delivered to the endpoint (whatever its event types, even disabled) and
/// shows in its delivery log.
pub async fn test(ctx: OrgCtx, _: Json<NoFields>, queue: DeliveryQueue) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    let record = ping(&ctx, id, &queue).await?;
    Reply::json(StatusCode::ACCEPTED, &record.view())
}

/// Sends endpoint `id` a `ping` event now (also the admin portal's): the
/// delivery, which shows in the endpoint's log.
pub async fn ping(
    ctx: &impl OrgSettings,
    id: WebhookEndpointId,
    queue: &DeliveryQueue,
) -> Result<DeliveryRecord, ApiError> {
    let endpoint = found(ctx, id).await?;
    let org = ctx.org();
    let now = ctx.app.clock.now();
    // Like an event's id (`evt_` + 32 hex digits), from a fresh UUID v7.
    let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let actor = crate::store::actor::current().unwrap_or_else(crate::store::actor::Actor::system);
    let body = serde_json::json!({
        "id": event_id,
        "type": "ping",
        "organization_id": org,
        "created_at": crate::clock::Timestamp::from(now),
        "actor": {"type": actor.kind, "id": (!actor.id.is_empty()).then_some(&actor.id)},
        "data": {"object": endpoint.view()},
    });
    let mut record = DeliveryRecord::new(
        org,
        id,
        WebhookDeliveryId::generate(),
        event_id,
        "ping".to_owned(),
        now,
    );
    record.body = Some(body.to_string());
    records::put_new(&ctx.app.store, &record, now).await?;
    enqueue(ctx, queue, &record).await?;
    Ok(record)
}

/// `GET /v1/webhook-endpoints/{id}/deliveries` → the endpoint's deliveries,
/// newest first, with every attempt.
pub async fn deliveries(ctx: OrgCtx, _: NoBody) -> Result<Reply, ApiError> {
    const TAG: &str = "d1:";
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    ctx.query.only(&["limit", "cursor"])?;
    let limit = ctx.query.page_limit()?;
    let after = ctx.query.cursor(TAG, WebhookDeliveryId::parse)?;
    let store = &ctx.app.store;
    // The endpoint's existence (another organization's is a 404) and the
    // page, side by side.
    let (endpoint, page) = futures_util::future::join(
        endpoints::get(store, ctx.org, id),
        records::list(store, ctx.org, id, after, limit),
    )
    .await;
    let endpoint = endpoint?.ok_or(ApiError::NotFound { resource: RESOURCE })?;
    ctx.check_stored_in(endpoint.organization_id, RESOURCE)?;
    let (records, more) = page?;
    let next_cursor = more
        .then(|| records.last().map(|r| encode_cursor(TAG, r.id)))
        .flatten();
    let data = records.iter().map(DeliveryRecord::view).collect();
    Reply::json(StatusCode::OK, &Page { data, next_cursor })
}

/// `POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry` → 202:
/// one more attempt now (a failed delivery's schedule is not restarted).
pub async fn retry(
    ctx: OrgCtx,
    _: Json<NoFields>,
    queue: DeliveryQueue,
) -> Result<Reply, ApiError> {
    let id = ctx.path_id("id", WebhookEndpointId::parse)?;
    let delivery = ctx.path_id("delivery_id", WebhookDeliveryId::parse)?;
    let record = again(&ctx, id, delivery, &queue).await?;
    Reply::json(StatusCode::ACCEPTED, &record.view())
}

/// One more attempt of delivery `delivery` of endpoint `id` now (also the
/// admin portal's).
pub async fn again(
    ctx: &impl OrgSettings,
    id: WebhookEndpointId,
    delivery: WebhookDeliveryId,
    queue: &DeliveryQueue,
) -> Result<DeliveryRecord, ApiError> {
    let now = ctx.app.clock.now();
    let record = records::reopen(&ctx.app.store, ctx.org(), id, delivery, now)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "webhook_delivery",
        })?;
    enqueue(ctx, queue, &record).await?;
    Ok(record)
}
