//! A rate gate shared by every worker through one DynamoDB item: each request reserves the
//! next free time slot (slots are 1/rate apart), so all workers together never exceed the rate.
//!
//! The item holds `next_ms`, the first slot nobody has reserved. While the gate is busy
//! (`next_ms` not in the past) a reservation is one atomic `ADD`: concurrent workers each get
//! their own slot without reading first or retrying on conflicts, which with a read-then-claim
//! scheme cost several round trips per request at 16 workers. Only an idle gate needs a
//! conditional restart at the current time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::ReturnValue;

use super::attr;
use super::keys;
use super::{Store, StoreError};
use crate::lastfm::{LastfmError, RateGate};

pub struct DynamoRateGate {
    store: Store,
    interval_ms: i64,
    /// How far ahead of now slots may be booked. Nobody can push everyone else's requests far
    /// into the future: a caller finding the gate booked that far waits before booking.
    horizon_ms: i64,
    /// Callers that would wait longer than this give up (the API, which must answer within
    /// its timeout) instead of waiting; None: wait (the workers).
    give_up_after: Option<Duration>,
    /// Whether this worker's last reservation found the gate idle (see [`Self::reserve`]).
    idle_last: std::sync::atomic::AtomicBool,
}

/// How far ahead the gate books by default: a few seconds of requests at any rate.
pub const HORIZON: Duration = Duration::from_secs(5);

/// What a reservation got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The request's slot (ms since the epoch).
    Slot(i64),
    /// The gate is booked to its horizon; it has room again at this time.
    Full { room_at: i64 },
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
            horizon_ms: HORIZON.as_millis() as i64,
            give_up_after: None,
            idle_last: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A gate whose callers give up (`LastfmError::Busy`) rather than wait longer than `wait`.
    pub fn giving_up_after(mut self, wait: Duration) -> Self {
        self.give_up_after = Some(wait);
        self
    }

    /// Where the gate's next free slot is (None: never used).
    async fn next_free(&self) -> Result<Option<i64>, StoreError> {
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
        out.item
            .map(|item| attr::get_n(&item, "next_ms"))
            .transpose()
    }

    fn update(
        &self,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.store
            .db
            .update_item()
            .table_name(&self.store.table)
            .key("pk", attr::s(keys::RATE_PK))
            .key("sk", attr::s(keys::RATE_SK))
    }

    /// Takes the slot at `next_ms` and moves `next_ms` one interval on. With `busy_at`, only
    /// while the gate is busy at that time (`next_ms` not before it); None when it was idle.
    /// Never past `limit`: a gate booked up to it refuses (None).
    async fn advance(&self, busy_at: Option<i64>, limit: i64) -> Result<Option<i64>, StoreError> {
        self.store.metrics.write();
        let mut request = self
            .update()
            .update_expression("ADD next_ms :interval")
            .expression_attribute_values(":interval", attr::n(self.interval_ms))
            .expression_attribute_values(":limit", attr::n(limit))
            .return_values(ReturnValue::UpdatedNew);
        request = match busy_at {
            Some(now) => request
                .condition_expression("next_ms >= :now AND next_ms < :limit")
                .expression_attribute_values(":now", attr::n(now)),
            None => request.condition_expression("next_ms < :limit"),
        };
        match request.send().await.map_err(StoreError::from_sdk) {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| {
                    StoreError::Corrupt("rate gate update returned nothing".into())
                })?;
                let next: i64 = attr::get_n(&item, "next_ms")?;
                Ok(Some(next - self.interval_ms))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the next free slot to `next` if it is still before `before`. False when it is not
    /// (the gate is busy up to then). Restarts an idle gate and pauses a busy one.
    async fn move_to(&self, next: i64, before: i64) -> Result<bool, StoreError> {
        self.store.metrics.write();
        let result = self
            .update()
            .update_expression("SET next_ms = :next")
            .condition_expression("attribute_not_exists(next_ms) OR next_ms < :before")
            .expression_attribute_values(":next", attr::n(next))
            .expression_attribute_values(":before", attr::n(before))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reserves the next free slot for one request, unless the gate is booked to its horizon.
    /// No two reservations get the same slot, and slots are at least 1/rate apart.
    ///
    /// Usually one write: the gate is tried in the state this worker last found it in (busy
    /// under load, idle when requests are sparse). Once a condition has shown the gate busy,
    /// the slot is taken without checking it against a fresh clock: re-checking would let
    /// workers bounce between "idle" and "busy" while the store's latency exceeds the
    /// interval. Such a slot can lie in the past by the latency of those writes, which the
    /// Last.fm limit (averaged, with a one-second bucket on the stand-in) absorbs.
    pub async fn reserve(&self) -> Result<Reservation, StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = now_ms();
        let limit = now + self.horizon_ms;
        if !self.idle_last.load(Relaxed) {
            if let Some(slot) = self.advance(Some(now), limit).await? {
                return Ok(Reservation::Slot(slot));
            }
        }
        // Idle gate: take the slot at `now`, unless another worker restarted it first.
        if self.move_to(now + self.interval_ms, now).await? {
            self.idle_last.store(true, Relaxed);
            return Ok(Reservation::Slot(now));
        }
        self.idle_last.store(false, Relaxed);
        if let Some(slot) = self.advance(None, limit).await? {
            return Ok(Reservation::Slot(slot));
        }
        let next = self.next_free().await?.unwrap_or(now);
        Ok(Reservation::Full {
            room_at: room_at(next, self.horizon_ms, now),
        })
    }
}

/// When a gate whose next free slot is `next` has room within `horizon_ms` again.
fn room_at(next: i64, horizon_ms: i64, now: i64) -> i64 {
    (next - horizon_ms).max(now) + 1
}

impl RateGate for DynamoRateGate {
    async fn acquire(&self) -> Result<(), LastfmError> {
        let started = now_ms();
        loop {
            let reservation = self
                .reserve()
                .await
                .map_err(|e| LastfmError::Gate(e.to_string()))?;
            let now = now_ms();
            let at = match reservation {
                Reservation::Slot(slot) => slot,
                Reservation::Full { room_at } => room_at,
            };
            if let Some(limit) = self.give_up_after {
                if at - started > limit.as_millis() as i64 {
                    return Err(LastfmError::Busy {
                        retry_after: Duration::from_millis((at - now).max(1000) as u64),
                    });
                }
            }
            if at > now {
                tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
            }
            if matches!(reservation, Reservation::Slot(_)) {
                return Ok(());
            }
        }
    }

    /// Pushes the next free slot to `now + pause` unless it is already later. One write: a
    /// failed condition means another worker reserved or paused past that point.
    async fn back_off(&self, pause: Duration) {
        let until = now_ms() + pause.as_millis() as i64;
        // False is fine: another worker reserved or paused past that point.
        if let Err(e) = self.move_to(until, until).await {
            // The pause is advice: the retry's own backoff still spaces the next attempt.
            tracing::warn!(error = %e, "could not pause the rate gate");
        }
    }
}

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

    #[test]
    fn a_full_gate_has_room_once_its_bookings_are_within_the_horizon() {
        assert_eq!(room_at(20_000, 5_000, 10_000), 15_001);
        assert_eq!(room_at(12_000, 5_000, 10_000), 10_001, "never in the past");
    }

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
