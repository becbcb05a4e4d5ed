//! Erasing an account. The request marks the profile (so the API refuses everything else and
//! no sync can start: the erase holds the sync lock), deletes the jobs first (so queued units
//! and start messages of a running sync find no job and are dropped), then either deletes the
//! rest at once or hands it to the sync worker, a batch of pages per message. The profile goes
//! last: until then the account reads as "deleting"; after it, a sign-in starts fresh.
//!
//! A unit of a sync that read its job just before the erase deleted it can still write for as
//! long as its function may run. So when a sync held the lock, the erase only finishes with a
//! pass over the partition that began `settle_secs` later and found nothing left.

use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{info, warn};

use super::AccountError;
use crate::config::EraseSettings;
use crate::cursor;
use crate::queue::Queues;
use crate::store::account::{is_profile_key, EraseMarker};
use crate::store::attr::Item;
use crate::store::keys;
use crate::store::Store;
use crate::sync::messages::WorkMessage;

/// The erase's hold on the sync lock. Long, so nothing can sync meanwhile; an erase that got
/// stuck (its message parked in the dead-letter queue) is restarted by a repeated request.
const LOCK_SECS: i64 = 24 * 60 * 60;
/// A marker not updated for this long (beyond the settle wait) belongs to a stuck erase.
const STUCK_SECS: i64 = 10 * 60;
/// Keys per Query page while deleting.
const PAGE: i32 = 500;
/// Work per worker message, well inside the worker's 60 s timeout.
const BATCH_BUDGET: Duration = Duration::from_secs(20);

/// What the account looks like to its owner while an erase runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EraseStatus {
    pub status: &'static str,
    pub requested_at: i64,
    pub items_deleted: u64,
}

impl From<&EraseMarker> for EraseStatus {
    fn from(m: &EraseMarker) -> Self {
        Self {
            status: "deleting",
            requested_at: m.requested_at,
            items_deleted: m.items_deleted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseOutcome {
    /// Everything is gone already.
    Erased { items_deleted: u64 },
    /// The worker carries on in the background.
    Erasing(EraseStatus),
}

/// Whether the lock the erase took over belonged to a sync that may still be writing.
pub fn sync_may_be_running(previous_lock: Option<&(String, i64)>, now: i64) -> bool {
    previous_lock
        .is_some_and(|(holder, until)| !holder.starts_with(&keys::erase_lock("")) && *until >= now)
}

fn non_profile(keys: Vec<Item>) -> Vec<Item> {
    keys.into_iter().filter(|k| !is_profile_key(k)).collect()
}

/// The user's status while an erase is under way; None when there is none.
pub async fn erase_status(
    store: &Store,
    user_id: &str,
) -> Result<Option<EraseStatus>, AccountError> {
    Ok(store
        .erase_marker(user_id)
        .await?
        .as_ref()
        .map(EraseStatus::from))
}

/// DELETE /api/me: erase at once when the account is small and nothing is syncing, else begin
/// the background erase. Repeating the request while an erase runs reports on it.
pub async fn request_erase(
    store: &Store,
    queues: &Queues,
    settings: EraseSettings,
    user_id: &str,
    now: i64,
) -> Result<EraseOutcome, AccountError> {
    let erase_id = uuid::Uuid::new_v4().simple().to_string();
    let begun = store
        .begin_erase(
            user_id,
            &erase_id,
            now,
            now + LOCK_SECS,
            settings.settle_secs,
        )
        .await?;
    if !begun.new {
        let m = &begun.marker;
        let quiet_since = m.updated_at.max(m.settle_after.unwrap_or(0));
        if now - quiet_since > STUCK_SECS + settings.settle_secs {
            warn!(user_id, erase_id = %m.erase_id, "erase looks stuck; restarting its pass");
            queues
                .send_work_delayed(&first_pass(user_id, &m.erase_id), 0)
                .await?;
        }
        return Ok(EraseOutcome::Erasing(EraseStatus::from(m)));
    }
    let jobs = store.user_job_keys(user_id).await?;
    store.delete_keys(&jobs).await?;
    let mut deleted = jobs.len() as u64;
    let running = sync_may_be_running(begun.previous_lock.as_ref(), now);
    if !running {
        // One page a little larger than the limit tells "small" (it also holds the profile).
        let limit = settings
            .inline_max_items
            .saturating_add(2)
            .min(i32::MAX as u32) as i32;
        let (page, next) = store.user_keys_page(user_id, limit, None).await?;
        let page = non_profile(page);
        if next.is_none() && page.len() as u64 <= u64::from(settings.inline_max_items) {
            store.delete_keys(&page).await?;
            let states = store.user_oauth_state_keys(user_id).await?;
            store.delete_keys(&states).await?;
            let profile = store.finish_erase(user_id, &erase_id).await?;
            deleted += (page.len() + states.len() + usize::from(profile)) as u64;
            info!(
                user_id,
                items = deleted,
                "account erased within the request"
            );
            return Ok(EraseOutcome::Erased {
                items_deleted: deleted,
            });
        }
    }
    let settle_after = running.then_some(now + settings.settle_secs);
    store
        .record_erase_progress(user_id, &erase_id, deleted, settle_after, now)
        .await?;
    queues
        .send_work_delayed(&first_pass(user_id, &erase_id), 0)
        .await?;
    info!(
        user_id,
        erase_id,
        sync_running = running,
        "account erase continues in the background"
    );
    Ok(EraseOutcome::Erasing(EraseStatus {
        status: "deleting",
        requested_at: begun.marker.requested_at,
        items_deleted: deleted,
    }))
}

fn first_pass(user_id: &str, erase_id: &str) -> WorkMessage {
    WorkMessage::Erase {
        user_id: user_id.to_string(),
        erase_id: erase_id.to_string(),
        pass: 1,
        started_at: None,
        cursor: None,
    }
}

/// One worker message of a background erase: deletes pages of the user's items for a while,
/// then queues the rest of the pass, the next pass, or ends the erase.
pub async fn continue_erase(
    store: &Store,
    queues: &Queues,
    message: ErasePass<'_>,
    now: i64,
) -> Result<(), AccountError> {
    let ErasePass {
        user_id,
        erase_id,
        pass,
        started_at,
        cursor: position,
    } = message;
    let Some(marker) = store.erase_marker(user_id).await? else {
        info!(user_id, erase_id, "erase already finished; dropping");
        return Ok(());
    };
    if marker.erase_id != erase_id {
        info!(user_id, erase_id, "message of an earlier erase; dropping");
        return Ok(());
    }
    let started_at = started_at.unwrap_or(now);
    let mut start = position.map(cursor::decode_key).transpose()?;
    let budget = Instant::now() + BATCH_BUDGET;
    let mut deleted = 0u64;
    loop {
        let (page, next) = store.user_keys_page(user_id, PAGE, start).await?;
        let page = non_profile(page);
        store.delete_keys(&page).await?;
        deleted += page.len() as u64;
        let Some(next) = next else { break };
        if Instant::now() >= budget {
            store
                .record_erase_progress(user_id, erase_id, deleted, None, now)
                .await?;
            let rest = WorkMessage::Erase {
                user_id: user_id.to_string(),
                erase_id: erase_id.to_string(),
                pass,
                started_at: Some(started_at),
                cursor: Some(cursor::encode_key(&next)),
            };
            queues.send_work_delayed(&rest, 0).await?;
            return Ok(());
        }
        start = Some(next);
    }
    let states = store.user_oauth_state_keys(user_id).await?;
    store.delete_keys(&states).await?;
    deleted += states.len() as u64;
    // Items found again after a pass that had cleared them come from a sync still finishing
    // (or from a writer we do not know of): wait a full settle time after them too.
    let settle_after = if pass > 1 && deleted > 0 {
        Some(now + marker.settle_secs)
    } else {
        marker.settle_after
    };
    let settled = settle_after.is_none_or(|at| started_at >= at);
    if deleted == 0 && settled {
        if store.finish_erase(user_id, erase_id).await? {
            info!(
                user_id,
                erase_id,
                passes = pass,
                items = marker.items_deleted,
                "account erased"
            );
        }
        return Ok(());
    }
    store
        .record_erase_progress(
            user_id,
            erase_id,
            deleted,
            settle_after.filter(|at| Some(*at) != marker.settle_after),
            now,
        )
        .await?;
    let delay = settle_after.map_or(0, |at| (at - now).max(0));
    queues
        .send_work_delayed(
            &WorkMessage::Erase {
                user_id: user_id.to_string(),
                erase_id: erase_id.to_string(),
                pass: pass + 1,
                started_at: None,
                cursor: None,
            },
            delay.min(900) as i32,
        )
        .await?;
    Ok(())
}

/// The fields of a `WorkMessage::Erase`.
#[derive(Debug, Clone, Copy)]
pub struct ErasePass<'a> {
    pub user_id: &'a str,
    pub erase_id: &'a str,
    pub pass: u32,
    pub started_at: Option<i64>,
    pub cursor: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_sync_lock_means_writes_may_still_land() {
        let now = 1_000;
        assert!(!sync_may_be_running(None, now));
        assert!(sync_may_be_running(
            Some(&("1700-abc".into(), now + 60)),
            now
        ));
        // An expired lease: the job stalled long ago, nothing of it is running.
        assert!(!sync_may_be_running(
            Some(&("1700-abc".into(), now - 1)),
            now
        ));
        // An earlier erase's lock is not a sync.
        assert!(!sync_may_be_running(
            Some(&(keys::erase_lock("e1"), now + 60)),
            now
        ));
    }
}
