//! `GET /v1/webhook-endpoints/{id}` — reads a webhook endpoint.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_WEBHOOK_ENDPOINT).await
}
