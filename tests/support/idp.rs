//! A fake OIDC identity provider for the tests: its keys (RS256 and ES256
//! from `tests/fixtures`, EdDSA from a fixed seed), its public JWKS, and a
//! signer of id_tokens with any header and claims.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The provider's issuer.
pub const ISSUER: &str = "https://sso.acme.example";
/// The organization's client id at the provider.
pub const CLIENT_ID: &str = "tether-demo";
const ED_SEED: [u8; 32] = [17; 32];
const RSA_PEM: &str = include_str!("../fixtures/idp-rsa.pem");
const EC_PEM: &str = include_str!("../fixtures/idp-ec.pem");

/// The provider's public key set: `rsa-1`, `ec-1`, `ed-1`.
pub fn jwks() -> Value {
    let mut jwks: Value =
        serde_json::from_str(include_str!("../fixtures/idp-jwks.json")).expect("fixture JWKS");
    let public = ed25519_dalek::SigningKey::from_bytes(&ED_SEED)
        .verifying_key()
        .to_bytes();
    jwks["keys"].as_array_mut().expect("keys").push(json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "alg": "EdDSA", "x": URL_SAFE_NO_PAD.encode(public)
    }));
    jwks
}

/// The `POST /v1/identity-providers` body of this provider.
pub fn provider_body() -> Value {
    json!({ "name": "Acme SSO", "issuer": ISSUER, "client_id": CLIENT_ID, "jwks": jwks() })
}

/// Claims of a valid id_token for `sub`, issued at `now`.
pub fn claims(sub: &str, now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": sub,
        "iat": now,
        "exp": now + 300,
        "email": format!("{sub}@example.com"),
        "preferred_username": sub,
        "name": format!("User {sub}"),
        // Every token a provider issues differs (Tether binds each to the
        // first end user who presents it).
        "jti": ulid::Ulid::generate().to_string(),
    })
}

/// The private key of `kid`, for `alg`.
fn key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("fixture RSA key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM.as_bytes()).expect("fixture EC key"),
        Algorithm::EdDSA => {
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend_from_slice(&ED_SEED);
            EncodingKey::from_ed_der(&der)
        }
        other => panic!("the test provider has no {other:?} key"),
    }
}

/// The kid of the key for `alg`.
pub fn kid(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "rsa-1",
        Algorithm::ES256 => "ec-1",
        _ => "ed-1",
    }
}

/// Signs `claims` with the provider's key for `alg`, header `kid` as given.
pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key(alg)).expect("sign")
}

/// Signs `claims` with the provider's key for `header.alg`, the header as given.
pub fn sign_with(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &key(header.alg)).expect("sign")
}

/// A valid RS256 id_token for `sub` at `now`.
pub fn id_token(sub: &str, now: i64) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), &claims(sub, now))
}

/// A JWT from raw parts (for attacks the signer refuses to make).
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An Ed25519 key of the provider other than `ed-1`: its public JWK with
/// `kid` (for rotations), from `seed`.
pub fn ed_jwk(seed: u8, kid: &str) -> Value {
    let public = ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes();
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA", "x": URL_SAFE_NO_PAD.encode(public)})
}

/// Signs `claims` with the Ed25519 key of `seed` ([`ed_jwk`]), header `kid`.
pub fn sign_ed(seed: u8, kid: &str, claims: &Value) -> String {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).expect("sign")
}
