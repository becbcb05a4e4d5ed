//! A sync job and how its progress reads to a person.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::messages::SweepTarget;
use crate::lastfm::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Partial,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Partial => "partial",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "partial" => JobStatus::Partial,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }

    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Every scrobble up to the job's start; builds a new generation of counts.
    Full,
    /// Re-reads the trailing window (and, when reconciling, the windows that disagree with
    /// Last.fm) and applies what changed to the current generation.
    Incremental,
    /// Recomputes the counts from the stored scrobble archive as a new generation, without
    /// asking Last.fm.
    Rebuild,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Full => "full",
            JobKind::Incremental => "incremental",
            JobKind::Rebuild => "rebuild",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(JobKind::Full),
            "incremental" => Some(JobKind::Incremental),
            "rebuild" => Some(JobKind::Rebuild),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub user_id: String,
    pub job_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub lastfm_user: String,
    pub generation: String,
    pub window: Window,
    /// Whether Spotify was connected when the job was requested (its lists are part of it).
    pub spotify: bool,
    /// Compare every past window with Last.fm's totals and repair those that disagree.
    pub reconcile: bool,
    /// The time windows whose scrobble pages this job reads, in page order (empty: one window,
    /// `window`, with all scrobble pages).
    pub windows: Vec<PlannedWindow>,
    /// What the job found and repaired, window by window (incremental jobs).
    pub repairs: Vec<Repair>,
    /// Units of work of every kind; unknown (None) until the first pages have been read.
    pub pages_total: Option<u32>,
    /// How the units split by kind (see [`Unit`]).
    pub plan: UnitPlan,
    pub done_pages: BTreeSet<u32>,
    pub failed_pages: BTreeSet<u32>,
    /// Scrobble pages already counted into the tracks when this full sync (or rebuild) ended
    /// partial: set once, by the first partial end, and kept when the job is resumed. Empty
    /// otherwise. See [`Job::pages_to_fold_early`].
    pub folded_pages: BTreeSet<u32>,
    /// Which kinds of rows a sweep could find stale: those the user already had when the job
    /// started (a full sync or rebuild checks at its start). None when unknown, so every
    /// sweep runs.
    pub prior_rows: Option<BTreeSet<SweepTarget>>,
    pub scrobbles_total: u64,
    pub scrobbles_done: u64,
    /// Tracks this job added to its generation (for a full sync: every track it found).
    pub tracks_added: i64,
    /// Artists in Last.fm's overall top list when the job started (0 when not refreshed).
    pub artists_total: u64,
    /// Newest scrobble in the window; becomes the user's watermark when the job is done.
    pub newest_uts: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub errors: Vec<String>,
    /// Started by the schedule rather than by the user (see [`Job::in_flight_cap`]).
    pub scheduled: bool,
    /// How many units of [`Job::queue_order`] have been sent to the queue: the job's units go
    /// out a few at a time (see [`Job::units_to_send`]), so jobs share the queue.
    pub units_sent: u32,
}

/// Units one job may have on the queue at once, by how much someone is waiting for it. Every
/// job gets this many turns per pass through the queue, so a user who pressed "Sync now" (or
/// a new user's first sync) is served before scheduled refreshes, and those before
/// reconciliations and rebuilds; a three-page sync waits behind at most this many units of
/// each other job, not behind a whole backfill. Six in flight keep the rate gate busy on their
/// own (five requests a second at up to a second an answer).
pub const IN_FLIGHT_INTERACTIVE: u32 = 6;
pub const IN_FLIGHT_SCHEDULED: u32 = 2;
pub const IN_FLIGHT_BACKGROUND: u32 = 1;

/// Jobs that have not moved for this long are reported as stalled and may be resumed.
pub const STALL_AFTER_SECS: i64 = 15 * 60;

impl Job {
    /// A job as requested, before its start has read anything from Last.fm.
    pub fn queued(
        user_id: &str,
        job_id: &str,
        kind: JobKind,
        lastfm_user: String,
        generation: String,
        window: Window,
        now: i64,
    ) -> Self {
        Job {
            user_id: user_id.to_string(),
            job_id: job_id.to_string(),
            kind,
            status: JobStatus::Queued,
            lastfm_user,
            generation,
            window,
            spotify: false,
            reconcile: false,
            windows: vec![],
            repairs: vec![],
            pages_total: None,
            plan: Default::default(),
            done_pages: Default::default(),
            failed_pages: Default::default(),
            folded_pages: Default::default(),
            prior_rows: None,
            scrobbles_total: 0,
            scrobbles_done: 0,
            tracks_added: 0,
            artists_total: 0,
            newest_uts: None,
            created_at: now,
            started_at: None,
            updated_at: now,
            finished_at: None,
            errors: vec![],
            scheduled: false,
            units_sent: 0,
        }
    }

    /// How many of this job's units may be on the queue at once.
    pub fn in_flight_cap(&self) -> u32 {
        match (self.kind, self.scheduled, self.reconcile) {
            (JobKind::Rebuild, _, _) | (_, true, true) => IN_FLIGHT_BACKGROUND,
            (_, true, false) => IN_FLIGHT_SCHEDULED,
            (_, false, _) => IN_FLIGHT_INTERACTIVE,
        }
    }

    /// The units to send now so that at most [`Job::in_flight_cap`] are on the queue, and the
    /// new count of units sent. `also_settled`: units about to be done without the queue (the
    /// start applies the first pages itself). Units already settled are passed over.
    pub fn units_to_send(&self, also_settled: &[Unit]) -> (Vec<Unit>, u32) {
        let settled = |u: &Unit| {
            self.done_pages.contains(&u.id())
                || self.failed_pages.contains(&u.id())
                || also_settled.contains(u)
        };
        let order = self.queue_order();
        let sent = (self.units_sent as usize).min(order.len());
        let in_flight = order[..sent].iter().filter(|u| !settled(u)).count() as u32;
        let room = self.in_flight_cap().saturating_sub(in_flight);
        let mut out = Vec::new();
        let mut next = sent;
        while next < order.len() && (out.len() as u32) < room {
            if !settled(&order[next]) {
                out.push(order[next]);
            }
            next += 1;
        }
        // Settled units right after the last one sent need no turn either.
        while next < order.len() && settled(&order[next]) {
            next += 1;
        }
        (out, next as u32)
    }

    /// Units sent but not settled: on the queue, or lost with a worker (a resumed job sends
    /// them again).
    pub fn units_in_flight(&self) -> Vec<Unit> {
        let order = self.queue_order();
        let sent = (self.units_sent as usize).min(order.len());
        order[..sent]
            .iter()
            .filter(|u| !self.done_pages.contains(&u.id()) && !self.failed_pages.contains(&u.id()))
            .copied()
            .collect()
    }

    /// Which window a scrobble page belongs to, and its page number within that window.
    pub fn locate(&self, page: u32) -> (Window, u32) {
        let mut first = 1;
        for w in &self.windows {
            if page < first + w.pages {
                return (w.window, page - first + 1);
            }
            first += w.pages;
        }
        (self.window, page)
    }

    /// The scrobble pages that belong to each window, in order.
    pub fn window_pages(&self) -> Vec<(PlannedWindow, std::ops::Range<u32>)> {
        if self.windows.is_empty() {
            let whole = PlannedWindow {
                label: "all".into(),
                window: self.window,
                pages: self.plan.scrobble_pages,
            };
            return vec![(whole, 1..self.plan.scrobble_pages + 1)];
        }
        let mut first = 1;
        self.windows
            .iter()
            .map(|w| {
                let range = first..first + w.pages;
                first += w.pages;
                (w.clone(), range)
            })
            .collect()
    }

    /// Every scrobble page is counted (the finishing step may run).
    pub fn scrobbles_done(&self) -> bool {
        (1..=self.plan.scrobble_pages).all(|p| self.done_pages.contains(&p))
    }

    /// The scrobble pages to count into the tracks now, because this full sync (or rebuild)
    /// is about to end partial: pages that failed for good hold back its finishing step until
    /// the job is resumed, and without this a first sync would show no songs at all until
    /// then. None when the finishing step will count the pages anyway, when nothing is done
    /// yet, or when an earlier partial end already folded (the resumed job's finishing step
    /// counts every page after that one; folding again would need a second record of which
    /// pages went into which fold).
    pub fn pages_to_fold_early(&self) -> Option<BTreeSet<u32>> {
        let counted_at_the_end = matches!(self.kind, JobKind::Full | JobKind::Rebuild);
        let pages = self.plan.scrobble_pages;
        if !counted_at_the_end
            || self.plan.finalize == 0
            || self.done_pages.contains(&Unit::Finalize.id())
            || !self.folded_pages.is_empty()
            || !self.failed_pages.iter().any(|&p| (1..=pages).contains(&p))
        {
            return None;
        }
        let done: BTreeSet<u32> = (1..=pages)
            .filter(|p| self.done_pages.contains(p))
            .collect();
        (!done.is_empty()).then_some(done)
    }

    /// What a job that ended `done` leaves to sweep: tracks of an older generation after a
    /// full sync or rebuild, artists and loved tracks its refresh did not see. A kind of row
    /// the user had none of when the job started cannot be stale, so a first sync sweeps
    /// nothing: on DynamoDB that saves reading every track again; on the local emulator, minutes.
    pub fn sweeps(&self) -> Vec<SweepTarget> {
        let full = self.kind == JobKind::Full && !self.lastfm_user.is_empty();
        let mut sweeps = Vec::new();
        if self.kind != JobKind::Incremental && self.plan.scrobble_pages > 0 {
            sweeps.push(SweepTarget::Tracks);
        }
        if self.plan.artist_pages > 0 || full {
            sweeps.push(SweepTarget::LastfmArtists);
        }
        if self.plan.loved_pages > 0 || full {
            sweeps.push(SweepTarget::Loved);
        }
        if let Some(prior) = &self.prior_rows {
            sweeps.retain(|t| prior.contains(t));
        }
        sweeps
    }

    /// The plan's units in the order they are queued. A full sync queues its list units
    /// first: a first refresh writes up to 1,000 rows a page one by one, which is spare work
    /// while the scrobble pages only fetch and record, but would compete with the finishing
    /// step's fold if it came last. Other kinds keep the plan's order: an incremental sync's
    /// light finishing step is better started early, alongside its list refreshes.
    pub fn queue_order(&self) -> Vec<Unit> {
        let mut units = self.plan.units();
        if self.kind == JobKind::Full {
            units.sort_by_key(|u| match u {
                Unit::Artists(_) | Unit::Loved(_) | Unit::Spotify(_) => 0,
                Unit::Scrobbles(_) => 1,
                Unit::Finalize => 2,
            });
        }
        units
    }

    pub fn pages_done(&self) -> u32 {
        self.done_pages.len() as u32
    }

    /// 0-100, never above 100, 100 only when every page is accounted for.
    pub fn percent(&self) -> u8 {
        match self.status {
            JobStatus::Done => 100,
            _ => match self.pages_total {
                None => 0,
                Some(0) => 100,
                Some(total) => {
                    let settled = self.pages_done() + self.failed_pages.len() as u32;
                    ((u64::from(settled.min(total)) * 100) / u64::from(total)) as u8
                }
            },
        }
    }

    /// Seconds left at the pace seen so far; None before there is a pace to measure.
    pub fn eta_seconds(&self, now: i64) -> Option<u64> {
        if !self.status.is_active() {
            return None;
        }
        let total = self.pages_total?;
        let started = self.started_at?;
        let done = self.pages_done();
        if done == 0 {
            return None;
        }
        let remaining = total.saturating_sub(done + self.failed_pages.len() as u32);
        let elapsed = (now - started).max(1) as f64;
        Some((elapsed / f64::from(done) * f64::from(remaining)).ceil() as u64)
    }

    pub fn is_stalled(&self, now: i64) -> bool {
        self.status.is_active() && now - self.updated_at > STALL_AFTER_SECS
    }

    /// Units still to do when (re)starting this job.
    pub fn pending_units(&self) -> Vec<Unit> {
        self.plan
            .units()
            .into_iter()
            .filter(|u| !self.done_pages.contains(&u.id()))
            .collect()
    }

    /// What the job is busy with, in words for people.
    pub fn phase(&self) -> &'static str {
        let settled =
            |u: &Unit| self.done_pages.contains(&u.id()) || self.failed_pages.contains(&u.id());
        let units = self.plan.units();
        let busy = |kind: fn(&Unit) -> bool| units.iter().any(|u| kind(u) && !settled(u));
        if self.pages_total.is_none() || busy(|u| matches!(u, Unit::Scrobbles(_))) {
            "Fetching your scrobbles"
        } else if busy(|u| matches!(u, Unit::Artists(_))) {
            "Fetching your artists"
        } else if busy(|u| matches!(u, Unit::Loved(_))) {
            "Fetching your loved tracks"
        } else if busy(|u| matches!(u, Unit::Spotify(_))) {
            "Fetching your Spotify top tracks"
        } else if busy(|u| matches!(u, Unit::Finalize)) {
            match self.kind {
                // The pages are fetched; this is where they become song counts.
                JobKind::Full | JobKind::Rebuild => "Counting your songs",
                JobKind::Incremental => "Checking and storing your history",
            }
        } else {
            "Finishing up"
        }
    }
}

/// How many units of each kind a job has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitPlan {
    pub scrobble_pages: u32,
    pub artist_pages: u32,
    pub loved_pages: u32,
    pub spotify_lists: u32,
    /// 1 when the job ends with the finishing step over its scrobbles (archive, window diff).
    pub finalize: u32,
}

impl UnitPlan {
    pub fn total(&self) -> u32 {
        self.scrobble_pages
            + self.artist_pages
            + self.loved_pages
            + self.spotify_lists
            + self.finalize.min(1)
    }

    pub fn units(&self) -> Vec<Unit> {
        let mut units: Vec<Unit> = (1..=self.scrobble_pages).map(Unit::Scrobbles).collect();
        units.extend((1..=self.artist_pages).map(Unit::Artists));
        units.extend((1..=self.loved_pages).map(Unit::Loved));
        units.extend((0..self.spotify_lists.min(SPOTIFY_LISTS.len() as u32)).map(Unit::Spotify));
        if self.finalize > 0 {
            units.push(Unit::Finalize);
        }
        units
    }
}

/// Spotify's six lists: (kind, time range), in the order they are fetched.
pub const SPOTIFY_LISTS: [(&str, &str); 6] = [
    ("tracks", "long_term"),
    ("tracks", "medium_term"),
    ("tracks", "short_term"),
    ("artists", "long_term"),
    ("artists", "medium_term"),
    ("artists", "short_term"),
];

/// One unit of work of a job. Each has a number unique within the job (its "op"), which is
/// what progress and the exactly-once bookkeeping record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Scrobbles(u32),
    Artists(u32),
    Loved(u32),
    /// Index into [`SPOTIFY_LISTS`].
    Spotify(u32),
    /// After every scrobble page: store the archive (full sync) or apply what the re-read
    /// windows changed (incremental sync).
    Finalize,
}

/// A time window a job reads, with how many pages Last.fm has for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWindow {
    /// "recent" for the trailing window, the month (`YYYY-MM`) for a reconciled one.
    pub label: String,
    pub window: Window,
    pub pages: u32,
}

/// A window whose counts changed: the report a person sees on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    pub window: String,
    /// Scrobbles Last.fm lists for the window now.
    pub lastfm: u64,
    /// Scrobbles we had counted for it.
    pub counted: u64,
    pub added: u64,
    pub removed: u64,
}

const ARTISTS_BASE: u32 = 1_000_000;
const LOVED_BASE: u32 = 2_000_000;
const SPOTIFY_BASE: u32 = 3_000_000;
const FINALIZE_ID: u32 = 4_000_000;

impl Unit {
    pub fn id(&self) -> u32 {
        match *self {
            Unit::Scrobbles(p) => p,
            Unit::Artists(p) => ARTISTS_BASE + p,
            Unit::Loved(p) => LOVED_BASE + p,
            Unit::Spotify(i) => SPOTIFY_BASE + i,
            Unit::Finalize => FINALIZE_ID,
        }
    }

    pub fn from_id(id: u32) -> Unit {
        match id {
            i if i >= FINALIZE_ID => Unit::Finalize,
            i if i >= SPOTIFY_BASE => Unit::Spotify(i - SPOTIFY_BASE),
            i if i >= LOVED_BASE => Unit::Loved(i - LOVED_BASE),
            i if i >= ARTISTS_BASE => Unit::Artists(i - ARTISTS_BASE),
            p => Unit::Scrobbles(p),
        }
    }

    /// How a person would name it in an error message.
    pub fn describe(&self, plan: &UnitPlan) -> String {
        match *self {
            Unit::Scrobbles(p) => format!("Page {p} of {} of your scrobbles", plan.scrobble_pages),
            Unit::Artists(p) => {
                format!("Page {p} of {} of your Last.fm artists", plan.artist_pages)
            }
            Unit::Loved(p) => format!("Page {p} of {} of your loved tracks", plan.loved_pages),
            Unit::Spotify(i) => {
                let (kind, range) = SPOTIFY_LISTS[i as usize % SPOTIFY_LISTS.len()];
                format!("Your Spotify top {kind} ({range})")
            }
            Unit::Finalize => "Storing your scrobble history".to_string(),
        }
    }
}

/// A time-ordered id: the newest job sorts last, so "latest job" is one reverse query.
pub fn new_job_id(now_millis: i64) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{now_millis:013}-{}", &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(total: Option<u32>, done: &[u32], failed: &[u32]) -> Job {
        Job {
            user_id: "u".into(),
            job_id: "j".into(),
            kind: JobKind::Full,
            status: JobStatus::Running,
            lastfm_user: "x".into(),
            generation: "j".into(),
            window: Window::default(),
            spotify: false,
            reconcile: false,
            windows: vec![],
            repairs: vec![],
            pages_total: total,
            plan: UnitPlan {
                scrobble_pages: total.unwrap_or(0),
                ..Default::default()
            },
            done_pages: done.iter().copied().collect(),
            failed_pages: failed.iter().copied().collect(),
            folded_pages: Default::default(),
            prior_rows: None,
            scrobbles_total: 0,
            scrobbles_done: 0,
            tracks_added: 0,
            artists_total: 0,
            newest_uts: None,
            created_at: 0,
            started_at: Some(100),
            updated_at: 100,
            finished_at: None,
            errors: vec![],
            scheduled: false,
            units_sent: 0,
        }
    }

    fn ids(units: &[Unit]) -> Vec<u32> {
        units.iter().map(Unit::id).collect()
    }

    #[test]
    fn a_job_has_at_most_its_cap_of_units_on_the_queue() {
        let mut j = job(Some(20), &[], &[]);
        let (first, sent) = j.units_to_send(&[Unit::Scrobbles(1)]);
        // Page 1 is applied by the start: not sent, and not counted against the cap.
        assert_eq!(ids(&first), vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(sent, 7);
        j.units_sent = sent;
        j.done_pages.insert(1);
        assert_eq!(j.units_to_send(&[]), (vec![], 7), "all six still in flight");
        j.done_pages.extend([3, 4]);
        j.failed_pages.insert(2);
        assert_eq!(
            j.units_to_send(&[]),
            (
                vec![Unit::Scrobbles(8), Unit::Scrobbles(9), Unit::Scrobbles(10)],
                10
            )
        );
        assert_eq!(ids(&j.units_in_flight()), vec![5, 6, 7]);
        // Units settled out of turn (a redelivery, a resumed job) are passed over.
        j.units_sent = 10;
        j.done_pages.extend([5, 6, 7, 11, 12]);
        let (next, sent) = j.units_to_send(&[]);
        assert_eq!(
            ids(&next),
            vec![13, 14, 15],
            "8, 9 and 10 are still in flight"
        );
        assert_eq!(sent, 15);
    }

    #[test]
    fn the_cap_follows_who_is_waiting() {
        let mut j = job(Some(3), &[], &[]);
        assert_eq!(j.in_flight_cap(), IN_FLIGHT_INTERACTIVE);
        j.scheduled = true;
        assert_eq!(j.in_flight_cap(), IN_FLIGHT_SCHEDULED);
        j.reconcile = true;
        assert_eq!(j.in_flight_cap(), IN_FLIGHT_BACKGROUND);
        j.scheduled = false;
        assert_eq!(
            j.in_flight_cap(),
            IN_FLIGHT_INTERACTIVE,
            "a reconcile the user asked for"
        );
        j.kind = JobKind::Rebuild;
        assert_eq!(j.in_flight_cap(), IN_FLIGHT_BACKGROUND);
        const {
            assert!(
                IN_FLIGHT_BACKGROUND < IN_FLIGHT_SCHEDULED
                    && IN_FLIGHT_SCHEDULED < IN_FLIGHT_INTERACTIVE
            )
        };
    }

    /// A first-in-first-out queue served one unit at a time, each finished unit topping its
    /// job up: a 3-unit job started after a 300-unit backfill finishes within a few of the
    /// backfill's units, and the backfill still gets every turn nobody else wants.
    #[test]
    fn a_light_job_is_not_queued_behind_a_backfill() {
        use std::collections::VecDeque;
        let mut jobs = [job(Some(300), &[], &[]), job(Some(3), &[], &[])];
        let mut queue: VecDeque<(usize, Unit)> = VecDeque::new();
        let send = |jobs: &mut [Job; 2], queue: &mut VecDeque<(usize, Unit)>, i: usize| {
            let (units, sent) = jobs[i].units_to_send(&[]);
            jobs[i].units_sent = sent;
            queue.extend(units.into_iter().map(|u| (i, u)));
        };
        send(&mut jobs, &mut queue, 0);
        // The backfill has done 50 units when the light job starts.
        let mut served = Vec::new();
        while let Some((i, unit)) = queue.pop_front() {
            if served.len() == 50 {
                send(&mut jobs, &mut queue, 1);
            }
            jobs[i].done_pages.insert(unit.id());
            served.push(i);
            send(&mut jobs, &mut queue, i);
        }
        let light_done = served.iter().rposition(|&i| i == 1).unwrap();
        let heavy_between = served[50..light_done].iter().filter(|&&i| i == 0).count();
        assert!(
            heavy_between <= IN_FLIGHT_INTERACTIVE as usize,
            "{heavy_between} backfill units first"
        );
        assert_eq!(served.len(), 303, "every unit served once");
        assert!(jobs.iter().all(|j| j.units_in_flight().is_empty()));
    }

    #[test]
    fn percent_is_bounded_and_counts_failed_pages_as_settled() {
        assert_eq!(job(None, &[], &[]).percent(), 0);
        assert_eq!(job(Some(4), &[1], &[]).percent(), 25);
        assert_eq!(job(Some(4), &[1, 2], &[3]).percent(), 75);
        assert_eq!(job(Some(3), &[1, 2, 3], &[]).percent(), 100);
        assert_eq!(job(Some(0), &[], &[]).percent(), 100);
        let mut done = job(Some(2), &[1], &[]);
        done.status = JobStatus::Done;
        assert_eq!(done.percent(), 100);
    }

    #[test]
    fn eta_follows_the_observed_pace() {
        let j = job(Some(10), &[1, 2], &[]);
        assert_eq!(j.eta_seconds(110), Some(40));
        assert_eq!(job(Some(10), &[], &[]).eta_seconds(110), None);
    }

    #[test]
    fn pending_pages_skip_done_ones_and_ids_sort_by_time() {
        let pending: Vec<u32> = job(Some(4), &[2], &[3])
            .pending_units()
            .iter()
            .map(Unit::id)
            .collect();
        assert_eq!(pending, vec![1, 3, 4]);
        assert!(new_job_id(1_000) < new_job_id(2_000));
        assert_eq!(new_job_id(5).len(), 22);
    }

    #[test]
    fn units_have_distinct_ids_that_round_trip_and_name_the_phase() {
        let plan = UnitPlan {
            scrobble_pages: 3,
            artist_pages: 2,
            loved_pages: 1,
            spotify_lists: 6,
            finalize: 1,
        };
        let units = plan.units();
        assert_eq!(units.len() as u32, plan.total());
        let ids: std::collections::BTreeSet<u32> = units.iter().map(Unit::id).collect();
        assert_eq!(ids.len(), units.len());
        for u in &units {
            assert_eq!(Unit::from_id(u.id()), *u);
        }
        let mut j = job(Some(plan.total()), &[], &[]);
        j.plan = plan;
        assert_eq!(j.phase(), "Fetching your scrobbles");
        j.done_pages = [1, 2, 3].into();
        assert_eq!(j.phase(), "Fetching your artists");
        j.done_pages.extend([
            Unit::Artists(1).id(),
            Unit::Artists(2).id(),
            Unit::Loved(1).id(),
        ]);
        assert_eq!(j.phase(), "Fetching your Spotify top tracks");
        j.done_pages.extend((0..6).map(|i| Unit::Spotify(i).id()));
        j.kind = JobKind::Full;
        assert_eq!(j.phase(), "Counting your songs");
        j.kind = JobKind::Incremental;
        assert_eq!(j.phase(), "Checking and storing your history");
        j.done_pages.insert(Unit::Finalize.id());
        assert_eq!(j.phase(), "Finishing up");
        assert!(Unit::Spotify(3)
            .describe(&plan)
            .contains("artists (long_term)"));
    }

    #[test]
    fn only_a_first_partial_end_of_a_full_sync_folds_its_pages_early() {
        let mut j = job(Some(5), &[1, 2, 4], &[3]);
        j.plan.finalize = 1;
        assert_eq!(j.pages_to_fold_early(), Some(BTreeSet::from([1, 2, 4])));
        j.kind = JobKind::Rebuild;
        assert_eq!(j.pages_to_fold_early(), Some(BTreeSet::from([1, 2, 4])));
        // An incremental sync applies its windows' difference at the end; nothing to fold.
        j.kind = JobKind::Incremental;
        assert_eq!(j.pages_to_fold_early(), None);
        j.kind = JobKind::Full;
        // Once folded, a second partial end leaves the pages to the finishing step.
        j.folded_pages = BTreeSet::from([1, 2]);
        assert_eq!(j.pages_to_fold_early(), None);
        j.folded_pages.clear();
        // Only a failed list unit: the finishing step is not held back.
        let mut lists = job(Some(2), &[1, 2], &[Unit::Artists(1).id()]);
        lists.plan.finalize = 1;
        assert_eq!(lists.pages_to_fold_early(), None);
        // Nothing done yet, or the finishing step already counted.
        let mut none = job(Some(2), &[], &[1, 2]);
        none.plan.finalize = 1;
        assert_eq!(none.pages_to_fold_early(), None);
        j.done_pages.insert(Unit::Finalize.id());
        assert_eq!(j.pages_to_fold_early(), None);
    }

    #[test]
    fn a_full_sync_queues_list_units_before_its_pages_and_others_keep_the_plan_order() {
        let mut j = job(None, &[], &[]);
        j.plan = UnitPlan {
            scrobble_pages: 2,
            artist_pages: 1,
            loved_pages: 1,
            spotify_lists: 1,
            finalize: 1,
        };
        j.kind = JobKind::Full;
        assert_eq!(
            j.queue_order(),
            vec![
                Unit::Artists(1),
                Unit::Loved(1),
                Unit::Spotify(0),
                Unit::Scrobbles(1),
                Unit::Scrobbles(2),
                Unit::Finalize
            ]
        );
        j.kind = JobKind::Incremental;
        assert_eq!(j.queue_order(), j.plan.units());
        assert_eq!(j.queue_order()[0], Unit::Scrobbles(1));
    }

    #[test]
    fn stalled_only_when_active_and_idle() {
        let j = job(Some(2), &[], &[]);
        assert!(!j.is_stalled(100 + STALL_AFTER_SECS));
        assert!(j.is_stalled(101 + STALL_AFTER_SECS));
    }

    #[test]
    fn sweeps_only_what_the_user_had_before_the_job() {
        use SweepTarget::*;
        let mut j = job(Some(3), &[], &[]);
        j.plan.artist_pages = 1;
        // Not known (a job from before the check): everything the job refreshed.
        assert_eq!(j.sweeps(), vec![Tracks, LastfmArtists, Loved]);
        // A first sync: nothing can be stale.
        j.prior_rows = Some(BTreeSet::new());
        assert!(j.sweeps().is_empty());
        j.prior_rows = Some(BTreeSet::from([Tracks, Loved]));
        assert_eq!(j.sweeps(), vec![Tracks, Loved]);
        // An incremental sync keeps older tracks; its lists are swept when it re-read them.
        j.kind = JobKind::Incremental;
        j.prior_rows = None;
        assert_eq!(j.sweeps(), vec![LastfmArtists]);
        j.plan.artist_pages = 0;
        assert!(j.sweeps().is_empty());
    }
}
