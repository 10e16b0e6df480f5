//! `PATCH /v1/identity-providers/{id}` — renames an identity provider, changes its client id or key source.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::UPDATE_IDENTITY_PROVIDER).await
}
