//! `GET /v1/external-service-relations` — lists the organization's relations.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_RELATIONS).await
}
