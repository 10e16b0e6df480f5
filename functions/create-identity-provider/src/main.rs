//! `POST /v1/identity-providers` — registers an OIDC identity provider.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_IDENTITY_PROVIDER).await
}
