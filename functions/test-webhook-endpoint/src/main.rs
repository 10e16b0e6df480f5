//! `POST /v1/webhook-endpoints/{id}/test` — sends a ping event to a webhook endpoint.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::TEST_WEBHOOK_ENDPOINT).await
}
