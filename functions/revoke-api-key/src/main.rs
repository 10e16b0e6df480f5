//! `DELETE /v1/api-keys/{id}` — revokes an API key.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::REVOKE_API_KEY).await
}
