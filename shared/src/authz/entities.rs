//! Building the entities of a decision: uids, attributes, parents.

use crate::error::ApiError;
use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use std::collections::{HashMap, HashSet};

pub(super) fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

pub(super) fn entity(
    uid: EntityUid,
    attrs: Vec<(&str, RestrictedExpression)>,
) -> Result<Entity, ApiError> {
    entity_in(uid, attrs, HashSet::new())
}

pub(super) fn entity_in(
    uid: EntityUid,
    attrs: Vec<(&str, RestrictedExpression)>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, ApiError> {
    let attrs: HashMap<String, RestrictedExpression> =
        attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Entity::new(uid, attrs, parents).map_err(ApiError::internal)
}

pub(super) fn strings(values: impl IntoIterator<Item = String>) -> RestrictedExpression {
    RestrictedExpression::new_set(values.into_iter().map(RestrictedExpression::new_string))
}
