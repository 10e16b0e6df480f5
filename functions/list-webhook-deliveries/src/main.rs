//! `GET /v1/webhook-endpoints/{id}/deliveries` — a webhook endpoint's delivery log.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_WEBHOOK_DELIVERIES).await
}
