//! A record of the single table: a typed item that knows where it lives.
//! Its keys are flattened into it ([`ItemKey`], [`IndexKey`]), so every
//! record reads and writes its `PK`/`SK` (and `GSI1PK`/`GSI1SK`) alike.

use super::{Key, Store, StoreError};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A record's key in the table: its `PK` and `SK` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// The partition key.
    #[serde(rename = "PK")]
    pub pk: String,
    /// The sort key.
    #[serde(rename = "SK")]
    pub sk: String,
}

impl ItemKey {
    /// The key `(pk, sk)`.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// As the store's calls take it.
    pub fn pair(&self) -> (&str, &str) {
        (&self.pk, &self.sk)
    }

    /// As an owned [`Key`].
    pub fn to_key(&self) -> Key {
        (self.pk.clone(), self.sk.clone())
    }
}

/// A record's key in the overloaded index `GSI1`: its `GSI1PK` and `GSI1SK`
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    /// The index's partition key.
    #[serde(rename = "GSI1PK")]
    pub pk: String,
    /// The index's sort key.
    #[serde(rename = "GSI1SK")]
    pub sk: String,
}

impl IndexKey {
    /// The index key `(pk, sk)`.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A record of the table.
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    /// Where it lives.
    fn item_key(&self) -> &ItemKey;
}

/// Writes a new record: the condition `attribute_not_exists(PK)` guards
/// against a collision of its fresh id.
pub async fn put_new<R: Record>(store: &Store, record: &R) -> Result<(), StoreError> {
    store
        .put_item(super::to_item(record)?)
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await?;
    Ok(())
}
