//! Webhook endpoints (SPEC §15): where an organization's events are
//! delivered. `PK = ORG#<org>`, `SK = WHE#<id>`; the signing secret is kept
//! sealed under the deployment's webhook key (bound to the item), never in
//! plaintext and never only hashed.

use super::SigningSecret;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::ids::{OrganizationId, WebhookEndpointId};
use crate::organizations::org_pk;
use crate::parse::{JsonObject, ParseBody};
use crate::sealed::Keyring;
use crate::store::{self, Store, StoreError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Prefix of endpoint sort keys.
const SK_PREFIX: &str = "WHE#";
/// Longest URL, in characters.
const URL_MAX_CHARS: usize = 2048;
/// Longest description, in characters.
const DESCRIPTION_MAX_CHARS: usize = 512;
/// How long a rolled secret keeps signing beside its successor.
pub const ROLL_OVERLAP_SECONDS: i64 = 24 * 60 * 60;

/// Sort key of an endpoint.
pub fn endpoint_sk(id: WebhookEndpointId) -> String {
    format!("{SK_PREFIX}{id}")
}

/// `enabled`: deliveries are sent; `disabled` (after 5 days of failed
/// deliveries): stopped until a PATCH sets `status: "enabled"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "WebhookEndpointStatus")]
#[allow(missing_docs, reason = "the enum's documentation names each state")]
pub enum Status {
    Enabled,
    Disabled,
}

/// An endpoint as stored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointRecord {
    #[serde(flatten)]
    key: store::ItemKey,
    /// The endpoint's id.
    pub id: WebhookEndpointId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Where deliveries go (checked under SPEC §16).
    pub url: String,
    /// The event types delivered; empty: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// A note of the owner's.
    pub description: Option<String>,
    /// Enabled or disabled.
    pub status: Status,
    /// The signing secret, sealed.
    pub(super) secret_sealed: String,
    /// The rolled secret, sealed, while it still signs.
    pub(super) previous_secret_sealed: Option<String>,
    /// Until when (epoch s) the rolled secret signs.
    previous_secret_until: Option<i64>,
    /// Since when (epoch s) its deliveries have been failing, if they are:
    /// set by the first failure, removed by a success; five days of it
    /// disable the endpoint. Not part of the object (no event for it).
    pub failing_since: Option<i64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl store::Record for EndpointRecord {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

/// The endpoint object (never the secret after creation).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WebhookEndpoint")]
pub struct WebhookEndpoint<'a> {
    /// The endpoint's id.
    pub id: WebhookEndpointId,
    /// Where deliveries go.
    pub url: &'a str,
    /// The event types delivered; empty: all.
    pub event_types: &'a [String],
    /// A note of the owner's.
    pub description: Option<&'a str>,
    /// `enabled` or `disabled`.
    pub status: Status,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// The endpoint with its secret: the creation's and a roll's answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "WebhookEndpointWithSecret")]
pub struct WithSecret<'a> {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint<'a>,
    /// `whsec_…`: shown only here.
    pub secret: String,
}

impl EndpointRecord {
    /// The public object.
    pub fn view(&self) -> WebhookEndpoint<'_> {
        WebhookEndpoint {
            id: self.id,
            url: &self.url,
            event_types: &self.event_types,
            description: self.description.as_deref(),
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// What a sealed secret of this endpoint is bound to: its item.
    pub(super) fn aad(&self) -> String {
        format!("{}|{}", self.key.pk, self.key.sk)
    }

    /// The secrets that sign a delivery at `now`: the current one, and the
    /// rolled one during its overlap.
    pub fn signing_secrets(&self, key: &Keyring, now: i64) -> Result<Vec<SigningSecret>, ApiError> {
        let open = |sealed: &str| {
            key.open(&self.aad(), sealed)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| SigningSecret::parse(&text))
                .ok_or_else(|| ApiError::internal("a webhook secret did not open"))
        };
        let mut secrets = vec![open(&self.secret_sealed)?];
        if let (Some(sealed), Some(until)) =
            (&self.previous_secret_sealed, self.previous_secret_until)
            && until > now
        {
            secrets.push(open(sealed)?);
        }
        Ok(secrets)
    }
}

/// Whether `event_type` goes to an endpoint subscribed to `types`.
pub fn wants(types: &[String], event_type: &str) -> bool {
    types.is_empty() || types.iter().any(|t| t == event_type)
}

/// `POST /v1/webhook-endpoints` body.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CreateWebhookEndpointRequest")]
pub struct CreateEndpoint {
    /// An https URL of a public address (SPEC §16).
    #[schemars(length(min = 1, max = URL_MAX_CHARS))]
    pub url: String,
    /// Event types to deliver (default: all).
    pub event_types: Option<Vec<String>>,
    /// A note.
    #[schemars(length(max = DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
}

/// Reads `event_types`: known types, each once, at most all of them.
fn event_types(object: &mut JsonObject) -> Option<Option<Vec<String>>> {
    let Some(value) = object.take("event_types") else {
        return Some(None);
    };
    let Some(items) = value.as_array() else {
        object.problem("event_types", "must be an array of event types");
        return None;
    };
    let mut types: Vec<String> = Vec::new();
    for item in items {
        match item.as_str() {
            Some(t) if crate::event_types::TYPES.contains(&t) => {
                if !types.iter().any(|k| k == t) {
                    types.push(t.to_owned());
                }
            }
            _ => {
                object.problem(
                    "event_types",
                    "must name known event types (docs/events.md)",
                );
                return None;
            }
        }
    }
    Some(Some(types))
}

impl ParseBody for CreateEndpoint {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let url = object.required_string("url", URL_MAX_CHARS);
        let types = event_types(object);
        let description = object.optional_string("description", DESCRIPTION_MAX_CHARS);
        Some(Self {
            url: url?,
            event_types: types?,
            description,
        })
    }
}

/// `PATCH /v1/webhook-endpoints/{id}` body.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UpdateWebhookEndpointRequest")]
pub struct UpdateEndpoint {
    /// A new URL.
    #[schemars(length(min = 1, max = URL_MAX_CHARS))]
    pub url: Option<String>,
    /// New event types (`[]`: all).
    pub event_types: Option<Vec<String>>,
    /// A new note.
    #[schemars(length(max = DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
    /// `enabled` re-enables a disabled endpoint.
    pub status: Option<Status>,
}

impl ParseBody for UpdateEndpoint {
    fn parse(object: &mut JsonObject) -> Option<Self> {
        let url = object.optional_string("url", URL_MAX_CHARS);
        if url.as_deref() == Some("") {
            object.problem("url", "must not be empty");
        }
        let types = event_types(object);
        let description = object.optional_string("description", DESCRIPTION_MAX_CHARS);
        let status = match object.take("status") {
            None => None,
            Some(v) if v == "enabled" => Some(Status::Enabled),
            Some(_) => {
                object.problem("status", "can only be set to \"enabled\"");
                None
            }
        };
        Some(Self {
            url: url.filter(|u| !u.is_empty()),
            event_types: types?,
            description,
            status,
        })
    }
}

impl EndpointRecord {
    /// A new enabled endpoint of `org` with a new secret, sealed under `key`.
    pub fn new(
        org: OrganizationId,
        input: CreateEndpoint,
        key: &Keyring,
        now: time::OffsetDateTime,
    ) -> Result<(Self, SigningSecret), ApiError> {
        let id = WebhookEndpointId::generate();
        let secret = SigningSecret::generate().map_err(ApiError::internal)?;
        let now = Timestamp::from(now);
        let mut record = Self {
            key: store::ItemKey::new(org_pk(org), endpoint_sk(id)),
            id,
            organization_id: org,
            url: input.url,
            event_types: input.event_types.unwrap_or_default(),
            description: input.description,
            status: Status::Enabled,
            secret_sealed: String::new(),
            previous_secret_sealed: None,
            previous_secret_until: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        record.secret_sealed = key
            .seal(&record.aad(), secret.expose().as_bytes())
            .map_err(ApiError::internal)?;
        Ok((record, secret))
    }
}

/// Reads an endpoint of the organization.
pub async fn get(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
) -> Result<Option<EndpointRecord>, StoreError> {
    store::get_record(store, &(org_pk(org), endpoint_sk(id)), true).await
}

/// Writes a new endpoint under the organization's cap (SPEC §4): `false`
/// when it is at it (nothing written).
pub async fn put_new(
    store: &Store,
    organization: &crate::organizations::Organization,
    record: &EndpointRecord,
) -> Result<bool, StoreError> {
    crate::caps::put_new(
        store,
        organization,
        crate::caps::Capped::WebhookEndpoints,
        store::to_item(record)?,
    )
    .await
}

/// A page of the organization's endpoints, oldest first.
pub async fn list(
    store: &Store,
    org: OrganizationId,
    after: Option<WebhookEndpointId>,
    limit: usize,
) -> Result<(Vec<EndpointRecord>, bool), StoreError> {
    store::query_page(
        store,
        &org_pk(org),
        SK_PREFIX,
        after.map(endpoint_sk),
        limit,
    )
    .await
}

/// Every endpoint of the organization (a handful: the fan-out reads them
/// once per stream batch).
pub async fn all(store: &Store, org: OrganizationId) -> Result<Vec<EndpointRecord>, StoreError> {
    store::query_all(store, &org_pk(org), SK_PREFIX, |q| q)
        .await?
        .into_iter()
        .map(store::from_item)
        .collect()
}

/// Applies a PATCH; `None` when there is no such endpoint.
pub async fn update(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
    change: &UpdateEndpoint,
    now: time::OffsetDateTime,
) -> Result<Option<EndpointRecord>, StoreError> {
    use aws_sdk_dynamodb::types::ReturnValue;
    let mut set = vec!["updated_at = :now"];
    let mut request = store
        .update_item((org_pk(org), endpoint_sk(id)))
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":now", store::timestamp(now))
        .return_values(ReturnValue::AllNew);
    if let Some(url) = &change.url {
        set.push("#url = :url");
        request = request
            .expression_attribute_names("#url", "url")
            .expression_attribute_values(":url", store::s(url));
    }
    if let Some(types) = &change.event_types {
        set.push("event_types = :types");
        request = request.expression_attribute_values(
            ":types",
            store::AttributeValue::L(types.iter().map(store::s).collect()),
        );
    }
    if let Some(description) = &change.description {
        set.push("description = :description");
        request = request.expression_attribute_values(":description", store::s(description));
    }
    if change.status == Some(Status::Enabled) {
        set.push("#status = :enabled");
        request = request
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":enabled", store::s("enabled"));
    }
    let written = request
        .update_expression(format!("SET {}", set.join(", ")))
        .send()
        .await
        .map_err(StoreError::from);
    StoreError::updated_record(written)
}

/// Deletes an endpoint; `false` when there was none. A counted endpoint
/// gives its place under the cap back in the same transaction
/// ([`crate::caps`]); one created before the caps gives none.
pub async fn delete(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::types::{Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
    let (pk, sk) = (org_pk(org), endpoint_sk(id));
    let attempt = |counted: bool| -> Result<Vec<TransactWriteItem>, StoreError> {
        let delete = Delete::builder()
            .table_name(store.table())
            .key(store::PK, store::s(&pk))
            .key(store::SK, store::s(&sk))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let delete = if counted {
            delete
                .condition_expression("attribute_exists(PK) AND #counted = :counted")
                .expression_attribute_names("#counted", crate::caps::COUNTED)
                .expression_attribute_values(":counted", store::AttributeValue::Bool(true))
        } else {
            delete
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(#counted)")
                .expression_attribute_names("#counted", crate::caps::COUNTED)
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .delete(store::built(delete.build())?)
                .build(),
        ];
        if counted {
            items.push(crate::caps::Capped::WebhookEndpoints.give_back(store.table(), org)?);
        }
        // Who deleted it, for the `webhook_endpoint.deleted` event.
        items.extend(store::actor::deletion_marker(
            store.table(),
            &pk,
            &sk,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        Ok(items)
    };
    // Counted (every endpoint created since the caps), else as created before.
    match store::transact(store, attempt(true)?).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons }) => match reasons.first() {
            Some(r) if r.is_condition_failed() && r.item.is_some() => {
                store::transact_guarded(store, attempt(false)?).await
            }
            Some(r) if r.is_condition_failed() => Ok(false),
            _ => Err(StoreError::TransactionCanceled { reasons }),
        },
        Err(err) => Err(err),
    }
}

/// Rolls the secret: a new one signs from now, the current one beside it
/// for [`ROLL_OVERLAP_SECONDS`]. `None` when there is no such endpoint.
pub async fn roll_secret(
    store: &Store,
    current: &EndpointRecord,
    key: &Keyring,
    now: time::OffsetDateTime,
) -> Result<Option<SigningSecret>, ApiError> {
    let secret = SigningSecret::generate().map_err(ApiError::internal)?;
    let sealed = key
        .seal(&current.aad(), secret.expose().as_bytes())
        .map_err(ApiError::internal)?;
    let written = store
        .update_item((&current.key.pk, &current.key.sk))
        .update_expression(
            "SET secret_sealed = :new, previous_secret_sealed = :old, \
             previous_secret_until = :until, updated_at = :now",
        )
        // The secret this roll read is still the current one.
        .condition_expression("secret_sealed = :old")
        .expression_attribute_values(":new", store::s(&sealed))
        .expression_attribute_values(":old", store::s(&current.secret_sealed))
        .expression_attribute_values(
            ":until",
            store::n(now.unix_timestamp().saturating_add(ROLL_OVERLAP_SECONDS)),
        )
        .expression_attribute_values(":now", store::timestamp(now))
        .send()
        .await
        .map_err(StoreError::from);
    match written {
        Ok(_) => Ok(Some(secret)),
        Err(StoreError::ConditionalCheckFailed { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// A conditional `UpdateItem` of one endpoint (`#status` names `status`);
/// `false` when its condition failed.
async fn update_if(
    store: &Store,
    (org, id): (OrganizationId, WebhookEndpointId),
    update: &str,
    condition: &str,
    values: Vec<(&str, store::AttributeValue)>,
) -> Result<bool, StoreError> {
    let mut request = store
        .update_item((org_pk(org), endpoint_sk(id)))
        .update_expression(update)
        .condition_expression(condition);
    if update.contains("#status") || condition.contains("#status") {
        request = request.expression_attribute_names("#status", "status");
    }
    for (name, value) in values {
        request = request.expression_attribute_values(name, value);
    }
    StoreError::applied(request.send().await)
}

/// Deliveries to the endpoint began failing at `since` (epoch s): recorded
/// by the first failure only, while it is enabled.
pub async fn mark_failing(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
    since: i64,
) -> Result<(), StoreError> {
    update_if(
        store,
        (org, id),
        "SET failing_since = :since",
        "attribute_not_exists(failing_since) AND #status = :enabled",
        vec![
            (":since", store::n(since)),
            (":enabled", store::s("enabled")),
        ],
    )
    .await
    .map(drop)
}

/// A delivery succeeded: the endpoint is no longer failing.
pub async fn mark_recovered(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
) -> Result<(), StoreError> {
    update_if(
        store,
        (org, id),
        "REMOVE failing_since",
        "attribute_exists(failing_since)",
        Vec::new(),
    )
    .await
    .map(drop)
}

/// Disables an endpoint whose deliveries have failed since `since`
/// (`webhook_endpoint.disabled`, by the system); `false` if another attempt
/// disabled it, or a success or a re-enable came in between.
pub async fn disable(
    store: &Store,
    org: OrganizationId,
    id: WebhookEndpointId,
    since: i64,
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    update_if(
        store,
        (org, id),
        "SET #status = :disabled, updated_at = :now REMOVE failing_since",
        "#status = :enabled AND failing_since = :since",
        vec![
            (":disabled", store::s("disabled")),
            (":enabled", store::s("enabled")),
            (":since", store::n(since)),
            (":now", store::timestamp(now)),
        ],
    )
    .await
}
