//! `GET /v1/end-users` — lists an organization's end users.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_END_USERS).await
}
