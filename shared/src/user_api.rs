//! The user API and the token endpoints around it (SPEC §5, §10): minting an
//! access token for an end user, publishing the verification keys, `GET
//! /v1/me`, and `POST /v1/me/sso/link`.

use crate::authz::IdentityContext;
use crate::end_users::{self, Status};
use crate::error::ApiError;
use crate::identities::{self, IdentityRecord, LinkedBy, TokenBinding};
use crate::identity_providers::{self, ALLOWED_ALGORITHMS, ProviderRecord};
use crate::ids::{EndUserId, IdentityProviderId};
use crate::pipeline::{Ctx, Json, JsonObject, NoBody, OrgCtx, ParseBody, Reply, UserCtx};
use crate::tokens::{ACCESS_TOKEN_TTL_SECONDS, TokenKeys};
use crate::wire::PathId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::StatusCode;
use lambda_http::http::header::CACHE_CONTROL;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// A body that must be empty or `{}`.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EmptyRequest")]
pub struct NoFields {}

/// A minted access token.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AccessToken")]
pub struct AccessToken<'a> {
    /// An EdDSA-signed JWT (iss, sub, org, iat, exp, jti).
    pub access_token: &'a str,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until it expires.
    #[schemars(range(min = 1))]
    pub expires_in: i64,
}

/// The only token type (RFC 6750).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline)]
pub enum TokenType {
    /// `Bearer`.
    Bearer,
}

impl ParseBody for NoFields {
    fn parse(_: &mut JsonObject) -> Option<Self> {
        Some(Self {})
    }
}

fn token_keys(ctx: &Ctx) -> Result<&TokenKeys, ApiError> {
    ctx.app
        .tokens
        .as_ref()
        .ok_or_else(|| ApiError::internal("this function has no token key"))
}

/// `POST /v1/end-users/{user_id}/tokens` → 201 `{access_token, token_type, expires_in}`.
#[tracing::instrument(name = "tokens.create", skip_all)]
pub async fn create_token(ctx: OrgCtx, _: Json<NoFields>) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.path_id("user_id", EndUserId::parse)?;
    let record = end_users::find(&ctx.app.store, org, user)
        .await?
        .ok_or(ApiError::NotFound {
            resource: "end_user",
        })?;
    if record.status == Status::Deleting {
        return Err(ApiError::UserDeleting);
    }
    let token = token_keys(&ctx)?
        .mint(org, user, ctx.app.clock.now().unix_timestamp())
        .map_err(ApiError::internal)?;
    Reply::json(
        StatusCode::CREATED,
        &AccessToken {
            access_token: &token,
            token_type: TokenType::Bearer,
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
        },
    )?
    .header(CACHE_CONTROL, "no-store")
}

/// `GET /.well-known/jwks.json`: the public keys that verify access tokens.
#[tracing::instrument(name = "jwks.read", skip_all)]
pub async fn jwks(ctx: Ctx, _: NoBody) -> Result<Reply, ApiError> {
    Reply::json(StatusCode::OK, &token_keys(&ctx)?.jwks())?
        .header(CACHE_CONTROL, "public, max-age=300")
}

/// `GET /v1/me` → the authenticated end user.
#[tracing::instrument(name = "me.read", skip_all)]
pub async fn me(ctx: UserCtx, _: NoBody) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.user;
    // A token whose end user was purged no longer names anyone.
    let record = end_users::find(&ctx.app.store, org, user)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    Reply::json(StatusCode::OK, &record.view())?
        .header(lambda_http::http::header::ETAG, &record.etag())
}

/// `POST /v1/me/sso/link` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SsoLinkRequest")]
pub struct SsoLink {
    /// The organization's identity provider that issued the id_token.
    #[schemars(with = "PathId")]
    identity_provider_id: IdentityProviderId,
    /// A compact JWS (RS256, ES256 or EdDSA).
    #[schemars(length(min = 1, max = ID_TOKEN_MAX_CHARS))]
    id_token: String,
    /// When sent, the id_token's `nonce` must equal it (422 `invalid_id_token`, reason `nonce`).
    #[schemars(length(max = NONCE_MAX_CHARS))]
    nonce: Option<String>,
}

/// Longest accepted `nonce`, in characters.
const NONCE_MAX_CHARS: usize = 256;

/// Longest accepted SSO id_token, in characters.
pub const ID_TOKEN_MAX_CHARS: usize = 16 * 1024;

impl ParseBody for SsoLink {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let identity_provider_id =
            object.required_id("identity_provider_id", 64, IdentityProviderId::parse);
        let id_token = object.required_string("id_token", ID_TOKEN_MAX_CHARS);
        let nonce = object.optional_string("nonce", NONCE_MAX_CHARS);
        Some(Self {
            identity_provider_id: identity_provider_id?,
            id_token: id_token?,
            nonce,
        })
    }
}

/// `POST /v1/me/sso/link` → 201 new link (`linked_by: "user"`), 200 already
/// mine, 409 another user's (not disclosed), 422 `invalid_id_token`.
#[tracing::instrument(name = "sso.link", skip_all)]
pub async fn link_sso(ctx: UserCtx, body: Json<SsoLink>) -> Result<Reply, ApiError> {
    let org = ctx.org;
    let user = ctx.user;
    let SsoLink {
        identity_provider_id: provider_id,
        id_token,
        nonce,
    } = body.value;
    let provider = identity_providers::verified(&ctx.app, org, provider_id)
        .await?
        .ok_or(ApiError::UnknownIdentityProvider)?;
    let now = ctx.app.clock.now().unix_timestamp();
    let claims = verify_id_token(
        &id_token,
        &provider.record,
        &provider.jwks,
        now,
        nonce.as_deref(),
    )
    .map_err(|reason| ApiError::InvalidIdToken { reason })?;
    let verified = claims.email_verified == Some(true);
    if let Some(replay) = ctx
        .authorize_identity(&IdentityContext {
            identity_provider_id: provider_id.to_string(),
            external_id: claims.subject.clone(),
            // Only a verified address can meet an email policy (SPEC §8).
            external_email: claims.email.clone().filter(|_| verified),
            external_username: claims.username.clone(),
            external_email_verified: verified,
        })
        .await?
    {
        return Ok(replay);
    }
    let mut identity = IdentityRecord::new(
        org,
        user,
        provider_id,
        claims.subject,
        claims.username,
        claims.email,
        claims.name,
        LinkedBy::User,
        ctx.app.clock.now(),
    );
    identity.external_email_verified = verified;
    let binding = TokenBinding::new(&id_token, claims.expires_at, now);
    identities::link_reply(identities::link(&ctx.app.store, &identity, Some(&binding)).await?)
}

/// What a verified id_token says about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// `sub`: the identity at the provider.
    pub subject: String,
    /// `email`, when a string.
    pub email: Option<String>,
    /// `email_verified`, when the token has it (a boolean, or the strings
    /// `"true"`/`"false"` some providers send).
    pub email_verified: Option<bool>,
    /// `preferred_username`, when a string.
    pub username: Option<String>,
    /// `name`, when a string.
    pub name: Option<String>,
    /// `exp` (epoch seconds): the token is remembered until then.
    pub expires_at: i64,
}

/// Clock skew tolerated on `exp`, `iat` and `nbf` (SPEC §10).
const LEEWAY_SECONDS: i64 = 60;

/// Whether `jwk` is a key of `alg`'s family.
fn key_fits(jwk: &jsonwebtoken::jwk::Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    let family = matches!(
        (&jwk.algorithm, alg),
        (P::RSA(_), Algorithm::RS256)
            | (P::EllipticCurve(_), Algorithm::ES256)
            | (P::OctetKeyPair(_), Algorithm::EdDSA)
    );
    let declared = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
    family && declared.is_none_or(|d| d == format!("{alg:?}"))
}

/// Verifies an OIDC id_token against `provider` at `now` (epoch seconds),
/// every rule of SPEC §10 (OIDC Core §3.1.3.7): algorithm allowlist (RS256,
/// ES256, EdDSA — never `none` or HS*); `typ`, when present, `JWT`; the key
/// chosen by `kid` (or the set's only key of the algorithm when there is no
/// `kid`) and of the algorithm's type; signature; `iss` a string equal to
/// the issuer; `aud` containing the client id and, when `aud` has several
/// values or `azp` is present, `azp` equal to it; `exp`, `iat` and `nbf` with
/// 60 s leeway in arithmetic that cannot overflow; `nonce` equal to the
/// expected one when the caller sent one. The error is the `details.reason`
/// of the 422. `jwks` is the provider's key set, parsed.
pub fn verify_id_token(
    token: &str,
    provider: &ProviderRecord,
    jwks: &jsonwebtoken::jwk::JwkSet,
    now: i64,
    expected_nonce: Option<&str>,
) -> Result<IdClaims, &'static str> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed")?;
    // An access token (`at+jwt`) or anything else typed is not an id_token.
    if header
        .typ
        .as_deref()
        .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return Err("malformed");
    }
    let alg = match header.alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        // HS* would be "verified" with a public key as the HMAC secret.
        _ => return Err("signature"),
    };
    debug_assert!(ALLOWED_ALGORITHMS.contains(&alg));
    let jwk = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid).ok_or("unknown_key")?,
        None => {
            let mut fitting = jwks.keys.iter().filter(|k| key_fits(k, header.alg));
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => only,
                _ => return Err("unknown_key"),
            }
        }
    };
    if !key_fits(jwk, header.alg) {
        return Err("signature");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "unknown_key")?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&provider.client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    // `iss` and time are checked below: `iss` must be a string, and time is
    // read from the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_) => "signature",
            ErrorKind::InvalidIssuer => "issuer",
            ErrorKind::InvalidAudience => "audience",
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => "expired",
            _ => "malformed",
        },
    )?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err("issuer");
    }
    let several_audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|aud| aud.len() > 1);
    match claims.get("azp") {
        Some(azp) if azp.as_str() != Some(provider.client_id.as_str()) => {
            return Err("audience");
        }
        None if several_audiences => return Err("audience"),
        _ => {}
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or("malformed")?;
    let iat = number("iat").ok_or("malformed")?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err("expired");
    }
    // A token from the future, or not valid yet, is not valid now either.
    let horizon = now.saturating_add(LEEWAY_SECONDS);
    if iat > horizon || number("nbf").is_some_and(|nbf| nbf > horizon) {
        return Err("expired");
    }
    if let Some(expected) = expected_nonce
        && claims.get("nonce").and_then(Value::as_str) != Some(expected)
    {
        return Err("nonce");
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.chars().count() <= 256)
            .map(str::to_owned)
    };
    let subject = text("sub").ok_or("malformed")?;
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" => Some(true),
        Some(Value::String(s)) if s == "false" => Some(false),
        _ => None,
    };
    Ok(IdClaims {
        subject,
        email: text("email"),
        email_verified,
        username: text("preferred_username"),
        name: text("name"),
        expires_at: exp,
    })
}
