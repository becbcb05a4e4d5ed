//! DynamoDB storage: one table, entity types kept apart by key (see docs/DATA-MODEL.md).

pub mod account;
pub mod archive;
pub mod attr;
pub mod jobs;
pub mod keys;
pub mod lastfm_lists;
pub mod ledger;
pub mod library;
pub mod limits;
pub mod opset;
pub mod rate_gate;
pub mod spotify;
pub mod spotify_lists;
pub mod tracks;
pub mod users;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::Client;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request failed: {0}")]
    Dynamo(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("a concurrent writer changed the item first")]
    Conflict,
}

impl StoreError {
    /// Maps an SDK error, turning a failed condition into `Conflict`.
    pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        if err
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|c| c == "ConditionalCheckFailedException")
        {
            return StoreError::Conflict;
        }
        StoreError::Dynamo(DisplayErrorContext(err).to_string())
    }
}

/// Counts requests so benchmarks can report what a sync costs.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl StoreMetrics {
    pub(crate) fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct Store {
    pub(crate) db: Client,
    pub(crate) table: String,
    pub metrics: Arc<StoreMetrics>,
}

impl Store {
    pub fn new(db: Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            metrics: Arc::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.db
    }

    /// Sends one transaction of version-checked writes: all or none. Returns the positions whose
    /// check failed (or that another transaction held): those must be re-read and merged again;
    /// an empty list means every write went in.
    pub(crate) async fn transact_checked(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<Vec<usize>, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.metrics.write();
        let err = match self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(Vec::new()),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
        else {
            return Err(StoreError::from_sdk(err));
        };
        let reasons = e.cancellation_reasons();
        let retry: Vec<usize> = reasons
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
            .map(|(i, _)| i)
            .collect();
        if retry.is_empty() {
            // Cancelled for another reason (throttling, validation): say so.
            return Err(StoreError::Dynamo(format!(
                "transaction cancelled: {:?}",
                reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
            )));
        }
        Ok(retry)
    }
}
