//! What a directory keeps unique, and how it lists what it provisions.
//!
//! Each taken unique value (a user's `userName` or `externalId`, a group's
//! `displayName` or `externalId`) is an item of its own partition,
//! `SCIMKEY#<directory>#<kind>#<sha256>`, naming its owner: put under
//! `attribute_not_exists` in the transaction that takes it, deleted under
//! `id = :owner` in the one that gives it up — never a read first. A
//! directory's users and groups are listed by one small entry each in
//! `SCIMDIR#<directory>#users|groups`, whose sort keys are the ids (UUID v7,
//! so creation order).

use crate::ids::DirectoryId;
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use sha2::{Digest, Sha256};

/// Sort key of a uniqueness item.
const KEY_SK: &str = "KEY";

/// A SCIM attribute whose values are unique in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// A user's `userName`, compared with ASCII letters folded.
    UserName,
    /// A user's `externalId`, exactly.
    UserExternalId,
    /// A group's `displayName`, compared with ASCII letters folded.
    GroupName,
    /// A group's `externalId`, exactly.
    GroupExternalId,
}

impl Unique {
    /// Its SCIM name.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::UserName => "userName",
            Self::GroupName => "displayName",
            Self::UserExternalId | Self::GroupExternalId => "externalId",
        }
    }

    /// The uniqueness item's key for `value` in `directory`.
    pub fn key(self, directory: DirectoryId, value: &str) -> store::Key {
        let (kind, folded) = match self {
            Self::UserName => ("uname", value.to_ascii_lowercase()),
            Self::UserExternalId => ("uext", value.to_owned()),
            Self::GroupName => ("gname", value.to_ascii_lowercase()),
            Self::GroupExternalId => ("gext", value.to_owned()),
        };
        let hash = hex::encode(Sha256::digest(folded.as_bytes()));
        (
            format!("SCIMKEY#{directory}#{kind}#{hash}"),
            KEY_SK.to_owned(),
        )
    }

    /// Its value in a canonical SCIM resource.
    pub fn of(self, canonical: &serde_json::Value) -> Option<&str> {
        canonical
            .get(self.attribute())
            .and_then(serde_json::Value::as_str)
    }
}

/// The `Put` that takes `key` for `owner` (fails if it is taken).
pub fn take(
    store: &Store,
    (pk, sk): store::Key,
    owner: &str,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(store.table())
        .item(store::PK, store::s(pk))
        .item(store::SK, store::s(sk))
        .item("id", store::s(owner))
        .condition_expression("attribute_not_exists(PK)")
        .build();
    Ok(TransactWriteItem::builder().put(store::built(put)?).build())
}

/// The `Delete` that gives `key` up (fails unless `owner` holds it).
pub fn give_up(
    store: &Store,
    (pk, sk): store::Key,
    owner: &str,
) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(store.table())
        .key(store::PK, store::s(pk))
        .key(store::SK, store::s(sk))
        .condition_expression("id = :me")
        .expression_attribute_values(":me", store::s(owner))
        .build();
    Ok(TransactWriteItem::builder()
        .delete(store::built(delete)?)
        .build())
}

/// Who holds `value` of `unique` in `directory`, if anyone (its id).
pub async fn owner(
    store: &Store,
    directory: DirectoryId,
    unique: Unique,
    value: &str,
) -> Result<Option<String>, StoreError> {
    let item = store::get_items(store, &[unique.key(directory, value)])
        .await?
        .into_iter()
        .next()
        .flatten();
    Ok(item
        .as_ref()
        .and_then(|i| store::get_s(i, "id"))
        .map(str::to_owned))
}

/// The key of `id`'s entry in the list partition `pk`.
pub fn entry(pk: String, id: impl std::fmt::Display) -> store::Key {
    (pk, format!("E#{id}"))
}

/// The ids listed in partition `pk`, in creation order: those at positions
/// `skip .. skip + take`, and how many it lists in all. Reads the list's
/// small entries (keys only), at most the whole list once.
pub async fn page(
    store: &Store,
    pk: &str,
    skip: usize,
    take: usize,
) -> Result<(Vec<String>, usize), StoreError> {
    let entries = store::query_all(store, pk, "E#", |q| q.projection_expression("SK")).await?;
    let total = entries.len();
    let ids = entries
        .iter()
        .skip(skip)
        .take(take)
        .filter_map(|e| store::get_s(e, store::SK))
        .filter_map(|sk| sk.strip_prefix("E#"))
        .map(str::to_owned)
        .collect();
    Ok((ids, total))
}
