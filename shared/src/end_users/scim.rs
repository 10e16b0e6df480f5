//! End users a directory provisions over SCIM (SPEC §18): the SCIM User is
//! kept whole with the end user (`scim_json`), and the mapped members
//! (`email`, `display_name`, `external_id`) follow it.
//!
//! Per directory, `userName` (case-insensitively) and `externalId` are
//! unique, and the directory lists its users ([`crate::directories::keys`]).

use super::store::{EndUserRecord, email_key, external_id_key, put_new_item, user_sk};
use super::{Email, Status};
use crate::clock::Timestamp;
use crate::directories::keys::{self, Unique};
use crate::ids::{DirectoryId, EndUserId, OrganizationId};
use crate::organizations::{Organization, org_pk};
use crate::store::{self, Store, StoreError};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde_json::Value;

/// The partition of a directory's user-list entries.
fn members_pk(directory: DirectoryId) -> String {
    format!("SCIMDIR#{directory}#users")
}

/// The directory's unique user attributes.
const UNIQUE: [Unique; 2] = [Unique::UserName, Unique::UserExternalId];

/// The end user's display name is at most this many characters.
const DISPLAY_NAME_MAX_CHARS: usize = 256;

/// What an end user's own members are, read from a canonical SCIM User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The primary email, else the first `work` one, else the first — when
    /// it is an address Tether accepts.
    pub email: Option<String>,
    /// `displayName`, else `name.formatted`, else given and family names.
    pub display_name: Option<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `userName`.
    pub user_name: String,
    /// `active` (absent: true).
    pub active: bool,
}

impl Mapped {
    /// The mapping of SPEC §18.
    pub fn of(canonical: &Value) -> Self {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let emails = canonical
            .get("emails")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let pick = emails
            .iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| {
                emails
                    .iter()
                    .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
            })
            .or_else(|| emails.first());
        let email = pick
            .and_then(|e| e.get("value"))
            .and_then(text)
            .and_then(|address| Email::parse(address).ok())
            .map(Email::into_inner);
        let name = canonical.get("name");
        let display_name = canonical
            .get("displayName")
            .and_then(text)
            .or_else(|| name.and_then(|n| n.get("formatted")).and_then(text))
            .or_else(|| {
                let part = |k: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str);
                let joined: Vec<&str> = [part("givenName"), part("familyName")]
                    .into_iter()
                    .flatten()
                    .collect();
                (!joined.is_empty()).then(|| joined.join(" "))
            })
            .map(|n| n.chars().take(DISPLAY_NAME_MAX_CHARS).collect());
        Self {
            email,
            display_name,
            external_id: canonical.get("externalId").and_then(text),
            user_name: canonical.get("userName").and_then(text).unwrap_or_default(),
            active: canonical.get("active") != Some(&Value::Bool(false)),
        }
    }
}

/// Why a SCIM write did not happen.
#[derive(Debug)]
pub enum Refused {
    /// The value of this attribute is another user's in the directory.
    Taken(Unique),
    /// The organization is at its relationship ceiling (its count).
    AtCeiling(u64),
    /// The user changed since it was read (or is no longer the directory's).
    Moved,
}

impl EndUserRecord {
    /// A new end user of `directory`, from a canonical SCIM User.
    pub fn from_scim(
        organization: &Organization,
        directory: DirectoryId,
        canonical: &Value,
        now: time::OffsetDateTime,
    ) -> Self {
        let mapped = Mapped::of(canonical);
        let input = super::CreateEndUser {
            email: mapped.email.and_then(|e| Email::parse(e).ok()),
            display_name: mapped.display_name,
            external_id: mapped.external_id,
            metadata: None,
        };
        let mut record = Self::new(organization.id, input, now);
        record.directory_id = Some(directory);
        record.scim_json = Some(canonical.to_string());
        record.suspended = (!mapped.active).then_some(true);
        record
    }

    /// The canonical SCIM User it keeps, if a directory provisions it.
    pub fn scim(&self) -> Option<Value> {
        self.scim_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
    }

    /// Whether `directory` provisions it and it is not being deleted.
    pub fn provisioned_by(&self, directory: DirectoryId) -> bool {
        self.directory_id == Some(directory) && self.status == Status::Active
    }
}

/// Creates `record` (from [`EndUserRecord::from_scim`]) with its uniqueness
/// items and list entry, counted toward the organization's relationships:
/// one transaction.
pub async fn create(
    store: &Store,
    organization: &Organization,
    directory: DirectoryId,
    record: &EndUserRecord,
    canonical: &Value,
) -> Result<Result<(), Refused>, StoreError> {
    let uniques: Vec<(Unique, store::Key)> = UNIQUE
        .into_iter()
        .filter_map(|u| u.of(canonical).map(|v| (u, u.key(directory, v))))
        .collect();
    let outcome = crate::relationships::create_counted(store, organization, |slot| {
        let mut record = record.clone();
        record.count_shard = slot;
        let mut items = vec![put_new_item(store, &record)?];
        let owner = record.id.to_string();
        for (_, key) in &uniques {
            items.push(keys::take(store, key.clone(), &owner)?);
        }
        items.push(keys::take(
            store,
            keys::entry(members_pk(directory), record.id),
            &owner,
        )?);
        Ok(items)
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(crate::relationships::Refused::AtCeiling(active)) => {
            Ok(Err(Refused::AtCeiling(active)))
        }
        Err(crate::relationships::Refused::Other(reasons)) => {
            let taken = uniques.iter().enumerate().find(|(i, _)| {
                reasons
                    .get(i + 1)
                    .is_some_and(store::CancellationReason::is_condition_failed)
            });
            match taken {
                Some((_, (unique, _))) => Ok(Err(Refused::Taken(*unique))),
                None => Err(StoreError::TransactionCanceled { reasons }),
            }
        }
    }
}

/// Writes `after` (a canonical SCIM User) over `current`, conditioned on
/// `current`'s version: the mapped members follow it, a changed `userName`
/// or `externalId` moves its uniqueness item, and `active: false` suspends
/// the end user — its access tokens refused from the next request (its
/// token generation moves on) — while `active: true` lifts the suspension.
pub async fn replace(
    store: &Store,
    current: &EndUserRecord,
    directory: DirectoryId,
    after: &Value,
    now: time::OffsetDateTime,
) -> Result<Result<EndUserRecord, Refused>, StoreError> {
    let before = current.scim().unwrap_or_default();
    let mapped = Mapped::of(after);
    let org = current.organization_id;
    let mut next = current.clone();
    next.scim_json = Some(after.to_string());
    next.email = mapped.email.clone();
    next.display_name = mapped.display_name.clone();
    next.external_id = mapped.external_id.clone();
    next.email_key = mapped.email.as_deref().map(|e| email_key(org, e));
    next.external_id_key = mapped
        .external_id
        .as_deref()
        .map(|x| external_id_key(org, x));
    next.updated_at = Timestamp::from(now);
    next.version = current.version + 1;
    let suspending = !mapped.active && current.suspended != Some(true);
    next.suspended = (!mapped.active).then_some(true);
    if suspending {
        next.token_generation = current.token_generation + 1;
    }
    let mut update = Update::builder()
        .table_name(store.table())
        .key(store::PK, store::s(org_pk(org)))
        .key(store::SK, store::s(user_sk(current.id)))
        .condition_expression(
            "#version = :read AND #status = :active AND directory_id = :directory",
        )
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":read", store::n(current.version))
        .expression_attribute_values(":active", store::s("active"))
        .expression_attribute_values(":directory", store::s(directory.to_string()));
    let mut set = vec![
        "scim_json = :scim".to_owned(),
        "updated_at = :now".to_owned(),
        "#version = :next".to_owned(),
        "token_generation = :generation".to_owned(),
    ];
    let mut remove = Vec::new();
    update = update
        .expression_attribute_values(":scim", store::s(after.to_string()))
        .expression_attribute_values(":now", store::timestamp(now))
        .expression_attribute_values(":next", store::n(next.version))
        .expression_attribute_values(":generation", store::n(next.token_generation));
    for (name, value) in [
        ("email", &next.email),
        ("display_name", &next.display_name),
        ("external_id", &next.external_id),
        ("email_key", &next.email_key),
        ("external_id_key", &next.external_id_key),
    ] {
        match value {
            Some(value) => {
                let placeholder = format!(":{name}");
                set.push(format!("{name} = {placeholder}"));
                update = update.expression_attribute_values(placeholder, store::s(value));
            }
            None => remove.push(name.to_owned()),
        }
    }
    if next.suspended == Some(true) {
        set.push("suspended = :true".to_owned());
        update = update.expression_attribute_values(":true", store::AttributeValue::Bool(true));
    } else {
        remove.push("suspended".to_owned());
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let mut items = vec![
        TransactWriteItem::builder()
            .update(store::built(update.update_expression(expression).build())?)
            .build(),
    ];
    let mut moved = Vec::new();
    let owner = current.id.to_string();
    for unique in UNIQUE {
        let (old, new) = (unique.of(&before), unique.of(after));
        let (old_key, new_key) = (
            old.map(|v| unique.key(directory, v)),
            new.map(|v| unique.key(directory, v)),
        );
        if old_key == new_key {
            continue;
        }
        if let Some(key) = old_key {
            items.push(keys::give_up(store, key, &owner)?);
        }
        if let Some(key) = new_key {
            moved.push((items.len(), unique));
            items.push(keys::take(store, key, &owner)?);
        }
    }
    match store::transact(store, items).await {
        Ok(()) => Ok(Ok(next)),
        Err(StoreError::TransactionCanceled { reasons }) => {
            let taken = moved.iter().find(|(i, _)| {
                reasons
                    .get(*i)
                    .is_some_and(store::CancellationReason::is_condition_failed)
            });
            if let Some((_, unique)) = taken {
                return Ok(Err(Refused::Taken(*unique)));
            }
            if reasons
                .first()
                .is_some_and(store::CancellationReason::is_condition_failed)
            {
                return Ok(Err(Refused::Moved));
            }
            Err(StoreError::TransactionCanceled { reasons })
        }
        Err(err) => Err(err),
    }
}

/// Starts the deletion of `current` (SPEC §12's purge follows), freeing its
/// uniqueness items and list entry in the same transaction, so the directory
/// may create the same `userName` again at once.
pub async fn delete(
    store: &Store,
    current: &EndUserRecord,
    directory: DirectoryId,
    now: time::OffsetDateTime,
) -> Result<Result<(), Refused>, StoreError> {
    let canonical = current.scim().unwrap_or_default();
    let update = Update::builder()
        .table_name(store.table())
        .key(store::PK, store::s(org_pk(current.organization_id)))
        .key(store::SK, store::s(user_sk(current.id)))
        .update_expression("SET #status = :deleting, updated_at = :now, #version = :next")
        .condition_expression(
            "#version = :read AND #status = :active AND directory_id = :directory",
        )
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":read", store::n(current.version))
        .expression_attribute_values(":next", store::n(current.version + 1))
        .expression_attribute_values(":active", store::s("active"))
        .expression_attribute_values(":deleting", store::s("deleting"))
        .expression_attribute_values(":now", store::timestamp(now))
        .expression_attribute_values(":directory", store::s(directory.to_string()))
        .build();
    let mut items = vec![
        TransactWriteItem::builder()
            .update(store::built(update)?)
            .build(),
    ];
    let owner = current.id.to_string();
    for unique in UNIQUE {
        if let Some(value) = unique.of(&canonical) {
            items.push(keys::give_up(store, unique.key(directory, value), &owner)?);
        }
    }
    items.push(keys::give_up(
        store,
        keys::entry(members_pk(directory), current.id),
        &owner,
    )?);
    match store::transact(store, items).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons
                .first()
                .is_some_and(store::CancellationReason::is_condition_failed) =>
        {
            Ok(Err(Refused::Moved))
        }
        Err(err) => Err(err),
    }
}

/// The ids of `directory`'s users at positions `skip .. skip + take`, in
/// creation order, and how many it has in all.
pub async fn page(
    store: &Store,
    directory: DirectoryId,
    skip: usize,
    take: usize,
) -> Result<(Vec<EndUserId>, usize), StoreError> {
    let (ids, total) = keys::page(store, &members_pk(directory), skip, take).await?;
    Ok((
        ids.iter()
            .filter_map(|id| EndUserId::parse(id).ok())
            .collect(),
        total,
    ))
}

/// The end users `ids` of `org`, in that order, skipping those gone.
pub async fn users(
    store: &Store,
    org: OrganizationId,
    ids: &[EndUserId],
) -> Result<Vec<EndUserRecord>, StoreError> {
    let mut users = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(100) {
        let keys: Vec<store::Key> = chunk.iter().map(|id| (org_pk(org), user_sk(*id))).collect();
        for item in store::get_items(store, &keys).await?.into_iter().flatten() {
            users.push(store::from_item(item)?);
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mapping_prefers_the_primary_email_and_the_display_name() {
        let user = json!({
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"value": "home@example.com", "type": "home"},
                {"value": "work@example.com", "type": "work"},
                {"value": "main@example.com", "primary": true}
            ],
            "externalId": "00u1",
            "active": false
        });
        let mapped = Mapped::of(&user);
        assert_eq!(mapped.email.as_deref(), Some("main@example.com"));
        assert_eq!(mapped.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(mapped.external_id.as_deref(), Some("00u1"));
        assert!(!mapped.active);
        let work = json!({"userName": "x", "emails": [{"value": "h@x.io"}, {"value": "w@x.io", "type": "work"}], "displayName": "X"});
        let mapped = Mapped::of(&work);
        assert_eq!(mapped.email.as_deref(), Some("w@x.io"));
        assert_eq!(mapped.display_name.as_deref(), Some("X"));
        assert!(mapped.active);
        let odd = json!({"userName": "x", "emails": [{"value": "not an address"}]});
        assert_eq!(Mapped::of(&odd).email, None, "kept in SCIM, not mapped");
    }

    #[test]
    fn user_names_are_unique_with_ascii_case_folded_and_external_ids_exactly() {
        let directory = DirectoryId::generate();
        assert_eq!(
            Unique::UserName.key(directory, "Ada@Example.com"),
            Unique::UserName.key(directory, "ada@example.com")
        );
        assert_ne!(
            Unique::UserExternalId.key(directory, "A1"),
            Unique::UserExternalId.key(directory, "a1")
        );
        assert_ne!(
            Unique::UserName.key(directory, "a"),
            Unique::UserName.key(DirectoryId::generate(), "a"),
            "directories are separate namespaces"
        );
    }
}
