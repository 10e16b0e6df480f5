//! Credentials: API keys (`tk_...`), their scopes, lookup by SHA-256 hash and
//! the warm-Lambda cache of lookups (SPEC §2, §5).

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::freshness::{Fetched, Mark, VersionedCache, Versions};
use crate::ids::{ApiKeyId, OrganizationId};
use crate::store::{self, Store, StoreError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What a credential may do. Scopes are ordered: each implies the ones below.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
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
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The key's public id.
    pub api_key_id: ApiKeyId,
    /// The organization the key belongs to.
    pub organization_id: OrganizationId,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub key_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working (epoch seconds): its own expiry or the end of
    /// a roll's grace period.
    pub expires_epoch: Option<i64>,
    /// TTL, once it expires.
    expires_at_epoch: Option<i64>,
}

impl store::Record for ApiKeyRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// Sort key of a key's credential item.
pub const API_KEY_SK: &str = "APIKEY";

fn api_key_pk(hash: &[u8; 32]) -> String {
    format!("APIKEY#{}", hex::encode(hash))
}

impl ApiKeyRecord {
    /// A new record for `secret`.
    pub fn new(
        secret: &ApiKeySecret,
        organization_id: OrganizationId,
        scopes: Vec<Scope>,
        expires_at: Option<time::OffsetDateTime>,
        now: time::OffsetDateTime,
    ) -> Self {
        let hash = secret.hash();
        Self {
            key: store::ItemKey::new(api_key_pk(&hash), API_KEY_SK.to_owned()),
            api_key_id: ApiKeyId::generate(),
            organization_id,
            scopes,
            key_hash: hex::encode(hash),
            created_at: Timestamp::from(now),
            expires_epoch: expires_at.map(time::OffsetDateTime::unix_timestamp),
            expires_at_epoch: expires_at.map(|e| e.unix_timestamp() + 30 * 24 * 3600),
        }
    }

    /// The item's key.
    pub fn key(&self) -> store::Key {
        (self.key.pk.clone(), self.key.sk.clone())
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

/// Warm-Lambda cache of key lookups (hits only: a new key works at once),
/// current at a version of the key's organization (SPEC §5).
pub type KeyCache = VersionedCache<[u8; 32], ApiKeyRecord>;

/// An authenticated API key: who it is, and how current the record is.
#[derive(Debug, Clone)]
pub struct CheckedKey {
    /// The principal.
    pub principal: ApiKeyPrincipal,
    /// The key's hash, to read it again when the cached record is stale.
    pub hash: [u8; 32],
    /// The record's stamp, `None` when read by this request.
    pub cached_at: Option<crate::freshness::Version>,
}

/// Authenticates an organization-API request: `X-API-Key` looked up by its
/// hash (cached), then the optional `X-Tenant-ID` check.
pub async fn authenticate_api_key(
    store: &Store,
    cache: &KeyCache,
    versions: &Versions,
    mark: Mark,
    secret: &ApiKeySecret,
    tenant_id: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<CheckedKey, ApiError> {
    let hash = secret.hash();
    let fetched = lookup(store, cache, versions, mark, hash, now).await?;
    checked_key(secret, fetched, tenant_id)
}

/// The key behind `secret` as found (`None`: unknown, ended or not matching
/// its hash), checked against the organization the key names and the
/// optional `X-Tenant-ID`.
pub fn checked_key(
    secret: &ApiKeySecret,
    fetched: Option<Fetched<ApiKeyRecord>>,
    tenant_id: Option<&str>,
) -> Result<CheckedKey, ApiError> {
    let fetched = fetched.ok_or(ApiError::InvalidCredentials)?;
    let record = fetched.value;
    // The hash covers the name, so a record of another organization cannot
    // be found by it; refused all the same should one ever be.
    if secret
        .organization()
        .is_some_and(|named| named != record.organization_id)
    {
        return Err(ApiError::InvalidCredentials);
    }
    if let Some(tenant) = tenant_id {
        let matches =
            OrganizationId::parse(tenant.trim()).is_ok_and(|t| t == record.organization_id);
        if !matches {
            return Err(ApiError::TenantMismatch);
        }
    }
    Ok(CheckedKey {
        principal: ApiKeyPrincipal {
            organization_id: record.organization_id,
            api_key_id: record.api_key_id,
            scope: record.max_scope(),
        },
        hash: secret.hash(),
        cached_at: fetched.cached_at,
    })
}

/// A stored credential found by the hash of its secret: an API key or an
/// external service's token.
pub trait HashedCredential: serde::de::DeserializeOwned + Clone {
    /// The item's key for the hash of a presented secret.
    fn key(hash: &[u8; 32]) -> store::Key;
    /// The stored hash, hex.
    fn stored_hash(&self) -> &str;
    /// Whether it no longer authenticates at `now`: revoked or expired.
    fn ended(&self, now: time::OffsetDateTime) -> bool;
    /// The partition key of its owner's limiter bucket, which carries the
    /// owner's version ([`crate::freshness`]).
    fn owner_bucket(&self) -> String;
}

/// Finds the credential behind a presented secret's `hash`: the warm cache
/// (hits only) first, else a strongly consistent read. `None` when there is
/// none, it was revoked or has expired, or its stored hash disagrees with its
/// key (compared in constant time). A cached record may be stale: the caller
/// checks its stamp against the version the request's limiter write returns.
pub async fn lookup<R: HashedCredential>(
    store: &Store,
    cache: &VersionedCache<[u8; 32], R>,
    versions: &Versions,
    mark: Mark,
    hash: [u8; 32],
    now: time::OffsetDateTime,
) -> Result<Option<Fetched<R>>, StoreError> {
    let fetched = match cache.get(&hash) {
        Some((stamp, record)) => Fetched {
            value: record,
            cached_at: Some(stamp),
        },
        None => match read(store, cache, versions, mark, hash).await? {
            Some(record) => Fetched {
                value: record,
                cached_at: None,
            },
            None => return Ok(None),
        },
    };
    Ok(usable(fetched, &hash, now))
}

/// `fetched` if its stored hash is `hash` (compared in constant time) and
/// it has not ended at `now`.
fn usable<R: HashedCredential>(
    fetched: Fetched<R>,
    hash: &[u8; 32],
    now: time::OffsetDateTime,
) -> Option<Fetched<R>> {
    let stored = hex::decode(fetched.value.stored_hash()).unwrap_or_default();
    let matches = bool::from(stored.as_slice().ct_eq(hash));
    (matches && !fetched.value.ended(now)).then_some(fetched)
}

/// A credential the caller read itself (in a batch with other items, after
/// `mark`): cached as [`read`] caches one, and checked as [`lookup`] checks
/// one.
pub fn found<R: HashedCredential>(
    cache: &VersionedCache<[u8; 32], R>,
    versions: &Versions,
    mark: Mark,
    hash: [u8; 32],
    record: Option<R>,
    now: time::OffsetDateTime,
) -> Option<Fetched<R>> {
    let record = record?;
    remember(cache, versions, mark, hash, &record);
    let fetched = Fetched {
        value: record,
        cached_at: None,
    };
    usable(fetched, &hash, now)
}

fn remember<R: HashedCredential>(
    cache: &VersionedCache<[u8; 32], R>,
    versions: &Versions,
    mark: Mark,
    hash: [u8; 32],
    record: &R,
) {
    cache.put(
        hash,
        versions.known_before(&record.owner_bucket(), mark),
        record.clone(),
    );
}

/// Reads a credential from the table (strongly consistent) and caches it,
/// stamped with the owner's version known before the read (`mark`).
pub async fn read<R: HashedCredential>(
    store: &Store,
    cache: &VersionedCache<[u8; 32], R>,
    versions: &Versions,
    mark: Mark,
    hash: [u8; 32],
) -> Result<Option<R>, StoreError> {
    let Some(record) = store::get_consistent::<R>(store, &R::key(&hash)).await? else {
        return Ok(None);
    };
    remember(cache, versions, mark, hash, &record);
    Ok(Some(record))
}

impl HashedCredential for ApiKeyRecord {
    fn key(hash: &[u8; 32]) -> store::Key {
        (api_key_pk(hash), API_KEY_SK.to_owned())
    }

    fn stored_hash(&self) -> &str {
        &self.key_hash
    }

    fn ended(&self, now: time::OffsetDateTime) -> bool {
        self.expires_epoch
            .is_some_and(|e| e <= now.unix_timestamp())
    }

    fn owner_bucket(&self) -> String {
        crate::limits::Owner::Organization(self.organization_id).partition_key()
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
