//! `POST /v1/connect-tokens` — issues a one-time connect token for an external service.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CREATE_CONNECT_TOKEN).await
}
