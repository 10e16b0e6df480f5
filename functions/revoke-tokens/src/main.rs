//! `POST /v1/end-users/{user_id}/tokens/revoke` — revokes an end user's access tokens.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::REVOKE_TOKENS).await
}
