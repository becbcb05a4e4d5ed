//! The sync pipeline's steps: start a job (read the first pages, plan every unit of work,
//! enqueue them), do one unit, settle the job, and sweep what a refresh no longer contains.
//! Every step is safe to run twice or concurrently with itself (see docs/SYNC.md).

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::aggregate::{merge, Merge, Op, TrackDelta};
use super::job::{Job, JobKind, JobStatus, PlannedWindow, Unit, UnitPlan};
use super::messages::{SweepTarget, WorkMessage};
use super::reader::{self, PageRead};
use super::SyncError;
use crate::clock::now_secs;
use crate::lastfm::loved::LovedTracksPage;
use crate::lastfm::top_artists::TopArtistsPage;
use crate::lastfm::{Disposition, LastfmClient, LastfmError, RateGate};
use crate::normalize::{artist_key, TrackIdentity};
use crate::queue::Queues;
use crate::store::jobs::JobTotals;
use crate::store::lastfm_lists::{LastfmArtist, ListName, LovedEntry};
use crate::store::library::ArtistRow;
use crate::store::tracks::TrackWrite;
use crate::store::{Store, StoreError};

/// Concurrent item writes per unit: enough to hide DynamoDB latency, few enough to stay polite.
const WRITE_CONCURRENCY: usize = 16;
/// DynamoDB's limit of items per transaction.
const TRANSACTION_ITEMS: usize = 100;
const TRANSACTION_CONCURRENCY: usize = 4;
/// Attempts at a page's track writes before giving the message back to SQS.
const MAX_WRITE_ROUNDS: usize = 25;
/// How long a claim on the finishing step holds: past the worker's 300 s timeout (an
/// invocation that runs over is dead), well inside the page queue's 1,800 s visibility timeout
/// (so the dead claimer's message, redelivered, finds the claim free or its own).
const FINALIZE_LEASE_SECS: i64 = 360;

pub struct Engine<G> {
    pub store: Store,
    pub queues: Queues,
    pub lastfm: LastfmClient<G>,
    /// None when this deployment has no Spotify app configured.
    pub spotify: Option<crate::spotify::SpotifyClient>,
    pub max_receives: u32,
}

/// What the first requests of a job fetched; applied by sync-start itself, not re-fetched.
struct FirstPages {
    /// Scrobble pages by their number in the job.
    scrobbles: Vec<(u32, PageRead)>,
    artists: Option<TopArtistsPage>,
    loved: Option<LovedTracksPage>,
}

fn unit_message(job: &Job, unit: Unit) -> WorkMessage {
    WorkMessage::Unit {
        user_id: job.user_id.clone(),
        job_id: job.job_id.clone(),
        unit: unit.id(),
    }
}

impl<G: RateGate> Engine<G> {
    /// Begins a queued job (reads the first pages, plans the units) or resumes one with a plan.
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
            // Units sent but never settled were lost with a worker (or are still on the queue:
            // a second copy is harmless); settling sends the job's next ones.
            let lost = job.units_in_flight();
            info!(job_id, lost = lost.len(), "resuming job");
            self.enqueue(&job, &lost).await?;
            return self.settle(job, None).await;
        }
        let mut plan = UnitPlan::default();
        let mut first = FirstPages {
            scrobbles: Vec::new(),
            artists: None,
            loved: None,
        };
        let mut scrobbles_total = 0;
        let mut artists_total = 0;
        let mut newest = None;
        let mut windows: Vec<PlannedWindow> = Vec::new();
        if !job.lastfm_user.is_empty() {
            let user = &job.lastfm_user;
            // Whether the listening changed, which is when top artists and loved tracks are
            // read again too.
            let changed = match job.kind {
                JobKind::Incremental => {
                    let page = match self.lastfm.recent_tracks(user, 1, job.window).await {
                        Ok(page) => page,
                        Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
                    };
                    let counted = self.counted_in(&job.user_id, job.window).await?;
                    let read = PageRead {
                        rows: page.scrobbles,
                        total: Some(page.total),
                    };
                    // A change that leaves the total as it was (a deletion and an upload)
                    // can hide on a later page, so a window of more than one page is read
                    // whole; one that fits a page is whole in this answer. Nothing new in
                    // a one-page window costs this one request (plus the reconciliation
                    // checks when those are due).
                    let changed = !reader::first_page_matches(&counted, &read);
                    if changed || page.total_pages > 1 {
                        windows.push(PlannedWindow {
                            label: reader::RECENT.into(),
                            window: job.window,
                            pages: 1,
                        });
                        scrobbles_total += page.total;
                        newest = read.rows.first().map(|s| s.uts);
                        first.scrobbles.push((1, read));
                    }
                    if job.reconcile {
                        match self.reconcile_windows(&job).await {
                            Ok(found) => windows.extend(found),
                            Err(SyncError::Lastfm(e)) => {
                                return self.fetch_failed(&job, None, e, receive_count).await
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    scrobbles_total += windows
                        .iter()
                        .filter(|w| w.label != reader::RECENT)
                        .map(|w| u64::from(w.pages) * u64::from(crate::lastfm::PAGE_LIMIT))
                        .sum::<u64>();
                    changed
                }
                _ => {
                    // The last two weeks can still change under the read (uploads of plays
                    // made offline); everything before can only lose scrobbles, so it is read
                    // by page number, all pages at once (see sync::reader).
                    let (recent_window, history) = reader::split_full(job.window, now_secs());
                    let recent = match self.lastfm.recent_tracks(user, 1, recent_window).await {
                        Ok(page) => page,
                        Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
                    };
                    let old = match self.lastfm.recent_tracks(user, 1, history).await {
                        Ok(page) => page,
                        Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
                    };
                    windows.push(PlannedWindow {
                        label: reader::RECENT.into(),
                        window: recent_window,
                        pages: 1,
                    });
                    windows.push(PlannedWindow {
                        label: reader::HISTORY.into(),
                        window: history,
                        pages: old.total_pages,
                    });
                    scrobbles_total = recent.total + old.total;
                    newest = recent
                        .scrobbles
                        .first()
                        .or(old.scrobbles.first())
                        .map(|s| s.uts);
                    first.scrobbles.push((
                        1,
                        PageRead {
                            rows: recent.scrobbles,
                            total: Some(recent.total),
                        },
                    ));
                    if old.total_pages > 0 {
                        first.scrobbles.push((
                            2,
                            PageRead {
                                rows: old.scrobbles,
                                total: Some(old.total),
                            },
                        ));
                    }
                    true
                }
            };
            plan.scrobble_pages = windows.iter().map(|w| w.pages).sum();
            plan.finalize = u32::from(!windows.is_empty());
            // Top artists and loved tracks only change with listening: an incremental sync
            // that found nothing new leaves them be.
            if changed {
                let artists = match self.lastfm.top_artists(user, 1).await {
                    Ok(a) => a,
                    Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
                };
                let loved = match self.lastfm.loved_tracks(user, 1).await {
                    Ok(l) => l,
                    Err(e) => return self.fetch_failed(&job, None, e, receive_count).await,
                };
                plan.artist_pages = artists.total_pages;
                artists_total = artists.total;
                plan.loved_pages = loved.total_pages;
                first.artists = Some(artists);
                first.loved = Some(loved);
            }
        }
        if job.spotify {
            plan.spotify_lists = super::job::SPOTIFY_LISTS.len() as u32;
        }
        // Checked before this job writes a row; a retried start keeps the first answer. (A
        // rebuild records its own when it is requested; an incremental sync sweeps only lists
        // it re-read, which the user has.)
        let prior_rows = match job.kind {
            JobKind::Full => Some(self.store.rows_present(user_id).await?),
            JobKind::Rebuild | JobKind::Incremental => None,
        };
        let job = self
            .store
            .set_job_totals(
                &job,
                &JobTotals {
                    plan,
                    windows: &windows,
                    scrobbles_total,
                    artists_total,
                    newest_uts: newest,
                    prior_rows: prior_rows.as_ref(),
                },
                now_secs(),
            )
            .await?;
        info!(
            job_id,
            kind = job.kind.as_str(),
            units = plan.total(),
            scrobbles_total,
            "job started"
        );
        // Units whose first page is already in hand are applied here instead of queued.
        let mut inline = Vec::new();
        inline.extend(
            first
                .scrobbles
                .iter()
                .map(|(page, _)| Unit::Scrobbles(*page)),
        );
        if first.artists.is_some() {
            inline.push(Unit::Artists(1));
        }
        if first.loved.is_some() {
            inline.push(Unit::Loved(1));
        }
        // The rest go out a few at a time (see `Job::units_to_send`).
        self.top_up(&job, &inline).await?;
        for (page, read) in first.scrobbles {
            self.apply_scrobbles(&job, page, read, None).await?;
        }
        if let Some(artists) = first.artists.filter(|_| job.plan.artist_pages > 0) {
            self.apply_artists(&job, 1, artists, None).await?;
        }
        if let Some(loved) = first.loved.filter(|_| job.plan.loved_pages > 0) {
            self.apply_loved(&job, 1, loved, None).await?;
        }
        // Re-read: the inline units may have finished the job already, or there was nothing.
        match self.store.get_job(user_id, job_id).await? {
            Some(job) => self.settle(job, None).await,
            None => Ok(()),
        }
    }

    /// Sends the job's next units, as many as its share of the queue allows, and records
    /// how far it got. Sent first, recorded after: a worker dying in between only makes the
    /// next top-up send the same units again, which exactly-once counting makes harmless.
    async fn top_up(&self, job: &Job, also_settled: &[Unit]) -> Result<(), SyncError> {
        let (units, sent) = job.units_to_send(also_settled);
        if sent == job.units_sent {
            return Ok(());
        }
        self.enqueue(job, &units).await?;
        self.store.record_units_sent(job, sent).await?;
        Ok(())
    }

    async fn enqueue(&self, job: &Job, units: &[Unit]) -> Result<(), SyncError> {
        let messages: Vec<WorkMessage> = units.iter().map(|&u| unit_message(job, u)).collect();
        self.queues.send_work(&messages).await?;
        Ok(())
    }

    pub async fn run(&self, message: WorkMessage, receive_count: u32) -> Result<(), SyncError> {
        match message {
            WorkMessage::Unit {
                user_id,
                job_id,
                unit,
            } => {
                let unit = Unit::from_id(unit);
                let outcome = self.run_unit(&user_id, &job_id, unit, receive_count).await;
                match outcome {
                    // Last.fm and Spotify errors on the last attempt are settled where they
                    // happen, except in the finishing step, whose reads (chains, spans read
                    // again) have no unit of their own to fail.
                    Err(e)
                        if (unit == Unit::Finalize
                            || !matches!(e, SyncError::Lastfm(_) | SyncError::Spotify(_)))
                            && receive_count >= self.max_receives =>
                    {
                        self.give_up_unit(&user_id, &job_id, unit, &e, receive_count)
                            .await?;
                        Err(e)
                    }
                    other => other,
                }
            }
            WorkMessage::Sweep {
                user_id,
                job_id,
                target,
                cursor,
            } => self.sweep(&user_id, &job_id, target, cursor).await,
            WorkMessage::Erase {
                user_id,
                erase_id,
                pass,
                started_at,
                cursor,
            } => {
                let pass = crate::account::erase::ErasePass {
                    user_id: &user_id,
                    erase_id: &erase_id,
                    pass,
                    started_at,
                    cursor: cursor.as_deref(),
                };
                crate::account::erase::continue_erase(&self.store, &self.queues, pass, now_secs())
                    .await
                    .map_err(SyncError::from)
            }
        }
    }

    /// A unit's message is about to go to the dead-letter queue for a reason of our own (the
    /// store kept refusing it): count the unit as failed so the job ends `partial`, resumable
    /// by the next sync, instead of waiting for it forever.
    async fn give_up_unit(
        &self,
        user_id: &str,
        job_id: &str,
        unit: Unit,
        error: &SyncError,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let Some(job) = self.store.get_job(user_id, job_id).await? else {
            return Ok(());
        };
        if job.status != JobStatus::Running {
            return Ok(());
        }
        let message = format!(
            "{} could not be saved after {receive_count} attempts; sync again to finish it.",
            unit.describe(&job.plan)
        );
        self.record_unit_failed(&job, unit, &message, error, now_secs())
            .await
    }

    /// Counts a unit as failed on the job (once) and settles the job, which may end it.
    async fn record_unit_failed(
        &self,
        job: &Job,
        unit: Unit,
        message: &str,
        error: &dyn std::fmt::Display,
        now: i64,
    ) -> Result<(), SyncError> {
        warn!(job_id = %job.job_id, unit = unit.id(), error = %error, "unit exhausted its retries");
        if let Some(updated) = self
            .store
            .mark_page_failed(job, unit.id(), message, now)
            .await?
        {
            self.settle(updated, Some(unit)).await?;
        }
        Ok(())
    }

    async fn run_unit(
        &self,
        user_id: &str,
        job_id: &str,
        unit: Unit,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        // A scrobble page's ledger entry is read alongside the job rather than after it: the
        // two reads are independent, and every page pays this round trip before its fetch.
        let (job, recorded) = match unit {
            Unit::Scrobbles(page) => tokio::try_join!(
                self.store.get_job(user_id, job_id),
                self.store.get_ledger_page(user_id, job_id, page)
            )?,
            _ => (self.store.get_job(user_id, job_id).await?, None),
        };
        let Some(job) = job else {
            warn!(
                user_id,
                job_id,
                unit = unit.id(),
                "unit for a job that does not exist; dropping"
            );
            return Ok(());
        };
        if job.status != JobStatus::Running {
            info!(
                job_id,
                unit = unit.id(),
                status = job.status.as_str(),
                "job not running; dropping unit"
            );
            return Ok(());
        }
        if job.done_pages.contains(&unit.id()) {
            // A redelivery after the unit was counted; finish the job if a crash interrupted that.
            return self.settle(job, Some(unit)).await;
        }
        let user = job.lastfm_user.clone();
        match unit {
            Unit::Scrobbles(page) => {
                let (window, page_in_window) = job.locate(page);
                let read = match recorded {
                    Some(recorded) => recorded,
                    None => match self
                        .lastfm
                        .recent_tracks(&user, page_in_window, window)
                        .await
                    {
                        Ok(fetched) => PageRead {
                            rows: fetched.scrobbles,
                            total: Some(fetched.total),
                        },
                        Err(e) => {
                            return self.fetch_failed(&job, Some(unit), e, receive_count).await
                        }
                    },
                };
                self.apply_scrobbles(&job, page, read, Some(unit)).await
            }
            Unit::Artists(page) => match self.lastfm.top_artists(&user, page).await {
                Ok(fetched) => self.apply_artists(&job, page, fetched, Some(unit)).await,
                Err(e) => self.fetch_failed(&job, Some(unit), e, receive_count).await,
            },
            Unit::Loved(page) => match self.lastfm.loved_tracks(&user, page).await {
                Ok(fetched) => self.apply_loved(&job, page, fetched, Some(unit)).await,
                Err(e) => self.fetch_failed(&job, Some(unit), e, receive_count).await,
            },
            Unit::Spotify(index) => self.run_spotify(&job, index, receive_count).await,
            // Runs as soon as the last scrobble page is counted; settling does it (or notes
            // that pages are still missing).
            Unit::Finalize => self.settle(job, Some(unit)).await,
        }
    }

    /// Records the page in the job's ledger, then counts it on the job. Its scrobbles reach
    /// the user's tracks in the finishing step, which folds every page of the job at once:
    /// a heavy history holds ~4 scrobbles per distinct track, so one write per track instead
    /// of one per page it appears on, and no two pages racing for the same hot track.
    async fn apply_scrobbles(
        &self,
        job: &Job,
        page: u32,
        read: PageRead,
        by: Option<Unit>,
    ) -> Result<(), SyncError> {
        let recorded = self
            .store
            .record_ledger_page(&job.user_id, &job.job_id, page, read)
            .await?;
        self.count_unit(job, Unit::Scrobbles(page), recorded.rows.len() as u64, by)
            .await
    }

    /// Counts a unit on the job. Only the finishing step adds tracks to the generation, and it
    /// counts itself (`finalize`), so a unit counted here adds none. `by`: the message doing
    /// the work (None: the job's start, which applies first pages itself), which claims the
    /// finishing step if this completes the scrobbles; a redelivery of the same message then
    /// takes its own claim back at once.
    pub(super) async fn count_unit(
        &self,
        job: &Job,
        unit: Unit,
        scrobbles: u64,
        by: Option<Unit>,
    ) -> Result<(), SyncError> {
        let counted = self
            .store
            .mark_page_done(job, unit.id(), scrobbles, 0, now_secs())
            .await?;
        match counted {
            Some(updated) => self.settle(updated, by).await,
            None => Ok(()),
        }
    }

    /// Sets Last.fm's playcount and rank on each artist row of the page. Values are set, not
    /// added, so a repeated page changes nothing.
    async fn apply_artists(
        &self,
        job: &Job,
        page: u32,
        fetched: TopArtistsPage,
        by: Option<Unit>,
    ) -> Result<(), SyncError> {
        // Two Last.fm spellings of one artist (by our folding) share a row: plays add up,
        // the better rank stays.
        let mut by_key: BTreeMap<String, LastfmArtist> = BTreeMap::new();
        for a in fetched.artists {
            let key = artist_key(&a.name);
            by_key
                .entry(key.clone())
                .and_modify(|e| {
                    e.playcount += a.playcount;
                    e.rank = e.rank.min(a.rank);
                })
                .or_insert(LastfmArtist {
                    key,
                    name: a.name,
                    playcount: a.playcount,
                    rank: a.rank,
                });
        }
        let keys: Vec<String> = by_key.keys().cloned().collect();
        self.store
            .record_list_seen(
                &job.user_id,
                &job.job_id,
                ListName::Artists,
                page,
                &keys,
                now_secs(),
            )
            .await?;
        let current = self.store.get_artists(&job.user_id, &keys).await?;
        // A refresh moves few ranks; rows that already say the same are left alone.
        let changed: Vec<(&LastfmArtist, Option<&ArtistRow>)> = by_key
            .values()
            .filter(|a| !current.get(&a.key).is_some_and(|row| a.already_on(row)))
            .map(|a| (a, current.get(&a.key)))
            .collect();
        stream::iter(changed.chunks(TRANSACTION_ITEMS))
            .map(|chunk| self.write_artists(job, chunk))
            .buffer_unordered(TRANSACTION_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        self.count_unit(job, Unit::Artists(page), 0, by).await
    }

    /// Writes a slice of artist rows in one transaction; when another writer moved one of
    /// them, the slice goes row by row instead, each re-read when its check fails.
    async fn write_artists(
        &self,
        job: &Job,
        chunk: &[(&LastfmArtist, Option<&ArtistRow>)],
    ) -> Result<(), StoreError> {
        if self
            .store
            .write_lastfm_artists(&job.user_id, chunk, &job.job_id)
            .await?
        {
            return Ok(());
        }
        stream::iter(chunk)
            .map(|(artist, existing)| self.write_artist(job, artist, existing.cloned()))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_artist(
        &self,
        job: &Job,
        artist: &LastfmArtist,
        mut existing: Option<crate::store::library::ArtistRow>,
    ) -> Result<(), StoreError> {
        for _ in 0..25 {
            match self
                .store
                .write_lastfm_artist(&job.user_id, artist, existing.as_ref(), &job.job_id)
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => {
                    existing = self.store.get_artist(&job.user_id, &artist.key).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn apply_loved(
        &self,
        job: &Job,
        page: u32,
        fetched: LovedTracksPage,
        by: Option<Unit>,
    ) -> Result<(), SyncError> {
        let entries: Vec<LovedEntry> = fetched
            .tracks
            .into_iter()
            .map(|t| LovedEntry {
                track_key: TrackIdentity::of(&t.artist, &t.title).key(),
                artist: t.artist,
                title: t.title,
                loved_uts: t.loved_at,
            })
            .collect();
        let keys: Vec<String> = entries.iter().map(|e| e.track_key.clone()).collect();
        self.store
            .record_list_seen(
                &job.user_id,
                &job.job_id,
                ListName::Loved,
                page,
                &keys,
                now_secs(),
            )
            .await?;
        let unchanged = self.store.unchanged_loved(&job.user_id, &entries).await?;
        stream::iter(entries.iter().filter(|e| !unchanged.contains(&e.track_key)))
            .map(|entry| self.store.put_loved(&job.user_id, entry, &job.job_id))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        self.count_unit(job, Unit::Loved(page), 0, by).await
    }

    /// Applies one unit of work's deltas (a full sync's or rebuild's whole job, or the
    /// difference an incremental sync found) to the stored tracks; returns how many tracks
    /// the unit added to the generation.
    ///
    /// Tracks go out in transactions of up to 100 version-checked puts. Optimistic
    /// concurrency: a transaction another writer got in the way of is retried after
    /// re-reading only the tracks that changed, and a (job, unit) already applied to a track is
    /// never applied again, so retries and concurrent duplicates count once.
    ///
    /// A track that lost a race once is written on its own from then on: in a shared
    /// transaction each collision would cancel the other 99 writes with it. No write depends
    /// on another track's, so splitting them changes nothing but the request count.
    pub(super) async fn apply_deltas(
        &self,
        user_id: &str,
        deltas: &[TrackDelta],
        op: Op<'_>,
    ) -> Result<u64, StoreError> {
        let keys: Vec<String> = deltas.iter().map(|d| d.key.clone()).collect();
        let mut current = self.store.get_tracks(user_id, &keys).await?;
        let mut pending: Vec<&TrackDelta> = deltas.iter().collect();
        let mut entered = 0u64;
        let mut contested: std::collections::HashSet<String> = Default::default();
        for round in 0..MAX_WRITE_ROUNDS {
            let mut writes: Vec<TrackWrite> = Vec::new();
            for delta in &pending {
                let stored = current.get(&delta.key).cloned().unwrap_or_default();
                match merge(stored.lastfm.as_ref(), delta, op) {
                    Merge::AlreadyApplied => {
                        if stored.lastfm.as_ref().is_some_and(|t| t.entered_by(op)) {
                            entered += 1;
                        }
                    }
                    Merge::Write(mut next) => {
                        next.version = stored.version + 1;
                        writes.push(TrackWrite {
                            track: *next,
                            base: stored.item,
                        });
                    }
                }
            }
            let (alone, shared): (Vec<TrackWrite>, Vec<TrackWrite>) = writes
                .into_iter()
                .partition(|w| contested.contains(&w.track.key));
            let concurrency = if alone.is_empty() {
                TRANSACTION_CONCURRENCY
            } else {
                WRITE_CONCURRENCY
            };
            let outcomes: Vec<(&[TrackWrite], Vec<usize>)> =
                stream::iter(shared.chunks(TRANSACTION_ITEMS).chain(alone.chunks(1)))
                    .map(|chunk| async move {
                        let conflicted = self.store.write_tracks(user_id, chunk).await?;
                        Ok::<_, StoreError>((chunk, conflicted))
                    })
                    .buffer_unordered(concurrency)
                    .try_collect()
                    .await?;
            let mut again: Vec<String> = Vec::new();
            let mut reread: Vec<String> = Vec::new();
            for (chunk, conflicted) in outcomes {
                if conflicted.is_empty() {
                    entered += chunk.iter().filter(|w| w.track.entered_by(op)).count() as u64;
                    continue;
                }
                // Nothing of a cancelled transaction was written: all of it goes again, and
                // only the tracks whose check failed need reading.
                again.extend(chunk.iter().map(|w| w.track.key.clone()));
                reread.extend(conflicted.iter().map(|&i| chunk[i].track.key.clone()));
            }
            if again.is_empty() {
                return Ok(entered);
            }
            contested.extend(reread.iter().cloned());
            let fresh = self.store.get_tracks(user_id, &reread).await?;
            for key in reread {
                let stored = fresh.get(&key).cloned().unwrap_or_default();
                current.insert(key, stored);
            }
            pending = deltas.iter().filter(|d| again.contains(&d.key)).collect();
            tokio::time::sleep(super::backoff::conflict_pause(
                round,
                super::backoff::jitter_seed(),
            ))
            .await;
        }
        Err(StoreError::Conflict)
    }

    async fn fetch_failed(
        &self,
        job: &Job,
        unit: Option<Unit>,
        error: LastfmError,
        receive_count: u32,
    ) -> Result<(), SyncError> {
        let now = now_secs();
        if error.disposition() == Disposition::Permanent {
            warn!(job_id = %job.job_id, unit = ?unit, error = %error, "permanent Last.fm error; failing job");
            self.store.fail_job(job, &error.user_message(), now).await?;
            self.store
                .release_sync_lock(&job.user_id, &job.job_id)
                .await?;
            return Ok(());
        }
        if receive_count < self.max_receives {
            return Err(SyncError::Lastfm(error));
        }
        match unit {
            Some(unit) => {
                let message = format!(
                    "{} could not be fetched after {receive_count} attempts: {}",
                    unit.describe(&job.plan),
                    error.user_message()
                );
                self.record_unit_failed(job, unit, &message, &error, now)
                    .await?;
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

    pub(super) async fn settle_public(&self, job: Job, by: Option<Unit>) -> Result<(), SyncError> {
        self.settle(job, by).await
    }

    /// Ends the job once every unit is counted or given up on. Safe to call repeatedly.
    /// `by`: the unit whose message led here (none for a job's start), which claims the
    /// finishing step when it is due.
    async fn settle(&self, mut job: Job, by: Option<Unit>) -> Result<(), SyncError> {
        let Some(total) = job.pages_total else {
            return Ok(());
        };
        if job.status == JobStatus::Running {
            // Every settled unit makes room for the job's next one.
            self.top_up(&job, &[]).await?;
        }
        let finalize_id = Unit::Finalize.id();
        let finalize_pending =
            |j: &Job| j.plan.finalize > 0 && !j.done_pages.contains(&finalize_id);
        if finalize_pending(&job) && job.status == JobStatus::Running && job.scrobbles_done() {
            // Every unit that lands after the last scrobble page gets here; without the claim
            // each would run the (idempotent, but for a big history minutes-long) step at once.
            let claimer = by.map_or_else(|| "start".to_string(), |u| u.id().to_string());
            if !self
                .store
                .claim_finalize(&job, &claimer, now_secs(), FINALIZE_LEASE_SECS)
                .await?
            {
                info!(job_id = %job.job_id, claimer, "finishing step is claimed by another unit");
                if by == Some(Unit::Finalize) {
                    // The holder may have died mid-step, and its own message may not come back
                    // for a long time (the queue's visibility timeout): come back when its
                    // lease has run out, so the step always has a message that will run it.
                    let again = unit_message(&job, Unit::Finalize);
                    self.queues
                        .send_work_delayed(&again, FINALIZE_LEASE_SECS as i32 + 5)
                        .await?;
                }
                return Ok(());
            }
            job = self.finalize(job).await?;
        }
        // Pages that failed for good keep the finishing step from running: it waits for the
        // resumed job, and this one ends partial.
        let blocked = finalize_pending(&job)
            && job
                .failed_pages
                .iter()
                .any(|&p| p <= job.plan.scrobble_pages);
        let settled = (job.done_pages.len() + job.failed_pages.len()) as u32 + u32::from(blocked);
        if job.status != JobStatus::Running || settled < total {
            return Ok(());
        }
        if let Some(pages) = job.pages_to_fold_early() {
            job = self.fold_early(job, &pages).await?;
        }
        let now = now_secs();
        let status = if job.failed_pages.is_empty() {
            if !job.lastfm_user.is_empty() {
                self.store.record_lastfm_sync(&job, now).await?;
            }
            JobStatus::Done
        } else {
            JobStatus::Partial
        };
        if job.plan.spotify_lists > 0 {
            use crate::store::spotify_lists::ListKind;
            let tracks = self
                .store
                .spotify_distinct(&job.user_id, ListKind::Tracks)
                .await?;
            let artists = self
                .store
                .spotify_distinct(&job.user_id, ListKind::Artists)
                .await?;
            self.store
                .record_spotify_sync(&job.user_id, tracks, artists, now)
                .await?;
        }
        if let Some(finished) = self.store.finish_job(&job, status, now).await? {
            info!(
                job_id = %finished.job_id,
                status = status.as_str(),
                units = total,
                scrobbles = finished.scrobbles_done,
                seconds = now - finished.started_at.unwrap_or(now),
                "job finished"
            );
            if status == JobStatus::Done {
                let sweeps = finished.sweeps();
                let messages: Vec<WorkMessage> = sweeps
                    .into_iter()
                    .map(|target| WorkMessage::Sweep {
                        user_id: finished.user_id.clone(),
                        job_id: finished.job_id.clone(),
                        target,
                        cursor: None,
                    })
                    .collect();
                self.queues.send_work(&messages).await?;
            }
        }
        self.store
            .release_sync_lock(&job.user_id, &job.job_id)
            .await?;
        Ok(())
    }

    /// Removes what a completed refresh did not see, a batch at a time: tracks of an older
    /// generation, artists that left Last.fm's top list, tracks no longer loved.
    async fn sweep(
        &self,
        user_id: &str,
        job_id: &str,
        target: SweepTarget,
        cursor: Option<String>,
    ) -> Result<(), SyncError> {
        let Some(job) = self.store.get_job(user_id, job_id).await? else {
            return Ok(());
        };
        let start = cursor
            .as_deref()
            .map(crate::cursor::decode_key)
            .transpose()?;
        let next = match target {
            SweepTarget::Tracks => {
                let current = self.store.get_lastfm_service(user_id).await?;
                if current.and_then(|s| s.generation).as_deref() != Some(job.generation.as_str()) {
                    // A newer full sync (or a disconnect) superseded this one.
                    return Ok(());
                }
                let (stale, next) = self
                    .store
                    .stale_tracks(user_id, &job.generation, start)
                    .await?;
                stream::iter(stale.iter())
                    .map(|key| self.store.delete_stale_track(user_id, key, &job.generation))
                    .buffer_unordered(WRITE_CONCURRENCY)
                    .try_collect::<Vec<()>>()
                    .await?;
                next
            }
            SweepTarget::LastfmArtists => {
                if self.superseded(user_id, &job).await? {
                    return Ok(());
                }
                let (candidates, next) = self
                    .store
                    .stale_lastfm_artists(user_id, job_id, start)
                    .await?;
                let seen = self
                    .store
                    .list_seen(user_id, job_id, ListName::Artists)
                    .await?;
                let stale: Vec<_> = candidates
                    .into_iter()
                    .filter(|row| !seen.contains(&row.key))
                    .collect();
                stream::iter(stale.iter())
                    .map(|row| self.store.drop_lastfm_artist(user_id, row))
                    .buffer_unordered(WRITE_CONCURRENCY)
                    .try_collect::<Vec<()>>()
                    .await?;
                next
            }
            SweepTarget::Loved => {
                if self.superseded(user_id, &job).await? {
                    return Ok(());
                }
                let (candidates, next) = self.store.stale_loved(user_id, job_id, start).await?;
                let seen = self
                    .store
                    .list_seen(user_id, job_id, ListName::Loved)
                    .await?;
                let stale: Vec<_> = candidates
                    .into_iter()
                    .filter(|key| !seen.contains(key))
                    .collect();
                stream::iter(stale.iter())
                    .map(|key| self.store.drop_loved(user_id, key))
                    .buffer_unordered(WRITE_CONCURRENCY)
                    .try_collect::<Vec<()>>()
                    .await?;
                next
            }
        };
        if let Some(next) = next {
            self.queues
                .send_work(&[WorkMessage::Sweep {
                    user_id: user_id.to_string(),
                    job_id: job_id.to_string(),
                    target,
                    cursor: Some(crate::cursor::encode_key(&next)),
                }])
                .await?;
        }
        Ok(())
    }

    /// A later job has run since: its own sweep is the one that counts.
    async fn superseded(&self, user_id: &str, job: &Job) -> Result<bool, SyncError> {
        let latest = self.store.latest_job(user_id).await?;
        Ok(latest.is_some_and(|l| l.job_id != job.job_id))
    }
}
