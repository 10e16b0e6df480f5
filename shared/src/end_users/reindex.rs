//! Lookup keys for end users stored before the lookup indexes existed, or
//! under an earlier rule (`tetherctl end-user add-lookup-keys`): such a user
//! has no `email_key` / `external_id_key`, or an `email_key` its address no
//! longer maps to (addresses with non-ASCII letters were once lowered with
//! Unicode's rules), so `GET /v1/end-users?email=` does not find it.

use super::store::{email_key, external_id_key};
use crate::ids::OrganizationId;
use crate::organizations::org_pk;
use crate::store::{self, SK, Store, StoreError};

/// What [`add_lookup_keys`] did for one organization.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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
    add_lookup_keys_by(store, org, PAGE).await
}

/// Users a query of [`add_lookup_keys`] reads at most (before its filter).
const PAGE: i32 = 1000;

/// [`add_lookup_keys`], reading `page` users a query (tests page with few).
pub async fn add_lookup_keys_by(
    store: &Store,
    org: OrganizationId,
    page: i32,
) -> Result<Reindexed, StoreError> {
    let pk = org_pk(org);
    let refine = |q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder| {
        q.limit(page)
            // Every user with an email: whether its key follows the current
            // rule is told by comparing, below.
            .filter_expression(
                "attribute_exists(email) \
             OR (attribute_exists(external_id) AND attribute_not_exists(external_id_key))",
            )
            .projection_expression("SK, email, external_id, email_key, external_id_key")
    };
    let mut report = Reindexed::default();
    // A response at a time: an organization's users need not fit in memory.
    let mut start = None;
    loop {
        let (items, next) = store::query_stretch(store, &pk, "USER#", &refine, start).await?;
        for item in &items {
            if let Some(written) = add_keys(store, org, &pk, item).await? {
                report.missing += 1;
                report.indexed += usize::from(written);
            }
        }
        start = next;
        if start.is_none() {
            return Ok(report);
        }
    }
}

/// Writes the keys `item` (a user of `org`, as projected) lacks: `None` when
/// it lacks none, else whether this write gave them.
async fn add_keys(
    store: &Store,
    org: OrganizationId,
    pk: &str,
    item: &store::Item,
) -> Result<Option<bool>, StoreError> {
    let Some(sk) = store::get_s(item, SK) else {
        return Ok(None);
    };
    let lacking =
        |field: &str, key: &str| store::get_s(item, field).filter(|_| !item.contains_key(key));
    // An email key of an earlier rule, to be replaced.
    let stale = store::get_s(item, "email")
        .zip(store::get_s(item, "email_key"))
        .filter(|(email, key)| *key != email_key(org, email));
    let mut set = Vec::new();
    let mut conditions = vec!["attribute_exists(PK)"];
    let mut update = store.update_item((pk, sk));
    if let Some(email) = lacking("email", "email_key") {
        set.push("email_key = :email_key");
        conditions.push("email = :email AND attribute_not_exists(email_key)");
        update = update
            .expression_attribute_values(":email", store::s(email))
            .expression_attribute_values(":email_key", store::s(email_key(org, email)));
    }
    if let Some((email, old)) = stale {
        set.push("email_key = :email_key");
        conditions.push("email = :email AND email_key = :old_email_key");
        update = update
            .expression_attribute_values(":email", store::s(email))
            .expression_attribute_values(":old_email_key", store::s(old))
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
        return Ok(None);
    }
    let written = update
        .update_expression(format!("SET {}", set.join(", ")))
        .condition_expression(conditions.join(" AND "))
        .send()
        .await;
    StoreError::applied(written).map(Some)
}
