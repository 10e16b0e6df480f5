//! `POST /v1/end-users` — creates an end user.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_END_USER).await
}
