//! `DELETE /v1/end-users/{user_id}` — starts an end user's deletion.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::DELETE_END_USER).await
}
