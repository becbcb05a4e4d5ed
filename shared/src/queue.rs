//! SQS: the start queue (one message per job) and the page queue (one message per unit of work).

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::sync::messages::{StartMessage, WorkMessage};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS request failed: {0}")]
    Sqs(String),
    #[error("SQS refused {0} messages after retries")]
    Refused(usize),
}

#[derive(Clone)]
pub struct Queues {
    sqs: Client,
    start_url: String,
    page_url: String,
}

/// SQS accepts at most ten messages per batch call.
const BATCH: usize = 10;

impl Queues {
    pub fn new(sqs: Client, start_url: impl Into<String>, page_url: impl Into<String>) -> Self {
        Self {
            sqs,
            start_url: start_url.into(),
            page_url: page_url.into(),
        }
    }

    pub fn page_url(&self) -> &str {
        &self.page_url
    }

    pub fn start_url(&self) -> &str {
        &self.start_url
    }

    pub async fn send_start(
        &self,
        message: &StartMessage,
        delay_secs: i32,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("start message serialises");
        self.sqs
            .send_message()
            .queue_url(&self.start_url)
            .message_body(body)
            .delay_seconds(delay_secs.clamp(0, 900))
            .send()
            .await
            .map_err(|e| QueueError::Sqs(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// One work message, held back `delay_secs` (SQS allows up to 15 minutes).
    pub async fn send_work_delayed(
        &self,
        message: &WorkMessage,
        delay_secs: i32,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("work message serialises");
        self.sqs
            .send_message()
            .queue_url(&self.page_url)
            .message_body(body)
            .delay_seconds(delay_secs.clamp(0, 900))
            .send()
            .await
            .map_err(|e| QueueError::Sqs(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Sends work in batches of ten, several batches in flight, retrying entries SQS refused.
    pub async fn send_work(&self, messages: &[WorkMessage]) -> Result<(), QueueError> {
        stream::iter(messages.chunks(BATCH))
            .map(|chunk| self.send_batch(chunk))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn send_batch(&self, chunk: &[WorkMessage]) -> Result<(), QueueError> {
        let mut pending: Vec<(String, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                (
                    i.to_string(),
                    serde_json::to_string(m).expect("work message serialises"),
                )
            })
            .collect();
        for attempt in 0..5 {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError::Sqs(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.page_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Sqs(DisplayErrorContext(e).to_string()))?;
            let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
            pending.retain(|(id, _)| failed.contains(id));
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Refused(pending.len()))
        }
    }

    /// Makes a failed message visible again after `seconds`, instead of the queue's long default.
    pub async fn retry_later(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        seconds: i32,
    ) -> Result<(), QueueError> {
        self.sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError::Sqs(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
