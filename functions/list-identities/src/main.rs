//! `GET /v1/users/{user_id}/identities` — lists an end user's identities.

use tether::{identities, routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_IDENTITIES, identities::list).await
}
