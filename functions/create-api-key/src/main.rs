//! `POST /v1/api-keys` — creates an API key.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_API_KEY).await
}
