//! `any unknown method or path` — the JSON 404 catch-all.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::NOT_FOUND).await
}
