//! DynamoDB access: the one client, the single table's keys, and typed errors.
//!
//! The data model is written down in `docs/data-model.md`. Every invariant is
//! guarded by a condition on the write that could break it, never by a read
//! before the write.

pub mod actor;
mod batch;
mod calls;
mod errors;
mod query;
mod record;
pub mod schema;

pub use batch::{batch_write, get_items};
pub use calls::{CallStats, CallTotals};
pub use errors::{CancellationReason, StoreError};
pub use query::{
    Keys, Order, gsi1_item, query_all, query_items_page, query_page, query_page_in, query_stretch,
};
pub use record::{IndexKey, ItemKey, Record, put_new};

use crate::config::{Config, TlsRoots};
pub use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A raw DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The partition key attribute of the table.
pub const PK: &str = "PK";
/// The sort key attribute of the table.
pub const SK: &str = "SK";
/// The TTL attribute (epoch seconds) of expiring items (SPEC §12).
pub const TTL_ATTRIBUTE: &str = "expires_at_epoch";

/// A call on one item of the table: its table, key and capacity report set.
macro_rules! keyed_call {
    ($(#[$doc:meta])* $call:ident, $builder:path) => {
        $(#[$doc])*
        pub fn $call(
            &self,
            (pk, sk): (impl Into<String>, impl Into<String>),
        ) -> $builder {
            self.client
                .$call()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .return_consumed_capacity(CAPACITY)
        }
    };
}

/// The table and the client that reaches it, built once per cold start and
/// shared by reference by every invocation.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    stats: CallStats,
}

impl Store {
    /// Wraps a client (tests build theirs with a local endpoint), adding the
    /// interceptor that logs and counts every call. (Interceptors of `client`
    /// itself are not carried over; use [`Store::from_builder`] to keep them.)
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self::from_builder(client.config().to_builder(), table)
    }

    /// A store whose client is built from `builder`, plus the call interceptor.
    pub fn from_builder(
        builder: aws_sdk_dynamodb::config::Builder,
        table: impl Into<String>,
    ) -> Self {
        let stats = CallStats::default();
        let config = builder
            .interceptor(calls::CallLog(stats.clone()))
            .interceptor(actor::ActorStamp)
            .build();
        Self {
            client: aws_sdk_dynamodb::Client::from_conf(config),
            table: table.into(),
            stats,
        }
    }

    /// Opens the connection to DynamoDB (DNS, TCP, TLS) with a call that
    /// reads nothing and costs no capacity; its answer, even AccessDenied,
    /// leaves a pooled connection for the first request. Failures are logged
    /// and ignored: the request path retries on its own.
    pub async fn warm_up(&self) {
        if let Err(err) = self.client.describe_endpoints().send().await {
            tracing::info!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "connection warm-up answered with an error");
        }
    }

    /// Counts a transaction tried again after a `TransactionConflict`.
    pub fn note_conflict(&self) {
        self.stats.conflicted();
    }

    /// The calls this store made so far.
    pub fn call_totals(&self) -> CallTotals {
        self.stats.totals()
    }

    /// The IAM actions this store's calls needed so far ([`CallStats::actions`]).
    pub fn actions_used(&self) -> std::collections::BTreeSet<String> {
        self.stats.actions()
    }

    /// The longest single call since the previous take, and starts over.
    pub fn take_slowest_call(&self) -> std::time::Duration {
        self.stats.take_slowest()
    }

    /// Loads the AWS configuration the standard way (environment, profiles,
    /// SSO, web identity…), for tools run by people (`tetherctl`).
    pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
        Self::loader(config).load().await
    }

    /// Loads the AWS configuration of a function, once per cold start:
    /// region and credentials from the variables Lambda always sets
    /// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`), and an HTTPS client trusting `config.tls_roots`.
    /// Building the standard provider chain instead (profile files, an STS
    /// client for web identity, the system's root store) was most of a cold
    /// start (docs/performance.md).
    pub async fn lambda_sdk_config(config: &Config) -> aws_config::SdkConfig {
        Self::loader(config)
            .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .http_client(https_client(config.tls_roots))
            .load()
            .await
    }

    /// The settings both configurations share: explicit timeouts and bounded retries.
    fn loader(config: &Config) -> aws_config::ConfigLoader {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(config.dynamodb_attempt_timeout)
                    .operation_timeout(config.dynamodb_operation_timeout)
                    .build(),
            )
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(config.dynamodb_max_attempts),
            )
    }

    /// The store of `config.table`, its client built from `sdk` with the
    /// DynamoDB endpoint of `AWS_ENDPOINT_URL_DYNAMODB` when set (for that
    /// service only: SSM still goes to AWS).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(endpoint) = &config.dynamodb_endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        // One client, built once: every construction parses the SDK's
        // endpoint rules, a measurable part of the cold start.
        Self::from_builder(builder, config.table.clone())
    }

    /// Builds a function's store from the environment and `config`.
    pub async fn from_config(config: &Config) -> Self {
        Self::from_sdk(&Self::lambda_sdk_config(config).await, config)
    }

    /// The DynamoDB client, for tools and tests that build stores of their
    /// own; the core crate's modules reach the table through the calls below.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    keyed_call!(
        /// A `GetItem` of the item at `(pk, sk)` of this table.
        get_item, aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder
    );
    keyed_call!(
        /// An `UpdateItem` of the item at `(pk, sk)` of this table.
        update_item, aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder
    );
    keyed_call!(
        /// A `DeleteItem` of the item at `(pk, sk)` of this table.
        delete_item, aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder
    );

    /// A `PutItem` of `item` into this table.
    pub fn put_item(
        &self,
        item: Item,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(CAPACITY)
    }

    /// An `UpdateItem` standing alone of what a transaction's `update` would write.
    pub fn update_as(
        &self,
        update: &aws_sdk_dynamodb::types::Update,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(update.table_name())
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .return_consumed_capacity(CAPACITY)
    }

    /// A `Query` of this table.
    pub fn query(&self) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .return_consumed_capacity(CAPACITY)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The Amazon Trust Services roots, compiled in (`shared/certs`).
pub(crate) const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// The functions' HTTPS client: rustls on aws-lc (as the SDK's default),
/// trusting `roots`.
fn https_client(roots: TlsRoots) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = match roots {
        TlsRoots::Amazon => tls::TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM),
        TlsRoots::System => tls::TrustStore::default(),
    };
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap_or_default(),
        )
        .build_https()
}

/// Asks every call for its consumed capacity, so the debug log and the call
/// totals can report it.
pub const CAPACITY: aws_sdk_dynamodb::types::ReturnConsumedCapacity =
    aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total;

/// A string attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A timestamp attribute value: the string a record's
/// [`Timestamp`](crate::clock::Timestamp) is stored as, for expressions
/// that write or compare one.
pub fn timestamp(at: impl Into<crate::clock::Timestamp>) -> AttributeValue {
    AttributeValue::S(at.into().to_string())
}

/// A number attribute value.
pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Reads a string attribute of an item.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Reads a number attribute of an item.
pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Decodes an item into a record type.
pub fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|source| StoreError::Corrupt { source })
}

/// Encodes a record type into an item.
pub fn to_item<T: serde::Serialize>(record: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(record).map_err(|source| StoreError::Corrupt { source })
}

/// A table key: `PK` and `SK` values.
pub type Key = (String, String);

/// The key attributes of `key`, as GetItem and BatchGetItem take them.
pub fn key_item((pk, sk): &Key) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// Reads one record by key (`GetItem`, strongly consistent).
pub async fn get_consistent<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    get_record(store, key, true).await
}

/// Reads one record by key (`GetItem`), strongly consistent or not.
pub async fn get_record<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &Key,
    consistent: bool,
) -> Result<Option<T>, StoreError> {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key_item(key)))
        .consistent_read(consistent)
        .return_consumed_capacity(CAPACITY)
        .send()
        .await?;
    out.item.map(from_item).transpose()
}

/// Transactions retried after losing a race (`TransactionConflict`).
const CONFLICT_ATTEMPTS: u32 = 8;

/// The attribute each transaction stamps on the items it puts or updates: its
/// `ClientRequestToken`.
pub const TXN_ATTRIBUTE: &str = "txn";

/// [`transact`] for a transaction whose first item is a guard (the parent
/// exists): `Ok(false)` when that guard's condition failed, nothing written.
pub async fn transact_guarded(
    store: &Store,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<bool, StoreError> {
    match transact(store, items).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons })
            if reasons.first().is_some_and(|r| r.is_condition_failed()) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Runs a `TransactWriteItems`, retrying — with jittered backoff — the
/// cancellations caused only by conflicts with concurrent transactions on the
/// same items. Any failed condition is returned at once.
///
/// An SDK retry of an attempt that committed but whose answer was lost is
/// recognised as that commit (SPEC §12): each attempt carries a fresh
/// `ClientRequestToken` (AWS and DynamoDB Local then answer the retry with
/// success), and — for a backend that re-executes the retry instead (moto)
/// — stamps the token on every item it puts or updates, under a condition
/// that fails only where the token already is, with the old item returned:
/// a cancellation that shows our own token is our own commit.
pub async fn transact(
    store: &Store,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<(), StoreError> {
    transact_with(store, items, CONFLICT_ATTEMPTS).await
}

/// [`transact`] with at most `attempts` tries for conflicts (1: a conflict
/// is returned at once, for a caller that retries with other items).
pub async fn transact_with(
    store: &Store,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    attempts: u32,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = ulid::Ulid::generate().to_string();
        let marked = items
            .iter()
            .map(|item| mark(item, &token))
            .collect::<Result<Vec<_>, _>>()?;
        let result = store
            .client()
            .transact_write_items()
            .set_transact_items(Some(marked))
            .client_request_token(&token)
            .return_consumed_capacity(CAPACITY)
            .send()
            .await
            .map_err(StoreError::from);
        match result {
            Err(StoreError::TransactionCanceled { reasons })
                if reasons.iter().any(|r| {
                    r.item
                        .as_ref()
                        .is_some_and(|old| get_s(old, TXN_ATTRIBUTE) == Some(&token))
                }) =>
            {
                tracing::info!("a retried transaction found its own commit");
                return Ok(());
            }
            Err(StoreError::TransactionCanceled { reasons })
                if attempt < attempts
                    && reasons.iter().any(|r| r.code == "TransactionConflict")
                    && !reasons.iter().any(|r| r.is_condition_failed()) =>
            {
                store.note_conflict();
                let jitter = u64::from(ulid::Ulid::generate().random() as u8 % 20);
                tokio::time::sleep(std::time::Duration::from_millis(
                    5 * u64::from(attempt) + jitter,
                ))
                .await;
            }
            other => return other.map(|_| ()),
        }
    }
}

/// `item` with the transaction's marker: a `Put` or `Update` also writes
/// `txn = token`, on the condition that `txn` is not already `token`, and
/// returns the old item when a condition fails. `Delete` and
/// `ConditionCheck` items pass unchanged.
fn mark(
    item: &aws_sdk_dynamodb::types::TransactWriteItem,
    token: &str,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{
        Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    };
    const NAME: &str = "#tether_txn";
    const VALUE: &str = ":tether_txn";
    let guard = |condition: Option<&str>| {
        let mine = format!("(attribute_not_exists({NAME}) OR {NAME} <> {VALUE})");
        match condition {
            Some(c) => format!("({c}) AND {mine}"),
            None => mine,
        }
    };
    let names = |names: Option<&HashMap<String, String>>| {
        let mut names = names.cloned().unwrap_or_default();
        names.insert(NAME.to_owned(), TXN_ATTRIBUTE.to_owned());
        Some(names)
    };
    let values = |values: Option<&Item>| {
        let mut values = values.cloned().unwrap_or_default();
        values.insert(VALUE.to_owned(), s(token));
        Some(values)
    };
    if let Some(put) = item.put() {
        let mut attributes = put.item().clone();
        attributes.insert(TXN_ATTRIBUTE.to_owned(), s(token));
        let put = built(
            Put::builder()
                .table_name(put.table_name())
                .set_item(Some(attributes))
                .condition_expression(guard(put.condition_expression()))
                .set_expression_attribute_names(names(put.expression_attribute_names()))
                .set_expression_attribute_values(values(put.expression_attribute_values()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        return Ok(TransactWriteItem::builder().put(put).build());
    }
    if let Some(update) = item.update() {
        let expression = update.update_expression();
        let expression = match expression.strip_prefix("SET ") {
            Some(rest) => format!("SET {NAME} = {VALUE}, {rest}"),
            None => format!("SET {NAME} = {VALUE} {expression}"),
        };
        let update = built(
            Update::builder()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(expression)
                .condition_expression(guard(update.condition_expression()))
                .set_expression_attribute_names(names(update.expression_attribute_names()))
                .set_expression_attribute_values(values(update.expression_attribute_values()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        return Ok(TransactWriteItem::builder().update(update).build());
    }
    Ok(item.clone())
}

/// Turns an SDK builder's missing-field error into a store error (the
/// builders here always set their required fields; this keeps it typed).
pub fn built<T, E: std::error::Error + Send + Sync + 'static>(
    result: Result<T, E>,
) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Other {
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// The SDK parses the bundle when it builds the client and panics on a
    /// bad certificate: every block must parse and be usable as a root.
    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_authorities() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("every block of the bundle parses");
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(certs), (5, 0));
        let text = String::from_utf8_lossy(AMAZON_ROOTS_PEM);
        for name in [
            "Amazon_Root_CA_1",
            "Amazon_Root_CA_2",
            "Amazon_Root_CA_3",
            "Amazon_Root_CA_4",
            "Starfield_Services_Root",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }
}
