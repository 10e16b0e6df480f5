//! `POST /v1/users/{user_id}/identities` — links an external identity to an end user.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LINK_IDENTITY).await
}
