//! Connect tokens (SPEC §9): one-time secrets an organization hands to an
//! external service so that it can claim a relation with the organization.
//!
//! Item: `PK = CTOKEN#<sha256 hex>`, `SK = CTOKEN` (the claim looks it up by the
//! presented token, strongly consistent), with `GSI1PK = ORG#<org>`,
//! `GSI1SK = CTOKEN#<id>` for the organization's reads by id. States:
//! `pending` → `claimed` | `cancelled`; `claimed` → `consumed` when the
//! organization removes the relation.

use crate::clock::Timestamp;
use crate::ids::{ConnectTokenId, ExternalServiceId, OrganizationId, RelationId};
use crate::organizations::org_pk;
use crate::parse::{JsonObject, ParseBody};
use crate::secrets::ConnectToken;
use crate::store::{self, Store, StoreError};
use crate::wire::PathId;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default and bounds of `expires_in_seconds` (SPEC §9).
const DEFAULT_TTL_SECONDS: i64 = 3600;
const MAX_TTL_SECONDS: i64 = 604_800;
/// Expired tokens stay readable (and answer 410) this long before DynamoDB's
/// TTL removes them.
const RETENTION_AFTER_EXPIRY_SECONDS: i64 = 7 * 24 * 3600;

/// A connect token's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum TokenStatus {
    /// Issued, not yet claimed.
    Pending,
    /// Claimed by its external service.
    Claimed,
    /// Cancelled by the organization.
    Cancelled,
    /// Its relation was removed by the organization.
    Consumed,
}

/// The connect-token object (never the secret).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ConnectToken")]
pub struct ConnectTokenObject {
    /// Public id.
    pub id: ConnectTokenId,
    /// The service it was issued for.
    pub external_service_id: ExternalServiceId,
    /// State.
    pub status: TokenStatus,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Claim time; null until claimed.
    pub claimed_at: Option<Timestamp>,
}

/// The answer to `POST /v1/connect-tokens`: the object and, once, its secret.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "CreatedConnectToken")]
pub struct CreatedConnectToken<'a> {
    /// The token.
    #[serde(flatten)]
    pub object: ConnectTokenObject,
    /// The secret, shown once: `tct_<organization id>_<48 hex digits>`. It names the issuing organization (no secret: the claimant learns it from the claim).
    #[schemars(regex(pattern = r"^tct_[0-9a-f-]{36}_[0-9a-f]{48}$"))]
    pub token: &'a str,
}

/// A connect token as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectTokenRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    #[serde(flatten)]
    index: store::IndexKey,
    /// Public id.
    pub id: ConnectTokenId,
    /// The issuing organization.
    pub organization_id: OrganizationId,
    /// Its name, copied for the service's organization list.
    pub organization_name: String,
    /// The service it was issued for.
    pub external_service_id: ExternalServiceId,
    /// State.
    pub status: TokenStatus,
    /// Expiry (RFC 3339).
    pub expires_at: Timestamp,
    /// Expiry (epoch seconds), what conditions compare.
    pub expires_at_unix: i64,
    /// TTL attribute: a week after expiry; removed while the token backs a
    /// relation, set again when it is consumed.
    pub expires_at_epoch: Option<i64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Claim time.
    pub claimed_at: Option<Timestamp>,
    /// The relation the claim created or confirmed.
    pub relation_id: Option<RelationId>,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
}

impl store::Record for ConnectTokenRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// Partition key of a connect token item.
pub fn token_pk(hash_hex: &str) -> String {
    format!("CTOKEN#{hash_hex}")
}

impl ConnectTokenRecord {
    /// The public object (never the secret).
    pub fn view(&self) -> ConnectTokenObject {
        ConnectTokenObject {
            id: self.id,
            external_service_id: self.external_service_id,
            status: self.status,
            expires_at: self.expires_at,
            created_at: self.created_at,
            claimed_at: self.claimed_at,
        }
    }

    /// The key of the item.
    pub fn key(&self) -> (String, String) {
        (self.key.pk.clone(), self.key.sk.clone())
    }
}

/// `POST /v1/connect-tokens` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreateConnectTokenRequest")]
pub struct CreateConnectToken {
    /// The external service that may claim it.
    #[schemars(with = "PathId")]
    pub external_service_id: ExternalServiceId,
    /// Lifetime in seconds.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 1, max = MAX_TTL_SECONDS))]
    pub expires_in_seconds: i64,
}

/// For the schema's `default`.
fn default_ttl() -> i64 {
    DEFAULT_TTL_SECONDS
}

impl ParseBody for CreateConnectToken {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let external_service_id =
            object.required_id("external_service_id", 64, ExternalServiceId::parse);
        let expires_in_seconds = match object.take("expires_in_seconds") {
            None => DEFAULT_TTL_SECONDS,
            Some(value) => match value.as_i64().filter(|n| (1..=MAX_TTL_SECONDS).contains(n)) {
                Some(n) if value.is_i64() || value.is_u64() => n,
                _ => {
                    object.problem(
                        "expires_in_seconds",
                        "must be a whole number from 1 to 604800",
                    );
                    DEFAULT_TTL_SECONDS
                }
            },
        };
        Some(Self {
            external_service_id: external_service_id?,
            expires_in_seconds,
        })
    }
}

impl ConnectTokenRecord {
    /// A new pending token of `org` for `service`, behind `secret`.
    pub fn new(
        org: OrganizationId,
        organization_name: String,
        request: &CreateConnectToken,
        secret: &ConnectToken,
        now: time::OffsetDateTime,
    ) -> Self {
        let expires = now + time::Duration::seconds(request.expires_in_seconds);
        let hash = hex::encode(secret.hash());
        let id = ConnectTokenId::generate();
        Self {
            key: store::ItemKey::new(token_pk(&hash), "CTOKEN"),
            index: store::IndexKey::new(org_pk(org), format!("CTOKEN#{id}")),
            id,
            organization_id: org,
            organization_name,
            external_service_id: request.external_service_id,
            status: TokenStatus::Pending,
            expires_at: Timestamp::from(expires),
            expires_at_unix: expires.unix_timestamp(),
            expires_at_epoch: Some(expires.unix_timestamp() + RETENTION_AFTER_EXPIRY_SECONDS),
            created_at: Timestamp::from(now),
            claimed_at: None,
            relation_id: None,
            token_hash: hash,
        }
    }
}

/// Writes a new token (one conditional `PutItem`: its hash is fresh). The
/// caller has made sure its external service exists
/// ([`super::exists`]; services are never deleted).
pub async fn put_new(store: &Store, record: &ConnectTokenRecord) -> Result<(), StoreError> {
    store::put_new(store, record).await
}

/// Finds an organization's connect token by id (through `GSI1`).
pub async fn find(
    store: &Store,
    org: OrganizationId,
    id: ConnectTokenId,
) -> Result<Option<ConnectTokenRecord>, StoreError> {
    let item = store::gsi1_item(store, org_pk(org), format!("CTOKEN#{id}")).await?;
    item.map(store::from_item).transpose()
}

/// The key of the connect token `secret` (for a batched read).
pub fn secret_key(secret: &ConnectToken) -> store::Key {
    (token_pk(&hex::encode(secret.hash())), "CTOKEN".to_owned())
}

/// Reads a connect token by the presented secret (strongly consistent).
pub async fn find_by_secret(
    store: &Store,
    secret: &ConnectToken,
) -> Result<Option<ConnectTokenRecord>, StoreError> {
    store::get_consistent(store, &secret_key(secret)).await
}

/// What cancelling a token found.
#[derive(Debug)]
pub enum Cancelled {
    /// Cancelled now, or already cancelled: the token as it is.
    Now(Box<ConnectTokenRecord>),
    /// Claimed or consumed: it cannot be cancelled.
    Unusable,
}

/// Cancels a pending token (conditional on `pending`); a token already
/// cancelled answers as it is.
pub async fn cancel(
    store: &Store,
    record: &ConnectTokenRecord,
    now: time::OffsetDateTime,
) -> Result<Cancelled, StoreError> {
    let (pk, sk) = record.key();
    let result = store
        .update_item((pk, sk))
        .update_expression("SET #status = :cancelled, cancelled_at = :now")
        .condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":cancelled", store::s("cancelled"))
        .expression_attribute_values(":pending", store::s("pending"))
        .expression_attribute_values(":now", store::timestamp(now))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map_err(StoreError::from);
    match result {
        Ok(out) => Ok(Cancelled::Now(Box::new(store::from_item(
            out.attributes.unwrap_or_default(),
        )?))),
        Err(StoreError::ConditionalCheckFailed { item: Some(old) }) => {
            let old: ConnectTokenRecord = store::from_item(*old)?;
            Ok(if old.status == TokenStatus::Cancelled {
                Cancelled::Now(Box::new(old))
            } else {
                Cancelled::Unusable
            })
        }
        Err(err) => Err(err),
    }
}
