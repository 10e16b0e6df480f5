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

impl super::Engine {
    /// The decision's principal as an entity (and its organization's, and
    /// an end user's groups), pushed to `entities`: its uid.
    pub(super) fn principal_entity(
        &self,
        question: &super::Question<'_>,
        entities: &mut Vec<Entity>,
    ) -> Result<EntityUid, ApiError> {
        use super::Principal;
        use crate::ids::OrganizationId;
        let types = &self.types;
        let organization_uid = |id: OrganizationId| uid(&types.organization, &id.to_string());
        let principal = match question.principal {
            Principal::ApiKey {
                id,
                organization,
                scope,
            } => {
                let granted = [
                    crate::auth::Scope::Read,
                    crate::auth::Scope::ReadWrite,
                    crate::auth::Scope::Admin,
                ]
                .into_iter()
                .filter(|s| scope.is_some_and(|max| *s <= max))
                .map(|s| s.as_str().to_owned());
                let principal = uid(&types.api_key, id);
                let org = organization_uid(*organization);
                entities.push(entity(org.clone(), vec![])?);
                entities.push(entity(
                    principal.clone(),
                    vec![
                        ("organization", RestrictedExpression::new_entity_uid(org)),
                        ("scopes", strings(granted)),
                    ],
                )?);
                principal
            }
            Principal::EndUser { id, organization } => {
                let principal = uid(&types.end_user, &id.to_string());
                let org = organization_uid(*organization);
                entities.push(entity(org.clone(), vec![])?);
                let groups = self.groups(question.groups, &org, entities)?;
                entities.push(entity_in(
                    principal.clone(),
                    vec![("organization", RestrictedExpression::new_entity_uid(org))],
                    groups,
                )?);
                principal
            }
            Principal::Directory { id, organization } => {
                let principal = uid(&types.directory, id);
                let org = organization_uid(*organization);
                entities.push(entity(org.clone(), vec![])?);
                entities.push(entity(
                    principal.clone(),
                    vec![("organization", RestrictedExpression::new_entity_uid(org))],
                )?);
                principal
            }
            Principal::PortalSession {
                id,
                organization,
                views,
            } => {
                let principal = uid(&types.portal_session, id);
                let org = organization_uid(*organization);
                entities.push(entity(org.clone(), vec![])?);
                entities.push(entity(
                    principal.clone(),
                    vec![
                        ("organization", RestrictedExpression::new_entity_uid(org)),
                        ("views", strings(views.iter().map(|v| (*v).to_owned()))),
                    ],
                )?);
                principal
            }
            Principal::ExternalService { id, scopes } => {
                let principal = uid(&types.external_service, id);
                entities.push(entity(
                    principal.clone(),
                    vec![("scopes", strings(scopes.iter().cloned()))],
                )?);
                principal
            }
        };
        Ok(principal)
    }
}
