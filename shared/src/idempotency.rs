//! `Idempotency-Key` on every POST (SPEC §9): the first response to a key is
//! stored for 24 hours and replayed, byte for byte, to retries of the same
//! request (`Idempotent-Replayed: true`).
//!
//! One conditional `PutItem` claims the key — the pattern of AWS Lambda
//! Powertools: `attribute_not_exists(PK) OR expired OR (in progress AND its
//! lease expired)`, with `ReturnValuesOnConditionCheckFailure=ALL_OLD` — so the
//! answer to a taken key (replay, 409 in progress, 422 reused) needs no read.
//! Item: `PK = IDEMP#<owner>#<sha256(key)>`, `SK = IDEMP`, TTL `expires_at_epoch`.

use crate::error::ApiError;
use crate::store::{self, Item, PK, SK, Store, StoreError, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header on replays.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a stored response is replayed.
pub const RETENTION_SECONDS: i64 = 24 * 3600;
/// How long a claim blocks retries before another attempt may take over (a
/// function that died mid-request leaves its claim behind; Lambda's timeout is
/// below this).
pub const LEASE_SECONDS: i64 = 30;
/// Longest key (SPEC §9).
pub const MAX_KEY_CHARS: usize = 255;

/// A key as the client sent it: 1–255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's value.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= MAX_KEY_CHARS
            && value.bytes().all(|b| (0x20..0x7f).contains(&b));
        ok.then(|| Self(value.to_owned()))
    }
}

/// What identifies "the same request" for a key: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    // Each part length-prefixed, so no two splits of the same bytes collide.
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The body exactly as first sent.
    pub body: Option<String>,
    /// The operation's own headers (`ETag`, `Location`, ...).
    pub headers: Vec<(String, String)>,
}

/// This request's claim on a key.
#[derive(Debug)]
pub struct Claim {
    pk: String,
    holder: String,
}

/// What `begin` found.
#[derive(Debug)]
pub enum Begin {
    /// The key is ours: run the operation, then `finish` or `release`.
    Run(Claim),
    /// The same request already completed: its response.
    Replay(StoredResponse),
}

/// Claims `key` for `owner`'s request with `fingerprint` at `now` (epoch s).
pub async fn begin(
    store: &Store,
    owner: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
) -> Result<Begin, ApiError> {
    let pk = format!(
        "IDEMP#{owner}#{}",
        hex::encode(Sha256::digest(key.0.as_bytes()))
    );
    let holder = ulid::Ulid::generate().to_string();
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .item(PK, store::s(&pk))
        .item(SK, store::s("IDEMP"))
        .item("status", store::s("in_progress"))
        .item("fingerprint", store::s(fingerprint))
        .item("holder", store::s(&holder))
        .item("lease_until", store::n(now + LEASE_SECONDS))
        .item(TTL_ATTRIBUTE, store::n(now + RETENTION_SECONDS))
        .condition_expression(
            "attribute_not_exists(PK) OR #expires < :now OR (#status = :in_progress AND #lease < :now)",
        )
        .expression_attribute_names("#expires", TTL_ATTRIBUTE)
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#lease", "lease_until")
        .expression_attribute_values(":now", store::n(now))
        .expression_attribute_values(":in_progress", store::s("in_progress"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await
        .map_err(StoreError::from);
    match result {
        Ok(_) => Ok(Begin::Run(Claim { pk, holder })),
        Err(StoreError::ConditionalCheckFailed { item: Some(old) }) => taken(&old, fingerprint),
        Err(err) => Err(err.into()),
    }
}

fn taken(old: &Item, fingerprint: &str) -> Result<Begin, ApiError> {
    if store::get_s(old, "fingerprint") != Some(fingerprint) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    if store::get_s(old, "status") != Some("completed") {
        return Err(ApiError::IdempotencyInProgress);
    }
    let stored = store::get_s(old, "response")
        .ok_or_else(|| ApiError::internal("completed record without response"))?;
    serde_json::from_str(stored)
        .map(Begin::Replay)
        .map_err(ApiError::internal)
}

/// Stores the response of the claimed request (if the claim is still ours).
pub async fn finish(
    store: &Store,
    claim: &Claim,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(response).map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .key(PK, store::s(&claim.pk))
        .key(SK, store::s("IDEMP"))
        .update_expression("SET #status = :completed, #response = :response REMOVE #lease")
        .condition_expression("#holder = :holder")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#response", "response")
        .expression_attribute_names("#lease", "lease_until")
        .expression_attribute_names("#holder", "holder")
        .expression_attribute_values(":completed", store::s("completed"))
        .expression_attribute_values(":response", store::s(json))
        .expression_attribute_values(":holder", store::s(&claim.holder))
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await
        .map_err(StoreError::from);
    match result {
        // Our lease ran out and another attempt took the key over: it stores its own.
        Ok(_) | Err(StoreError::ConditionalCheckFailed { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Gives the key up, so a retry runs the request again (after a 503).
pub async fn release(store: &Store, claim: &Claim) -> Result<(), StoreError> {
    let result = store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(PK, store::s(&claim.pk))
        .key(SK, store::s("IDEMP"))
        .condition_expression("#holder = :holder")
        .expression_attribute_names("#holder", "holder")
        .expression_attribute_values(":holder", store::s(&claim.holder))
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await
        .map_err(StoreError::from);
    match result {
        Ok(_) | Err(StoreError::ConditionalCheckFailed { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_printable_ascii() {
        assert!(IdempotencyKey::parse("a").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        assert!(IdempotencyKey::parse("order 42 / retry").is_some());
        for bad in [
            String::new(),
            "k".repeat(256),
            "tab\there".into(),
            "é".into(),
            "nul\0".into(),
        ] {
            assert!(IdempotencyKey::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let base = fingerprint("POST", "/v1/end-users", b"{}");
        assert_eq!(base, fingerprint("POST", "/v1/end-users", b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/end-users", b"{ }"));
        assert_ne!(base, fingerprint("POST", "/v1/connect-tokens", b"{}"));
        assert_ne!(
            fingerprint("POST", "/a", b"b\nc"),
            fingerprint("POST", "/a\nb", b"c")
        );
    }
}
