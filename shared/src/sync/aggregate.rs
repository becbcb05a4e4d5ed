//! Turning a page of scrobbles into per-track deltas, and folding a delta into a stored track.

use std::collections::{BTreeMap, BTreeSet};

use crate::lastfm::Scrobble;
use crate::normalize::TrackIdentity;

/// Orders two scrobbles of the same second: the one Last.fm lists first (lower page, lower
/// index) counts as more recent, which is how the display spelling is chosen.
pub fn display_order(uts: i64, page: u32, index: usize) -> i64 {
    uts * 100_000_000 - (i64::from(page) * 1_000 + index as i64)
}

/// What one page contributes to one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackDelta {
    pub key: String,
    pub artist: String,
    pub title: String,
    pub album: Option<String>,
    pub loved: Option<bool>,
    pub count: u64,
    /// Scrobbles the user deleted on Last.fm since they were counted (reconciliation).
    pub removed: u64,
    pub first_uts: i64,
    pub last_uts: i64,
    pub display_order: i64,
}

/// Groups a page by track identity. Deltas come out sorted by key so retries are deterministic.
pub fn aggregate(scrobbles: &[Scrobble], page: u32) -> Vec<TrackDelta> {
    group(
        scrobbles
            .iter()
            .enumerate()
            .map(|(index, s)| (display_order(s.uts, page, index), s)),
    )
}

/// Groups a whole job's pages by track identity: one delta per track for all of them, with
/// the same display spelling a page-by-page fold would end on.
pub fn aggregate_pages<'a>(
    pages: impl IntoIterator<Item = (&'a u32, &'a Vec<Scrobble>)>,
) -> Vec<TrackDelta> {
    group(pages.into_iter().flat_map(|(&page, rows)| {
        rows.iter()
            .enumerate()
            .map(move |(index, s)| (display_order(s.uts, page, index), s))
    }))
}

fn group<'a>(scrobbles: impl Iterator<Item = (i64, &'a Scrobble)>) -> Vec<TrackDelta> {
    let mut by_key: BTreeMap<String, TrackDelta> = BTreeMap::new();
    for (order, s) in scrobbles {
        let key = TrackIdentity::of(&s.artist, &s.title).key();
        by_key
            .entry(key.clone())
            .and_modify(|d| {
                d.count += 1;
                d.first_uts = d.first_uts.min(s.uts);
                d.last_uts = d.last_uts.max(s.uts);
                if order > d.display_order {
                    d.display_order = order;
                    d.artist = s.artist.clone();
                    d.title = s.title.clone();
                    d.album = s.album.clone();
                    d.loved = s.loved;
                }
            })
            .or_insert_with(|| TrackDelta {
                key,
                artist: s.artist.clone(),
                title: s.title.clone(),
                album: s.album.clone(),
                loved: s.loved,
                count: 1,
                removed: 0,
                first_uts: s.uts,
                last_uts: s.uts,
                display_order: order,
            });
    }
    by_key.into_values().collect()
}

/// A user's Last.fm track as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackState {
    pub key: String,
    pub artist: String,
    pub title: String,
    pub album: Option<String>,
    pub loved: Option<bool>,
    pub playcount: u64,
    pub first_uts: i64,
    pub last_uts: i64,
    pub display_order: i64,
    /// How many sync jobs saw this track (the old system's `play_count`).
    pub sync_count: u64,
    /// The full sync whose counts these are; counts from an older generation are discarded.
    pub generation: String,
    /// The last job that wrote here, and which of its units of work (pages) it applied.
    pub applied_job: String,
    pub applied_ops: BTreeSet<u32>,
    /// The unit of work that brought this track into its generation: lets a page count the
    /// tracks it added exactly once, even when it is retried after a crash.
    pub entered_job: String,
    pub entered_op: u32,
    /// Optimistic-concurrency version of the song item (shared with other sources' writers).
    pub version: u64,
}

impl TrackState {
    /// Whether `op` is the unit of work that added this track to its generation.
    pub fn entered_by(&self, op: Op<'_>) -> bool {
        self.entered_job == op.job && self.entered_op == op.op
    }
}

/// Which unit of work a delta belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Op<'a> {
    pub job: &'a str,
    pub generation: &'a str,
    pub op: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// This job already applied this unit of work to this track: nothing to do.
    AlreadyApplied,
    Write(Box<TrackState>),
}

/// Folds a delta into the stored state exactly once per (job, op).
pub fn merge(existing: Option<&TrackState>, delta: &TrackDelta, op: Op<'_>) -> Merge {
    let Some(old) = existing else {
        if delta.count == 0 {
            // Only removals for a track we never counted: nothing to take away.
            return Merge::AlreadyApplied;
        }
        return Merge::Write(Box::new(TrackState {
            key: delta.key.clone(),
            artist: delta.artist.clone(),
            title: delta.title.clone(),
            album: delta.album.clone(),
            loved: delta.loved,
            playcount: delta.count,
            first_uts: delta.first_uts,
            last_uts: delta.last_uts,
            display_order: delta.display_order,
            sync_count: 1,
            generation: op.generation.to_string(),
            applied_job: op.job.to_string(),
            applied_ops: BTreeSet::from([op.op]),
            entered_job: op.job.to_string(),
            entered_op: op.op,
            version: 1,
        }));
    };
    let same_job = old.applied_job == op.job;
    if same_job && old.applied_ops.contains(&op.op) {
        return Merge::AlreadyApplied;
    }
    let mut next = old.clone();
    next.version = old.version + 1;
    if same_job {
        next.applied_ops.insert(op.op);
    } else {
        next.applied_job = op.job.to_string();
        next.applied_ops = BTreeSet::from([op.op]);
        next.sync_count = old.sync_count + 1;
    }
    if old.generation == op.generation {
        next.playcount = (old.playcount + delta.count).saturating_sub(delta.removed);
        next.first_uts = old.first_uts.min(delta.first_uts);
        next.last_uts = old.last_uts.max(delta.last_uts);
    } else {
        // A new full sync rebuilds counts from scratch; only the sync history carries over.
        next.generation = op.generation.to_string();
        next.entered_job = op.job.to_string();
        next.entered_op = op.op;
        next.playcount = delta.count;
        next.first_uts = delta.first_uts;
        next.last_uts = delta.last_uts;
        next.display_order = i64::MIN;
    }
    if delta.display_order > next.display_order {
        next.display_order = delta.display_order;
        next.artist = delta.artist.clone();
        next.title = delta.title.clone();
        next.album = delta.album.clone();
        next.loved = delta.loved;
    }
    Merge::Write(Box::new(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(artist: &str, title: &str, uts: i64) -> Scrobble {
        Scrobble {
            artist: artist.into(),
            title: title.into(),
            album: Some("A".into()),
            uts,
            loved: None,
        }
    }

    const OP1: Op<'static> = Op {
        job: "j1",
        generation: "g1",
        op: 1,
    };

    #[test]
    fn groups_spellings_and_keeps_the_most_recent_one() {
        // Newest first, as Last.fm lists them; two scrobbles share second 100.
        let page = vec![
            s("Beyonce", "HALO", 300),
            s("Beyoncé", "Halo", 200),
            s("Queen", "Bohemian Rhapsody", 100),
            s("Queen", "Another One", 100),
            s("beyoncé", "halo ", 50),
        ];
        let deltas = aggregate(&page, 1);
        assert_eq!(deltas.len(), 3);
        let halo = deltas
            .iter()
            .find(|d| d.title.to_lowercase().trim() == "halo")
            .unwrap();
        assert_eq!(halo.count, 3);
        assert_eq!((halo.first_uts, halo.last_uts), (50, 300));
        assert_eq!(
            (halo.artist.as_str(), halo.title.as_str()),
            ("Beyonce", "HALO")
        );
        assert_eq!(deltas.iter().map(|d| d.count).sum::<u64>(), 5);
    }

    #[test]
    fn same_second_tie_prefers_the_item_listed_first() {
        let page = vec![s("A", "x", 100), s("a", "X", 100)];
        let d = aggregate(&page, 3);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].artist, "A");
        assert!(display_order(100, 1, 199) > display_order(100, 2, 0));
        assert!(display_order(101, 9, 0) > display_order(100, 1, 0));
    }

    #[test]
    fn a_job_folded_at_once_equals_its_pages_folded_one_by_one() {
        // Page 1 is the newest; "a"/"X" on page 2 shares second 100 with "A"/"x" on page 1,
        // and page 1's spelling must win as it would page by page.
        let pages = BTreeMap::from([
            (
                1,
                vec![s("A", "x", 300), s("A", "x", 100), s("B", "y", 100)],
            ),
            (2, vec![s("a", "X", 100), s("C", "z", 50), s("b", "Y", 40)]),
        ]);
        let whole = aggregate_pages(&pages);
        let mut stepwise: Vec<TrackState> = Vec::new();
        for (&page, rows) in &pages {
            let op = Op { op: page, ..OP1 };
            let deltas = aggregate(rows, page);
            let mut keys: BTreeSet<String> = stepwise.iter().map(|t| t.key.clone()).collect();
            keys.extend(deltas.iter().map(|d| d.key.clone()));
            stepwise = keys
                .into_iter()
                .map(|key| {
                    let old = stepwise.iter().find(|t| t.key == key);
                    match deltas.iter().find(|d| d.key == key) {
                        Some(d) => match merge(old, d, op) {
                            Merge::Write(t) => *t,
                            Merge::AlreadyApplied => unreachable!(),
                        },
                        None => old.cloned().unwrap(),
                    }
                })
                .collect();
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(whole.len(), stepwise.len());
        for (d, t) in whole.iter().zip(&stepwise) {
            assert_eq!(d.key, t.key);
            assert_eq!(
                (d.count, d.first_uts, d.last_uts, d.display_order),
                (t.playcount, t.first_uts, t.last_uts, t.display_order)
            );
            assert_eq!((&d.artist, &d.title), (&t.artist, &t.title));
        }
        let x = whole.iter().find(|d| d.count == 3).unwrap();
        assert_eq!((x.artist.as_str(), x.title.as_str()), ("A", "x"));
    }

    #[test]
    fn merge_applies_each_op_exactly_once() {
        let d = aggregate(&[s("A", "x", 10), s("A", "x", 5)], 1).remove(0);
        let Merge::Write(first) = merge(None, &d, OP1) else {
            panic!()
        };
        assert_eq!(first.playcount, 2);
        assert_eq!(merge(Some(&first), &d, OP1), Merge::AlreadyApplied);
        let d2 = aggregate(&[s("a", "X", 3)], 2).remove(0);
        let Merge::Write(second) = merge(Some(&first), &d2, Op { op: 2, ..OP1 }) else {
            panic!()
        };
        assert_eq!(second.playcount, 3);
        assert_eq!((second.first_uts, second.last_uts), (3, 10));
        assert_eq!(
            second.artist, "A",
            "older page must not replace the newer spelling"
        );
        assert_eq!(second.sync_count, 1);
        assert_eq!(second.version, 2);
        assert!(first.entered_by(OP1) && second.entered_by(OP1));
        assert!(!second.entered_by(Op { op: 2, ..OP1 }));
    }

    #[test]
    fn a_new_job_counts_one_more_sync_and_adds_within_a_generation() {
        let d = aggregate(&[s("A", "x", 10)], 1).remove(0);
        let Merge::Write(first) = merge(None, &d, OP1) else {
            panic!()
        };
        let later = aggregate(&[s("A", "x", 20)], 1).remove(0);
        let Merge::Write(next) = merge(
            Some(&first),
            &later,
            Op {
                job: "j2",
                generation: "g1",
                op: 1,
            },
        ) else {
            panic!()
        };
        assert_eq!((next.playcount, next.sync_count, next.last_uts), (2, 2, 20));
        assert_eq!(next.applied_ops, BTreeSet::from([1]));
    }

    #[test]
    fn a_new_generation_replaces_counts() {
        let d = aggregate(&[s("A", "x", 10), s("A", "x", 9)], 1).remove(0);
        let Merge::Write(first) = merge(None, &d, OP1) else {
            panic!()
        };
        let again = aggregate(&[s("a", "x", 10)], 1).remove(0);
        let Merge::Write(next) = merge(
            Some(&first),
            &again,
            Op {
                job: "j2",
                generation: "g2",
                op: 1,
            },
        ) else {
            panic!()
        };
        assert_eq!(
            (next.playcount, next.first_uts, next.sync_count),
            (1, 10, 2)
        );
        assert_eq!(next.artist, "a");
    }
}
