//! `GET /v1/policies` — reads the organization's Cedar policies.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_POLICIES).await
}
