//! Credentials: API keys (`tk_...`), their scopes, lookup by SHA-256 hash and
//! the warm-Lambda cache of lookups (SPEC §2, §5).

use crate::cache::TtlCache;
use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::ids::{ApiKeyId, OrganizationId};
use crate::store::{self, PK, SK, Store, StoreError};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What a credential may do. Scopes are ordered: each implies the ones below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read resources.
    Read,
    /// Create, change and delete resources.
    ReadWrite,
    /// Manage the organization's configuration (providers, policies, tokens).
    Admin,
}

impl Scope {
    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read_write",
            Self::Admin => "admin",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "read_write" => Some(Self::ReadWrite),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

pub use crate::secrets::{API_KEY_PREFIX, ApiKeySecret};

/// An API key as stored: `PK = APIKEY#<sha256 hex>`, `SK = APIKEY`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// The key's public id.
    pub api_key_id: ApiKeyId,
    /// The organization the key belongs to.
    pub organization_id: OrganizationId,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub key_hash: String,
    /// When it was created.
    pub created_at: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

fn api_key_pk(hash: &[u8; 32]) -> String {
    format!("APIKEY#{}", hex::encode(hash))
}

impl ApiKeyRecord {
    /// A new record for `secret`.
    pub fn new(
        secret: &ApiKeySecret,
        organization_id: OrganizationId,
        scopes: Vec<Scope>,
        now: time::OffsetDateTime,
    ) -> Self {
        let hash = secret.hash();
        Self {
            pk: api_key_pk(&hash),
            sk: "APIKEY".to_owned(),
            api_key_id: ApiKeyId::generate(),
            organization_id,
            scopes,
            key_hash: hex::encode(hash),
            created_at: format_timestamp(now),
            revoked_at: None,
        }
    }

    /// The highest scope granted (scopes imply the lower ones).
    pub fn max_scope(&self) -> Option<Scope> {
        self.scopes.iter().copied().max()
    }
}

/// Who is calling, once authenticated with an API key.
#[derive(Debug, Clone)]
pub struct ApiKeyPrincipal {
    /// The key's organization: every key the request touches derives from it.
    pub organization_id: OrganizationId,
    /// The key's public id (logged).
    pub api_key_id: ApiKeyId,
    /// The highest scope granted.
    pub scope: Option<Scope>,
}

/// Warm-Lambda cache of key lookups, so a busy function does not read the key
/// item on every request. Only hits are cached: a new key works at once; a
/// revoked one keeps working for at most the TTL (≤ 60 s).
pub type KeyCache = TtlCache<[u8; 32], ApiKeyRecord>;

/// Bound on cached keys, so a flood of valid keys cannot grow memory unbounded.
pub const KEY_CACHE_CAPACITY: usize = 4_096;

/// Authenticates an organization-API request: `X-API-Key` looked up by its
/// hash (cached), then the optional `X-Tenant-ID` check.
pub async fn authenticate_api_key(
    store: &Store,
    cache: &KeyCache,
    api_key: &str,
    tenant_id: Option<&str>,
) -> Result<ApiKeyPrincipal, ApiError> {
    let secret = ApiKeySecret::parse(api_key.trim()).ok_or(ApiError::InvalidCredentials)?;
    let record = lookup(store, cache, secret.hash())
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    if let Some(tenant) = tenant_id {
        let matches =
            OrganizationId::parse(tenant.trim()).is_ok_and(|t| t == record.organization_id);
        if !matches {
            return Err(ApiError::TenantMismatch);
        }
    }
    Ok(ApiKeyPrincipal {
        organization_id: record.organization_id,
        api_key_id: record.api_key_id,
        scope: record.max_scope(),
    })
}

/// A stored credential found by the hash of its secret: an API key or an
/// external service's token.
pub trait HashedCredential: serde::de::DeserializeOwned + Clone {
    /// The item's key for the hash of a presented secret.
    fn key(hash: &[u8; 32]) -> store::Key;
    /// The stored hash, hex.
    fn stored_hash(&self) -> &str;
    /// Whether it was revoked.
    fn revoked(&self) -> bool;
}

/// Finds the credential behind a presented secret's `hash`: the warm cache
/// (hits only) first, else a strongly consistent read. `None` when there is
/// none, it was revoked, or its stored hash disagrees with its key (compared
/// in constant time).
pub async fn lookup<R: HashedCredential>(
    store: &Store,
    cache: &TtlCache<[u8; 32], R>,
    hash: [u8; 32],
) -> Result<Option<R>, StoreError> {
    let record = match cache.get(&hash) {
        Some(record) => record,
        None => {
            let Some(record) = store::get_consistent::<R>(store, &R::key(&hash)).await? else {
                return Ok(None);
            };
            cache.put(hash, record.clone());
            record
        }
    };
    let stored = hex::decode(record.stored_hash()).unwrap_or_default();
    let matches = bool::from(stored.as_slice().ct_eq(&hash));
    Ok((matches && !record.revoked()).then_some(record))
}

impl HashedCredential for ApiKeyRecord {
    fn key(hash: &[u8; 32]) -> store::Key {
        (api_key_pk(hash), "APIKEY".to_owned())
    }

    fn stored_hash(&self) -> &str {
        &self.key_hash
    }

    fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// Stores a new key for an existing organization, in one transaction that
/// checks the organization exists. Returns `Ok(false)` when it does not.
pub async fn put_api_key(store: &Store, record: &ApiKeyRecord) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let org_check = ConditionCheck::builder()
        .table_name(store.table())
        .key(
            PK,
            store::s(crate::organizations::org_pk(record.organization_id)),
        )
        .key(SK, store::s(crate::organizations::ORG_SK))
        .condition_expression("attribute_exists(PK)")
        .build()
        .map_err(|e| StoreError::Other {
            source: Box::new(e),
        })?;
    let put = Put::builder()
        .table_name(store.table())
        .set_item(Some(store::to_item(record)?))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(|e| StoreError::Other {
            source: Box::new(e),
        })?;
    let result = store
        .client()
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(org_check)
                .build(),
        )
        .transact_items(TransactWriteItem::builder().put(put).build())
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await;
    match result.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.first().is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_imply_lower_ones() {
        assert!(Scope::Admin > Scope::ReadWrite && Scope::ReadWrite > Scope::Read);
        assert_eq!(Scope::parse("read_write"), Some(Scope::ReadWrite));
        assert_eq!(Scope::parse("write"), None);
    }
}
