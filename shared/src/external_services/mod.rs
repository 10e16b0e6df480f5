//! External services (SPEC §11): partner integrations that organizations
//! connect to with one-time connect tokens, calling `/api/v1/...` with a
//! service token (`tst_...`). Bodies and errors are camelCase.

pub mod connect_tokens;
pub mod relations;
pub mod users;

pub use relations::{Relation, ServiceOrganization};
pub use users::OrganizationUser;

#[cfg(test)]
#[cfg(test)]
pub(crate) use users::PutUser as PutUserForFuzzing;

use crate::cache::TtlCache;
use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::ids::ExternalServiceId;
use crate::secrets::ServiceToken;
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

/// The scopes a service token may carry (SPEC §5).
pub const SERVICE_SCOPES: &[&str] = &[
    "organizations:read",
    "organization-relations:write",
    "organization-users:write",
];

/// Partition key of an external service's items.
pub fn service_pk(id: ExternalServiceId) -> String {
    format!("SVC#{id}")
}

/// An external service as stored: `PK = SVC#<id>`, `SK = SVC`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// The service's id.
    pub id: ExternalServiceId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: String,
}

/// A service token as stored: `PK = SVCTOKEN#<sha256 hex>`, `SK = SVCTOKEN`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceTokenRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// The service the token belongs to.
    pub external_service_id: ExternalServiceId,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Creation time.
    pub created_at: String,
    /// When revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

fn token_pk(hash: &[u8; 32]) -> String {
    format!("SVCTOKEN#{}", hex::encode(hash))
}

impl crate::auth::HashedCredential for ServiceTokenRecord {
    fn key(hash: &[u8; 32]) -> store::Key {
        (token_pk(hash), "SVCTOKEN".to_owned())
    }

    fn stored_hash(&self) -> &str {
        &self.token_hash
    }

    fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// Warm-function cache of service-token lookups (hits only, ≤ 60 s).
pub type ServiceTokenCache = TtlCache<[u8; 32], ServiceTokenRecord>;

/// An authenticated external service.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// The service.
    pub id: ExternalServiceId,
    /// Its token's scopes.
    pub scopes: Vec<String>,
}

/// Creates an external service and its token (`tetherctl external-service create`).
pub async fn create_service(
    store: &Store,
    name: String,
    scopes: Vec<String>,
    now: time::OffsetDateTime,
) -> Result<(ServiceRecord, ServiceToken), StoreError> {
    let id = ExternalServiceId::generate();
    let service = ServiceRecord {
        pk: service_pk(id),
        sk: "SVC".into(),
        id,
        name,
        created_at: format_timestamp(now),
    };
    let secret = ServiceToken::generate().map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    let hash = secret.hash();
    let token = ServiceTokenRecord {
        pk: token_pk(&hash),
        sk: "SVCTOKEN".into(),
        external_service_id: id,
        scopes,
        token_hash: hex::encode(hash),
        created_at: format_timestamp(now),
        revoked_at: None,
    };
    let put = |item| {
        Put::builder()
            .table_name(store.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Other {
                source: Box::new(e),
            })
    };
    let items = vec![
        TransactWriteItem::builder()
            .put(put(store::to_item(&service)?)?)
            .build(),
        TransactWriteItem::builder()
            .put(put(store::to_item(&token)?)?)
            .build(),
    ];
    store::transact(store, items).await?;
    Ok((service, secret))
}

/// Authenticates `Authorization: Bearer tst_...` (401 `missing_api_token` /
/// `invalid_api_token` on the external-service surface).
pub async fn authenticate(
    store: &Store,
    cache: &ServiceTokenCache,
    bearer: Option<&str>,
) -> Result<ServicePrincipal, ApiError> {
    let presented = bearer.ok_or(ApiError::MissingCredentials)?;
    let secret = ServiceToken::parse(presented).ok_or(ApiError::InvalidCredentials)?;
    let record = crate::auth::lookup(store, cache, secret.hash())
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    Ok(ServicePrincipal {
        id: record.external_service_id,
        scopes: record.scopes,
    })
}
