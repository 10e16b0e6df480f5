//! What AWS does to hot items and DynamoDB Local does not: a model put
//! between the SDK and the emulator, at the HTTP layer.
//!
//! - **Transaction conflicts.** AWS cancels a `TransactWriteItems` with
//!   `TransactionConflict` when one of its items is part of another
//!   transaction still in progress, and refuses a plain write to such an item
//!   with `TransactionConflictException` (DynamoDB developer guide,
//!   "Transaction conflict handling"). DynamoDB Local serialises transactions
//!   instead. The model holds every item of a transaction for
//!   [`Contention::hold`] from the moment it is sent (AWS's prepare-to-commit
//!   window, a parameter of the runs — see docs/performance.md; not the
//!   emulator's own latency, which would make the model as slow as this
//!   machine), and answers an overlapping request with the error AWS puts on
//!   the wire — without sending it, as a cancelled transaction writes
//!   nothing.
//! - **Partition throughput.** One partition key takes at most
//!   [`Contention::partition_wcu`] write units per second (AWS: 1,000 per
//!   partition; an organization's items share one partition key, and
//!   time-ordered sort keys defeat split-for-heat). Writes past it are
//!   answered `ProvisionedThroughputExceededException`, the SDK's throttling.
//!
//! Not aws-smithy-mocks: its modeled errors replace the answer of a request
//! that was still sent (the write would commit behind a "conflict"), and its
//! HTTP responses need its own mock client, which passes nothing through.

use crate::sdk_http::{Model, dynamodb_error, in_front_of};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The model's parameters and what it injected.
#[derive(Debug)]
pub struct Contention {
    /// How long an item stays part of a transaction in progress.
    pub hold: Duration,
    /// Write units one partition key takes per second.
    pub partition_wcu: f64,
    state: Mutex<State>,
    /// Requests answered with a transaction conflict.
    pub conflicts: AtomicU64,
    /// Requests answered with throttling.
    pub throttles: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    held: HashMap<(String, String), Instant>,
    partitions: HashMap<String, (f64, Instant)>,
}

/// One request as the model sees it.
struct Writes {
    transactional: bool,
    keys: Vec<(String, String)>,
    units: Vec<(String, f64)>,
}

impl Contention {
    /// A model with AWS's partition limit (1,000 WCU/s) and `hold`.
    pub fn aws(hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            hold,
            partition_wcu: 1_000.0,
            state: Mutex::default(),
            conflicts: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
        })
    }

    /// `inner` with the model in front of it.
    pub fn wrap(self: &Arc<Self>, inner: SharedHttpClient) -> SharedHttpClient {
        in_front_of(inner, self)
    }

    /// The error AWS would answer `writes` with now, if any (else admitted).
    fn refusal(&self, writes: &Writes, now: Instant) -> Option<HttpResponse> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let busy = |key: &(String, String)| state.held.get(key).is_some_and(|until| *until > now);
        if writes.keys.iter().any(busy) {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            return Some(if writes.transactional {
                let reasons: Vec<Value> = writes
                    .keys
                    .iter()
                    .map(|k| {
                        if busy(k) {
                            serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
                        } else {
                            serde_json::json!({"Code": "None"})
                        }
                    })
                    .collect();
                error(
                    "TransactionCanceledException",
                    serde_json::json!({"CancellationReasons": reasons}),
                )
            } else {
                error("TransactionConflictException", serde_json::json!({}))
            });
        }
        let rate = self.partition_wcu;
        let refill = |state: &mut State, pk: &str| {
            let (tokens, at) = state.partitions.entry(pk.to_owned()).or_insert((rate, now));
            *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(rate);
            *at = now;
            *tokens
        };
        if writes
            .units
            .iter()
            .any(|(pk, units)| refill(&mut state, pk) < *units)
        {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            return Some(error(
                "ProvisionedThroughputExceededException",
                serde_json::json!({}),
            ));
        }
        for (pk, units) in &writes.units {
            if let Some((tokens, _)) = state.partitions.get_mut(pk) {
                *tokens -= units;
            }
        }
        if writes.transactional {
            if state.held.len() > 100_000 {
                state.held.retain(|_, until| *until > now);
            }
            for key in &writes.keys {
                let until = state.held.entry(key.clone()).or_insert(now);
                *until = (*until).max(now + self.hold);
            }
        }
        None
    }
}

/// DynamoDB's JSON error answer for `kind`.
fn error(kind: &str, extra: Value) -> HttpResponse {
    let message = format!("{kind} (injected by the contention model)");
    dynamodb_error(400, kind, &message, extra)
}

/// The items a write request touches and the units it costs per partition
/// key (2 per item of a transaction, 1 per plain write; items under 1 KB).
fn writes_of(request: &HttpRequest) -> Option<Writes> {
    let target = request.headers().get("x-amz-target")?;
    let operation = target.rsplit('.').next()?;
    let body: Value = serde_json::from_slice(request.body().bytes()?).ok()?;
    let key_of = |v: &Value| -> Option<(String, String)> {
        Some((
            v.get("PK")?.get("S")?.as_str()?.to_owned(),
            v.get("SK")?.get("S")?.as_str()?.to_owned(),
        ))
    };
    let (transactional, keys) = match operation {
        "TransactWriteItems" => {
            let items = body.get("TransactItems")?.as_array()?;
            let keys = items
                .iter()
                .filter_map(|item| {
                    let action = item.as_object()?.values().next()?;
                    key_of(action.get("Key").or_else(|| action.get("Item"))?)
                })
                .collect();
            (true, keys)
        }
        "PutItem" => (false, vec![key_of(body.get("Item")?)?]),
        "UpdateItem" | "DeleteItem" => (false, vec![key_of(body.get("Key")?)?]),
        _ => return None,
    };
    let per_item = if transactional { 2.0 } else { 1.0 };
    let mut units: Vec<(String, f64)> = Vec::new();
    for (pk, _) in &keys {
        match units.iter_mut().find(|(p, _)| p == pk) {
            Some((_, n)) => *n += per_item,
            None => units.push((pk.clone(), per_item)),
        }
    }
    Some(Writes {
        transactional,
        keys,
        units,
    })
}

impl Model for Contention {
    fn call(
        self: &Arc<Self>,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> HttpConnectorFuture {
        let Some(writes) = writes_of(&request) else {
            return inner.call(request);
        };
        if let Some(answer) = self.refusal(&writes, Instant::now()) {
            return HttpConnectorFuture::ready(Ok(answer));
        }
        inner.call(request)
    }
}
