//! A rate gate shared by every worker through one DynamoDB item: each request claims the next
//! free time slot (slots are 1/rate apart), so all workers together never exceed the rate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::attr;
use super::keys;
use super::{Store, StoreError};
use crate::lastfm::{LastfmError, RateGate};

pub struct DynamoRateGate {
    store: Store,
    interval_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl DynamoRateGate {
    pub fn new(store: Store, requests_per_second: f64) -> Self {
        Self {
            store,
            interval_ms: (1000.0 / requests_per_second).ceil() as i64,
        }
    }

    async fn next_slot(&self) -> Result<Option<i64>, StoreError> {
        self.store.metrics.read();
        let out = self
            .store
            .db
            .get_item()
            .table_name(&self.store.table)
            .key("pk", attr::s(keys::RATE_PK))
            .key("sk", attr::s(keys::RATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        match out.item {
            Some(item) => attr::get_n_opt(&item, "next_ms"),
            None => Ok(None),
        }
    }

    /// Moves the shared "next free slot" from `seen` to `next`, if nobody moved it meanwhile.
    async fn claim(&self, seen: Option<i64>, next: i64) -> Result<bool, StoreError> {
        let mut request = self
            .store
            .db
            .update_item()
            .table_name(&self.store.table)
            .key("pk", attr::s(keys::RATE_PK))
            .key("sk", attr::s(keys::RATE_SK))
            .update_expression("SET next_ms = :next")
            .expression_attribute_values(":next", attr::n(next));
        request = match seen {
            Some(seen) => request
                .condition_expression("next_ms = :seen")
                .expression_attribute_values(":seen", attr::n(seen)),
            None => request.condition_expression("attribute_not_exists(next_ms)"),
        };
        self.store.metrics.write();
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl RateGate for DynamoRateGate {
    async fn acquire(&self) -> Result<(), LastfmError> {
        for _ in 0..100 {
            let seen = self
                .next_slot()
                .await
                .map_err(|e| LastfmError::Gate(e.to_string()))?;
            let now = now_ms();
            let slot = seen.unwrap_or(0).max(now);
            if self
                .claim(seen, slot + self.interval_ms)
                .await
                .map_err(|e| LastfmError::Gate(e.to_string()))?
            {
                if slot > now {
                    tokio::time::sleep(Duration::from_millis((slot - now) as u64)).await;
                }
                return Ok(());
            }
        }
        Err(LastfmError::Gate(
            "too much contention on the rate gate".into(),
        ))
    }

    async fn back_off(&self, pause: Duration) {
        let until = now_ms() + pause.as_millis() as i64;
        for _ in 0..10 {
            let Ok(seen) = self.next_slot().await else {
                return;
            };
            if seen.unwrap_or(0) >= until {
                return;
            }
            if let Ok(true) = self.claim(seen, until).await {
                return;
            }
        }
    }
}

/// The same discipline within one process (command-line tools, tests).
pub struct LocalRateGate {
    next: tokio::sync::Mutex<tokio::time::Instant>,
    interval: Duration,
}

impl LocalRateGate {
    pub fn new(requests_per_second: f64) -> Self {
        Self {
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            interval: Duration::from_secs_f64(1.0 / requests_per_second),
        }
    }
}

impl RateGate for LocalRateGate {
    async fn acquire(&self) -> Result<(), LastfmError> {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }

    async fn back_off(&self, pause: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(tokio::time::Instant::now() + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn local_gate_spaces_requests_at_the_rate() {
        let gate = LocalRateGate::new(5.0);
        let start = tokio::time::Instant::now();
        for _ in 0..6 {
            gate.acquire().await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        gate.back_off(Duration::from_secs(3)).await;
        gate.acquire().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(4));
    }
}
