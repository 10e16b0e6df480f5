//! `DELETE /v1/users/{user_id}/identities/{identity_id}` — unlinks an identity and frees its pair.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::UNLINK_IDENTITY).await
}
