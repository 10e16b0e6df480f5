//! A write that lands and whose answer is lost — a timeout, or a 500 after
//! DynamoDB committed it — so the SDK sends it again. The emulators never
//! lose an answer; this sits between the SDK and the emulator, lets the
//! request through, and answers the SDK with a 500 `InternalServerError`
//! instead of what the emulator said (the SDK's standard retry sends it
//! again, as it would in AWS).
//!
//! Not aws-smithy-mocks: its answers replace the request, which then never
//! reaches the emulator (nothing would have landed).
//!
//! Also: one API failing for a while ([`FailingCalls`]) while the others
//! reach the emulator.

use crate::sdk_http::{Model, dynamodb_error, in_front_of};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Loses the answers of the first `remaining` `UpdateItem`s whose partition
/// key starts with `key_prefix`, after the emulator has applied them.
#[derive(Debug)]
pub struct LostAnswers {
    key_prefix: String,
    remaining: AtomicU64,
    /// Answers lost so far.
    pub lost: AtomicU64,
}

impl LostAnswers {
    /// Loses `count` answers to `UpdateItem`s on keys starting with `key_prefix`.
    pub fn of_updates(key_prefix: &str, count: u64) -> Arc<Self> {
        Arc::new(Self {
            key_prefix: key_prefix.to_owned(),
            remaining: AtomicU64::new(count),
            lost: AtomicU64::new(0),
        })
    }

    /// `inner` with answers lost in front of it.
    pub fn wrap(self: &Arc<Self>, inner: SharedHttpClient) -> SharedHttpClient {
        in_front_of(inner, self)
    }

    fn matches(&self, request: &HttpRequest) -> bool {
        let update = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".UpdateItem"));
        let key = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .and_then(|body| Some(body.get("Key")?.get("PK")?.get("S")?.as_str()?.to_owned()));
        update && key.is_some_and(|k| k.starts_with(&self.key_prefix))
    }

    /// Takes one loss from the budget, if any is left.
    fn take(&self) -> bool {
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl Model for LostAnswers {
    fn call(
        self: &Arc<Self>,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> HttpConnectorFuture {
        if !self.matches(&request) || !self.take() {
            return inner.call(request);
        }
        let sent = inner.call(request);
        let faults = self.clone();
        HttpConnectorFuture::new(async move {
            // The emulator applies the write; its answer is dropped.
            let _applied = sent.await?;
            faults.lost.fetch_add(1, Ordering::SeqCst);
            Ok(internal_server_error(
                "Internal server error (injected after the write landed)",
            ))
        })
    }
}

/// Fails every attempt at one operation while armed, with a 500
/// `InternalServerError` (the SDK retries it, then gives up): a service
/// that stops answering one API for a while, which no emulator does.
#[derive(Debug)]
pub struct FailingCalls {
    operation: String,
    armed: AtomicBool,
    /// Attempts failed so far.
    pub failed: AtomicU64,
}

impl FailingCalls {
    /// Fails `operation` (its `X-Amz-Target` name, e.g. `DescribeStream`)
    /// once [`arm`](Self::arm)ed.
    pub fn of(operation: &str) -> Arc<Self> {
        Arc::new(Self {
            operation: operation.to_owned(),
            armed: AtomicBool::new(false),
            failed: AtomicU64::new(0),
        })
    }

    /// From now on, every attempt at the operation fails.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// `inner` with the failures in front of it.
    pub fn wrap(self: &Arc<Self>, inner: SharedHttpClient) -> SharedHttpClient {
        in_front_of(inner, self)
    }
}

impl Model for FailingCalls {
    fn call(
        self: &Arc<Self>,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> HttpConnectorFuture {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next());
        if !self.armed.load(Ordering::SeqCst) || target != Some(&self.operation) {
            return inner.call(request);
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        HttpConnectorFuture::ready(Ok(internal_server_error("injected: the call failed")))
    }
}

fn internal_server_error(message: &str) -> aws_smithy_runtime_api::http::Response {
    dynamodb_error(500, "InternalServerError", message, serde_json::json!({}))
}
