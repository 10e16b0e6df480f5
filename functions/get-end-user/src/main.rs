//! `GET /v1/end-users/{user_id}` — reads one end user.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_END_USER).await
}
