//! The delivery queue (SPEC §15): an SQS queue that carries one message per
//! webhook delivery and backs a failed attempt off by hiding its message
//! (message visibility, at most 12 h a step) — no function ever sleeps.
//! In AWS Lambda's event source mapping receives and deletes; locally the
//! worker does ([`DeliveryQueue::receive`], [`DeliveryQueue::delete`]) against
//! moto's SQS.

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use std::time::Duration;

/// The SQS client.
pub use aws_sdk_sqs::Client as SqsClient;

/// The environment variable naming the queue's URL.
pub const URL_VARIABLE: &str = "TETHER_DELIVERY_QUEUE_URL";
/// SQS's longest visibility timeout, the longest a backoff step may be.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Messages per `SendMessageBatch`.
const BATCH: usize = 10;

/// An SQS call failed.
#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} failed")]
#[non_exhaustive]
pub struct QueueError {
    /// The API operation.
    pub operation: &'static str,
    /// The SDK's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed(operation: &'static str) -> impl Fn(aws_sdk_sqs::Error) -> QueueError {
    move |e| QueueError {
        operation,
        source: Box::new(e),
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// SQS's id of the message (the same on every receive).
    pub id: String,
    /// The handle of this receive (to delete it or change its visibility).
    pub receipt: String,
    /// The body.
    pub body: String,
    /// How many times it was received, this time included (SQS's
    /// `ApproximateReceiveCount`; 1 when not told).
    pub receive_count: u32,
}

impl Received {
    /// A message as an SQS answer or event has it: `None` without its id,
    /// receipt handle or body; its receive count parsed (1 when not told).
    pub fn of(
        id: Option<String>,
        receipt: Option<String>,
        body: Option<String>,
        receive_count: Option<&String>,
    ) -> Option<Self> {
        Some(Self {
            id: id?,
            receipt: receipt?,
            body: body?,
            receive_count: receive_count.and_then(|n| n.parse().ok()).unwrap_or(1),
        })
    }
}

/// The queue and a client for it.
#[derive(Debug, Clone)]
pub struct DeliveryQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl DeliveryQueue {
    /// The queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// The queue named by [`URL_VARIABLE`], if set.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Option<Self> {
        let url = std::env::var(URL_VARIABLE).ok().filter(|u| !u.is_empty())?;
        Some(Self::new(aws_sdk_sqs::Client::new(sdk), url))
    }

    /// Creates the queue `name` if it does not exist (local stacks and
    /// tests; the SAM template creates it in AWS) and returns it.
    pub async fn create(client: aws_sdk_sqs::Client, name: &str) -> Result<Self, QueueError> {
        let out = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::VisibilityTimeout, "60")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(|e| failed("CreateQueue")(e.into()))?;
        let url = out.queue_url.ok_or_else(|| QueueError {
            operation: "CreateQueue",
            source: "no queue URL in the answer".into(),
        })?;
        Ok(Self::new(client, url))
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `bodies`, ten to a call; what SQS refuses is sent again.
    pub async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        for chunk in bodies.chunks(BATCH) {
            let mut pending: Vec<(usize, &String)> = chunk.iter().enumerate().collect();
            for _ in 0..5 {
                if pending.is_empty() {
                    break;
                }
                let entries = pending
                    .iter()
                    .map(|(n, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .message_body(body.as_str())
                            .build()
                            .map_err(|e| failed("SendMessageBatch")(aws_sdk_sqs::Error::from(e)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| failed("SendMessageBatch")(e.into()))?;
                let refused: Vec<String> = out.failed.into_iter().map(|f| f.id).collect();
                pending.retain(|(n, _)| refused.contains(&n.to_string()));
            }
            if !pending.is_empty() {
                return Err(QueueError {
                    operation: "SendMessageBatch",
                    source: "SQS kept refusing messages".into(),
                });
            }
        }
        Ok(())
    }

    /// Hides a received message for `delay` (capped at [`MAX_VISIBILITY`]):
    /// the next attempt's backoff.
    pub async fn retry_in(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let seconds = delay.min(MAX_VISIBILITY).as_secs();
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| failed("ChangeMessageVisibility")(e.into()))?;
        Ok(())
    }

    /// Receives up to ten messages, waiting up to `wait` for one (local
    /// worker and tests; Lambda's event source mapping does this in AWS).
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20).min(20))
            .send()
            .await
            .map_err(|e| failed("ReceiveMessage")(e.into()))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let count = m.attributes.as_ref().and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                });
                Received::of(
                    m.message_id,
                    m.receipt_handle,
                    m.body,
                    count.cloned().as_ref(),
                )
            })
            .collect())
    }

    /// Deletes a handled message (local worker and tests).
    pub async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| failed("DeleteMessage")(e.into()))?;
        Ok(())
    }
}
