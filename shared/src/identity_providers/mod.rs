//! Identity providers (SPEC §9): the OIDC issuers whose identities an
//! organization links, and where their signing keys come from — pinned
//! inline, or fetched from a `jwks_uri` (given or discovered) and cached.

mod change;
mod input;
pub mod keys;
pub mod login;

pub use change::{
    Changes, Connections, LoginUpdate, Updated, connection, connection_key, connections_of, update,
};
pub use input::{CreateProvider, SourceInput, UpdateProvider, usable_keys, validate_jwks};
pub use keys::VerifiedProvider;

use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::freshness::{Current, VersionedCache};
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::organizations::{self, Organization, org_pk};
use crate::store::{self, Store, StoreError};
use crate::wire::Jwks;
use jsonwebtoken::jwk::JwkSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Prefix of provider sort keys.
const IDP_SK_PREFIX: &str = "IDP#";
/// The signature algorithms an id_token may use (SPEC §10).
pub const ALLOWED_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// Sort key of a provider.
pub fn provider_sk(id: IdentityProviderId) -> String {
    format!("{IDP_SK_PREFIX}{id}")
}

/// The sort-key prefix of the uniqueness items of the identities linked
/// through provider `id` (`identities::pair_sk` builds on it).
pub fn pairs_prefix(id: IdentityProviderId) -> String {
    format!("IDPAIR#{id}#")
}

/// How a deletion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted.
    Done,
    /// No such provider in the organization.
    NotFound,
    /// Identities still use it (409 `identity_provider_in_use`).
    InUse,
}

/// Deletes a provider that no identity uses (SPEC §9), in three steps that
/// keep a concurrent link from slipping in between the check and the delete:
/// the provider is marked `deleting` (a link's transaction requires it
/// unmarked, so new links are refused from here on), the organization's
/// identities of the provider are looked for (one strongly consistent query
/// of their uniqueness items, `Limit 1`), and then either the mark is lifted
/// (in use) or the provider deleted as a change of the organization, so no
/// warm function verifies with it from the next request. The change starts
/// from `organization` as the caller holds it ([`organizations::change_at`]).
pub async fn delete(
    store: &Store,
    organization: &Organization,
    id: IdentityProviderId,
) -> Result<Deleted, StoreError> {
    use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
    let org = organization.id;
    let (pk, sk) = (org_pk(org), provider_sk(id));
    let mark = |update: &str, condition: &str| {
        store
            .update_item((&pk, &sk))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
    };
    let marked = mark("SET #status = :deleting", "attribute_exists(PK)")
        .expression_attribute_values(":deleting", store::s(DELETING))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await
        .map_err(StoreError::from);
    // Whether it takes a place under the cap (never changes once written).
    let counted = match marked {
        Ok(out) => out.attributes.as_ref().is_some_and(crate::caps::is_counted),
        Err(StoreError::ConditionalCheckFailed { .. }) => return Ok(Deleted::NotFound),
        Err(err) => return Err(err),
    };
    let used = store
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", store::s(&pk))
        .expression_attribute_values(":prefix", store::s(pairs_prefix(id)))
        .projection_expression("PK")
        .consistent_read(true)
        .limit(1)
        .send()
        .await?
        .count
        > 0;
    if used {
        let lifted = mark("REMOVE #status", "#status = :deleting")
            .expression_attribute_values(":deleting", store::s(DELETING))
            .send()
            .await
            .map_err(StoreError::from);
        return match lifted {
            Ok(_) | Err(StoreError::ConditionalCheckFailed { .. }) => Ok(Deleted::InUse),
            Err(err) => Err(err),
        };
    }
    let changed = organizations::change_at(store, org, Some(organization), |_| {
        let delete = store::built(
            Delete::builder()
                .table_name(store.table())
                .key(store::PK, store::s(&pk))
                .key(store::SK, store::s(&sk))
                .condition_expression("#status = :deleting")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":deleting", store::s(DELETING))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        items.extend(change::connection_writes(store, org, id, Some(None))?);
        if counted {
            items.push(crate::caps::Capped::IdentityProviders.give_back(store.table(), org)?);
        }
        // Who deleted it, for the `identity_provider.deleted` event (SPEC §15).
        items.extend(store::actor::deletion_marker(
            store.table(),
            &pk,
            &sk,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        Ok(crate::organizations::Edit {
            items,
            ..Default::default()
        })
    })
    .await?;
    Ok(match changed {
        crate::organizations::Changed::Done { .. } => Deleted::Done,
        _ => Deleted::NotFound,
    })
}

/// The `status` of a provider being deleted.
const DELETING: &str = "deleting";

/// Where a provider's keys come from (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// Keys given inline (`jwks`), never fetched.
    #[default]
    Pinned,
    /// Keys fetched from the issuer's `jwks_uri` (given, or discovered) and
    /// kept fresh.
    JwksUri,
}

/// A provider as stored: `PK = ORG#<org>`, `SK = IDP#<id>`. The item also
/// holds the key cache shared by every function (SPEC §9): the last fetched
/// keys, until when they are fresh, and when a request last claimed a fetch.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The provider's id.
    pub id: IdentityProviderId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// The `iss` its id_tokens carry.
    pub issuer: String,
    /// The organization's client id at the provider: the `aud` of its id_tokens.
    pub client_id: String,
    /// Where the keys come from (records older than key sources are pinned).
    #[serde(default)]
    pub key_source: KeySource,
    /// The key set's URL, for [`KeySource::JwksUri`].
    pub jwks_uri: Option<String>,
    /// The key set as JSON text: pinned, or the usable keys last fetched.
    pub jwks_json: String,
    /// When the keys were last fetched.
    pub keys_fetched_at: Option<Timestamp>,
    /// Until when (epoch seconds) the fetched keys are fresh.
    pub keys_fresh_until: Option<i64>,
    /// When (epoch seconds) a request last claimed a fetch: at most one per
    /// [`keys::REFETCH_INTERVAL_SECONDS`].
    pub fetch_claimed_at: Option<i64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change (absent on records never changed).
    pub updated_at: Option<Timestamp>,
    /// Its login connection (SPEC §17), when configured.
    pub login: Option<login::LoginRecord>,
    /// Raised by every PATCH and reseal: a change is written only over the
    /// revision it was built from, so the connection item it writes (a copy)
    /// never goes back to what a concurrent change replaced.
    #[serde(default)]
    pub revision: u64,
}

impl store::Record for ProviderRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

impl ProviderRecord {
    /// The parsed key set (validated on the way in).
    pub fn jwks(&self) -> Result<JwkSet, ApiError> {
        serde_json::from_str(&self.jwks_json).map_err(ApiError::internal)
    }

    /// Its connection as the flow needs it, when its login is enabled.
    pub fn connection(&self) -> Option<login::Connection> {
        let login = self.login.as_ref().filter(|l| l.enabled)?;
        Some(login::Connection {
            organization_id: self.organization_id,
            identity_provider_id: self.id,
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_auth: login.client_auth,
            client_secret_sealed: login.client_secret_sealed.clone(),
            authorization_endpoint: login.authorization_endpoint.clone(),
            token_endpoint: login.token_endpoint.clone(),
            callback_url: login.callback_url.clone(),
            redirect_uris: login.redirect_uris.clone(),
        })
    }

    /// The public provider object.
    pub fn view(&self) -> IdentityProvider<'_> {
        let pinned = self.key_source == KeySource::Pinned;
        IdentityProvider {
            id: self.id,
            name: &self.name,
            issuer: &self.issuer,
            client_id: &self.client_id,
            key_source: self.key_source,
            jwks_uri: self.jwks_uri.as_deref().filter(|_| !pinned),
            jwks: pinned.then(|| {
                serde_json::from_str(&self.jwks_json).unwrap_or_else(|_| json!({"keys": []}))
            }),
            keys_fetched_at: self.keys_fetched_at.filter(|_| !pinned),
            login: self.login.as_ref().map(login::LoginRecord::view),
            created_at: self.created_at,
            updated_at: self.updated_at.unwrap_or(self.created_at),
        }
    }

    /// A new provider of `org` with its key source resolved.
    pub fn new(
        org: OrganizationId,
        input: CreateProvider,
        keys: keys::Resolved,
        now: time::OffsetDateTime,
    ) -> Self {
        let id = IdentityProviderId::generate();
        let mut record = Self {
            key: store::ItemKey::new(org_pk(org), provider_sk(id)),
            id,
            organization_id: org,
            name: input.name,
            issuer: input.issuer,
            client_id: input.client_id,
            key_source: KeySource::Pinned,
            jwks_uri: None,
            jwks_json: String::new(),
            keys_fetched_at: None,
            keys_fresh_until: None,
            fetch_claimed_at: None,
            created_at: Timestamp::from(now),
            updated_at: None,
            login: None,
            revision: 0,
        };
        match keys {
            keys::Resolved::Pinned(jwks) => record.jwks_json = jwks.to_string(),
            keys::Resolved::Fetched(fetched) => {
                record.key_source = KeySource::JwksUri;
                record.jwks_uri = Some(fetched.jwks_uri);
                record.jwks_json = fetched.keys_json;
                record.keys_fetched_at = Some(fetched.fetched_at);
                record.keys_fresh_until = Some(fetched.fresh_until);
            }
        }
        record
    }
}

/// The identity-provider object.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IdentityProvider")]
pub struct IdentityProvider<'a> {
    /// The provider's id.
    pub id: IdentityProviderId,
    /// Display name.
    #[schemars(length(max = input::NAME_MAX_CHARS))]
    pub name: &'a str,
    /// The `iss` its id_tokens carry.
    #[schemars(length(max = input::ISSUER_MAX_CHARS))]
    pub issuer: &'a str,
    /// The organization's client id at the provider: the `aud` of its id_tokens.
    #[schemars(length(max = input::CLIENT_ID_MAX_CHARS))]
    pub client_id: &'a str,
    /// `pinned` (inline `jwks`) or `jwks_uri` (fetched, kept fresh).
    pub key_source: KeySource,
    /// The key set's URL; null when pinned.
    pub jwks_uri: Option<&'a str>,
    /// The pinned public signing keys (pinned providers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Jwks>")]
    pub jwks: Option<Value>,
    /// When the keys were last fetched; null when pinned.
    pub keys_fetched_at: Option<Timestamp>,
    /// Its login connection (SPEC §17); absent when it signs nobody in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<login::LoginConnection<'a>>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The warm cache of verified providers, current at a version of their
/// organization (SPEC §5).
pub type ProviderCache =
    VersionedCache<(OrganizationId, IdentityProviderId), Arc<VerifiedProvider>>;

/// A provider of the organization for verifying id_tokens: from the warm
/// cache when current `at` the request, else read and parsed (and then
/// cached). `None` when the organization has no such provider.
pub async fn verified(
    app: &crate::App,
    at: Current,
    org: OrganizationId,
    id: IdentityProviderId,
) -> Result<Option<Arc<VerifiedProvider>>, ApiError> {
    if let Some(cached) = app.providers.current(&(org, id), at.version) {
        return Ok(Some(cached));
    }
    // Hits only: a provider registered later is found at once.
    let Some(record) = get(&app.store, org, id).await? else {
        return Ok(None);
    };
    let provider = Arc::new(VerifiedProvider::new(record)?);
    let owner = crate::limits::Owner::Organization(org).partition_key();
    app.providers.put(
        (org, id),
        app.versions.known_before(&owner, at.mark),
        Arc::clone(&provider),
    );
    Ok(Some(provider))
}

/// Reads a provider of the organization.
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: IdentityProviderId,
) -> Result<Option<ProviderRecord>, StoreError> {
    // Strongly consistent: a provider registered a moment ago is found, and
    // what is cached from the read is current at the version stamped on it.
    store::get_record(store, &(org_pk(org), provider_sk(id)), true).await
}

/// Writes a new provider under the organization's cap (SPEC §4): `false`
/// when it is at it (nothing written). Its id is fresh: the condition on
/// its item only guards a collision.
pub async fn put_new(
    store: &Store,
    organization: &Organization,
    record: &ProviderRecord,
) -> Result<bool, StoreError> {
    crate::caps::put_new(
        store,
        organization,
        crate::caps::Capped::IdentityProviders,
        store::to_item(record)?,
    )
    .await
}

/// A page of the organization's providers, oldest first, after `after`;
/// whether more follow.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<IdentityProviderId>,
    limit: usize,
) -> Result<(Vec<ProviderRecord>, bool), StoreError> {
    store::query_page(
        store,
        &org_pk(org),
        IDP_SK_PREFIX,
        after.map(provider_sk),
        limit,
    )
    .await
}
