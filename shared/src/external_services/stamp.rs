//! Stamps services' names on relations stored before claims stamped them
//! (`tetherctl external-service stamp-relation-names`), so the events of
//! such a relation carry the name without waiting for a confirmation.

use super::{ServiceRecord, service_pk};
use crate::store::{self, SK, Store, StoreError};

/// Gives `service`'s relations that lack it the service's name; the number
/// found without it and the number this run stamped. Safe beside live
/// traffic and to run again: each write is conditioned on the name still
/// missing. Nothing the external-service API shows changes; the relation's
/// events render the name from then on (no event of its own).
pub async fn stamp_relation_names(
    store: &Store,
    service: &ServiceRecord,
) -> Result<(usize, usize), StoreError> {
    let pk = service_pk(service.id);
    let unnamed = store::query_all(store, &pk, "REL#ORG#", |q| {
        q.filter_expression("attribute_not_exists(external_service_name)")
            .projection_expression("SK")
    })
    .await?;
    let mut stamped = 0;
    for item in &unnamed {
        let Some(sk) = store::get_s(item, SK) else {
            continue;
        };
        let written = store
            .update_item((&pk, sk))
            .update_expression("SET external_service_name = :name")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(external_service_name)",
            )
            .expression_attribute_values(":name", store::s(&service.name))
            .send()
            .await
            .map_err(StoreError::from);
        stamped += usize::from(StoreError::applied(written)?);
    }
    Ok((unnamed.len(), stamped))
}
