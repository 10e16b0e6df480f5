//! `GET /v1/users/{user_id}/identities` — lists an end user's identities.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_IDENTITIES).await
}
