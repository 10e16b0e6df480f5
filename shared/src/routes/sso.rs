//! SSO login (SPEC §17): the browser's two public legs and the app's code
//! exchange.

use super::{Docs, Endpoint, QueryParameter, Touch, op};
use crate::api;
use crate::auth::Scope;
use crate::wire::schema;

/// `GET /v1/sso/authorize`
pub const SSO_AUTHORIZE: Endpoint = Endpoint::new(
    "sso-authorize",
    ("GET", "/v1/sso/authorize"),
    "",
    op!(api::sso::authorize),
    Docs::new(
        "Start an SSO sign-in: the browser goes to the organization's identity provider",
        (
            302,
            "To the provider's authorization endpoint, with the login attempt's cookie; after the redirect_uri is validated, a failure is a 302 to it with `error`.",
            None,
        ),
        &[400, 422],
    )
    .query(&[
        QueryParameter {
            name: "identity_provider_id",
            required: false,
            description: "The login connection (or `organization_id`).",
            id: true,
        },
        QueryParameter {
            name: "organization_id",
            required: false,
            description: "The organization whose only login connection signs in (or `identity_provider_id`).",
            id: true,
        },
        QueryParameter {
            name: "redirect_uri",
            required: true,
            description: "Where the browser returns: one of the connection's `redirect_uris`, exactly.",
            id: false,
        },
        QueryParameter {
            name: "state",
            required: false,
            description: "The app's own value, returned as sent (at most 512 characters).",
            id: false,
        },
        QueryParameter {
            name: "login_hint",
            required: false,
            description: "Passed to the provider (at most 256 characters).",
            id: false,
        },
        QueryParameter {
            name: "code_challenge",
            required: false,
            description: "The app's PKCE S256 challenge: the code exchange then needs its verifier.",
            id: false,
        },
        QueryParameter {
            name: "code_challenge_method",
            required: false,
            description: "`S256`, with `code_challenge`.",
            id: false,
        },
    ]),
)
.example(
    None,
    "identity_provider_id=0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=af0ifjsldkj",
)
.touching(&[Touch::Read, Touch::Put])
.page();
/// What a callback answers when it completes or fails a sign-in.
const CALLBACK_SUCCESS: crate::endpoint::Success = (
    302,
    "To the app's redirect_uri with `code` (`tsc_…`) and its `state`, or with `error` and `error_description`.",
    None,
);
/// What a callback answers to an admin portal's test sign-in (SPEC §19).
const CALLBACK_TEST: &[crate::endpoint::Success] = &[(
    200,
    "An admin portal's test sign-in: an HTML page with the profile the provider's id_token gave (nobody is signed in).",
    None,
)];
/// The provider's answer, as both callbacks take it.
const CALLBACK_QUERY: &[QueryParameter] = &[
    QueryParameter {
        name: "state",
        required: true,
        description: "Tether's state for the provider.",
        id: false,
    },
    QueryParameter {
        name: "code",
        required: false,
        description: "The provider's authorization code.",
        id: false,
    },
    QueryParameter {
        name: "error",
        required: false,
        description: "The provider's error (`access_denied`, …).",
        id: false,
    },
];
/// What a sign-in reads and writes.
const CALLBACK_TOUCHES: &[Touch] = &[
    Touch::Read,
    Touch::Put,
    Touch::Delete,
    Touch::ConditionCheck,
    Touch::Indexes,
];
/// `GET /v1/sso/callback/{identity_provider_id}`
pub const SSO_CALLBACK: Endpoint = Endpoint::new(
    "sso-callback",
    ("GET", "/v1/sso/callback/{identity_provider_id}"),
    "sso.login",
    op!(api::sso::connection_callback),
    Docs::new(
        "The identity provider's return to a connection's own callback: Tether completes the sign-in",
        CALLBACK_SUCCESS,
        &[400],
    )
    .also(CALLBACK_TEST)
    .query(CALLBACK_QUERY),
)
.example(None, "code=SplxlOBeZQQYbYS6WxSbIA&state=Zkl0cWh2c1dtN2VHbk5QSWpTbG1Yd1lfM2VxRmc0ZGs")
.touching(CALLBACK_TOUCHES)
.deciding_for_end_user()
.page();
/// `GET /v1/sso/callback`
pub const SSO_SHARED_CALLBACK: Endpoint = Endpoint::new(
    "sso-shared-callback",
    ("GET", "/v1/sso/callback"),
    "sso.login",
    op!(api::sso::callback),
    Docs::new(
        "The callback shared by every connection, for providers that send `iss` (RFC 9207), which it requires",
        CALLBACK_SUCCESS,
        &[400],
    )
    .also(CALLBACK_TEST)
    .query(CALLBACK_QUERY),
)
.example(None, "code=SplxlOBeZQQYbYS6WxSbIA&state=Zkl0cWh2c1dtN2VHbk5QSWpTbG1Yd1lfM2VxRmc0ZGs")
.touching(CALLBACK_TOUCHES)
.deciding_for_end_user()
.page();
/// `POST /v1/sso/token`
pub const SSO_TOKEN: Endpoint = Endpoint::new(
    "sso-token",
    ("POST", "/v1/sso/token"),
    "sso.token",
    op!(api::sso::token),
    Docs::new(
        "Exchange a one-time SSO login code for the signed-in end user",
        (
            200,
            "The end user, the identity, the provider's profile and an access token.",
            Some(schema::<api::sso::SsoTokenResponse<'static>>),
        ),
        &[],
    ),
)
.example(
    Some(r##"{"code": "tsc_3q2-7wKYrJ0mAxXbT8vH5nQ1sLd4uZ6eFgHiJkLmNoP"}"##),
    "",
)
.needing(Scope::ReadWrite);
