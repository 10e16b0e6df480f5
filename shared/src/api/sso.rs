//! SSO login (SPEC §17): the browser's two legs (`authorize`, `callback`)
//! and the app's code exchange (`token`).

use crate::authz::{self, IdentityContext};
use crate::end_users::{self, EndUserRecord, Status};
use crate::error::ApiError;
use crate::identities::{self, IdentityRecord, LinkedBy};
use crate::identity_providers::login::{ClientAuthMethod, LoginRecord, Provisioning};
use crate::identity_providers::{self, ProviderRecord, keys::VerifiedProvider};
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::outbound::{ClientAuth, Outbound};
use crate::parse::{JsonObject, ParseBody};
use crate::pipeline::{Ctx, Json, NoBody, OrgCtx, Reply};
use crate::sealed::Keyring;
use crate::sso_login::attempt::{self, Attempt, Consumed};
use crate::sso_login::code::{self, Exchanged, Issued, Profile};
use crate::sso_login::outcome::LoginRecord as LoginOutcome;
use crate::sso_login::{self, Failure, browser};
use crate::store::{self, Record as _, StoreError};
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
    let provider = match (
        query.single("identity_provider_id")?,
        query.single("organization_id")?,
    ) {
        (Some(id), None) => {
            let id = IdentityProviderId::parse(id).map_err(|_| {
                bad_query("identity_provider_id", "must be an identity provider id")
            })?;
            connection_by_id(&ctx, id).await?
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
    let Some(login) = provider.login.as_ref().filter(|l| l.enabled) else {
        return Err(ApiError::UnknownIdentityProvider);
    };
    // Before anything else is written or redirected: never an open redirect.
    if !login.allows_redirect(redirect_uri) {
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
        &ctx, &keyring, &provider, login, &app, challenge, login_hint,
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

/// The connection a provider id names: its pointer gives the organization.
async fn connection_by_id(ctx: &Ctx, id: IdentityProviderId) -> Result<ProviderRecord, ApiError> {
    let store = &ctx.app.store;
    let pointer = store::get_items(store, &[identity_providers::connection_pointer(id)])
        .await?
        .into_iter()
        .next()
        .flatten();
    let org = pointer
        .as_ref()
        .and_then(|item| store::get_s(item, "organization_id"))
        .and_then(|org| OrganizationId::parse(org).ok())
        .ok_or(ApiError::UnknownIdentityProvider)?;
    identity_providers::get(store, org, id)
        .await?
        .ok_or(ApiError::UnknownIdentityProvider)
}

/// The organization's only enabled login connection.
async fn only_connection_of(ctx: &Ctx, org: OrganizationId) -> Result<ProviderRecord, ApiError> {
    // The organization's providers are capped: one bounded page.
    let (providers, _) = identity_providers::list(&ctx.app.store, org, None, 100).await?;
    let mut enabled = providers
        .into_iter()
        .filter(|p| p.login.as_ref().is_some_and(|l| l.enabled));
    match (enabled.next(), enabled.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(ApiError::NoLoginConnection { reason: "none" }),
        (Some(_), Some(_)) => Err(ApiError::NoLoginConnection { reason: "several" }),
    }
}

/// Records the attempt and sends the browser to the provider.
async fn start_attempt(
    ctx: &Ctx,
    keyring: &Keyring,
    provider: &ProviderRecord,
    login: &LoginRecord,
    app: &AppReturn,
    app_challenge: Option<&str>,
    login_hint: Option<&str>,
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
    };
    let mut to = url::Url::parse(&login.authorization_endpoint).map_err(ApiError::internal)?;
    to.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &login.callback_url)
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
        organization_id: provider.organization_id,
        identity_provider_id: provider.id,
        secrets,
        expires_at: now + attempt::LIFETIME_SECONDS,
    };
    attempt::put(&ctx.app.store, keyring, &state, &binding, &attempt, now).await?;
    Reply::empty(StatusCode::FOUND)
        .header(LOCATION, to.as_str())?
        .header(SET_COOKIE, &browser::set_cookie(base, &binding))
}

/// Where and how the browser goes back to the app.
struct AppReturn {
    redirect_uri: String,
    state: Option<String>,
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

/// `GET /v1/sso/callback` → 302 to the app with `code` and its `state`, or
/// with `error` and `error_description`; 400 (no redirect) when the
/// attempt is unknown, used, or another browser's.
pub async fn callback(
    ctx: Ctx,
    _: NoBody,
    (outbound, keyring): (Arc<Outbound>, Arc<Keyring>),
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
    let started = std::time::Instant::now();
    let signed_in = sign_in(&ctx, &outbound, &keyring, &attempt).await;
    let now = ctx.app.clock.now();
    match signed_in {
        Ok(code) => {
            tracing::info!(
                target: "tether::sso",
                organization_id = %org,
                identity_provider_id = %provider_id,
                outcome = "succeeded",
                callback_ms = started.elapsed().as_secs_f64() * 1000.0,
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
                "sso login"
            );
            let record = LoginOutcome::failed(org, provider_id, failure, now);
            if let Err(err) = record.store(&ctx.app.store).await {
                tracing::error!(error = %err, "the failed sign-in's record was not stored");
            }
            app.failed(failure)
        }
    }
}

/// An internal error on the way: logged, the app hears `server_error`.
fn internal(err: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %err, "the sign-in failed inside Tether");
    Failure::ServerError("internal")
}

/// The callback's work once the attempt is taken: the provider's answer,
/// the code exchange, the id_token, the end user, the decision, the code.
async fn sign_in(
    ctx: &Ctx,
    outbound: &Outbound,
    keyring: &Keyring,
    attempt: &Attempt,
) -> Result<String, Failure> {
    let now = ctx.app.clock.now();
    if attempt.expires_at <= now.unix_timestamp() {
        return Err(Failure::AccessDenied("expired"));
    }
    let query = &ctx.query;
    match query.single("error") {
        Ok(None) => {}
        Ok(Some("access_denied")) => return Err(Failure::AccessDenied("access_denied")),
        _ => return Err(Failure::ServerError("provider_error")),
    }
    let org = attempt.organization_id;
    let (organization, policies, [provider]) = authz::organization_with_policies_and(
        &ctx.app,
        org,
        [Some((
            crate::organizations::org_pk(org),
            identity_providers::provider_sk(attempt.identity_provider_id),
        ))],
    )
    .await
    .map_err(internal)?;
    let organization = organization.ok_or(Failure::ServerError("connection_disabled"))?;
    let provider: ProviderRecord = provider
        .map(store::from_item)
        .transpose()
        .map_err(internal)?
        .ok_or(Failure::ServerError("connection_disabled"))?;
    let login = provider
        .login
        .clone()
        .filter(|l| l.enabled)
        .ok_or(Failure::ServerError("connection_disabled"))?;
    // RFC 9207: a provider that names itself must be this one (mix-up).
    match query.single("iss") {
        Ok(None) => {}
        Ok(Some(iss)) if iss == provider.issuer => {}
        _ => return Err(Failure::ServerError("issuer_mismatch")),
    }
    let code = match query.single("code") {
        Ok(Some(code)) if !code.is_empty() && code.len() <= 2048 => code,
        _ => return Err(Failure::ServerError("no_code")),
    };
    let id_token = exchange_code(outbound, keyring, &provider, &login, code, attempt).await?;
    let verified = VerifiedProvider::new(provider.clone()).map_err(internal)?;
    let claims = crate::sso::verify_with_fresh_keys(
        &ctx.app.store,
        outbound,
        &verified,
        &id_token,
        now,
        Some(&attempt.secrets.nonce),
    )
    .await
    .map_err(internal)?
    .map_err(Failure::InvalidIdToken)?;
    let email_verified = claims.email_verified == Some(true);
    let profile = Profile {
        sub: claims.subject.clone(),
        email: claims.email.clone(),
        email_verified: claims.email_verified,
        name: claims.name.clone(),
        preferred_username: claims.username.clone(),
        issuer: provider.issuer.clone(),
    };
    let resolved = resolve(ctx, org, provider.id, &login, &profile).await?;
    let user_id = resolved.user().id;
    let identity = match &resolved {
        Resolved::Linked(_, linked) => (**linked).clone(),
        _ => {
            let mut identity = IdentityRecord::new(
                org,
                user_id,
                provider.id,
                claims.subject.clone(),
                claims.username.clone(),
                claims.email.clone(),
                claims.name.clone(),
                LinkedBy::Sso,
                now,
            );
            identity.external_email_verified = email_verified;
            identity
        }
    };
    let context = IdentityContext {
        identity_provider_id: provider.id.to_string(),
        external_id: claims.subject.clone(),
        // Only a verified address can meet an email policy (SPEC §8).
        external_email: claims.email.clone().filter(|_| email_verified),
        external_username: claims.username.clone(),
        external_email_verified: email_verified,
    };
    let end_user = authz::Principal::EndUser {
        id: user_id,
        organization: org,
    };
    authz::engine()
        .authorize(
            &authz::Question {
                principal: &end_user,
                action: "sso.login",
                resource: authz::Resource::EndUser {
                    id: user_id,
                    organization: org,
                },
                source_ip: &ctx.source_ip,
                identity: Some(&context),
            },
            policies.as_deref(),
        )
        .map_err(|_| Failure::PolicyDenied)?;
    let code = code::generate().map_err(internal)?;
    let issued = Issued {
        end_user_id: user_id,
        identity_provider_id: provider.id,
        token_generation: resolved.user().token_generation,
        code_challenge: attempt.secrets.app_code_challenge.clone(),
        identity: identity.clone(),
        profile,
    };
    let record = LoginOutcome::succeeded(org, provider.id, user_id, identity.id, now);
    write_sign_in(
        ctx,
        &organization,
        &resolved,
        &identity,
        &code,
        &issued,
        &record,
    )
    .await?;
    Ok(code)
}

/// The code exchange at the provider's token endpoint: its id_token.
async fn exchange_code(
    outbound: &Outbound,
    keyring: &Keyring,
    provider: &ProviderRecord,
    login: &LoginRecord,
    code: &str,
    attempt: &Attempt,
) -> Result<String, Failure> {
    let (pk, sk) = provider.item_key().pair();
    let secret = keyring
        .open(
            &LoginRecord::secret_aad(pk, sk),
            &login.client_secret_sealed,
        )
        .and_then(|plain| String::from_utf8(plain).ok())
        .ok_or_else(|| internal("the client secret does not open with the deployment key"))?;
    let auth = match login.client_auth {
        ClientAuthMethod::ClientSecretBasic => ClientAuth::Basic {
            id: &provider.client_id,
            secret: &secret,
        },
        ClientAuthMethod::ClientSecretPost => ClientAuth::Post {
            id: &provider.client_id,
            secret: &secret,
        },
    };
    let token_endpoint = url::Url::parse(&login.token_endpoint).map_err(internal)?;
    let answer = outbound
        .post_form(
            &token_endpoint,
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &login.callback_url),
                ("code_verifier", &attempt.secrets.code_verifier),
            ],
        )
        .await
        .map_err(|err| {
            tracing::info!(
                reason = err.reason(),
                "the provider's token endpoint failed"
            );
            Failure::ServerError("token_request")
        })?;
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|_| Failure::ServerError("token_response"))?;
    body.get("id_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| t.len() <= crate::sso::ID_TOKEN_MAX_CHARS)
        .map(str::to_owned)
        .ok_or(Failure::ServerError("token_response"))
}

/// Who signs in.
#[derive(Debug)]
enum Resolved {
    /// The end user the identity is already linked to.
    Linked(EndUserRecord, Box<IdentityRecord>),
    /// The one active end user with the verified email, to link.
    ByEmail(EndUserRecord),
    /// A new end user, to create with the identity.
    New(EndUserRecord),
}

impl Resolved {
    fn user(&self) -> &EndUserRecord {
        match self {
            Self::Linked(user, _) | Self::ByEmail(user) | Self::New(user) => user,
        }
    }
}

/// Resolves the end user (reads only): the linked identity's, else by the
/// connection's provisioning.
async fn resolve(
    ctx: &Ctx,
    org: OrganizationId,
    provider: IdentityProviderId,
    login: &LoginRecord,
    profile: &Profile,
) -> Result<Resolved, Failure> {
    let store = &ctx.app.store;
    let linked = identities::store::find_by_pair(store, org, provider, &profile.sub)
        .await
        .map_err(internal)?;
    if let Some(linked) = linked {
        let user = end_users::find(store, org, linked.user_id)
            .await
            .map_err(internal)?
            .filter(|u| u.status == Status::Active)
            .ok_or(Failure::UserNotFound("user_inactive"))?;
        return Ok(Resolved::Linked(user, Box::new(linked)));
    }
    match login.provisioning {
        Provisioning::Off => Err(Failure::UserNotFound("no_identity")),
        Provisioning::LinkVerifiedEmail => {
            let email = profile
                .email
                .clone()
                .filter(|_| profile.email_verified == Some(true))
                .ok_or(Failure::UserNotFound("email_not_verified"))?;
            let (found, _) = end_users::store::lookup(
                store,
                org,
                &end_users::store::Lookup::Email(email),
                None,
                10,
            )
            .await
            .map_err(internal)?;
            let mut active = found.into_iter().filter(|u| u.status == Status::Active);
            match (active.next(), active.next()) {
                (Some(only), None) => Ok(Resolved::ByEmail(only)),
                (None, _) => Err(Failure::UserNotFound("no_user_with_email")),
                (Some(_), Some(_)) => Err(Failure::UserNotFound("several_users_with_email")),
            }
        }
        Provisioning::Create => {
            let verified = profile.email_verified == Some(true);
            // An unverified address never becomes the user's: it could
            // later make someone else's identity match by email.
            let email = profile
                .email
                .clone()
                .filter(|_| verified)
                .and_then(|e| end_users::Email::parse(e).ok());
            let input = end_users::CreateEndUser {
                email,
                display_name: profile
                    .name
                    .clone()
                    .filter(|n| n.chars().count() <= end_users::domain::TEXT_MAX_CHARS),
                ..Default::default()
            };
            Ok(Resolved::New(EndUserRecord::new(
                org,
                input,
                ctx.app.clock.now(),
            )))
        }
    }
}

/// Writes the sign-in in one transaction: the code and its record, with the
/// end user checked (or created and counted) and the identity linked.
async fn write_sign_in(
    ctx: &Ctx,
    organization: &crate::organizations::Organization,
    resolved: &Resolved,
    identity: &IdentityRecord,
    code: &str,
    issued: &Issued,
    record: &LoginOutcome,
) -> Result<(), Failure> {
    let store = &ctx.app.store;
    let now = ctx.app.clock.now().unix_timestamp();
    let org = organization.id;
    let ours = || -> Result<Vec<_>, StoreError> {
        Ok(vec![
            code::put(store, org, code, issued, now)?,
            record.put(store)?,
        ])
    };
    match resolved {
        Resolved::New(user) => {
            let outcome = crate::relationships::create_counted(store, organization, |slot| {
                let mut user = user.clone();
                user.count_shard = slot;
                let mut items = vec![end_users::store::put_new_item(store, &user)?];
                items.extend(identities::store::identity_items(store, identity)?);
                items.extend(ours()?);
                Ok(items)
            })
            .await
            .map_err(internal)?;
            match outcome {
                Ok(()) => Ok(()),
                Err(crate::relationships::Refused::AtCeiling(_)) => {
                    Err(Failure::ServerError("relationship_quota_exceeded"))
                }
                // The identity was linked by a concurrent sign-in.
                Err(crate::relationships::Refused::Other(_)) => {
                    Err(Failure::ServerError("concurrent_sign_in"))
                }
            }
        }
        Resolved::Linked(user, _) | Resolved::ByEmail(user) => {
            let mut items = vec![end_users::store::still_active(store, user).map_err(internal)?];
            if matches!(resolved, Resolved::ByEmail(_)) {
                items.extend(identities::store::identity_items(store, identity).map_err(internal)?);
            }
            items.extend(ours().map_err(internal)?);
            match store::transact(store, items).await {
                Ok(()) => Ok(()),
                Err(StoreError::TransactionCanceled { .. }) => {
                    Err(Failure::UserNotFound("user_changed"))
                }
                Err(err) => Err(internal(err)),
            }
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
    let user = user
        .filter(|u| code::still_honoured(Some(u), &issued))
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
