//! Visibility of DynamoDB calls (SPEC §14): an SDK interceptor logs every call
//! with its consumed capacity at debug level and counts them, so tests and
//! benchmarks read real figures instead of estimates.

use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemOutput, delete_item::DeleteItemOutput, get_item::GetItemOutput,
    put_item::PutItemOutput, query::QueryOutput, transact_write_items::TransactWriteItemsOutput,
    update_item::UpdateItemOutput,
};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef, Input, Output,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Running totals of the DynamoDB calls a store made.
#[derive(Debug, Clone, Default)]
pub struct CallStats(Arc<Totals>);

#[derive(Debug, Default)]
struct Totals {
    calls: AtomicU64,
    failed: AtomicU64,
    capacity_millis: AtomicU64,
    read_millis: AtomicU64,
    busy: Mutex<Busy>,
    slowest_micros: AtomicU64,
    conflicts: AtomicU64,
    /// The IAM actions the calls needed (`dynamodb:PutItem`, ...; a query
    /// of an index as `dynamodb:Query` on `index`).
    actions: Mutex<std::collections::BTreeSet<String>>,
}

/// The union of the calls' intervals: the time during which at least one
/// call was in flight. Calls a request overlaps (a read beside the limiter's
/// write) count once, so `latency − busy` stays the time spent outside
/// DynamoDB. Every call the store starts is awaited to its end (the SDK's
/// timeouts end inside the orchestrator, whose finalizer closes it here).
#[derive(Debug, Default)]
struct Busy {
    in_flight: u32,
    since: Option<Instant>,
    closed_micros: u64,
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Busy {
    fn begin(&mut self, now: Instant) {
        if self.in_flight == 0 {
            self.since = Some(now);
        }
        self.in_flight += 1;
    }

    fn end(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0
            && let Some(since) = self.since.take()
        {
            self.closed_micros += micros(now.saturating_duration_since(since));
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        self.closed_micros
            + self
                .since
                .map_or(0, |since| micros(now.saturating_duration_since(since)))
    }
}

/// A snapshot of [`CallStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallTotals {
    /// Calls made (each one counted once, whatever its retries).
    pub calls: u64,
    /// Calls that ended in an error (conditional check failures included).
    pub failed: u64,
    /// Capacity units consumed, as DynamoDB reported them.
    pub capacity_units: f64,
    /// The part of `capacity_units` read operations consumed (GetItem, Query).
    pub read_units: f64,
    /// Wall time during which at least one DynamoDB call was in flight
    /// (overlapping calls count once), retries included, in microseconds.
    pub busy_micros: u64,
    /// Transactions cancelled by a conflict with another transaction on the
    /// same item (`TransactionConflict`) and tried again.
    pub conflicts: u64,
}

impl CallTotals {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CallTotals) -> CallTotals {
        CallTotals {
            calls: self.calls - earlier.calls,
            failed: self.failed - earlier.failed,
            capacity_units: self.capacity_units - earlier.capacity_units,
            read_units: self.read_units - earlier.read_units,
            busy_micros: self.busy_micros.saturating_sub(earlier.busy_micros),
            conflicts: self.conflicts - earlier.conflicts,
        }
    }

    /// Write capacity units (the rest of `capacity_units`).
    pub fn write_units(&self) -> f64 {
        self.capacity_units - self.read_units
    }
}

/// When the current call started (kept in the call's config bag).
#[derive(Debug)]
struct CallStart(Instant);

impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

impl CallStats {
    /// The totals so far.
    pub fn totals(&self) -> CallTotals {
        CallTotals {
            calls: self.0.calls.load(Ordering::Relaxed),
            failed: self.0.failed.load(Ordering::Relaxed),
            capacity_units: self.0.capacity_millis.load(Ordering::Relaxed) as f64 / 1000.0,
            read_units: self.0.read_millis.load(Ordering::Relaxed) as f64 / 1000.0,
            busy_micros: self
                .0
                .busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .micros(Instant::now()),
            conflicts: self.0.conflicts.load(Ordering::Relaxed),
        }
    }

    /// The IAM actions the calls so far needed: each operation's, a
    /// transaction's per item (`PutItem`, `UpdateItem`, `DeleteItem`,
    /// `ConditionCheckItem`), and `dynamodb:Query on index` for a query of
    /// a secondary index — what the function's IAM policy must allow.
    pub fn actions(&self) -> std::collections::BTreeSet<String> {
        self.0
            .actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn needed(&self, actions: impl IntoIterator<Item = String>) {
        self.0
            .actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(actions);
    }

    /// Counts one transaction tried again after a `TransactionConflict`.
    pub(super) fn conflicted(&self) {
        self.0.conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// The longest single call since the previous `take_slowest` (retries
    /// included), and starts over: a request's "one round trip".
    pub fn take_slowest(&self) -> Duration {
        Duration::from_micros(self.0.slowest_micros.swap(0, Ordering::Relaxed))
    }

    fn begin(&self, now: Instant) {
        self.0
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .begin(now);
    }

    fn end(&self, started: Instant, now: Instant) {
        self.0
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .end(now);
        self.0.slowest_micros.fetch_max(
            micros(now.saturating_duration_since(started)),
            Ordering::Relaxed,
        );
    }
}

/// The interceptor: one debug line and one count per call.
#[derive(Debug, Clone)]
pub(super) struct CallLog(pub(super) CallStats);

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "TetherCallLog"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = Instant::now();
        self.0.begin(now);
        cfg.interceptor_state().store_put(CallStart(now));
        self.0.needed(iam_actions(context.input()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let outcome = context.inner().output_or_error();
        let ok = matches!(outcome, Some(Ok(_)));
        let capacity = match outcome {
            Some(Ok(output)) => consumed_capacity(output),
            _ => 0.0,
        };
        let totals = &self.0.0;
        totals.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            totals.failed.fetch_add(1, Ordering::Relaxed);
        }
        let millis = (capacity * 1000.0).round() as u64;
        totals.capacity_millis.fetch_add(millis, Ordering::Relaxed);
        if matches!(operation, "GetItem" | "Query" | "BatchGetItem" | "Scan") {
            totals.read_millis.fetch_add(millis, Ordering::Relaxed);
        }
        if let Some(start) = cfg.load::<CallStart>() {
            self.0.end(start.0, Instant::now());
        }
        tracing::debug!(target: "tether::dynamodb", operation, ok, capacity_units = capacity, "dynamodb call");
        Ok(())
    }
}

/// The IAM actions one call needs.
fn iam_actions(input: &Input) -> Vec<String> {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput, delete_item::DeleteItemInput,
        describe_endpoints::DescribeEndpointsInput, get_item::GetItemInput, put_item::PutItemInput,
        query::QueryInput, scan::ScanInput, transact_write_items::TransactWriteItemsInput,
        update_item::UpdateItemInput,
    };
    if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
        return transaction
            .transact_items()
            .iter()
            .filter_map(|item| {
                let action = if item.put().is_some() {
                    "PutItem"
                } else if item.update().is_some() {
                    "UpdateItem"
                } else if item.delete().is_some() {
                    "DeleteItem"
                } else if item.condition_check().is_some() {
                    "ConditionCheckItem"
                } else {
                    return None;
                };
                Some(format!("dynamodb:{action}"))
            })
            .collect();
    }
    if let Some(query) = input.downcast_ref::<QueryInput>()
        && query.index_name().is_some()
    {
        return vec!["dynamodb:Query on index".to_owned()];
    }
    // The connection warm-up needs no permission.
    if is::<DescribeEndpointsInput>(input) {
        return Vec::new();
    }
    let operations: [(IsA, &str); 7] = [
        (is::<GetItemInput>, "GetItem"),
        (is::<PutItemInput>, "PutItem"),
        (is::<UpdateItemInput>, "UpdateItem"),
        (is::<DeleteItemInput>, "DeleteItem"),
        (is::<QueryInput>, "Query"),
        (is::<BatchGetItemInput>, "BatchGetItem"),
        (is::<ScanInput>, "Scan"),
    ];
    let operation = operations
        .iter()
        .find(|(is, _)| is(input))
        .map_or("an operation this list does not know", |(_, name)| name);
    vec![format!("dynamodb:{operation}")]
}

/// Whether an input is of one operation.
type IsA = fn(&Input) -> bool;

/// Whether `input` is a `T`.
fn is<T: std::fmt::Debug + Send + Sync + 'static>(input: &Input) -> bool {
    input.downcast_ref::<T>().is_some()
}

/// The capacity `output` reports (`of` reads it) when it is a `T`.
fn reported<T: std::fmt::Debug + Send + Sync + 'static>(
    output: &Output,
    of: fn(&T) -> Option<&ConsumedCapacity>,
) -> Option<Option<&ConsumedCapacity>> {
    output.downcast_ref::<T>().map(of)
}

fn total<'a>(capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) -> f64 {
    capacity
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum()
}

fn consumed_capacity(output: &Output) -> f64 {
    // One capacity per call, a list of them for a transaction or a batch.
    let single = reported(output, GetItemOutput::consumed_capacity)
        .or_else(|| reported(output, PutItemOutput::consumed_capacity))
        .or_else(|| reported(output, UpdateItemOutput::consumed_capacity))
        .or_else(|| reported(output, DeleteItemOutput::consumed_capacity))
        .or_else(|| reported(output, QueryOutput::consumed_capacity));
    if let Some(capacity) = single {
        return total(capacity);
    }
    if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
        return total(o.consumed_capacity());
    }
    output
        .downcast_ref::<BatchGetItemOutput>()
        .map_or(0.0, |o| total(o.consumed_capacity()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn overlapping_calls_count_once_and_gaps_not_at_all() {
        let t = Instant::now();
        let mut busy = Busy::default();
        // A limiter write 0–10 ms with a read 2–8 ms beside it, then a
        // write 15–18 ms: 13 ms busy, not 19 (sum) nor 18 (span).
        busy.begin(at(t, 0));
        busy.begin(at(t, 2));
        busy.end(at(t, 8));
        assert_eq!(
            busy.micros(at(t, 9)),
            9_000,
            "an open interval counts up to now"
        );
        busy.end(at(t, 10));
        busy.begin(at(t, 15));
        busy.end(at(t, 18));
        assert_eq!(busy.micros(at(t, 30)), 13_000);
    }

    #[test]
    fn the_slowest_call_is_taken_once() {
        let stats = CallStats::default();
        let t = Instant::now();
        stats.begin(t);
        stats.end(t, at(t, 4));
        stats.begin(at(t, 5));
        stats.end(at(t, 5), at(t, 7));
        assert_eq!(stats.take_slowest(), Duration::from_millis(4));
        assert_eq!(stats.take_slowest(), Duration::ZERO);
    }
}
