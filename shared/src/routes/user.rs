//! The user API (`Authorization: Bearer <access token>`, SPEC §10) and the
//! public endpoints.

use super::{Docs, Endpoint, op};
use crate::wire::schema;
use crate::{api, not_found};

/// `GET /v1/me`
pub const GET_ME: Endpoint = Endpoint::new(
    "get-me",
    ("GET", "/v1/me"),
    "me.read",
    op!(api::user::me),
    Docs::new(
        "The authenticated end user",
        (
            200,
            "The end user.",
            Some(schema::<crate::end_users::EndUser<'static>>),
        ),
        &[404],
    )
    .etag(),
)
.for_browsers();
/// `POST /v1/me/sso/link`
pub const LINK_SSO: Endpoint = Endpoint::new(
    "link-sso",
    ("POST", "/v1/me/sso/link"),
    "sso.link",
    op!(api::user::link_sso),
    Docs::new(
        "Link the SSO identity proven by an OIDC id_token",
        (201, "A new link (`linked_by: user`).", Some(schema::<crate::identities::Identity<'static>>)),
        &[409],
    ).also(&[(200, "The identity was already this user's.", Some(schema::<crate::identities::Identity<'static>>))]),
)
.for_browsers()
.example(Some(r##"{"identity_provider_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb", "id_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.placeholder.signature"}"##), "");
/// `GET /.well-known/jwks.json`
pub const GET_JWKS: Endpoint = Endpoint::new(
    "get-jwks",
    ("GET", "/.well-known/jwks.json"),
    "",
    op!(api::user::jwks),
    Docs::new(
        "The public keys that verify user access tokens",
        (
            200,
            "A JSON Web Key Set.",
            Some(schema::<crate::wire::Jwks>),
        ),
        &[],
    ),
)
.for_browsers();
/// The catch-all: every method and path no other endpoint serves.
pub const NOT_FOUND: Endpoint = Endpoint::new(
    "not-found",
    ("ANY", "/{proxy+}"),
    "",
    op!(not_found::not_found),
    Docs::nothing("No such route", &[404]),
);
