//! Events (SPEC §15): every change of an organization's resources, derived
//! from the table's stream by `publish-events` (so no request pays a call
//! for them), kept 30 days, read in order with `GET /v1/events`.

mod derive;
pub mod log;

use crate::clock::Timestamp;
use crate::ids::OrganizationId;
use crate::store::actor::Actor;
use crate::store::{self, Store};
use crate::stream::StreamChange;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use derive::events;

/// How long events are kept.
pub const RETENTION_SECONDS: i64 = 30 * 24 * 60 * 60;

pub use crate::event_types::TYPES;

/// An event about to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Deterministic: from the stream record and the event's place in it, so
    /// a redelivered record yields the same ids (and is published once).
    pub id: String,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Its type.
    pub kind: &'static str,
    /// When it was derived.
    pub created_at: Timestamp,
    /// Who made the change.
    pub actor: Actor,
    /// `{object, previous?}`.
    pub data: Value,
    /// The sort key of the changed item (ordering per resource).
    pub resource: String,
    /// The end user whose personal data it carries, if any.
    pub user_id: Option<String>,
}

impl NewEvent {
    /// The event as the API renders it.
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "organization_id": self.organization_id,
            "created_at": self.created_at,
            "actor": {
                "type": self.actor.kind,
                "id": (!self.actor.id.is_empty()).then_some(&self.actor.id),
            },
            "data": self.data,
        })
    }
}

/// The id of the `n`th event of the stream record `record`.
pub fn event_id(record: &str, n: usize) -> String {
    let digest = Sha256::digest(format!("{record}#{n}").as_bytes());
    format!("evt_{}", &hex::encode(digest)[..32])
}

/// `publish-events`: derives the events of a batch of stream changes and
/// appends them to their organizations' logs. Returns the sequence numbers
/// of the changes to retry (the first failure and everything after it: the
/// batch is retried in order, and what was published already is recognised
/// by its id).
pub async fn handle(
    store: &Store,
    changes: &[StreamChange],
    now: time::OffsetDateTime,
) -> Vec<String> {
    let stamp = Timestamp::from(now);
    let mut pending = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let marker = match derive::removed_key(change) {
            Some((pk, sk)) => match read_marker(store, &pk, &sk).await {
                Ok(marker) => marker,
                Err(err) => {
                    tracing::warn!(error = %err, "reading a deletion marker failed; the batch is retried");
                    return changes[i..]
                        .iter()
                        .map(|c| c.sequence_number.clone())
                        .collect();
                }
            },
            None => None,
        };
        pending.push((i, events(change, marker.as_ref(), stamp)));
    }
    let mut all: Vec<NewEvent> = pending.into_iter().flat_map(|(_, e)| e).collect();
    if all.is_empty() {
        return Vec::new();
    }
    // A purged end user's personal data leaves its events (SPEC §15): those
    // of this batch before they are written, the logged ones after.
    let purged: Vec<(OrganizationId, String)> = all
        .iter()
        .filter(|e| e.kind == "end_user.purged")
        .filter_map(|e| Some((e.organization_id, e.user_id.clone()?)))
        .collect();
    for event in &mut all {
        if event.user_id.as_ref().is_some_and(|u| {
            purged
                .iter()
                .any(|(o, p)| *o == event.organization_id && p == u)
        }) {
            log::redact(&mut event.data);
        }
    }
    if let Err(err) = log::append(store, &all, now.unix_timestamp()).await {
        tracing::error!(error = %err, "publishing events failed; the batch is retried");
        return changes.iter().map(|c| c.sequence_number.clone()).collect();
    }
    for (org, user) in &purged {
        if let Err(err) = log::redact_user(store, *org, user).await {
            tracing::error!(error = %err, "redacting a purged end user's events failed; the batch is retried");
            return changes.iter().map(|c| c.sequence_number.clone()).collect();
        }
    }
    Vec::new()
}

/// The actor a deletion marker names.
async fn read_marker(
    store: &Store,
    pk: &str,
    sk: &str,
) -> Result<Option<Actor>, store::StoreError> {
    let key = (
        pk.to_owned(),
        format!("{}{sk}", store::actor::DELETED_PREFIX),
    );
    let found = store::get_items(store, &[key]).await?;
    Ok(found
        .into_iter()
        .flatten()
        .next()
        .and_then(|item| Actor::of(&item)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_the_same_on_every_delivery_and_differ_between_events() {
        assert_eq!(event_id("rec-1", 0), event_id("rec-1", 0));
        assert_ne!(event_id("rec-1", 0), event_id("rec-1", 1));
        assert_ne!(event_id("rec-1", 0), event_id("rec-2", 0));
        assert!(event_id("rec-1", 0).starts_with("evt_"));
    }
}
