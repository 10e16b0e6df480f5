//! Changes of a provider by PATCH, written as changes of its organization
//! with the connection item (the login connection as the sign-in flow reads
//! it) kept in step in the same transaction.

use super::{keys, login, provider_sk};
use crate::ids::IdentityProviderId;
use crate::organizations::{self, Organization, org_pk};
use crate::store::{self, Store, StoreError};

/// What a PATCH changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    /// A new display name.
    pub name: Option<String>,
    /// A new client id.
    pub client_id: Option<String>,
    /// A new key source, resolved.
    pub keys: Option<keys::Resolved>,
    /// A new login connection, or none any more.
    pub login: Option<LoginUpdate>,
    /// The connection item after the change (`Some(None)`: none), when
    /// the change touches it ([`ProviderRecord::connection`]).
    pub connection: Option<Option<login::Connection>>,
    /// The provider's revision the change was built from.
    pub seen_revision: u64,
}

/// How a PATCH's write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// Written.
    Done,
    /// No such provider in the organization (or it is being deleted).
    NotFound,
    /// Another change came first: build it again from the provider as it is.
    Stale,
}

/// What a PATCH does to the provider's login connection.
#[derive(Debug)]
pub enum LoginUpdate {
    /// Configures it (the secret already sealed).
    Set(login::LoginRecord),
    /// The provider signs nobody in any more.
    Remove,
}

/// The key of a provider's connection item ([`login::Connection`]).
pub fn connection_key(id: IdentityProviderId) -> store::Key {
    (format!("SSOCONN#{id}"), "SSOCONN".to_owned())
}

/// Changes a provider as a change of its organization (SPEC §5), so warm
/// functions verify with the new client id or keys from their next
/// request. `false` when the organization has no such provider (or it is
/// being deleted). The change starts from `organization` as the caller
/// holds it ([`organizations::change_at`]).
pub async fn update(
    store: &Store,
    organization: &Organization,
    id: IdentityProviderId,
    changes: &Changes,
    now: time::OffsetDateTime,
) -> Result<Updated, StoreError> {
    use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
    let org = organization.id;
    let mut set = vec!["updated_at = :now", "revision = :next"];
    let mut remove = Vec::new();
    let mut values = vec![
        (":now", store::timestamp(now)),
        (":seen", store::n(changes.seen_revision)),
        (":next", store::n(changes.seen_revision + 1)),
    ];
    if let Some(name) = &changes.name {
        set.push("#name = :name");
        values.push((":name", store::s(name)));
    }
    if let Some(client_id) = &changes.client_id {
        set.push("client_id = :client_id");
        values.push((":client_id", store::s(client_id)));
    }
    match &changes.keys {
        None => {}
        Some(keys::Resolved::Pinned(jwks)) => {
            set.extend(["key_source = :source", "jwks_json = :keys"]);
            values.push((":source", store::s("pinned")));
            values.push((":keys", store::s(jwks.to_string())));
            remove.extend([
                "jwks_uri",
                "keys_fetched_at",
                "keys_fresh_until",
                "fetch_claimed_at",
            ]);
        }
        Some(keys::Resolved::Fetched(fetched)) => {
            set.extend([
                "key_source = :source",
                "jwks_uri = :uri",
                "jwks_json = :keys",
                "keys_fetched_at = :fetched_at",
                "keys_fresh_until = :until",
            ]);
            values.push((":source", store::s("jwks_uri")));
            values.push((":uri", store::s(&fetched.jwks_uri)));
            values.push((":keys", store::s(&fetched.keys_json)));
            values.push((":fetched_at", store::timestamp(fetched.fetched_at)));
            values.push((":until", store::n(fetched.fresh_until)));
            // The fetch at a PATCH does not count against the interval.
            remove.push("fetch_claimed_at");
        }
    }
    match &changes.login {
        None => {}
        Some(LoginUpdate::Set(login)) => {
            set.push("login = :login");
            let value = serde_dynamo::to_attribute_value(login)
                .map_err(|source| StoreError::Corrupt { source })?;
            values.push((":login", value));
        }
        Some(LoginUpdate::Remove) => remove.push("login"),
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let (pk, sk) = (org_pk(org), provider_sk(id));
    let changed = organizations::change_at(store, org, Some(organization), |_| {
        let mut update = Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(&pk))
            .key(store::SK, store::s(&sk))
            .update_expression(&expression)
            .condition_expression(if changes.seen_revision == 0 {
                // Providers written before revisions have none.
                "attribute_exists(PK) AND attribute_not_exists(#status) \
                 AND (attribute_not_exists(revision) OR revision = :seen)"
            } else {
                "attribute_exists(PK) AND attribute_not_exists(#status) AND revision = :seen"
            })
            .expression_attribute_names("#status", "status")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if changes.name.is_some() {
            update = update.expression_attribute_names("#name", "name");
        }
        for (name, value) in &values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        let mut items = vec![
            TransactWriteItem::builder()
                .update(store::built(update.build())?)
                .build(),
        ];
        items.extend(connection_writes(
            store,
            org,
            id,
            changes.connection.as_ref().map(Option::as_ref),
        )?);
        Ok(crate::organizations::Edit {
            items,
            ..Default::default()
        })
    })
    .await?;
    Ok(match changed {
        crate::organizations::Changed::Done { .. } => Updated::Done,
        // There, not being deleted, at another revision.
        crate::organizations::Changed::ItemRefused(0, Some(item))
            if !item.contains_key("status") =>
        {
            Updated::Stale
        }
        _ => Updated::NotFound,
    })
}

/// The writes that keep a provider's connection item in step with it — and
/// the organization's marker of it (`ORG#<org>` / `SSOCONN#<id>`, which
/// `organization_id=` finds with a two-item query): put while its login is
/// enabled, deleted otherwise (`None`: unchanged).
pub(super) fn connection_writes(
    store: &Store,
    org: crate::ids::OrganizationId,
    id: IdentityProviderId,
    connection: Option<Option<&login::Connection>>,
) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, StoreError> {
    use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
    let keys = [connection_key(id), connection_marker(org, id)];
    let Some(connection) = connection else {
        return Ok(Vec::new());
    };
    keys.into_iter()
        .enumerate()
        .map(|(n, (pk, sk))| {
            Ok(match connection {
                Some(connection) => {
                    let mut item = if n == 0 {
                        store::to_item(connection)?
                    } else {
                        store::Item::from([(
                            "identity_provider_id".to_owned(),
                            store::s(id.to_string()),
                        )])
                    };
                    item.insert(store::PK.into(), store::s(pk));
                    item.insert(store::SK.into(), store::s(sk));
                    TransactWriteItem::builder()
                        .put(store::built(
                            Put::builder()
                                .table_name(store.table())
                                .set_item(Some(item))
                                .build(),
                        )?)
                        .build()
                }
                None => TransactWriteItem::builder()
                    .delete(store::built(
                        Delete::builder()
                            .table_name(store.table())
                            .key(store::PK, store::s(pk))
                            .key(store::SK, store::s(sk))
                            .build(),
                    )?)
                    .build(),
            })
        })
        .collect()
}

/// The key of the organization's marker of connection `id`.
fn connection_marker(org: crate::ids::OrganizationId, id: IdentityProviderId) -> store::Key {
    (org_pk(org), format!("{CONNECTION_MARKER_PREFIX}{id}"))
}

/// The sort-key prefix of an organization's connection markers.
const CONNECTION_MARKER_PREFIX: &str = "SSOCONN#";

/// How many login connections an organization has enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// None.
    None,
    /// Exactly this one.
    Only(IdentityProviderId),
    /// More than one.
    Several,
}

/// The organization's enabled login connections, from its markers: two read
/// at most, strongly consistent (a connection enabled or disabled a moment
/// ago counts from the next request).
pub async fn connections_of(
    store: &Store,
    org: crate::ids::OrganizationId,
) -> Result<Connections, StoreError> {
    let out = store
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", store::s(org_pk(org)))
        .expression_attribute_values(":prefix", store::s(CONNECTION_MARKER_PREFIX))
        .consistent_read(true)
        .limit(2)
        .send()
        .await?;
    let ids: Vec<IdentityProviderId> = out
        .items()
        .iter()
        .filter_map(|item| store::get_s(item, "identity_provider_id"))
        .filter_map(|id| IdentityProviderId::parse(id).ok())
        .collect();
    Ok(match ids[..] {
        [] => Connections::None,
        [only] => Connections::Only(only),
        _ => Connections::Several,
    })
}

/// The connection item of provider `id`, when its login is enabled: one
/// strongly consistent read.
pub async fn connection(
    store: &Store,
    id: IdentityProviderId,
) -> Result<Option<login::Connection>, StoreError> {
    store::get_record(store, &connection_key(id), true).await
}
