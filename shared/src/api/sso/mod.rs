//! SSO login (SPEC §17): the browser's two legs (`authorize`, `callback`)
//! and the app's code exchange (`token`).

pub(crate) mod sign_in;
mod tested;

use crate::end_users;
use crate::error::ApiError;
use crate::identities;
use crate::identity_providers;
use crate::identity_providers::login::Connection;
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::outbound::Outbound;
use crate::parse::{JsonObject, ParseBody};
use crate::pipeline::{Ctx, Json, NoBody, OrgCtx, Reply};
use crate::sealed::Keyring;
use crate::sso_login::attempt::{self, Attempt, Consumed};
use crate::sso_login::code::{self, Exchanged, Profile};
use crate::sso_login::outcome::LoginRecord as LoginOutcome;
use crate::sso_login::{self, Failure, browser};
use crate::tokens::{ACCESS_TOKEN_TTL_SECONDS, TokenKeys, TokenType};
use lambda_http::http::StatusCode;
use lambda_http::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;

/// Longest app `state`, in characters.
const STATE_MAX_CHARS: usize = 512;
/// Longest `login_hint`, in characters.
const LOGIN_HINT_MAX_CHARS: usize = 256;
/// How long the callback's sign-in may take, provider included.
const SIGN_IN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(7);
/// The scopes Tether asks every provider for.
const SCOPES: &str = "openid email profile";

fn bad_query(name: &str, problem: &'static str) -> ApiError {
    ApiError::InvalidQueryParameter {
        name: name.to_owned(),
        problem,
    }
}

/// `GET /v1/sso/authorize` → 302 to the provider with a new login attempt,
/// or a 400/422 envelope (never a redirect) until the app's `redirect_uri`
/// is known to be registered.
pub async fn authorize(ctx: Ctx, _: NoBody, keyring: Arc<Keyring>) -> Result<Reply, ApiError> {
    let query = &ctx.query;
    query.only(&[
        "identity_provider_id",
        "organization_id",
        "redirect_uri",
        "state",
        "login_hint",
        "code_challenge",
        "code_challenge_method",
    ])?;
    let redirect_uri = query
        .single("redirect_uri")?
        .ok_or_else(|| bad_query("redirect_uri", "is required"))?;
    let app_state = query.single("state")?;
    if app_state.is_some_and(|s| s.chars().count() > STATE_MAX_CHARS) {
        return Err(bad_query("state", "must be at most 512 characters"));
    }
    let login_hint = query.single("login_hint")?;
    if login_hint.is_some_and(|s| s.chars().count() > LOGIN_HINT_MAX_CHARS) {
        return Err(bad_query("login_hint", "must be at most 256 characters"));
    }
    let challenge = query.single("code_challenge")?;
    match (challenge, query.single("code_challenge_method")?) {
        (Some(c), Some("S256")) if sso_login::is_pkce_value(c) => {}
        (Some(_), Some("S256")) => {
            return Err(bad_query(
                "code_challenge",
                "must be 43 to 128 unreserved characters",
            ));
        }
        (None, None) => {}
        (_, _) => {
            return Err(bad_query(
                "code_challenge_method",
                "must be S256, sent with code_challenge",
            ));
        }
    }
    let connection = match (
        query.single("identity_provider_id")?,
        query.single("organization_id")?,
    ) {
        (Some(id), None) => {
            let id = IdentityProviderId::parse(id).map_err(|_| {
                bad_query("identity_provider_id", "must be an identity provider id")
            })?;
            identity_providers::connection(&ctx.app.store, id)
                .await?
                .ok_or(ApiError::UnknownIdentityProvider)?
        }
        (None, Some(org)) => {
            let org = OrganizationId::parse(org)
                .map_err(|_| bad_query("organization_id", "must be an organization id"))?;
            only_connection_of(&ctx, org).await?
        }
        _ => {
            return Err(bad_query(
                "identity_provider_id",
                "send exactly one of identity_provider_id and organization_id",
            ));
        }
    };
    // Before anything else is written or redirected: never an open redirect.
    if !connection.allows_redirect(redirect_uri) {
        return Err(bad_query(
            "redirect_uri",
            "is not one of the connection's redirect_uris",
        ));
    }
    let app = AppReturn {
        redirect_uri: redirect_uri.to_owned(),
        state: app_state.map(str::to_owned),
    };
    match start_attempt(
        &ctx, &keyring, connection, &app, challenge, login_hint, false,
    )
    .await
    {
        Ok(reply) => Ok(reply),
        Err(err) => {
            tracing::error!(error = %err, "the login attempt could not be started");
            app.failed(Failure::ServerError("internal"))
        }
    }
}

/// The organization's only enabled login connection: two markers read at
/// most, then the one connection.
async fn only_connection_of(ctx: &Ctx, org: OrganizationId) -> Result<Connection, ApiError> {
    use identity_providers::Connections;
    let store = &ctx.app.store;
    match identity_providers::connections_of(store, org).await? {
        Connections::Only(id) => identity_providers::connection(store, id)
            .await?
            .ok_or(ApiError::NoLoginConnection { reason: "none" }),
        Connections::None => Err(ApiError::NoLoginConnection { reason: "none" }),
        Connections::Several => Err(ApiError::NoLoginConnection { reason: "several" }),
    }
}

/// Records the attempt and sends the browser to the provider; a
/// `portal_test` attempt comes back to the portal's page `app` names.
pub(crate) async fn start_attempt(
    ctx: &Ctx,
    keyring: &Keyring,
    connection: Connection,
    app: &AppReturn,
    app_challenge: Option<&str>,
    login_hint: Option<&str>,
    portal_test: bool,
) -> Result<Reply, ApiError> {
    let base = &ctx.app.config.public_base_url;
    let now = ctx.app.clock.now().unix_timestamp();
    let secret = || sso_login::random_secret().map_err(ApiError::internal);
    let state = secret()?;
    // A browser signing in twice at once (two tabs) keeps one binding.
    let binding = match browser::binding_of(&ctx.headers, base) {
        Some(binding) => binding,
        None => secret()?,
    };
    let secrets = attempt::Secrets {
        nonce: secret()?,
        code_verifier: secret()?,
        redirect_uri: app.redirect_uri.clone(),
        app_state: app.state.clone(),
        app_code_challenge: app_challenge.map(str::to_owned),
        connection,
        portal_test,
    };
    let connection = &secrets.connection;
    let mut to = url::Url::parse(&connection.authorization_endpoint).map_err(ApiError::internal)?;
    to.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &connection.client_id)
        .append_pair("redirect_uri", &connection.callback_url)
        .append_pair("scope", SCOPES)
        .append_pair("state", &state)
        .append_pair("nonce", &secrets.nonce)
        .append_pair(
            "code_challenge",
            &sso_login::s256_challenge(&secrets.code_verifier),
        )
        .append_pair("code_challenge_method", "S256");
    if let Some(hint) = login_hint {
        to.query_pairs_mut().append_pair("login_hint", hint);
    }
    let attempt = Attempt {
        organization_id: connection.organization_id,
        identity_provider_id: connection.identity_provider_id,
        secrets,
        expires_at: now + attempt::LIFETIME_SECONDS,
    };
    attempt::put(&ctx.app.store, keyring, &state, &binding, &attempt, now).await?;
    Reply::empty(StatusCode::FOUND)
        .header(LOCATION, to.as_str())?
        .header(SET_COOKIE, &browser::set_cookie(base, &binding))
}

/// Where and how the browser goes back to the app.
pub(crate) struct AppReturn {
    /// The app's `redirect_uri` (the portal's page for a test).
    pub(crate) redirect_uri: String,
    /// The app's `state`.
    pub(crate) state: Option<String>,
}

impl AppReturn {
    /// 302 to the app's `redirect_uri` with `params` and its `state`.
    fn redirect(&self, params: &[(&str, &str)]) -> Result<Reply, ApiError> {
        let mut to = url::Url::parse(&self.redirect_uri).map_err(ApiError::internal)?;
        {
            let mut query = to.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
        }
        Reply::empty(StatusCode::FOUND).header(LOCATION, to.as_str())
    }

    /// 302 to the app with `error` and `error_description`.
    fn failed(&self, failure: Failure) -> Result<Reply, ApiError> {
        self.redirect(&[
            ("error", failure.error()),
            ("error_description", failure.description()),
        ])
    }
}

/// `GET /v1/sso/callback/{identity_provider_id}` — a connection's own
/// callback (its `login.callback_url`) → 302 to the app with `code` and its
/// `state`, or with `error` and `error_description`; 400 (no redirect) when
/// the attempt is unknown, used, or another browser's. An attempt of
/// another connection fails before its code goes anywhere (mix-up).
pub async fn connection_callback(
    ctx: Ctx,
    _: NoBody,
    uses: (Arc<Outbound>, Arc<Keyring>),
) -> Result<Reply, ApiError> {
    let id = ctx
        .path_id("identity_provider_id", IdentityProviderId::parse)
        .map_err(|_| ApiError::InvalidLoginAttempt {
            reason: "malformed",
        })?;
    complete(ctx, uses, sign_in::Leg::Connection(id)).await
}

/// `GET /v1/sso/callback` — the callback shared by every connection: as
/// [`connection_callback`], for providers that name themselves in their
/// answer (RFC 9207 `iss`), which is then required.
pub async fn callback(
    ctx: Ctx,
    _: NoBody,
    uses: (Arc<Outbound>, Arc<Keyring>),
) -> Result<Reply, ApiError> {
    complete(ctx, uses, sign_in::Leg::Shared).await
}

async fn complete(
    ctx: Ctx,
    (outbound, keyring): (Arc<Outbound>, Arc<Keyring>),
    leg: sign_in::Leg,
) -> Result<Reply, ApiError> {
    let malformed = ApiError::InvalidLoginAttempt {
        reason: "malformed",
    };
    let state = match ctx.query.single("state") {
        Ok(Some(state)) if state.len() <= STATE_MAX_CHARS => state,
        _ => return Err(malformed),
    };
    let base = &ctx.app.config.public_base_url;
    let binding = browser::binding_of(&ctx.headers, base).ok_or(ApiError::InvalidLoginAttempt {
        reason: "browser_mismatch",
    })?;
    let attempt = match attempt::consume(&ctx.app.store, &keyring, state, &binding).await? {
        Consumed::Taken(attempt) => attempt,
        Consumed::Unknown => return Err(ApiError::InvalidLoginAttempt { reason: "unknown" }),
        Consumed::OtherBrowser => {
            return Err(ApiError::InvalidLoginAttempt {
                reason: "browser_mismatch",
            });
        }
    };
    let app = AppReturn {
        redirect_uri: attempt.secrets.redirect_uri.clone(),
        state: attempt.secrets.app_state.clone(),
    };
    let (org, provider_id) = (attempt.organization_id, attempt.identity_provider_id);
    let mut token_request = sign_in::TokenRequest::default();
    // One deadline for all the sign-in's outbound work and writes, well
    // inside the function's 10 s: a slow provider still gets an answer.
    let signed_in = tokio::time::timeout(
        SIGN_IN_DEADLINE,
        sign_in::sign_in(&ctx, &outbound, &keyring, &attempt, leg, &mut token_request),
    )
    .await
    .unwrap_or(Err(Failure::ServerError("timeout")));
    let token_request_ms = token_request.took.as_secs_f64() * 1000.0;
    let token_request_alone_ms = token_request.alone.as_secs_f64() * 1000.0;
    let now = ctx.app.clock.now();
    if attempt.secrets.portal_test {
        return tested::tested(&ctx, &attempt, signed_in, &app.redirect_uri);
    }
    match signed_in {
        Ok(sign_in::SignedIn::Tested(_)) => Err(ApiError::internal("a test outside the portal")),
        Ok(sign_in::SignedIn::Code(code)) => {
            tracing::info!(
                target: "tether::sso",
                organization_id = %org,
                identity_provider_id = %provider_id,
                outcome = "succeeded",
                token_request_ms,
                token_request_alone_ms,
                "sso login"
            );
            app.redirect(&[("code", &code)])
        }
        Err(failure) => {
            tracing::info!(
                target: "tether::sso",
                organization_id = %org,
                identity_provider_id = %provider_id,
                outcome = "failed",
                reason = failure.reason(),
                token_request_ms,
                token_request_alone_ms,
                "sso login"
            );
            let record = LoginOutcome::failed(org, provider_id, failure, now);
            if let Err(err) = record.store(&ctx.app.store).await {
                tracing::error!(error = %err, "the failed sign-in's record was not stored");
            }
            // Back to the app only while its URL is still the connection's:
            // one read, on failures only (a success checked it already).
            let still = identity_providers::connection(&ctx.app.store, provider_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.allows_redirect(&app.redirect_uri));
            if failure == Failure::RedirectUriRemoved {
                return Err(ApiError::InvalidLoginAttempt {
                    reason: "redirect_uri_removed",
                });
            }
            if !still {
                return Err(ApiError::InvalidLoginAttempt {
                    reason: "connection_changed",
                });
            }
            app.failed(failure)
        }
    }
}

/// `POST /v1/sso/token` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SsoTokenRequest")]
pub struct SsoToken {
    /// The `tsc_` code the app's `redirect_uri` received.
    #[schemars(length(min = 47, max = 47))]
    pub code: String,
    /// The PKCE verifier, required when the app sent `code_challenge`.
    #[schemars(length(min = 43, max = 128))]
    pub code_verifier: Option<String>,
}

impl ParseBody for SsoToken {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let code = object.required_string("code", 64).filter(|code| {
            let ok = code::is_well_formed(code);
            if !ok {
                object.problem("code", "must be a tsc_ code");
            }
            ok
        });
        let code_verifier = object.optional_string("code_verifier", 128).filter(|v| {
            let ok = sso_login::is_pkce_value(v);
            if !ok {
                object.problem("code_verifier", "must be 43 to 128 unreserved characters");
            }
            ok
        });
        Some(Self {
            code: code?,
            code_verifier,
        })
    }
}

/// `POST /v1/sso/token` → 200.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SsoTokenResponse")]
pub struct SsoTokenResponse<'a> {
    /// The signed-in end user.
    pub end_user: end_users::EndUser<'a>,
    /// The identity it signed in with.
    pub identity: identities::Identity<'a>,
    /// What the provider said about the person.
    pub profile: &'a Profile,
    /// An access token for the end user (EdDSA JWT).
    pub access_token: &'a str,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// `POST /v1/sso/token` → 200 with the signed-in end user and an access
/// token; 422 `invalid_grant` for a code that is unknown, expired, of
/// another organization, unmatched by its PKCE verifier or reused — a reuse
/// also revokes the end user's access tokens (RFC 6749 §4.1.2).
pub async fn token(
    ctx: OrgCtx,
    body: Json<SsoToken>,
    keys: Arc<TokenKeys>,
) -> Result<Reply, ApiError> {
    let store = &ctx.app.store;
    let now = ctx.app.clock.now().unix_timestamp();
    let SsoToken {
        code,
        code_verifier,
    } = body.value;
    let issued = match code::exchange(store, ctx.org, &code, code_verifier.as_deref(), now).await? {
        Exchanged::Won(issued) => issued,
        Exchanged::Reused(issued) => {
            end_users::store::revoke_tokens(store, ctx.org, issued.end_user_id).await?;
            return Err(ApiError::InvalidGrant { reason: "reused" });
        }
        Exchanged::Unknown => return Err(ApiError::InvalidGrant { reason: "unknown" }),
        Exchanged::Expired => return Err(ApiError::InvalidGrant { reason: "expired" }),
        Exchanged::Pkce => return Err(ApiError::InvalidGrant { reason: "pkce" }),
    };
    let user = end_users::find(store, ctx.org, issued.end_user_id).await?;
    if user.as_ref().is_some_and(|u| u.is_suspended()) {
        return Err(ApiError::UserSuspended);
    }
    let user = user
        .filter(|u| u.honours_token(issued.token_generation))
        .ok_or(ApiError::InvalidGrant {
            reason: "user_not_found",
        })?;
    let token = keys
        .mint(ctx.org, user.id, issued.token_generation, now)
        .map_err(ApiError::internal)?;
    Reply::json(
        StatusCode::OK,
        &SsoTokenResponse {
            end_user: user.view(),
            identity: issued.identity.view(),
            profile: &issued.profile,
            access_token: &token,
            token_type: TokenType::Bearer,
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
        },
    )?
    .header(CACHE_CONTROL, "no-store")
}
