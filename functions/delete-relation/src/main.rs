//! `DELETE /v1/external-service-relations/{relation_id}` — removes an external service's relation.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::DELETE_RELATION).await
}
