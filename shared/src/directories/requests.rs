//! The latest SCIM requests of a directory, for the admin portal's
//! Directory view: `PK = SCIMLOG#<directory>`, `SK = <request id>` (a ULID,
//! so the newest sorts last), kept 7 days. Only requests whose token was
//! this directory's are recorded — a stranger guessing ids writes nothing —
//! with method, path, status and error code: no query string (a filter
//! names people) and no body.

use crate::clock::Timestamp;
use crate::ids::{DirectoryId, RequestId};
use crate::store::{self, Store, StoreError};
use serde::{Deserialize, Serialize};

/// How long a request stays listed.
const KEEP_SECONDS: i64 = 7 * 24 * 3600;

fn pk(directory: DirectoryId) -> String {
    format!("SCIMLOG#{directory}")
}

/// One SCIM request, as recorded.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScimRequest {
    #[serde(flatten)]
    key: store::ItemKey,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The error's code, when it failed.
    pub error: Option<String>,
    /// When.
    pub at: Timestamp,
    expires_at_epoch: i64,
}

impl store::Record for ScimRequest {
    fn item_key(&self) -> &store::ItemKey {
        &self.key
    }
}

impl ScimRequest {
    /// A request `request_id` of `directory` answered with `status`.
    pub fn new(
        directory: DirectoryId,
        request_id: RequestId,
        (method, path): (String, String),
        (status, error): (u16, Option<String>),
        now: time::OffsetDateTime,
    ) -> Self {
        Self {
            key: store::ItemKey::new(pk(directory), request_id.to_string()),
            method,
            path,
            status,
            error,
            at: Timestamp::from(now),
            expires_at_epoch: now.unix_timestamp() + KEEP_SECONDS,
        }
    }
}

/// Records `request`.
pub async fn record(store: &Store, request: &ScimRequest) -> Result<(), StoreError> {
    store.put_item(store::to_item(request)?).send().await?;
    Ok(())
}

/// `directory`'s latest `n` requests, newest first: one query.
pub async fn latest(
    store: &Store,
    directory: DirectoryId,
    n: i32,
) -> Result<Vec<ScimRequest>, StoreError> {
    let out = store
        .query()
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", store::s(pk(directory)))
        .scan_index_forward(false)
        .limit(n)
        .send()
        .await?;
    out.items
        .unwrap_or_default()
        .into_iter()
        .map(store::from_item)
        .collect()
}
