//! Deciding what a "sync now" means for a user, and starting it with the one-sync-per-user lock.

use tracing::{info, warn};

use super::job::{new_job_id, Job, JobKind, JobStatus};
use super::messages::StartMessage;
use super::SyncError;
use crate::lastfm::Window;
use crate::queue::Queues;
use crate::store::jobs::JobTotals;
use crate::store::users::LastfmService;
use crate::store::Store;

/// How long a sync may hold the user's lock before another may take over.
pub const LOCK_LEASE_SECS: i64 = 2 * 60 * 60;

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A job is running and moving; do not start another.
    Busy(String),
    /// The latest job stopped part-way; carry on with it (same window, finished pages kept).
    Resume(Box<Job>),
    /// A new job.
    New {
        kind: JobKind,
        window: Window,
        /// The generation to add to; None for a full sync, which starts its own.
        generation: Option<String>,
    },
}

/// What a sync request means, given the latest job and the Last.fm connection (None when only
/// Spotify is connected: then every sync just refreshes Spotify's lists).
pub fn plan(latest: Option<&Job>, lastfm: Option<&LastfmService>, now: i64) -> Plan {
    if let Some(job) = latest {
        if job.status.is_active() && !job.is_stalled(now) {
            return Plan::Busy(job.job_id.clone());
        }
    }
    let Some(service) = lastfm else {
        return Plan::New {
            kind: JobKind::Incremental,
            window: Window::default(),
            generation: Some(String::new()),
        };
    };
    if let Some(job) = latest {
        let unfinished =
            matches!(job.status, JobStatus::Partial | JobStatus::Failed) || job.is_stalled(now);
        let same_account = job.lastfm_user == service.username;
        let still_current = job.kind != JobKind::Incremental
            || service.generation.as_ref() == Some(&job.generation);
        if unfinished && same_account && still_current {
            return Plan::Resume(Box::new(job.clone()));
        }
    }
    match (service.watermark_uts, &service.generation) {
        (Some(watermark), Some(generation)) => Plan::New {
            kind: JobKind::Incremental,
            // Re-read the last two weeks too: Last.fm accepts scrobbles that late.
            window: Window {
                from: Some((watermark + 1 - super::archive::TRAILING_SECS).max(0)),
                to: Some(now),
            },
            generation: Some(generation.clone()),
        },
        _ => Plan::New {
            kind: JobKind::Full,
            window: Window {
                from: None,
                to: Some(now),
            },
            generation: None,
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    Started { job_id: String, resumed: bool },
    Busy { job_id: String },
    NotConnected,
}

/// How often an incremental sync also compares every past window with Last.fm's totals.
pub const RECONCILE_EVERY_SECS: i64 = 7 * 24 * 60 * 60;

/// Whether this incremental sync should reconcile: asked for, or not done for a week.
pub fn reconcile_due(service: Option<&LastfmService>, asked: bool, now: i64) -> bool {
    asked
        || service.is_some_and(|s| {
            s.reconciled_at
                .is_none_or(|t| now - t >= RECONCILE_EVERY_SECS)
        })
}

pub async fn request_sync(
    store: &Store,
    queues: &Queues,
    user_id: &str,
    now_millis: i64,
    delay_secs: i32,
) -> Result<SyncRequest, SyncError> {
    request_sync_with(store, queues, user_id, now_millis, delay_secs, false).await
}

/// A sync the schedule starts: its units wait behind those of syncs people asked for (see
/// `Job::in_flight_cap`).
pub async fn request_scheduled_sync(
    store: &Store,
    queues: &Queues,
    user_id: &str,
    now_millis: i64,
    delay_secs: i32,
) -> Result<SyncRequest, SyncError> {
    request(store, queues, user_id, now_millis, delay_secs, false, true).await
}

/// `reconcile`: also compare every past window with Last.fm (see sync::finalize).
pub async fn request_sync_with(
    store: &Store,
    queues: &Queues,
    user_id: &str,
    now_millis: i64,
    delay_secs: i32,
    reconcile: bool,
) -> Result<SyncRequest, SyncError> {
    request(
        store, queues, user_id, now_millis, delay_secs, reconcile, false,
    )
    .await
}

async fn request(
    store: &Store,
    queues: &Queues,
    user_id: &str,
    now_millis: i64,
    delay_secs: i32,
    reconcile: bool,
    scheduled: bool,
) -> Result<SyncRequest, SyncError> {
    let now = now_millis / 1000;
    let lastfm = store.get_lastfm_service(user_id).await?;
    let spotify = store
        .get_spotify_service(user_id)
        .await?
        .is_some_and(|s| s.status == "connected");
    if lastfm.is_none() && !spotify {
        return Ok(SyncRequest::NotConnected);
    }
    let latest = store.latest_job(user_id).await?;
    let lease = now + LOCK_LEASE_SECS;
    match plan(latest.as_ref(), lastfm.as_ref(), now) {
        Plan::Busy(job_id) => Ok(SyncRequest::Busy { job_id }),
        Plan::Resume(job) => {
            if let Err(held) = store
                .acquire_sync_lock(user_id, &job.job_id, lease, now, Some(&job.job_id))
                .await?
            {
                return Ok(SyncRequest::Busy {
                    job_id: held.job_id,
                });
            }
            match store.reopen_job(&job, spotify, now).await {
                Ok(_) => {}
                Err(crate::store::StoreError::Conflict) => {
                    return Ok(SyncRequest::Busy { job_id: job.job_id });
                }
                Err(e) => return Err(e.into()),
            }
            info!(user_id, job_id = %job.job_id, "resuming sync");
            send_or_fail(store, queues, &job, delay_secs).await?;
            Ok(SyncRequest::Started {
                job_id: job.job_id,
                resumed: true,
            })
        }
        Plan::New {
            kind,
            window,
            generation,
        } => {
            let job_id = new_job_id(now_millis);
            let previous = latest.as_ref().map(|j| j.job_id.as_str());
            if let Err(held) = store
                .acquire_sync_lock(user_id, &job_id, lease, now, previous)
                .await?
            {
                return Ok(SyncRequest::Busy {
                    job_id: held.job_id,
                });
            }
            let job = Job {
                spotify,
                scheduled,
                reconcile: kind == JobKind::Incremental
                    && reconcile_due(lastfm.as_ref(), reconcile, now),
                ..Job::queued(
                    user_id,
                    &job_id,
                    kind,
                    lastfm
                        .as_ref()
                        .map(|s| s.username.clone())
                        .unwrap_or_default(),
                    generation.unwrap_or_else(|| job_id.clone()),
                    window,
                    now,
                )
            };
            store.create_job(&job).await?;
            info!(user_id, job_id = %job_id, kind = kind.as_str(), "sync requested");
            send_or_fail(store, queues, &job, delay_secs).await?;
            Ok(SyncRequest::Started {
                job_id,
                resumed: false,
            })
        }
    }
}

/// A job whose start message never left would sit "queued" holding the lock: end it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildRequest {
    Started {
        job_id: String,
        pages: u32,
        scrobbles: u64,
    },
    Busy {
        job_id: String,
    },
    /// No Last.fm account, or it was never fully synced: there is no archive to rebuild from.
    NothingToRebuild,
}

/// Recomputes a user's Last.fm counts from the stored scrobble archive, without Last.fm: the
/// archive is laid out as the pages a fresh full sync would read (newest first, 200 a page)
/// and run through the same workers as a new generation, so the result is what a fresh full
/// sync of the same scrobbles gives, under the current normalisation rules.
pub async fn request_rebuild(
    store: &Store,
    queues: &Queues,
    user_id: &str,
    now_millis: i64,
) -> Result<RebuildRequest, SyncError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let now = now_millis / 1000;
    let Some(service) = store.get_lastfm_service(user_id).await? else {
        return Ok(RebuildRequest::NothingToRebuild);
    };
    if service.generation.is_none() {
        return Ok(RebuildRequest::NothingToRebuild);
    }
    let latest = store.latest_job(user_id).await?;
    if let Some(job) = latest
        .as_ref()
        .filter(|j| j.status.is_active() && !j.is_stalled(now))
    {
        return Ok(RebuildRequest::Busy {
            job_id: job.job_id.clone(),
        });
    }
    let job_id = new_job_id(now_millis);
    let previous = latest.as_ref().map(|j| j.job_id.as_str());
    if let Err(held) = store
        .acquire_sync_lock(user_id, &job_id, now + LOCK_LEASE_SECS, now, previous)
        .await?
    {
        return Ok(RebuildRequest::Busy {
            job_id: held.job_id,
        });
    }
    let index = store.archive_index(user_id).await?;
    let mut rows = Vec::with_capacity(index.total() as usize);
    for (month, info) in index.months.iter().rev() {
        rows.extend(store.archive_month(user_id, month, info.parts).await?);
    }
    let job = Job::queued(
        user_id,
        &job_id,
        JobKind::Rebuild,
        service.username.clone(),
        job_id.clone(),
        Window {
            from: None,
            to: Some(now),
        },
        now,
    );
    store.create_job(&job).await?;
    let pages: Vec<Vec<crate::lastfm::Scrobble>> = rows
        .chunks(crate::lastfm::PAGE_LIMIT as usize)
        .map(<[_]>::to_vec)
        .collect();
    let page_count = pages.len() as u32;
    stream::iter(pages.into_iter().enumerate())
        .map(|(i, rows)| {
            let read = super::reader::PageRead { rows, total: None };
            store.record_ledger_page(user_id, &job_id, i as u32 + 1, read)
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    // The pages are counted into the tracks by the finishing step, as for a full sync.
    let prior_rows = store.rows_present(user_id).await?;
    let plan = super::job::UnitPlan {
        scrobble_pages: page_count,
        finalize: 1,
        ..Default::default()
    };
    store
        .set_job_totals(
            &job,
            &JobTotals {
                plan,
                windows: &[],
                scrobbles_total: rows.len() as u64,
                artists_total: 0,
                newest_uts: None,
                prior_rows: Some(&prior_rows),
            },
            now,
        )
        .await?;
    info!(user_id, job_id = %job_id, pages = page_count, "rebuild requested");
    send_or_fail(store, queues, &job, 0).await?;
    Ok(RebuildRequest::Started {
        job_id,
        pages: page_count,
        scrobbles: rows.len() as u64,
    })
}

async fn send_or_fail(
    store: &Store,
    queues: &Queues,
    job: &Job,
    delay_secs: i32,
) -> Result<(), SyncError> {
    let message = StartMessage {
        user_id: job.user_id.clone(),
        job_id: job.job_id.clone(),
    };
    if let Err(e) = queues.send_start(&message, delay_secs).await {
        warn!(job_id = %job.job_id, error = %e, "could not enqueue sync start");
        let now = crate::clock::now_secs();
        store
            .fail_job(job, "The sync could not be queued. Please try again.", now)
            .await?;
        store.release_sync_lock(&job.user_id, &job.job_id).await?;
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(watermark: Option<i64>, generation: Option<&str>) -> LastfmService {
        LastfmService {
            username: "rj".into(),
            connected_at: 0,
            watermark_uts: watermark,
            generation: generation.map(String::from),
            last_sync_at: None,
            last_job_id: None,
            track_count: 0,
            artist_count: 0,
            reconciled_at: None,
        }
    }

    fn job(status: JobStatus, kind: JobKind, updated_at: i64) -> Job {
        Job {
            user_id: "u".into(),
            job_id: "j1".into(),
            kind,
            status,
            lastfm_user: "rj".into(),
            generation: "g".into(),
            window: Window::default(),
            spotify: false,
            reconcile: false,
            windows: vec![],
            repairs: vec![],
            pages_total: Some(3),
            plan: crate::sync::job::UnitPlan {
                scrobble_pages: 3,
                ..Default::default()
            },
            done_pages: Default::default(),
            failed_pages: Default::default(),
            folded_pages: Default::default(),
            prior_rows: None,
            scrobbles_total: 0,
            scrobbles_done: 0,
            tracks_added: 0,
            artists_total: 0,
            newest_uts: None,
            created_at: 0,
            started_at: Some(0),
            updated_at,
            finished_at: None,
            errors: vec![],
            scheduled: false,
            units_sent: 0,
        }
    }

    #[test]
    fn first_sync_is_full_up_to_now() {
        match plan(None, Some(&service(None, None)), 1000) {
            Plan::New {
                kind,
                window,
                generation,
            } => {
                assert_eq!(kind, JobKind::Full);
                assert_eq!(
                    window,
                    Window {
                        from: None,
                        to: Some(1000)
                    }
                );
                assert_eq!(generation, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reconciliation_is_due_weekly_or_when_asked() {
        let mut s = service(Some(1), Some("g"));
        assert!(reconcile_due(Some(&s), false, 100));
        s.reconciled_at = Some(100);
        assert!(!reconcile_due(
            Some(&s),
            false,
            100 + RECONCILE_EVERY_SECS - 1
        ));
        assert!(reconcile_due(Some(&s), false, 100 + RECONCILE_EVERY_SECS));
        assert!(reconcile_due(Some(&s), true, 101));
        assert!(!reconcile_due(None, false, 101));
    }

    #[test]
    fn later_syncs_are_incremental_and_re_read_the_trailing_two_weeks() {
        let done = job(JobStatus::Done, JobKind::Full, 10);
        let watermark = 2_000_000_000;
        let now = watermark + 1000;
        match plan(Some(&done), Some(&service(Some(watermark), Some("g"))), now) {
            Plan::New {
                kind,
                window,
                generation,
            } => {
                assert_eq!(kind, JobKind::Incremental);
                assert_eq!(
                    window,
                    Window {
                        from: Some(watermark + 1 - super::super::archive::TRAILING_SECS),
                        to: Some(now)
                    }
                );
                assert_eq!(generation.as_deref(), Some("g"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn running_jobs_block_and_stalled_or_broken_ones_resume() {
        let running = job(JobStatus::Running, JobKind::Full, 990);
        assert_eq!(
            plan(Some(&running), Some(&service(None, None)), 1000),
            Plan::Busy("j1".into())
        );
        let stalled = job(JobStatus::Running, JobKind::Full, 0);
        assert!(matches!(
            plan(Some(&stalled), Some(&service(None, None)), 100_000),
            Plan::Resume(_)
        ));
        for status in [JobStatus::Partial, JobStatus::Failed] {
            let broken = job(status, JobKind::Full, 0);
            assert!(matches!(
                plan(Some(&broken), Some(&service(None, None)), 1000),
                Plan::Resume(_)
            ));
        }
    }

    #[test]
    fn spotify_only_users_get_a_spotify_refresh() {
        assert!(matches!(
            plan(None, None, 1000),
            Plan::New {
                kind: JobKind::Incremental,
                ..
            }
        ));
    }

    #[test]
    fn a_different_account_starts_over() {
        let broken = job(JobStatus::Failed, JobKind::Full, 0);
        let mut other = service(None, None);
        other.username = "someone-else".into();
        assert!(matches!(
            plan(Some(&broken), Some(&other), 1000),
            Plan::New {
                kind: JobKind::Full,
                ..
            }
        ));
    }
}
