//! `GET /v1/connect-tokens/{id}` — reads a connect token.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_CONNECT_TOKEN).await
}
