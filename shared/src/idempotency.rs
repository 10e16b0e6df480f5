//! `Idempotency-Key` on every POST (SPEC §9): the first response to a key is
//! stored for 24 hours and replayed, byte for byte, to retries of the same
//! request (`Idempotent-Replayed: true`).
//!
//! One conditional `PutItem` claims the key — the pattern of AWS Lambda
//! Powertools: `attribute_not_exists(PK) OR expired OR (in progress AND its
//! lease expired)`, with `ReturnValuesOnConditionCheckFailure=ALL_OLD` — so the
//! answer to a taken key (replay, 409 in progress, 422 reused) needs no read.
//! Item: `PK = IDEMP#<scope>#<sha256(key)>`, `SK = IDEMP`, TTL `expires_at_epoch`.
//!
//! Keys belong to the **principal** that sent them (an API key, an end user,
//! an external service: [`Scope`]), never to a whole organization, so two
//! principals can neither read nor block each other's responses. The stored
//! response is sealed (AES-256-GCM) under a key derived from the scope and the
//! Idempotency-Key itself, which the table holds only as a hash: a reader of
//! the table, the stream or a backup cannot recover the connect tokens and
//! access tokens some responses carry, while the client that holds the key
//! gets its replay.

use crate::error::ApiError;
use crate::store::{self, Item, PK, SK, Store, StoreError, TTL_ATTRIBUTE};
use aws_lc_rs::aead::LessSafeKey;
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

/// The principal an Idempotency-Key belongs to, as it appears in the item's key:
/// `KEY#<api key id>`, `USER#<organization>#<end user>` or `SVC#<service>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// Keys sent with one API key (the organization's other keys share nothing).
    pub fn api_key(id: crate::ids::ApiKeyId) -> Self {
        Self(format!("KEY#{id}"))
    }

    /// Keys sent by one end user with its access tokens.
    pub fn end_user(org: crate::ids::OrganizationId, user: crate::ids::EndUserId) -> Self {
        Self(format!("USER#{org}#{user}"))
    }

    /// Keys sent with an external service's token.
    pub fn external_service(id: crate::ids::ExternalServiceId) -> Self {
        Self(format!("SVC#{id}"))
    }
}

/// Length-prefixes each part into one SHA-256, so no two splits of the same
/// bytes collide.
fn digest_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// The AES-256-GCM key that seals the stored response of `key` in `scope`:
/// derived from the key's text, which the table never holds (its PK has the
/// key's plain SHA-256, a different derivation).
fn sealing_key(scope: &Scope, key: &IdempotencyKey) -> Result<LessSafeKey, ApiError> {
    let bytes = digest_parts(&[
        b"tether/idempotency/seal/v1",
        scope.0.as_bytes(),
        key.0.as_bytes(),
    ]);
    crate::sealed::key(&bytes).map_err(ApiError::internal)
}

/// Seals a response, bound to the item's PK.
fn seal(key: &LessSafeKey, pk: &str, plain: &[u8]) -> Result<String, ApiError> {
    crate::sealed::seal(key, pk, plain).map_err(ApiError::internal)
}

/// Opens a sealed response of the item `pk`.
fn open(key: &LessSafeKey, pk: &str, sealed: &str) -> Option<Vec<u8>> {
    crate::sealed::open(key, pk, sealed)
}

/// What identifies "the same request" for a key: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    hex::encode(digest_parts(&[method.as_bytes(), path.as_bytes(), body]))
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
pub struct Claim {
    pk: String,
    holder: String,
    seal: LessSafeKey,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("pk", &self.pk)
            .finish_non_exhaustive()
    }
}

/// What `begin` found.
#[derive(Debug)]
pub enum Begin {
    /// The key is ours: run the operation, then `finish` or `release`.
    Run(Claim),
    /// The same request already completed: its response.
    Replay(StoredResponse),
}

/// Claims `key` for `scope`'s request with `fingerprint` at `now` (epoch s).
pub async fn begin(
    store: &Store,
    scope: &Scope,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
) -> Result<Begin, ApiError> {
    let pk = format!(
        "IDEMP#{}#{}",
        scope.0,
        hex::encode(Sha256::digest(key.0.as_bytes()))
    );
    let seal = sealing_key(scope, key)?;
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
        Ok(_) => Ok(Begin::Run(Claim { pk, holder, seal })),
        Err(StoreError::ConditionalCheckFailed { item: Some(old) }) => {
            taken(&old, fingerprint, &seal, &pk)
        }
        Err(err) => Err(err.into()),
    }
}

fn taken(old: &Item, fingerprint: &str, seal: &LessSafeKey, pk: &str) -> Result<Begin, ApiError> {
    if store::get_s(old, "fingerprint") != Some(fingerprint) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    if store::get_s(old, "status") != Some("completed") {
        return Err(ApiError::IdempotencyInProgress);
    }
    let sealed = store::get_s(old, "response_sealed")
        .ok_or_else(|| ApiError::internal("completed record without response"))?;
    let plain = open(seal, pk, sealed)
        .ok_or_else(|| ApiError::internal("idempotent response does not open"))?;
    serde_json::from_slice(&plain)
        .map(Begin::Replay)
        .map_err(ApiError::internal)
}

/// Stores the response of the claimed request (if the claim is still ours).
pub async fn finish(
    store: &Store,
    claim: &Claim,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(response).map_err(|e| StoreError::Other {
        source: Box::new(e),
    })?;
    let sealed = seal(&claim.seal, &claim.pk, &json).map_err(|e| StoreError::Other {
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
        .expression_attribute_names("#response", "response_sealed")
        .expression_attribute_names("#lease", "lease_until")
        .expression_attribute_names("#holder", "holder")
        .expression_attribute_values(":completed", store::s("completed"))
        .expression_attribute_values(":response", store::s(sealed))
        .expression_attribute_values(":holder", store::s(&claim.holder))
        .return_consumed_capacity(store::CAPACITY)
        .send()
        .await
        .map_err(StoreError::from);
    // Our lease ran out and another attempt took the key over: it stores its own.
    StoreError::unless_condition_failed(result)
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
    StoreError::unless_condition_failed(result)
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
    fn sealed_responses_open_only_with_their_key_scope_and_item() {
        let scope = Scope("KEY#a".into());
        let key = IdempotencyKey::parse("k-1").unwrap();
        let sealed = seal(
            &sealing_key(&scope, &key).unwrap(),
            "IDEMP#x",
            b"tct_secret",
        )
        .unwrap();
        assert!(!sealed.contains("tct_"));
        let opened = open(&sealing_key(&scope, &key).unwrap(), "IDEMP#x", &sealed);
        assert_eq!(opened.as_deref(), Some(&b"tct_secret"[..]));
        let other_key = IdempotencyKey::parse("k-2").unwrap();
        assert!(
            open(
                &sealing_key(&scope, &other_key).unwrap(),
                "IDEMP#x",
                &sealed
            )
            .is_none()
        );
        let other_scope = Scope("KEY#b".into());
        assert!(
            open(
                &sealing_key(&other_scope, &key).unwrap(),
                "IDEMP#x",
                &sealed
            )
            .is_none()
        );
        assert!(open(&sealing_key(&scope, &key).unwrap(), "IDEMP#y", &sealed).is_none());
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
