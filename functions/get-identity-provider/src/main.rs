//! `GET /v1/identity-providers/{id}` — reads an identity provider.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_IDENTITY_PROVIDER).await
}
