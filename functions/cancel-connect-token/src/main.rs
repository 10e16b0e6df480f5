//! `POST /v1/connect-tokens/{id}/cancel` — cancels a pending connect token.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CANCEL_CONNECT_TOKEN).await
}
