//! The route table: one [`Endpoint`] per Lambda function. It is the single
//! source of truth that the function binaries, the `cargo lambda watch`
//! router, the SAM template and `events/` are checked against.

use crate::auth::Scope;
use crate::error::Surface;

/// How a caller proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `X-API-Key: tk_...`, for the organization API.
    ApiKey,
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
    /// The least scope allowed to call it.
    pub scope: Scope,
    /// The error envelope it answers with.
    pub surface: Surface,
}

const fn org_api(
    function: &'static str,
    method: &'static str,
    path: &'static str,
    scope: Scope,
) -> Endpoint {
    Endpoint {
        function,
        method,
        path,
        credential: Credential::ApiKey,
        scope,
        surface: Surface::Organization,
    }
}

/// `POST /v1/end-users`
pub const CREATE_END_USER: Endpoint =
    org_api("create-end-user", "POST", "/v1/end-users", Scope::ReadWrite);
/// `GET /v1/end-users`
pub const LIST_END_USERS: Endpoint = org_api("list-end-users", "GET", "/v1/end-users", Scope::Read);
/// `GET /v1/end-users/{user_id}`
pub const GET_END_USER: Endpoint = org_api(
    "get-end-user",
    "GET",
    "/v1/end-users/{user_id}",
    Scope::Read,
);
/// `PATCH /v1/end-users/{user_id}`
pub const UPDATE_END_USER: Endpoint = org_api(
    "update-end-user",
    "PATCH",
    "/v1/end-users/{user_id}",
    Scope::ReadWrite,
);
/// `DELETE /v1/end-users/{user_id}`
pub const DELETE_END_USER: Endpoint = org_api(
    "delete-end-user",
    "DELETE",
    "/v1/end-users/{user_id}",
    Scope::ReadWrite,
);

/// The catch-all: every method and path no other endpoint serves.
pub const NOT_FOUND: Endpoint = Endpoint {
    function: "not-found",
    method: "ANY",
    path: "/{proxy+}",
    credential: Credential::None,
    scope: Scope::Read,
    surface: Surface::Organization,
};

/// Every endpoint with a route of its own (the catch-all excluded).
pub const ALL: &[Endpoint] = &[
    CREATE_END_USER,
    LIST_END_USERS,
    GET_END_USER,
    UPDATE_END_USER,
    DELETE_END_USER,
];

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
