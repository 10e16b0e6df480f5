//! `GET /v1/identities?identity_provider_id=&external_id=` — finds the identity of a login.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LOOKUP_IDENTITY).await
}
