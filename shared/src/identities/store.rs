//! Identity items and the uniqueness item of each (provider, external id).

use crate::clock::Timestamp;
use crate::end_users::user_sk;
use crate::identity_providers::provider_sk;
use crate::ids::{EndUserId, IdentityId, IdentityProviderId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, Item, PK, SK, Store, StoreError, built};
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who made a link (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum LinkedBy {
    /// The organization's backend, through the organization API.
    Auto,
    /// The end user, through `/v1/me/sso/link`.
    User,
    /// An SSO sign-in that provisioned it (SPEC §17).
    Sso,
}

/// An identity as stored: `PK = ORG#<org>`, `SK = IDENT#<user>#<identity>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The identity's id.
    pub id: IdentityId,
    /// The end user it is linked to.
    pub user_id: EndUserId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The provider.
    pub identity_provider_id: IdentityProviderId,
    /// The subject at the provider.
    pub external_id: String,
    /// Username at the provider.
    pub external_username: Option<String>,
    /// Email at the provider.
    pub external_email: Option<String>,
    /// Display name at the provider.
    pub external_display_name: Option<String>,
    /// Whether the provider asserted the email verified (SPEC §10).
    #[serde(default)]
    pub external_email_verified: bool,
    /// Who linked it.
    pub linked_by: LinkedBy,
    /// When.
    pub created_at: Timestamp,
    /// Sort key of the uniqueness item of its pair.
    pub pair_sk: String,
}

impl store::Record for IdentityRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// Sort key of the uniqueness item of (provider, external id). The external
/// id is hashed: any text is then a safe, fixed-length key.
pub fn pair_sk(provider: IdentityProviderId, external_id: &str) -> String {
    format!(
        "{}{}",
        crate::identity_providers::pairs_prefix(provider),
        hex::encode(Sha256::digest(external_id.as_bytes()))
    )
}

fn identity_sk(user: EndUserId, id: IdentityId) -> String {
    format!("IDENT#{user}#{id}")
}

impl IdentityRecord {
    /// A new identity for `user`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per field of the identity object"
    )]
    pub fn new(
        organization_id: OrganizationId,
        user_id: EndUserId,
        identity_provider_id: IdentityProviderId,
        external_id: String,
        external_username: Option<String>,
        external_email: Option<String>,
        external_display_name: Option<String>,
        linked_by: LinkedBy,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = IdentityId::generate();
        Self {
            key: store::ItemKey::new(org_pk(organization_id), identity_sk(user_id, id)),
            pair_sk: pair_sk(identity_provider_id, &external_id),
            id,
            user_id,
            organization_id,
            identity_provider_id,
            external_id,
            external_username,
            external_email,
            external_display_name,
            external_email_verified: false,
            linked_by,
            created_at: Timestamp::from(now),
        }
    }

    /// The public identity object.
    pub fn view(&self) -> super::Identity<'_> {
        super::Identity {
            id: self.id,
            user_id: self.user_id,
            identity_provider_id: self.identity_provider_id,
            external_id: &self.external_id,
            external_username: self.external_username.as_deref(),
            external_email: self.external_email.as_deref(),
            external_display_name: self.external_display_name.as_deref(),
            external_email_verified: self.external_email_verified,
            linked_by: self.linked_by,
            created_at: self.created_at,
        }
    }
}

/// What a link transaction found.
#[derive(Debug)]
pub enum LinkOutcome {
    /// Linked now.
    Linked(IdentityRecord),
    /// The pair was already this user's: that identity.
    AlreadyLinked(IdentityRecord),
    /// The pair belongs to another end user.
    OtherUser,
    /// No such end user in the organization.
    UnknownUser,
    /// The end user is being deleted.
    UserDeleting,
    /// No such provider in the organization.
    UnknownProvider,
    /// The id_token was first presented by another end user.
    Replayed,
}

/// An id_token bound to the first end user who presents it (SPEC §10):
/// `PK = IDTOKEN#<org>#<sha256(token)>`, `SK = IDTOKEN`, kept until the
/// token's `exp` (TTL; the condition checks expiry itself).
#[derive(Debug, Clone)]
pub struct TokenBinding {
    /// SHA-256 of the id_token, hex: the token itself is never stored.
    pub token_hash: String,
    /// The token's `exp` (epoch seconds).
    pub expires_at: i64,
    /// Now (epoch seconds).
    pub now: i64,
    /// The generation of the access token the end user links with: the
    /// end user must still honour it (not revoked since).
    pub token_generation: u64,
}

impl TokenBinding {
    /// The binding of `id_token`, valid until `expires_at`.
    pub fn new(id_token: &str, expires_at: i64, now: i64, token_generation: u64) -> Self {
        Self {
            token_generation,
            token_hash: hex::encode(Sha256::digest(id_token.as_bytes())),
            expires_at,
            now,
        }
    }
}

/// Links `identity` in one transaction: the end user must exist and be
/// active, the provider must exist, the pair must be free, and the id_token
/// that proved it (`binding`, SSO links) must be new or this user's.
pub async fn link(
    store: &Store,
    identity: &IdentityRecord,
    binding: Option<&TokenBinding>,
) -> Result<LinkOutcome, StoreError> {
    let table = store.table();
    let org = org_pk(identity.organization_id);
    // An end user linking for itself must still honour its access token.
    let mut user_condition = "attribute_exists(PK) AND #status = :active".to_owned();
    let mut user_check = ConditionCheck::builder()
        .table_name(table)
        .key(PK, store::s(&org))
        .key(SK, store::s(user_sk(identity.user_id)))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":active", store::s("active"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if let Some(binding) = binding {
        user_condition.push_str(if binding.token_generation == 0 {
            " AND (attribute_not_exists(token_generation) OR token_generation = :tgen)"
        } else {
            " AND token_generation = :tgen"
        });
        user_check =
            user_check.expression_attribute_values(":tgen", store::n(binding.token_generation));
    }
    let user_check = built(user_check.condition_expression(user_condition).build())?;
    let [provider_check, pair, put] = identity_items(store, identity)?;
    let mut items = vec![
        TransactWriteItem::builder()
            .condition_check(user_check)
            .build(),
        provider_check,
        pair,
        put,
    ];
    if let Some(binding) = binding {
        let bind = built(
            Put::builder()
                .table_name(table)
                .item(
                    PK,
                    store::s(format!(
                        "IDTOKEN#{}#{}",
                        identity.organization_id, binding.token_hash
                    )),
                )
                .item(SK, store::s("IDTOKEN"))
                .item("user_id", store::s(identity.user_id.to_string()))
                .item(store::TTL_ATTRIBUTE, store::n(binding.expires_at))
                .condition_expression(
                    "attribute_not_exists(PK) OR user_id = :user OR #expires < :now",
                )
                .expression_attribute_names("#expires", store::TTL_ATTRIBUTE)
                .expression_attribute_values(":user", store::s(identity.user_id.to_string()))
                .expression_attribute_values(":now", store::n(binding.now))
                .build(),
        )?;
        items.push(TransactWriteItem::builder().put(bind).build());
    }
    match store::transact(store, items).await {
        Ok(()) => Ok(LinkOutcome::Linked(identity.clone())),
        Err(StoreError::TransactionCanceled { reasons }) => {
            let failed = |i: usize| reasons.get(i).filter(|r| r.is_condition_failed());
            // Another user's token first: nothing about the pair is disclosed.
            if binding.is_some() && failed(4).is_some() {
                return Ok(LinkOutcome::Replayed);
            }
            if let Some(user) = failed(0) {
                return Ok(match user.item.as_ref() {
                    None => LinkOutcome::UnknownUser,
                    Some(_) => LinkOutcome::UserDeleting,
                });
            }
            if failed(1).is_some() {
                return Ok(LinkOutcome::UnknownProvider);
            }
            if let Some(pair) = failed(2) {
                return existing_link(pair.item.as_ref(), identity.user_id);
            }
            Err(StoreError::TransactionCanceled { reasons })
        }
        Err(err) => Err(err),
    }
}

/// The items that link `identity`, beside its end user's own (a check in
/// [`link`], the creation in an SSO sign-in's provisioning): the provider
/// check (exists, not being deleted), the pair's uniqueness item and the
/// identity, in that order.
pub fn identity_items(
    store: &Store,
    identity: &IdentityRecord,
) -> Result<[TransactWriteItem; 3], StoreError> {
    let table = store.table();
    let org = org_pk(identity.organization_id);
    let provider_check = built(
        ConditionCheck::builder()
            .table_name(table)
            .key(PK, store::s(&org))
            .key(SK, store::s(provider_sk(identity.identity_provider_id)))
            // Not being deleted (identity_providers::delete).
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(#status)")
            .expression_attribute_names("#status", "status")
            .build(),
    )?;
    let pair = built(
        Put::builder()
            .table_name(table)
            .item(PK, store::s(&org))
            .item(SK, store::s(&identity.pair_sk))
            .item("user_id", store::s(identity.user_id.to_string()))
            .item("identity_id", store::s(identity.id.to_string()))
            .item(
                "identity",
                store::s(
                    serde_json::to_string(identity).map_err(|e| StoreError::Other {
                        source: Box::new(e),
                    })?,
                ),
            )
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build(),
    )?;
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(store::to_item(identity)?))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    Ok([
        TransactWriteItem::builder()
            .condition_check(provider_check)
            .build(),
        TransactWriteItem::builder().put(pair).build(),
        TransactWriteItem::builder().put(put).build(),
    ])
}

/// The pair's current owner, from the uniqueness item the transaction returned.
fn existing_link(pair: Option<&Item>, user: EndUserId) -> Result<LinkOutcome, StoreError> {
    let owner = pair.and_then(|p| store::get_s(p, "user_id"));
    if owner != Some(user.to_string().as_str()) {
        return Ok(LinkOutcome::OtherUser);
    }
    let stored = pair
        .and_then(|p| store::get_s(p, "identity"))
        .unwrap_or_default();
    let identity = serde_json::from_str(stored).map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    Ok(LinkOutcome::AlreadyLinked(identity))
}

/// The organization's identity of `external_id` at `provider`, if linked: one
/// strongly consistent `GetItem` of the pair's uniqueness item, which holds
/// the identity (SPEC §9 lookups).
pub async fn find_by_pair(
    store: &Store,
    org: OrganizationId,
    provider: IdentityProviderId,
    external_id: &str,
) -> Result<Option<IdentityRecord>, StoreError> {
    /// The uniqueness item: the identity it holds, as JSON text.
    #[derive(Deserialize)]
    struct Pair {
        identity: String,
    }
    let key = (org_pk(org), pair_sk(provider, external_id));
    let Some(pair) = store::get_record::<Pair>(store, &key, true).await? else {
        return Ok(None);
    };
    serde_json::from_str(&pair.identity)
        .map(Some)
        .map_err(|e| StoreError::Other {
            source: Box::new(e),
        })
}

/// A page of an end user's identities after `after` (and whether more
/// exist), or `None` when the end user does not exist.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
    after: Option<IdentityId>,
    limit: usize,
) -> Result<Option<(Vec<IdentityRecord>, bool)>, StoreError> {
    // The user check and the page run together (one round trip):
    // an unknown user's page is empty anyway, and is discarded.
    let exists = store
        .get_item((org_pk(org), user_sk(user)))
        .projection_expression("PK")
        .consistent_read(true)
        .send();
    let (pk, prefix) = (org_pk(org), format!("IDENT#{user}#"));
    let page = store::query_page(
        store,
        &pk,
        &prefix,
        after.map(|id| identity_sk(user, id)),
        limit,
    );
    let (exists, page) = tokio::join!(exists, page);
    if exists?.item.is_none() {
        return Ok(None);
    }
    let page = page?;
    Ok(Some(page))
}

/// Every identity of an end user (strongly consistent, all pages).
pub(crate) async fn of_user(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
) -> Result<Vec<IdentityRecord>, StoreError> {
    store::query_all(store, &org_pk(org), &format!("IDENT#{user}#"), |q| q)
        .await?
        .into_iter()
        .map(store::from_item)
        .collect()
}

/// Reads one identity of an end user.
pub(crate) async fn get(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
    id: IdentityId,
) -> Result<Option<IdentityRecord>, StoreError> {
    let out = store
        .get_item((org_pk(org), identity_sk(user, id)))
        .consistent_read(true)
        .send()
        .await?;
    out.item.map(store::from_item).transpose()
}

/// The two deletes that unlink an identity and free its pair (conditioned so
/// a concurrent relink of the pair is never deleted by mistake).
pub(crate) fn unlink_items(
    store: &Store,
    identity: &IdentityRecord,
) -> Result<[TransactWriteItem; 2], StoreError> {
    let org = org_pk(identity.organization_id);
    let delete_identity = built(
        Delete::builder()
            .table_name(store.table())
            .key(PK, store::s(&org))
            .key(SK, store::s(identity_sk(identity.user_id, identity.id)))
            .condition_expression("attribute_exists(PK)")
            .build(),
    )?;
    let delete_pair = built(
        Delete::builder()
            .table_name(store.table())
            .key(PK, store::s(&org))
            .key(SK, store::s(&identity.pair_sk))
            .condition_expression("attribute_not_exists(PK) OR identity_id = :id")
            .expression_attribute_values(":id", store::s(identity.id.to_string()))
            .build(),
    )?;
    Ok([
        TransactWriteItem::builder().delete(delete_identity).build(),
        TransactWriteItem::builder().delete(delete_pair).build(),
    ])
}

/// Unlinks an identity; `false` when it does not exist.
pub async fn unlink(
    store: &Store,
    org: OrganizationId,
    user: EndUserId,
    id: IdentityId,
) -> Result<bool, StoreError> {
    let Some(identity) = get(store, org, user, id).await? else {
        return Ok(false);
    };
    let mut items = unlink_items(store, &identity)?.to_vec();
    // Who unlinked it, for the `identity.unlinked` event (SPEC §15).
    items.extend(store::actor::deletion_marker(
        store.table(),
        &org_pk(org),
        &identity_sk(user, id),
        time::OffsetDateTime::now_utc().unix_timestamp(),
    ));
    match store::transact(store, items).await {
        Ok(()) => Ok(true),
        // Removed by a concurrent unlink between the read and the write.
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.first().is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}
