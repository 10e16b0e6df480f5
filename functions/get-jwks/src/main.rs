//! `GET /.well-known/jwks.json` — the public keys of access tokens.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::GET_JWKS).await
}
