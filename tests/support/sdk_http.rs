//! Between the SDK and the emulator: what the fault models of
//! [`crate::faults`] and [`crate::contention`] put in front of a client, and
//! the error answers they give in DynamoDB's place.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;
use std::sync::Arc;

/// What the service does that the emulator does not: a model answers a
/// request itself, or passes it on to `inner` (and may change its answer).
pub trait Model: std::fmt::Debug + Send + Sync + 'static {
    /// The answer to `request`.
    fn call(
        self: &Arc<Self>,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> HttpConnectorFuture;
}

/// `inner` with `model` in front of each of its connectors.
pub fn in_front_of<M: Model>(inner: SharedHttpClient, model: &Arc<M>) -> SharedHttpClient {
    let model = Arc::clone(model);
    http_client_fn(
        move |settings: &HttpConnectorSettings, components: &RuntimeComponents| {
            SharedHttpConnector::new(InFront {
                inner: inner.http_connector(settings, components),
                model: Arc::clone(&model),
            })
        },
    )
}

#[derive(Debug)]
struct InFront<M> {
    inner: SharedHttpConnector,
    model: Arc<M>,
}

impl<M: Model> HttpConnector for InFront<M> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.model.call(&self.inner, request)
    }
}

/// DynamoDB's JSON error answer: `status`, the error `kind` with `message`,
/// and the fields of `extra`.
pub fn dynamodb_error(status: u16, kind: &str, message: &str, mut extra: Value) -> HttpResponse {
    extra["__type"] = Value::from(format!("com.amazonaws.dynamodb.v20120810#{kind}"));
    extra["message"] = Value::from(message);
    let mut response = HttpResponse::new(
        status.try_into().expect("a valid status"),
        SdkBody::from(extra.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}
