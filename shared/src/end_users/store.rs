//! End-user items: `PK = ORG#<org>`, `SK = USER#<id>` (docs/data-model.md).
//! Every write carries the condition that guards its invariant, and asks for
//! the old item on failure so the answer needs no second read.

use super::{CreateEndUser, Status, Subscription};
use crate::clock::Timestamp;
use crate::ids::{EndUserId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, Item, Store, StoreError};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix of end-user sort keys.
const USER_SK_PREFIX: &str = "USER#";

/// Sort key of an end user.
pub fn user_sk(id: EndUserId) -> String {
    format!("{USER_SK_PREFIX}{id}")
}

/// An end user as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndUserRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The end user's id.
    pub id: EndUserId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Contact address.
    pub email: Option<String>,
    /// Name to show.
    pub display_name: Option<String>,
    /// The organization's own id for the person.
    pub external_id: Option<String>,
    /// Metadata as compact JSON text: stored verbatim so that no emulator or
    /// number-precision rule of DynamoDB maps can change what the client sent.
    pub metadata_json: String,
    /// Subscription.
    pub subscription: Subscription,
    /// Whether an external service manages the subscription.
    pub externally_managed: bool,
    /// Live or being purged.
    pub status: Status,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Bumped on every write; the ETag.
    pub version: u64,
    /// The sort key of the external-service link that created it, if one
    /// did: the purge removes it with the end user.
    pub external_link_sk: Option<String>,
    /// The generation of access tokens that work: minted tokens carry it,
    /// revoking them bumps it (SPEC §5).
    #[serde(default)]
    pub token_generation: u64,
    /// The shard of its organization's relationship counter it is counted
    /// in (`None`: the organization item; [`crate::relationships`]).
    pub count_shard: Option<u32>,
    /// Key of the `ByEmail` lookup index: `<org>#<lower-case email>`.
    pub(super) email_key: Option<String>,
    /// Key of the `ByExternalId` lookup index: `<org>#<external_id>`.
    pub(super) external_id_key: Option<String>,
    /// The directory that provisions it over SCIM (SPEC §18).
    pub directory_id: Option<crate::ids::DirectoryId>,
    /// The SCIM User as the directory last wrote it (canonical JSON text).
    pub scim_json: Option<String>,
    /// Present (true) while its directory suspends it (`active: false`).
    pub suspended: Option<bool>,
}

impl store::Record for EndUserRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// An end-user lookup (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By e-mail address, compared case-insensitively.
    Email(String),
    /// By the organization's external id, exactly.
    ExternalId(String),
}

impl Lookup {
    /// The index and its partition key for organization `org`.
    fn key(&self, org: OrganizationId) -> (store::Keys, String) {
        match self {
            Self::Email(email) => (store::Keys::Email, email_key(org, email)),
            Self::ExternalId(id) => (store::Keys::ExternalId, external_id_key(org, id)),
        }
    }
}

/// The `ByEmail` key of `email` in `org` (the organization's id keeps
/// tenants apart): the address with its ASCII letters in lower case and
/// every other character exactly as written. Lookups are case-insensitive
/// for `A`–`Z` only — no Unicode case folding or normalisation — so no
/// lookalike ever finds another address: `\u{212A}` (KELVIN SIGN) folds to
/// `k` under Unicode's rules and NFKC, but is not the `k` of an ASCII
/// address here (docs/decisions.md, "Email lookups").
pub fn email_key(org: OrganizationId, email: &str) -> String {
    format!("{org}#{}", email.to_ascii_lowercase())
}

/// The `ByExternalId` key of `external_id` in `org`.
pub(super) fn external_id_key(org: OrganizationId, external_id: &str) -> String {
    format!("{org}#{external_id}")
}

/// One page of the organization's end users a lookup finds, oldest first:
/// one query of a keys-only index, then one strongly consistent
/// `BatchGetItem` of the users (never a scan or a filtered query).
pub async fn lookup(
    store: &Store,
    org: OrganizationId,
    by: &Lookup,
    after: Option<EndUserId>,
    limit: usize,
) -> Result<(Vec<EndUserRecord>, bool), StoreError> {
    let (index, key) = by.key(org);
    let attribute = match index {
        store::Keys::Email => crate::store::schema::EMAIL_KEY,
        _ => crate::store::schema::EXTERNAL_ID_KEY,
    };
    let start = after.map(|id| {
        std::collections::HashMap::from([
            (attribute.to_owned(), store::s(&key)),
            (store::PK.to_owned(), store::s(org_pk(org))),
            (store::SK.to_owned(), store::s(user_sk(id))),
        ])
    });
    let (entries, more) =
        store::query_items_page(store, index, &key, USER_SK_PREFIX, start, limit).await?;
    let keys: Vec<store::Key> = entries
        .iter()
        .filter_map(|e| {
            Some((
                store::get_s(e, store::PK)?.to_owned(),
                store::get_s(e, store::SK)?.to_owned(),
            ))
        })
        .collect();
    if keys.is_empty() {
        return Ok((Vec::new(), more));
    }
    let mut users = Vec::with_capacity(keys.len());
    // A purge may have removed a user the index still lists; and a key
    // stored under the earlier email rule (Unicode lowering, until
    // `add-lookup-keys` rewrites it) must not find a lookalike: only users
    // whose address maps to the key asked for are answered.
    for item in store::get_items(store, &keys).await?.into_iter().flatten() {
        let user = store::from_item::<EndUserRecord>(item)?;
        let answers = match by {
            Lookup::Email(_) => {
                user.email.as_deref().map(|e| email_key(org, e)) == Some(key.clone())
            }
            Lookup::ExternalId(_) => true,
        };
        if answers {
            users.push(user);
        }
    }
    Ok((users, more))
}

impl EndUserRecord {
    /// A new active end user.
    pub fn new(
        organization_id: OrganizationId,
        input: CreateEndUser,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = EndUserId::generate();
        let now = Timestamp::from(now);
        let email_key = input
            .email
            .as_ref()
            .map(|e| email_key(organization_id, e.as_str()));
        let external_id_key = input
            .external_id
            .as_ref()
            .map(|x| external_id_key(organization_id, x));
        Self {
            key: store::ItemKey::new(org_pk(organization_id), user_sk(id)),
            id,
            organization_id,
            email: input.email.map(super::Email::into_inner),
            display_name: input.display_name,
            email_key,
            external_id_key,
            external_id: input.external_id,
            metadata_json: input.metadata.unwrap_or_default().to_json(),
            subscription: Subscription::Free,
            externally_managed: false,
            status: Status::Active,
            created_at: now,
            updated_at: now,
            version: 1,
            external_link_sk: None,
            token_generation: 0,
            count_shard: None,
            directory_id: None,
            scim_json: None,
            suspended: None,
        }
    }

    /// Sets the subscription an external service manages: `Pro` marks the
    /// end user externally managed, `Free` clears it (SPEC §11).
    pub fn with_subscription(mut self, subscription: Subscription) -> Self {
        self.subscription = subscription;
        self.externally_managed = subscription == Subscription::Pro;
        self
    }

    /// The strong ETag of this version.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// The public end-user object.
    pub fn view(&self) -> super::EndUser<'_> {
        super::EndUser {
            id: self.id,
            organization_id: self.organization_id,
            email: self.email.as_deref(),
            display_name: self.display_name.as_deref(),
            external_id: self.external_id.as_deref(),
            metadata: serde_json::from_str(&self.metadata_json)
                .unwrap_or_else(|_| Value::Object(Map::new())),
            subscription: self.subscription,
            externally_managed: self.externally_managed,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
            directory: self.directory_id.map(|directory_id| super::Provisioned {
                directory_id,
                user_name: self.scim_user_name(),
                active: !self.is_suspended(),
            }),
        }
    }

    /// Its SCIM `userName` (empty when no directory provisions it).
    pub fn scim_user_name(&self) -> String {
        #[derive(Deserialize)]
        struct UserName {
            #[serde(rename = "userName", default)]
            user_name: String,
        }
        self.scim_json
            .as_deref()
            .and_then(|json| serde_json::from_str::<UserName>(json).ok())
            .map(|u| u.user_name)
            .unwrap_or_default()
    }

    /// Whether its directory suspends it.
    pub fn is_suspended(&self) -> bool {
        self.suspended == Some(true)
    }
}

/// Why a conditional write to an end user did not happen.
#[derive(Debug)]
pub enum WriteRefused {
    /// No such end user in the organization.
    Missing,
    /// The end user is being deleted; the current record.
    Deleting(Box<EndUserRecord>),
    /// The version did not match `If-Match`.
    VersionMismatch,
}

/// Reads an end user (strongly consistent: read-your-writes for ETag flows).
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: EndUserId,
) -> Result<Option<EndUserRecord>, StoreError> {
    store::get_consistent(store, &(org_pk(org), user_sk(id))).await
}

/// Refuses every access token of the end user minted so far: bumps its token
/// generation (one conditional write). `false` when there is no such end user.
pub async fn revoke_tokens(
    store: &Store,
    org: OrganizationId,
    id: EndUserId,
) -> Result<bool, StoreError> {
    let result = store
        .update_item((org_pk(org), user_sk(id)))
        .update_expression("SET token_generation = if_not_exists(token_generation, :zero) + :one")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":zero", store::n(0))
        .expression_attribute_values(":one", store::n(1))
        .send()
        .await
        .map_err(StoreError::from);
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionalCheckFailed { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

impl EndUserRecord {
    /// Whether an access token of generation `generation` still names this
    /// end user: not revoked since, and the end user not being deleted.
    pub fn honours_token(&self, generation: u64) -> bool {
        self.status == super::Status::Active
            && self.token_generation == generation
            && !self.is_suspended()
    }
}

/// Why a new end user was not stored.
#[derive(Debug)]
pub enum CreateRefused {
    /// The organization is at its relationship ceiling; the count it has.
    AtCeiling(u64),
}

/// Creates an end user and counts it toward the organization's active
/// relationships in **one transaction** ([`crate::relationships`]: the
/// ceiling is exact under any concurrency).
pub async fn put_new(
    store: &Store,
    record: &EndUserRecord,
    org: &crate::organizations::Organization,
) -> Result<Result<(), CreateRefused>, StoreError> {
    let outcome = crate::relationships::create_counted(store, org, |slot| {
        let mut record = record.clone();
        record.count_shard = slot;
        Ok(vec![put_new_item(store, &record)?])
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(crate::relationships::Refused::AtCeiling(active)) => {
            Ok(Err(CreateRefused::AtCeiling(active)))
        }
        Err(crate::relationships::Refused::Other(reasons)) => {
            Err(StoreError::TransactionCanceled { reasons })
        }
    }
}

/// The `Put` of a new end user, for a creation's transaction.
pub fn put_new_item(
    store: &Store,
    record: &EndUserRecord,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let put = store::built(
        Put::builder()
            .table_name(store.table())
            .set_item(Some(store::to_item(record)?))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A transaction's check that the end user is as `record` read it: active,
/// its tokens not revoked since.
pub fn still_active(
    store: &Store,
    record: &EndUserRecord,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
    let check = store::built(
        ConditionCheck::builder()
            .table_name(store.table())
            .key(store::PK, store::s(org_pk(record.organization_id)))
            .key(store::SK, store::s(user_sk(record.id)))
            .condition_expression(if record.token_generation == 0 {
                "#status = :active AND attribute_not_exists(suspended) AND (attribute_not_exists(token_generation) OR token_generation = :generation)"
            } else {
                "#status = :active AND attribute_not_exists(suspended) AND token_generation = :generation"
            })
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", store::s("active"))
            .expression_attribute_values(":generation", store::n(record.token_generation))
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// One page of an organization's end users, oldest first.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<EndUserId>,
    limit: usize,
) -> Result<(Vec<EndUserRecord>, bool), StoreError> {
    store::query_page(
        store,
        &org_pk(org),
        USER_SK_PREFIX,
        after.map(user_sk),
        limit,
    )
    .await
}

/// What a conditional update sets.
#[derive(Debug)]
pub enum Change {
    /// Replace the metadata.
    Metadata(String),
    /// Start the deletion.
    StartDeletion,
}

/// Applies `change` to an active end user in one conditional `UpdateItem`:
/// the condition (exists, active, version in `if_match`) is the only check,
/// and the old item on failure tells which part failed.
pub async fn update(
    store: &Store,
    org: OrganizationId,
    id: EndUserId,
    change: Change,
    if_match: Option<&[u64]>,
    now: time::OffsetDateTime,
) -> Result<Result<EndUserRecord, WriteRefused>, StoreError> {
    let mut condition = "attribute_exists(PK) AND #status = :active".to_owned();
    let mut request = store
        .update_item((org_pk(org), user_sk(id)))
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":active", store::s("active"))
        .expression_attribute_values(":now", store::timestamp(now))
        .expression_attribute_values(":one", store::n(1))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    request = match change {
        Change::Metadata(json) => request
            .update_expression(
                "SET metadata_json = :metadata, updated_at = :now, #version = #version + :one",
            )
            .expression_attribute_values(":metadata", store::s(json)),
        Change::StartDeletion => request
            .update_expression(
                "SET #status = :deleting, updated_at = :now, #version = #version + :one",
            )
            .expression_attribute_values(":deleting", store::s("deleting")),
    };
    if let Some(versions) = if_match {
        let names: Vec<String> = (0..versions.len()).map(|i| format!(":v{i}")).collect();
        condition.push_str(&format!(" AND #version IN ({})", names.join(", ")));
        for (name, version) in names.iter().zip(versions) {
            request = request.expression_attribute_values(name, store::n(version));
        }
    }
    match request
        .condition_expression(condition)
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await
        .map_err(StoreError::from)
    {
        Ok(out) => {
            let item = out.attributes.ok_or_else(|| StoreError::Other {
                source: "UpdateItem returned no attributes".into(),
            })?;
            Ok(Ok(store::from_item(item)?))
        }
        Err(StoreError::ConditionalCheckFailed { item }) => Ok(Err(refusal(item.map(|b| *b))?)),
        Err(err) => Err(err),
    }
}

fn refusal(old: Option<Item>) -> Result<WriteRefused, StoreError> {
    let Some(old) = old else {
        return Ok(WriteRefused::Missing);
    };
    let record: EndUserRecord = store::from_item(old)?;
    Ok(match record.status {
        Status::Deleting => WriteRefused::Deleting(Box::new(record)),
        Status::Active => WriteRefused::VersionMismatch,
    })
}
