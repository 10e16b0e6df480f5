//! The external-service API (`Authorization: Bearer tst_...`, camelCase,
//! SPEC §11).

use super::{Docs, Endpoint, Touch, op};
use crate::api;
use crate::wire::schema;

/// `POST /api/v1/external-services/{externalServiceId}/organization-relations/claim`
pub const CLAIM_ORGANIZATION_RELATION: Endpoint = Endpoint::new(
    "claim-organization-relation",
    (
        "POST",
        "/api/v1/external-services/{externalServiceId}/organization-relations/claim",
    ),
    "organization_relations.claim",
    op!(api::relations::claim),
    Docs::new(
        "Claim a connect token: relate the service to the token's organization",
        (200, "The relation, created or confirmed.", Some(schema::<crate::external_services::Relation<'static>>)),
        &[404, 409, 410],
    ),
)
.decided_on_organization_too()
.example(Some(r##"{"connectToken": "tct_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff_000000000000000000000000000000000000000000000000", "externalOrganizationId": "crm-acct-1"}"##), "");

/// `GET /api/v1/external-services/{externalServiceId}/organizations`
pub const LIST_SERVICE_ORGANIZATIONS: Endpoint = Endpoint::new(
    "list-service-organizations",
    (
        "GET",
        "/api/v1/external-services/{externalServiceId}/organizations",
    ),
    "organizations.list",
    op!(api::relations::list_organizations),
    Docs::new(
        "List the organizations related to the service",
        (
            200,
            "A page of organizations.",
            Some(
                schema::<
                    crate::wire::ServicePage<
                        crate::external_services::ServiceOrganization<'static>,
                    >,
                >,
            ),
        ),
        &[],
    )
    .paginated(),
)
.touching(&[Touch::Indexes]);
/// `PUT /api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}`
pub const PUT_ORGANIZATION_USER: Endpoint = Endpoint::new(
    "put-organization-user",
    (
        "PUT",
        "/api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}",
    ),
    "organization_users.put",
    op!(api::service_users::put_user),
    Docs::new(
        "Create or update a user of the service in an organization",
        (201, "Created.", Some(schema::<crate::external_services::OrganizationUser<'static>>)),
        &[],
    ).also(&[(200, "Updated.", Some(schema::<crate::external_services::OrganizationUser<'static>>))]),
)
.touching(&[Touch::Put, Touch::ConditionCheck])
.example(Some(r##"{"email": "ada@example.com", "displayName": "Ada", "subscription": "PRO"}"##), "");
