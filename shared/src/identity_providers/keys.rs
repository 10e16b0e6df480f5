//! A provider's signing keys (SPEC §9): resolved at registration and PATCH
//! (pinned, `jwks_uri`, or OIDC Discovery), and kept fresh when id_tokens
//! are verified.
//!
//! The cache has two levels. The provider's item holds the last fetched
//! usable keys and until when they are fresh (the issuer's `Cache-Control`
//! lifetime clamped to 5 min … 24 h), so a cold function verifies with the
//! read it makes anyway and never fetches. Each warm function keeps the
//! parsed set beside its cached provider. A request fetches only when the
//! keys are stale or the token names a `kid` they lack, and only after
//! winning a conditional write on the item (`fetch_claimed_at` older than
//! 60 s): at most one request-time fetch per provider per minute across
//! all functions, whatever `kid`s attackers send. The losing write returns
//! the item, whose keys another function may just have refreshed. A failed
//! fetch keeps the old keys serving (stale-if-error). A request makes at
//! most one fetch, of at most 3 s.

use super::{KeySource, ProviderRecord, provider_sk};
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::organizations::org_pk;
use crate::outbound::{FetchError, Outbound};
use crate::store::{self, Store, StoreError};
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Shortest time fetched keys are fresh, whatever the issuer says.
pub const MIN_FRESH_SECONDS: u64 = 5 * 60;
/// Longest time fetched keys are fresh.
pub const MAX_FRESH_SECONDS: u64 = 24 * 60 * 60;
/// Freshness when the issuer sends no lifetime.
pub const DEFAULT_FRESH_SECONDS: u64 = 60 * 60;
/// At most one request-time fetch per provider in this many seconds.
pub const REFETCH_INTERVAL_SECONDS: i64 = 60;

/// The freshness lifetime of keys the issuer served with `max_age`.
pub fn fresh_seconds(max_age: Option<u64>) -> u64 {
    max_age
        .unwrap_or(DEFAULT_FRESH_SECONDS)
        .clamp(MIN_FRESH_SECONDS, MAX_FRESH_SECONDS)
}

/// A key source resolved at registration or PATCH.
#[derive(Debug)]
pub enum Resolved {
    /// Pinned keys (validated).
    Pinned(Value),
    /// Keys fetched from a `jwks_uri`.
    Fetched(FetchedKeys),
}

/// Keys fetched from an issuer.
#[derive(Debug, Clone)]
pub struct FetchedKeys {
    /// Where from.
    pub jwks_uri: String,
    /// The usable keys, as JSON text ([`super::usable_keys`]).
    pub keys_json: String,
    /// When (RFC 3339).
    pub fetched_at: Timestamp,
    /// Fresh until (epoch seconds).
    pub fresh_until: i64,
}

/// Resolves the key source a caller chose for a provider of `issuer`: the
/// pinned keys as they are, or the keys at `jwks_uri` (discovered from the
/// issuer when not given). 422 `invalid_url` for a URL the caller gave that
/// may not be fetched (SPEC §16), 422 `identity_provider_unreachable` when
/// a fetch fails or returns an invalid document.
pub async fn resolve(
    outbound: &Outbound,
    issuer: &str,
    source: super::SourceInput,
    now: time::OffsetDateTime,
) -> Result<Resolved, ApiError> {
    use super::SourceInput;
    let (jwks_uri, given) = match source {
        SourceInput::Pinned(jwks) => return Ok(Resolved::Pinned(jwks)),
        SourceInput::JwksUri(uri) => (caller_url(outbound, "jwks_uri", &uri)?, true),
        SourceInput::Discovery => (discover(outbound, issuer).await?, false),
    };
    match fetch_keys(outbound, &jwks_uri, now).await {
        Ok(fetched) => Ok(Resolved::Fetched(fetched)),
        // The caller's URL resolves somewhere we never go.
        Err(FetchError::Refused(refused)) if given => Err(ApiError::InvalidUrl {
            field: "jwks_uri",
            problem: refused.to_string(),
        }),
        Err(err) => Err(unreachable(&jwks_uri, &err)),
    }
}

/// Checks a URL the caller gave (422 `invalid_url` naming `field`).
fn caller_url(outbound: &Outbound, field: &'static str, url: &str) -> Result<url::Url, ApiError> {
    outbound
        .policy()
        .parse(url)
        .map_err(|refused| ApiError::InvalidUrl {
            field,
            problem: refused.to_string(),
        })
}

/// OIDC Discovery (§4): the issuer's configuration, whose `issuer` must be
/// the registered one exactly, names the `jwks_uri`.
async fn discover(outbound: &Outbound, issuer: &str) -> Result<url::Url, ApiError> {
    let (url, document) = discovery_document(outbound, issuer).await?;
    issuer_url(outbound, &url, &document, "jwks_uri")
}

/// The endpoints of the OIDC authorization-code flow a login connection
/// runs (SPEC §17), from the issuer's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEndpoints {
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: url::Url,
    /// Where Tether exchanges the code.
    pub token_endpoint: url::Url,
}

/// Discovers `issuer`'s authorization and token endpoints, each a URL
/// Tether may reach (SPEC §16), and checks the issuer supports what Tether
/// sends: the `client_auth` method and PKCE S256, when it lists what it
/// supports. 422 `identity_provider_unreachable` (`invalid_document`) when
/// either endpoint is missing or refused, 422 `validation_failed` when the
/// method is not supported.
pub async fn discover_login(
    outbound: &Outbound,
    issuer: &str,
    client_auth: &str,
) -> Result<LoginEndpoints, ApiError> {
    let (url, document) = discovery_document(outbound, issuer).await?;
    let listed = |member: &str, wanted: &str| {
        document
            .get(member)
            .and_then(Value::as_array)
            .is_none_or(|list| list.iter().any(|v| v.as_str() == Some(wanted)))
    };
    if !listed("token_endpoint_auth_methods_supported", client_auth) {
        return Err(ApiError::Validation(crate::error::FieldErrors::one(
            "login.client_auth",
            "the provider does not support this token endpoint authentication",
        )));
    }
    if !listed("code_challenge_methods_supported", "S256") {
        return Err(ApiError::Validation(crate::error::FieldErrors::one(
            "login",
            "the provider does not support PKCE with S256",
        )));
    }
    Ok(LoginEndpoints {
        authorization_endpoint: issuer_url(outbound, &url, &document, "authorization_endpoint")?,
        token_endpoint: issuer_url(outbound, &url, &document, "token_endpoint")?,
    })
}

/// The issuer's discovery document, its `issuer` checked.
async fn discovery_document(
    outbound: &Outbound,
    issuer: &str,
) -> Result<(url::Url, Value), ApiError> {
    let address = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let url = caller_url(outbound, "issuer", &address)?;
    let fetched = outbound.get_json(&url).await.map_err(|err| match err {
        // The caller's issuer resolves somewhere we never go.
        FetchError::Refused(refused) => ApiError::InvalidUrl {
            field: "issuer",
            problem: refused.to_string(),
        },
        err => unreachable(&url, &err),
    })?;
    let document: Value = serde_json::from_slice(&fetched.body)
        .map_err(|_| unreachable(&url, &FetchError::InvalidDocument("not JSON".into())))?;
    if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(ApiError::IdentityProviderUnreachable {
            reason: "issuer_mismatch",
            url: url.to_string(),
        });
    }
    Ok((url, document))
}

/// A URL the discovery document names: the issuer chose it, not the
/// caller, so a missing or refused one makes the provider unreachable.
fn issuer_url(
    outbound: &Outbound,
    document_url: &url::Url,
    document: &Value,
    member: &str,
) -> Result<url::Url, ApiError> {
    let named = document
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            unreachable(
                document_url,
                &FetchError::InvalidDocument(format!("no {member}")),
            )
        })?;
    outbound.policy().parse(named).map_err(|refused| {
        let url = named.to_owned();
        unreachable(&url, &FetchError::Refused(refused))
    })
}

fn unreachable(url: &impl ToString, err: &FetchError) -> ApiError {
    tracing::info!(url = url.to_string(), error = %err, "identity provider unreachable");
    ApiError::IdentityProviderUnreachable {
        reason: err.reason(),
        url: url.to_string(),
    }
}

/// Fetches and validates the key set at `jwks_uri`.
async fn fetch_keys(
    outbound: &Outbound,
    jwks_uri: &url::Url,
    now: time::OffsetDateTime,
) -> Result<FetchedKeys, FetchError> {
    let fetched = outbound.get_json(jwks_uri).await?;
    let keys_json = super::usable_keys(&fetched.body).map_err(FetchError::InvalidDocument)?;
    let lifetime = i64::try_from(fresh_seconds(fetched.max_age)).unwrap_or(i64::MAX);
    Ok(FetchedKeys {
        jwks_uri: jwks_uri.to_string(),
        keys_json,
        fetched_at: Timestamp::from(now),
        fresh_until: now.unix_timestamp().saturating_add(lifetime),
    })
}

/// A provider's keys in a warm function.
#[derive(Debug, Clone)]
pub struct WarmKeys {
    /// The parsed set.
    pub set: Arc<JwkSet>,
    /// Fresh until (epoch seconds; `i64::MAX` for pinned keys).
    pub fresh_until: i64,
    /// This function tries no fetch before then (epoch seconds): it knows
    /// another request claimed one at `fetch_claimed_at`.
    pub quiet_until: i64,
}

impl WarmKeys {
    /// The keys a stored provider carries.
    pub fn of(record: &ProviderRecord) -> Result<Self, ApiError> {
        Ok(Self {
            set: Arc::new(record.jwks()?),
            fresh_until: match record.key_source {
                KeySource::Pinned => i64::MAX,
                KeySource::JwksUri => record.keys_fresh_until.unwrap_or(0),
            },
            quiet_until: record
                .fetch_claimed_at
                .map_or(0, |at| at.saturating_add(REFETCH_INTERVAL_SECONDS)),
        })
    }
}

/// A provider as the SSO link uses it: the record and its keys, kept per
/// warm function.
#[derive(Debug)]
pub struct VerifiedProvider {
    /// The stored provider.
    pub record: ProviderRecord,
    keys: Mutex<WarmKeys>,
}

impl VerifiedProvider {
    /// The provider with the keys its record carries.
    pub fn new(record: ProviderRecord) -> Result<Self, ApiError> {
        let keys = Mutex::new(WarmKeys::of(&record)?);
        Ok(Self { record, keys })
    }

    /// The keys as this function knows them.
    pub fn keys(&self) -> WarmKeys {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_keys(&self, keys: WarmKeys) {
        *self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
    }
}

/// Why a request wants other keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Its keys are past their freshness.
    Fresh,
    /// The token names a `kid` they lack.
    Kid,
}

/// Claims a fetch and, if won, fetches; else takes the keys the item holds.
/// Returns the keys to verify with and whether this request fetched.
pub async fn refresh(
    store: &Store,
    outbound: &Outbound,
    provider: &VerifiedProvider,
    now: time::OffsetDateTime,
    need: Need,
) -> Result<(WarmKeys, bool), ApiError> {
    let record = &provider.record;
    let Some(uri) = record.jwks_uri.as_deref() else {
        return Ok((provider.keys(), false));
    };
    let at = now.unix_timestamp();
    match claim(store, record.organization_id, record.id, uri, at, need).await? {
        Claim::Won => {
            let url = url::Url::parse(uri).map_err(ApiError::internal)?;
            let quiet_until = at.saturating_add(REFETCH_INTERVAL_SECONDS);
            match fetch_keys(outbound, &url, now).await {
                Ok(fetched) => {
                    let keys = WarmKeys {
                        set: Arc::new(
                            serde_json::from_str(&fetched.keys_json).map_err(ApiError::internal)?,
                        ),
                        fresh_until: fetched.fresh_until,
                        quiet_until,
                    };
                    save(store, record.organization_id, record.id, &fetched).await?;
                    provider.set_keys(keys.clone());
                    Ok((keys, true))
                }
                Err(err) => {
                    // Stale-if-error: the keys we have keep serving.
                    tracing::warn!(provider = %record.id, error = %err, "key set refresh failed");
                    let keys = WarmKeys {
                        quiet_until,
                        ..provider.keys()
                    };
                    provider.set_keys(keys.clone());
                    Ok((keys, true))
                }
            }
        }
        Claim::Lost(Some(current)) if current.jwks_uri.as_deref() == Some(uri) => {
            // Another request fetched (or is fetching): take what the item has.
            let keys = WarmKeys::of(&current)?;
            provider.set_keys(keys.clone());
            Ok((keys, false))
        }
        // Deleted or switched meanwhile: that change reaches this function
        // from its next request; this one verifies with what it has.
        Claim::Lost(_) => Ok((provider.keys(), false)),
    }
}

/// The outcome of claiming a request-time fetch.
#[derive(Debug)]
enum Claim {
    /// This request fetches.
    Won,
    /// Another did within the interval (or the keys were refreshed since
    /// they went stale): the item as it is, if it exists.
    Lost(Option<Box<ProviderRecord>>),
}

/// The conditional write that elects at most one fetch per provider per
/// [`REFETCH_INTERVAL_SECONDS`]; when the keys were stale, also only while
/// they still are.
async fn claim(
    store: &Store,
    org: OrganizationId,
    id: IdentityProviderId,
    uri: &str,
    at: i64,
    need: Need,
) -> Result<Claim, StoreError> {
    use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
    let mut condition = "jwks_uri = :uri AND (attribute_not_exists(fetch_claimed_at) \
                         OR fetch_claimed_at <= :before)"
        .to_owned();
    if need == Need::Fresh {
        condition.push_str(" AND keys_fresh_until <= :now");
    }
    let written = store
        .update_item((org_pk(org), provider_sk(id)))
        .update_expression("SET fetch_claimed_at = :now")
        .condition_expression(condition)
        .expression_attribute_values(":uri", store::s(uri))
        .expression_attribute_values(":now", store::n(at))
        .expression_attribute_values(
            ":before",
            store::n(at.saturating_sub(REFETCH_INTERVAL_SECONDS)),
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map_err(StoreError::from);
    match written {
        Ok(_) => Ok(Claim::Won),
        Err(StoreError::ConditionalCheckFailed { item }) => Ok(Claim::Lost(match item {
            Some(item) => Some(Box::new(store::from_item(*item)?)),
            None => None,
        })),
        Err(err) => Err(err),
    }
}

/// Stores fetched keys on the provider's item, unless its key source
/// changed meanwhile.
async fn save(
    store: &Store,
    org: OrganizationId,
    id: IdentityProviderId,
    fetched: &FetchedKeys,
) -> Result<(), StoreError> {
    let written = store
        .update_item((org_pk(org), provider_sk(id)))
        .update_expression(
            "SET jwks_json = :keys, keys_fetched_at = :at, keys_fresh_until = :until",
        )
        .condition_expression("jwks_uri = :uri")
        .expression_attribute_values(":keys", store::s(&fetched.keys_json))
        .expression_attribute_values(":at", store::timestamp(fetched.fetched_at))
        .expression_attribute_values(":until", store::n(fetched.fresh_until))
        .expression_attribute_values(":uri", store::s(&fetched.jwks_uri))
        .send()
        .await;
    StoreError::unless_condition_failed(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_clamped_to_five_minutes_and_a_day() {
        assert_eq!(fresh_seconds(None), 3600);
        assert_eq!(fresh_seconds(Some(0)), 300);
        assert_eq!(fresh_seconds(Some(21_600)), 21_600);
        assert_eq!(fresh_seconds(Some(10_000_000)), 86_400);
    }
}
