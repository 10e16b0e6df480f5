//! Who made a change (SPEC §15): every item a request's operation puts or
//! updates carries its actor, so the events derived from the table's stream
//! can name it without the request paying a call for it.
//!
//! The pipeline runs each operation inside [`scope`]; an SDK interceptor
//! adds `actor_type`, `actor_id` and `actor_request` (the request id) to
//! every `PutItem`, `UpdateItem` and `Put`/`Update` of a `TransactWriteItems`
//! made in that scope. Writes outside any scope (the rate limiter before the
//! operation, the purge, `tetherctl`) add nothing, and the publisher, seeing
//! an item whose `actor_request` did not change, attributes the change to
//! `system`. A deletion has no new image to carry the stamp: the operations
//! that delete a resource add [`deletion_marker`] to their transaction.

use crate::store::{Item, PK, SK, TTL_ATTRIBUTE, n, s};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::HashMap;

/// The attribute naming the kind of actor.
pub const ACTOR_TYPE: &str = "actor_type";
/// The attribute naming the actor's id.
pub const ACTOR_ID: &str = "actor_id";
/// The attribute naming the request that wrote the item.
pub const ACTOR_REQUEST: &str = "actor_request";
/// Sort-key prefix of deletion markers.
pub const DELETED_PREFIX: &str = "DELETED#";
/// How long a deletion marker lives: long enough for the stream (24 h).
const MARKER_SECONDS: i64 = 2 * 24 * 60 * 60;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `api_key`, `end_user`, `external_service`, `directory`,
    /// `portal_session` or `system`.
    pub kind: &'static str,
    /// The API key's, end user's or external service's id; empty for `system`.
    pub id: String,
    /// The request that made the change (empty for `system`).
    pub request: String,
}

impl Actor {
    /// The actor of changes no request made (the purge, the operator).
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: String::new(),
            request: String::new(),
        }
    }

    /// The actor stamped on `item`, if any.
    pub fn of(item: &Item) -> Option<Self> {
        let kind = match crate::store::get_s(item, ACTOR_TYPE)? {
            "api_key" => "api_key",
            "end_user" => "end_user",
            "external_service" => "external_service",
            "directory" => "directory",
            "portal_session" => "portal_session",
            _ => return None,
        };
        Some(Self {
            kind,
            id: crate::store::get_s(item, ACTOR_ID)?.to_owned(),
            request: crate::store::get_s(item, ACTOR_REQUEST)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    fn attributes(&self) -> [(&'static str, aws_sdk_dynamodb::types::AttributeValue); 3] {
        [
            (ACTOR_TYPE, s(self.kind)),
            (ACTOR_ID, s(&self.id)),
            (ACTOR_REQUEST, s(&self.request)),
        ]
    }
}

tokio::task_local! {
    static CURRENT: Actor;
}

/// Runs `operation` with every write it makes stamped with `actor`.
pub async fn scope<F: std::future::Future>(actor: Actor, operation: F) -> F::Output {
    CURRENT.scope(actor, operation).await
}

/// The actor of the running operation, if any.
pub fn current() -> Option<Actor> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A small item, put in the transaction that deletes the item `(pk, sk)`,
/// that names who deleted it (the stream's REMOVE record has no new image).
/// `None` outside an operation.
pub fn deletion_marker(table: &str, pk: &str, sk: &str, now: i64) -> Option<TransactWriteItem> {
    let actor = current()?;
    let mut item: Item = HashMap::from([
        (PK.to_owned(), s(pk)),
        (SK.to_owned(), s(format!("{DELETED_PREFIX}{sk}"))),
        (
            TTL_ATTRIBUTE.to_owned(),
            n(now.saturating_add(MARKER_SECONDS)),
        ),
    ]);
    item.extend(actor.attributes().map(|(k, v)| (k.to_owned(), v)));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .ok()?;
    Some(TransactWriteItem::builder().put(put).build())
}

/// The interceptor that stamps the running operation's actor.
#[derive(Debug, Clone, Copy)]
pub(super) struct ActorStamp;

const TYPE_VALUE: &str = ":tether_actor_type";
const ID_VALUE: &str = ":tether_actor_id";
const REQUEST_VALUE: &str = ":tether_actor_request";

fn stamp_item(item: &mut Item, actor: &Actor) {
    for (name, value) in actor.attributes() {
        item.insert(name.to_owned(), value);
    }
}

/// Adds `SET actor_type = …, actor_id = …, actor_request = …` to an update.
fn stamp_update(expression: &mut Option<String>, values: &mut Option<Item>, actor: &Actor) {
    let set = format!(
        "{ACTOR_TYPE} = {TYPE_VALUE}, {ACTOR_ID} = {ID_VALUE}, {ACTOR_REQUEST} = {REQUEST_VALUE}"
    );
    let current = expression.take().unwrap_or_default();
    // Stamped already (a store rebuilt from another's client keeps its
    // interceptors, so two may run).
    if current.contains(TYPE_VALUE) {
        *expression = Some(current);
        return;
    }
    *expression = Some(match current.strip_prefix("SET ") {
        Some(rest) => format!("SET {set}, {rest}"),
        None => format!("SET {set} {current}").trim_end().to_owned(),
    });
    let values = values.get_or_insert_with(HashMap::new);
    values.insert(TYPE_VALUE.to_owned(), s(actor.kind));
    values.insert(ID_VALUE.to_owned(), s(&actor.id));
    values.insert(REQUEST_VALUE.to_owned(), s(&actor.request));
}

impl Intercept for ActorStamp {
    fn name(&self) -> &'static str {
        "TetherActorStamp"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(actor) = current() else {
            return Ok(());
        };
        let input = context.input_mut();
        if let Some(put) = input.downcast_mut::<PutItemInput>() {
            if let Some(item) = put.item.as_mut() {
                stamp_item(item, &actor);
            }
        } else if let Some(update) = input.downcast_mut::<UpdateItemInput>() {
            stamp_update(
                &mut update.update_expression,
                &mut update.expression_attribute_values,
                &actor,
            );
        } else if let Some(transaction) = input.downcast_mut::<TransactWriteItemsInput>() {
            for item in transaction.transact_items.iter_mut().flatten() {
                if let Some(put) = item.put.as_mut() {
                    // A deletion marker carries its own stamp already.
                    stamp_item(&mut put.item, &actor);
                } else if let Some(update) = item.update.as_mut() {
                    let mut expression = Some(std::mem::take(&mut update.update_expression));
                    stamp_update(
                        &mut expression,
                        &mut update.expression_attribute_values,
                        &actor,
                    );
                    update.update_expression = expression.unwrap_or_default();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            kind: "api_key",
            id: "k".into(),
            request: "r".into(),
        }
    }

    #[test]
    fn updates_gain_a_set_clause_whatever_their_shape() {
        for (before, after) in [
            (
                "SET a = :a",
                "SET actor_type = :tether_actor_type, actor_id = :tether_actor_id, actor_request = :tether_actor_request, a = :a",
            ),
            (
                "REMOVE a",
                "SET actor_type = :tether_actor_type, actor_id = :tether_actor_id, actor_request = :tether_actor_request REMOVE a",
            ),
            (
                "ADD n :one",
                "SET actor_type = :tether_actor_type, actor_id = :tether_actor_id, actor_request = :tether_actor_request ADD n :one",
            ),
        ] {
            let mut expression = Some(before.to_owned());
            let mut values = None;
            stamp_update(&mut expression, &mut values, &actor());
            assert_eq!(expression.as_deref(), Some(after));
            assert_eq!(values.unwrap().len(), 3);
        }
    }

    #[test]
    fn the_stamp_reads_back() {
        let mut item = Item::new();
        assert_eq!(Actor::of(&item), None);
        stamp_item(&mut item, &actor());
        assert_eq!(Actor::of(&item), Some(actor()));
    }
}
