//! `GET /v1/me` — the authenticated end user.

use tether::{routes, runtime, user_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_ME, user_api::me).await
}
