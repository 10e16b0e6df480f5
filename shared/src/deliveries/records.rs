//! The delivery log: one item per delivery of an event to an endpoint,
//! `PK = WHD#<org>#<endpoint>`, `SK = D#<delivery id>` (time-ordered, so the
//! log reads newest first). Outside the `ORG#` partition on purpose: the
//! stream's filter sends `publish-events` nothing for a delivery's writes.
//! Kept 30 days, like the events.

use crate::clock::Timestamp;
use crate::ids::{OrganizationId, WebhookDeliveryId, WebhookEndpointId};
use crate::store::{self, Store, StoreError, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const SK_PREFIX: &str = "D#";
/// How long a delivery stays in the log.
pub const RETENTION_SECONDS: i64 = crate::events::RETENTION_SECONDS;

/// The log's partition of an endpoint.
pub fn log_pk(org: OrganizationId, endpoint: WebhookEndpointId) -> String {
    format!("WHD#{org}#{endpoint}")
}

/// A delivery's sort key.
pub fn delivery_sk(id: WebhookDeliveryId) -> String {
    format!("{SK_PREFIX}{id}")
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "WebhookDeliveryStatus")]
#[allow(missing_docs, reason = "the enum's documentation names each state")]
pub enum DeliveryStatus {
    /// Not delivered yet; `next_attempt_at` says when it is tried again.
    Pending,
    /// A 2xx answered.
    Succeeded,
    /// Every attempt failed (or the endpoint was disabled).
    Failed,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WebhookDeliveryAttempt")]
pub struct Attempt {
    /// When it was sent.
    pub attempted_at: Timestamp,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed without an answer (`timeout`, `connection_failed`,
    /// `url_not_allowed`, `endpoint_disabled`), else null.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// A delivery as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The delivery's id.
    pub id: WebhookDeliveryId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// The event's id: the `webhook-id` of every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's place in the organization's log (read at each attempt,
    /// so a purge's redaction reaches queued deliveries); `None` for a ping.
    pub seq: Option<u64>,
    /// A ping's body (it is in no log and carries no personal data).
    pub body: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// The queue message that attempts it (a duplicate message, from a
    /// redelivered stream batch, finds another owner and stops).
    pub owner: Option<String>,
    /// When the event was sent to the endpoint.
    pub created_at: Timestamp,
}

impl store::Record for DeliveryRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// The delivery object of `GET …/deliveries`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WebhookDelivery")]
pub struct WebhookDelivery<'a> {
    /// The delivery's id.
    pub id: WebhookDeliveryId,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The event delivered (its `webhook-id`).
    pub event_id: &'a str,
    /// The event's type (`ping` for a test).
    pub event_type: &'a str,
    /// `pending`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: &'a [Attempt],
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl DeliveryRecord {
    /// A delivery not attempted yet.
    pub fn new(
        org: OrganizationId,
        endpoint: WebhookEndpointId,
        id: WebhookDeliveryId,
        event_id: String,
        event_type: String,
        now: time::OffsetDateTime,
    ) -> Self {
        let stamp = Timestamp::from(now);
        Self {
            key: store::ItemKey::new(log_pk(org, endpoint), delivery_sk(id)),
            id,
            endpoint_id: endpoint,
            organization_id: org,
            event_id,
            event_type,
            seq: None,
            body: None,
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(stamp),
            owner: None,
            created_at: stamp,
        }
    }

    /// The public object.
    pub fn view(&self) -> WebhookDelivery<'_> {
        WebhookDelivery {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: &self.event_id,
            event_type: &self.event_type,
            status: self.status,
            attempts: &self.attempts,
            next_attempt_at: self.next_attempt_at,
            created_at: self.created_at,
        }
    }

    /// Its key.
    pub fn key(&self) -> store::Key {
        (self.key.pk.clone(), self.key.sk.clone())
    }
}

/// Writes a new delivery (a ping) with its expiry.
pub async fn put_new(
    store: &Store,
    record: &DeliveryRecord,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let mut item = store::to_item(record)?;
    item.insert(
        TTL_ATTRIBUTE.to_owned(),
        store::n(now.unix_timestamp().saturating_add(RETENTION_SECONDS)),
    );
    store
        .put_item(item)
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await?;
    Ok(())
}

/// Reads one delivery of an endpoint.
pub async fn get(
    store: &Store,
    org: OrganizationId,
    endpoint: WebhookEndpointId,
    id: WebhookDeliveryId,
) -> Result<Option<DeliveryRecord>, StoreError> {
    store::get_record(store, &(log_pk(org, endpoint), delivery_sk(id)), true).await
}

/// A page of an endpoint's deliveries, newest first.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    endpoint: WebhookEndpointId,
    after: Option<WebhookDeliveryId>,
    limit: usize,
) -> Result<(Vec<DeliveryRecord>, bool), StoreError> {
    let partition = log_pk(org, endpoint);
    let newest_first = store::Order::NewestFirst;
    let after = after.map(delivery_sk);
    store::query_page_in(store, (&partition, SK_PREFIX), after, limit, newest_first).await
}

/// A manual retry: the delivery is pending again, due now, and owned by
/// whichever message attempts it next. `None` when there is no such delivery.
pub async fn reopen(
    store: &Store,
    org: OrganizationId,
    endpoint: WebhookEndpointId,
    id: WebhookDeliveryId,
    now: time::OffsetDateTime,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let written = store
        .update_item((log_pk(org, endpoint), delivery_sk(id)))
        .update_expression("SET #status = :pending, next_attempt_at = :now REMOVE #owner")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":pending", store::s("pending"))
        .expression_attribute_values(":now", store::timestamp(now))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(StoreError::from);
    StoreError::updated_record(written)
}

/// What an attempt changes.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The delivery as the attempt read it (`None`: first attempt, no item yet).
    pub before: Option<&'a DeliveryRecord>,
    /// The delivery's identity, written if the item is new.
    pub fresh: &'a DeliveryRecord,
    /// The attempt.
    pub attempt: Attempt,
    /// Where the delivery stands after it.
    pub status: DeliveryStatus,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Timestamp>,
    /// The message that made it.
    pub owner: &'a str,
    /// Epoch seconds, for the expiry of a new item.
    pub now: i64,
}

/// Records an attempt — conditioned on the delivery being as the attempt
/// read it (same number of attempts, no other owner, still pending), so two
/// messages for one delivery never both record. `false` if another did.
pub async fn record(store: &Store, outcome: Outcome<'_>) -> Result<bool, StoreError> {
    let attempt: AttributeValue = serde_dynamo::to_attribute_value(&outcome.attempt)
        .map_err(|source| StoreError::Corrupt { source })?;
    let fresh = outcome.fresh;
    let mut values: HashMap<String, AttributeValue> = HashMap::from([
        (":status".into(), store::s(status_name(outcome.status))),
        (":attempt".into(), AttributeValue::L(vec![attempt])),
        (":empty".into(), AttributeValue::L(Vec::new())),
        (":me".into(), store::s(outcome.owner)),
        (":id".into(), store::s(fresh.id.to_string())),
        (":endpoint".into(), store::s(fresh.endpoint_id.to_string())),
        (":org".into(), store::s(fresh.organization_id.to_string())),
        (":event".into(), store::s(&fresh.event_id)),
        (":type".into(), store::s(&fresh.event_type)),
        (":created".into(), store::timestamp(fresh.created_at)),
        (
            ":expires".into(),
            store::n(outcome.now.saturating_add(RETENTION_SECONDS)),
        ),
    ]);
    let mut set = vec![
        "#status = :status",
        "attempts = list_append(if_not_exists(attempts, :empty), :attempt)",
        "#owner = :me",
        "#id = if_not_exists(#id, :id)",
        "endpoint_id = if_not_exists(endpoint_id, :endpoint)",
        "organization_id = if_not_exists(organization_id, :org)",
        "event_id = if_not_exists(event_id, :event)",
        "event_type = if_not_exists(event_type, :type)",
        "created_at = if_not_exists(created_at, :created)",
        "expires_at_epoch = if_not_exists(expires_at_epoch, :expires)",
    ];
    if let Some(seq) = fresh.seq {
        set.push("seq = if_not_exists(seq, :seq)");
        values.insert(":seq".into(), store::n(seq));
    }
    let mut expression = format!("SET {}", set.join(", "));
    match outcome.next_attempt_at {
        Some(next) => {
            expression.push_str(", next_attempt_at = :next");
            values.insert(":next".into(), store::timestamp(next));
        }
        None => expression.push_str(" REMOVE next_attempt_at"),
    }
    let condition = match outcome.before {
        None => "attribute_not_exists(PK)".to_owned(),
        Some(before) => {
            values.insert(":count".into(), store::n(before.attempts.len()));
            values.insert(":pending".into(), store::s("pending"));
            "#status = :pending AND (attribute_not_exists(#owner) OR #owner = :me) \
             AND size(attempts) = :count"
                .to_owned()
        }
    };
    let written = store
        .update_item((&fresh.key.pk, &fresh.key.sk))
        .update_expression(expression)
        .condition_expression(condition)
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_names("#id", "id")
        .set_expression_attribute_values(Some(values))
        .send()
        .await;
    StoreError::applied(written)
}

fn status_name(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Failed => "failed",
    }
}
