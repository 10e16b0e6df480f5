//! `POST /v1/me/sso/link` — links an SSO identity proven by an id_token.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LINK_SSO).await
}
