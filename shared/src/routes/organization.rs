//! The organization API (`X-API-Key`, SPEC §9).

use super::{Docs, Endpoint, Touch, op};
use crate::api;
use crate::auth::Scope;
use crate::wire::schema;

/// An organization-API endpoint.
pub(super) const fn org_api(
    function: &'static str,
    route: (&'static str, &'static str),
    action: &'static str,
    bound: super::Bound,
    docs: Docs,
) -> Endpoint {
    Endpoint::new(function, route, action, bound, docs)
}

/// `POST /v1/end-users`
pub const CREATE_END_USER: Endpoint = org_api(
    "create-end-user",
    ("POST", "/v1/end-users"),
    "end_users.create",
    op!(api::end_users::create),
    Docs::new(
        "Create an end user",
        (
            201,
            "The end user.",
            Some(schema::<crate::end_users::EndUser<'static>>),
        ),
        &[],
    )
    .optional_body()
    .etag()
    .location(),
)
.example(
    Some(r##"{"email": "ada@example.com", "display_name": "Ada", "metadata": {"plan": "gold"}}"##),
    "",
)
.needing(Scope::ReadWrite);
/// `GET /v1/end-users`
pub const LIST_END_USERS: Endpoint = org_api(
    "list-end-users",
    ("GET", "/v1/end-users"),
    "end_users.list",
    op!(api::end_users::list),
    Docs::new(
        "List end users, or look them up by email or external_id",
        (
            200,
            "A page of end users.",
            Some(schema::<crate::wire::Page<crate::end_users::EndUser<'static>>>),
        ),
        &[],
    )
    .paginated()
    .query(&[
        super::QueryParameter {
            name: "email",
            required: false,
            description: "Only the end users with this address (compared case-insensitively).",
            id: false,
        },
        super::QueryParameter {
            name: "external_id",
            required: false,
            description: "Only the end users with this external_id (exact); not with `email`.",
            id: false,
        },
    ]),
)
.touching(&[Touch::Indexes])
.example(None, "limit=10")
.needing(Scope::Read);
/// `GET /v1/end-users/{user_id}`
pub const GET_END_USER: Endpoint = org_api(
    "get-end-user",
    ("GET", "/v1/end-users/{user_id}"),
    "end_users.read",
    op!(api::end_users::get),
    Docs::new(
        "Get an end user",
        (
            200,
            "The end user.",
            Some(schema::<crate::end_users::EndUser<'static>>),
        ),
        &[],
    )
    .etag(),
)
.needing(Scope::Read);
/// `PATCH /v1/end-users/{user_id}`
pub const UPDATE_END_USER: Endpoint = org_api(
    "update-end-user",
    ("PATCH", "/v1/end-users/{user_id}"),
    "end_users.update",
    op!(api::end_users::update),
    Docs::new(
        "Replace an end user's metadata",
        (
            200,
            "The end user after the update.",
            Some(schema::<crate::end_users::EndUser<'static>>),
        ),
        &[409, 412],
    )
    .optional_body()
    .etag()
    .if_match(),
)
.example(Some(r##"{"metadata": {"plan": "platinum"}}"##), "")
.needing(Scope::ReadWrite);
/// `DELETE /v1/end-users/{user_id}`
pub const DELETE_END_USER: Endpoint = org_api(
    "delete-end-user",
    ("DELETE", "/v1/end-users/{user_id}"),
    "end_users.delete",
    op!(api::end_users::delete),
    Docs::new(
        "Delete an end user (purged asynchronously)",
        (
            202,
            "The end user, now `deleting`; GET answers 404 once it is purged.",
            Some(schema::<crate::end_users::EndUser<'static>>),
        ),
        &[],
    )
    .etag(),
)
.needing(Scope::ReadWrite);
/// `POST /v1/end-users/{user_id}/tokens`
pub const CREATE_TOKEN: Endpoint = org_api(
    "create-token",
    ("POST", "/v1/end-users/{user_id}/tokens"),
    "tokens.create",
    op!(api::user::create_token),
    Docs::new(
        "Mint an access token for an end user",
        (
            201,
            "A user access token.",
            Some(schema::<crate::tokens::AccessToken<'static>>),
        ),
        &[409],
    )
    .optional_body(),
)
.needing(Scope::ReadWrite);
/// `POST /v1/end-users/{user_id}/tokens/revoke`
pub const REVOKE_TOKENS: Endpoint = org_api(
    "revoke-tokens",
    ("POST", "/v1/end-users/{user_id}/tokens/revoke"),
    "tokens.revoke",
    op!(api::user::revoke_tokens),
    Docs::new(
        "Revoke every access token of an end user minted so far",
        (
            204,
            "Revoked: those tokens get 401 from the next request.",
            None,
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.needing(Scope::ReadWrite);
/// `POST /v1/identity-providers`
pub const CREATE_IDENTITY_PROVIDER: Endpoint = org_api(
    "create-identity-provider",
    ("POST", "/v1/identity-providers"),
    "identity_providers.create",
    op!(api::identity_providers::create),
    Docs::new(
        "Register an OIDC identity provider",
        (201, "The identity provider.", Some(schema::<crate::identity_providers::IdentityProvider<'static>>)),
        &[409],
    ),
)
.example(Some(r##"{"name": "Acme SSO", "issuer": "https://sso.acme.example", "client_id": "tether-demo", "jwks": {"keys": [{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": "8pWJN4Dip4Apua1tXcAuPpQwd3EVTKccPVt8Pva9Zc59r4xxVsiwtH965kx4qhoj5QnzmxcZrYp92xoOTo_g3tctfAaAaHjguho--WcxgHyW1oCY4bRRwwZ4K80dyxFsSKC77JJLPsX5pORWMPsVB-rOInwT6jsk-ViiaqWHA_lpLC6UUQxNNJKpBhB8kUfzETLpr6tly8TBkfdVG6rFYCbGfuJ0fX2bhB9fv2kKPHB9viiXWqYZXejWnzua5w29frKfdDepCD2BdJM1_pqirTh3w70oVZk3iz62AJIiXJ8sTnCQsSIu4xYNLZGGzF2cxFX9ljrI5EqdkXgAz24tzw", "e": "AQAB"}, {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": "NAIZ6CRDpLRbohwR8TWzD4dCU5nS41_zgRxvCxQJZMA", "y": "uAzKcWMiCDIJUyfK8UaCnnstpQhtMBFBv2Kabo1kO5o"}]}}"##), "")
.needing(Scope::Admin);
/// `GET /v1/identity-providers`
pub const LIST_IDENTITY_PROVIDERS: Endpoint = org_api(
    "list-identity-providers",
    ("GET", "/v1/identity-providers"),
    "identity_providers.list",
    op!(api::identity_providers::list),
    Docs::new(
        "List identity providers",
        (
            200,
            "A page of identity providers.",
            Some(schema::<crate::wire::Page<crate::identity_providers::IdentityProvider<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.touching(&[Touch::Indexes])
.needing(Scope::Read);
/// `GET /v1/identity-providers/{id}`
pub const GET_IDENTITY_PROVIDER: Endpoint = org_api(
    "get-identity-provider",
    ("GET", "/v1/identity-providers/{id}"),
    "identity_providers.read",
    op!(api::identity_providers::get),
    Docs::new(
        "Get an identity provider",
        (
            200,
            "The identity provider.",
            Some(schema::<crate::identity_providers::IdentityProvider<'static>>),
        ),
        &[],
    ),
)
.needing(Scope::Read);
/// `PATCH /v1/identity-providers/{id}`
pub const UPDATE_IDENTITY_PROVIDER: Endpoint = org_api(
    "update-identity-provider",
    ("PATCH", "/v1/identity-providers/{id}"),
    "identity_providers.update",
    op!(api::identity_providers::update),
    Docs::new(
        "Change an identity provider's name, client id, key source or login connection",
        (
            200,
            "The identity provider; warm functions use the change from their next request.",
            Some(schema::<crate::identity_providers::IdentityProvider<'static>>),
        ),
        &[],
    ),
)
.example(Some(r##"{"name": "Corporate SSO (renamed)"}"##), "")
.touching(&[Touch::Put, Touch::Delete])
.also_deciding(&[api::identity_providers::CONFIGURE_LOGIN])
.needing(Scope::Admin);
/// `DELETE /v1/identity-providers/{id}`
pub const DELETE_IDENTITY_PROVIDER: Endpoint = org_api(
    "delete-identity-provider",
    ("DELETE", "/v1/identity-providers/{id}"),
    "identity_providers.delete",
    op!(api::identity_providers::delete),
    Docs::new(
        "Delete an identity provider no identity uses",
        (
            204,
            "Deleted: links through it are refused from the next request.",
            None,
        ),
        &[409],
    ),
)
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::Admin);
/// `POST /v1/users/{user_id}/identities`
pub const LINK_IDENTITY: Endpoint = org_api(
    "link-identity",
    ("POST", "/v1/users/{user_id}/identities"),
    "identities.create",
    op!(api::identities::create),
    Docs::new(
        "Link an external identity to an end user",
        (201, "A new link.", Some(schema::<crate::identities::Identity<'static>>)),
        &[409],
    ).also(&[(200, "The identity was already this user's.", Some(schema::<crate::identities::Identity<'static>>))]),
)
.example(Some(r##"{"identity_provider_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb", "external_id": "ada-42", "external_username": "ada", "external_email": "ada@example.com", "external_display_name": "Ada Lovelace"}"##), "")
.needing(Scope::ReadWrite);
/// `GET /v1/users/{user_id}/identities`
pub const LIST_IDENTITIES: Endpoint = org_api(
    "list-identities",
    ("GET", "/v1/users/{user_id}/identities"),
    "identities.list",
    op!(api::identities::list),
    Docs::new(
        "List an end user's identities",
        (
            200,
            "A page of the user's identities.",
            Some(schema::<crate::wire::Page<crate::identities::Identity<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.touching(&[Touch::Indexes])
.needing(Scope::Read);
/// `DELETE /v1/users/{user_id}/identities/{identity_id}`
pub const UNLINK_IDENTITY: Endpoint = org_api(
    "unlink-identity",
    ("DELETE", "/v1/users/{user_id}/identities/{identity_id}"),
    "identities.delete",
    op!(api::identities::delete),
    Docs::new(
        "Unlink an identity (frees the provider/external-id pair)",
        (204, "Unlinked.", None),
        &[],
    ),
)
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::ReadWrite);
/// `PUT /v1/policies`
pub const PUT_POLICIES: Endpoint = org_api(
    "put-policies",
    ("PUT", "/v1/policies"),
    "policies.write",
    op!(api::policies::put_policies),
    Docs::new(
        "Replace the organization's Cedar policies (forbid only)",
        (200, "The stored policies.", Some(schema::<crate::authz::Policies<'static>>)),
        &[409],
    )
    .text_body(),
)
.touching(&[Touch::Put])
.example(Some(r##"@notice("Identities from this provider need an example.com address")
forbid (principal, action == Action::"identities.create", resource)
when { context.identity_provider_id == "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb" && !(context has external_email && context.external_email like "*@example.com") };
"##), "")
.needing(Scope::Admin);
/// `GET /v1/policies`
pub const GET_POLICIES: Endpoint = org_api(
    "get-policies",
    ("GET", "/v1/policies"),
    "policies.read",
    op!(api::policies::show_policies),
    Docs::new(
        "Get the organization's Cedar policies",
        (
            200,
            "The stored policies (empty text when none).",
            Some(schema::<crate::authz::Policies<'static>>),
        ),
        &[],
    ),
)
.needing(Scope::Admin);
/// `POST /v1/connect-tokens`
pub const CREATE_CONNECT_TOKEN: Endpoint = org_api(
    "create-connect-token",
    ("POST", "/v1/connect-tokens"),
    "connect_tokens.create",
    op!(api::connect_tokens::create),
    Docs::new(
        "Issue a one-time connect token for an external service",
        (201, "The connect token, with its secret (shown once).", Some(schema::<crate::external_services::connect_tokens::CreatedConnectToken<'static>>)),
        &[],
    ),
)
.example(Some(r##"{"external_service_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051cc", "expires_in_seconds": 3600}"##), "")
.needing(Scope::Admin);
/// `GET /v1/connect-tokens/{id}`
pub const GET_CONNECT_TOKEN: Endpoint = org_api(
    "get-connect-token",
    ("GET", "/v1/connect-tokens/{id}"),
    "connect_tokens.read",
    op!(api::connect_tokens::get),
    Docs::new(
        "Get a connect token",
        (
            200,
            "The connect token (never its secret).",
            Some(schema::<crate::external_services::connect_tokens::ConnectTokenObject>),
        ),
        &[],
    ),
)
.touching(&[Touch::Indexes])
.needing(Scope::Admin);
/// `POST /v1/connect-tokens/{id}/cancel`
pub const CANCEL_CONNECT_TOKEN: Endpoint = org_api(
    "cancel-connect-token",
    ("POST", "/v1/connect-tokens/{id}/cancel"),
    "connect_tokens.cancel",
    op!(api::connect_tokens::cancel),
    Docs::new(
        "Cancel a pending connect token",
        (
            200,
            "The connect token, now `cancelled`.",
            Some(schema::<crate::external_services::connect_tokens::ConnectTokenObject>),
        ),
        &[409],
    )
    .optional_body(),
)
.touching(&[Touch::Indexes])
.needing(Scope::Admin);
/// `DELETE /v1/external-service-relations/{relation_id}`
pub const DELETE_RELATION: Endpoint = org_api(
    "delete-relation",
    ("DELETE", "/v1/external-service-relations/{relation_id}"),
    "relations.delete",
    op!(api::relations::delete_relation),
    Docs::new(
        "Remove an external service's relation (its connect tokens become `consumed`)",
        (204, "Removed.", None),
        &[],
    ),
)
.touching(&[Touch::Put, Touch::Delete, Touch::Indexes])
.needing(Scope::Admin);
/// `GET /v1/external-service-relations`
pub const LIST_RELATIONS: Endpoint = org_api(
    "list-relations",
    ("GET", "/v1/external-service-relations"),
    "relations.list",
    op!(api::relations::list_relations),
    Docs::new(
        "List the organization's relations with external services",
        (
            200,
            "A page of relations.",
            Some(
                schema::<
                    crate::wire::Page<
                        crate::external_services::relations::OrganizationRelation<'static>,
                    >,
                >,
            ),
        ),
        &[],
    )
    .paginated(),
)
.touching(&[Touch::Indexes])
.needing(Scope::Admin);
/// `POST /v1/api-keys`
pub const CREATE_API_KEY: Endpoint = org_api(
    "create-api-key",
    ("POST", "/v1/api-keys"),
    "api_keys.create",
    op!(api::api_keys::create),
    Docs::new(
        "Create an API key (its secret is shown only here)",
        (
            201,
            "The key and, once, its secret.",
            Some(schema::<crate::api_keys::CreatedApiKey<'static>>),
        ),
        &[],
    ),
)
.example(Some(r##"{"scopes":["read"],"name":"reporting"}"##), "")
.needing(Scope::Admin);
/// `GET /v1/api-keys`
pub const LIST_API_KEYS: Endpoint = org_api(
    "list-api-keys",
    ("GET", "/v1/api-keys"),
    "api_keys.list",
    op!(api::api_keys::list),
    Docs::new(
        "List the organization's API keys (never their secrets)",
        (
            200,
            "A page of API keys.",
            Some(schema::<crate::wire::Page<crate::api_keys::ApiKey<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Admin);
/// `DELETE /v1/api-keys/{id}`
pub const REVOKE_API_KEY: Endpoint = org_api(
    "revoke-api-key",
    ("DELETE", "/v1/api-keys/{id}"),
    "api_keys.revoke",
    op!(api::api_keys::revoke),
    Docs::new(
        "Revoke an API key",
        (
            204,
            "Revoked: refused from the next request, everywhere.",
            None,
        ),
        &[409],
    ),
)
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::Admin);
/// `POST /v1/api-keys/{id}/roll`
pub const ROLL_API_KEY: Endpoint = org_api(
    "roll-api-key",
    ("POST", "/v1/api-keys/{id}/roll"),
    "api_keys.roll",
    op!(api::api_keys::roll),
    Docs::new(
        "Roll an API key: a new key takes its place, the old one ends after a grace period",
        (
            201,
            "The new key and, once, its secret.",
            Some(schema::<crate::api_keys::CreatedApiKey<'static>>),
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.needing(Scope::Admin);
/// `GET /v1/identities?identity_provider_id=&external_id=`
pub const LOOKUP_IDENTITY: Endpoint = org_api(
    "lookup-identity",
    ("GET", "/v1/identities"),
    "identities.lookup",
    op!(api::identities::lookup),
    Docs::new(
        "Find the identity of a login (provider and external id): zero or one",
        (200, "The identity, if linked (it names its end user).", Some(schema::<crate::wire::Page<crate::identities::Identity<'static>>>)),
        &[],
    )
    .query(&[
        super::QueryParameter {
            name: "identity_provider_id",
            required: true,
            description: "The identity provider.",
            id: true,
        },
        super::QueryParameter {
            name: "external_id",
            required: true,
            description: "The login's id at the provider (the id_token's `sub`).",
            id: false,
        },
    ]),
)
.example(None, "identity_provider_id=0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb&external_id=pre-0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162")
.needing(Scope::Read);
