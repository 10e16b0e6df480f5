//! `GET /v1/events` — the organization's events, oldest first.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_EVENTS).await
}
