//! `PATCH /v1/end-users/{user_id}` — replaces an end user's metadata.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::UPDATE_END_USER).await
}
