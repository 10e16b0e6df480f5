//! `GET /v1/identity-providers` — lists the organization's identity providers.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_IDENTITY_PROVIDERS).await
}
