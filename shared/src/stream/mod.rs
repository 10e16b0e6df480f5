//! The table's DynamoDB stream: its changes, as Lambda's event source mapping
//! or the local poller ([`local`]) hands them to the functions that follow
//! it (`purge-end-user`, `publish-events`).

#[cfg(feature = "local-stream")]
pub mod local;

use crate::store::{Item, Store};

/// A function that follows the stream: handles a batch in order and returns
/// the sequence numbers to retry (the first failed record and those after
/// it; what it did before must be safe to do again).
pub type Handler = for<'a> fn(
    &'a Followers,
    &'a [StreamChange],
) -> futures_util::future::BoxFuture<'a, Vec<String>>;

/// What the stream functions work with.
#[derive(Debug, Clone)]
pub struct Followers {
    /// The table.
    pub store: Store,
    /// The webhook delivery queue, for the publisher's fan-out (`None`: no
    /// deliveries are sent).
    pub queue: Option<crate::queue::DeliveryQueue>,
}

impl From<Store> for Followers {
    fn from(store: Store) -> Self {
        Self { store, queue: None }
    }
}

/// One change of the table's stream, from Lambda's event or the local poller.
#[derive(Debug, Clone, Default)]
pub struct StreamChange {
    /// The record's `eventID`: unique, the same on every delivery.
    pub event_id: String,
    /// Its position in the shard (the batch-failure identifier).
    pub sequence_number: String,
    /// The item after the change.
    pub new_image: Option<Item>,
    /// The item before the change.
    pub old_image: Option<Item>,
}

fn image(item: serde_dynamo::Item) -> Option<Item> {
    let item: Item = item.into();
    (!item.is_empty()).then_some(item)
}

impl StreamChange {
    /// The changes of a Lambda DynamoDB stream event.
    pub fn from_event(event: aws_lambda_events::event::dynamodb::Event) -> Vec<Self> {
        event
            .records
            .into_iter()
            .map(|record| Self {
                event_id: record.event_id,
                sequence_number: record.change.sequence_number.unwrap_or_default(),
                new_image: image(record.change.new_image),
                old_image: image(record.change.old_image),
            })
            .collect()
    }
}

/// The Lambda entry point of a stream function: partial batch failures are
/// reported, so only the failed record and those after it are retried.
pub async fn serve(handler: Handler) -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::dynamodb::Event;
    use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
    crate::logging::init();
    let config = crate::config::Config::from_env()?;
    let sdk = Store::lambda_sdk_config(&config).await;
    let followers = Followers {
        store: Store::from_sdk(&sdk, &config),
        queue: crate::queue::DeliveryQueue::from_env(&sdk),
    };
    let followers = &followers;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Event>| async move {
            let changes = StreamChange::from_event(event.payload);
            let failed = handler(followers, &changes).await;
            let mut response = DynamoDbEventResponse::default();
            response.batch_item_failures = failed
                .into_iter()
                .map(|id| {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(id);
                    failure
                })
                .collect();
            Ok::<_, std::convert::Infallible>(response)
        },
    ))
    .await
}
