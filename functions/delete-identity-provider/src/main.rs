//! `DELETE /v1/identity-providers/{id}` — deletes an identity provider no identity uses.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::DELETE_IDENTITY_PROVIDER).await
}
