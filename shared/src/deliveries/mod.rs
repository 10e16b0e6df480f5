//! Webhook deliveries (SPEC §15).
//!
//! 1. **Fan-out** ([`fan_out`]): `publish-events` also follows the inserts
//!    of the event log; for each new event it sends one queue message per
//!    enabled endpoint that wants its type — no table write, and a
//!    redelivered stream record names the same deliveries again (their ids
//!    are derived from the event and the endpoint).
//! 2. **Attempts** ([`attempt`]): `deliver-webhooks` (SQS) POSTs the event —
//!    read from the log at each attempt, so a purge's redaction reaches
//!    queued deliveries — signed per Standard Webhooks with the same
//!    `webhook-id` every time, records the attempt in the delivery log, and
//!    on failure hides its message for the next step of [`SCHEDULE`].
//! 3. **Health**: the first failure marks the endpoint failing, a success
//!    clears it, and a failure five days after the first disables it
//!    (`webhook_endpoint.disabled`, by the system).

pub mod attempt;
pub mod records;

use crate::clock::Clock;
use crate::ids::{OrganizationId, WebhookDeliveryId, WebhookEndpointId};
use crate::queue::{DeliveryQueue, Received};
use crate::store::{self, Store};
use crate::stream::StreamChange;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The waits between attempts (SPEC §15): eight attempts over 27.6 hours.
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
    Duration::from_secs(5 * 60 * 60),
    Duration::from_secs(10 * 60 * 60),
    Duration::from_secs(10 * 60 * 60),
];
/// How long an endpoint may fail before it is disabled.
pub const DISABLE_AFTER_SECONDS: i64 = 5 * 24 * 60 * 60;

/// A queue message: one delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The organization.
    #[serde(rename = "o")]
    pub org: OrganizationId,
    /// The endpoint.
    #[serde(rename = "e")]
    pub endpoint: WebhookEndpointId,
    /// The delivery.
    #[serde(rename = "d")]
    pub delivery: WebhookDeliveryId,
    /// The event's place in the log (absent for a ping, whose body is on
    /// its delivery item).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Sent by a person (a ping or a manual retry): attempted even if the
    /// endpoint is disabled.
    #[serde(rename = "m", default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

impl Job {
    /// The message body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a worker needs: built once per cold start.
#[derive(Debug)]
pub struct Deliverer {
    /// The table.
    pub store: Store,
    /// The keys the endpoints' secrets are sealed with.
    pub key: crate::sealed::Keyring,
    /// The guarded client (SPEC §16), 10 s, no redirects.
    pub outbound: crate::outbound::Outbound,
    /// The queue (to back a message off).
    pub queue: DeliveryQueue,
    /// The clock (injected in tests).
    pub clock: Arc<dyn Clock>,
}

/// A logged event as the fan-out needs it: `(seq, created epoch, id, type)`.
type Logged = (u64, i64, String, String);

/// An event log insert of a stream batch: its organization and [`Logged`].
fn logged_event(change: &StreamChange) -> Option<(OrganizationId, Logged)> {
    if change.old_image.is_some() {
        return None;
    }
    let item = change.new_image.as_ref()?;
    let pk = store::get_s(item, store::PK)?;
    let org = OrganizationId::parse(pk.strip_prefix("EVENTS#")?).ok()?;
    store::get_s(item, store::SK)?.strip_prefix("SEQ#")?;
    logged(item).map(|logged| (org, logged))
}

/// The fan-out's view of an event log item.
fn logged(item: &store::Item) -> Option<Logged> {
    let seq = store::get_n(item, "seq")?;
    let created = store::get_n(item, "created_epoch")?;
    let event: serde_json::Value = serde_json::from_str(store::get_s(item, "event_json")?).ok()?;
    let id = event["id"].as_str()?.to_owned();
    let kind = store::get_s(item, "type")?.to_owned();
    Some((seq, created, id, kind))
}

/// A queue message that redoes one organization's fan-out of some logged
/// events: what a fan-out that failed for that organization leaves behind,
/// so its failure is retried for it alone (SPEC §15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOutRetry {
    /// The organization.
    #[serde(rename = "fo")]
    pub org: OrganizationId,
    /// The events' places in its log.
    #[serde(rename = "seqs")]
    pub seqs: Vec<u64>,
}

/// The jobs of `events` for `org`'s enabled endpoints that want their type.
async fn jobs_for(
    store: &Store,
    org: OrganizationId,
    events: &[&Logged],
) -> Result<Vec<String>, FanOutError> {
    use crate::webhooks::endpoints::{self, Status};
    let subscribed = endpoints::all(store, org).await?;
    let mut jobs = Vec::new();
    for (seq, created, id, kind) in events {
        for endpoint in subscribed
            .iter()
            .filter(|e| e.status == Status::Enabled && endpoints::wants(&e.event_types, kind))
        {
            let seed = format!("{id}#{}", endpoint.id);
            let millis = u64::try_from(*created).unwrap_or(0).saturating_mul(1000);
            jobs.push(
                Job {
                    org,
                    endpoint: endpoint.id,
                    delivery: WebhookDeliveryId::derived(millis, seed.as_bytes()),
                    seq: Some(*seq),
                    manual: false,
                }
                .body(),
            );
        }
    }
    Ok(jobs)
}

/// Sends a job for every new event of `changes` to every enabled endpoint
/// of its organization that wants its type: one query per organization per
/// batch; no table write. Organizations are fanned out one by one, and one
/// that fails (its endpoints unreadable, its jobs refused) is left a
/// [`FanOutRetry`] on the queue and retried alone — the others' deliveries
/// go out, and the stream batch is not re-driven for it. Only a queue that
/// takes not even that message fails the batch.
pub async fn fan_out(
    store: &Store,
    queue: &DeliveryQueue,
    changes: &[StreamChange],
) -> Result<usize, FanOutError> {
    let events: Vec<_> = changes.iter().filter_map(logged_event).collect();
    let mut orgs: Vec<OrganizationId> = Vec::new();
    for (org, _) in &events {
        if !orgs.contains(org) {
            orgs.push(*org);
        }
    }
    let mut sent = 0;
    for org in orgs {
        let mine: Vec<&Logged> = events
            .iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, e)| e)
            .collect();
        match fan_out_one(store, queue, org, &mine).await {
            Ok(n) => sent += n,
            Err(err) => {
                tracing::warn!(
                    organization_id = %org,
                    error = %err,
                    "an organization's fan-out failed; it is retried for that organization alone"
                );
                let retry = FanOutRetry {
                    org,
                    seqs: mine.iter().map(|(seq, ..)| *seq).collect(),
                };
                queue.send(&[retry.body()]).await?;
            }
        }
    }
    Ok(sent)
}

async fn fan_out_one(
    store: &Store,
    queue: &DeliveryQueue,
    org: OrganizationId,
    events: &[&Logged],
) -> Result<usize, FanOutError> {
    let jobs = jobs_for(store, org, events).await?;
    queue.send(&jobs).await?;
    Ok(jobs.len())
}

impl FanOutRetry {
    /// The message body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Redoes the fan-out from the log (the events still there; those TTL
    /// removed are past delivering). The jobs' ids are those the first
    /// fan-out would have made, so a job sent twice is delivered once.
    pub async fn run(&self, store: &Store, queue: &DeliveryQueue) -> Result<usize, FanOutError> {
        let keys: Vec<store::Key> = self
            .seqs
            .iter()
            .map(|seq| crate::events::log::event_key(self.org, *seq))
            .collect();
        let mut events = Vec::new();
        for chunk in keys.chunks(100) {
            for item in store::get_items(store, chunk).await?.into_iter().flatten() {
                events.extend(logged(&item));
            }
        }
        let events: Vec<&Logged> = events.iter().collect();
        fan_out_one(store, queue, self.org, &events).await
    }
}

/// Why a fan-out failed (the stream batch is retried).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FanOutError {
    /// Reading the endpoints failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Sending the jobs failed.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// Handles received messages; returns the ids of those to receive again
/// (already hidden for their backoff). What succeeded, or needs nothing
/// more, is for the caller to delete (Lambda does it in AWS).
pub async fn process(deliverer: &Deliverer, messages: &[Received]) -> Vec<String> {
    let outcomes = futures_util::future::join_all(messages.iter().map(|message| async move {
        if let Ok(retry) = serde_json::from_str::<FanOutRetry>(&message.body) {
            return match retry.run(&deliverer.store, &deliverer.queue).await {
                Ok(_) => None,
                Err(err) => {
                    // Backed off as a delivery is, for this organization alone.
                    let step = (message.receive_count.max(1) as usize - 1).min(SCHEDULE.len() - 1);
                    tracing::warn!(organization_id = %retry.org, error = %err, "an organization's fan-out failed again");
                    if let Err(err) = deliverer.queue.retry_in(&message.receipt, SCHEDULE[step]).await {
                        tracing::warn!(error = %err, "backing a fan-out off failed; SQS shows it again after its visibility timeout");
                    }
                    Some(message.id.clone())
                }
            };
        }
        let Ok(job) = serde_json::from_str::<Job>(&message.body) else {
            tracing::error!(message = %message.id, "an unreadable delivery message was dropped");
            return None;
        };
        match attempt::attempt(deliverer, &job, &message.id).await {
            Ok(None) => None,
            Ok(Some(delay)) => {
                if let Err(err) = deliverer.queue.retry_in(&message.receipt, delay).await {
                    tracing::warn!(error = %err, "backing a delivery off failed; SQS shows it again after its visibility timeout");
                }
                Some(message.id.clone())
            }
            Err(err) => {
                tracing::error!(error = %err, delivery = %job.delivery, "a delivery attempt failed before it was recorded; it is received again");
                Some(message.id.clone())
            }
        }
    }))
    .await;
    outcomes.into_iter().flatten().collect()
}

/// The Lambda entry point of `deliver-webhooks`: SQS batches with partial
/// batch failures (the failed messages are already hidden for their backoff).
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
    crate::logging::init();
    let deliverer = Deliverer::from_env().await?;
    let deliverer = &deliverer;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            let messages: Vec<Received> = event
                .payload
                .records
                .into_iter()
                .filter_map(|m| {
                    let count = m.attributes.get("ApproximateReceiveCount");
                    Received::of(m.message_id, m.receipt_handle, m.body, count)
                })
                .collect();
            let failed = process(deliverer, &messages).await;
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failed
                .into_iter()
                .map(|id| {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    failure
                })
                .collect();
            Ok::<_, std::convert::Infallible>(response)
        },
    ))
    .await
}

impl Deliverer {
    /// The worker's state from the environment (the table, the webhook key,
    /// the queue).
    pub async fn from_env() -> Result<Self, crate::app::StartupError> {
        let mut config = crate::config::Config::from_env()?;
        let sdk = Store::lambda_sdk_config(&config).await;
        crate::app::load_own_hostnames(&sdk, &mut config, &crate::tokens::env_var).await?;
        let store = Store::from_sdk(&sdk, &config);
        let key = crate::webhooks::load_key(&sdk).await?;
        let queue = DeliveryQueue::from_env(&sdk).ok_or(crate::app::StartupError::NoQueue)?;
        Ok(Self {
            store,
            key,
            outbound: crate::outbound::Outbound::for_webhooks(config.outbound.clone()),
            queue,
            clock: Arc::new(crate::clock::SystemClock),
        })
    }

    /// The local stand-in for the SQS trigger (`make dev`): receives, hands
    /// each batch to [`process`], deletes what needs nothing more.
    pub async fn run_local(&self) -> Result<(), crate::queue::QueueError> {
        loop {
            let messages = self.queue.receive(Duration::from_secs(1)).await?;
            let again = process(self, &messages).await;
            for message in messages.iter().filter(|m| !again.contains(&m.id)) {
                self.queue.delete(&message.receipt).await?;
            }
        }
    }
}
