//! Each organization's event log: `PK = EVENTS#<org>`, events at
//! `SK = SEQ#<20-digit sequence number>`, their ids at `EVTID#<id>`, the
//! sequence counter at `SEQ`.
//!
//! **Why a consumer paging with `after` never misses or repeats an event**
//! (docs/events.md has the whole argument): sequence numbers are allocated
//! in the same transaction that writes the events, conditioned on the
//! counter's value read just before — so numbers are gapless and follow
//! commit order whatever the number of concurrent publishers, and a
//! redelivered stream record is refused by its id item. A reader walks the
//! log in sequence order and stops at the first number it cannot see yet
//! (a transaction still committing), unless the event after the hole is
//! older than [`SETTLE_SECONDS`] — then the hole is events TTL removed
//! after 30 days. The cursor is the last number passed, so nothing is
//! served twice.

use super::{NewEvent, RETENTION_SECONDS};
use crate::ids::OrganizationId;
use crate::store::{self, Item, PK, SK, Store, StoreError, TTL_ATTRIBUTE, built};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde_json::Value;
use std::collections::HashMap;

/// A hole before an event younger than this is a transaction still
/// committing: the reader stops there and serves it on the next call.
pub const SETTLE_SECONDS: i64 = 5;
/// The most log items one page reads (SPEC §4): a page of rare types over
/// a long log stops here and answers what it found, with its cursor.
pub const MAX_ITEMS_READ: i32 = 1_000;
/// Log items one query asks for.
const QUERY_ITEMS: i32 = 100;
/// Events per transaction: each takes up to three items (its id, itself
/// and its end user's pointer to it), the counter one.
const EVENTS_PER_TRANSACTION: usize = 33;
const COUNTER_SK: &str = "SEQ";

fn log_pk(org: OrganizationId) -> String {
    format!("EVENTS#{org}")
}

fn seq_sk(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

/// The key of the organization's `seq`th event.
pub fn event_key(org: OrganizationId, seq: u64) -> crate::store::Key {
    (log_pk(org), seq_sk(seq))
}

/// Appends `events` to their organizations' logs, in order, each exactly
/// once however often it is appended.
pub async fn append(store: &Store, events: &[NewEvent], now: i64) -> Result<(), StoreError> {
    let mut orgs: Vec<OrganizationId> = Vec::new();
    for event in events {
        if !orgs.contains(&event.organization_id) {
            orgs.push(event.organization_id);
        }
    }
    for org in orgs {
        let mine: Vec<&NewEvent> = events.iter().filter(|e| e.organization_id == org).collect();
        for chunk in mine.chunks(EVENTS_PER_TRANSACTION) {
            append_chunk(store, org, chunk.to_vec(), now).await?;
        }
    }
    Ok(())
}

async fn counter(store: &Store, org: OrganizationId) -> Result<u64, StoreError> {
    let item = store::get_items(store, &[(log_pk(org), COUNTER_SK.to_owned())]).await?;
    Ok(item
        .into_iter()
        .flatten()
        .next()
        .and_then(|i| store::get_n(&i, "seq"))
        .unwrap_or(0))
}

async fn append_chunk(
    store: &Store,
    org: OrganizationId,
    mut chunk: Vec<&NewEvent>,
    now: i64,
) -> Result<(), StoreError> {
    let pk = log_pk(org);
    let expires = now.saturating_add(RETENTION_SECONDS);
    for _ in 0..50 {
        if chunk.is_empty() {
            return Ok(());
        }
        let base = counter(store, org).await?;
        let mut update = Update::builder()
            .table_name(store.table())
            .key(PK, store::s(&pk))
            .key(SK, store::s(COUNTER_SK))
            .update_expression("SET seq = :next")
            .expression_attribute_values(":next", store::n(base + chunk.len() as u64));
        update = if base == 0 {
            update.condition_expression("attribute_not_exists(seq)")
        } else {
            update
                .condition_expression("seq = :base")
                .expression_attribute_values(":base", store::n(base))
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .update(built(update.build())?)
                .build(),
        ];
        // Where each event's id item is in `items` (its condition fails
        // when the event was published before).
        let mut id_items = Vec::with_capacity(chunk.len());
        for (n, event) in chunk.iter().enumerate() {
            let seq = base + 1 + n as u64;
            let marker: Item = HashMap::from([
                (PK.to_owned(), store::s(&pk)),
                (SK.to_owned(), store::s(format!("EVTID#{}", event.id))),
                (TTL_ATTRIBUTE.to_owned(), store::n(expires)),
            ]);
            let item: Item = HashMap::from([
                (PK.to_owned(), store::s(&pk)),
                (SK.to_owned(), store::s(seq_sk(seq))),
                ("seq".to_owned(), store::n(seq)),
                ("type".to_owned(), store::s(event.kind)),
                (
                    "event_json".to_owned(),
                    store::s(event.render().to_string()),
                ),
                ("resource".to_owned(), store::s(&event.resource)),
                ("created_epoch".to_owned(), store::n(now)),
                ("expires_epoch".to_owned(), store::n(expires)),
                (TTL_ATTRIBUTE.to_owned(), store::n(expires)),
            ]);
            let mut puts = vec![(marker, true), (item, true)];
            if let Some(user) = &event.user_id {
                puts[1].0.insert("user_id".to_owned(), store::s(user));
                // The user's events, for redaction at purge: a pointer in
                // the base table, read strongly consistent — an index's
                // entry could lag the event it names (SPEC §15).
                let pointer: Item = HashMap::from([
                    (PK.to_owned(), store::s(user_events_key(org, user))),
                    (SK.to_owned(), store::s(seq_sk(seq))),
                    (TTL_ATTRIBUTE.to_owned(), store::n(expires)),
                ]);
                puts.push((pointer, false));
            }
            id_items.push(items.len());
            for (put, fresh) in puts {
                let put = Put::builder().table_name(store.table()).set_item(Some(put));
                let put = if fresh {
                    put.condition_expression("attribute_not_exists(PK)")
                } else {
                    put
                };
                items.push(
                    TransactWriteItem::builder()
                        .put(built(put.build())?)
                        .build(),
                );
            }
        }
        match store::transact(store, items).await {
            Ok(()) => return Ok(()),
            Err(StoreError::TransactionCanceled { reasons }) => {
                // Events whose id item exists were published before: drop them.
                let published: Vec<usize> = (0..chunk.len())
                    .filter(|n| {
                        reasons
                            .get(id_items[*n])
                            .is_some_and(|r| r.is_condition_failed())
                    })
                    .collect();
                let counter_moved = reasons.first().is_some_and(|r| r.is_condition_failed());
                if published.is_empty() && !counter_moved {
                    return Err(StoreError::TransactionCanceled { reasons });
                }
                let mut n = 0;
                chunk.retain(|_| {
                    let keep = !published.contains(&n);
                    n += 1;
                    keep
                });
                // Another publisher appended meanwhile: read the counter again.
            }
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Unavailable {
        source: "the event counter kept moving".into(),
    })
}

/// The partition of an end user's pointers to its events (and, for events
/// logged before the pointers, the key of their `ByExternalId` entries).
fn user_events_key(org: OrganizationId, user: &str) -> String {
    format!("EVUSER#{org}#{user}")
}

/// The members of an event's resource that are an end user's personal data.
const PERSONAL: &[&str] = &[
    "email",
    "display_name",
    "external_id",
    "external_email",
    "external_username",
    "external_display_name",
    "external_user_id",
];

/// An event's `data` without the personal data of its end user (SPEC §15): names,
/// addresses and external ids become null, metadata `{}`, in the object and
/// in `previous`.
pub fn redact(data: &mut Value) {
    for part in ["object", "previous"] {
        if let Some(object) = data[part].as_object_mut() {
            for field in PERSONAL {
                if object.contains_key(*field) {
                    object.insert((*field).to_owned(), Value::Null);
                }
            }
            if object.contains_key("metadata") {
                object.insert("metadata".to_owned(), Value::Object(Default::default()));
            }
        }
    }
}

/// Redacts the logged events of a purged end user; returns how many were
/// rewritten. Idempotent (a redelivered purge rewrites them the same way).
/// The events are found by the user's pointers, read strongly consistent —
/// every event appended before the purge's record is there, however close
/// to it — and, for events logged before the pointers existed, by their
/// `ByExternalId` index entries.
pub async fn redact_user(
    store: &Store,
    org: OrganizationId,
    user: &str,
) -> Result<usize, StoreError> {
    let key = user_events_key(org, user);
    let mut keys: Vec<store::Key> = Vec::new();
    let mut start = None;
    loop {
        let (pointers, next) = store::query_stretch(
            store,
            &key,
            "SEQ#",
            &|q| q.projection_expression("SK"),
            start,
        )
        .await?;
        keys.extend(
            pointers
                .iter()
                .filter_map(|p| Some((log_pk(org), store::get_s(p, SK)?.to_owned()))),
        );
        start = next;
        if start.is_none() {
            break;
        }
    }
    let mut start = None;
    loop {
        let (entries, more) =
            store::query_items_page(store, store::Keys::ExternalId, &key, "SEQ#", start, 100)
                .await?;
        keys.extend(entries.iter().filter_map(|e| {
            Some((
                store::get_s(e, PK)?.to_owned(),
                store::get_s(e, SK)?.to_owned(),
            ))
        }));
        if !more {
            break;
        }
        start = entries.last().cloned();
    }
    keys.sort();
    keys.dedup();
    let mut rewritten = 0;
    for chunk in keys.chunks(100) {
        for item in store::get_items(store, chunk).await?.into_iter().flatten() {
            let Some(mut event) = store::get_s(&item, "event_json")
                .and_then(|j| serde_json::from_str::<Value>(j).ok())
            else {
                continue;
            };
            redact(&mut event["data"]);
            let written = store
                .update_item((
                    store::get_s(&item, PK).unwrap_or_default(),
                    store::get_s(&item, SK).unwrap_or_default(),
                ))
                .update_expression("SET event_json = :event")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":event", store::s(event.to_string()))
                .send()
                .await
                .map_err(StoreError::from);
            // Expired and removed meanwhile: nothing left to redact.
            StoreError::unless_condition_failed(written)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// One page of an organization's log after sequence number `after`.
#[derive(Debug)]
pub struct Page {
    /// The events, oldest first, as the API renders them.
    pub events: Vec<Value>,
    /// The last sequence number passed (the next `after`).
    pub next: u64,
}

/// Reads up to `limit` events after `after`, of `types` when given (events
/// of other types are passed over, and the cursor moves past them).
pub async fn page(
    store: &Store,
    org: OrganizationId,
    after: u64,
    types: Option<&[String]>,
    limit: usize,
    now: i64,
) -> Result<Page, StoreError> {
    let pk = log_pk(org);
    let mut next = after;
    let mut events = Vec::new();
    // A cursor at the end of the number line has nothing after it.
    let Some(first) = after.checked_add(1) else {
        return Ok(Page { events, next });
    };
    let mut start: Option<Item> = None;
    let mut read = 0;
    loop {
        let out = store
            .query()
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", store::s(&pk))
            .expression_attribute_values(":from", store::s(seq_sk(first)))
            .expression_attribute_values(":to", store::s(seq_sk(u64::MAX)))
            .consistent_read(true)
            .limit(QUERY_ITEMS.min(MAX_ITEMS_READ - read))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        read += i32::try_from(out.items().len()).unwrap_or(MAX_ITEMS_READ);
        for item in out.items() {
            let Some(seq) = store::get_n::<u64>(item, "seq") else {
                continue;
            };
            let created = store::get_n::<i64>(item, "created_epoch").unwrap_or(0);
            if Some(seq) != next.checked_add(1) && created > now.saturating_sub(SETTLE_SECONDS) {
                // A hole before a fresh event: a transaction still committing.
                return Ok(Page { events, next });
            }
            next = seq;
            let expired = store::get_n::<i64>(item, "expires_epoch").is_some_and(|e| e <= now);
            let wanted = types.is_none_or(|t| {
                store::get_s(item, "type").is_some_and(|k| t.iter().any(|w| w == k))
            });
            if !expired && wanted {
                if let Some(event) = store::get_s(item, "event_json")
                    .and_then(|j| serde_json::from_str::<Value>(j).ok())
                {
                    events.push(event);
                }
                if events.len() == limit {
                    return Ok(Page { events, next });
                }
            }
        }
        start = out.last_evaluated_key.filter(|k| !k.is_empty());
        // Bounded work (SPEC §4): a filter that matches little answers the
        // page so far; its cursor resumes where the reading stopped.
        if start.is_none() || read >= MAX_ITEMS_READ {
            return Ok(Page { events, next });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_takes_personal_data_out_of_object_and_previous() {
        let mut data = json!({
            "object": {"id": "u", "email": "ada@example.com", "display_name": "Ada",
                       "external_id": "crm-1", "metadata": {"a": 1}, "subscription": "pro"},
            "previous": {"metadata": {"a": 0}, "subscription": "free"}
        });
        redact(&mut data);
        assert_eq!(
            data,
            json!({
                "object": {"id": "u", "email": null, "display_name": null,
                           "external_id": null, "metadata": {}, "subscription": "pro"},
                "previous": {"metadata": {}, "subscription": "free"}
            })
        );
        let again = data.clone();
        redact(&mut data);
        assert_eq!(data, again, "idempotent");
    }

    #[test]
    fn sequence_keys_sort_as_numbers() {
        assert!(seq_sk(9) < seq_sk(10));
        assert!(seq_sk(99_999) < seq_sk(100_000));
    }
}
