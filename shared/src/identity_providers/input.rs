//! What callers send about identity providers, and the key sets they or
//! their issuers give us: parsed so that a value that exists is valid.

use super::ALLOWED_ALGORITHMS;
use crate::parse::{JsonObject, ParseBody};
use crate::wire::Jwks;
use jsonwebtoken::jwk::JwkSet;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

/// Most keys a provider's JWKS may hold.
const MAX_KEYS: usize = 20;
/// JWK members that belong to private or symmetric keys: never accepted.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// The JWK members a verification needs; the rest (certificate chains,
/// thumbprints) is not stored.
const KEPT_MEMBERS: &[&str] = &["kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"];

/// Longest provider name, in characters.
pub(super) const NAME_MAX_CHARS: usize = 128;
/// Longest issuer URL, in characters.
pub(super) const ISSUER_MAX_CHARS: usize = 512;
/// Longest client id, in characters.
pub(super) const CLIENT_ID_MAX_CHARS: usize = 256;
/// Longest `jwks_uri`, in characters.
pub(super) const URI_MAX_CHARS: usize = 2048;

/// Where a provider's keys come from, as the caller asked.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceInput {
    /// `jwks`: keys pinned inline (validated).
    Pinned(Value),
    /// `jwks_uri`: the issuer's key set at this URL.
    JwksUri(String),
    /// Neither: OIDC Discovery from the issuer.
    Discovery,
}

/// `POST /v1/identity-providers` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreateIdentityProviderRequest")]
pub struct CreateProvider {
    /// Display name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS))]
    pub name: String,
    /// An absolute URL; the `iss` of its id_tokens, compared exactly. Without
    /// `jwks` or `jwks_uri`, its OIDC Discovery document (an https URL)
    /// names the key set.
    #[schemars(length(min = 1, max = ISSUER_MAX_CHARS))]
    pub issuer: String,
    /// The organization's client id at the provider.
    #[schemars(length(min = 1, max = CLIENT_ID_MAX_CHARS))]
    pub client_id: String,
    /// Pinned public signing keys (RSA, EC P-256, Ed25519), unique `kid`s;
    /// for issuers Tether cannot reach. At most one of `jwks`, `jwks_uri`.
    #[schemars(with = "Option<Jwks>")]
    pub jwks: Option<Value>,
    /// The issuer's key set (https); fetched now and kept fresh.
    #[schemars(length(min = 1, max = URI_MAX_CHARS))]
    pub jwks_uri: Option<String>,
    /// The key source the two fields above choose.
    #[serde(skip)]
    pub source: SourceInput,
}

impl ParseBody for CreateProvider {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let name = object.required_string("name", NAME_MAX_CHARS);
        let issuer = object
            .required_string("issuer", ISSUER_MAX_CHARS)
            .filter(|issuer| {
                let ok = url::Url::parse(issuer)
                    .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host());
                if !ok {
                    object.problem("issuer", "must be an absolute http(s) URL");
                }
                ok
            });
        let client_id = object.required_string("client_id", CLIENT_ID_MAX_CHARS);
        let source = source(object)?;
        Some(Self {
            name: name?,
            issuer: issuer?,
            client_id: client_id?,
            jwks: None,
            jwks_uri: None,
            source: source.unwrap_or(SourceInput::Discovery),
        })
    }
}

/// `jwks` or `jwks_uri`, at most one: `Some(None)` when neither was sent,
/// `None` when what was sent is invalid.
fn source(object: &mut JsonObject) -> Option<Option<SourceInput>> {
    let jwks = object.take("jwks");
    let uri = object.optional_string("jwks_uri", URI_MAX_CHARS);
    match (jwks, uri) {
        (Some(_), Some(_)) => {
            object.problem("jwks_uri", "send either `jwks` or `jwks_uri`, not both");
            None
        }
        (Some(value), None) => match validate_jwks(&value) {
            Ok(()) => Some(Some(SourceInput::Pinned(value))),
            Err(problem) => {
                object.problem("jwks", problem);
                None
            }
        },
        (None, Some(uri)) if uri.is_empty() => {
            object.problem("jwks_uri", "must not be empty");
            None
        }
        (None, Some(uri)) => Some(Some(SourceInput::JwksUri(uri))),
        (None, None) => Some(None),
    }
}

/// `PATCH /v1/identity-providers/{id}` body: what to change.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UpdateIdentityProviderRequest")]
pub struct UpdateProvider {
    /// A new display name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS))]
    pub name: Option<String>,
    /// A new client id.
    #[schemars(length(min = 1, max = CLIENT_ID_MAX_CHARS))]
    pub client_id: Option<String>,
    /// Pins these keys (the provider stops fetching).
    #[schemars(with = "Option<Jwks>")]
    pub jwks: Option<Value>,
    /// Fetches the keys from here from now on.
    #[schemars(length(min = 1, max = URI_MAX_CHARS))]
    pub jwks_uri: Option<String>,
    /// The new key source, if one was sent.
    #[serde(skip)]
    pub source: Option<SourceInput>,
    /// Makes the provider a login connection (SPEC §17; admin, action
    /// `sso_connections.configure`), or stops it (`null`).
    #[schemars(with = "Option<super::login::LoginInput>")]
    pub login: Option<super::login::LoginChange>,
}

impl ParseBody for UpdateProvider {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let nonempty = |object: &mut JsonObject, field: &str, max: usize| {
            let value = object.optional_string(field, max);
            if value.as_deref() == Some("") {
                object.problem(field, "must not be empty");
            }
            value.filter(|v| !v.is_empty())
        };
        let name = nonempty(object, "name", NAME_MAX_CHARS);
        let client_id = nonempty(object, "client_id", CLIENT_ID_MAX_CHARS);
        let login = super::login::parse_login(object);
        let source = source(object)?;
        Some(Self {
            name,
            client_id,
            source,
            login: login?,
            ..Self::default()
        })
    }
}

/// Checks a JSON Web Key Set sent inline: public signing keys only, each
/// with a unique `kid`, of a type an allowed algorithm uses, and loadable
/// as a key.
pub fn validate_jwks(value: &Value) -> Result<(), String> {
    let keys = keys_array(value)?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("must hold 1 to {MAX_KEYS} keys"));
    }
    let mut kids = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let object = public_key(i, key)?;
        let kid = object
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let kid = kid.ok_or_else(|| format!("key {i} needs a `kid`"))?;
        if !kids.insert(kid) {
            return Err(format!("key id `{kid}` appears twice"));
        }
        if let Some(usage) = object.get("use")
            && usage != "sig"
        {
            return Err(format!(
                "key {i} is not a signing key (`use` must be \"sig\")"
            ));
        }
        if let Some(alg) = object.get("alg")
            && !alg
                .as_str()
                .is_some_and(|a| ALLOWED_ALGORITHMS.contains(&a))
        {
            return Err(format!("key {i}: `alg` must be one of RS256, ES256, EdDSA"));
        }
        if !supported_type(object) {
            return Err(format!("key {i} must be RSA, EC P-256 or OKP Ed25519"));
        }
    }
    let set: JwkSet = serde_json::from_value(value.clone())
        .map_err(|_| "is not a valid JSON Web Key Set".to_owned())?;
    for (i, jwk) in set.keys.iter().enumerate() {
        jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|_| format!("key {i} is not a usable public key"))?;
    }
    Ok(())
}

/// The usable keys of a key set an issuer published, as the JSON text to
/// store: real issuers publish encryption keys, other algorithms and
/// certificate chains beside their signing keys, so those are left out
/// rather than refused. A set with a private member, or with no usable key,
/// is not a key set to trust.
pub fn usable_keys(document: &[u8]) -> Result<String, String> {
    let value: Value =
        serde_json::from_slice(document).map_err(|_| "the key set is not JSON".to_owned())?;
    let keys = keys_array(&value)?;
    let mut kept = Vec::new();
    let mut kids = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let object = public_key(i, key)?;
        let signing = object.get("use").is_none_or(|u| u == "sig")
            && object
                .get("alg")
                .is_none_or(|a| a.as_str().is_some_and(|a| ALLOWED_ALGORITHMS.contains(&a)));
        let kid = object.get("kid").and_then(Value::as_str);
        if !signing || !supported_type(object) || kid.is_some_and(|k| !kids.insert(k.to_owned())) {
            continue;
        }
        let compact: Map<String, Value> = object
            .iter()
            .filter(|(name, _)| KEPT_MEMBERS.contains(&name.as_str()))
            .map(|(name, v)| (name.clone(), v.clone()))
            .collect();
        let usable =
            serde_json::from_value::<jsonwebtoken::jwk::Jwk>(Value::Object(compact.clone()))
                .is_ok_and(|jwk| jsonwebtoken::DecodingKey::from_jwk(&jwk).is_ok());
        if usable && kept.len() < MAX_KEYS {
            kept.push(Value::Object(compact));
        }
    }
    if kept.is_empty() {
        return Err("the key set holds no RS256, ES256 or EdDSA signing key".to_owned());
    }
    Ok(json!({ "keys": kept }).to_string())
}

fn keys_array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "must be a JSON Web Key Set: an object with a `keys` array".to_owned())
}

/// Key `i` as an object without private members.
fn public_key(i: usize, key: &Value) -> Result<&Map<String, Value>, String> {
    let object = key
        .as_object()
        .ok_or_else(|| format!("key {i} must be an object"))?;
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
        return Err(format!(
            "key {i} has the private member `{private}`; send public keys only"
        ));
    }
    Ok(object)
}

fn supported_type(object: &Map<String, Value>) -> bool {
    match object.get("kty").and_then(Value::as_str) {
        Some("RSA") => true,
        Some("EC") => object.get("crv") == Some(&json!("P-256")),
        Some("OKP") => object.get("crv") == Some(&json!("Ed25519")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks() -> Value {
        serde_json::from_str(include_str!("../../../tests/fixtures/idp-jwks.json")).unwrap()
    }

    #[test]
    fn public_signing_keys_are_accepted() {
        assert_eq!(validate_jwks(&jwks()), Ok(()));
        let ed = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        assert_eq!(validate_jwks(&ed), Ok(()));
    }

    #[test]
    fn private_symmetric_duplicate_and_unusable_keys_are_refused() {
        let mut with_private = jwks();
        with_private["keys"][0]["d"] = json!("secret");
        assert!(
            validate_jwks(&with_private)
                .unwrap_err()
                .contains("private")
        );
        let symmetric = json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]});
        assert!(validate_jwks(&symmetric).is_err());
        let mut duplicate = jwks();
        duplicate["keys"][1]["kid"] = json!("rsa-1");
        assert!(validate_jwks(&duplicate).unwrap_err().contains("twice"));
        let mut no_kid = jwks();
        no_kid["keys"][0].as_object_mut().unwrap().remove("kid");
        assert!(validate_jwks(&no_kid).is_err());
        let mut hs = jwks();
        hs["keys"][0]["alg"] = json!("HS256");
        assert!(validate_jwks(&hs).is_err());
        let mut broken = jwks();
        broken["keys"][0]["n"] = json!("!!");
        assert!(validate_jwks(&broken).is_err());
        for bad in [
            json!([]),
            json!({}),
            json!({"keys": []}),
            json!({"keys": "x"}),
        ] {
            assert!(validate_jwks(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_published_set_keeps_its_usable_signing_keys_only() {
        let mut published = jwks();
        let keys = published["keys"].as_array_mut().unwrap();
        let mut encryption = keys[0].clone();
        encryption["kid"] = json!("enc-1");
        encryption["use"] = json!("enc");
        encryption["alg"] = json!("RSA-OAEP");
        let mut rs384 = keys[0].clone();
        rs384["kid"] = json!("rs384");
        rs384["alg"] = json!("RS384");
        keys[0]["x5c"] = json!(["MIIC..."]);
        keys.extend([encryption, rs384, json!({"kty": "oct", "kid": "h"})]);
        let kept: Value =
            serde_json::from_str(&usable_keys(published.to_string().as_bytes()).unwrap()).unwrap();
        let kids: Vec<&str> = kept["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids.len(), jwks()["keys"].as_array().unwrap().len());
        assert!(!kids.contains(&"enc-1") && !kids.contains(&"rs384"));
        assert!(
            kept["keys"][0].get("x5c").is_none(),
            "certificate chains are not kept"
        );

        let mut leaked = jwks();
        leaked["keys"][0]["d"] = json!("secret");
        assert!(usable_keys(leaked.to_string().as_bytes()).is_err());
        assert!(usable_keys(br#"{"keys": [{"kty": "oct", "kid": "h"}]}"#).is_err());
        assert!(usable_keys(b"<html>").is_err());
    }
}
