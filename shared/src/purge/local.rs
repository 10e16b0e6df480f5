//! The local stand-in for the stream trigger: under `make dev`, this poller
//! reads DynamoDB Local's stream of the table (the same Streams API Lambda's
//! event source mapping reads in AWS) and hands each batch to the same
//! [`super::handle`] the `purge-end-user` function runs.

use super::StreamChange;
use crate::store::{Item, Store};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use std::collections::HashMap;
use std::time::Duration;

/// Why the poller stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The table has no stream.
    #[error("the table has no stream enabled")]
    NoStream,
    /// A Streams API call failed.
    #[error("DynamoDB Streams call failed")]
    Streams(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn streams_error(e: impl std::error::Error + Send + Sync + 'static) -> PollError {
    PollError::Streams(Box::new(e))
}

/// A Streams client from the same AWS configuration as the store's, with the
/// DynamoDB endpoint (DynamoDB Local serves both APIs on one port).
pub fn streams_client(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_dynamodbstreams::Client {
    let mut builder = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_dynamodbstreams::Client::from_conf(builder.build())
}

/// Follows the table's stream from now on, handing each batch to the purge.
#[derive(Debug)]
pub struct Poller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    iterators: HashMap<String, Option<String>>,
}

impl Poller {
    /// Starts following the stream of `store`'s table at its latest position.
    pub async fn start(
        store: &Store,
        client: aws_sdk_dynamodbstreams::Client,
    ) -> Result<Self, PollError> {
        let streams = client
            .list_streams()
            .table_name(store.table())
            .send()
            .await
            .map_err(streams_error)?;
        let stream_arn = streams
            .streams()
            .first()
            .and_then(|s| s.stream_arn())
            .ok_or(PollError::NoStream)?
            .to_owned();
        let mut poller = Self {
            client,
            stream_arn,
            iterators: HashMap::new(),
        };
        poller.discover(ShardIteratorType::Latest).await?;
        Ok(poller)
    }

    /// Picks up shards not seen yet (new shards start at their beginning).
    async fn discover(&mut self, position: ShardIteratorType) -> Result<(), PollError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(streams_error)?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for shard in shards {
            if self.iterators.contains_key(&shard) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard)
                .shard_iterator_type(position.clone())
                .send()
                .await
                .map_err(streams_error)?;
            self.iterators
                .insert(shard, iterator.shard_iterator().map(str::to_owned));
        }
        Ok(())
    }

    /// Reads what the stream has now and purges; returns the changes read.
    pub async fn poll_once(&mut self, store: &Store) -> Result<usize, PollError> {
        self.discover(ShardIteratorType::TrimHorizon).await?;
        let mut read = 0;
        for (_, iterator) in self.iterators.iter_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let out = self
                .client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(streams_error)?;
            let changes: Vec<StreamChange> = out
                .records()
                .iter()
                .filter_map(|record| {
                    let data = record.dynamodb()?;
                    let convert = |image: Option<
                        &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
                    >|
                     -> Option<Item> {
                        let image = image?.clone();
                        let item: serde_dynamo::Item = image.into();
                        Some(item.into())
                    };
                    Some(StreamChange {
                        sequence_number: data.sequence_number().unwrap_or_default().to_owned(),
                        new_image: convert(data.new_image.as_ref()),
                        old_image: convert(data.old_image.as_ref()),
                    })
                })
                .collect();
            read += changes.len();
            let failed = super::handle(store, &changes).await;
            if failed.is_empty() {
                *iterator = out.next_shard_iterator().map(str::to_owned);
            }
            // On a failure the same iterator is read again next time: the retry.
        }
        Ok(read)
    }

    /// Polls every `interval` until the process ends.
    pub async fn run(mut self, store: &Store, interval: Duration) -> Result<(), PollError> {
        loop {
            if let Err(err) = self.poll_once(store).await {
                tracing::warn!(error = %err, "stream poll failed; retrying");
            }
            tokio::time::sleep(interval).await;
        }
    }
}
