//! External services (SPEC §11): partner integrations that organizations
//! connect to with one-time connect tokens, calling `/api/v1/...` with a
//! service token (`tst_...`). Bodies and errors are camelCase.

pub mod connect_tokens;
pub mod relations;
mod removal;
pub mod stamp;
pub mod users;

pub use relations::{Relation, ServiceOrganization};
pub use users::OrganizationUser;

#[cfg(test)]
pub(crate) use users::PutUser as PutUserForFuzzing;

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::freshness::VersionedCache;
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

/// Services a function has seen exist, with their names. Services are never
/// deleted or renamed (no operation or tool does either), so a service seen
/// once exists for good under that name and the entry cannot go stale; an
/// unknown id is never remembered.
pub type KnownServices = crate::cache::TtlCache<ExternalServiceId, std::sync::Arc<str>>;

/// How long a function remembers that a service exists.
pub const KNOWN_SERVICE_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Whether the service `id` exists: remembered by the function, else one
/// strongly consistent `GetItem` of its record (1 RCU; a service created a
/// moment ago is found). This replaces a `ConditionCheck` in the writing
/// transaction (2 WCU, and a transaction instead of a plain write): what the
/// check guarded against — the service vanishing before the write — cannot
/// happen while services are never deleted.
pub async fn exists(app: &crate::App, id: ExternalServiceId) -> Result<bool, StoreError> {
    if app.known_services.get(&id).is_some() {
        return Ok(true);
    }
    let out = app
        .store
        .get_item((service_pk(id), "SVC"))
        .projection_expression("PK, #name")
        .expression_attribute_names("#name", "name")
        .consistent_read(true)
        .send()
        .await?;
    let Some(item) = out.item else {
        return Ok(false);
    };
    app.known_services
        .put(id, store::get_s(&item, "name").unwrap_or_default().into());
    Ok(true)
}

/// Partition key of an external service's items.
pub fn service_pk(id: ExternalServiceId) -> String {
    format!("SVC#{id}")
}

/// An external service as stored: `PK = SVC#<id>`, `SK = SVC`; in `GSI1`
/// under `SVCS` for the operator's list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    #[serde(flatten)]
    index: Option<store::IndexKey>,
    /// The service's id.
    pub id: ExternalServiceId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

impl store::Record for ServiceRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// A service token as stored: `PK = SVCTOKEN#<sha256 hex>`, `SK = SVCTOKEN`;
/// in `GSI1` under its service (`SVC#<id>`), for rolling and revoking.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceTokenRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    #[serde(flatten)]
    index: Option<store::IndexKey>,
    /// The service the token belongs to.
    pub external_service_id: ExternalServiceId,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// When it stops working (a rolled token's grace period), epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_epoch: Option<i64>,
}

impl store::Record for ServiceTokenRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
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

    fn ended(&self, now: time::OffsetDateTime) -> bool {
        self.revoked_at.is_some()
            || self
                .expires_epoch
                .is_some_and(|e| e <= now.unix_timestamp())
    }

    fn owner_bucket(&self) -> String {
        crate::limits::Owner::ExternalService(self.external_service_id).partition_key()
    }
}

/// Warm-function cache of service-token lookups (hits only), current at a
/// version of the service (its limiter bucket, SPEC §5).
pub type ServiceTokenCache = VersionedCache<[u8; 32], ServiceTokenRecord>;

/// An authenticated external service.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// The service.
    pub id: ExternalServiceId,
    /// Its token's scopes.
    pub scopes: Vec<String>,
}

/// The key of a service's record, for a caller reading it in a batch of its own.
pub fn record_key(id: ExternalServiceId) -> store::Key {
    (service_pk(id), "SVC".to_owned())
}

/// The name of `id` if this function has seen the service.
pub fn known_name(app: &crate::App, id: ExternalServiceId) -> Option<std::sync::Arc<str>> {
    app.known_services.get(&id)
}

/// The name in `item`, the record of `id` a caller read (`None`: no such
/// service), remembered for the function's next requests.
pub fn remember_record(
    app: &crate::App,
    id: ExternalServiceId,
    item: Option<&store::Item>,
) -> Option<std::sync::Arc<str>> {
    let name: std::sync::Arc<str> = store::get_s(item?, "name")?.into();
    app.known_services.put(id, name.clone());
    Some(name)
}

/// The names of `services` (in order; `None` for an unknown id): from what
/// this function remembers, and one `BatchGetItem` for the rest (which it
/// then remembers — names never change).
pub async fn names(
    app: &crate::App,
    services: &[ExternalServiceId],
) -> Result<Vec<Option<String>>, StoreError> {
    let mut names: Vec<Option<String>> = services
        .iter()
        .map(|id| app.known_services.get(id).map(|n| n.to_string()))
        .collect();
    let unknown: Vec<ExternalServiceId> = services
        .iter()
        .zip(&names)
        .filter(|(_, name)| name.is_none())
        .map(|(id, _)| *id)
        .collect();
    if unknown.is_empty() {
        return Ok(names);
    }
    let keys: Vec<store::Key> = unknown.iter().map(|id| record_key(*id)).collect();
    let items = store::get_items(&app.store, &keys).await?;
    for (id, item) in unknown.iter().zip(items) {
        let Some(name) = remember_record(app, *id, item.as_ref()) else {
            continue;
        };
        if let Some(at) = services.iter().position(|s| s == id) {
            names[at] = Some(name.to_string());
        }
    }
    Ok(names)
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
        key: store::ItemKey::new(service_pk(id), "SVC"),
        index: Some(store::IndexKey::new(SERVICES_GSI1PK, service_pk(id))),
        id,
        name,
        created_at: Timestamp::from(now),
    };
    let (token, secret) = ServiceTokenRecord::generate(id, scopes, now)?;
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

/// An authenticated service token: the service, and how current the record is.
#[derive(Debug, Clone)]
pub struct CheckedService {
    /// The principal.
    pub principal: ServicePrincipal,
    /// The token's hash, to read it again when the cached record is stale.
    pub hash: [u8; 32],
    /// The record's stamp, `None` when read by this request.
    pub cached_at: Option<crate::freshness::Version>,
}

/// The `GSI1` partition listing every external service (operators only).
const SERVICES_GSI1PK: &str = "SVCS";

impl ServiceTokenRecord {
    /// A new token of `service` and its secret.
    fn generate(
        service: ExternalServiceId,
        scopes: Vec<String>,
        now: time::OffsetDateTime,
    ) -> Result<(Self, ServiceToken), StoreError> {
        let secret = ServiceToken::generate().map_err(|e| StoreError::Other {
            source: Box::new(e),
        })?;
        let hash = hex::encode(secret.hash());
        let record = Self {
            key: store::ItemKey::new(format!("SVCTOKEN#{hash}"), "SVCTOKEN"),
            index: Some(store::IndexKey::new(
                service_pk(service),
                format!("SVCTOKEN#{hash}"),
            )),
            external_service_id: service,
            scopes,
            token_hash: hash,
            created_at: Timestamp::from(now),
            revoked_at: None,
            expires_epoch: None,
        };
        Ok((record, secret))
    }
}

/// Every external service (`tetherctl external-service list`; `GSI1`,
/// eventually consistent).
pub async fn list_services(store: &Store) -> Result<Vec<ServiceRecord>, StoreError> {
    gsi1_all(store, SERVICES_GSI1PK, "SVC#").await
}

/// Every item of `GSI1` partition `pk` under `prefix`, all pages.
async fn gsi1_all<T: serde::de::DeserializeOwned>(
    store: &Store,
    pk: &str,
    prefix: &str,
) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let (items, more) =
            store::query_items_page(store, store::Keys::Gsi1, pk, prefix, start, 100).await?;
        start = items.last().filter(|_| more).cloned().map(|mut last| {
            last.retain(|k, _| ["PK", "SK", "GSI1PK", "GSI1SK"].contains(&k.as_str()));
            last
        });
        for item in items {
            all.push(store::from_item(item)?);
        }
        if start.is_none() {
            return Ok(all);
        }
    }
}

/// The transaction part that bumps a service's version on its limiter item
/// (one item: a service's bucket is never sharded), so warm functions drop
/// its cached tokens on the next request (SPEC §5).
fn bump_service(store: &Store, id: ExternalServiceId) -> Result<TransactWriteItem, StoreError> {
    let update = store::built(
        aws_sdk_dynamodb::types::Update::builder()
            .table_name(store.table())
            .key(
                store::PK,
                store::s(crate::limits::Owner::ExternalService(id).partition_key()),
            )
            .key(store::SK, store::s(crate::limits::LIMIT_SK))
            .update_expression("ADD #version :one")
            .expression_attribute_names("#version", crate::limits::VERSION_ATTRIBUTE)
            .expression_attribute_values(":one", store::n(1))
            .build(),
    )?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The service's tokens that still work at `now`.
async fn live_tokens(
    store: &Store,
    id: ExternalServiceId,
    now: time::OffsetDateTime,
) -> Result<Vec<ServiceTokenRecord>, StoreError> {
    let tokens: Vec<ServiceTokenRecord> = gsi1_all(store, &service_pk(id), "SVCTOKEN#").await?;
    Ok(tokens
        .into_iter()
        .filter(|t| !crate::auth::HashedCredential::ended(t, now))
        .collect())
}

/// Rolls a service's token (`tetherctl external-service token-roll`): a new
/// token with the scopes of its newest live one; every live token ends after
/// `grace` (now, for zero). `None` when the service has no live token.
pub async fn roll_token(
    store: &Store,
    id: ExternalServiceId,
    grace: time::Duration,
    now: time::OffsetDateTime,
) -> Result<Option<ServiceToken>, StoreError> {
    let live = live_tokens(store, id, now).await?;
    let Some(newest) = live.iter().max_by(|a, b| a.created_at.cmp(&b.created_at)) else {
        return Ok(None);
    };
    let (token, secret) = ServiceTokenRecord::generate(id, newest.scopes.clone(), now)?;
    let ends = (now + grace).unix_timestamp();
    let mut items = vec![bump_service(store, id)?];
    for old in &live {
        let ends = old.expires_epoch.map_or(ends, |e| e.min(ends));
        let update = store::built(
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(store.table())
                .key(store::PK, store::s(&old.key.pk))
                .key(store::SK, store::s(&old.key.sk))
                .update_expression("SET expires_epoch = :ends")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":ends", store::n(ends))
                .build(),
        )?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    let put = store::built(
        Put::builder()
            .table_name(store.table())
            .set_item(Some(store::to_item(&token)?))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    items.push(TransactWriteItem::builder().put(put).build());
    store::transact(store, items).await?;
    Ok(Some(secret))
}

/// Revokes every token of a service (`tetherctl external-service
/// token-revoke`); how many were live.
pub async fn revoke_tokens(
    store: &Store,
    id: ExternalServiceId,
    now: time::OffsetDateTime,
) -> Result<usize, StoreError> {
    let live = live_tokens(store, id, now).await?;
    let mut items = vec![bump_service(store, id)?];
    for old in &live {
        let update = store::built(
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(store.table())
                .key(store::PK, store::s(&old.key.pk))
                .key(store::SK, store::s(&old.key.sk))
                .update_expression("SET revoked_at = :now")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":now", store::timestamp(now))
                .build(),
        )?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    store::transact(store, items).await?;
    Ok(live.len())
}

/// Authenticates `Authorization: Bearer tst_...` (401 `missing_api_token` /
/// `invalid_api_token` on the external-service surface).
pub async fn authenticate(
    app: &crate::App,
    mark: crate::freshness::Mark,
    bearer: Option<&str>,
) -> Result<CheckedService, ApiError> {
    let presented = bearer.ok_or(ApiError::MissingCredentials)?;
    let secret = ServiceToken::parse(presented).ok_or(ApiError::InvalidCredentials)?;
    let hash = secret.hash();
    let fetched = crate::auth::lookup(
        &app.store,
        &app.service_tokens,
        &app.versions,
        mark,
        hash,
        app.clock.now(),
    )
    .await?
    .ok_or(ApiError::InvalidCredentials)?;
    Ok(CheckedService {
        principal: ServicePrincipal {
            id: fetched.value.external_service_id,
            scopes: fetched.value.scopes,
        },
        hash,
        cached_at: fetched.cached_at,
    })
}
