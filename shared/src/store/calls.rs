//! Visibility of DynamoDB calls (SPEC §14): an SDK interceptor logs every call
//! with its consumed capacity at debug level and counts them, so tests and
//! benchmarks read real figures instead of estimates.

use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemOutput, get_item::GetItemOutput, put_item::PutItemOutput,
    query::QueryOutput, transact_write_items::TransactWriteItemsOutput,
    update_item::UpdateItemOutput,
};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, Output,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of the DynamoDB calls a store made.
#[derive(Debug, Clone, Default)]
pub struct CallStats(Arc<Totals>);

#[derive(Debug, Default)]
struct Totals {
    calls: AtomicU64,
    failed: AtomicU64,
    capacity_millis: AtomicU64,
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
}

impl CallStats {
    /// The totals so far.
    pub fn totals(&self) -> CallTotals {
        CallTotals {
            calls: self.0.calls.load(Ordering::Relaxed),
            failed: self.0.failed.load(Ordering::Relaxed),
            capacity_units: self.0.capacity_millis.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// The interceptor: one debug line and one count per call.
#[derive(Debug, Clone)]
pub(super) struct CallLog(pub(super) CallStats);

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "TetherCallLog"
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
        totals
            .capacity_millis
            .fetch_add((capacity * 1000.0).round() as u64, Ordering::Relaxed);
        tracing::debug!(target: "tether::dynamodb", operation, ok, capacity_units = capacity, "dynamodb call");
        Ok(())
    }
}

fn total<'a>(capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) -> f64 {
    capacity
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum()
}

fn consumed_capacity(output: &Output) -> f64 {
    if let Some(o) = output.downcast_ref::<GetItemOutput>() {
        total(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
        total(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
        total(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<DeleteItemOutput>() {
        total(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
        total(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
        total(o.consumed_capacity())
    } else {
        0.0
    }
}
