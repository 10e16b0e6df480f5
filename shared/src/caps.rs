//! Per-organization caps on the objects that multiply work (SPEC §4):
//! webhook endpoints (each event is fanned out to every one) and identity
//! providers (each a key set kept and refreshed). Cedar policies are capped
//! where their text is parsed (the whole set is replaced at once).
//!
//! Each capped kind has a counter item, `PK = ORG#<org>`, `SK =
//! COUNT#<kind>`, written in the same transaction as the object: a creation
//! adds one under the condition that the count is below the cap, a deletion
//! takes one away. So of N concurrent creations at the cap, none passes it —
//! a conditional write, never a count read first.
//!
//! Each object created under a cap is marked `counted`, and only the
//! deletion of a counted object gives its place back. Objects created before
//! the counters existed are not counted either way: an organization that held
//! more than its cap then keeps them, and gets no new one until its counted
//! objects are below the cap — it is never over its cap by more than what it
//! held before, and that excess only shrinks.

use crate::ids::OrganizationId;
use crate::organizations::{Organization, org_pk};
use crate::store::{self, StoreError, built};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// A kind of object an organization may have only so many of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capped {
    /// Webhook endpoints.
    WebhookEndpoints,
    /// Identity providers.
    IdentityProviders,
    /// SCIM directories.
    Directories,
}

impl Capped {
    /// Its name in `details.limit` of a 409 `limit_reached`.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebhookEndpoints => "webhook_endpoints",
            Self::IdentityProviders => "identity_providers",
            Self::Directories => "directories",
        }
    }

    /// The organization's cap (its plan's, or its override).
    pub fn cap(self, organization: &Organization) -> u64 {
        let caps = organization.limits().caps;
        match self {
            Self::WebhookEndpoints => caps.webhook_endpoints,
            Self::IdentityProviders => caps.identity_providers,
            Self::Directories => caps.directories,
        }
    }

    fn counter(
        self,
        table: &str,
        org: OrganizationId,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(table)
            .key(store::PK, store::s(org_pk(org)))
            .key(store::SK, store::s(format!("COUNT#{}", self.name())))
            .expression_attribute_names("#n", "count")
    }

    /// The transaction item that takes one place under `cap`: cancelled
    /// (its condition fails) when the organization is at it.
    pub fn take(
        self,
        table: &str,
        org: OrganizationId,
        cap: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = self
            .counter(table, org)
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_values(":zero", store::n(0))
            .expression_attribute_values(":one", store::n(1))
            .expression_attribute_values(":cap", store::n(cap))
            .build();
        Ok(TransactWriteItem::builder().update(built(update)?).build())
    }

    /// The transaction item that gives one place back.
    pub fn give_back(
        self,
        table: &str,
        org: OrganizationId,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = self
            .counter(table, org)
            .update_expression("SET #n = if_not_exists(#n, :zero) - :one")
            .expression_attribute_values(":zero", store::n(0))
            .expression_attribute_values(":one", store::n(1))
            .build();
        Ok(TransactWriteItem::builder().update(built(update)?).build())
    }

    /// The 409 for an organization at its cap.
    pub fn reached(self, organization: &Organization) -> crate::error::ApiError {
        crate::error::ApiError::LimitReached {
            limit: self.name(),
            max: self.cap(organization),
        }
    }
}

/// The attribute that marks an object as taking a place under its cap.
pub const COUNTED: &str = "counted";

/// Whether a stored object takes a place under its cap.
pub fn is_counted(item: &store::Item) -> bool {
    matches!(item.get(COUNTED), Some(store::AttributeValue::Bool(true)))
}

/// Puts `item` as a new object of `kind` (its key must be fresh), taking a
/// place under the organization's cap in the same transaction: `false` when
/// the organization is at its cap (nothing written).
pub async fn put_new(
    store: &store::Store,
    organization: &Organization,
    kind: Capped,
    mut item: store::Item,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::types::Put;
    let cap = kind.cap(organization);
    if cap == 0 {
        return Ok(false);
    }
    item.insert(COUNTED.to_owned(), store::AttributeValue::Bool(true));
    let put = built(
        Put::builder()
            .table_name(store.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    let items = vec![
        TransactWriteItem::builder().put(put).build(),
        kind.take(store.table(), organization.id, cap)?,
    ];
    match store::transact(store, items).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.get(1).is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}
