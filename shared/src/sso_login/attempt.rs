//! The login attempt (SPEC §17): what Tether must remember between sending
//! the browser to the provider and the provider sending it back.
//!
//! Item `PK = SSOATTEMPT#<sha256(state)>`, `SK = SSOATTEMPT`: the state Tether
//! sent the provider is the only way to it, and is stored only hashed. The
//! nonce, the PKCE verifier and the app's parameters are sealed under the
//! item's key; the browser binding is the cookie value's hash. The callback
//! consumes it with one conditional `DeleteItem` that requires the binding:
//! a replay, a second parallel callback or another browser finds nothing it
//! may take.

use crate::error::ApiError;
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::sealed::Keyring;
use crate::store::{self, Store, StoreError};
use serde::{Deserialize, Serialize};

/// How long an attempt may take (SPEC §17).
pub const LIFETIME_SECONDS: i64 = 600;

/// What an attempt keeps sealed.
#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// The nonce the id_token must carry.
    pub nonce: String,
    /// The PKCE verifier of the code Tether exchanges.
    pub code_verifier: String,
    /// The app's `redirect_uri`, one the connection lists.
    pub redirect_uri: String,
    /// The app's `state`, returned to it as sent.
    pub app_state: Option<String>,
    /// The app's PKCE challenge for its own code exchange.
    pub app_code_challenge: Option<String>,
    /// The connection as it was when the attempt began: what the callback
    /// needs to ask the token endpoint at once.
    pub connection: crate::identity_providers::login::Connection,
    /// An admin portal's "test sign-in": the callback shows the profile it
    /// got and signs nobody in (no end user resolved, no code issued).
    #[serde(default)]
    pub portal_test: bool,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// An attempt as the callback takes it.
#[derive(Debug)]
pub struct Attempt {
    /// The organization signing in.
    pub organization_id: OrganizationId,
    /// Its login connection.
    pub identity_provider_id: IdentityProviderId,
    /// Its sealed part, opened.
    pub secrets: Secrets,
    /// When it expires (epoch seconds).
    pub expires_at: i64,
}

/// The item key of the attempt Tether's `state` names.
fn key(state: &str) -> store::Key {
    (
        format!("SSOATTEMPT#{}", super::hash_hex(state)),
        "SSOATTEMPT".to_owned(),
    )
}

/// Stores a new attempt for `state`, bound to the browser holding `binding`.
pub async fn put(
    store: &Store,
    keyring: &Keyring,
    state: &str,
    binding: &str,
    attempt: &Attempt,
    now: i64,
) -> Result<(), ApiError> {
    let (pk, sk) = key(state);
    let plain = serde_json::to_vec(&attempt.secrets).map_err(ApiError::internal)?;
    let sealed = keyring
        .seal(&format!("{pk}|{sk}"), &plain)
        .map_err(ApiError::internal)?;
    let mut item = store::Item::new();
    item.insert(store::PK.into(), store::s(&pk));
    item.insert(store::SK.into(), store::s(&sk));
    item.insert(
        "organization_id".into(),
        store::s(attempt.organization_id.to_string()),
    );
    item.insert(
        "identity_provider_id".into(),
        store::s(attempt.identity_provider_id.to_string()),
    );
    item.insert("binding_hash".into(), store::s(super::hash_hex(binding)));
    item.insert("sealed".into(), store::s(sealed));
    item.insert("expires_at".into(), store::n(attempt.expires_at));
    // TTL only tidies: expiry is checked when the attempt is consumed.
    item.insert(
        store::TTL_ATTRIBUTE.into(),
        store::n(now + LIFETIME_SECONDS),
    );
    store
        .put_item(item)
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(StoreError::from)?;
    Ok(())
}

/// What consuming an attempt found.
#[derive(Debug)]
pub enum Consumed {
    /// The attempt, now deleted: this request alone completes it.
    Taken(Box<Attempt>),
    /// No such attempt: never made, already used, or tidied away.
    Unknown,
    /// It exists but another browser started it (left as it is).
    OtherBrowser,
}

/// Consumes the attempt of `state` for the browser holding `binding`: one
/// conditional delete, so of any number of callbacks exactly one takes it.
pub async fn consume(
    store: &Store,
    keyring: &Keyring,
    state: &str,
    binding: &str,
) -> Result<Consumed, ApiError> {
    use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
    let (pk, sk) = key(state);
    let deleted = store
        .delete_item((&pk, &sk))
        .condition_expression("attribute_exists(PK) AND binding_hash = :binding")
        .expression_attribute_values(":binding", store::s(super::hash_hex(binding)))
        .return_values(ReturnValue::AllOld)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map_err(StoreError::from);
    let item = match deleted {
        Ok(out) => match out.attributes {
            Some(item) => item,
            None => return Ok(Consumed::Unknown),
        },
        Err(StoreError::ConditionalCheckFailed { item: Some(_) }) => {
            return Ok(Consumed::OtherBrowser);
        }
        Err(StoreError::ConditionalCheckFailed { item: None }) => return Ok(Consumed::Unknown),
        Err(err) => return Err(err.into()),
    };
    let opened = (|| {
        let sealed = store::get_s(&item, "sealed")?;
        let plain = keyring.open(&format!("{pk}|{sk}"), sealed)?;
        let secrets: Secrets = serde_json::from_slice(&plain).ok()?;
        Some(Attempt {
            organization_id: OrganizationId::parse(store::get_s(&item, "organization_id")?).ok()?,
            identity_provider_id: IdentityProviderId::parse(store::get_s(
                &item,
                "identity_provider_id",
            )?)
            .ok()?,
            secrets,
            expires_at: store::get_n(&item, "expires_at")?,
        })
    })();
    match opened {
        Some(attempt) => Ok(Consumed::Taken(Box::new(attempt))),
        // Sealed under a key this deployment no longer holds.
        None => Ok(Consumed::Unknown),
    }
}
