//! The table's definition, used by `tetherctl table create` and the tests
//! (the SAM template declares the same shape for AWS).

use super::{PK, SK, Store, StoreError, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, TimeToLiveStatus,
};

/// The overloaded secondary index (see `docs/data-model.md`).
pub const GSI1: &str = "GSI1";
/// Partition key of [`GSI1`].
pub const GSI1_PK: &str = "GSI1PK";
/// Sort key of [`GSI1`].
pub const GSI1_SK: &str = "GSI1SK";

/// The end users by e-mail address (KEYS_ONLY, see `docs/data-model.md`).
pub const EMAIL_INDEX: &str = "ByEmail";
/// Partition key of [`EMAIL_INDEX`]: `<org>#<lower-case address>`.
pub const EMAIL_KEY: &str = "email_key";
/// The end users by the organization's external id (KEYS_ONLY).
pub const EXTERNAL_ID_INDEX: &str = "ByExternalId";
/// Partition key of [`EXTERNAL_ID_INDEX`]: `<org>#<external id>`.
pub const EXTERNAL_ID_KEY: &str = "external_id_key";

/// A lookup index: `hash` and the table's sort key, keys only — an update
/// that changes neither (a metadata PATCH) writes nothing to it.
fn lookup_index(name: &str, hash: &str) -> GlobalSecondaryIndex {
    index(name, (hash, SK), ProjectionType::KeysOnly)
}

/// An index of `name` on the `(hash, range)` attributes, projecting `projected`.
fn index(
    name: &str,
    (hash, range): (&str, &str),
    projected: ProjectionType,
) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(Projection::builder().projection_type(projected).build())
        .build()
        .expect("index has its required fields")
}

/// What `create_table` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreation {
    /// The table did not exist and was created.
    Created,
    /// The table already existed; its TTL was (re)checked.
    AlreadyExisted,
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element has its required fields")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has its required fields")
}

/// Whether a new table writes a stream ([`create_table_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stream {
    /// New and old images: what the stream functions follow. Every
    /// deployment's table has it.
    NewAndOldImages,
    /// None, for a table no stream function follows: tests that run none
    /// (DynamoDB Local's every call on a table with a stream slows down as
    /// the stream state it keeps for all its tables grows; docs/decisions.md,
    /// "Emulators").
    None,
}

/// Creates the table with its indexes, stream and TTL, waiting until it is
/// active. Idempotent: an existing table is left as it is.
pub async fn create_table(store: &Store) -> Result<TableCreation, StoreError> {
    create_table_with(store, Stream::NewAndOldImages).await
}

/// [`create_table`], with or without its stream.
pub async fn create_table_with(store: &Store, stream: Stream) -> Result<TableCreation, StoreError> {
    let client = store.client();
    let stream = match stream {
        Stream::NewAndOldImages => StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages),
        Stream::None => StreamSpecification::builder().stream_enabled(false),
    };
    let created = client
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(PK))
        .attribute_definitions(string_attribute(SK))
        .attribute_definitions(string_attribute(GSI1_PK))
        .attribute_definitions(string_attribute(GSI1_SK))
        .attribute_definitions(string_attribute(EMAIL_KEY))
        .attribute_definitions(string_attribute(EXTERNAL_ID_KEY))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(index(GSI1, (GSI1_PK, GSI1_SK), ProjectionType::All))
        .global_secondary_indexes(lookup_index(EMAIL_INDEX, EMAIL_KEY))
        .global_secondary_indexes(lookup_index(EXTERNAL_ID_INDEX, EXTERNAL_ID_KEY))
        .stream_specification(
            stream
                .build()
                .expect("stream specification has its required fields"),
        )
        .send()
        .await;
    let outcome = match created {
        Ok(_) => TableCreation::Created,
        Err(err) if err.code() == Some("ResourceInUseException") => TableCreation::AlreadyExisted,
        Err(err) => {
            return Err(StoreError::Other {
                source: Box::new(err),
            });
        }
    };
    wait_until_active(store).await?;
    enable_ttl(store).await?;
    Ok(outcome)
}

async fn wait_until_active(store: &Store) -> Result<(), StoreError> {
    for _ in 0..120 {
        let described = store
            .client()
            .describe_table()
            .table_name(store.table())
            .send()
            .await
            .map_err(|err| StoreError::Other {
                source: Box::new(err),
            })?;
        let status = described.table().and_then(|t| t.table_status().cloned());
        if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Err(StoreError::Unavailable {
        source: "table did not become active within 30 s".into(),
    })
}

async fn enable_ttl(store: &Store) -> Result<(), StoreError> {
    let client = store.client();
    let current = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .map_err(|err| StoreError::Other {
            source: Box::new(err),
        })?;
    let status = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status().cloned());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(store.table())
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .expect("TTL specification has its required fields"),
        )
        .send()
        .await
        .map_err(|err| StoreError::Other {
            source: Box::new(err),
        })?;
    Ok(())
}
