//! `POST /v1/api-keys/{id}/roll` — rolls an API key.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::ROLL_API_KEY).await
}
