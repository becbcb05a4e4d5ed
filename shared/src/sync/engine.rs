//! The sync pipeline's steps: start a job, apply one page, settle the job, sweep old counts.
//! Every step is safe to run twice or concurrently with itself (see docs/SYNC.md).

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::aggregate::{aggregate, merge, Merge, Op, TrackDelta};
use super::job::{Job, JobKind, JobStatus};
use super::messages::WorkMessage;
use super::SyncError;
use crate::clock::now_secs;
use crate::lastfm::{Disposition, LastfmClient, LastfmError, RateGate, Scrobble};
use crate::queue::Queues;
use crate::store::tracks::StoredSong;
use crate::store::{Store, StoreError};

/// Concurrent track writes per page: enough to hide DynamoDB latency, few enough to stay polite.
const WRITE_CONCURRENCY: usize = 16;

pub struct Engine<G> {
    pub store: Store,
    pub queues: Queues,
    pub lastfm: LastfmClient<G>,
    pub max_receives: u32,
}

impl<G: RateGate> Engine<G> {
    /// Begins a queued job (reads page 1, enqueues the rest) or resumes one that has totals.
    pub async fn start_job(
        &self,
        user_id: &str,
        job_id: &str,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let Some(job) = self.store.get_job(user_id, job_id).await? else {
            warn!(
                user_id,
                job_id, "start for a job that does not exist; dropping"
            );
            return Ok(());
        };
        if !job.status.is_active() {
            info!(
                job_id,
                status = job.status.as_str(),
                "job already ended; nothing to start"
            );
            return Ok(());
        }
        if job.pages_total.is_some() {
            let job = self.store.mark_job_running(&job, now_secs()).await?;
            let pending = job.pending_pages();
            info!(job_id, pending = pending.len(), "resuming job");
            self.enqueue_pages(&job, &pending).await?;
            return self.settle(job).await;
        }
        let first = match self
            .lastfm
            .recent_tracks(&job.lastfm_user, 1, job.window)
            .await
        {
            Ok(page) => page,
            Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
        };
        let newest = first.scrobbles.first().map(|s| s.uts);
        let job = self
            .store
            .set_job_totals(&job, first.total_pages, first.total, newest, now_secs())
            .await?;
        let pages_total = job.pages_total.unwrap_or(0);
        info!(
            job_id,
            kind = job.kind.as_str(),
            pages_total,
            scrobbles_total = job.scrobbles_total,
            "job started"
        );
        if pages_total == 0 {
            return self.settle(job).await;
        }
        let rest: Vec<u32> = (2..=pages_total).collect();
        self.enqueue_pages(&job, &rest).await?;
        self.apply_page(&job, 1, first.scrobbles).await
    }

    async fn enqueue_pages(&self, job: &Job, pages: &[u32]) -> Result<(), SyncError> {
        let messages: Vec<WorkMessage> = pages
            .iter()
            .map(|&page| WorkMessage::ScrobblePage {
                user_id: job.user_id.clone(),
                job_id: job.job_id.clone(),
                page,
            })
            .collect();
        self.queues.send_work(&messages).await?;
        Ok(())
    }

    pub async fn run(&self, message: WorkMessage, receive_count: u32) -> Result<(), SyncError> {
        match message {
            WorkMessage::ScrobblePage {
                user_id,
                job_id,
                page,
            } => self.run_page(&user_id, &job_id, page, receive_count).await,
            WorkMessage::Sweep {
                user_id,
                job_id,
                cursor,
            } => self.sweep(&user_id, &job_id, cursor).await,
        }
    }

    async fn run_page(
        &self,
        user_id: &str,
        job_id: &str,
        page: u32,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let Some(job) = self.store.get_job(user_id, job_id).await? else {
            warn!(
                user_id,
                job_id, page, "page for a job that does not exist; dropping"
            );
            return Ok(());
        };
        if job.status != JobStatus::Running {
            info!(
                job_id,
                page,
                status = job.status.as_str(),
                "job not running; dropping page"
            );
            return Ok(());
        }
        if job.done_pages.contains(&page) {
            // A redelivery after the page was counted; finish the job if a crash interrupted that.
            return self.settle(job).await;
        }
        let scrobbles = match self.store.get_ledger_page(user_id, job_id, page).await? {
            Some(recorded) => recorded,
            None => match self
                .lastfm
                .recent_tracks(&job.lastfm_user, page, job.window)
                .await
            {
                Ok(fetched) => fetched.scrobbles,
                Err(e) => return self.fetch_failed(&job, Some(page), e, receive_count).await,
            },
        };
        self.apply_page(&job, page, scrobbles).await
    }

    /// Records the page, folds it into the user's tracks, then counts it on the job.
    async fn apply_page(
        &self,
        job: &Job,
        page: u32,
        fetched: Vec<Scrobble>,
    ) -> Result<(), SyncError> {
        let scrobbles = self
            .store
            .record_ledger_page(&job.user_id, &job.job_id, page, fetched)
            .await?;
        let deltas = aggregate(&scrobbles, page);
        let op = Op {
            job: &job.job_id,
            generation: &job.generation,
            op: page,
        };
        let added = self.apply_deltas(&job.user_id, &deltas, op).await?;
        let counted = self
            .store
            .mark_page_done(job, page, scrobbles.len() as u64, added, now_secs())
            .await?;
        match counted {
            Some(updated) => self.settle(updated).await,
            None => Ok(()),
        }
    }

    /// Applies a page's deltas; returns how many tracks this page added to the generation.
    async fn apply_deltas(
        &self,
        user_id: &str,
        deltas: &[TrackDelta],
        op: Op<'_>,
    ) -> Result<u64, StoreError> {
        let keys: Vec<String> = deltas.iter().map(|d| d.key.clone()).collect();
        let current = self.store.get_tracks(user_id, &keys).await?;
        let entered = stream::iter(deltas)
            .map(|delta| {
                let existing = current.get(&delta.key).cloned().unwrap_or_default();
                self.apply_one(user_id, delta, existing, op)
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<bool>>()
            .await?;
        Ok(entered.into_iter().filter(|e| *e).count() as u64)
    }

    /// Optimistic concurrency: on a conflict, re-read and merge again. Returns whether this
    /// unit of work is the one that added the track to its generation (true on every retry too).
    async fn apply_one(
        &self,
        user_id: &str,
        delta: &TrackDelta,
        mut stored: StoredSong,
        op: Op<'_>,
    ) -> Result<bool, StoreError> {
        for _ in 0..25 {
            match merge(stored.lastfm.as_ref(), delta, op) {
                Merge::AlreadyApplied => {
                    return Ok(stored.lastfm.as_ref().is_some_and(|t| t.entered_by(op)))
                }
                Merge::Write(mut next) => {
                    next.version = stored.version + 1;
                    match self.store.write_track(user_id, &next).await {
                        Ok(()) => return Ok(next.entered_by(op)),
                        Err(StoreError::Conflict) => {
                            stored = self.store.get_track(user_id, &delta.key).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn fetch_failed(
        &self,
        job: &Job,
        page: Option<u32>,
        error: LastfmError,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let now = now_secs();
        if error.disposition() == Disposition::Permanent {
            warn!(job_id = %job.job_id, ?page, error = %error, "permanent Last.fm error; failing job");
            self.store.fail_job(job, &error.user_message(), now).await?;
            self.store
                .release_sync_lock(&job.user_id, &job.job_id)
                .await?;
            return Ok(());
        }
        if receive_count < self.max_receives {
            return Err(SyncError::Lastfm(error));
        }
        match page {
            Some(page) => {
                let total = job.pages_total.unwrap_or(0);
                let message = format!(
                    "Page {page} of {total} could not be fetched after {receive_count} attempts: {}",
                    error.user_message()
                );
                warn!(job_id = %job.job_id, page, error = %error, "page exhausted its retries");
                if let Some(updated) = self
                    .store
                    .mark_page_failed(job, page, &message, now)
                    .await?
                {
                    self.settle(updated).await?;
                }
                // Still a failure, so SQS parks the message in the dead-letter queue for inspection.
                Err(SyncError::Lastfm(error))
            }
            None => {
                let message = format!(
                    "The sync could not start after {receive_count} attempts: {}",
                    error.user_message()
                );
                self.store.fail_job(job, &message, now).await?;
                self.store
                    .release_sync_lock(&job.user_id, &job.job_id)
                    .await?;
                Ok(())
            }
        }
    }

    /// Ends the job once every page is counted or given up on. Safe to call repeatedly.
    async fn settle(&self, job: Job) -> Result<(), SyncError> {
        let Some(total) = job.pages_total else {
            return Ok(());
        };
        let settled = (job.done_pages.len() + job.failed_pages.len()) as u32;
        if job.status != JobStatus::Running || settled < total {
            return Ok(());
        }
        let now = now_secs();
        let status = if job.failed_pages.is_empty() {
            self.store.record_lastfm_sync(&job, now).await?;
            JobStatus::Done
        } else {
            JobStatus::Partial
        };
        if let Some(finished) = self.store.finish_job(&job, status, now).await? {
            info!(
                job_id = %finished.job_id,
                status = status.as_str(),
                pages = total,
                scrobbles = finished.scrobbles_done,
                seconds = now - finished.started_at.unwrap_or(now),
                "job finished"
            );
            if status == JobStatus::Done && finished.kind == JobKind::Full {
                self.queues
                    .send_work(&[WorkMessage::Sweep {
                        user_id: finished.user_id.clone(),
                        job_id: finished.job_id.clone(),
                        cursor: None,
                    }])
                    .await?;
            }
        }
        self.store
            .release_sync_lock(&job.user_id, &job.job_id)
            .await?;
        Ok(())
    }

    /// Deletes tracks that a completed full sync did not see (an older generation), in batches.
    async fn sweep(
        &self,
        user_id: &str,
        job_id: &str,
        cursor: Option<String>,
    ) -> Result<(), SyncError> {
        let Some(job) = self.store.get_job(user_id, job_id).await? else {
            return Ok(());
        };
        let current = self.store.get_lastfm_service(user_id).await?;
        if current.and_then(|s| s.generation).as_deref() != Some(job.generation.as_str()) {
            // A newer full sync (or a disconnect) superseded this one; its own sweep will follow.
            return Ok(());
        }
        let start = cursor
            .as_deref()
            .map(crate::cursor::decode_key)
            .transpose()?;
        let (stale, next) = self
            .store
            .stale_tracks(user_id, &job.generation, start)
            .await?;
        stream::iter(stale.iter())
            .map(|key| self.store.delete_stale_track(user_id, key, &job.generation))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        if !stale.is_empty() {
            info!(
                job_id,
                removed = stale.len(),
                "removed tracks from an older sync"
            );
        }
        if let Some(next) = next {
            self.queues
                .send_work(&[WorkMessage::Sweep {
                    user_id: user_id.to_string(),
                    job_id: job_id.to_string(),
                    cursor: Some(crate::cursor::encode_key(&next)),
                }])
                .await?;
        }
        Ok(())
    }
}
