//! The group item and its writes: creation, a change (attributes and any
//! number of members at once), deletion — each one transaction on the group
//! item, its uniqueness items and its list entry; the members' entries
//! written around it so that they are never short of the truth.

use super::{directory_groups_pk, group_sk, memberships_pk};
use crate::clock::Timestamp;
use crate::directories::keys::{self, Unique};
use crate::ids::{DirectoryId, EndUserId, GroupId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{
    Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// The largest `members_json`: a group is one item, at most 400 KB.
pub const MAX_MEMBERS_BYTES: usize = 300 * 1024;
/// The directory's unique group attributes.
const UNIQUE: [Unique; 2] = [Unique::GroupName, Unique::GroupExternalId];

/// A group as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// Public id.
    pub id: GroupId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// The directory that provisions it.
    pub directory_id: DirectoryId,
    /// Its `displayName`.
    pub display_name: String,
    /// Its `externalId`.
    pub external_id: Option<String>,
    /// The SCIM Group without its members (canonical JSON text).
    pub scim_json: String,
    /// Its members, `[{value, display?}]` in the order they were added
    /// (JSON text).
    pub members_json: String,
    /// How many members it has.
    pub member_count: u64,
    /// Bumped by every write; the ETag.
    pub version: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl store::Record for GroupRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// Why a group write did not happen.
#[derive(Debug)]
pub enum Refused {
    /// The value of this attribute is another group's in the directory.
    Taken(Unique),
    /// The group changed since it was read (or is gone).
    Moved,
    /// Its members would not fit in one item.
    TooLarge,
}

/// Splits a canonical SCIM Group into its members and the rest.
fn split(canonical: &Value) -> (Value, Vec<Value>) {
    let mut rest = canonical.clone();
    let members = rest
        .as_object_mut()
        .and_then(|o| o.remove("members"))
        .and_then(|m| match m {
            Value::Array(list) => Some(list),
            _ => None,
        })
        .unwrap_or_default();
    (rest, members)
}

impl GroupRecord {
    /// A new group of `directory` from a canonical SCIM Group whose members
    /// are the directory's users.
    pub fn new(
        org: OrganizationId,
        directory: DirectoryId,
        canonical: &Value,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = GroupId::generate();
        let now = Timestamp::from(now);
        let mut record = Self {
            key: store::ItemKey::new(org_pk(org), group_sk(id)),
            id,
            organization_id: org,
            directory_id: directory,
            display_name: String::new(),
            external_id: None,
            scim_json: String::new(),
            members_json: "[]".to_owned(),
            member_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        record.set(canonical);
        record
    }

    /// Takes `canonical`'s attributes and members.
    fn set(&mut self, canonical: &Value) {
        let (rest, members) = split(canonical);
        self.display_name = Unique::GroupName.of(&rest).unwrap_or_default().to_owned();
        self.external_id = Unique::GroupExternalId.of(&rest).map(str::to_owned);
        self.member_count = members.len() as u64;
        self.members_json = Value::Array(members).to_string();
        self.scim_json = rest.to_string();
    }

    /// The canonical SCIM Group, members included.
    pub fn canonical(&self) -> Value {
        let mut canonical: Value =
            serde_json::from_str(&self.scim_json).unwrap_or_else(|_| Value::Object(Map::new()));
        if let Some(object) = canonical.as_object_mut() {
            object.insert("members".into(), Value::Array(self.members()));
        }
        canonical
    }

    /// Its members, `{value, display?}`, in the order they were added.
    pub fn members(&self) -> Vec<Value> {
        serde_json::from_str(&self.members_json).unwrap_or_default()
    }

    /// Its members' ids.
    pub fn member_ids(&self) -> Vec<EndUserId> {
        self.members()
            .iter()
            .filter_map(|m| m.get("value").and_then(Value::as_str))
            .filter_map(|id| EndUserId::parse(id).ok())
            .collect()
    }

    /// Whether `user` is a member.
    pub fn has_member(&self, user: EndUserId) -> bool {
        self.member_ids().contains(&user)
    }

    /// The strong ETag of this version.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

fn membership_key(org: OrganizationId, user: EndUserId, group: GroupId) -> store::Key {
    (memberships_pk(org, user), group_sk(group))
}

/// Writes (or deletes) members' entries, 25 at a time, each write
/// idempotent: unprocessed ones are sent again.
async fn entries(
    store: &Store,
    group: &GroupRecord,
    users: &[EndUserId],
    put: bool,
) -> Result<(), StoreError> {
    for chunk in users.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|user| {
                let (pk, sk) = membership_key(group.organization_id, *user, group.id);
                if put {
                    let put = PutRequest::builder()
                        .item(store::PK, store::s(pk))
                        .item(store::SK, store::s(sk))
                        .item("group_id", store::s(group.id.to_string()))
                        .item("directory_id", store::s(group.directory_id.to_string()))
                        .build();
                    store::built(put).map(|p| WriteRequest::builder().put_request(p).build())
                } else {
                    let delete = DeleteRequest::builder()
                        .key(store::PK, store::s(pk))
                        .key(store::SK, store::s(sk))
                        .build();
                    store::built(delete).map(|d| WriteRequest::builder().delete_request(d).build())
                }
            })
            .collect::<Result<_, _>>()?;
        store::batch_write(store, requests).await?;
    }
    Ok(())
}

/// The members of `after` that `before` lacks.
fn added(before: &[EndUserId], after: &[EndUserId]) -> Vec<EndUserId> {
    let had: HashSet<_> = before.iter().collect();
    after.iter().filter(|u| !had.contains(u)).copied().collect()
}

fn too_large(record: &GroupRecord) -> bool {
    record.members_json.len() > MAX_MEMBERS_BYTES
}

fn taken(reasons: &[store::CancellationReason], at: &[(usize, Unique)]) -> Option<Unique> {
    at.iter()
        .find(|(i, _)| {
            reasons
                .get(*i)
                .is_some_and(store::CancellationReason::is_condition_failed)
        })
        .map(|(_, unique)| *unique)
}

/// Creates `record`: its members' entries first, then one transaction of
/// the group, its uniqueness items and its list entry.
pub async fn create(
    store: &Store,
    record: &GroupRecord,
) -> Result<Result<(), Refused>, StoreError> {
    if too_large(record) {
        return Ok(Err(Refused::TooLarge));
    }
    entries(store, record, &record.member_ids(), true).await?;
    let canonical = record.canonical();
    let owner = record.id.to_string();
    let put = Put::builder()
        .table_name(store.table())
        .set_item(Some(store::to_item(record)?))
        .condition_expression("attribute_not_exists(PK)")
        .build();
    let mut items = vec![TransactWriteItem::builder().put(store::built(put)?).build()];
    let mut at = Vec::new();
    for unique in UNIQUE {
        if let Some(value) = unique.of(&canonical) {
            at.push((items.len(), unique));
            items.push(keys::take(
                store,
                unique.key(record.directory_id, value),
                &owner,
            )?);
        }
    }
    items.push(keys::take(
        store,
        keys::entry(directory_groups_pk(record.directory_id), record.id),
        &owner,
    )?);
    match store::transact(store, items).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::TransactionCanceled { reasons }) => match taken(&reasons, &at) {
            Some(unique) => Ok(Err(Refused::Taken(unique))),
            None => Err(StoreError::TransactionCanceled { reasons }),
        },
        Err(err) => Err(err),
    }
}

/// Writes `after` (a canonical SCIM Group) over `current`, conditioned on
/// `current`'s version: one transaction, whatever the number of members
/// added or removed. New members' entries are written before it, removed
/// members' after it.
pub async fn replace(
    store: &Store,
    current: &GroupRecord,
    after: &Value,
    now: time::OffsetDateTime,
) -> Result<Result<GroupRecord, Refused>, StoreError> {
    let mut next = current.clone();
    next.set(after);
    next.version = current.version + 1;
    next.updated_at = Timestamp::from(now);
    if too_large(&next) {
        return Ok(Err(Refused::TooLarge));
    }
    let (before_ids, after_ids) = (current.member_ids(), next.member_ids());
    entries(store, &next, &added(&before_ids, &after_ids), true).await?;
    let mut update = Update::builder()
        .table_name(store.table())
        .key(store::PK, store::s(org_pk(current.organization_id)))
        .key(store::SK, store::s(group_sk(current.id)))
        .condition_expression("#version = :read")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":read", store::n(current.version))
        .expression_attribute_values(":next", store::n(next.version))
        .expression_attribute_values(":name", store::s(&next.display_name))
        .expression_attribute_values(":scim", store::s(&next.scim_json))
        .expression_attribute_values(":members", store::s(&next.members_json))
        .expression_attribute_values(":count", store::n(next.member_count))
        .expression_attribute_values(":now", store::timestamp(now));
    let mut expression = "SET display_name = :name, scim_json = :scim, members_json = :members, \
                          member_count = :count, updated_at = :now, #version = :next"
        .to_owned();
    match &next.external_id {
        Some(external) => {
            expression.push_str(", external_id = :external");
            update = update.expression_attribute_values(":external", store::s(external));
        }
        None => expression.push_str(" REMOVE external_id"),
    }
    let mut items = vec![
        TransactWriteItem::builder()
            .update(store::built(update.update_expression(expression).build())?)
            .build(),
    ];
    let (before, after_canonical) = (current.canonical(), next.canonical());
    let owner = current.id.to_string();
    let mut at = Vec::new();
    for unique in UNIQUE {
        let old = unique
            .of(&before)
            .map(|v| unique.key(current.directory_id, v));
        let new = unique
            .of(&after_canonical)
            .map(|v| unique.key(current.directory_id, v));
        if old == new {
            continue;
        }
        if let Some(key) = old {
            items.push(keys::give_up(store, key, &owner)?);
        }
        if let Some(key) = new {
            at.push((items.len(), unique));
            items.push(keys::take(store, key, &owner)?);
        }
    }
    match store::transact(store, items).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { reasons }) => {
            if let Some(unique) = taken(&reasons, &at) {
                return Ok(Err(Refused::Taken(unique)));
            }
            if reasons
                .first()
                .is_some_and(store::CancellationReason::is_condition_failed)
            {
                return Ok(Err(Refused::Moved));
            }
            return Err(StoreError::TransactionCanceled { reasons });
        }
        Err(err) => return Err(err),
    }
    entries(store, &next, &added(&after_ids, &before_ids), false).await?;
    Ok(Ok(next))
}

/// Deletes `current`: one transaction of the group, its uniqueness items,
/// its list entry and a deletion marker; then its members' entries.
pub async fn delete(
    store: &Store,
    current: &GroupRecord,
) -> Result<Result<(), Refused>, StoreError> {
    let (pk, sk) = (org_pk(current.organization_id), group_sk(current.id));
    let delete = Delete::builder()
        .table_name(store.table())
        .key(store::PK, store::s(&pk))
        .key(store::SK, store::s(&sk))
        .condition_expression("#version = :read")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":read", store::n(current.version))
        .build();
    let mut items = vec![
        TransactWriteItem::builder()
            .delete(store::built(delete)?)
            .build(),
    ];
    let canonical = current.canonical();
    let owner = current.id.to_string();
    for unique in UNIQUE {
        if let Some(value) = unique.of(&canonical) {
            items.push(keys::give_up(
                store,
                unique.key(current.directory_id, value),
                &owner,
            )?);
        }
    }
    items.push(keys::give_up(
        store,
        keys::entry(directory_groups_pk(current.directory_id), current.id),
        &owner,
    )?);
    items.extend(store::actor::deletion_marker(
        store.table(),
        &pk,
        &sk,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    ));
    match store::transact(store, items).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { reasons })
            if reasons
                .first()
                .is_some_and(store::CancellationReason::is_condition_failed) =>
        {
            return Ok(Err(Refused::Moved));
        }
        Err(err) => return Err(err),
    }
    entries(store, current, &current.member_ids(), false).await?;
    Ok(Ok(()))
}

/// The organization's group `id` (strongly consistent).
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: GroupId,
) -> Result<Option<GroupRecord>, StoreError> {
    store::get_record(store, &(org_pk(org), group_sk(id)), true).await
}

/// The groups `ids` of `org`, skipping those gone.
pub async fn get_many(
    store: &Store,
    org: OrganizationId,
    ids: &[GroupId],
) -> Result<Vec<GroupRecord>, StoreError> {
    let mut groups = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(100) {
        let keys: Vec<store::Key> = chunk
            .iter()
            .map(|id| (org_pk(org), group_sk(*id)))
            .collect();
        for item in store::get_items(store, &keys).await?.into_iter().flatten() {
            groups.push(store::from_item(item)?);
        }
    }
    Ok(groups)
}

/// The ids of `directory`'s groups at positions `skip .. skip + take`, in
/// creation order, and how many it has.
pub async fn page(
    store: &Store,
    directory: DirectoryId,
    skip: usize,
    take: usize,
) -> Result<(Vec<GroupId>, usize), StoreError> {
    let (ids, total) = keys::page(store, &directory_groups_pk(directory), skip, take).await?;
    Ok((
        ids.iter()
            .filter_map(|id| GroupId::parse(id).ok())
            .collect(),
        total,
    ))
}

/// A page of the organization's groups, oldest first, after `after`;
/// whether more follow.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<GroupId>,
    limit: usize,
) -> Result<(Vec<GroupRecord>, bool), StoreError> {
    store::query_page(store, &org_pk(org), "GROUP#", after.map(group_sk), limit).await
}

/// The groups `user` is a member of: its entries, checked against the
/// groups themselves (an entry outlives a removal by a moment).
pub async fn of_user(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
) -> Result<Vec<GroupRecord>, StoreError> {
    let entries = store::query_all(store, &memberships_pk(org, user), "GROUP#", |q| q).await?;
    let ids: Vec<GroupId> = entries
        .iter()
        .filter_map(|e| store::get_s(e, "group_id"))
        .filter_map(|id| GroupId::parse(id).ok())
        .collect();
    let groups = get_many(store, org, &ids).await?;
    Ok(groups.into_iter().filter(|g| g.has_member(user)).collect())
}

/// Removes `user` from every group it is in (its purge): each group's
/// change conditioned on its version, read again when it moved.
pub async fn remove_member_everywhere(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let groups = of_user(store, org, user).await?;
        let mut moved = false;
        for group in &groups {
            let mut canonical = group.canonical();
            if let Some(members) = canonical.get_mut("members").and_then(Value::as_array_mut) {
                let user = user.to_string();
                members.retain(|m| m.get("value").and_then(Value::as_str) != Some(&user));
            }
            let now = time::OffsetDateTime::now_utc();
            match replace(store, group, &canonical, now).await? {
                Ok(_) => {}
                Err(Refused::Moved) => moved = true,
                Err(other) => {
                    return Err(StoreError::Other {
                        source: format!("removing a member was refused: {other:?}").into(),
                    });
                }
            }
        }
        if !moved {
            // The entries of groups it is no longer in (already checked).
            let entries =
                store::query_all(store, &memberships_pk(org, user), "GROUP#", |q| q).await?;
            let requests = entries
                .iter()
                .filter_map(|e| Some((store::get_s(e, store::PK)?, store::get_s(e, store::SK)?)))
                .map(|(pk, sk)| {
                    let delete = DeleteRequest::builder()
                        .key(store::PK, store::s(pk))
                        .key(store::SK, store::s(sk))
                        .build();
                    store::built(delete).map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<Vec<_>, _>>()?;
            return store::batch_write(store, requests).await;
        }
    }
    Err(StoreError::Conflict {
        source: "a group kept changing while its member was removed".into(),
    })
}

/// A new canonical group's members, given as ids (for the tests and the
/// organization's own tools).
pub fn members_of(ids: &[EndUserId]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"value": id.to_string()}))
            .collect(),
    )
}
