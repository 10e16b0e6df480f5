//! One attempt of one delivery.

use super::records::{self, Attempt, DeliveryRecord, DeliveryStatus, Outcome};
use super::{DISABLE_AFTER_SECONDS, Deliverer, Job, SCHEDULE};
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::organizations::org_pk;
use crate::store::{self, StoreError};
use crate::webhooks::endpoints::{self, EndpointRecord, Status, endpoint_sk};
use std::time::{Duration, Instant};

/// Attempts `job` (received as message `message`): `Ok(None)` when the
/// message needs nothing more (delivered, given up, or another message owns
/// the delivery), `Ok(Some(wait))` to be received again after `wait`.
pub async fn attempt(
    deliverer: &Deliverer,
    job: &Job,
    message: &str,
) -> Result<Option<Duration>, ApiError> {
    let store = &deliverer.store;
    let now = deliverer.clock.now();
    let mut keys = vec![
        (org_pk(job.org), endpoint_sk(job.endpoint)),
        (
            records::log_pk(job.org, job.endpoint),
            records::delivery_sk(job.delivery),
        ),
    ];
    if let Some(seq) = job.seq {
        keys.push(crate::events::log::event_key(job.org, seq));
    }
    let mut found = store::get_items(store, &keys).await?.into_iter();
    let (endpoint, delivery, event) = (
        found.next().flatten(),
        found.next().flatten(),
        found.next().flatten(),
    );
    let Some(endpoint) = endpoint
        .map(store::from_item::<EndpointRecord>)
        .transpose()?
    else {
        return Ok(None); // deleted: nothing to deliver to
    };
    let before = delivery
        .map(store::from_item::<DeliveryRecord>)
        .transpose()?;
    if let Some(d) = &before
        && (d.status != DeliveryStatus::Pending || d.owner.as_deref().is_some_and(|o| o != message))
    {
        return Ok(None); // finished, or attempted by another message
    }
    let (body, event_id, event_type) = match (&before, &event) {
        (
            Some(DeliveryRecord {
                body: Some(body),
                event_id,
                event_type,
                ..
            }),
            _,
        ) => (body.clone(), event_id.clone(), event_type.clone()),
        (_, Some(item)) => {
            let (Some(body), Some(kind)) =
                (store::get_s(item, "event_json"), store::get_s(item, "type"))
            else {
                return Err(ApiError::internal("an event log item without its event"));
            };
            let id = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                .ok_or_else(|| ApiError::internal("an event without an id"))?;
            (body.to_owned(), id, kind.to_owned())
        }
        _ => return Ok(None), // the event expired (30 days)
    };
    let mut fresh = DeliveryRecord::new(
        job.org,
        job.endpoint,
        job.delivery,
        event_id,
        event_type,
        now,
    );
    fresh.seq = job.seq;
    let fresh = before.clone().unwrap_or(fresh);

    let started = Instant::now();
    let result = if endpoint.status == Status::Disabled && !job.manual {
        Err("endpoint_disabled".to_owned())
    } else {
        send(
            deliverer,
            &endpoint,
            &fresh.event_id,
            &body,
            now.unix_timestamp(),
        )
        .await
    };
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status_code, error) = match &result {
        Ok(code) => (Some(*code), None),
        Err(reason) => (None, Some(reason.clone())),
    };
    let delivered = status_code.is_some_and(|c| (200..300).contains(&c));
    let disabled = health(deliverer, &endpoint, delivered, now).await?;

    let attempts = before.as_ref().map_or(0, |d| d.attempts.len()) + 1;
    let wait = (!delivered && !disabled && endpoint.status == Status::Enabled)
        .then(|| SCHEDULE.get(attempts - 1).copied())
        .flatten();
    let status = match (delivered, wait) {
        (true, _) => DeliveryStatus::Succeeded,
        (false, Some(_)) => DeliveryStatus::Pending,
        (false, None) => DeliveryStatus::Failed,
    };
    let next_attempt_at = wait.map(|w| {
        Timestamp::from(now + time::Duration::seconds(i64::try_from(w.as_secs()).unwrap_or(0)))
    });
    let recorded = records::record(
        store,
        Outcome {
            before: before.as_ref(),
            fresh: &fresh,
            attempt: Attempt {
                attempted_at: Timestamp::from(now),
                status_code,
                error,
                duration_ms: elapsed,
            },
            status,
            next_attempt_at,
            owner: message,
            now: now.unix_timestamp(),
        },
    )
    .await?;
    Ok(if recorded { wait } else { None })
}

/// POSTs the event; the receiver's status, or why there was none.
async fn send(
    deliverer: &Deliverer,
    endpoint: &EndpointRecord,
    event_id: &str,
    body: &str,
    now: i64,
) -> Result<u16, String> {
    let secrets = endpoint
        .signing_secrets(&deliverer.key, now)
        .map_err(|_| "secret_unavailable".to_owned())?;
    let signers: Vec<_> = secrets.iter().collect();
    let headers = crate::webhooks::headers(&signers, event_id, now, body.as_bytes());
    let url = deliverer
        .outbound
        .policy()
        .parse(&endpoint.url)
        .map_err(|_| "url_not_allowed".to_owned())?;
    deliverer
        .outbound
        .post_json(&url, &headers, body.as_bytes())
        .await
        .map_err(|e| e.reason().to_owned())
}

/// Keeps the endpoint's failure state; `true` when this failure disabled it.
async fn health(
    deliverer: &Deliverer,
    endpoint: &EndpointRecord,
    delivered: bool,
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    let (store, org, id) = (&deliverer.store, endpoint.organization_id, endpoint.id);
    match (delivered, endpoint.failing_since) {
        (true, Some(_)) => endpoints::mark_recovered(store, org, id)
            .await
            .map(|()| false),
        (true, None) => Ok(false),
        (false, _) if endpoint.status != Status::Enabled => Ok(false),
        (false, None) => endpoints::mark_failing(store, org, id, now.unix_timestamp())
            .await
            .map(|()| false),
        (false, Some(since)) if now.unix_timestamp() - since >= DISABLE_AFTER_SECONDS => {
            endpoints::disable(store, org, id, since, now).await
        }
        (false, Some(_)) => Ok(false),
    }
}
