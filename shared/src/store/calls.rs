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
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef, Output,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Running totals of the DynamoDB calls a store made.
#[derive(Debug, Clone, Default)]
pub struct CallStats(Arc<Totals>);

#[derive(Debug, Default)]
struct Totals {
    calls: AtomicU64,
    failed: AtomicU64,
    capacity_millis: AtomicU64,
    read_millis: AtomicU64,
    busy_micros: AtomicU64,
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
    /// Wall time spent inside DynamoDB calls, retries included, in microseconds.
    pub busy_micros: u64,
}

impl CallTotals {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CallTotals) -> CallTotals {
        CallTotals {
            calls: self.calls - earlier.calls,
            failed: self.failed - earlier.failed,
            capacity_units: self.capacity_units - earlier.capacity_units,
            read_units: self.read_units - earlier.read_units,
            busy_micros: self.busy_micros - earlier.busy_micros,
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
            busy_micros: self.0.busy_micros.load(Ordering::Relaxed),
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

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallStart(Instant::now()));
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
            let micros = u64::try_from(start.0.elapsed().as_micros()).unwrap_or(u64::MAX);
            totals.busy_micros.fetch_add(micros, Ordering::Relaxed);
        }
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
    } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
        total(o.consumed_capacity())
    } else {
        0.0
    }
}
