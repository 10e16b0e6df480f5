//! Batches: up to 100 reads in one `BatchGetItem`, 25 idempotent writes in
//! one `BatchWriteItem`, each asked again for what DynamoDB left unprocessed.

use super::{CAPACITY, Item, Key, PK, SK, Store, StoreError, built, get_s, key_item};

/// Rounds of a `BatchGetItem` that DynamoDB answered only in part.
const BATCH_READ_ROUNDS: u32 = 4;

/// Reads up to 100 items in one `BatchGetItem` (strongly consistent), in the
/// order of `keys`: one round trip where separate `GetItem`s would be several.
/// Keys DynamoDB leaves unprocessed (throttling) are asked again with a short
/// backoff; still unprocessed after that is [`StoreError::Throttled`].
pub async fn get_items(store: &Store, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let mut pending = built(
        KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(key_item).collect()))
            .consistent_read(true)
            .build(),
    )?;
    let mut found: Vec<Item> = Vec::new();
    for round in 0..BATCH_READ_ROUNDS {
        if round > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10 << round)).await;
        }
        let out = store
            .client()
            .batch_get_item()
            .request_items(store.table(), pending)
            .return_consumed_capacity(CAPACITY)
            .send()
            .await?;
        if let Some(mut responses) = out.responses {
            found.extend(responses.remove(store.table()).unwrap_or_default());
        }
        let unprocessed = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(store.table()))
            .filter(|k| !k.keys().is_empty());
        let Some(unprocessed) = unprocessed else {
            return Ok(in_key_order(keys, found));
        };
        pending = unprocessed;
    }
    Err(StoreError::Throttled {
        source: "BatchGetItem left keys unprocessed after every round".into(),
    })
}

/// Writes up to 25 puts or deletes in one `BatchWriteItem` each, not as a
/// transaction: for writes that are each idempotent and whose order does
/// not matter. Requests DynamoDB leaves unprocessed are sent again with a
/// short backoff; still unprocessed after that is [`StoreError::Throttled`].
pub async fn batch_write(
    store: &Store,
    requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
) -> Result<(), StoreError> {
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        let mut round = 0;
        while !pending.is_empty() {
            if round == BATCH_READ_ROUNDS {
                return Err(StoreError::Throttled {
                    source: "BatchWriteItem left requests unprocessed after every round".into(),
                });
            }
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << round)).await;
            }
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), pending)
                .return_consumed_capacity(CAPACITY)
                .send()
                .await?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(store.table()))
                .unwrap_or_default();
            round += 1;
        }
    }
    Ok(())
}

/// The `found` items in the order of `keys` (`BatchGetItem` answers in any order).
fn in_key_order(keys: &[Key], mut found: Vec<Item>) -> Vec<Option<Item>> {
    keys.iter()
        .map(|(pk, sk)| {
            found
                .iter()
                .position(|item| get_s(item, PK) == Some(pk) && get_s(item, SK) == Some(sk))
                .map(|at| found.swap_remove(at))
        })
        .collect()
}
