//! `POST /api/v1/external-services/{externalServiceId}/organization-relations/claim` — claims or confirms a relation with a connect token.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::CLAIM_ORGANIZATION_RELATION).await
}
