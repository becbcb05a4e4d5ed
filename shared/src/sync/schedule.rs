//! The scheduled pass: every user whose Last.fm or Spotify account is due for a refresh gets one
//! sync (which covers both services), found with index queries in due-time order, never a
//! table scan.

use serde::Serialize;
use tracing::warn;

use super::control::{request_scheduled_sync, SyncRequest};
use super::SyncError;
use crate::queue::Queues;
use crate::store::{keys, Store};

/// Seconds between automatic syncs of one user (`SYNC_INTERVAL_SECS`, default 6 hours).
pub fn interval_secs() -> i64 {
    std::env::var("SYNC_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &i64| *v > 0)
        .unwrap_or(6 * 60 * 60)
}

/// Starts are spread out so a large pass does not arrive at Last.fm all at once; the shared
/// rate gate still bounds the total either way.
/// How long after a sync a listener is due again, by how recently they last played (`newest`,
/// the newest scrobble the sync saw in its trailing 15 days; None: none in that window).
/// Playing in the last two days: every `base` (6 h by default). In the last two weeks: daily.
/// Quiet for longer: weekly; pressing "Sync now" still syncs at once. At 100,000 users of whom
/// a third play daily, a third weekly and a third have stopped, the checks cost about
/// 33,000 × 4 + 33,000 × 1 + 33,000 / 7 ≈ 170,000 requests a day (one each for a quiet
/// window) instead of 400,000: 39% of one key's 432,000 a day at 5 requests a second.
pub fn next_sync_in(base: i64, newest: Option<i64>, now: i64) -> i64 {
    const DAY: i64 = 24 * 60 * 60;
    match newest.map(|t| now - t) {
        Some(idle) if idle <= 2 * DAY => base,
        Some(idle) if idle <= 14 * DAY => base.max(DAY),
        _ => base.max(7 * DAY),
    }
}

pub const STAGGER_SECS: i32 = 2;
const MAX_USERS_PER_PASS: usize = 2_000;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PassReport {
    pub due: usize,
    pub started: usize,
    pub busy: usize,
    pub failed: usize,
}

pub async fn start_due_syncs(store: &Store, queues: &Queues) -> Result<PassReport, SyncError> {
    let now_millis = crate::clock::now_millis();
    let now = now_millis / 1000;
    let lastfm = store
        .users_due(keys::LASTFM_DUE_PK, now, MAX_USERS_PER_PASS)
        .await?;
    let room = MAX_USERS_PER_PASS.saturating_sub(lastfm.len());
    let spotify = if room == 0 {
        Vec::new()
    } else {
        store.users_due(keys::SPOTIFY_DUE_PK, now, room).await?
    };
    let due = merge_due(lastfm, spotify);
    let mut report = PassReport {
        due: due.len(),
        ..Default::default()
    };
    for (i, user_id) in due.iter().enumerate() {
        let delay = (i as i32 * STAGGER_SECS).min(900);
        match request_scheduled_sync(store, queues, user_id, now_millis, delay).await {
            Ok(SyncRequest::Started { .. }) => report.started += 1,
            Ok(SyncRequest::Busy { .. }) => report.busy += 1,
            Ok(SyncRequest::NotConnected) => {}
            Err(e) => {
                warn!(user_id, error = %e, "scheduled sync could not start");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// One entry per user: someone with both services connected is due under each, but one sync
/// refreshes both.
fn merge_due(lastfm: Vec<String>, spotify: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lastfm
        .into_iter()
        .chain(spotify)
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_who_play_are_synced_more_often_than_dormant_ones() {
        let (base, now, day) = (6 * 3600, 100 * 86_400, 86_400);
        assert_eq!(next_sync_in(base, Some(now - 3600), now), base);
        assert_eq!(next_sync_in(base, Some(now - 2 * day), now), base);
        assert_eq!(next_sync_in(base, Some(now - 3 * day), now), day);
        assert_eq!(next_sync_in(base, Some(now - 20 * day), now), 7 * day);
        assert_eq!(next_sync_in(base, None, now), 7 * day);
        // A longer base interval is never shortened.
        assert_eq!(next_sync_in(2 * day, Some(now - 3 * day), now), 2 * day);
    }

    #[test]
    fn a_user_due_under_both_services_is_synced_once() {
        let due = merge_due(
            vec!["a".into(), "b".into()],
            vec!["b".into(), "c".into(), "c".into()],
        );
        assert_eq!(due, ["a", "b", "c"]);
    }
}
