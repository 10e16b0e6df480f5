//! Typed store errors: callers decide on the kind (a failed condition is a
//! domain answer, a throttle is a 503), never on a message string.

use super::Item;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemError, batch_write_item::BatchWriteItemError,
    delete_item::DeleteItemError, get_item::GetItemError, put_item::PutItemError,
    query::QueryError, transact_write_items::TransactWriteItemsError, update_item::UpdateItemError,
};
use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Why one write of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CancellationReason {
    /// DynamoDB's code: `None`, `ConditionalCheckFailed`, `TransactionConflict`, ...
    pub code: String,
    /// The item as it was, when the write asked for it on failure.
    pub item: Option<Item>,
}

impl CancellationReason {
    /// Whether this write's condition failed.
    pub fn is_condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

/// A DynamoDB call that did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The write's condition did not hold; `item` is the item as it was when
    /// the write asked for it (`ReturnValuesOnConditionCheckFailure=ALL_OLD`).
    #[error("conditional check failed")]
    ConditionalCheckFailed {
        /// The current item, if any and if requested.
        item: Option<Box<Item>>,
    },
    /// A transaction was cancelled; one reason per write, in order.
    #[error("transaction cancelled: {}", summarize(reasons))]
    TransactionCanceled {
        /// One reason per write of the transaction.
        reasons: Vec<CancellationReason>,
    },
    /// DynamoDB throttled us after the SDK's retries.
    #[error("throttled by DynamoDB")]
    Throttled {
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// DynamoDB was unreachable, timed out or failed after retries.
    #[error("DynamoDB unavailable")]
    Unavailable {
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// A single-item write met a transaction in progress on the same item
    /// (`TransactionConflictException`): safe to write again shortly.
    #[error("the item is being changed by a transaction")]
    Conflict {
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// An item did not have the shape its record type expects.
    #[error("item could not be (de)serialized")]
    Corrupt {
        /// The serde_dynamo error.
        #[source]
        source: serde_dynamo::Error,
    },
    /// Any other failure (a missing table, a malformed request from our side).
    #[error("DynamoDB call failed")]
    Other {
        /// The SDK error.
        #[source]
        source: BoxError,
    },
}

fn summarize(reasons: &[CancellationReason]) -> String {
    reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl StoreError {
    /// Whether a conditional write happened: `false` when its condition failed.
    pub fn applied<T, E>(result: Result<T, E>) -> Result<bool, Self>
    where
        Self: From<E>,
    {
        match result.map_err(Self::from) {
            Ok(_) => Ok(true),
            Err(Self::ConditionalCheckFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The record a conditional `UpdateItem` with `ALL_NEW` wrote, or `None`
    /// when its condition failed (typically: no such item).
    pub fn updated_record<T: serde::de::DeserializeOwned>(
        result: Result<aws_sdk_dynamodb::operation::update_item::UpdateItemOutput, Self>,
    ) -> Result<Option<T>, Self> {
        match result {
            Ok(out) => out.attributes.map(super::from_item).transpose(),
            Err(Self::ConditionalCheckFailed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// A write whose failed condition means another writer got there first
    /// (a lease taken over, a minute already recorded): done either way.
    pub fn unless_condition_failed<T, E>(result: Result<T, E>) -> Result<(), Self>
    where
        Self: From<E>,
    {
        match result.map_err(Self::from) {
            Ok(_) | Err(Self::ConditionalCheckFailed { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Whether the store could not be reached or refused us for load: worth a
    /// 503 and a retry by the client.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Unavailable { .. } | Self::Conflict { .. } => true,
            Self::TransactionCanceled { reasons } => reasons
                .iter()
                .any(|r| r.code == "TransactionConflict" || r.code == "ThrottlingError"),
            _ => false,
        }
    }

    /// Classifies an SDK error that carries no operation-specific data.
    fn classify<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let code = err.code().map(str::to_owned);
        let source: BoxError = Box::new(err);
        if transport {
            return Self::Unavailable { source };
        }
        match code.as_deref() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "Throttling",
            ) => Self::Throttled { source },
            Some("InternalServerError" | "ServiceUnavailable" | "InternalFailure") => {
                Self::Unavailable { source }
            }
            Some("TransactionConflictException") => Self::Conflict { source },
            _ => Self::Other { source },
        }
    }
}

type HttpResponse = aws_smithy_runtime_api::http::Response;

/// Operations whose only typed failure we care about is the generic kind.
macro_rules! classified {
    ($($error:ty),*) => {$(
        impl From<SdkError<$error, HttpResponse>> for StoreError {
            fn from(err: SdkError<$error, HttpResponse>) -> Self {
                Self::classify(err)
            }
        }
    )*};
}
classified!(
    GetItemError,
    QueryError,
    BatchGetItemError,
    BatchWriteItemError
);

/// Single-item writes: a failed condition carries the current item when asked.
macro_rules! conditional {
    ($($error:ident),*) => {$(
        impl From<SdkError<$error, HttpResponse>> for StoreError {
            fn from(err: SdkError<$error, HttpResponse>) -> Self {
                if let SdkError::ServiceError(service) = &err {
                    if let $error::ConditionalCheckFailedException(e) = service.err() {
                        return Self::ConditionalCheckFailed { item: e.item.clone().map(Box::new) };
                    }
                }
                Self::classify(err)
            }
        }
    )*};
}
conditional!(PutItemError, UpdateItemError, DeleteItemError);

impl From<SdkError<TransactWriteItemsError, HttpResponse>> for StoreError {
    fn from(err: SdkError<TransactWriteItemsError, HttpResponse>) -> Self {
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(e) = service.err()
        {
            let reasons = e
                .cancellation_reasons()
                .iter()
                .map(|r| CancellationReason {
                    code: r.code().unwrap_or("None").to_owned(),
                    item: r.item().cloned(),
                })
                .collect();
            return Self::TransactionCanceled { reasons };
        }
        Self::classify(err)
    }
}
