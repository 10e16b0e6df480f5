//! Identity providers (SPEC §9): the OIDC issuers whose identities an
//! organization links, with their JSON Web Key Set inline.

use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::freshness::{Current, VersionedCache};
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::organizations::org_pk;
use crate::parse::{JsonObject, ParseBody};
use crate::store::{self, Store, StoreError};
use crate::wire::{Jwks, Timestamp};
use jsonwebtoken::jwk::JwkSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Prefix of provider sort keys.
const IDP_SK_PREFIX: &str = "IDP#";
/// Most keys a provider's JWKS may hold.
const MAX_KEYS: usize = 20;
/// JWK members that belong to private or symmetric keys: never accepted.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// The signature algorithms an id_token may use (SPEC §10).
pub const ALLOWED_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// Sort key of a provider.
pub fn provider_sk(id: IdentityProviderId) -> String {
    format!("{IDP_SK_PREFIX}{id}")
}

/// The sort-key prefix of the uniqueness items of the identities linked
/// through provider `id` (`identities::pair_sk` builds on it).
pub fn pairs_prefix(id: IdentityProviderId) -> String {
    format!("IDPAIR#{id}#")
}

/// How a deletion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted.
    Done,
    /// No such provider in the organization.
    NotFound,
    /// Identities still use it (409 `identity_provider_in_use`).
    InUse,
}

/// Deletes a provider that no identity uses (SPEC §9), in three steps that
/// keep a concurrent link from slipping in between the check and the delete:
/// the provider is marked `deleting` (a link's transaction requires it
/// unmarked, so new links are refused from here on), the organization's
/// identities of the provider are looked for (one strongly consistent query
/// of their uniqueness items, `Limit 1`), and then either the mark is lifted
/// (in use) or the provider deleted as a change of the organization, so no
/// warm function verifies with it from the next request.
pub async fn delete(
    store: &Store,
    org: OrganizationId,
    id: IdentityProviderId,
) -> Result<Deleted, StoreError> {
    use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
    let (pk, sk) = (org_pk(org), provider_sk(id));
    let mark = |update: &str, condition: &str| {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key(store::PK, store::s(&pk))
            .key(store::SK, store::s(&sk))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .return_consumed_capacity(store::CAPACITY)
    };
    let marked = mark("SET #status = :deleting", "attribute_exists(PK)")
        .expression_attribute_values(":deleting", store::s(DELETING))
        .send()
        .await
        .map_err(StoreError::from);
    match marked {
        Ok(_) => {}
        Err(StoreError::ConditionalCheckFailed { .. }) => return Ok(Deleted::NotFound),
        Err(err) => return Err(err),
    }
    let used = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", store::s(&pk))
        .expression_attribute_values(":prefix", store::s(pairs_prefix(id)))
        .projection_expression("PK")
        .consistent_read(true)
        .limit(1)
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await?
        .count
        > 0;
    if used {
        let lifted = mark("REMOVE #status", "#status = :deleting")
            .expression_attribute_values(":deleting", store::s(DELETING))
            .send()
            .await
            .map_err(StoreError::from);
        return match lifted {
            Ok(_) | Err(StoreError::ConditionalCheckFailed { .. }) => Ok(Deleted::InUse),
            Err(err) => Err(err),
        };
    }
    let changed = crate::organizations::change(store, org, |_| {
        let delete = store::built(
            Delete::builder()
                .table_name(store.table())
                .key(store::PK, store::s(&pk))
                .key(store::SK, store::s(&sk))
                .condition_expression("#status = :deleting")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":deleting", store::s(DELETING))
                .build(),
        )?;
        Ok(crate::organizations::Edit {
            items: vec![TransactWriteItem::builder().delete(delete).build()],
            ..Default::default()
        })
    })
    .await?;
    Ok(match changed {
        crate::organizations::Changed::Done { .. } => Deleted::Done,
        _ => Deleted::NotFound,
    })
}

/// The `status` of a provider being deleted.
const DELETING: &str = "deleting";

/// A provider as stored: `PK = ORG#<org>`, `SK = IDP#<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// The provider's id.
    pub id: IdentityProviderId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// The `iss` its id_tokens carry.
    pub issuer: String,
    /// The organization's client id at the provider: the `aud` of its id_tokens.
    pub client_id: String,
    /// The key set, as JSON text.
    pub jwks_json: String,
    /// Creation time.
    pub created_at: String,
}

impl ProviderRecord {
    /// The parsed key set (validated on the way in).
    pub fn jwks(&self) -> Result<JwkSet, ApiError> {
        serde_json::from_str(&self.jwks_json).map_err(ApiError::internal)
    }

    /// The public provider object.
    pub fn view(&self) -> IdentityProvider<'_> {
        IdentityProvider {
            id: self.id,
            name: &self.name,
            issuer: &self.issuer,
            client_id: &self.client_id,
            jwks: serde_json::from_str(&self.jwks_json).unwrap_or_else(|_| json!({"keys": []})),
            created_at: &self.created_at,
        }
    }
}

/// The identity-provider object.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IdentityProvider")]
pub struct IdentityProvider<'a> {
    /// The provider's id.
    pub id: IdentityProviderId,
    /// Display name.
    #[schemars(length(max = NAME_MAX_CHARS))]
    pub name: &'a str,
    /// The `iss` its id_tokens carry.
    #[schemars(length(max = ISSUER_MAX_CHARS))]
    pub issuer: &'a str,
    /// The organization's client id at the provider: the `aud` of its id_tokens.
    #[schemars(length(max = CLIENT_ID_MAX_CHARS))]
    pub client_id: &'a str,
    /// The public signing keys.
    #[schemars(with = "Jwks")]
    pub jwks: Value,
    /// Creation time.
    #[schemars(with = "Timestamp")]
    pub created_at: &'a str,
}

/// Longest provider name, in characters.
const NAME_MAX_CHARS: usize = 128;
/// Longest issuer URL, in characters.
const ISSUER_MAX_CHARS: usize = 512;
/// Longest client id, in characters.
const CLIENT_ID_MAX_CHARS: usize = 256;

impl ProviderRecord {
    /// A new provider of `org` from a parsed body.
    pub fn new(org: OrganizationId, input: CreateProvider, now: time::OffsetDateTime) -> Self {
        let id = IdentityProviderId::generate();
        Self {
            pk: org_pk(org),
            sk: provider_sk(id),
            id,
            organization_id: org,
            name: input.name,
            issuer: input.issuer,
            client_id: input.client_id,
            jwks_json: input.jwks.to_string(),
            created_at: format_timestamp(now),
        }
    }
}

/// `POST /v1/identity-providers` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreateIdentityProviderRequest")]
pub struct CreateProvider {
    /// Display name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS))]
    name: String,
    /// An absolute http(s) URL; the `iss` of its id_tokens.
    #[schemars(length(min = 1, max = ISSUER_MAX_CHARS))]
    issuer: String,
    /// The organization's client id at the provider.
    #[schemars(length(min = 1, max = CLIENT_ID_MAX_CHARS))]
    client_id: String,
    /// Public signing keys only (RSA, EC P-256, Ed25519), unique `kid`s.
    #[schemars(with = "Jwks")]
    jwks: Value,
}

impl ParseBody for CreateProvider {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let name = object.required_string("name", NAME_MAX_CHARS);
        let issuer = object
            .required_string("issuer", ISSUER_MAX_CHARS)
            .filter(|issuer| {
                let ok = (issuer.starts_with("https://") || issuer.starts_with("http://"))
                    && !issuer.contains(char::is_whitespace);
                if !ok {
                    object.problem("issuer", "must be an absolute http(s) URL");
                }
                ok
            });
        let client_id = object.required_string("client_id", CLIENT_ID_MAX_CHARS);
        let jwks = match object.take("jwks") {
            None => {
                object.problem("jwks", "is required");
                None
            }
            Some(value) => match validate_jwks(&value) {
                Ok(()) => Some(value),
                Err(problem) => {
                    object.problem("jwks", problem);
                    None
                }
            },
        };
        Some(Self {
            name: name?,
            issuer: issuer?,
            client_id: client_id?,
            jwks: jwks?,
        })
    }
}

/// Checks a JSON Web Key Set: public signing keys only, each with a unique
/// `kid`, of a type an allowed algorithm uses, and loadable as a key.
pub fn validate_jwks(value: &Value) -> Result<(), String> {
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "must be a JSON Web Key Set: an object with a `keys` array".to_owned())?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("must hold 1 to {MAX_KEYS} keys"));
    }
    let mut kids = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let object = key
            .as_object()
            .ok_or_else(|| format!("key {i} must be an object"))?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(format!(
                "key {i} has the private member `{private}`; send public keys only"
            ));
        }
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
        let supported = match object.get("kty").and_then(Value::as_str) {
            Some("RSA") => true,
            Some("EC") => object.get("crv") == Some(&json!("P-256")),
            Some("OKP") => object.get("crv") == Some(&json!("Ed25519")),
            _ => false,
        };
        if !supported {
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

/// A provider as the SSO link uses it: the record and its key set, parsed
/// once per warm function.
#[derive(Debug)]
pub struct VerifiedProvider {
    /// The stored provider.
    pub record: ProviderRecord,
    /// Its JSON Web Key Set, parsed.
    pub jwks: JwkSet,
}

/// The warm cache of verified providers, current at a version of their
/// organization (SPEC §5).
pub type ProviderCache =
    VersionedCache<(OrganizationId, IdentityProviderId), Arc<VerifiedProvider>>;

/// A provider of the organization for verifying id_tokens: from the warm
/// cache when current `at` the request, else read and parsed (and then
/// cached). `None` when the organization has no such provider.
pub async fn verified(
    app: &crate::App,
    at: Current,
    org: OrganizationId,
    id: IdentityProviderId,
) -> Result<Option<Arc<VerifiedProvider>>, ApiError> {
    if let Some(cached) = app.providers.current(&(org, id), at.version) {
        return Ok(Some(cached));
    }
    // Hits only: a provider registered later is found at once.
    let Some(record) = get(&app.store, org, id).await? else {
        return Ok(None);
    };
    let jwks = record.jwks()?;
    let provider = Arc::new(VerifiedProvider { record, jwks });
    let owner = crate::limits::Owner::Organization(org).partition_key();
    app.providers.put(
        (org, id),
        app.versions.known_before(&owner, at.mark),
        Arc::clone(&provider),
    );
    Ok(Some(provider))
}

/// Reads a provider of the organization.
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: IdentityProviderId,
) -> Result<Option<ProviderRecord>, StoreError> {
    // Strongly consistent: a provider registered a moment ago is found, and
    // what is cached from the read is current at the version stamped on it.
    store::get_record(store, &(org_pk(org), provider_sk(id)), true).await
}

/// Writes a new provider (its id is fresh: the condition only guards a collision).
pub async fn put_new(store: &Store, record: &ProviderRecord) -> Result<(), StoreError> {
    store::put_new(store, record).await
}

/// A page of the organization's providers, oldest first, after `after`;
/// whether more follow.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<IdentityProviderId>,
    limit: usize,
) -> Result<(Vec<ProviderRecord>, bool), StoreError> {
    store::query_page(
        store,
        &org_pk(org),
        IDP_SK_PREFIX,
        after.map(provider_sk),
        limit,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/idp-jwks.json")).unwrap()
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
}
