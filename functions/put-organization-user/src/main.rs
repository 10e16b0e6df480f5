//! `PUT /api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}` — links a service's user to an organization, or updates its subscription.

use tether::{routes, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    runtime::serve(&routes::PUT_ORGANIZATION_USER).await
}
