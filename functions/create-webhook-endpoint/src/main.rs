//! `POST /v1/webhook-endpoints` — registers a webhook endpoint.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_WEBHOOK_ENDPOINT).await
}
