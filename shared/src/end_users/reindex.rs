//! Lookup keys for end users stored before the lookup indexes existed
//! (`tetherctl end-user add-lookup-keys`): such a user has no `email_key` /
//! `external_id_key`, so `GET /v1/end-users?email=` does not find it.

use super::store::{email_key, external_id_key};
use crate::ids::OrganizationId;
use crate::organizations::org_pk;
use crate::store::{self, PK, SK, Store, StoreError};
use serde::Serialize;

/// What [`add_lookup_keys`] did for one organization.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reindexed {
    /// End users found without a key their email or external id calls for.
    pub missing: usize,
    /// Of those, the ones this run gave their keys (the rest were purged in
    /// between, or given them by another run).
    pub indexed: usize,
}

/// Gives the organization's end users the lookup keys they lack. Safe beside
/// live traffic and to run any number of times: each write is conditioned on
/// the user still existing with that email / external id and still lacking
/// the key. It changes nothing the API renders, so it bumps no version
/// (ETags stay valid) and produces no event.
pub async fn add_lookup_keys(store: &Store, org: OrganizationId) -> Result<Reindexed, StoreError> {
    let pk = org_pk(org);
    let items = store::query_all(store, &pk, "USER#", |q| {
        q.filter_expression(
            "(attribute_exists(email) AND attribute_not_exists(email_key)) \
             OR (attribute_exists(external_id) AND attribute_not_exists(external_id_key))",
        )
        .projection_expression("SK, email, external_id, email_key, external_id_key")
    })
    .await?;
    let mut report = Reindexed::default();
    for item in items {
        let Some(sk) = store::get_s(&item, SK) else {
            continue;
        };
        let lacking =
            |field: &str, key: &str| store::get_s(&item, field).filter(|_| !item.contains_key(key));
        let mut set = Vec::new();
        let mut conditions = vec!["attribute_exists(PK)"];
        let mut update = store
            .client()
            .update_item()
            .table_name(store.table())
            .key(PK, store::s(&pk))
            .key(SK, store::s(sk))
            .return_consumed_capacity(store::CAPACITY);
        if let Some(email) = lacking("email", "email_key") {
            set.push("email_key = :email_key");
            conditions.push("email = :email AND attribute_not_exists(email_key)");
            update = update
                .expression_attribute_values(":email", store::s(email))
                .expression_attribute_values(":email_key", store::s(email_key(org, email)));
        }
        if let Some(external_id) = lacking("external_id", "external_id_key") {
            set.push("external_id_key = :external_id_key");
            conditions.push("external_id = :external_id AND attribute_not_exists(external_id_key)");
            update = update
                .expression_attribute_values(":external_id", store::s(external_id))
                .expression_attribute_values(
                    ":external_id_key",
                    store::s(external_id_key(org, external_id)),
                );
        }
        if set.is_empty() {
            continue;
        }
        report.missing += 1;
        let written = update
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await
            .map_err(StoreError::from);
        if StoreError::applied(written)? {
            report.indexed += 1;
        }
    }
    Ok(report)
}
