//! An organization's directories (SPEC §18): each is one identity provider's
//! SCIM connection — a name, a base URL and a bearer token — through which
//! that provider provisions the organization's people.
//!
//! A directory is two items, like an API key: the **entry**
//! ([`DirectoryRecord`], `PK = ORG#<org>`, `SK = DIR#<id>`), which the
//! organization lists and acts on, and the **credential**
//! ([`DirectoryTokenRecord`], `PK = SCIMTOKEN#<sha256>`), which the SCIM
//! surface reads by the hash of the presented token. Neither holds the token.
//! Rolling the token or deleting the directory is a change of the
//! organization ([`crate::organizations::change_at`]): a warm function that
//! cached the old credential reads it again at its next request and finds it
//! gone, so the old token stops at once.

pub mod keys;
pub mod requests;

use crate::auth::HashedCredential;
use crate::caps::Capped;
use crate::clock::Timestamp;
use crate::freshness::VersionedCache;
use crate::ids::{DirectoryId, OrganizationId};
use crate::organizations::{self, Changed, Edit, Organization, org_pk};
use crate::parse::{JsonObject, ParseBody};
use crate::secrets::DirectoryToken;
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest directory name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Prefix of directory sort keys.
const SK_PREFIX: &str = "DIR#";
/// Sort key of a token's credential item.
const TOKEN_SK: &str = "SCIMTOKEN";

/// Sort key of a directory's entry.
pub fn entry_sk(id: DirectoryId) -> String {
    format!("{SK_PREFIX}{id}")
}

fn token_pk(hash: &[u8; 32]) -> String {
    format!("SCIMTOKEN#{}", hex::encode(hash))
}

/// A directory as its organization stores it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// Public id.
    pub id: DirectoryId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// The first 8 hex digits of the token, to recognise it.
    pub token_prefix: String,
    /// The credential item's partition key (a hash, not the token).
    pub credential_pk: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the token was last rolled.
    pub token_rolled_at: Option<Timestamp>,
    /// Takes a place under the organization's cap.
    counted: Option<bool>,
}

impl store::Record for DirectoryRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// A directory's token as stored: `PK = SCIMTOKEN#<sha256 hex>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryTokenRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The directory it authenticates.
    pub directory_id: DirectoryId,
    /// The directory's organization.
    pub organization_id: OrganizationId,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
}

impl store::Record for DirectoryTokenRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

impl HashedCredential for DirectoryTokenRecord {
    fn key(hash: &[u8; 32]) -> store::Key {
        (token_pk(hash), TOKEN_SK.to_owned())
    }

    fn stored_hash(&self) -> &str {
        &self.token_hash
    }

    fn ended(&self, _: OffsetDateTime) -> bool {
        // A token ends by being deleted (a roll or the directory's deletion).
        false
    }

    fn owner_bucket(&self) -> String {
        crate::limits::Owner::Organization(self.organization_id).partition_key()
    }
}

/// A directory's SCIM client, once its token is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryPrincipal {
    /// The directory's organization.
    pub organization_id: OrganizationId,
    /// The directory.
    pub directory_id: DirectoryId,
}

/// Warm-function cache of token lookups (hits only), current at a version
/// of the token's organization.
pub type TokenCache = VersionedCache<[u8; 32], DirectoryTokenRecord>;

/// A directory as the organization API renders it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Directory")]
pub struct Directory<'a> {
    /// Public id.
    pub id: DirectoryId,
    /// Display name.
    pub name: &'a str,
    /// What the identity provider's SCIM connector is given as its base URL.
    pub scim_base_url: String,
    /// The first 8 hex digits of the current token (after `scim_`).
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub token_prefix: &'a str,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the token was last rolled; null: never.
    pub token_rolled_at: Option<Timestamp>,
}

/// A directory with its bearer token, shown once (creation, roll).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DirectoryWithToken")]
pub struct WithToken<'a> {
    /// The directory.
    #[serde(flatten)]
    pub directory: Directory<'a>,
    /// The SCIM bearer token: `scim_` and 48 hex digits. Shown once.
    #[schemars(regex(pattern = r"^scim_[0-9a-f]{48}$"))]
    pub bearer_token: &'a str,
}

impl DirectoryRecord {
    /// As its events carry it: the object without its base URL (the
    /// publisher renders events without the deployment's address).
    pub fn event_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "token_prefix": self.token_prefix,
            "created_at": self.created_at,
            "token_rolled_at": self.token_rolled_at,
        })
    }

    /// As rendered, with the deployment's public base URL.
    pub fn view(&self, base: &crate::config::PublicBaseUrl) -> Directory<'_> {
        Directory {
            id: self.id,
            name: &self.name,
            scim_base_url: base.scim_base(self.id),
            token_prefix: &self.token_prefix,
            created_at: self.created_at,
            token_rolled_at: self.token_rolled_at,
        }
    }
}

/// `POST /v1/directories`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(rename = "CreateDirectoryRequest")]
pub struct CreateDirectory {
    /// A display name (1 to 100 characters), e.g. the identity provider's.
    #[schemars(length(min = 1, max = MAX_NAME_CHARS))]
    pub name: String,
}

impl ParseBody for CreateDirectory {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let name = object.required_string("name", MAX_NAME_CHARS);
        Some(Self { name: name? })
    }
}

/// A token's credential item for `directory`.
fn token_record(token: &DirectoryToken, directory: &DirectoryRecord) -> DirectoryTokenRecord {
    let hash = token.hash();
    DirectoryTokenRecord {
        key: store::ItemKey::new(token_pk(&hash), TOKEN_SK.to_owned()),
        directory_id: directory.id,
        organization_id: directory.organization_id,
        token_hash: hex::encode(hash),
    }
}

/// The first 8 hex digits of a token.
fn prefix_of(token: &DirectoryToken) -> String {
    token
        .expose()
        .trim_start_matches(crate::secrets::DIRECTORY_TOKEN_PREFIX)
        .chars()
        .take(8)
        .collect()
}

fn random_token() -> Result<DirectoryToken, StoreError> {
    DirectoryToken::generate().map_err(|e| StoreError::Other {
        source: Box::new(e),
    })
}

fn put_new(store: &Store, item: store::Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build();
    Ok(TransactWriteItem::builder().put(store::built(put)?).build())
}

fn delete_existing(store: &Store, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(store.table())
        .key(store::PK, store::s(pk))
        .key(store::SK, store::s(sk))
        .condition_expression("attribute_exists(PK)")
        .build();
    Ok(TransactWriteItem::builder()
        .delete(store::built(delete)?)
        .build())
}

/// Creates a directory of `organization` under its cap: the entry, the
/// credential and the cap's counter in one transaction. `None` when the
/// organization is at its cap (nothing written).
pub async fn create(
    store: &Store,
    organization: &Organization,
    name: String,
    now: OffsetDateTime,
) -> Result<Option<(DirectoryRecord, DirectoryToken)>, StoreError> {
    let cap = Capped::Directories.cap(organization);
    if cap == 0 {
        return Ok(None);
    }
    let token = random_token()?;
    let id = DirectoryId::generate();
    let org = organization.id;
    let record = DirectoryRecord {
        key: store::ItemKey::new(org_pk(org), entry_sk(id)),
        id,
        organization_id: org,
        name,
        token_prefix: prefix_of(&token),
        credential_pk: token_pk(&token.hash()),
        created_at: Timestamp::from(now),
        token_rolled_at: None,
        counted: Some(true),
    };
    let items = vec![
        put_new(store, store::to_item(&record)?)?,
        put_new(store, store::to_item(&token_record(&token, &record))?)?,
        Capped::Directories.take(store.table(), org, cap)?,
    ];
    match store::transact(store, items).await {
        Ok(()) => Ok(Some((record, token))),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.get(2).is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The organization's directory `id` (strongly consistent).
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: DirectoryId,
) -> Result<Option<DirectoryRecord>, StoreError> {
    store::get_record(store, &(org_pk(org), entry_sk(id)), true).await
}

/// A page of the organization's directories, oldest first, after `after`;
/// whether more follow.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<DirectoryId>,
    limit: usize,
) -> Result<(Vec<DirectoryRecord>, bool), StoreError> {
    store::query_page(store, &org_pk(org), SK_PREFIX, after.map(entry_sk), limit).await
}

/// Deletes `directory`: its entry and its credential, its place under the
/// cap given back, as a change of the organization (the token stops at
/// once). `false`: it was deleted meanwhile.
pub async fn delete(
    store: &Store,
    directory: &DirectoryRecord,
    known: Option<&Organization>,
) -> Result<bool, StoreError> {
    let org = directory.organization_id;
    let changed = organizations::change_at(store, org, known, |_| {
        let mut edit = Edit {
            items: vec![
                delete_existing(store, &directory.key.pk, &directory.key.sk)?,
                delete_existing(store, &directory.credential_pk, TOKEN_SK)?,
            ],
            ..Edit::default()
        };
        if directory.counted == Some(true) {
            edit.items
                .push(Capped::Directories.give_back(store.table(), org)?);
        }
        // Who deleted it, for the `directory.deleted` event (SPEC §15).
        edit.items.extend(store::actor::deletion_marker(
            store.table(),
            &directory.key.pk,
            &directory.key.sk,
            OffsetDateTime::now_utc().unix_timestamp(),
        ));
        Ok(edit)
    })
    .await?;
    Ok(matches!(changed, Changed::Done { .. }))
}

/// Replaces `directory`'s token with a new one, as a change of the
/// organization: the old token stops at once. `None`: the directory was
/// deleted, or its token rolled, meanwhile.
pub async fn roll_token(
    store: &Store,
    directory: &DirectoryRecord,
    known: Option<&Organization>,
    now: OffsetDateTime,
) -> Result<Option<(DirectoryRecord, DirectoryToken)>, StoreError> {
    use aws_sdk_dynamodb::types::Update;
    let token = random_token()?;
    let mut rolled = directory.clone();
    rolled.token_prefix = prefix_of(&token);
    rolled.credential_pk = token_pk(&token.hash());
    rolled.token_rolled_at = Some(Timestamp::from(now));
    let org = directory.organization_id;
    let changed = organizations::change_at(store, org, known, |_| {
        let update = Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(&directory.key.pk))
            .key(store::SK, store::s(&directory.key.sk))
            .update_expression(
                "SET token_prefix = :prefix, credential_pk = :new, token_rolled_at = :at",
            )
            .condition_expression("credential_pk = :old")
            .expression_attribute_values(":prefix", store::s(&rolled.token_prefix))
            .expression_attribute_values(":new", store::s(&rolled.credential_pk))
            .expression_attribute_values(":old", store::s(&directory.credential_pk))
            .expression_attribute_values(":at", store::timestamp(Timestamp::from(now)))
            .build();
        Ok(Edit {
            items: vec![
                TransactWriteItem::builder()
                    .update(store::built(update)?)
                    .build(),
                delete_existing(store, &directory.credential_pk, TOKEN_SK)?,
                put_new(store, store::to_item(&token_record(&token, &rolled))?)?,
            ],
            ..Edit::default()
        })
    })
    .await?;
    Ok(matches!(changed, Changed::Done { .. }).then_some((rolled, token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_item_holds_the_token() {
        let token = DirectoryToken::generate().unwrap();
        let org = OrganizationId::generate();
        let id = DirectoryId::generate();
        let record = DirectoryRecord {
            key: store::ItemKey::new(org_pk(org), entry_sk(id)),
            id,
            organization_id: org,
            name: "Okta".into(),
            token_prefix: prefix_of(&token),
            credential_pk: token_pk(&token.hash()),
            created_at: Timestamp::from(OffsetDateTime::UNIX_EPOCH),
            token_rolled_at: None,
            counted: Some(true),
        };
        assert_eq!(record.token_prefix, token.expose()[5..13]);
        let items = [
            store::to_item(&record).unwrap(),
            store::to_item(&token_record(&token, &record)).unwrap(),
        ];
        for item in &items {
            assert!(
                !item
                    .values()
                    .any(|v| v.as_s().is_ok_and(|s| s.contains(&token.expose()[5..]))),
                "no item holds the token"
            );
        }
    }
}
