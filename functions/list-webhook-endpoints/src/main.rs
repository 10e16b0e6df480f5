//! `GET /v1/webhook-endpoints` — lists the organization's webhook endpoints.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_WEBHOOK_ENDPOINTS).await
}
