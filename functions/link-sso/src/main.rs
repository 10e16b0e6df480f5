//! `POST /v1/me/sso/link` — links an SSO identity proven by an id_token.

use tether::{routes, runtime, user_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LINK_SSO, user_api::link_sso).await
}
