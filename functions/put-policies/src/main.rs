//! `PUT /v1/policies` — replaces the organization's Cedar policies.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::PUT_POLICIES).await
}
