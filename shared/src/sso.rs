//! SSO identities (SPEC §10): the `POST /v1/me/sso/link` body and the
//! verification of an identity provider's id_token against its key set.

use crate::error::ApiError;
use crate::identity_providers::keys::{self, VerifiedProvider};
use crate::identity_providers::{ALLOWED_ALGORITHMS, ProviderRecord};
use crate::ids::IdentityProviderId;
use crate::outbound::Outbound;
use crate::parse::{JsonObject, ParseBody};
use crate::store::Store;
use crate::wire::PathId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// `POST /v1/me/sso/link` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SsoLinkRequest")]
pub struct SsoLink {
    /// The organization's identity provider that issued the id_token.
    #[schemars(with = "PathId")]
    pub identity_provider_id: IdentityProviderId,
    /// A compact JWS (RS256, ES256 or EdDSA).
    #[schemars(length(min = 1, max = ID_TOKEN_MAX_CHARS))]
    pub id_token: String,
    /// When sent, the id_token's `nonce` must equal it (422 `invalid_id_token`, reason `nonce`).
    #[schemars(length(max = NONCE_MAX_CHARS))]
    pub nonce: Option<String>,
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

/// Verifies an id_token with the provider's keys (SPEC §9, §10), fetching
/// them first when stale, or once when the token's `kid` is unknown — both
/// only if this request wins the claim. `Err` of the inner result is the
/// `details.reason` of 422 `invalid_id_token`.
pub async fn verify_with_fresh_keys(
    store: &Store,
    outbound: &Outbound,
    provider: &VerifiedProvider,
    token: &str,
    now: time::OffsetDateTime,
    nonce: Option<&str>,
) -> Result<Result<IdClaims, &'static str>, ApiError> {
    let at = now.unix_timestamp();
    let check =
        |keys: &keys::WarmKeys| verify_id_token(token, &provider.record, &keys.set, at, nonce);
    if provider.record.key_source == crate::identity_providers::KeySource::Pinned {
        return Ok(check(&provider.keys()));
    }
    let mut current = provider.keys();
    let mut fetched = false;
    if current.fresh_until <= at && current.quiet_until <= at {
        (current, fetched) =
            keys::refresh(store, outbound, provider, now, keys::Need::Fresh).await?;
    }
    match check(&current) {
        // One fetch per request at most.
        Err("unknown_key") if !fetched => {
            let (refetched, _) =
                keys::refresh(store, outbound, provider, now, keys::Need::Kid).await?;
            Ok(check(&refetched))
        }
        verdict => Ok(verdict),
    }
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

/// A time claim (RFC 7519 NumericDate: seconds, fractions allowed and
/// rounded down): `None` when absent; present but not a number within
/// `i64` seconds is `malformed`, whatever the claim (`exp`, `iat` and `nbf`
/// alike).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, &'static str> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    if let Some(whole) = value.as_i64() {
        return Ok(Some(whole));
    }
    let seconds = value.as_f64().filter(|f| f.is_finite()).map(f64::floor);
    // i64::MAX is not exact as an f64: compare against 2^63.
    match seconds {
        Some(f) if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) =>
        {
            #[allow(clippy::cast_possible_truncation, reason = "in range, checked above")]
            Ok(Some(f as i64))
        }
        _ => Err("malformed"),
    }
}

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
    let exp = numeric_date(&claims, "exp")?.ok_or("malformed")?;
    let iat = numeric_date(&claims, "iat")?.ok_or("malformed")?;
    let nbf = numeric_date(&claims, "nbf")?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err("expired");
    }
    // A token from the future, or not valid yet, is not valid now either.
    let horizon = now.saturating_add(LEEWAY_SECONDS);
    if iat > horizon || nbf.is_some_and(|nbf| nbf > horizon) {
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
