//! The one-time login code (`tsc_…`, SPEC §17) the app exchanges at
//! `POST /v1/sso/token` for the signed-in end user.
//!
//! Item `PK = ORG#<org>`, `SK = SSOCODE#<sha256(code)>`: only the hash of the
//! code is stored, under the organization it was issued for, so another
//! organization's key finds nothing. The exchange is one conditional
//! `UpdateItem` that checks at once that the code is unused, unexpired and
//! — when the app sent a PKCE challenge — matched by the verifier. A second
//! exchange finds `exchanged_at` set: the caller then revokes what the first
//! issued. The item outlives the code by an access token's lifetime, so a
//! reuse is recognised for as long as that token could be used.

use crate::identities::IdentityRecord;
use crate::ids::{EndUserId, IdentityProviderId, OrganizationId};
use crate::organizations::org_pk;
use crate::store::{self, Store, StoreError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How long a code may wait for its exchange.
pub const LIFETIME_SECONDS: i64 = 60;
/// The code's prefix (SPEC §2).
pub const PREFIX: &str = "tsc_";

/// A new code: `tsc_` and 256 random bits.
pub fn generate() -> Result<String, getrandom::Error> {
    Ok(format!("{PREFIX}{}", super::random_secret()?))
}

/// Whether `text` could be a code (refused without a read otherwise).
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    })
}

/// What the provider said about the person, as the app receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "SsoProfile")]
pub struct Profile {
    /// The subject at the provider.
    pub sub: String,
    /// The email the provider asserts.
    pub email: Option<String>,
    /// Whether the provider says the email is verified.
    pub email_verified: Option<bool>,
    /// The person's name.
    pub name: Option<String>,
    /// Their username at the provider.
    pub preferred_username: Option<String>,
    /// The provider's issuer.
    pub issuer: String,
}

/// What a code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    /// The signed-in end user.
    pub end_user_id: EndUserId,
    /// The connection it signed in with.
    pub identity_provider_id: IdentityProviderId,
    /// The end user's token generation at sign-in: the access token is
    /// minted at it, so a revocation after the sign-in (or a reused code)
    /// voids it.
    pub token_generation: u64,
    /// The app's PKCE challenge, when it sent one.
    pub code_challenge: Option<String>,
    /// The identity signed in with (JSON of [`IdentityRecord`]).
    pub identity: IdentityRecord,
    /// The provider's claims.
    pub profile: Profile,
}

fn sk(code: &str) -> String {
    format!("SSOCODE#{}", super::hash_hex(code))
}

/// The `Put` of a new code of `org`, for the sign-in's transaction.
pub fn put(
    store: &Store,
    org: OrganizationId,
    code: &str,
    issued: &Issued,
    now: i64,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let issued_json = serde_json::to_string(issued).map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    let mut put = Put::builder()
        .table_name(store.table())
        .item(store::PK, store::s(org_pk(org)))
        .item(store::SK, store::s(sk(code)))
        .item("issued", store::s(issued_json))
        .item("code_expires_at", store::n(now + LIFETIME_SECONDS))
        .item(
            store::TTL_ATTRIBUTE,
            store::n(now + LIFETIME_SECONDS + crate::tokens::ACCESS_TOKEN_TTL_SECONDS),
        )
        .condition_expression("attribute_not_exists(PK)");
    if let Some(challenge) = &issued.code_challenge {
        put = put.item("code_challenge", store::s(challenge));
    }
    Ok(TransactWriteItem::builder()
        .put(store::built(put.build())?)
        .build())
}

/// What an exchange found.
#[derive(Debug)]
pub enum Exchanged {
    /// This exchange is the code's only one.
    Won(Box<Issued>),
    /// The code was exchanged before: what it was issued for, to revoke.
    Reused(Box<Issued>),
    /// No such code of this organization.
    Unknown,
    /// Older than 60 seconds.
    Expired,
    /// The app's PKCE challenge is not met by the verifier.
    Pkce,
}

/// Exchanges a code of `org` — once: one conditional update.
pub async fn exchange(
    store: &Store,
    org: OrganizationId,
    code: &str,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<Exchanged, StoreError> {
    use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
    let unused = "attribute_exists(PK) AND attribute_not_exists(exchanged_at) \
                  AND code_expires_at > :now";
    let update = store
        .update_item((org_pk(org), sk(code)))
        .update_expression("SET exchanged_at = :now")
        .expression_attribute_values(":now", store::n(now));
    // The app's challenge, when it sent one, must be met by the verifier;
    // a verifier for a code without a challenge is refused (RFC 9700
    // §2.1.1: no PKCE downgrade).
    let update = match code_verifier {
        Some(verifier) => update
            .condition_expression(format!("{unused} AND code_challenge = :challenge"))
            .expression_attribute_values(":challenge", store::s(super::s256_challenge(verifier))),
        None => update
            .condition_expression(format!("{unused} AND attribute_not_exists(code_challenge)")),
    };
    let updated = update
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map_err(StoreError::from);
    let issued = |item: &store::Item| -> Result<Box<Issued>, StoreError> {
        let text = store::get_s(item, "issued").unwrap_or_default();
        serde_json::from_str(text)
            .map(Box::new)
            .map_err(|e| StoreError::Other {
                source: Box::new(e),
            })
    };
    match updated {
        Ok(out) => Ok(Exchanged::Won(issued(&out.attributes.unwrap_or_default())?)),
        Err(StoreError::ConditionalCheckFailed { item: None }) => Ok(Exchanged::Unknown),
        Err(StoreError::ConditionalCheckFailed { item: Some(item) }) => {
            if item.contains_key("exchanged_at") {
                Ok(Exchanged::Reused(issued(&item)?))
            } else if store::get_n::<i64>(&item, "code_expires_at").is_none_or(|at| at <= now) {
                Ok(Exchanged::Expired)
            } else {
                Ok(Exchanged::Pkce)
            }
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_tsc_and_43_characters() {
        let code = generate().unwrap();
        assert!(is_well_formed(&code), "{code}");
        assert!(!is_well_formed("tsc_short"));
        assert!(!is_well_formed(&code.replace("tsc_", "tk_x")));
    }
}
