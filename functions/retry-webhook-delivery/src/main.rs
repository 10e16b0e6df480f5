//! `POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry` — attempts a delivery again.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::RETRY_WEBHOOK_DELIVERY).await
}
