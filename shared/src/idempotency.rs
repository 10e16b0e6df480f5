//! `Idempotency-Key` on every POST (SPEC §9): the first response to a key is
//! stored for 24 hours and replayed, byte for byte, to retries of the same
//! request (`Idempotent-Replayed: true`).
//!
//! One conditional `PutItem` claims the key — the pattern of AWS Lambda
//! Powertools: `attribute_not_exists(PK) OR expired OR (in progress AND its
//! lease expired)`, with `ReturnValuesOnConditionCheckFailure=ALL_OLD` — so the
//! answer to a taken key (replay, 409 in progress, 422 reused) needs no read.
//! Item: `PK = IDEMP#<scope>#<HMAC of the key>`, `SK = IDEMP`, TTL
//! `expires_at_epoch`.
//!
//! Keys belong to the **principal** that sent them (an API key, an end user,
//! an external service: [`Scope`]), never to a whole organization, so two
//! principals can neither read nor block each other's responses.
//!
//! **What a reader of the table learns.** Clients pick guessable keys
//! (`create-42`), and some stored responses carry a secret (`tk_`, `tct_`,
//! `whsec_`, access tokens). Both the record's key and the key its response
//! is sealed under (AES-256-GCM) are HMACs under the deployment's
//! idempotency key ([`Secret`], `TETHER_IDEMPOTENCY_KEY`, an SSM
//! SecureString in AWS) of the scope and the Idempotency-Key: the table, its
//! stream or a backup alone — even with the Idempotency-Key guessed — neither
//! finds a record by its key nor opens one.

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

    /// Keys sent with a directory's SCIM token.
    pub fn directory(id: crate::ids::DirectoryId) -> Self {
        Self(format!("DIR#{id}"))
    }

    /// Keys sent by an admin-portal session (its forms' keys).
    pub fn portal_session(id: crate::ids::PortalLinkId) -> Self {
        Self(format!("PORTAL#{id}"))
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

/// The deployment's idempotency key: base64 of 32 random bytes
/// (`TETHER_IDEMPOTENCY_KEY`; during a rotation several, comma-separated,
/// the deriving key first). Records written under an older key are still
/// found and opened until they expire (24 hours). `Debug` shows no key.
#[derive(Clone)]
pub struct Secret {
    current: [u8; 32],
    older: Vec<Older>,
}

/// A derivation whose records a claim still honours during a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Older {
    /// An earlier (or, in a rotation's first step, the next) deployment key.
    Key([u8; 32]),
    /// The derivation from the Idempotency-Key alone that preceded the
    /// deployment key (the ring entry `sha256-v1`): for the 24 hours after
    /// upgrading, so a retry across the upgrade is still a replay.
    Sha256,
}

/// The ring entry that keeps honouring records of the key-only derivation.
pub const SHA256_ENTRY: &str = "sha256-v1";

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("idempotency::Secret")
            .field("older", &self.older.len())
            .finish_non_exhaustive()
    }
}

/// Why the idempotency key could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("TETHER_IDEMPOTENCY_KEY must be base64 of 32 bytes, comma-separated during a rotation")]
pub struct SecretError;

impl Secret {
    /// A key of these 32 bytes.
    pub fn from_bytes(current: [u8; 32]) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    /// Parses the base64 of one or more 32-byte keys separated by commas or
    /// whitespace, the deriving key first; the entry [`SHA256_ENTRY`] after
    /// it honours records of the derivation before deployment keys.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let parts = || {
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|part| !part.is_empty())
        };
        let legacy = parts().any(|part| part == SHA256_ENTRY);
        let keys: Vec<&str> = parts().filter(|part| *part != SHA256_ENTRY).collect();
        let mut keys = crate::sealed::key_list(&keys.join(","))
            .ok_or(SecretError)?
            .into_iter();
        let current = keys.next().ok_or(SecretError)?;
        let mut older: Vec<Older> = keys.map(Older::Key).collect();
        if legacy {
            older.push(Older::Sha256);
        }
        Ok(Self { current, older })
    }
}

/// Loads the deployment's idempotency key: `TETHER_IDEMPOTENCY_KEY` (locally
/// generated by `make dev`/`make test`) or the SSM SecureString
/// `TETHER_IDEMPOTENCY_KEY_PARAMETER` (AWS: readable by the functions that
/// take POSTs, and only them).
pub async fn load_secret(sdk: &aws_config::SdkConfig) -> Result<Secret, crate::tokens::KeyError> {
    crate::tokens::load_key_setting(sdk, "TETHER_IDEMPOTENCY_KEY", |text| {
        Secret::parse(text).ok()
    })
    .await
}

/// HMAC-SHA256 under `key` of the length-prefixed `parts` (no two splits
/// of the same bytes collide).
fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// Where `key` of `scope` was stored, and what sealed its response, before
/// deployment keys: a plain hash, and a digest of the scope and the key.
fn derive_sha256(scope: &Scope, key: &IdempotencyKey) -> Result<(String, LessSafeKey), ApiError> {
    let pk = format!(
        "IDEMP#{}#{}",
        scope.0,
        hex::encode(Sha256::digest(key.0.as_bytes()))
    );
    let bytes = digest_parts(&[
        b"tether/idempotency/seal/v1",
        scope.0.as_bytes(),
        key.0.as_bytes(),
    ]);
    let seal = crate::sealed::key(&bytes).map_err(ApiError::internal)?;
    Ok((pk, seal))
}

fn derive_older(
    older: &Older,
    scope: &Scope,
    key: &IdempotencyKey,
) -> Result<(String, LessSafeKey), ApiError> {
    match older {
        Older::Key(bytes) => derive(bytes, scope, key),
        Older::Sha256 => derive_sha256(scope, key),
    }
}

/// Where `key` of `scope` is stored, and what seals its response, under one
/// deployment key: two HMACs of different labels, neither computable
/// without that key.
fn derive(
    secret: &[u8; 32],
    scope: &Scope,
    key: &IdempotencyKey,
) -> Result<(String, LessSafeKey), ApiError> {
    let parts = |label: &'static [u8]| mac(secret, &[label, scope.0.as_bytes(), key.0.as_bytes()]);
    let pk = format!(
        "IDEMP#{}#{}",
        scope.0,
        hex::encode(parts(b"tether/idempotency/record/v2"))
    );
    let seal =
        crate::sealed::key(&parts(b"tether/idempotency/seal/v2")).map_err(ApiError::internal)?;
    Ok((pk, seal))
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

/// Claims `key` for `scope`'s request with `fingerprint` at `now` (epoch s),
/// its record derived under `secret`.
pub async fn begin(
    store: &Store,
    secret: &Secret,
    scope: &Scope,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
) -> Result<Begin, ApiError> {
    let (pk, seal) = derive(&secret.current, scope, key)?;
    let holder = ulid::Ulid::generate().to_string();
    let record = [
        (PK, store::s(&pk)),
        (SK, store::s("IDEMP")),
        ("status", store::s("in_progress")),
        ("fingerprint", store::s(fingerprint)),
        ("holder", store::s(&holder)),
        ("lease_until", store::n(now + LEASE_SECONDS)),
        (TTL_ATTRIBUTE, store::n(now + RETENTION_SECONDS)),
    ];
    if !secret.older.is_empty() {
        let claim = Claim { pk, holder, seal };
        return begin_rotating(store, secret, scope, key, fingerprint, now, claim, &record).await;
    }
    let item = record
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value));
    let put = store
        .put_item(item.collect())
        .condition_expression(FREE)
        .set_expression_attribute_names(Some(free_names()))
        .set_expression_attribute_values(Some(free_values(now)))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    match put.send().await.map_err(StoreError::from) {
        Ok(_) => Ok(Begin::Run(Claim { pk, holder, seal })),
        Err(StoreError::ConditionalCheckFailed { item: Some(old) }) => {
            taken(&old, fingerprint, &seal, &pk)
        }
        Err(err) => Err(err.into()),
    }
}

/// The attribute names [`FREE`] uses.
fn free_names() -> std::collections::HashMap<String, String> {
    [
        ("#expires", TTL_ATTRIBUTE),
        ("#status", "status"),
        ("#lease", "lease_until"),
    ]
    .map(|(name, attribute)| (name.to_owned(), attribute.to_owned()))
    .into()
}

/// The values [`FREE`] compares with at `now` (epoch s).
fn free_values(now: i64) -> std::collections::HashMap<String, store::AttributeValue> {
    [
        (":now", store::n(now)),
        (":in_progress", store::s("in_progress")),
    ]
    .map(|(name, value)| (name.to_owned(), value))
    .into()
}

/// When a record may be (re)claimed: absent, expired, or in progress past
/// its lease (a function that died mid-request).
const FREE: &str =
    "attribute_not_exists(PK) OR #expires < :now OR (#status = :in_progress AND #lease < :now)";

/// [`begin`] while the ring holds older derivations: one transaction claims
/// the key under the current one on the condition that no record of an
/// older one holds it, so two instances deriving under different keys
/// during a rotation never both run the request.
#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one claim, as begin holds them"
)]
async fn begin_rotating(
    store: &Store,
    secret: &Secret,
    scope: &Scope,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
    claim: Claim,
    record: &[(&str, store::AttributeValue)],
) -> Result<Begin, ApiError> {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let olders = secret
        .older
        .iter()
        .map(|older| derive_older(older, scope, key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut items = Vec::new();
    for (old_pk, _) in &olders {
        let check = ConditionCheck::builder()
            .table_name(store.table())
            .key(PK, store::s(old_pk))
            .key(SK, store::s("IDEMP"))
            .condition_expression(FREE)
            .set_expression_attribute_names(Some(free_names()))
            .set_expression_attribute_values(Some(free_values(now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let check = store::built(check.build())?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
    }
    let mut put = Put::builder()
        .table_name(store.table())
        .condition_expression(FREE)
        .set_expression_attribute_names(Some(free_names()))
        .set_expression_attribute_values(Some(free_values(now)))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    for (name, value) in record {
        put = put.item(*name, value.clone());
    }
    items.push(
        TransactWriteItem::builder()
            .put(store::built(put.build())?)
            .build(),
    );
    match store::transact(store, items).await {
        Ok(()) => Ok(Begin::Run(claim)),
        Err(StoreError::TransactionCanceled { reasons }) => {
            // The record that holds the key answers (a replay, 409 while it
            // runs, 422 for another request).
            let holding = reasons.iter().enumerate().find_map(|(n, r)| {
                r.item
                    .as_ref()
                    .filter(|_| r.is_condition_failed())
                    .map(|i| (n, i))
            });
            match holding {
                Some((n, item)) => match olders.get(n) {
                    Some((old_pk, old_seal)) => taken(item, fingerprint, old_seal, old_pk),
                    None => taken(item, fingerprint, &claim.seal, &claim.pk),
                },
                None => Err(StoreError::TransactionCanceled { reasons }.into()),
            }
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
        .update_item((&claim.pk, "IDEMP"))
        .update_expression("SET #status = :completed, #response = :response REMOVE #lease")
        .condition_expression("#holder = :holder")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#response", "response_sealed")
        .expression_attribute_names("#lease", "lease_until")
        .expression_attribute_names("#holder", "holder")
        .expression_attribute_values(":completed", store::s("completed"))
        .expression_attribute_values(":response", store::s(sealed))
        .expression_attribute_values(":holder", store::s(&claim.holder))
        .send()
        .await
        .map_err(StoreError::from);
    // Our lease ran out and another attempt took the key over: it stores its own.
    StoreError::unless_condition_failed(result)
}

/// Gives the key up, so a retry runs the request again (after a 503).
pub async fn release(store: &Store, claim: &Claim) -> Result<(), StoreError> {
    let result = store
        .delete_item((&claim.pk, "IDEMP"))
        .condition_expression("#holder = :holder")
        .expression_attribute_names("#holder", "holder")
        .expression_attribute_values(":holder", store::s(&claim.holder))
        .send()
        .await;
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
    fn records_and_seals_depend_on_the_deployment_key_scope_and_key() {
        let secret = [1u8; 32];
        let scope = Scope("KEY#a".into());
        let key = IdempotencyKey::parse("k-1").unwrap();
        let (pk, seal_key) = derive(&secret, &scope, &key).unwrap();
        let sealed = seal(&seal_key, &pk, b"tct_secret").unwrap();
        assert!(!sealed.contains("tct_"));
        let opened = open(&derive(&secret, &scope, &key).unwrap().1, &pk, &sealed);
        assert_eq!(opened.as_deref(), Some(&b"tct_secret"[..]));
        // The key's plain hash names nothing; without the deployment key the
        // record is neither found nor opened.
        assert!(!pk.contains(&hex::encode(Sha256::digest(b"k-1"))));
        let (other_pk, other_seal) = derive(&[2u8; 32], &scope, &key).unwrap();
        assert_ne!(other_pk, pk);
        assert!(open(&other_seal, &pk, &sealed).is_none());
        let other_key = IdempotencyKey::parse("k-2").unwrap();
        let (pk2, seal2) = derive(&secret, &scope, &other_key).unwrap();
        assert_ne!(pk2, pk);
        assert!(open(&seal2, &pk, &sealed).is_none());
        let (pk3, seal3) = derive(&secret, &Scope("KEY#b".into()), &key).unwrap();
        assert_ne!(pk3, pk);
        assert!(open(&seal3, &pk, &sealed).is_none());
        assert!(open(&seal_key, "IDEMP#y", &sealed).is_none());
    }

    #[test]
    fn the_secret_parses_as_a_ring_and_never_shows() {
        use base64::Engine as _;
        let encode = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
        let ring = Secret::parse(&format!("{}, {}", encode(1), encode(2))).unwrap();
        assert_eq!(ring.current, [1; 32]);
        assert_eq!(ring.older, vec![Older::Key([2; 32])]);
        let upgrading = Secret::parse(&format!("{},{SHA256_ENTRY}", encode(1))).unwrap();
        assert_eq!(upgrading.older, vec![Older::Sha256]);
        assert!(
            Secret::parse(SHA256_ENTRY).is_err(),
            "a deriving key is needed"
        );
        assert!(!format!("{ring:?}").contains("AQEB"));
        for bad in ["", " , ", "c2hvcnQ=", "not base64"] {
            assert!(Secret::parse(bad).is_err(), "{bad:?}");
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
