//! `POST /v1/webhook-endpoints/{id}/roll-secret` — rolls a webhook endpoint's signing secret.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::ROLL_WEBHOOK_SECRET).await
}
