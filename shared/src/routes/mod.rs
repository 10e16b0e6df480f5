//! The route table: one declaration per operation binds its route, its
//! credential and Cedar action, its handler and its documentation. It is the
//! single source of truth that the function binaries (`serve(&routes::X)`),
//! the tests (which dispatch through the same binding), the `cargo lambda
//! watch` router, the SAM template, `events/` and the OpenAPI document are
//! built from or checked against.

mod directories;
mod organization;
mod portal;
mod scim;
mod service;
mod sso;
mod user;
mod webhooks;

pub use directories::*;
pub use organization::*;
pub use portal::*;
pub use scim::*;
pub use service::*;
pub use sso::*;
pub use user::*;
pub use webhooks::*;

pub use crate::endpoint::{
    Bound, Credential, Docs, Endpoint, QueryParameter, Served, Service, Success, Touch,
};

/// Binds an operation (`async fn(<context>, <body>[, <uses>]) -> Result<Reply, ApiError>`):
/// its service, boxed here where its types are concrete, and what they imply.
macro_rules! op {
    ($op:path) => {{
        fn start(
            app: std::sync::Arc<crate::app::App>,
            endpoint: &'static crate::endpoint::Endpoint,
        ) -> Result<crate::endpoint::Service, crate::app::Missing> {
            crate::pipeline::start(app, endpoint, $op, |app, endpoint, kept, req| {
                Box::pin(crate::pipeline::handle(app, endpoint, kept, req, $op))
            })
        }
        crate::pipeline::bind(&$op, start)
    }};
}
use op;

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
    GET_IDENTITY_PROVIDER,
    UPDATE_IDENTITY_PROVIDER,
    DELETE_IDENTITY_PROVIDER,
    LINK_IDENTITY,
    LIST_IDENTITIES,
    LOOKUP_IDENTITY,
    UNLINK_IDENTITY,
    PUT_POLICIES,
    GET_POLICIES,
    GET_ME,
    LINK_SSO,
    GET_JWKS,
    SSO_AUTHORIZE,
    SSO_CALLBACK,
    SSO_SHARED_CALLBACK,
    SSO_TOKEN,
    CREATE_CONNECT_TOKEN,
    GET_CONNECT_TOKEN,
    CANCEL_CONNECT_TOKEN,
    DELETE_RELATION,
    LIST_RELATIONS,
    LIST_EVENTS,
    CREATE_WEBHOOK_ENDPOINT,
    LIST_WEBHOOK_ENDPOINTS,
    GET_WEBHOOK_ENDPOINT,
    UPDATE_WEBHOOK_ENDPOINT,
    DELETE_WEBHOOK_ENDPOINT,
    ROLL_WEBHOOK_SECRET,
    TEST_WEBHOOK_ENDPOINT,
    LIST_WEBHOOK_DELIVERIES,
    RETRY_WEBHOOK_DELIVERY,
    REVOKE_TOKENS,
    CREATE_API_KEY,
    LIST_API_KEYS,
    REVOKE_API_KEY,
    ROLL_API_KEY,
    CLAIM_ORGANIZATION_RELATION,
    LIST_SERVICE_ORGANIZATIONS,
    PUT_ORGANIZATION_USER,
    CREATE_DIRECTORY,
    LIST_DIRECTORIES,
    GET_DIRECTORY,
    DELETE_DIRECTORY,
    ROLL_DIRECTORY_TOKEN,
    LIST_GROUPS,
    GET_GROUP,
    LIST_GROUP_MEMBERS,
    LIST_END_USER_GROUPS,
    SCIM_SERVICE_PROVIDER_CONFIG,
    SCIM_RESOURCE_TYPES,
    SCIM_RESOURCE_TYPE,
    SCIM_SCHEMAS,
    SCIM_SCHEMA,
    SCIM_CREATE_USER,
    SCIM_LIST_USERS,
    SCIM_GET_USER,
    SCIM_REPLACE_USER,
    SCIM_UPDATE_USER,
    SCIM_DELETE_USER,
    SCIM_CREATE_GROUP,
    SCIM_LIST_GROUPS,
    SCIM_GET_GROUP,
    SCIM_REPLACE_GROUP,
    SCIM_UPDATE_GROUP,
    SCIM_DELETE_GROUP,
    CREATE_PORTAL_LINK,
    DELETE_PORTAL_LINK,
    PORTAL_OPEN,
    PORTAL_ASSET,
    PORTAL_HOME,
    PORTAL_SIGN_OUT,
    PORTAL_SSO,
    PORTAL_SSO_CHANGE,
    PORTAL_SSO_TEST,
    PORTAL_DIRECTORY,
    PORTAL_DIRECTORY_CHANGE,
    PORTAL_WEBHOOKS,
    PORTAL_WEBHOOKS_CHANGE,
    PORTAL_EVENTS,
    PORTAL_USAGE,
];

/// A function triggered by events rather than an HTTP route.
#[derive(Debug, Clone, Copy)]
pub struct EventFunction {
    /// The function (and binary) name.
    pub name: &'static str,
    /// What triggers it and what it does, in a line.
    pub summary: &'static str,
    /// The path of its entry point in the core crate.
    pub serve: &'static str,
}

/// Functions triggered by events rather than HTTP routes.
pub const EVENT_FUNCTIONS: &[EventFunction] = &[
    EventFunction {
        name: "purge-end-user",
        summary: "triggered by the table's DynamoDB Stream: purges end users that entered `deleting` (SPEC §12)",
        serve: "purge::serve",
    },
    EventFunction {
        name: "publish-events",
        summary: "triggered by the table's DynamoDB Stream: turns every change of an organization's resources into its events, and fans the logged ones out to webhook endpoints (SPEC §15)",
        serve: "publisher::serve",
    },
    EventFunction {
        name: "deliver-webhooks",
        summary: "triggered by the delivery queue (SQS): attempts each webhook delivery and backs failures off with message visibility (SPEC §15)",
        serve: "deliveries::serve",
    },
];

/// The endpoints the OpenAPI document describes: all but the SCIM surface's,
/// which its own discovery endpoints describe (RFC 7644 §4), and the admin
/// portal's pages, which are HTML for a browser (docs/portal.md).
pub fn documented() -> impl Iterator<Item = &'static Endpoint> {
    ALL.iter()
        .filter(|e| e.surface != crate::error::Surface::Scim && !e.path.starts_with("/portal"))
}

/// Finds the endpoint serving `method` and `path`.
pub fn route(method: &str, path: &str) -> Option<&'static Endpoint> {
    ALL.iter()
        .find(|e| e.method == method && e.match_path(path).is_some())
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
            super::route("PATCH", "/v1/end-users/x"),
            Some(&UPDATE_END_USER)
        );
        assert_eq!(super::route("PUT", "/v1/end-users/x"), None);
    }
}
