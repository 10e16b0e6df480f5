//! The local stand-in for the stream triggers: under `make dev`, this poller
//! reads DynamoDB Local's stream of the table (the same Streams API Lambda's
//! event source mapping reads in AWS) and hands each batch to the same
//! handlers the stream functions run (`purge-end-user`, `publish-events`).

use super::{Followers, Handler, StreamChange};
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

/// Longest any Streams call may take: a hung call must not stall the worker.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Polls that may fail on one batch before it is logged and passed over
/// (`tetherctl purge retry` re-drives what it left behind), as Lambda's event
/// source mapping does with `MaximumRetryAttempts`.
pub const MAX_BATCH_ATTEMPTS: u32 = 5;

/// How long a shard may stay silent before its iterator is re-acquired
/// after the last record handled: moto replaces a table's stream when it
/// undoes a cancelled transaction, and an iterator of the old one reads
/// nothing ever again. Harmless elsewhere: the new iterator starts where the
/// old one was.
pub const QUIET_BEFORE_REACQUIRE: Duration = Duration::from_secs(3);
/// Records this much older than the worker's start are passed over when a
/// shard it started at its latest record is read from its beginning
/// (timestamps are approximate, some to the second).
const START_SKEW: Duration = Duration::from_secs(2);
/// DynamoDB Local rounds a record's creation time down to the minute (AWS
/// and moto to the second): a time on a whole minute may be up to this much
/// earlier than the write.
const MINUTE_ROUNDING: Duration = Duration::from_secs(60);

/// Whether a record stamped `stamp` was surely written before `start` (the
/// worker's start less [`START_SKEW`]): a stamp on a whole minute is taken
/// as DynamoDB Local's, a minute coarse, so records of the worker's first
/// minute are never passed over as older than it.
fn created_before(stamp: &aws_smithy_types::DateTime, start: std::time::SystemTime) -> bool {
    let Ok(created) = std::time::SystemTime::try_from(*stamp) else {
        return false;
    };
    let coarse = stamp.secs() % 60 == 0 && stamp.subsec_nanos() == 0;
    let latest = if coarse {
        created + MINUTE_ROUNDING
    } else {
        created
    };
    latest < start
}

/// Where the worker is in one shard.
#[derive(Debug, Default)]
struct ShardState {
    /// The iterator to read next; `None` when lost (expired, refused, or not
    /// handed back): re-acquired after `last_sequence`.
    iterator: Option<String>,
    /// The last record handled (or passed over).
    last_sequence: Option<String>,
    /// The record that failed, read again next (its batch is retried).
    retry_at: Option<String>,
    /// The shard's last record, once the shard is closed.
    ending_sequence: Option<String>,
    /// Consecutive failed attempts at the current batch.
    failures: u32,
    /// The shard is closed and read to its end.
    done: bool,
    /// The worker started at this shard's latest record: read from its
    /// beginning, what came before the start is passed over, not handled.
    from_start: bool,
    /// Records older than this are passed over (set while the shard is
    /// read from its beginning though the worker started later).
    pass_over_before: Option<std::time::SystemTime>,
    /// When records last came, or the iterator was last acquired.
    last_progress: Option<std::time::Instant>,
}

/// What the worker has done so far (tests, logs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollStats {
    /// Records read.
    pub records: u64,
    /// Iterators re-acquired after being lost.
    pub reacquired: u64,
    /// Batches passed over after [`MAX_BATCH_ATTEMPTS`] failures.
    pub given_up: u64,
}

/// Follows the table's stream from now on, handing each batch to the purge.
/// It never loses its place: every shard's last handled sequence number is
/// kept, and an iterator that expires, is refused or is not handed back is
/// re-acquired right after it; every call is timed out; a batch that keeps
/// failing is retried [`MAX_BATCH_ATTEMPTS`] times, then logged and passed.
#[derive(Debug)]
pub struct Poller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    shards: HashMap<String, ShardState>,
    stats: PollStats,
    handlers: Vec<Handler>,
    /// When the worker started.
    started: std::time::SystemTime,
    /// How long a shard may stay silent ([`QUIET_BEFORE_REACQUIRE`]).
    quiet: Duration,
}

async fn timed<T, E: std::error::Error + Send + Sync + 'static>(
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, PollError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(streams_error),
        Err(elapsed) => Err(streams_error(elapsed)),
    }
}

impl Poller {
    /// Starts following the stream of `store`'s table at its latest
    /// position, handing every batch to each of `handlers` in turn.
    pub async fn start(
        store: &Store,
        client: aws_sdk_dynamodbstreams::Client,
        handlers: &[Handler],
    ) -> Result<Self, PollError> {
        let streams = timed(client.list_streams().table_name(store.table()).send()).await?;
        let stream_arn = streams
            .streams()
            .first()
            .and_then(|s| s.stream_arn())
            .ok_or(PollError::NoStream)?
            .to_owned();
        let mut poller = Self {
            client,
            stream_arn,
            shards: HashMap::new(),
            stats: PollStats::default(),
            handlers: handlers.to_vec(),
            started: std::time::SystemTime::now(),
            quiet: QUIET_BEFORE_REACQUIRE,
        };
        poller.discover(ShardIteratorType::Latest).await?;
        for shard in poller.shards.values_mut() {
            shard.from_start = true;
        }
        Ok(poller)
    }

    /// Re-acquires a shard's iterator after `quiet` without a record
    /// instead of [`QUIET_BEFORE_REACQUIRE`] (tests).
    pub fn quiet_after(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    /// What the worker has done so far.
    pub fn stats(&self) -> PollStats {
        self.stats
    }

    /// Drops every iterator, as when they expire (tests).
    pub fn lose_iterators(&mut self) {
        for shard in self.shards.values_mut() {
            shard.iterator = Some("expired-iterator".to_owned());
        }
    }

    /// Picks up shards not seen yet (new shards start at `position`), and
    /// notes which are closed.
    async fn discover(&mut self, position: ShardIteratorType) -> Result<(), PollError> {
        let described = timed(
            self.client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .send(),
        )
        .await?;
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else {
                continue;
            };
            let ending = shard
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .map(str::to_owned);
            if let Some(known) = self.shards.get_mut(id) {
                known.ending_sequence = ending;
                continue;
            }
            let iterator = self.acquire(id, position.clone(), None).await?;
            self.shards.insert(
                id.to_owned(),
                ShardState {
                    iterator,
                    ending_sequence: ending,
                    last_progress: Some(std::time::Instant::now()),
                    ..ShardState::default()
                },
            );
        }
        Ok(())
    }

    async fn acquire(
        &self,
        shard: &str,
        position: ShardIteratorType,
        sequence: Option<&str>,
    ) -> Result<Option<String>, PollError> {
        let out = timed(
            self.client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard)
                .shard_iterator_type(position)
                .set_sequence_number(sequence.map(str::to_owned))
                .send(),
        )
        .await?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// Reads what the stream has now and purges; returns the changes read.
    /// A failing shard is logged and retried next time; the others go on,
    /// and so do the shards already known when the stream's description
    /// fails (new shards are picked up by a later poll).
    pub async fn poll_once(&mut self, followers: &Followers) -> Result<usize, PollError> {
        if let Err(err) = self.discover(ShardIteratorType::TrimHorizon).await {
            if self.shards.is_empty() {
                return Err(err);
            }
            tracing::warn!(error = %err, "stream description failed; reading the shards already known");
        }
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        let mut read = 0;
        for id in ids {
            match self.poll_shard(followers, &id).await {
                Ok(n) => read += n,
                Err(err) => {
                    // Its iterator is not trusted again: re-acquired next time.
                    tracing::warn!(shard = %id, error = %err, "stream read failed; resuming after the last record handled");
                    if let Some(shard) = self.shards.get_mut(&id) {
                        shard.iterator = None;
                    }
                }
            }
        }
        Ok(read)
    }

    async fn poll_shard(&mut self, followers: &Followers, id: &str) -> Result<usize, PollError> {
        let Some(state) = self.shards.get(id) else {
            return Ok(0);
        };
        if state.done {
            return Ok(0);
        }
        let iterator = match state.iterator.clone() {
            Some(iterator) => iterator,
            None => {
                let (position, after) = match (&state.retry_at, &state.last_sequence) {
                    (Some(at), _) => (ShardIteratorType::AtSequenceNumber, Some(at.clone())),
                    (None, Some(seq)) => {
                        (ShardIteratorType::AfterSequenceNumber, Some(seq.clone()))
                    }
                    (None, None) => (ShardIteratorType::TrimHorizon, None),
                };
                // From the beginning of a shard the worker started at its
                // latest record: what came before the start is not ours.
                let pass_over = (state.from_start && after.is_none())
                    .then(|| self.started.checked_sub(START_SKEW))
                    .flatten();
                let iterator = self.acquire(id, position, after.as_deref()).await?;
                self.stats.reacquired += 1;
                if let Some(state) = self.shards.get_mut(id) {
                    state.last_progress = Some(std::time::Instant::now());
                    state.pass_over_before = pass_over;
                }
                match iterator {
                    Some(iterator) => iterator,
                    None => return Ok(0),
                }
            }
        };
        let out = timed(self.client.get_records().shard_iterator(iterator).send()).await?;
        let pass_over_before = self.shards.get(id).and_then(|s| s.pass_over_before);
        let mut passed_over = None;
        let changes: Vec<StreamChange> = out
            .records()
            .iter()
            .filter(|record| {
                let before_start = pass_over_before.is_some_and(|start| {
                    record
                        .dynamodb()
                        .and_then(|d| d.approximate_creation_date_time())
                        .is_some_and(|t| created_before(t, start))
                });
                if before_start {
                    passed_over = record
                        .dynamodb()
                        .and_then(|d| d.sequence_number())
                        .map(str::to_owned);
                }
                !before_start
            })
            .filter_map(change_of)
            .collect();
        self.stats.records += changes.len() as u64;
        // Each handler gets the batch; the earliest failure of any is where
        // the batch is read again (every handler is safe to run twice).
        let mut failed: Vec<String> = Vec::new();
        for handler in &self.handlers {
            let theirs = handler(followers, &changes).await;
            if let Some(first) = theirs.first() {
                let at = |seq: &String| changes.iter().position(|c| &c.sequence_number == seq);
                if failed.first().is_none_or(|f| at(first) < at(f)) {
                    failed = theirs;
                }
            }
        }
        let Some(state) = self.shards.get_mut(id) else {
            return Ok(changes.len());
        };
        match failed.first() {
            None => {
                // An empty read proves nothing about the record being retried.
                if !changes.is_empty() {
                    state.failures = 0;
                    state.retry_at = None;
                }
                if passed_over.is_some() && changes.is_empty() {
                    state.last_sequence = passed_over;
                }
                if let Some(last) = changes.last() {
                    state.last_sequence = Some(last.sequence_number.clone());
                }
                state.iterator = out.next_shard_iterator().map(str::to_owned);
                let now = std::time::Instant::now();
                if !out.records().is_empty() {
                    state.last_progress = Some(now);
                }
                // A shard silent for long is read again from the last record
                // handled, by a new iterator (QUIET_BEFORE_REACQUIRE).
                let quiet = state
                    .last_progress
                    .is_some_and(|at| now.duration_since(at) >= self.quiet);
                if quiet && state.ending_sequence.is_none() {
                    state.iterator = None;
                }
                // A closed shard read to its end has nothing more to give.
                state.done = state.iterator.is_none()
                    && state.ending_sequence.is_some()
                    && changes.is_empty();
            }
            Some(failed_at) => {
                state.failures += 1;
                state.retry_at = Some(failed_at.clone());
                if state.failures >= MAX_BATCH_ATTEMPTS {
                    tracing::error!(
                        shard = %id,
                        sequence_number = %failed_at,
                        attempts = state.failures,
                        "giving up on a stream record after repeated purge failures; `tetherctl purge retry` re-drives the users left in deleting"
                    );
                    self.stats.given_up += 1;
                    state.failures = 0;
                    state.retry_at = None;
                    state.last_sequence = Some(failed_at.clone());
                }
                // Re-read from the failed record (or after it, given up).
                state.iterator = None;
            }
        }
        Ok(changes.len())
    }

    /// Polls every `interval` until the process ends.
    pub async fn run(mut self, followers: &Followers, interval: Duration) -> Result<(), PollError> {
        loop {
            if let Err(err) = self.poll_once(followers).await {
                tracing::warn!(error = %err, "stream poll failed; retrying");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// A Streams record as the purge reads it.
pub fn change_of(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<StreamChange> {
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
        event_id: record.event_id().unwrap_or_default().to_owned(),
        sequence_number: data.sequence_number().unwrap_or_default().to_owned(),
        new_image: convert(data.new_image.as_ref()),
        old_image: convert(data.old_image.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::DateTime;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_stamp_on_a_whole_minute_may_be_a_minute_late() {
        // DynamoDB Local: written at :30, stamped :00; the start was :08.
        assert!(!super::created_before(
            &DateTime::from_secs(1_800_000_000),
            at(1_800_000_008)
        ));
        // Two minutes before the start is before it, however coarse.
        assert!(super::created_before(
            &DateTime::from_secs(1_799_999_880),
            at(1_800_000_008)
        ));
        // AWS and moto, to the second.
        assert!(super::created_before(
            &DateTime::from_secs(1_800_000_001),
            at(1_800_000_005)
        ));
        assert!(!super::created_before(
            &DateTime::from_secs(1_800_000_006),
            at(1_800_000_005)
        ));
    }
}
