//! `any unknown method or path` — the JSON 404 catch-all.

use tether::{not_found, routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::NOT_FOUND, not_found::not_found).await
}
