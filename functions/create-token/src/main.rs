//! `POST /v1/end-users/{user_id}/tokens` — mints an access token for an end user.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_TOKEN).await
}
