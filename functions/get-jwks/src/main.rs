//! `GET /.well-known/jwks.json` — the public keys of access tokens.

use tether::{routes, runtime, user_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_JWKS, user_api::jwks).await
}
