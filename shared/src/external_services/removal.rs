//! The removal of a relation by its organization (SPEC §11): the relation
//! goes, every connect token that claimed or confirmed it becomes
//! `consumed`, and the external organization id is free again.

use super::connect_tokens::token_pk;
use super::relations::{
    CONSUMED_TOKEN_SECONDS, MAX_TRANSACT_ITEMS, RelationRecord, reservation_sk,
};
use crate::ids::OrganizationId;
use crate::store::{self, PK, SK, Store, StoreError, built};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

/// Removes a relation of `org`: it goes, its connect tokens become
/// `consumed`, the external organization id is free again. `false` when it
/// was already gone.
pub async fn remove(
    store: &Store,
    org: OrganizationId,
    relation: &RelationRecord,
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    let table = store.table();
    let delete_relation = built(
        Delete::builder()
            .table_name(table)
            .key(PK, store::s(&relation.key.pk))
            .key(SK, store::s(&relation.key.sk))
            .condition_expression("attribute_exists(PK) AND id = :id")
            .expression_attribute_values(":id", store::s(relation.id.to_string()))
            .build(),
    )?;
    // Every token that claimed or confirmed the relation becomes consumed
    // (SPEC §11): in the transaction, up to its 100-item limit; any beyond
    // right after it (idempotent updates).
    let mut hashes = vec![relation.connect_token_hash.clone()];
    for hash in &relation.confirming_token_hashes {
        if !hashes.contains(hash) {
            hashes.push(hash.clone());
        }
    }
    // Two deletes and a deletion marker come first.
    let later = hashes.split_off(hashes.len().min(MAX_TRANSACT_ITEMS - 3));
    let free_reservation = built(
        Delete::builder()
            .table_name(table)
            .key(PK, store::s(&relation.key.pk))
            .key(
                SK,
                store::s(reservation_sk(&relation.external_organization_id)),
            )
            .condition_expression("attribute_not_exists(PK) OR organization_id = :org")
            .expression_attribute_values(":org", store::s(org.to_string()))
            .build(),
    )?;
    let mut items = vec![
        TransactWriteItem::builder().delete(delete_relation).build(),
        TransactWriteItem::builder()
            .delete(free_reservation)
            .build(),
    ];
    // Who removed it, for the `relation.removed` event (SPEC §15).
    items.extend(store::actor::deletion_marker(
        table,
        &relation.key.pk,
        &relation.key.sk,
        now.unix_timestamp(),
    ));
    for hash in &hashes {
        items.push(
            TransactWriteItem::builder()
                .update(consume_token(table, hash, now)?)
                .build(),
        );
    }
    let outcome = store::transact(store, items).await;
    if outcome.is_ok() {
        for hash in &later {
            let update = consume_token(table, hash, now)?;
            let result = store
                .update_as(&update)
                .send()
                .await
                .map_err(StoreError::from);
            if let Err(err) = result {
                tracing::warn!(error = %err, "could not mark a confirming connect token consumed");
            }
        }
    }
    match outcome {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.first().is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// The update that marks the connect token `hash` consumed (kept 7 days).
fn consume_token(table: &str, hash: &str, now: time::OffsetDateTime) -> Result<Update, StoreError> {
    built(
        Update::builder()
            .table_name(table)
            .key(PK, store::s(token_pk(hash)))
            .key(SK, store::s("CTOKEN"))
            .update_expression(
                "SET #status = :consumed, consumed_at = :now, expires_at_epoch = :ttl",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":consumed", store::s("consumed"))
            .expression_attribute_values(":now", store::timestamp(now))
            .expression_attribute_values(
                ":ttl",
                store::n(now.unix_timestamp() + CONSUMED_TOKEN_SECONDS),
            )
            .build(),
    )
}
