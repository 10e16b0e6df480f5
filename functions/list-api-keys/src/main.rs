//! `GET /v1/api-keys` — lists the organization's API keys.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_API_KEYS).await
}
