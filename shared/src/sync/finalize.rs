//! The step after a job's last scrobble page: a full sync (or a rebuild) folds all its pages
//! into the user's tracks at once, and a full sync stores them as the user's scrobble
//! archive; an incremental sync compares each re-read window with the archive and applies
//! exactly the difference (late scrobbles up, deleted ones down). Also the reconciliation
//! checks that decide which past windows to re-read.
//!
//! Safe to run twice or concurrently: the diff is recorded once before anything is applied,
//! track writes are guarded per (job, unit), and the archive is rewritten from the same
//! inputs to the same contents.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::info;

use super::aggregate::{aggregate, aggregate_pages, display_order, Op, TrackDelta};
use super::archive::{self, WindowDiff};
use super::engine::Engine;
use super::job::{Job, JobKind, PlannedWindow, Repair, Unit};
use super::reader::{self, Next, PageRead};
use super::SyncError;
use crate::clock::now_secs;
use crate::lastfm::{RateGate, Scrobble, Window, PAGE_LIMIT};
use crate::normalize::TrackIdentity;
use crate::store::archive::ArchiveIndex;
use crate::store::tracks::TrackWrite;
use crate::store::StoreError;

const CHECK_CONCURRENCY: usize = 4;
/// Ledger ids of the finishing step's own Last.fm reads start here, above every unit id.
const READ_SLOTS: u32 = 5_000_000;
/// The op under which a full sync that counted its raw pages early applies the difference
/// its exact read found.
const CORRECTIONS_OP: u32 = 4_500_000;
/// Tracks read and written together when a job's pages are folded: 20 reads and 20
/// transactions of 100, a few hundred KB of items held at a time.
const FOLD_SLICE: usize = 2_000;
/// Slices in flight at once; each runs its transactions four at a time.
const FOLD_SLICE_CONCURRENCY: usize = 2;

/// What a full sync's (or a rebuild's) finishing step counts into the tracks. Normally one
/// fold of every page. A job that ended partial once had already folded the pages it had
/// then (`folded_pages`): that fold is run again, which completes it if it was cut short and
/// writes nothing otherwise, and each page that came in after it counts as its own unit of
/// work, so whatever happened before, every page is counted once.
struct PageCounts {
    fold: Vec<TrackDelta>,
    late: Vec<(u32, Vec<TrackDelta>)>,
}

impl PageCounts {
    fn of(job: &Job, pages: &BTreeMap<u32, Vec<Scrobble>>) -> Self {
        if job.folded_pages.is_empty() {
            return PageCounts {
                fold: aggregate_pages(pages),
                late: vec![],
            };
        }
        let (early, late): (Vec<_>, Vec<_>) = pages
            .iter()
            .partition(|(page, _)| job.folded_pages.contains(page));
        PageCounts {
            fold: aggregate_pages(early),
            late: late
                .into_iter()
                .map(|(&page, rows)| (page, aggregate(rows, page)))
                .collect(),
        }
    }
}

impl<G: RateGate> Engine<G> {
    /// The archived scrobbles inside a window.
    pub(super) async fn counted_in(
        &self,
        user_id: &str,
        window: Window,
    ) -> Result<Vec<Scrobble>, StoreError> {
        let from = window.from.unwrap_or(0);
        let to = window.to.unwrap_or(i64::MAX / 2);
        let index = self.store.archive_index(user_id).await?;
        let mut rows = Vec::new();
        for month in archive::months_overlapping(from, to) {
            if !index.months.contains_key(&month) {
                continue;
            }
            let parts = index.months[&month].parts;
            let month_rows = self.store.archive_month(user_id, &month, parts).await?;
            rows.extend(
                month_rows
                    .into_iter()
                    .filter(|s| archive::in_window(s.uts, window)),
            );
        }
        Ok(rows)
    }

    /// Our count for a window: whole months from the index, a partial month from its rows.
    async fn counted_total(
        &self,
        user_id: &str,
        index: &ArchiveIndex,
        window: Window,
    ) -> Result<u64, StoreError> {
        let (from, to) = (window.from.unwrap_or(0), window.to.unwrap_or(i64::MAX / 2));
        let mut total = 0;
        for (month, info) in &index.months {
            let (Some(start), Some(end)) = (archive::month_start(month), archive::month_end(month))
            else {
                continue;
            };
            if end <= from || start >= to {
                continue;
            }
            if start >= from && end <= to {
                total += info.n;
            } else {
                let rows = self.store.archive_month(user_id, month, info.parts).await?;
                total += rows
                    .iter()
                    .filter(|s| archive::in_window(s.uts, window))
                    .count() as u64;
            }
        }
        Ok(total)
    }

    /// Past windows (before the trailing window) where Last.fm's count differs from ours:
    /// years first, then the months of a year that disagrees. Months come back as windows to
    /// re-read; a difference before the archive's first month re-reads that whole span.
    pub(super) async fn reconcile_windows(
        &self,
        job: &Job,
    ) -> Result<Vec<PlannedWindow>, SyncError> {
        let index = self.store.archive_index(&job.user_id).await?;
        let boundary = job.window.from.unwrap_or(0);
        let first = index
            .months
            .keys()
            .next()
            .and_then(|m| archive::month_start(m))
            .unwrap_or(boundary)
            .min(boundary);
        let mut checks: Vec<(String, Window, bool)> = vec![(
            "before".into(),
            Window {
                from: Some(0),
                to: Some(first),
            },
            false,
        )];
        checks.extend(
            archive::year_windows(first, boundary)
                .into_iter()
                .map(|(label, w)| (label, w, true)),
        );
        let mismatched = self.compare(job, &index, checks).await?;
        let mut month_checks = Vec::new();
        let mut found = Vec::new();
        for (label, window, is_year, lastfm) in mismatched {
            if is_year {
                let (from, to) = (window.from.unwrap_or(0), window.to.unwrap_or(boundary));
                month_checks.extend(
                    archive::month_windows(&label, from, to)
                        .into_iter()
                        .map(|(m, w)| (m, w, false)),
                );
            } else {
                found.push(planned(label, window, lastfm));
            }
        }
        for (label, window, _, lastfm) in self.compare(job, &index, month_checks).await? {
            found.push(planned(label, window, lastfm));
        }
        info!(job_id = %job.job_id, windows = found.len(), "reconciliation checked past windows");
        Ok(found)
    }

    /// The checks whose counts differ, with Last.fm's count.
    async fn compare(
        &self,
        job: &Job,
        index: &ArchiveIndex,
        checks: Vec<(String, Window, bool)>,
    ) -> Result<Vec<(String, Window, bool, u64)>, SyncError> {
        let results: Vec<Option<(String, Window, bool, u64)>> = stream::iter(checks)
            .map(|(label, window, is_year)| async move {
                let lastfm = self.lastfm.window_total(&job.lastfm_user, window).await?;
                let ours = self.counted_total(&job.user_id, index, window).await?;
                Ok::<_, SyncError>((lastfm != ours).then_some((label, window, is_year, lastfm)))
            })
            .buffered(CHECK_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results.into_iter().flatten().collect())
    }

    /// Runs the finishing step once every scrobble page is counted; returns the job as it
    /// stands afterwards.
    pub(super) async fn finalize(&self, job: Job) -> Result<Job, SyncError> {
        let reads = self
            .store
            .ledger_reads(&job.user_id, &job.job_id, job.plan.scrobble_pages)
            .await?;
        if (1..=job.plan.scrobble_pages).any(|p| !reads.contains_key(&p)) {
            return Err(StoreError::Corrupt(format!(
                "job {} is missing ledger pages before its finishing step",
                job.job_id
            ))
            .into());
        }
        // The raw pages, for the paths that count them as they are (kept apart only there:
        // a heavy history's pages are ~100 MB in memory).
        let raw = |reads: &BTreeMap<u32, PageRead>| -> BTreeMap<u32, Vec<Scrobble>> {
            reads
                .iter()
                .map(|(&page, read)| (page, read.rows.clone()))
                .collect()
        };
        let mut reads = reads;
        let mut slot = 0;
        let added = match job.kind {
            // A full sync from before windows were planned: one window read by page number.
            JobKind::Full if job.windows.is_empty() => {
                let pages = raw(&reads);
                let rows: Vec<Scrobble> = pages.values().flatten().cloned().collect();
                self.store_full(&job, &PageCounts::of(&job, &pages), rows)
                    .await?
            }
            JobKind::Full => {
                let early = (!job.folded_pages.is_empty()).then(|| raw(&reads));
                let mut rows = Vec::new();
                let mut history = None;
                for (planned, range) in job.window_pages() {
                    let read = self
                        .window_rows(&job, &mut slot, &planned, range, &mut reads)
                        .await?;
                    if planned.label == reader::HISTORY {
                        history = Some((planned.window, read.len() as u64));
                    }
                    rows.extend(read);
                }
                // What the pages hold, taken exactly: a job that already counted its raw
                // pages early corrects them by the difference; otherwise the exact rows are
                // what is counted.
                let (counts, corrections) = match &early {
                    None => (
                        PageCounts {
                            fold: aggregate(&rows, 1),
                            late: vec![],
                        },
                        WindowDiff::default(),
                    ),
                    Some(pages) => {
                        let flat: Vec<Scrobble> = pages.values().flatten().cloned().collect();
                        (PageCounts::of(&job, pages), archive::diff(&flat, &rows))
                    }
                };
                let added = self.store_full(&job, &counts, rows).await?;
                let corrected = self.apply_corrections(&job, &corrections).await?;
                if let Some((window, counted)) = history {
                    self.closing_count(&job, &mut slot, window, counted).await?;
                }
                added + corrected
            }
            // The archive is what a rebuild's pages came from; it stays as it is.
            JobKind::Rebuild => {
                self.count_pages(&job, &PageCounts::of(&job, &raw(&reads)))
                    .await?
            }
            JobKind::Incremental => self.apply_windows(&job, &mut slot, &mut reads).await?,
        };
        let counted = self
            .store
            .mark_page_done(&job, Unit::Finalize.id(), 0, added, now_secs())
            .await?;
        match counted {
            Some(updated) => Ok(updated),
            None => Ok(self
                .store
                .get_job(&job.user_id, &job.job_id)
                .await?
                .unwrap_or(job)),
        }
    }

    /// Counts a full sync's rows into the tracks while storing them as the archive.
    async fn store_full(
        &self,
        job: &Job,
        counts: &PageCounts,
        rows: Vec<Scrobble>,
    ) -> Result<i64, SyncError> {
        let months = archive::by_month(rows);
        // Neither reads what the other writes, so the archive goes out while the tracks are
        // being written.
        let (added, index) = tokio::try_join!(self.count_pages(job, counts), async {
            Ok::<_, SyncError>(self.store.replace_archive(&job.user_id, months).await?)
        })?;
        info!(job_id = %job.job_id, months = index.months.len(), scrobbles = index.total(), "archive stored");
        Ok(added)
    }

    /// Applies what a full sync's exact read changed against the raw pages it had already
    /// counted early (a job that once ended partial); returns the change in tracks.
    async fn apply_corrections(&self, job: &Job, diff: &WindowDiff) -> Result<i64, SyncError> {
        if diff.is_empty() {
            return Ok(0);
        }
        let deltas = archive::deltas(diff);
        let op = Op {
            job: &job.job_id,
            generation: &job.generation,
            op: CORRECTIONS_OP,
        };
        let entered = self.apply_deltas(&job.user_id, &deltas, op).await?;
        let dropped = self.drop_emptied(&job.user_id, &deltas).await?;
        let shrunk = deltas
            .iter()
            .filter(|d| d.removed > 0)
            .map(|d| d.key.clone())
            .collect();
        self.refresh_bounds(&job.user_id, shrunk).await?;
        Ok(entered as i64 - dropped)
    }

    /// Tracks a removal left without plays lose their Last.fm part; returns how many.
    async fn drop_emptied(&self, user_id: &str, deltas: &[TrackDelta]) -> Result<i64, SyncError> {
        let emptied: Vec<bool> = stream::iter(deltas.iter().filter(|d| d.removed > 0))
            .map(|d| self.store.drop_unplayed_track(user_id, &d.key))
            .buffer_unordered(8)
            .try_collect()
            .await?;
        Ok(emptied.into_iter().filter(|d| *d).count() as i64)
    }

    /// After a full sync, Last.fm's count for its history window once more. A scrobble
    /// deleted after its page was read is still in what the sync counted: then the job says
    /// so (a repair the next sync's reconciliation finds and applies), and the sync does not
    /// count as a reconciliation.
    async fn closing_count(
        &self,
        job: &Job,
        slot: &mut u32,
        window: Window,
        counted: u64,
    ) -> Result<(), SyncError> {
        let id = next_slot(slot);
        let lastfm = match self
            .store
            .get_ledger_page(&job.user_id, &job.job_id, id)
            .await?
        {
            Some(read) => read.total,
            None => {
                let total = self.lastfm.window_total(&job.lastfm_user, window).await?;
                let read = PageRead {
                    rows: vec![],
                    total: Some(total),
                };
                self.store
                    .record_ledger_page(&job.user_id, &job.job_id, id, read)
                    .await?
                    .total
            }
        };
        let Some(lastfm) = lastfm.filter(|&t| t != counted) else {
            return Ok(());
        };
        info!(job_id = %job.job_id, lastfm, counted, "history changed after it was read; left to reconciliation");
        let repair = Repair {
            window: reader::HISTORY.into(),
            lastfm,
            counted,
            added: 0,
            removed: 0,
        };
        self.store.set_job_repairs(job, &[repair]).await?;
        Ok(())
    }

    /// One answer of the finishing step's own reads, recorded in the ledger like a page so a
    /// finishing step run again replays it. Reads are numbered in the order they are made,
    /// which is the same on every run: each depends only on the ledger and earlier reads.
    async fn read_slot(
        &self,
        job: &Job,
        slot: &mut u32,
        window: Window,
        page: u32,
    ) -> Result<PageRead, SyncError> {
        let id = next_slot(slot);
        if let Some(read) = self
            .store
            .get_ledger_page(&job.user_id, &job.job_id, id)
            .await?
        {
            return Ok(read);
        }
        let fetched = self
            .lastfm
            .recent_tracks(&job.lastfm_user, page, window)
            .await?;
        if page == 1 && fetched.scrobbles.is_empty() && fetched.total > 0 {
            // Recorded, this answer would be replayed on every retry and its rows lost.
            return Err(crate::lastfm::LastfmError::Malformed {
                detail: format!("page 1 listed no scrobbles of {}", fetched.total),
            }
            .into());
        }
        let read = PageRead {
            rows: fetched.scrobbles,
            total: Some(fetched.total),
        };
        Ok(self
            .store
            .record_ledger_page(&job.user_id, &job.job_id, id, read)
            .await?)
    }

    /// Reads a window as spans of fixed bounds, each from one answer (see sync::reader);
    /// `first` is page 1's answer when a unit already has it.
    async fn chain(
        &self,
        job: &Job,
        slot: &mut u32,
        window: Window,
        first: Option<PageRead>,
    ) -> Result<Vec<Scrobble>, SyncError> {
        let mut rows = Vec::new();
        let mut current = window;
        let mut answer = match first {
            Some(read) => read,
            None => self.read_slot(job, slot, current, 1).await?,
        };
        loop {
            let (taken, next) = reader::chain_step(current, &answer);
            rows.extend(taken);
            match next {
                Next::Done => return Ok(rows),
                Next::Window(narrower) => current = narrower,
                Next::DenseSecond(second) => {
                    let one = Window {
                        from: Some(second),
                        to: Some(second + 1),
                    };
                    for page in 1.. {
                        let read = self.read_slot(job, slot, one, page).await?;
                        let got = read.rows.len();
                        rows.extend(read.rows);
                        let seen = u64::from(page) * u64::from(PAGE_LIMIT);
                        if got == 0 || read.total.is_none_or(|t| seen >= t) {
                            break;
                        }
                    }
                    current = reader::below(current, second);
                }
            }
            answer = self.read_slot(job, slot, current, 1).await?;
        }
    }

    /// A planned window's rows, exactly: the trailing window by chain from its first page;
    /// any other window (it can only shrink) from its pages, with the spans where neighbouring
    /// pages disagree read again.
    async fn window_rows(
        &self,
        job: &Job,
        slot: &mut u32,
        planned: &PlannedWindow,
        range: std::ops::Range<u32>,
        reads: &mut BTreeMap<u32, PageRead>,
    ) -> Result<Vec<Scrobble>, SyncError> {
        // Each page belongs to one window: it is moved out, not copied.
        let pages: BTreeMap<u32, PageRead> = range
            .enumerate()
            .filter_map(|(i, p)| reads.remove(&p).map(|r| (i as u32 + 1, r)))
            .collect();
        if planned.label == reader::RECENT {
            let first = pages.get(&1).cloned();
            return self.chain(job, slot, planned.window, first).await;
        }
        let spans = reader::unsettled(planned.window, &pages, planned.pages, PAGE_LIMIT);
        if !spans.is_empty() {
            info!(job_id = %job.job_id, window = %planned.label, spans = spans.len(), "pages changed while read; reading their edges again");
        }
        let mut reread = Vec::new();
        for span in spans {
            let rows = self.chain(job, slot, span, None).await?;
            reread.push((span, rows));
        }
        Ok(reader::assemble(&pages, &reread))
    }

    /// Counts a full sync's (or a rebuild's) pages into the tracks; returns the tracks the
    /// job brought into the generation.
    async fn count_pages(&self, job: &Job, counts: &PageCounts) -> Result<i64, SyncError> {
        let folded = self.fold(job, &counts.fold).await?;
        let late: Vec<u64> = stream::iter(&counts.late)
            .map(|(page, deltas)| {
                let op = Op {
                    job: &job.job_id,
                    generation: &job.generation,
                    op: Unit::Scrobbles(*page).id(),
                };
                self.apply_deltas(&job.user_id, deltas, op)
            })
            .buffer_unordered(FOLD_SLICE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(folded + late.into_iter().sum::<u64>() as i64)
    }

    /// A full sync (or rebuild) is about to end partial: pages that failed for good hold back
    /// its finishing step until it is resumed. The pages it has are counted into the tracks
    /// now, so its songs show meanwhile. Which pages is recorded on the job first, so that
    /// the resumed job's finishing step knows which pages this fold holds.
    pub(super) async fn fold_early(
        &self,
        job: Job,
        pages: &BTreeSet<u32>,
    ) -> Result<Job, SyncError> {
        let Some(job) = self.store.set_folded_pages(&job, pages).await? else {
            return Ok(job);
        };
        let ledger = self
            .store
            .ledger_pages(&job.user_id, &job.job_id, job.plan.scrobble_pages)
            .await?;
        // The same fold the resumed job's finishing step will run again.
        let tracks = self.fold(&job, &PageCounts::of(&job, &ledger).fold).await?;
        info!(job_id = %job.job_id, pages = job.folded_pages.len(), tracks, "partial job's pages counted early");
        Ok(job)
    }

    /// Counts a full sync's (or a rebuild's) pages, grouped into one delta per track, into the
    /// user's tracks as the new generation, in slices so the items held at once are bounded by
    /// the slice rather than the history. The writes are guarded by the finishing step's unit
    /// id, so a finishing step that dies part-way and runs again skips the tracks it already
    /// wrote. Returns the tracks the job brought into the generation.
    async fn fold(&self, job: &Job, deltas: &[TrackDelta]) -> Result<i64, SyncError> {
        let op = Op {
            job: &job.job_id,
            generation: &job.generation,
            op: Unit::Finalize.id(),
        };
        let entered: Vec<u64> = stream::iter(deltas.chunks(FOLD_SLICE))
            .map(|slice| self.apply_deltas(&job.user_id, slice, op))
            .buffer_unordered(FOLD_SLICE_CONCURRENCY)
            .try_collect()
            .await?;
        let entered: u64 = entered.into_iter().sum();
        info!(job_id = %job.job_id, tracks = deltas.len(), entered, "pages folded into tracks");
        Ok(entered as i64)
    }

    /// Applies what the re-read windows changed; returns the net change in distinct tracks.
    async fn apply_windows(
        &self,
        job: &Job,
        slot: &mut u32,
        reads: &mut BTreeMap<u32, PageRead>,
    ) -> Result<i64, SyncError> {
        let mut fresh: Vec<(PlannedWindow, Vec<Scrobble>)> = Vec::new();
        for (planned, range) in job.window_pages() {
            let rows = self.window_rows(job, slot, &planned, range, reads).await?;
            fresh.push((planned, rows));
        }
        let diff = match self.store.window_diff(&job.user_id, &job.job_id).await? {
            Some(recorded) => recorded,
            None => {
                let mut total = WindowDiff::default();
                let mut repairs = Vec::new();
                for (planned, rows) in &fresh {
                    let counted = self.counted_in(&job.user_id, planned.window).await?;
                    let d = archive::diff(&counted, rows);
                    if !d.is_empty() {
                        repairs.push(Repair {
                            window: planned.label.clone(),
                            lastfm: rows.len() as u64,
                            counted: counted.len() as u64,
                            added: d.added.len() as u64,
                            removed: d.removed.len() as u64,
                        });
                    }
                    total.added.extend(d.added);
                    total.removed.extend(d.removed);
                }
                self.store.set_job_repairs(job, &repairs).await?;
                self.store
                    .record_window_diff(&job.user_id, &job.job_id, &total)
                    .await?;
                total
            }
        };
        let deltas = archive::deltas(&diff);
        let op = Op {
            job: &job.job_id,
            generation: &job.generation,
            op: Unit::Finalize.id(),
        };
        let entered = self.apply_deltas(&job.user_id, &deltas, op).await?;
        let dropped = self.drop_emptied(&job.user_id, &deltas).await?;
        self.rewrite_months(job, &fresh).await?;
        let shrunk: BTreeSet<String> = deltas
            .iter()
            .filter(|d| d.removed > 0)
            .map(|d| d.key.clone())
            .collect();
        self.refresh_bounds(&job.user_id, shrunk).await?;
        info!(
            job_id = %job.job_id,
            added = diff.added.len(),
            removed = diff.removed.len(),
            "re-read windows applied"
        );
        Ok(entered as i64 - dropped)
    }

    /// Tracks that lost scrobbles may have lost their first or last one (and the spelling
    /// that went with it): both are read back from the archive, newest months first for the
    /// last play, oldest first for the first. Setting them is idempotent.
    async fn refresh_bounds(
        &self,
        user_id: &str,
        keys: BTreeSet<String>,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let index = self.store.archive_index(user_id).await?;
        let months: Vec<&String> = index.months.keys().collect();
        let mut newest: BTreeMap<String, Scrobble> = BTreeMap::new();
        let mut oldest: BTreeMap<String, i64> = BTreeMap::new();
        let mut cache: BTreeMap<String, Vec<Scrobble>> = BTreeMap::new();
        for month in months.iter().rev() {
            if newest.len() == keys.len() {
                break;
            }
            let rows = self
                .store
                .archive_month(user_id, month, index.months[*month].parts)
                .await?;
            for s in &rows {
                let key = TrackIdentity::of(&s.artist, &s.title).key();
                if keys.contains(&key) && !newest.contains_key(&key) {
                    newest.insert(key, s.clone());
                }
            }
            cache.insert((*month).clone(), rows);
        }
        for month in &months {
            if oldest.len() == keys.len() {
                break;
            }
            let rows = match cache.remove(*month) {
                Some(rows) => rows,
                None => {
                    self.store
                        .archive_month(user_id, month, index.months[*month].parts)
                        .await?
                }
            };
            for s in rows.iter().rev() {
                let key = TrackIdentity::of(&s.artist, &s.title).key();
                if keys.contains(&key) {
                    oldest.entry(key).or_insert(s.uts);
                }
            }
        }
        for (key, last) in newest {
            let Some(&first) = oldest.get(&key) else {
                continue;
            };
            for _ in 0..25 {
                let stored = self.store.get_track(user_id, &key).await?;
                let Some(mut track) = stored.lastfm else {
                    break;
                };
                if track.first_uts == first
                    && track.last_uts == last.uts
                    && track.artist == last.artist
                    && track.title == last.title
                {
                    break;
                }
                track.first_uts = first;
                track.last_uts = last.uts;
                track.artist = last.artist.clone();
                track.title = last.title.clone();
                track.album = last.album.clone();
                track.loved = last.loved;
                track.display_order = display_order(last.uts, 0, 0);
                track.version = stored.version + 1;
                let write = TrackWrite {
                    track,
                    base: stored.item,
                };
                match self.store.write_track(user_id, &write).await {
                    Ok(()) => break,
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Puts each re-read window's rows into the archive months it covers.
    async fn rewrite_months(
        &self,
        job: &Job,
        fresh: &[(PlannedWindow, Vec<Scrobble>)],
    ) -> Result<(), StoreError> {
        let mut index = self.store.archive_index(&job.user_id).await?;
        let mut touched: BTreeMap<String, Vec<Scrobble>> = BTreeMap::new();
        for (planned, rows) in fresh {
            let (from, to) = (
                planned.window.from.unwrap_or(0),
                planned.window.to.unwrap_or(i64::MAX / 2),
            );
            let months: Vec<String> = archive::months_overlapping(from, to)
                .into_iter()
                .filter(|m| {
                    index.months.contains_key(m)
                        || touched.contains_key(m)
                        || rows.iter().any(|s| archive::month_of(s.uts) == *m)
                })
                .collect();
            for month in months {
                let current = match touched.remove(&month) {
                    Some(rows) => rows,
                    None if index.months.contains_key(&month) => {
                        let parts = index.months[&month].parts;
                        self.store
                            .archive_month(&job.user_id, &month, parts)
                            .await?
                    }
                    None => Vec::new(),
                };
                let next = archive::replace_window(&month, &current, rows, planned.window);
                touched.insert(month, next);
            }
        }
        for (month, rows) in touched {
            let old_parts = index.months.get(&month).map_or(0, |m| m.parts);
            if rows.is_empty() {
                self.store
                    .write_archive_month(&job.user_id, &month, &[], old_parts)
                    .await?;
                index.months.remove(&month);
            } else {
                let info = self
                    .store
                    .write_archive_month(&job.user_id, &month, &rows, old_parts)
                    .await?;
                index.months.insert(month, info);
            }
        }
        self.store.put_archive_index(&job.user_id, &index).await
    }
}

/// The ledger id of the finishing step's next own read.
fn next_slot(slot: &mut u32) -> u32 {
    *slot += 1;
    READ_SLOTS + *slot - 1
}

fn planned(label: String, window: Window, lastfm: u64) -> PlannedWindow {
    PlannedWindow {
        label,
        window,
        pages: lastfm.div_ceil(u64::from(PAGE_LIMIT)) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(artist: &str, uts: i64) -> Vec<Scrobble> {
        vec![Scrobble {
            artist: artist.into(),
            title: "t".into(),
            album: None,
            uts,
            loved: None,
        }]
    }

    #[test]
    fn a_job_that_folded_early_refolds_those_pages_and_counts_the_rest_one_by_one() {
        let pages = BTreeMap::from([
            (1, page("A", 40)),
            (2, page("B", 30)),
            (3, page("A", 20)),
            (4, page("C", 10)),
        ]);
        let mut job = Job::queued(
            "u",
            "j",
            JobKind::Full,
            "x".into(),
            "j".into(),
            Window::default(),
            0,
        );
        let all = PageCounts::of(&job, &pages);
        assert_eq!(all.fold, aggregate_pages(&pages));
        assert!(all.late.is_empty());

        job.folded_pages = BTreeSet::from([1, 3]);
        let split = PageCounts::of(&job, &pages);
        let early = BTreeMap::from([(1, page("A", 40)), (3, page("A", 20))]);
        assert_eq!(split.fold, aggregate_pages(&early));
        assert_eq!(split.fold.len(), 1);
        assert_eq!(split.fold[0].count, 2);
        assert_eq!(
            split.late,
            vec![(2, aggregate(&pages[&2], 2)), (4, aggregate(&pages[&4], 4))]
        );
    }
}
