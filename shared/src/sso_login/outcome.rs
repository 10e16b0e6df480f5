//! The record every completed or failed sign-in leaves (SPEC §17): item
//! `PK = ORG#<org>`, `SK = SSOLOGIN#<ulid>`, kept a day. The event stream
//! turns its creation into `sso.login_succeeded` or `sso.login_failed`; it
//! holds ids and a reason, never token material.

use super::Failure;
use crate::clock::Timestamp;
use crate::ids::{EndUserId, IdentityId, IdentityProviderId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, Store, StoreError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How long a login record is kept (the event log has its own retention).
const KEPT_SECONDS: i64 = 24 * 60 * 60;

/// A sign-in's outcome as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The record's id.
    pub id: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// The `error` the app received (failures).
    pub error: Option<String>,
    /// Why it failed, more precisely than `error` (failures).
    pub reason: Option<String>,
    /// The login connection.
    pub identity_provider_id: IdentityProviderId,
    /// The signed-in end user (successes).
    pub end_user_id: Option<EndUserId>,
    /// The identity signed in with (successes).
    pub identity_id: Option<IdentityId>,
    /// When.
    pub created_at: Timestamp,
    #[serde(rename = "expires_at_epoch")]
    expires_at_epoch: i64,
}

impl store::Record for LoginRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// The sign-in object of `sso.login_*` events.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SsoLogin")]
pub struct SsoLogin<'a> {
    /// The record's id.
    pub id: &'a str,
    /// `succeeded` or `failed`.
    pub outcome: &'a str,
    /// The `error` the app received (failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// Why it failed (failures): e.g. `nonce`, `signature`, `no_identity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// The login connection.
    pub identity_provider_id: IdentityProviderId,
    /// The signed-in end user (successes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_id: Option<EndUserId>,
    /// The identity signed in with (successes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<IdentityId>,
    /// When.
    pub created_at: Timestamp,
}

impl LoginRecord {
    fn new(org: OrganizationId, provider: IdentityProviderId, now: time::OffsetDateTime) -> Self {
        let id = format!("sso_{}", ulid::Ulid::generate().to_string().to_lowercase());
        Self {
            key: store::ItemKey::new(org_pk(org), format!("SSOLOGIN#{id}")),
            id,
            outcome: String::new(),
            error: None,
            reason: None,
            identity_provider_id: provider,
            end_user_id: None,
            identity_id: None,
            created_at: Timestamp::from(now),
            expires_at_epoch: now.unix_timestamp() + KEPT_SECONDS,
        }
    }

    /// A successful sign-in of `user` with `identity`.
    pub fn succeeded(
        org: OrganizationId,
        provider: IdentityProviderId,
        user: EndUserId,
        identity: IdentityId,
        now: time::OffsetDateTime,
    ) -> Self {
        Self {
            outcome: "succeeded".into(),
            end_user_id: Some(user),
            identity_id: Some(identity),
            ..Self::new(org, provider, now)
        }
    }

    /// A failed sign-in.
    pub fn failed(
        org: OrganizationId,
        provider: IdentityProviderId,
        failure: Failure,
        now: time::OffsetDateTime,
    ) -> Self {
        Self {
            outcome: "failed".into(),
            error: Some(failure.error().into()),
            reason: Some(failure.reason().into()),
            ..Self::new(org, provider, now)
        }
    }

    /// The event object.
    pub fn view(&self) -> SsoLogin<'_> {
        SsoLogin {
            id: &self.id,
            outcome: &self.outcome,
            error: self.error.as_deref(),
            reason: self.reason.as_deref(),
            identity_provider_id: self.identity_provider_id,
            end_user_id: self.end_user_id,
            identity_id: self.identity_id,
            created_at: self.created_at,
        }
    }

    /// Its `Put`, for a transaction.
    pub fn put(
        &self,
        store: &Store,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        Ok(TransactWriteItem::builder()
            .put(store::built(
                Put::builder()
                    .table_name(store.table())
                    .set_item(Some(store::to_item(self)?))
                    .build(),
            )?)
            .build())
    }

    /// Stores it alone (a failure writes nothing else).
    pub async fn store(&self, store: &Store) -> Result<(), StoreError> {
        store
            .put_item(store::to_item(self)?)
            .send()
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}
