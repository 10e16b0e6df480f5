//! The admin portal (SPEC §19): the organization API's links, and the pages
//! an IT admin's browser opens with the session a link starts.

use super::{Docs, Endpoint, QueryParameter, Touch, op};
use crate::api;
use crate::auth::Scope;
use crate::wire::schema;

/// `POST /v1/portal-links`
pub const CREATE_PORTAL_LINK: Endpoint = Endpoint::new(
    "create-portal-link",
    ("POST", "/v1/portal-links"),
    "portal_links.create",
    op!(api::portal::create_link),
    Docs::new(
        "Mint a single-use, 5-minute link to the admin portal for an IT admin",
        (
            201,
            "The link: send the IT admin's browser to `url`.",
            Some(schema::<api::portal::PortalLinkView>),
        ),
        &[],
    ),
)
.example(
    Some(r##"{"intent": "sso", "return_url": "https://app.example.com/settings"}"##),
    "",
)
.needing(Scope::Admin);
/// `DELETE /v1/portal-links/{id}`
pub const DELETE_PORTAL_LINK: Endpoint = Endpoint::new(
    "delete-portal-link",
    ("DELETE", "/v1/portal-links/{id}"),
    "portal_links.delete",
    op!(api::portal::delete_link),
    Docs::new(
        "End a portal link and the session it opened",
        (
            204,
            "Ended: the link no longer opens, its session is refused from the next request.",
            None,
        ),
        &[],
    ),
)
.touching(&[Touch::Delete])
.needing(Scope::Admin);

/// `GET /portal/open`
pub const PORTAL_OPEN: Endpoint = Endpoint::new(
    "portal-open",
    ("GET", "/portal/open"),
    "",
    op!(api::portal::open),
    Docs::new(
        "Open a portal link: its session begins (a cookie) and the browser goes to its first view",
        (303, "To the session's first view, with its cookie.", None),
        &[410],
    )
    .query(&[QueryParameter {
        name: "token",
        required: true,
        description: "The link's `tpl_` token.",
        id: false,
    }]),
)
.example(
    None,
    "token=tpl_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
)
.touching(&[Touch::Read, Touch::Put, Touch::Delete])
.portal();
/// `GET /portal/assets/{name}`
pub const PORTAL_ASSET: Endpoint = Endpoint::new(
    "portal-asset",
    ("GET", "/portal/assets/{name}"),
    "",
    op!(api::portal::asset),
    Docs::new(
        "The portal's stylesheet and script, compiled in",
        (200, "`portal.css` or `portal.js`.", None),
        &[],
    ),
);
/// `GET /portal`
pub const PORTAL_HOME: Endpoint = Endpoint::new(
    "portal-home",
    ("GET", "/portal"),
    "portal.home",
    op!(api::portal::home),
    Docs::new(
        "The session's first view",
        (303, "To the session's first view.", None),
        &[],
    ),
)
.portal();
/// `POST /portal/sign-out`
pub const PORTAL_SIGN_OUT: Endpoint = Endpoint::new(
    "portal-sign-out",
    ("POST", "/portal/sign-out"),
    "portal.sign_out",
    op!(api::portal::sign_out),
    Docs::new(
        "End the portal session",
        (200, "Signed out: the cookie is cleared.", None),
        &[],
    ),
)
.example(Some("csrf=PORTAL-CSRF"), "")
.touching(&[Touch::Delete])
.portal();
/// `GET /portal/sso`
pub const PORTAL_SSO: Endpoint = Endpoint::new(
    "portal-sso",
    ("GET", "/portal/sso"),
    "portal.sso.view",
    op!(api::portal::sso),
    Docs::new(
        "The SSO view: identity providers and their login connections",
        (200, "The page.", None),
        &[],
    ),
)
.portal();
/// `POST /portal/sso`
pub const PORTAL_SSO_CHANGE: Endpoint = Endpoint::new(
    "portal-sso-change",
    ("POST", "/portal/sso"),
    "portal.sso.configure",
    op!(api::portal::sso_change),
    Docs::new(
        "Register an identity provider with its login connection",
        (200, "The SSO view, with what happened.", None),
        &[422],
    ),
)
.example(
    Some(
        "csrf=PORTAL-CSRF&op=register&name=Okta&issuer=https%3A%2F%2Fidp.example.com\
         &client_id=tether&client_secret=s3cret&redirect_uris=https%3A%2F%2Fapp.example.com%2Fcb\
         &provisioning=create",
    ),
    "",
)
.touching(&[Touch::Put, Touch::Delete, Touch::ConditionCheck])
.portal();
/// `GET /portal/sso/test`
pub const PORTAL_SSO_TEST: Endpoint = Endpoint::new(
    "portal-sso-test",
    ("GET", "/portal/sso/test"),
    "portal.sso.configure",
    op!(api::portal::sso_test),
    Docs::new(
        "Start a test sign-in with a login connection",
        (
            302,
            "To the identity provider, with the attempt's cookie.",
            None,
        ),
        &[],
    )
    .query(&[QueryParameter {
        name: "identity_provider_id",
        required: true,
        description: "The login connection to test.",
        id: true,
    }]),
)
.example(
    None,
    "identity_provider_id=0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb",
)
.touching(&[Touch::Put])
.portal();
/// `GET /portal/directory`
pub const PORTAL_DIRECTORY: Endpoint = Endpoint::new(
    "portal-directory",
    ("GET", "/portal/directory"),
    "portal.directory.view",
    op!(api::portal::directory),
    Docs::new(
        "The Directory view: directories, SCIM URLs and their latest requests",
        (200, "The page.", None),
        &[],
    ),
)
.portal();
/// `POST /portal/directory`
pub const PORTAL_DIRECTORY_CHANGE: Endpoint = Endpoint::new(
    "portal-directory-change",
    ("POST", "/portal/directory"),
    "portal.directory.configure",
    op!(api::portal::directory_change),
    Docs::new(
        "Create a directory or roll its token",
        (
            200,
            "The Directory view, with the token made shown once.",
            None,
        ),
        &[422],
    ),
)
.example(Some("csrf=PORTAL-CSRF&op=create&name=Okta"), "")
.touching(&[Touch::Put, Touch::Delete, Touch::ConditionCheck])
.portal();
/// `GET /portal/webhooks`
pub const PORTAL_WEBHOOKS: Endpoint = Endpoint::new(
    "portal-webhooks",
    ("GET", "/portal/webhooks"),
    "portal.webhooks.view",
    op!(api::portal::webhooks),
    Docs::new(
        "The Webhooks view: endpoints and one's delivery log",
        (200, "The page.", None),
        &[],
    )
    .query(&[QueryParameter {
        name: "endpoint",
        required: false,
        description: "The endpoint whose deliveries are shown.",
        id: true,
    }]),
)
.portal();
/// `POST /portal/webhooks`
pub const PORTAL_WEBHOOKS_CHANGE: Endpoint = Endpoint::new(
    "portal-webhooks-change",
    ("POST", "/portal/webhooks"),
    "portal.webhooks.configure",
    op!(api::portal::webhooks_change),
    Docs::new(
        "Add an endpoint, roll its secret, test it, or retry a delivery",
        (
            200,
            "The Webhooks view, with the secret made shown once.",
            None,
        ),
        &[422],
    ),
)
.example(
    Some("csrf=PORTAL-CSRF&op=create&url=http%3A%2F%2F127.0.0.1%3A8089%2Fhook"),
    "",
)
.touching(&[Touch::Put, Touch::Delete, Touch::ConditionCheck])
.portal();
/// `GET /portal/events`
pub const PORTAL_EVENTS: Endpoint = Endpoint::new(
    "portal-events",
    ("GET", "/portal/events"),
    "portal.events.view",
    op!(api::portal::events),
    Docs::new(
        "The Events view: the organization's events, by type, a page at a time",
        (200, "The page.", None),
        &[],
    ),
)
.portal();
/// `GET /portal/usage`
pub const PORTAL_USAGE: Endpoint = Endpoint::new(
    "portal-usage",
    ("GET", "/portal/usage"),
    "portal.usage.view",
    op!(api::portal::usage),
    Docs::new(
        "The Usage view: turns and relationships against the plan, and refusals",
        (200, "The page.", None),
        &[],
    ),
)
.portal();
