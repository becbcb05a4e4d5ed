//! Wiring shared by the Lambda entry points: clients from the environment, and SQS batch
//! handling with partial failures.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use tracing::{error, warn};

use crate::config::{AppConfig, ConfigError};
use crate::lastfm::{LastfmClient, LastfmError};
use crate::queue::Queues;
use crate::secrets::Secrets;
use crate::store::rate_gate::DynamoRateGate;
use crate::store::Store;
use crate::sync::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lastfm(#[from] LastfmError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// The longest an API request waits for a Last.fm slot (its function times out after 15 s).
pub const API_GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub struct Context {
    pub config: AppConfig,
    pub store: Store,
    pub queues: Queues,
    secrets: Secrets,
}

impl Context {
    pub async fn from_env() -> Result<Self, StartupError> {
        let mut config = AppConfig::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        let secrets = Secrets::load(&sdk).await?;
        if let Some(key) = &secrets.lastfm_api_key {
            config.lastfm.api_key = key.clone();
        }
        let (db, sqs) = (
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
        );
        Ok(Self {
            store: Store::new(db, &config.table_name),
            queues: Queues::new(sqs, &config.start_queue_url, &config.page_queue_url),
            config,
            secrets,
        })
    }

    /// A Last.fm client that shares the rate budget with every other function.
    pub fn lastfm(&self) -> Result<LastfmClient<DynamoRateGate>, LastfmError> {
        let gate = DynamoRateGate::new(self.store.clone(), self.config.lastfm.rate_limit);
        LastfmClient::new(self.config.lastfm.clone(), gate)
    }

    /// As [`Context::lastfm`], for a request someone is waiting on: when the shared budget is
    /// booked further ahead than `API_GATE_WAIT`, it answers `LastfmError::Busy` at once.
    pub fn lastfm_for_requests(&self) -> Result<LastfmClient<DynamoRateGate>, LastfmError> {
        let gate = DynamoRateGate::new(self.store.clone(), self.config.lastfm.rate_limit)
            .giving_up_after(API_GATE_WAIT);
        LastfmClient::new(self.config.lastfm.clone(), gate)
    }

    /// The Spotify client, when this deployment has a Spotify app (client id and secret).
    pub fn spotify(&self) -> Option<crate::spotify::SpotifyClient> {
        let secret = self.secrets.spotify_client_secret.clone();
        match crate::spotify::SpotifyConfig::from_env_with_secret(secret)
            .and_then(crate::spotify::SpotifyClient::new)
        {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::info!(reason = %e, "Spotify is not configured");
                None
            }
        }
    }

    pub fn engine(&self) -> Result<Engine<DynamoRateGate>, LastfmError> {
        Ok(Engine {
            store: self.store.clone(),
            queues: self.queues.clone(),
            lastfm: self.lastfm()?,
            spotify: self.spotify(),
            max_receives: self.config.max_receives,
        })
    }
}

/// How long a failed message waits before SQS offers it again: grows with each attempt.
pub fn retry_delay_secs(receive_count: u32) -> i32 {
    (5i32 << receive_count.saturating_sub(1).min(6)).min(300)
}

pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Runs `handle` on every record of the batch at once (each is independent: another page,
/// often another user; the Last.fm rate gate spaces their requests). Failed records are
/// retried later (and, after `MAX_RECEIVES`, parked in the dead-letter queue by SQS), the
/// rest are acknowledged.
pub async fn process_batch<M, E, F, Fut>(
    records: Vec<SqsMessage>,
    queues: &Queues,
    queue_url: &str,
    handle: F,
) -> SqsBatchResponse
where
    M: serde::de::DeserializeOwned,
    E: std::fmt::Display,
    F: Fn(M, u32) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let handle = &handle;
    let outcomes = futures::future::join_all(records.into_iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let attempts = receive_count(&record);
        let parsed = record
            .body
            .as_deref()
            .ok_or_else(|| "empty body".to_string())
            .and_then(|b| serde_json::from_str::<M>(b).map_err(|e| e.to_string()));
        let outcome = match parsed {
            Ok(message) => handle(message, attempts).await.map_err(|e| e.to_string()),
            Err(e) => {
                // Never guessed at: it stays failed and lands in the dead-letter queue intact.
                error!(message_id = %id, error = %e, "unreadable queue message");
                Err(e)
            }
        };
        let Err(e) = outcome else {
            return None;
        };
        warn!(message_id = %id, attempts, error = %e, "message failed; will retry");
        if let Some(receipt) = record.receipt_handle.as_deref() {
            if let Err(e) = queues
                .retry_later(queue_url, receipt, retry_delay_secs(attempts))
                .await
            {
                warn!(error = %e, "could not shorten the retry delay");
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        Some(failure)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcomes.into_iter().flatten().collect();
    response
}

/// What one invocation cost, for logs and benchmarks: store requests, CPU, peak memory.
pub struct Meter {
    reads: u64,
    writes: u64,
    cpu_ticks: Option<u64>,
}

fn cpu_ticks() -> Option<u64> {
    // Fields 14 and 15 of /proc/self/stat: user and system time of all threads, in clock ticks.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Meter {
    pub fn start(store: &Store) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        Self {
            reads: store.metrics.reads.load(Relaxed),
            writes: store.metrics.writes.load(Relaxed),
            cpu_ticks: cpu_ticks(),
        }
    }

    /// Logs the usage since `start` as one structured line.
    pub fn log(self, store: &Store, what: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let cpu_ms = match (self.cpu_ticks, cpu_ticks()) {
            // The kernel's USER_HZ is 100 on Linux, so a tick is 10 ms.
            (Some(a), Some(b)) => Some((b - a) * 10),
            _ => None,
        };
        tracing::info!(
            usage = what,
            dynamo_reads = store.metrics.reads.load(Relaxed) - self.reads,
            dynamo_writes = store.metrics.writes.load(Relaxed) - self.writes,
            cpu_ms,
            peak_rss_kb = peak_rss_kb(),
            "invocation usage"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    /// A client that is never called: records without a receipt handle skip the retry delay.
    fn offline_queues() -> Queues {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build();
        Queues::new(aws_sdk_sqs::Client::from_conf(config), "start", "page")
    }

    #[tokio::test]
    async fn a_batch_runs_its_records_at_once_and_reports_only_the_failed_ones() {
        // Both readable records must be inside the handler together to pass the barrier: run
        // one after the other, the batch would never finish.
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let records = vec![
            record("ok", "1"),
            record("fails", "2"),
            record("unreadable", "not json"),
        ];
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            process_batch(records, &offline_queues(), "page", |n: u32, _| {
                let barrier = barrier.clone();
                async move {
                    barrier.wait().await;
                    if n == 2 {
                        Err("page 2 failed")
                    } else {
                        Ok(())
                    }
                }
            }),
        )
        .await
        .expect("the records ran one after the other");
        let mut failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        failed.sort();
        assert_eq!(failed, vec!["fails".to_string(), "unreadable".to_string()]);
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let d: Vec<i32> = (1..=9).map(super::retry_delay_secs).collect();
        assert_eq!(&d[..5], &[5, 10, 20, 40, 80]);
        assert_eq!(d[8], 300);
    }
}
