//! The route table: one [`Endpoint`] per Lambda function. It is the single
//! source of truth that the function binaries, the `cargo lambda watch`
//! router, the SAM template and `events/` are checked against.

use crate::error::Surface;

/// How a caller proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `X-API-Key: tk_...`, for the organization API.
    ApiKey,
    /// `Authorization: Bearer <access token>`, for the user API.
    UserToken,
    /// `Authorization: Bearer tst_...`, for the external-service API.
    ServiceToken,
    /// No credential (public endpoints and the not-found catch-all).
    None,
}

/// One operation of the API, served by one Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The function (and binary) name, e.g. `update-end-user`.
    pub function: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The path template, `{name}` for parameters (API Gateway syntax).
    pub path: &'static str,
    /// The credential the endpoint takes.
    pub credential: Credential,
    /// The Cedar action it performs (SPEC §8); empty for public endpoints.
    pub action: &'static str,
    /// Whether the Cedar context needs the body (the identity being linked):
    /// then the operation authorizes right after parsing it.
    pub authorize_after_body: bool,
    /// The error envelope it answers with.
    pub surface: Surface,
}

const fn endpoint(
    function: &'static str,
    method: &'static str,
    path: &'static str,
    credential: Credential,
    action: &'static str,
) -> Endpoint {
    Endpoint {
        function,
        method,
        path,
        credential,
        action,
        authorize_after_body: false,
        surface: Surface::Organization,
    }
}

const fn org_api(
    function: &'static str,
    method: &'static str,
    path: &'static str,
    action: &'static str,
) -> Endpoint {
    endpoint(function, method, path, Credential::ApiKey, action)
}

/// `POST /v1/end-users`
pub const CREATE_END_USER: Endpoint = org_api(
    "create-end-user",
    "POST",
    "/v1/end-users",
    "end_users.create",
);
/// `GET /v1/end-users`
pub const LIST_END_USERS: Endpoint =
    org_api("list-end-users", "GET", "/v1/end-users", "end_users.list");
/// `GET /v1/end-users/{user_id}`
pub const GET_END_USER: Endpoint = org_api(
    "get-end-user",
    "GET",
    "/v1/end-users/{user_id}",
    "end_users.read",
);
/// `PATCH /v1/end-users/{user_id}`
pub const UPDATE_END_USER: Endpoint = org_api(
    "update-end-user",
    "PATCH",
    "/v1/end-users/{user_id}",
    "end_users.update",
);
/// `DELETE /v1/end-users/{user_id}`
pub const DELETE_END_USER: Endpoint = org_api(
    "delete-end-user",
    "DELETE",
    "/v1/end-users/{user_id}",
    "end_users.delete",
);
/// `POST /v1/end-users/{user_id}/tokens`
pub const CREATE_TOKEN: Endpoint = org_api(
    "create-token",
    "POST",
    "/v1/end-users/{user_id}/tokens",
    "tokens.create",
);
/// `POST /v1/identity-providers`
pub const CREATE_IDENTITY_PROVIDER: Endpoint = org_api(
    "create-identity-provider",
    "POST",
    "/v1/identity-providers",
    "identity_providers.create",
);
/// `GET /v1/identity-providers`
pub const LIST_IDENTITY_PROVIDERS: Endpoint = org_api(
    "list-identity-providers",
    "GET",
    "/v1/identity-providers",
    "identity_providers.list",
);
/// `POST /v1/users/{user_id}/identities`
pub const LINK_IDENTITY: Endpoint = Endpoint {
    authorize_after_body: true,
    ..org_api(
        "link-identity",
        "POST",
        "/v1/users/{user_id}/identities",
        "identities.create",
    )
};
/// `GET /v1/users/{user_id}/identities`
pub const LIST_IDENTITIES: Endpoint = org_api(
    "list-identities",
    "GET",
    "/v1/users/{user_id}/identities",
    "identities.list",
);
/// `DELETE /v1/users/{user_id}/identities/{identity_id}`
pub const UNLINK_IDENTITY: Endpoint = org_api(
    "unlink-identity",
    "DELETE",
    "/v1/users/{user_id}/identities/{identity_id}",
    "identities.delete",
);
/// `PUT /v1/policies`
pub const PUT_POLICIES: Endpoint = org_api("put-policies", "PUT", "/v1/policies", "policies.write");
/// `GET /v1/policies`
pub const GET_POLICIES: Endpoint = org_api("get-policies", "GET", "/v1/policies", "policies.read");
/// `GET /v1/me`
pub const GET_ME: Endpoint = endpoint("get-me", "GET", "/v1/me", Credential::UserToken, "me.read");
/// `POST /v1/me/sso/link`
pub const LINK_SSO: Endpoint = Endpoint {
    authorize_after_body: true,
    ..endpoint(
        "link-sso",
        "POST",
        "/v1/me/sso/link",
        Credential::UserToken,
        "sso.link",
    )
};
/// `POST /v1/connect-tokens`
pub const CREATE_CONNECT_TOKEN: Endpoint = org_api(
    "create-connect-token",
    "POST",
    "/v1/connect-tokens",
    "connect_tokens.create",
);
/// `GET /v1/connect-tokens/{id}`
pub const GET_CONNECT_TOKEN: Endpoint = org_api(
    "get-connect-token",
    "GET",
    "/v1/connect-tokens/{id}",
    "connect_tokens.read",
);
/// `POST /v1/connect-tokens/{id}/cancel`
pub const CANCEL_CONNECT_TOKEN: Endpoint = org_api(
    "cancel-connect-token",
    "POST",
    "/v1/connect-tokens/{id}/cancel",
    "connect_tokens.cancel",
);
/// `DELETE /v1/external-service-relations/{relation_id}`
pub const DELETE_RELATION: Endpoint = org_api(
    "delete-relation",
    "DELETE",
    "/v1/external-service-relations/{relation_id}",
    "relations.delete",
);

const fn service_api(
    function: &'static str,
    method: &'static str,
    path: &'static str,
    action: &'static str,
) -> Endpoint {
    Endpoint {
        surface: Surface::ExternalService,
        ..endpoint(function, method, path, Credential::ServiceToken, action)
    }
}

/// `POST /api/v1/external-services/{externalServiceId}/organization-relations/claim`
pub const CLAIM_ORGANIZATION_RELATION: Endpoint = service_api(
    "claim-organization-relation",
    "POST",
    "/api/v1/external-services/{externalServiceId}/organization-relations/claim",
    "organization_relations.claim",
);
/// `GET /api/v1/external-services/{externalServiceId}/organizations`
pub const LIST_SERVICE_ORGANIZATIONS: Endpoint = service_api(
    "list-service-organizations",
    "GET",
    "/api/v1/external-services/{externalServiceId}/organizations",
    "organizations.list",
);
/// `PUT /api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}`
pub const PUT_ORGANIZATION_USER: Endpoint = service_api(
    "put-organization-user",
    "PUT",
    "/api/v1/external-services/{externalServiceId}/organizations/{organizationId}/users/{externalUserId}",
    "organization_users.put",
);

/// `GET /.well-known/jwks.json`
pub const GET_JWKS: Endpoint = endpoint(
    "get-jwks",
    "GET",
    "/.well-known/jwks.json",
    Credential::None,
    "",
);

/// The catch-all: every method and path no other endpoint serves.
pub const NOT_FOUND: Endpoint = endpoint("not-found", "ANY", "/{proxy+}", Credential::None, "");

/// Every endpoint with a route of its own (the catch-all excluded).
pub const ALL: &[Endpoint] = &[
    CREATE_END_USER,
    LIST_END_USERS,
    GET_END_USER,
    UPDATE_END_USER,
    DELETE_END_USER,
    CREATE_TOKEN,
    CREATE_IDENTITY_PROVIDER,
    LIST_IDENTITY_PROVIDERS,
    LINK_IDENTITY,
    LIST_IDENTITIES,
    UNLINK_IDENTITY,
    PUT_POLICIES,
    GET_POLICIES,
    GET_ME,
    LINK_SSO,
    GET_JWKS,
    CREATE_CONNECT_TOKEN,
    GET_CONNECT_TOKEN,
    CANCEL_CONNECT_TOKEN,
    DELETE_RELATION,
    CLAIM_ORGANIZATION_RELATION,
    LIST_SERVICE_ORGANIZATIONS,
    PUT_ORGANIZATION_USER,
];

/// Functions triggered by events rather than HTTP routes.
pub const EVENT_FUNCTIONS: &[&str] = &["purge-end-user"];

/// Path parameters that are free text rather than ids.
pub const FREE_TEXT_PARAMETERS: &[&str] = &["externalUserId"];

impl Endpoint {
    /// Matches a concrete path against the template, returning the parameters
    /// (raw, undecoded) in template order.
    pub fn match_path(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut params = Vec::new();
        let mut actual = path.split('/');
        for expected in self.path.split('/') {
            let segment = actual.next()?;
            match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    if segment.is_empty() {
                        return None;
                    }
                    params.push((name, segment.to_owned()));
                }
                None if expected == segment => {}
                None => return None,
            }
        }
        actual.next().is_none().then_some(params)
    }

    /// The names of the path parameters, in order.
    pub fn parameter_names(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
    }

    /// Whether the endpoint acts on the end user named in its path.
    pub fn acts_on_end_user(&self) -> bool {
        self.path.contains("{user_id}")
    }

    /// Whether the function needs the access-token key (to mint or verify).
    pub fn uses_token_keys(&self) -> bool {
        self.credential == Credential::UserToken
            || self.function == "create-token"
            || self.function == "get-jwks"
    }

    /// Finds the endpoint serving `method` and `path`.
    pub fn route(method: &str, path: &str) -> Option<&'static Endpoint> {
        ALL.iter()
            .find(|e| e.method == method && e.match_path(path).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths_only() {
        let p = UPDATE_END_USER.match_path("/v1/end-users/abc").unwrap();
        assert_eq!(p, vec![("user_id", "abc".to_owned())]);
        assert!(UPDATE_END_USER.match_path("/v1/end-users/").is_none());
        assert!(UPDATE_END_USER.match_path("/v1/end-users/abc/x").is_none());
        assert!(UPDATE_END_USER.match_path("/v1/end-users").is_none());
        assert_eq!(LIST_END_USERS.match_path("/v1/end-users").unwrap(), vec![]);
    }

    #[test]
    fn routes_are_unique_and_functions_distinct() {
        let mut seen = std::collections::HashSet::new();
        for e in ALL {
            assert!(
                seen.insert((e.method, e.path)),
                "duplicate route {} {}",
                e.method,
                e.path
            );
        }
        let functions: std::collections::HashSet<_> = ALL.iter().map(|e| e.function).collect();
        assert_eq!(functions.len(), ALL.len());
        assert_eq!(
            Endpoint::route("PATCH", "/v1/end-users/x"),
            Some(&UPDATE_END_USER)
        );
        assert_eq!(Endpoint::route("PUT", "/v1/end-users/x"), None);
    }
}
