//! An organization's API keys over their life (SPEC §5): created, listed,
//! revoked, rolled with a grace period, expiring.
//!
//! Each key is two items, written together: the **credential**
//! ([`ApiKeyRecord`], `PK = APIKEY#<sha256>`), which authentication reads by
//! the hash of the presented secret, and the **entry** ([`ApiKeyEntry`],
//! `PK = ORG#<org>`, `SK = APIKEY#<id>`), which the organization lists and
//! acts on by id (strongly consistent, no index). Neither holds the secret.
//! Revoking or rolling a key is a change of the organization
//! ([`crate::organizations::change`]), so no warm function honours the old
//! key on the next request.

use crate::auth::{ApiKeyRecord, Scope};
use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, OrganizationId};
use crate::organizations::{self, Changed, Edit, org_pk};
use crate::parse::{JsonObject, ParseBody};
use crate::secrets::ApiKeySecret;
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// Longest key name.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest grace period of a roll: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 604_800;
/// How long after its expiry an ended key's items stay (TTL tidies them).
const RETENTION_AFTER_EXPIRY_SECONDS: i64 = 30 * 24 * 3600;

/// The entry of a key in its organization's list.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyEntry {
    #[serde(flatten)]
    key: store::ItemKey,
    /// `APIKEY#<id>`: the operator finds a key by id alone (`tetherctl
    /// api-key revoke --id`) through `GSI1`.
    #[serde(flatten)]
    index: store::IndexKey,
    /// Public id.
    pub id: ApiKeyId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: Option<String>,
    /// Scopes, as sent at creation.
    pub scopes: Vec<Scope>,
    /// The first 8 characters after `tk_`: enough to recognise a key.
    pub prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it stops working (its own expiry, or the end of a roll's grace).
    pub expires_at: Option<Timestamp>,
    /// `expires_at`, epoch seconds.
    pub expires_epoch: Option<i64>,
    /// The expiry it was created with, which a roll carries to the new key.
    pub lifetime_expires_at: Option<Timestamp>,
    /// Last request it authenticated, to the minute.
    pub last_used_at: Option<Timestamp>,
    /// The credential item's partition key (holds a hash, not the secret).
    pub credential_pk: String,
    /// TTL: set once the key expires.
    expires_at_epoch: Option<i64>,
}

impl store::Record for ApiKeyEntry {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// The sort key of a key's entry.
pub fn entry_sk(id: ApiKeyId) -> String {
    format!("APIKEY#{id}")
}

impl ApiKeyEntry {
    /// Whether it still authenticates at `now`.
    pub fn live(&self, now: OffsetDateTime) -> bool {
        self.expires_epoch.is_none_or(|e| e > now.unix_timestamp())
    }

    /// Whether it counts toward the organization's non-expiring admin keys.
    pub fn counts_as_admin(&self) -> bool {
        self.expires_epoch.is_none() && self.scopes.contains(&Scope::Admin)
    }

    /// As listed: never the secret.
    pub fn view(&self) -> ApiKey<'_> {
        ApiKey {
            id: self.id,
            name: self.name.as_deref(),
            scopes: &self.scopes,
            prefix: &self.prefix,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// An API key as the organization API renders it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApiKey")]
pub struct ApiKey<'a> {
    /// Public id.
    pub id: ApiKeyId,
    /// Display name; null when none was given.
    pub name: Option<&'a str>,
    /// Scopes, as sent at creation.
    pub scopes: &'a [Scope],
    /// The first 8 characters after `tk_`.
    #[schemars(regex(pattern = r"^[0-9a-f]{8}$"))]
    pub prefix: &'a str,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it stops working; null: never.
    pub expires_at: Option<Timestamp>,
    /// The last request it authenticated, to the minute; null: never used.
    pub last_used_at: Option<Timestamp>,
}

/// A new key: the object and, once, its secret.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "CreatedApiKey")]
pub struct CreatedApiKey<'a> {
    /// The key.
    #[serde(flatten)]
    pub object: ApiKey<'a>,
    /// The secret, shown once: `tk_`, 48 hex digits, `_` and the
    /// organization's id.
    #[schemars(regex(
        pattern = r"^tk_[0-9a-f]{48}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub key: &'a str,
}

/// `POST /v1/api-keys`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(rename = "CreateApiKeyRequest")]
pub struct CreateApiKey {
    /// One or more of `read`, `read_write`, `admin`, each once.
    #[schemars(length(min = 1, max = 3))]
    pub scopes: Vec<Scope>,
    /// A display name (at most 100 characters).
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub name: Option<String>,
    /// When it stops working (RFC 3339, in the future); absent: never.
    #[schemars(with = "Option<Timestamp>")]
    pub expires_at: Option<OffsetDateTime>,
}

impl ParseBody for CreateApiKey {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let scopes = match object.take("scopes") {
            None => {
                object.problem("scopes", "is required");
                None
            }
            Some(value) => parse_scopes(&value)
                .map_err(|p| object.problem("scopes", p))
                .ok(),
        };
        let name = object.optional_string("name", MAX_NAME_CHARS);
        let expires_at = match object.take("expires_at") {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(text)) => {
                match OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339) {
                    Ok(at) => Some(Some(at)),
                    Err(_) => {
                        object.problem("expires_at", "must be an RFC 3339 timestamp");
                        None
                    }
                }
            }
            Some(_) => {
                object.problem("expires_at", "must be an RFC 3339 timestamp");
                None
            }
        };
        Some(Self {
            scopes: scopes?,
            name,
            expires_at: expires_at?,
        })
    }
}

/// Scopes as sent: a non-empty array of known scope names, each once.
fn parse_scopes(value: &Value) -> Result<Vec<Scope>, &'static str> {
    const PROBLEM: &str = "must be a non-empty array of distinct scopes: read, read_write, admin";
    let items = value.as_array().filter(|a| !a.is_empty()).ok_or(PROBLEM)?;
    let mut scopes = Vec::with_capacity(items.len());
    for item in items {
        let scope = item.as_str().and_then(Scope::parse).ok_or(PROBLEM)?;
        if scopes.contains(&scope) {
            return Err(PROBLEM);
        }
        scopes.push(scope);
    }
    Ok(scopes)
}

/// `POST /v1/api-keys/{id}/roll`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(rename = "RollApiKeyRequest")]
pub struct RollApiKey {
    /// How long the old key keeps working, 0 to 604800 seconds (default 0).
    #[schemars(range(min = 0, max = MAX_GRACE_SECONDS), default)]
    pub expires_in_seconds: i64,
}

impl ParseBody for RollApiKey {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let expires_in_seconds = match object.take("expires_in_seconds") {
            None => 0,
            Some(value) => match value
                .as_i64()
                .filter(|n| (0..=MAX_GRACE_SECONDS).contains(n))
            {
                Some(n) if value.is_i64() || value.is_u64() => n,
                _ => {
                    object.problem(
                        "expires_in_seconds",
                        "must be a whole number from 0 to 604800",
                    );
                    return None;
                }
            },
        };
        Some(Self { expires_in_seconds })
    }
}

/// A new key's two items and its secret.
#[derive(Debug)]
pub struct NewKey {
    /// The secret, shown once.
    pub secret: ApiKeySecret,
    /// The credential item.
    pub record: ApiKeyRecord,
    /// The entry item.
    pub entry: ApiKeyEntry,
}

impl NewKey {
    /// A fresh key of `org`.
    pub fn generate(
        org: OrganizationId,
        scopes: Vec<Scope>,
        name: Option<String>,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Self, getrandom::Error> {
        let secret = ApiKeySecret::generate(org)?;
        Ok(Self::with_secret(
            secret, org, scopes, name, expires_at, now,
        ))
    }

    /// The items of a key of `org` whose secret is `secret` (one freshly
    /// generated, or one of the older form that names no organization).
    pub fn with_secret(
        secret: ApiKeySecret,
        org: OrganizationId,
        scopes: Vec<Scope>,
        name: Option<String>,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        let record = ApiKeyRecord::new(&secret, org, scopes.clone(), expires_at, now);
        let prefix = secret.prefix().to_owned();
        let expires = expires_at.map(Timestamp::from);
        let entry = ApiKeyEntry {
            key: store::ItemKey::new(org_pk(org), entry_sk(record.api_key_id)),
            index: store::IndexKey::new(entry_sk(record.api_key_id), entry_sk(record.api_key_id)),
            id: record.api_key_id,
            organization_id: org,
            name,
            scopes,
            prefix,
            created_at: Timestamp::from(now),
            expires_at: expires,
            expires_epoch: expires_at.map(OffsetDateTime::unix_timestamp),
            lifetime_expires_at: expires,
            last_used_at: None,
            credential_pk: record.key().0,
            expires_at_epoch: expires_at
                .map(|e| e.unix_timestamp() + RETENTION_AFTER_EXPIRY_SECONDS),
        };
        Self {
            secret,
            record,
            entry,
        }
    }

    /// The two puts of the key.
    fn puts(&self, store: &Store) -> Result<Vec<TransactWriteItem>, StoreError> {
        let put = |item| {
            store::built(
                Put::builder()
                    .table_name(store.table())
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)")
                    .build(),
            )
            .map(|put| TransactWriteItem::builder().put(put).build())
        };
        Ok(vec![
            put(store::to_item(&self.record)?)?,
            put(store::to_item(&self.entry)?)?,
        ])
    }
}

/// The organization-item edit that keeps its count of non-expiring admin
/// keys: `delta` keys more, never fewer than one left.
fn count_admin_keys(delta: i64) -> Edit {
    let mut edit = Edit::default();
    if delta > 0 {
        edit.set
            .push("admin_keys = if_not_exists(admin_keys, :zero) + :delta".into());
        edit.values.push((":zero", store::n(0)));
        edit.values.push((":delta", store::n(delta)));
    } else if delta < 0 {
        edit.set.push("admin_keys = admin_keys - :delta".into());
        edit.conditions.push("admin_keys > :delta".into());
        edit.values.push((":delta", store::n(-delta)));
    }
    edit
}

/// Stores a new key of an existing organization. `Ok(false)`: no such
/// organization. Creating a key is no change anything cached depends on (a
/// new key is found at once: only hits are cached), so it bumps no version.
pub async fn create(store: &Store, key: &NewKey) -> Result<bool, StoreError> {
    let org = key.entry.organization_id;
    let delta = i64::from(key.entry.counts_as_admin());
    let check = store::built(
        Update::builder()
            .table_name(store.table())
            .key(store::PK, store::s(org_pk(org)))
            .key(store::SK, store::s(organizations::ORG_SK))
            .update_expression("SET admin_keys = if_not_exists(admin_keys, :zero) + :delta")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":zero", store::n(0))
            .expression_attribute_values(":delta", store::n(delta))
            .build(),
    )?;
    let mut items = vec![TransactWriteItem::builder().update(check).build()];
    items.extend(key.puts(store)?);
    store::transact_guarded(store, items).await
}

/// A page of the organization's keys, oldest first, after `after`; whether
/// more follow. Ended keys are listed (with their `expires_at`) until TTL
/// removes them.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<ApiKeyId>,
    limit: usize,
) -> Result<(Vec<ApiKeyEntry>, bool), StoreError> {
    store::query_page(store, &org_pk(org), "APIKEY#", after.map(entry_sk), limit).await
}

/// The organization's key `id` (strongly consistent).
pub async fn find(
    store: &Store,
    org: OrganizationId,
    id: ApiKeyId,
) -> Result<Option<ApiKeyEntry>, StoreError> {
    store::get_consistent(store, &(org_pk(org), entry_sk(id))).await
}

/// Key `id` of whichever organization (`GSI1`, eventually consistent: for
/// operators, who know only the id).
pub async fn find_any(store: &Store, id: ApiKeyId) -> Result<Option<ApiKeyEntry>, StoreError> {
    store::gsi1_item(store, entry_sk(id), entry_sk(id))
        .await?
        .map(store::from_item)
        .transpose()
}

/// How a revocation or roll ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Done.
    Done(T),
    /// No such key (or it was revoked meanwhile).
    NotFound,
    /// It is the organization's last non-expiring admin key.
    LastAdminKey,
}

/// Revokes `entry`'s key: both items deleted, as a change of the
/// organization (from `known`, the organization as the caller holds it, if
/// any: [`organizations::change_at`]), unless it is the last non-expiring
/// admin key.
pub async fn revoke(
    store: &Store,
    entry: &ApiKeyEntry,
    known: Option<&organizations::Organization>,
) -> Result<Outcome<()>, StoreError> {
    let changed = organizations::change_at(store, entry.organization_id, known, |_| {
        let mut edit = count_admin_keys(-i64::from(entry.counts_as_admin()));
        let delete = |pk: &str, sk: &str| {
            store::built(
                Delete::builder()
                    .table_name(store.table())
                    .key(store::PK, store::s(pk))
                    .key(store::SK, store::s(sk))
                    .condition_expression("attribute_exists(PK)")
                    .build(),
            )
            .map(|d| TransactWriteItem::builder().delete(d).build())
        };
        edit.items = vec![
            delete(&entry.key.pk, &entry.key.sk)?,
            delete(&entry.credential_pk, crate::auth::API_KEY_SK)?,
        ];
        // Who revoked it, for the `api_key.revoked` event (SPEC §15).
        edit.items.extend(store::actor::deletion_marker(
            store.table(),
            &entry.key.pk,
            &entry.key.sk,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        Ok(edit)
    })
    .await?;
    Ok(match changed {
        Changed::Done { .. } => Outcome::Done(()),
        Changed::Refused => Outcome::LastAdminKey,
        Changed::NoOrganization | Changed::ItemRefused(..) => Outcome::NotFound,
    })
}

/// Rolls `entry`'s key: a new key of the same name, scopes and lifetime
/// takes its place; the old one ends after `grace` (now, for zero). One
/// transaction, as a change of the organization (from `known`, as
/// [`revoke`]).
pub async fn roll(
    store: &Store,
    entry: &ApiKeyEntry,
    known: Option<&organizations::Organization>,
    grace: time::Duration,
    now: OffsetDateTime,
) -> Result<Outcome<NewKey>, StoreError> {
    let lifetime = entry
        .lifetime_expires_at
        .map(Timestamp::as_offset_date_time);
    let new = NewKey::generate(
        entry.organization_id,
        entry.scopes.clone(),
        entry.name.clone(),
        lifetime,
        now,
    )
    .map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    // The old key ends at the end of the grace, or sooner if it already would.
    let ends = (now + grace).unix_timestamp();
    let ends = entry.expires_epoch.map_or(ends, |e| e.min(ends));
    let ends_at = OffsetDateTime::from_unix_timestamp(ends).unwrap_or(now);
    let delta = i64::from(new.entry.counts_as_admin()) - i64::from(entry.counts_as_admin());
    let changed = organizations::change_at(store, entry.organization_id, known, |_| {
        let mut edit = count_admin_keys(delta);
        let end = |pk: &str, sk: &str, entry_item: bool| {
            let mut update = Update::builder()
                .table_name(store.table())
                .key(store::PK, store::s(pk))
                .key(store::SK, store::s(sk))
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":epoch", store::n(ends))
                .expression_attribute_values(
                    ":ttl",
                    store::n(ends + RETENTION_AFTER_EXPIRY_SECONDS),
                );
            update = if entry_item {
                update
                    .update_expression(
                        "SET expires_epoch = :epoch, expires_at = :at, expires_at_epoch = :ttl",
                    )
                    .expression_attribute_values(":at", store::timestamp(ends_at))
            } else {
                update.update_expression("SET expires_epoch = :epoch, expires_at_epoch = :ttl")
            };
            store::built(update.build()).map(|u| TransactWriteItem::builder().update(u).build())
        };
        edit.items = vec![
            end(&entry.key.pk, &entry.key.sk, true)?,
            end(&entry.credential_pk, crate::auth::API_KEY_SK, false)?,
        ];
        edit.items.extend(new.puts(store)?);
        Ok(edit)
    })
    .await?;
    Ok(match changed {
        Changed::Done { .. } => Outcome::Done(new),
        Changed::Refused => Outcome::LastAdminKey,
        Changed::NoOrganization | Changed::ItemRefused(..) => Outcome::NotFound,
    })
}

/// Records that key `id` authenticated a request in `minute` (a timestamp
/// truncated to the minute): one conditional write, skipped by the
/// condition when another function already recorded this minute (stored
/// timestamps compare as strings in time order).
pub async fn touch(
    store: &Store,
    org: OrganizationId,
    id: ApiKeyId,
    minute: Timestamp,
) -> Result<(), StoreError> {
    let result = store
        .update_item((org_pk(org), entry_sk(id)))
        .update_expression("SET last_used_at = :minute")
        .condition_expression(
            "attribute_exists(PK) AND (attribute_not_exists(last_used_at) OR last_used_at < :minute)",
        )
        .expression_attribute_values(":minute", store::timestamp(minute))
        .send()
        .await;
    StoreError::unless_condition_failed(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_are_a_non_empty_array_of_distinct_known_names() {
        assert_eq!(
            parse_scopes(&json!(["admin", "read"])).unwrap(),
            vec![Scope::Admin, Scope::Read],
            "kept as sent"
        );
        for bad in [
            json!([]),
            json!(["read", "read"]),
            json!(["write"]),
            json!("read"),
            json!([1]),
        ] {
            assert!(parse_scopes(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_key_shows_its_prefix_and_counts_as_admin_only_without_expiry() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let org = OrganizationId::generate();
        let key = NewKey::generate(org, vec![Scope::Admin], None, None, now).unwrap();
        assert_eq!(key.entry.prefix, key.secret.expose()[3..11]);
        assert!(key.entry.counts_as_admin() && key.entry.live(now));
        let later = now + time::Duration::hours(1);
        let expiring = NewKey::generate(org, vec![Scope::Admin], None, Some(later), now).unwrap();
        assert!(!expiring.entry.counts_as_admin());
        assert!(!expiring.entry.live(later));
        let item = store::to_item(&key.entry).unwrap();
        assert!(
            !item
                .values()
                .any(|v| v.as_s().is_ok_and(|s| s.contains(key.secret.expose()))),
            "the entry never holds the secret"
        );
    }
}
