//! `GET /api/v1/external-services/{externalServiceId}/organizations` — the organizations related to the service.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::LIST_SERVICE_ORGANIZATIONS).await
}
