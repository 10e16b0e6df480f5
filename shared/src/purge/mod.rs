//! `purge-end-user` (SPEC §12): the asynchronous half of `DELETE
//! /v1/end-users/{id}`. The table's stream delivers every change; when an end
//! user enters `deleting`, its identities (and their uniqueness items) are
//! unlinked, then the end user, its external-service link and one count of
//! the organization's relationships go in **one transaction** conditioned on
//! the user still being there and deleting — so a redelivered record (streams
//! deliver at least once) finds nothing left to do and decrements nothing.

use crate::end_users::{EndUserRecord, Status, user_sk};
use crate::identities;
use crate::ids::{EndUserId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, PK, SK, Store, StoreError, built};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

pub use crate::stream::StreamChange;

/// The end user `change` starts the deletion of, if it does.
fn deletion(change: &StreamChange) -> Option<(OrganizationId, EndUserId)> {
    let new = change.new_image.as_ref()?;
    let is_user = store::get_s(new, SK).is_some_and(|sk| sk.starts_with("USER#"));
    let now_deleting = store::get_s(new, "status") == Some("deleting");
    let was_deleting = change
        .old_image
        .as_ref()
        .and_then(|old| store::get_s(old, "status"))
        == Some("deleting");
    if !(is_user && now_deleting && !was_deleting) {
        return None;
    }
    let org = OrganizationId::parse(store::get_s(new, "organization_id")?).ok()?;
    let user = EndUserId::parse(store::get_s(new, "id")?).ok()?;
    Some((org, user))
}

/// What a purge found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// The end user was removed now (and counted out of relationships).
    Removed,
    /// Nothing was left: an earlier delivery did it.
    AlreadyGone,
}

/// Handles a batch; returns the sequence numbers that failed (Lambda retries
/// those and everything after them in the shard).
pub async fn handle(store: &Store, changes: &[StreamChange]) -> Vec<String> {
    let mut failures = Vec::new();
    for change in changes {
        let Some((org, user)) = deletion(change) else {
            continue;
        };
        match purge(store, org, user).await {
            Ok(outcome) => {
                tracing::info!(organization_id = %org, end_user_id = %user, ?outcome, "end user purged")
            }
            Err(err) => {
                tracing::error!(organization_id = %org, end_user_id = %user, error = %err, "purge failed; will be retried");
                failures.push(change.sequence_number.clone());
                // Later records of the shard wait for this one (ordering).
                break;
            }
        }
    }
    failures
}

/// What `tetherctl purge retry` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RetryReport {
    /// End users found in `deleting` and purged now.
    pub removed: Vec<EndUserId>,
    /// End users named that were already gone (or not deleting).
    pub already_gone: Vec<EndUserId>,
    /// End users whose purge failed again, with the cause.
    pub failed: Vec<(EndUserId, String)>,
}

/// Re-drives the purge of an organization's end users stuck in `deleting`
/// (after a batch the stream trigger gave up on): `user`, or every one of
/// the organization. An operator's tool: it reads the organization's users
/// page by page, filtered on `status` (no index serves this rare query).
pub async fn retry(
    store: &Store,
    org: OrganizationId,
    user: Option<EndUserId>,
) -> Result<RetryReport, StoreError> {
    let users = match user {
        Some(user) => vec![user],
        None => deleting_users(store, org).await?,
    };
    let mut report = RetryReport::default();
    for user in users {
        match purge(store, org, user).await {
            Ok(Purged::Removed) => report.removed.push(user),
            Ok(Purged::AlreadyGone) => report.already_gone.push(user),
            Err(err) => report.failed.push((user, err.to_string())),
        }
    }
    Ok(report)
}

/// The organization's end users in `deleting`.
async fn deleting_users(store: &Store, org: OrganizationId) -> Result<Vec<EndUserId>, StoreError> {
    let items = store::query_all(store, &org_pk(org), "USER#", |q| {
        q.filter_expression("#status = :deleting")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleting", store::s("deleting"))
            .projection_expression("id")
    })
    .await?;
    Ok(items
        .iter()
        .filter_map(|item| store::get_s(item, "id"))
        .filter_map(|id| EndUserId::parse(id).ok())
        .collect())
}

/// Purges one end user under deletion. Safe to run any number of times.
pub async fn purge(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
) -> Result<Purged, StoreError> {
    // 1. Identities: no new one can appear, linking needs an active user.
    loop {
        let identities = identities::of_user(store, org, user).await?;
        if identities.is_empty() {
            break;
        }
        for identity in identities {
            match store::transact(store, identities::unlink_items(store, &identity)?.to_vec()).await
            {
                Ok(()) => {}
                // Unlinked meanwhile (a redelivery, or the organization's DELETE).
                Err(StoreError::TransactionCanceled { reasons })
                    if reasons.iter().any(|r| r.is_condition_failed()) => {}
                Err(err) => return Err(err),
            }
        }
    }
    // 2. Its groups (a directory's user): none can gain it, only active
    // users are added.
    crate::groups::store::remove_member_everywhere(store, org, user).await?;
    // 3. The end user, its link, and one relationship, together.
    let Some(record) = crate::end_users::find(store, org, user).await? else {
        return Ok(Purged::AlreadyGone);
    };
    if record.status != Status::Deleting {
        return Ok(Purged::AlreadyGone);
    }
    final_transaction(store, &record, true).await
}

async fn final_transaction(
    store: &Store,
    record: &EndUserRecord,
    count: bool,
) -> Result<Purged, StoreError> {
    let table = store.table();
    let org = record.organization_id;
    let mut items = vec![
        TransactWriteItem::builder()
            .delete(built(
                Delete::builder()
                    .table_name(table)
                    .key(PK, store::s(org_pk(org)))
                    .key(SK, store::s(user_sk(record.id)))
                    .condition_expression("attribute_exists(PK) AND #status = :deleting")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":deleting", store::s("deleting"))
                    .build(),
            )?)
            .build(),
    ];
    if count {
        items.push(crate::relationships::uncount(
            store,
            org,
            record.count_shard,
        )?);
    }
    if let Some(link) = &record.external_link_sk {
        items.push(
            TransactWriteItem::builder()
                .delete(built(
                    Delete::builder()
                        .table_name(table)
                        .key(PK, store::s(org_pk(org)))
                        .key(SK, store::s(link))
                        .condition_expression("attribute_not_exists(PK) OR end_user_id = :id")
                        .expression_attribute_values(":id", store::s(record.id.to_string()))
                        .build(),
                )?)
                .build(),
        );
    }
    match store::transact(store, items).await {
        Ok(()) => Ok(Purged::Removed),
        Err(StoreError::TransactionCanceled { reasons }) => {
            if reasons.first().is_some_and(|r| r.is_condition_failed()) {
                return Ok(Purged::AlreadyGone);
            }
            if count && reasons.get(1).is_some_and(|r| r.is_condition_failed()) {
                // The counter is already at zero: remove the user regardless
                // rather than block the purge on a counter that cannot go lower.
                tracing::warn!(organization_id = %org, shard = ?record.count_shard, "relationships_active was 0 at a purge");
                return Box::pin(final_transaction(store, record, false)).await;
            }
            Err(StoreError::TransactionCanceled { reasons })
        }
        Err(err) => Err(err),
    }
}

/// The Lambda entry point of `purge-end-user`: partial batch failures are
/// reported so only the failed record and those after it are retried.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::stream::serve(handler).await
}

/// [`handle`] as a stream handler.
pub fn handler<'a>(
    followers: &'a crate::stream::Followers,
    changes: &'a [StreamChange],
) -> futures_util::future::BoxFuture<'a, Vec<String>> {
    Box::pin(handle(&followers.store, changes))
}
