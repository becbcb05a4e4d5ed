//! Writing plans idempotently.
//!
//! Every item the migration writes (song row, known song, sung record) keeps a `legacy` map: one
//! entry per legacy record that contributed to it, keyed by the record's id, holding what that
//! record said. Every attribute the migration owns on the item is *derived* from that map (and
//! from what other writers own), then written with absolute values (SET, never ADD). Hence:
//!
//! * applying a record again finds its entry already there, derives the same values and writes
//!   nothing (no version bump): a second run, or the re-run of a chunk after a crash, changes
//!   nothing;
//! * several records meeting on one item (two spellings that fold to one track, a saved song
//!   also in the quiz) combine the same way whatever their order and however many runs it took.
//!
//! Other writers always win: a part of an item that a real sync or the user wrote is never
//! overwritten (the contribution is counted as *held back*, and a record that applies nothing
//! to an item leaves no entry on it). Ownership is recognised by marks the migration leaves:
//! `generation = "legacy"` on a Last.fm part, `sp_legacy_rank` equal to `sp_rank` (and no rank
//! per time range, which a Spotify refresh keeps) on a Spotify part, `known_legacy_at` equal to
//! `known_added_at` on a known-song part, the `legacy` map on a known song, and the `legacy` map
//! without a `version` (which the sung-songs code sets) on a sung record.
//!
//! The decisions ([`decide_row`], [`decide_known`], [`decide_sung`]) are pure functions of the item
//! read and the contributions; the `Store` methods at the bottom only read and write.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::record::{Plan, SongPart};
use crate::library::{sort_key_with_loved, SpotifyRank, MAX_NOTES_CHARS};
use crate::store::attr::{self, Item};
use crate::store::keys;
use crate::store::{Store, StoreError};
use crate::sung::model::{is_favorite, rating_from_average};
use crate::sung::store::sung_index_attributes;

/// The map of contributions on every item the migration writes.
pub const LEGACY_ATTR: &str = "legacy";
/// Mark of the migration's parts: the Last.fm part's `generation`, `applied_job` and
/// `entered_job`, the Spotify part's `sp_job`, the `source` of known songs and sung records.
pub const LEGACY_MARK: &str = "legacy";
/// The old system kept no Spotify time range; Spotify's default window is medium term.
pub const LEGACY_TIME_RANGE: &str = "medium_term";
/// Attributes of a song row's Last.fm part (as the sync writes them).
pub const LASTFM_ATTRS: [&str; 9] = [
    "playcount",
    "first_uts",
    "last_uts",
    "display_order",
    "sync_count",
    "generation",
    "applied_job",
    "entered_job",
    "entered_op",
];
pub const SPOTIFY_ATTRS: [&str; 5] = [
    "sp_rank",
    "sp_time_range",
    "sp_popularity",
    "sp_job",
    "sp_legacy_rank",
];
pub const KNOWN_ATTRS: [&str; 3] = ["known_song_id", "known_added_at", "known_legacy_at"];

/// Sort key of a sung record (`USER#<user>` / `SUNG#<song id>`), the sung-songs entity.
pub use crate::sung::store::sung_sk;

/// Where a plan lands, once its names and ids are known (see `super::run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SongTarget {
    pub artist: String,
    pub title: String,
    /// `TrackIdentity` key of the names: the song row.
    pub track_key: String,
    /// Id of its known song and sung record: a catalog id whenever the catalog has the song.
    pub song_id: String,
}

/// A write to do, guarded so that a concurrent writer's change is never lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// SET/REMOVE on a song row, if its `version` is still the one read (0: none yet).
    Update {
        pk: String,
        sk: String,
        set: Vec<(String, AttributeValue)>,
        remove: Vec<String>,
        expected_version: u64,
    },
    /// A whole known-song or sung item.
    Put { item: Item, condition: PutCondition },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutCondition {
    /// The item must not exist.
    Absent,
    /// Its `legacy_rev` is still the one read (`unversioned`: and it still has no `version`,
    /// which the sung-songs code sets on every write of its own).
    LegacyRev { rev: u64, unversioned: bool },
}

/// What one contribution did to one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartOutcome {
    /// Its entry was new or different, and the item was written.
    pub changed: bool,
    /// A part of it was not applied because another writer owns that part.
    pub held_back: bool,
}

/// The write for one item (none when everything is already so) and each contribution's outcome,
/// in the order the contributions were given.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub write: Option<Write>,
    pub outcomes: Vec<PartOutcome>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    attr::s(v)
}

fn n(v: impl ToString) -> AttributeValue {
    attr::n(v)
}

/// Equal as DynamoDB means it: numbers by value, maps and lists member by member.
pub fn same(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (a, b) {
        (V::N(x), V::N(y)) => {
            x == y
                || match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x == y,
                    _ => false,
                }
        }
        (V::M(x), V::M(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| same(v, other)))
        }
        (V::L(x), V::L(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        _ => a == b,
    }
}

/// Whether two items hold the same attributes, `ignored` aside.
pub fn same_item(a: &Item, b: &Item, ignored: &[&str]) -> bool {
    fn keys<'a>(i: &'a Item, ignored: &[&str]) -> Vec<&'a String> {
        let mut k: Vec<&String> = i
            .keys()
            .filter(|k| !ignored.contains(&k.as_str()))
            .collect();
        k.sort();
        k
    }
    keys(a, ignored) == keys(b, ignored)
        && a.iter()
            .filter(|(k, _)| !ignored.contains(&k.as_str()))
            .all(|(k, v)| b.get(k).is_some_and(|other| same(v, other)))
}

fn entry(pairs: Vec<(&str, Option<AttributeValue>)>) -> AttributeValue {
    AttributeValue::M(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// A record's entry on its song row: the part it contributes, and the rest of the record (kept
/// for reference, not shown).
pub fn row_entry(plan: &Plan, target: &SongTarget) -> AttributeValue {
    let r = &plan.record;
    let mut pairs = vec![
        ("source", Some(s(plan.source.as_str()))),
        ("song_id", r.song_id.as_deref().map(s)),
        ("created_at", r.created_at.map(n)),
        ("updated_at", r.updated_at.map(n)),
        ("notes", plan.notes.as_deref().map(s)),
        ("is_saved", r.is_saved.map(AttributeValue::Bool)),
        ("times_sung", r.times_sung.map(n)),
        ("last_sung_at", r.last_sung_at.map(n)),
        ("average_rating", r.average_rating.map(n)),
        ("duration_ms", r.duration_ms.map(n)),
        ("explicit", r.explicit.map(AttributeValue::Bool)),
        (
            "has_karaoke_version",
            r.has_karaoke_version.map(AttributeValue::Bool),
        ),
        ("play_count", r.play_count.map(n)),
        ("spotify_popularity", r.spotify_popularity.map(n)),
    ];
    match &plan.part {
        SongPart::Lastfm(l) => pairs.extend([
            ("part", Some(s("lastfm"))),
            ("playcount", l.playcount.map(n)),
            ("sync_count", Some(n(l.sync_count))),
            ("last_played_at", l.last_played_at.map(n)),
            ("rank", l.rank.map(n)),
        ]),
        SongPart::Spotify(sp) => pairs.extend([
            ("part", sp.rank.map(|_| s("spotify"))),
            ("rank", sp.rank.map(n)),
            ("last_played_at", r.last_played_at.map(n)),
        ]),
        SongPart::HandAdded => pairs.push(("last_played_at", r.last_played_at.map(n))),
    }
    if let Some(k) = &plan.known {
        pairs.push(("known_id", Some(s(&target.song_id))));
        pairs.push(("added_at", k.added_at.map(n)));
    }
    if plan.sung.is_some() {
        pairs.push(("sung_id", Some(s(&target.song_id))));
    }
    entry(pairs)
}

/// A record's entry on its known song.
pub fn known_entry(plan: &Plan, target: &SongTarget) -> AttributeValue {
    let known = plan.known.as_ref();
    entry(vec![
        ("source", Some(s(plan.source.as_str()))),
        ("added_at", known.and_then(|k| k.added_at).map(n)),
        ("notes", known.and_then(|k| k.notes.as_deref()).map(s)),
        ("artist", Some(s(&target.artist))),
        ("title", Some(s(&target.title))),
        ("track_key", Some(s(&target.track_key))),
    ])
}

/// A record's entry on its sung record.
pub fn sung_entry(plan: &Plan, target: &SongTarget) -> AttributeValue {
    let sung = plan.sung.as_ref();
    entry(vec![
        ("source", Some(s(plan.source.as_str()))),
        ("times_sung", sung.map(|x| n(x.times_sung))),
        ("last_sung_at", sung.and_then(|x| x.last_sung_at).map(n)),
        ("average_rating", sung.and_then(|x| x.average_rating).map(n)),
        ("artist", Some(s(&target.artist))),
        ("title", Some(s(&target.title))),
        ("track_key", Some(s(&target.track_key))),
    ])
}

fn entry_map(v: &AttributeValue) -> Result<&Item, StoreError> {
    v.as_m()
        .map_err(|_| StoreError::Corrupt("legacy entry is not a map".into()))
}

fn legacy_map(item: Option<&Item>) -> Result<BTreeMap<String, AttributeValue>, StoreError> {
    match item.and_then(|i| i.get(LEGACY_ATTR)) {
        None => Ok(BTreeMap::new()),
        Some(AttributeValue::M(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(_) => Err(StoreError::Corrupt(format!("{LEGACY_ATTR} is not a map"))),
    }
}

/// The map with the contributions applied in order, and whether each one changed it.
fn merge_entries(
    old: &BTreeMap<String, AttributeValue>,
    contributions: &[(String, AttributeValue)],
) -> (BTreeMap<String, AttributeValue>, Vec<bool>) {
    let mut map = old.clone();
    let fresh = contributions
        .iter()
        .map(|(id, e)| {
            let differs = map.get(id).is_none_or(|old| !same(old, e));
            map.insert(id.clone(), e.clone());
            differs
        })
        .collect();
    (map, fresh)
}

/// What one row entry contributes.
#[derive(Debug, Clone, Default, PartialEq)]
struct RowContribution {
    lastfm: Option<LastfmEntry>,
    spotify: Option<SpotifyRank>,
    /// Known song id and when it was added (if the record said).
    known: Option<(String, Option<i64>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LastfmEntry {
    playcount: Option<u64>,
    sync_count: u64,
    last_played_at: Option<i64>,
    created_at: Option<i64>,
}

fn row_contribution(v: &AttributeValue) -> Result<RowContribution, StoreError> {
    let m = entry_map(v)?;
    let part = attr::get_s_opt(m, "part")?;
    Ok(RowContribution {
        lastfm: match part.as_deref() {
            Some("lastfm") => Some(LastfmEntry {
                playcount: attr::get_n_opt(m, "playcount")?,
                sync_count: attr::get_n_opt(m, "sync_count")?.unwrap_or(0),
                last_played_at: attr::get_n_opt(m, "last_played_at")?,
                created_at: attr::get_n_opt(m, "created_at")?,
            }),
            _ => None,
        },
        spotify: match part.as_deref() {
            Some("spotify") => Some(SpotifyRank {
                rank: attr::get_n(m, "rank")?,
                time_range: LEGACY_TIME_RANGE.to_string(),
                popularity: attr::get_n_opt(m, "spotify_popularity")?,
            }),
            _ => None,
        },
        known: match attr::get_s_opt(m, "known_id")? {
            Some(id) => Some((id, attr::get_n_opt(m, "added_at")?)),
            None => None,
        },
    })
}

/// The legacy Last.fm part of a row, combined over its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyLastfm {
    /// Sum of the records' real play counts (spellings that fold to one track add up, as a
    /// real sync would count them); 0 when no record had one.
    pub playcount: u64,
    /// The most syncs any record saw.
    pub sync_count: u64,
    /// Earliest date a record proves the user had played the song (`created_at`,
    /// `last_played_at`); 0 when unknown.
    pub first_uts: i64,
    /// Latest `last_played_at` (else `created_at`); 0 when unknown.
    pub last_uts: i64,
}

fn combine_lastfm(parts: &[RowContribution]) -> Option<LegacyLastfm> {
    let entries: Vec<&LastfmEntry> = parts.iter().filter_map(|p| p.lastfm.as_ref()).collect();
    if entries.is_empty() {
        return None;
    }
    let first = entries
        .iter()
        .flat_map(|e| [e.created_at, e.last_played_at])
        .flatten()
        .min();
    let last = entries
        .iter()
        .filter_map(|e| e.last_played_at.or(e.created_at))
        .max();
    Some(LegacyLastfm {
        playcount: entries
            .iter()
            .filter_map(|e| e.playcount)
            .fold(0u64, u64::saturating_add),
        sync_count: entries.iter().map(|e| e.sync_count).max().unwrap_or(0),
        first_uts: first.unwrap_or(0),
        last_uts: last.unwrap_or(0),
    })
}

/// Who, besides the migration, owns what on the row read.
struct RowRead {
    version: u64,
    playcount: Option<u64>,
    lastfm_is_legacy: bool,
    spotify: Option<SpotifyRank>,
    spotify_is_legacy: bool,
    known_id: Option<String>,
    known_added_at: Option<i64>,
    known_is_legacy: bool,
    loved: bool,
}

fn read_row(item: Option<&Item>) -> Result<RowRead, StoreError> {
    let Some(i) = item else {
        return Ok(RowRead {
            version: 0,
            playcount: None,
            lastfm_is_legacy: false,
            spotify: None,
            spotify_is_legacy: false,
            known_id: None,
            known_added_at: None,
            known_is_legacy: false,
            loved: false,
        });
    };
    let spotify = match attr::get_n_opt::<u32>(i, "sp_rank")? {
        Some(rank) => Some(SpotifyRank {
            rank,
            time_range: attr::get_s(i, "sp_time_range")?,
            popularity: attr::get_n_opt(i, "sp_popularity")?,
        }),
        None => None,
    };
    let known_added_at = attr::get_n_opt(i, "known_added_at")?;
    Ok(RowRead {
        version: attr::get_n_opt(i, "version")?.unwrap_or(0),
        playcount: attr::get_n_opt(i, "playcount")?,
        lastfm_is_legacy: attr::get_s_opt(i, "generation")?.as_deref() == Some(LEGACY_MARK),
        // A Spotify refresh keeps a rank per time range (`sp_long_term`, ...); the migration
        // writes none.
        spotify_is_legacy: spotify.as_ref().is_some_and(|sp| {
            sp.time_range == LEGACY_TIME_RANGE
                && attr::get_n_opt::<u32>(i, "sp_legacy_rank").ok().flatten() == Some(sp.rank)
                && crate::library::TIME_RANGES
                    .iter()
                    .all(|r| !i.contains_key(&format!("sp_{r}")))
        }),
        spotify,
        known_id: attr::get_s_opt(i, "known_song_id")?,
        known_is_legacy: known_added_at.is_some()
            && attr::get_n_opt::<i64>(i, "known_legacy_at")? == known_added_at,
        known_added_at,
        loved: attr::get_bool_opt(i, "lfm_loved")?.unwrap_or(false),
    })
}

/// Which of a user's services have had a real sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// The Last.fm account finished a full sync (`SERVICE#lastfm` has a `generation`): no
    /// legacy Last.fm part is written any more.
    pub lastfm: bool,
    /// A Spotify refresh ran (`SERVICE#spotify` has a `last_sync_at`): no legacy Spotify part
    /// is written any more.
    pub spotify: bool,
}

/// What a song row's decision needs besides the item and the contributions.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    pub user_id: &'a str,
    pub target: &'a SongTarget,
    /// What the user's real syncs have done: their data is the truth.
    pub synced: Synced,
    /// Stands in for a known song's missing `created_at` (kept once written).
    pub now: i64,
}

/// Decides the write of one song row: the legacy map with `contributions` (row entries)
/// applied, the Last.fm, Spotify and known-song parts derived from it wherever the migration
/// owns them, and the row's place in "Songs You Know".
pub fn decide_row(
    existing: Option<&Item>,
    contributions: &[(String, AttributeValue)],
    ctx: &RowContext<'_>,
) -> Result<Decision, StoreError> {
    let read = read_row(existing)?;
    let lastfm_owned = !ctx.synced.lastfm && (read.playcount.is_none() || read.lastfm_is_legacy);
    let spotify_owned = !ctx.synced.spotify && (read.spotify.is_none() || read.spotify_is_legacy);
    let known_owned = read.known_id.is_none() || read.known_is_legacy;
    // Ownership does not depend on what the migration writes, so whether a record's entry goes
    // on the row never depends on the order records come in (or on how many runs it took).
    let contribution_parts: Vec<RowContribution> = contributions
        .iter()
        .map(|(_, e)| row_contribution(e))
        .collect::<Result<_, _>>()?;
    let applies = |p: &RowContribution| {
        (p.lastfm.is_some() && lastfm_owned)
            || (p.spotify.is_some() && spotify_owned)
            || (p.known.is_some() && known_owned)
    };
    let held_back = |p: &RowContribution| {
        (p.lastfm.is_some() && !lastfm_owned)
            || (p.spotify.is_some() && !spotify_owned)
            || (p.known.is_some() && !known_owned)
    };
    let applying: Vec<(String, AttributeValue)> = contributions
        .iter()
        .zip(&contribution_parts)
        .filter(|(_, p)| applies(p))
        .map(|(c, _)| c.clone())
        .collect();
    let (map, applied_fresh) = merge_entries(&legacy_map(existing)?, &applying);
    let mut applied_fresh = applied_fresh.into_iter();
    let fresh: Vec<bool> = contribution_parts
        .iter()
        .map(|p| applies(p) && applied_fresh.next().unwrap_or(false))
        .collect();
    let parts: Vec<RowContribution> = map
        .values()
        .map(row_contribution)
        .collect::<Result<_, _>>()?;

    let mut set: Vec<(String, AttributeValue)> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut put = |name: &str, v: AttributeValue| set.push((name.to_string(), v));

    let legacy_lastfm = combine_lastfm(&parts);
    let playcount = if lastfm_owned {
        match &legacy_lastfm {
            Some(l) => {
                put("playcount", n(l.playcount));
                put("first_uts", n(l.first_uts));
                put("last_uts", n(l.last_uts));
                // Any real scrobble's spelling wins over the legacy one.
                put("display_order", n(i64::MIN));
                put("sync_count", n(l.sync_count));
                put("generation", s(LEGACY_MARK));
                put("applied_job", s(LEGACY_MARK));
                put("entered_job", s(LEGACY_MARK));
                put("entered_op", n(0));
            }
            None if read.lastfm_is_legacy => remove.extend(LASTFM_ATTRS.map(String::from)),
            None => {}
        }
        legacy_lastfm.map(|l| l.playcount)
    } else {
        read.playcount
    };

    // The best rank wins; of equal ranks, the record with the smallest id.
    let legacy_spotify = parts
        .iter()
        .filter_map(|p| p.spotify.as_ref())
        .min_by_key(|sp| sp.rank)
        .cloned();
    let spotify = if spotify_owned {
        match &legacy_spotify {
            Some(sp) => {
                put("sp_rank", n(sp.rank));
                put("sp_time_range", s(&sp.time_range));
                put("sp_job", s(LEGACY_MARK));
                put("sp_legacy_rank", n(sp.rank));
                match sp.popularity {
                    Some(p) => put("sp_popularity", n(p)),
                    None => remove.push("sp_popularity".into()),
                }
            }
            None if read.spotify_is_legacy => remove.extend(SPOTIFY_ATTRS.map(String::from)),
            None => {}
        }
        legacy_spotify
    } else {
        read.spotify.clone()
    };

    // The earliest added wins; of equal dates, the smallest id.
    let legacy_known = parts
        .iter()
        .filter_map(|p| p.known.as_ref())
        .min_by_key(|(_, added)| added.unwrap_or(i64::MAX))
        .cloned();
    let known_added_at = if known_owned {
        match &legacy_known {
            Some((id, added)) => {
                let at = added
                    .or(read.known_added_at.filter(|_| read.known_is_legacy))
                    .unwrap_or(ctx.now);
                put("known_song_id", s(id));
                put("known_added_at", n(at));
                put("known_legacy_at", n(at));
                Some(at)
            }
            None => {
                if read.known_is_legacy {
                    remove.extend(KNOWN_ATTRS.map(String::from));
                }
                None
            }
        }
    } else {
        read.known_added_at.or(read.known_id.as_ref().map(|_| 0))
    };

    let visible =
        playcount.is_some() || spotify.is_some() || known_added_at.is_some() || read.loved;
    if existing.is_none() && !visible {
        // Nothing would show: no row is created just to hold references.
        return Ok(Decision {
            write: None,
            outcomes: contribution_parts
                .iter()
                .map(|p| PartOutcome {
                    changed: false,
                    held_back: held_back(p),
                })
                .collect(),
        });
    }

    let target = ctx.target;
    let has = |name: &str| existing.is_some_and(|i| i.contains_key(name));
    if !has("entity") {
        put("entity", s("song"));
    }
    if !has("track_key") {
        put("track_key", s(&target.track_key));
    }
    if !has("artist") {
        put("artist", s(&target.artist));
    }
    if !has("title") {
        put("title", s(&target.title));
    }
    if visible {
        put("gsi1pk", s(keys::songs_gsi_pk(ctx.user_id)));
        put(
            "gsi1sk",
            s(sort_key_with_loved(
                playcount,
                spotify.as_ref(),
                read.loved,
                known_added_at,
                &target.track_key,
            )),
        );
    } else {
        remove.extend(["gsi1pk".to_string(), "gsi1sk".to_string()]);
    }
    if !map.is_empty() || has(LEGACY_ATTR) {
        put(LEGACY_ATTR, AttributeValue::M(map.into_iter().collect()));
    }

    set.retain(|(name, v)| {
        existing
            .and_then(|i| i.get(name))
            .is_none_or(|old| !same(old, v))
    });
    remove.retain(|name| has(name) && !set.iter().any(|(s, _)| s == name));
    let write = (!set.is_empty() || !remove.is_empty()).then(|| {
        set.push(("version".into(), n(read.version + 1)));
        Write::Update {
            pk: keys::user_pk(ctx.user_id),
            sk: keys::track_sk(&target.track_key),
            set,
            remove,
            expected_version: read.version,
        }
    });
    let written = write.is_some();
    Ok(Decision {
        write,
        outcomes: contribution_parts
            .iter()
            .zip(fresh)
            .map(|(p, fresh)| PartOutcome {
                changed: fresh && written,
                held_back: held_back(p),
            })
            .collect(),
    })
}

/// What a known song's or sung record's decision needs.
#[derive(Debug, Clone, Copy)]
pub struct ItemContext<'a> {
    pub user_id: &'a str,
    pub song_id: &'a str,
    /// Stands in for a missing date (kept once written).
    pub now: i64,
}

fn not_owned(count: usize) -> Decision {
    Decision {
        write: None,
        outcomes: vec![
            PartOutcome {
                changed: false,
                held_back: true
            };
            count
        ],
    }
}

fn finish(
    existing: Option<&Item>,
    mut item: Item,
    fresh: Vec<bool>,
    ignored: &[&str],
    stamp: impl FnOnce(&mut Item) -> PutCondition,
) -> Decision {
    let unchanged = existing.is_some_and(|old| same_item(old, &item, ignored));
    let write = (!unchanged).then(|| {
        let condition = stamp(&mut item);
        Write::Put { item, condition }
    });
    let written = write.is_some();
    Decision {
        write,
        outcomes: fresh
            .into_iter()
            .map(|fresh| PartOutcome {
                changed: fresh && written,
                held_back: false,
            })
            .collect(),
    }
}

fn base_item(user_id: &str, sk: String, entity: &str, song_id: &str) -> Item {
    Item::from([
        ("pk".to_string(), s(keys::user_pk(user_id))),
        ("sk".to_string(), s(sk)),
        ("entity".to_string(), s(entity)),
        ("song_id".to_string(), s(song_id)),
        ("source".to_string(), s(LEGACY_MARK)),
    ])
}

fn names_of(m: &Item) -> Result<(String, String, String), StoreError> {
    Ok((
        attr::get_s(m, "artist")?,
        attr::get_s(m, "title")?,
        attr::get_s(m, "track_key")?,
    ))
}

/// Decides the write of one known song (`KNOWN#<song id>`), laid out as `put_known_song`
/// writes it (so the API lists and deletes it), plus `source = "legacy"`, the `legacy` map and
/// `legacy_rev`. A known song the user added through the API is left alone.
pub fn decide_known(
    existing: Option<&Item>,
    contributions: &[(String, AttributeValue)],
    ctx: &ItemContext<'_>,
) -> Result<Decision, StoreError> {
    if existing.is_some_and(|i| !i.contains_key(LEGACY_ATTR)) {
        return Ok(not_owned(contributions.len()));
    }
    let (map, fresh) = merge_entries(&legacy_map(existing)?, contributions);
    // Earliest added first; of equal dates, the smallest id.
    let mut entries: Vec<(Option<i64>, &Item)> = map
        .values()
        .map(|v| Ok((attr::get_n_opt(entry_map(v)?, "added_at")?, entry_map(v)?)))
        .collect::<Result<_, StoreError>>()?;
    entries.sort_by_key(|(added, _)| added.unwrap_or(i64::MAX));
    let Some((added, primary)) = entries.first().copied() else {
        return Ok(not_owned(0));
    };
    let (artist, title, track_key) = names_of(primary)?;
    let added_at = added
        .or(existing.and_then(|i| attr::get_n_opt(i, "added_at").ok().flatten()))
        .unwrap_or(ctx.now);
    let mut notes: Vec<String> = Vec::new();
    for (_, e) in &entries {
        if let Some(text) = attr::get_s_opt(e, "notes")? {
            if !notes.contains(&text) {
                notes.push(text);
            }
        }
    }
    let notes: String = notes.join("\n").chars().take(MAX_NOTES_CHARS).collect();

    let mut item = base_item(
        ctx.user_id,
        keys::known_sk(ctx.song_id),
        "known_song",
        ctx.song_id,
    );
    item.insert("artist".into(), s(artist));
    item.insert("title".into(), s(title));
    item.insert("track_key".into(), s(track_key));
    item.insert("added_at".into(), n(added_at));
    if !notes.is_empty() {
        item.insert("notes".into(), s(notes));
    }
    item.insert(
        LEGACY_ATTR.into(),
        AttributeValue::M(map.into_iter().collect()),
    );
    let rev: Option<u64> = existing.and_then(|i| attr::get_n_opt(i, "legacy_rev").ok().flatten());
    Ok(finish(existing, item, fresh, &["legacy_rev"], |item| {
        item.insert("legacy_rev".into(), n(rev.unwrap_or(0) + 1));
        match existing {
            None => PutCondition::Absent,
            Some(_) => PutCondition::LegacyRev {
                rev: rev.unwrap_or(0),
                unversioned: false,
            },
        }
    }))
}

/// Decides the write of one sung record (`SUNG#<song id>`): `times_sung` (the most any record
/// says; records of one song describe the same performances), `last_sung_at` (the latest),
/// `average_rating` and `rating` (rounded) from the record with the most performances,
/// `source = "legacy"`, no `version`, and the list-index attributes the sung-songs code uses
/// (`sung_index_attributes`: the sung list, and "My Favorites" when the rating is 4 or 5). A
/// record the sung-songs code has written since (it has a `version`) is left alone.
pub fn decide_sung(
    existing: Option<&Item>,
    contributions: &[(String, AttributeValue)],
    ctx: &ItemContext<'_>,
) -> Result<Decision, StoreError> {
    // The sung-songs code versions every record it writes; the migration's have no version.
    if existing.is_some_and(|i| !i.contains_key(LEGACY_ATTR) || i.contains_key("version")) {
        return Ok(not_owned(contributions.len()));
    }
    let (map, fresh) = merge_entries(&legacy_map(existing)?, contributions);
    struct Sung<'a> {
        times: u64,
        last: Option<i64>,
        average: Option<f64>,
        entry: &'a Item,
    }
    let entries: Vec<Sung<'_>> = map
        .values()
        .map(|v| {
            let e = entry_map(v)?;
            Ok(Sung {
                times: attr::get_n_opt(e, "times_sung")?.unwrap_or(1),
                last: attr::get_n_opt(e, "last_sung_at")?,
                average: attr::get_n_opt(e, "average_rating")?,
                entry: e,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    // Most performances, then the latest; of equals, the smallest id (the map's first).
    let Some(primary) = entries.iter().rev().max_by_key(|e| (e.times, e.last)) else {
        return Ok(not_owned(0));
    };
    let (artist, title, track_key) = names_of(primary.entry)?;
    let mut item = base_item(ctx.user_id, sung_sk(ctx.song_id), "sung_song", ctx.song_id);
    item.insert("artist".into(), s(artist));
    item.insert("title".into(), s(title));
    item.insert("track_key".into(), s(track_key));
    item.insert(
        "times_sung".into(),
        n(entries.iter().map(|e| e.times).max().unwrap_or(1)),
    );
    if let Some(last) = entries.iter().filter_map(|e| e.last).max() {
        item.insert("last_sung_at".into(), n(last));
    }
    let rating = primary.average.and_then(rating_from_average);
    if let Some(average) = primary.average {
        item.insert("average_rating".into(), n(average));
    }
    if let Some(r) = rating {
        item.insert("rating".into(), n(r));
    }
    let last_sung_at = entries.iter().filter_map(|e| e.last).max();
    for (name, value) in sung_index_attributes(
        ctx.user_id,
        ctx.song_id,
        last_sung_at.unwrap_or(0),
        is_favorite(rating, None),
    ) {
        if let Some(v) = value {
            item.insert(name.into(), v);
        }
    }
    let created = existing
        .and_then(|i| attr::get_n_opt::<i64>(i, "created_at").ok().flatten())
        .unwrap_or(ctx.now);
    item.insert("created_at".into(), n(created));
    item.insert(
        LEGACY_ATTR.into(),
        AttributeValue::M(map.into_iter().collect()),
    );
    let rev: u64 = existing
        .and_then(|i| attr::get_n_opt(i, "legacy_rev").ok().flatten())
        .unwrap_or(0);
    Ok(finish(existing, item, fresh, &["legacy_rev"], |item| {
        item.insert("legacy_rev".into(), n(rev + 1));
        match existing {
            None => PutCondition::Absent,
            Some(_) => PutCondition::LegacyRev {
                rev,
                unversioned: true,
            },
        }
    }))
}

/// A write's parts as DynamoDB expressions.
struct Expression {
    update: Option<String>,
    condition: String,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

fn expression(write: &Write) -> Expression {
    match write {
        Write::Update {
            set,
            remove,
            expected_version,
            ..
        } => {
            let mut update = format!(
                "SET {}",
                (0..set.len())
                    .map(|i| format!("#s{i} = :s{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !remove.is_empty() {
                update.push_str(&format!(
                    " REMOVE {}",
                    (0..remove.len())
                        .map(|i| format!("#r{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let mut names = vec![("#ver".to_string(), "version".to_string())];
            let mut values = Vec::new();
            for (i, (name, value)) in set.iter().enumerate() {
                names.push((format!("#s{i}"), name.clone()));
                values.push((format!(":s{i}"), value.clone()));
            }
            for (i, name) in remove.iter().enumerate() {
                names.push((format!("#r{i}"), name.clone()));
            }
            let condition = if *expected_version == 0 {
                "attribute_not_exists(#ver)".to_string()
            } else {
                values.push((":expected".into(), attr::n(*expected_version)));
                "#ver = :expected".to_string()
            };
            Expression {
                update: Some(update),
                condition,
                names,
                values,
            }
        }
        Write::Put { condition, .. } => {
            let (condition, names, values) = match condition {
                PutCondition::Absent => ("attribute_not_exists(pk)", vec![], vec![]),
                PutCondition::LegacyRev { rev, unversioned } => (
                    if *unversioned {
                        "#rev = :rev AND attribute_not_exists(#ver)"
                    } else {
                        "#rev = :rev"
                    },
                    if *unversioned {
                        vec![
                            ("#rev".to_string(), "legacy_rev".to_string()),
                            ("#ver".to_string(), "version".to_string()),
                        ]
                    } else {
                        vec![("#rev".to_string(), "legacy_rev".to_string())]
                    },
                    vec![(":rev".to_string(), attr::n(*rev))],
                ),
            };
            Expression {
                update: None,
                condition: condition.to_string(),
                names,
                values,
            }
        }
    }
}

fn transact_item(table: &str, write: &Write) -> Result<TransactWriteItem, StoreError> {
    let e = expression(write);
    let names: HashMap<String, String> = e.names.into_iter().collect();
    let values: HashMap<String, AttributeValue> = e.values.into_iter().collect();
    let built = match write {
        Write::Update { pk, sk, .. } => TransactWriteItem::builder().update(
            Update::builder()
                .table_name(table)
                .key("pk", attr::s(pk))
                .key("sk", attr::s(sk))
                .update_expression(e.update.unwrap_or_default())
                .condition_expression(e.condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .build()
                .map_err(|err| StoreError::Dynamo(err.to_string()))?,
        ),
        Write::Put { item, .. } => TransactWriteItem::builder().put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item.clone()))
                .condition_expression(e.condition)
                .set_expression_attribute_names((!names.is_empty()).then_some(names))
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .build()
                .map_err(|err| StoreError::Dynamo(err.to_string()))?,
        ),
    };
    Ok(built.build())
}

/// Writes per transaction (the DynamoDB maximum).
pub const TRANSACTION_WRITES: usize = 100;

impl Store {
    /// One item, strongly consistent.
    pub(crate) async fn migration_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Item>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", attr::s(pk))
            .key("sk", attr::s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    /// Many items at once (strongly consistent, a few BatchGetItem requests in flight), by
    /// (pk, sk).
    pub(crate) async fn migration_items(
        &self,
        wanted: &[(String, String)],
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let batches: Vec<Vec<Item>> = wanted
            .chunks(100)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(pk, sk)| {
                        Item::from([
                            ("pk".to_string(), attr::s(pk)),
                            ("sk".to_string(), attr::s(sk)),
                        ])
                    })
                    .collect()
            })
            .collect();
        let found: Vec<Vec<Item>> = stream::iter(batches)
            .map(|keys| self.batch_get(keys))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let mut by_key = HashMap::new();
        for item in found.into_iter().flatten() {
            let key = (attr::get_s(&item, "pk")?, attr::get_s(&item, "sk")?);
            by_key.insert(key, item);
        }
        Ok(by_key)
    }

    /// Does one write; `Conflict` when its guard failed (someone wrote the item meanwhile).
    pub(crate) async fn migration_write(&self, write: &Write) -> Result<(), StoreError> {
        self.metrics.write();
        let e = expression(write);
        let names: HashMap<String, String> = e.names.into_iter().collect();
        let values: HashMap<String, AttributeValue> = e.values.into_iter().collect();
        match write {
            Write::Update { pk, sk, .. } => {
                self.db
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(pk))
                    .key("sk", attr::s(sk))
                    .update_expression(e.update.unwrap_or_default())
                    .condition_expression(e.condition)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values((!values.is_empty()).then_some(values))
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
            }
            Write::Put { item, .. } => {
                self.db
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item.clone()))
                    .condition_expression(e.condition)
                    .set_expression_attribute_names((!names.is_empty()).then_some(names))
                    .set_expression_attribute_values((!values.is_empty()).then_some(values))
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
            }
        }
        Ok(())
    }

    /// Does up to [`TRANSACTION_WRITES`] writes (of distinct items) in one transaction: all or
    /// none. False when it was cancelled (a guard failed, or a concurrent transaction touched
    /// one of the items): nothing was written.
    pub(crate) async fn migration_transact(&self, writes: &[&Write]) -> Result<bool, StoreError> {
        let items = writes
            .iter()
            .map(|w| transact_item(&self.table, w))
            .collect::<Result<Vec<_>, _>>()?;
        self.metrics.write();
        match self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception());
                if cancelled {
                    Ok(false)
                } else {
                    Err(StoreError::from_sdk(e))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::record::parse_line;
    use crate::normalize::TrackIdentity;
    use serde_json::{json, Value};

    const NOW: i64 = 1_767_225_600;

    fn plan(v: Value) -> Plan {
        parse_line(1, &v.to_string()).unwrap()
    }

    fn target(artist: &str, title: &str, song_id: &str) -> SongTarget {
        SongTarget {
            artist: artist.into(),
            title: title.into(),
            track_key: TrackIdentity::of(artist, title).key(),
            song_id: song_id.into(),
        }
    }

    fn lastfm(id: &str, extra: Value) -> Plan {
        let mut v = json!({"id": id, "user_id": "u1", "source": "lastfm", "artist": "Queen", "title": "Bohemian Rhapsody"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        plan(v)
    }

    /// Applies a write to an in-memory item, as DynamoDB would.
    fn apply(existing: Option<&Item>, write: &Write) -> Item {
        match write {
            Write::Update {
                pk,
                sk,
                set,
                remove,
                expected_version,
            } => {
                let mut item = existing
                    .cloned()
                    .unwrap_or_else(|| Item::from([("pk".into(), s(pk)), ("sk".into(), s(sk))]));
                let version: u64 = attr::get_n_opt(&item, "version").unwrap().unwrap_or(0);
                assert_eq!(version, *expected_version, "version guard");
                for name in remove {
                    item.remove(name);
                }
                for (name, v) in set {
                    item.insert(name.clone(), v.clone());
                }
                item
            }
            Write::Put { item, .. } => item.clone(),
        }
    }

    fn row(
        existing: Option<&Item>,
        plans: &[(&Plan, &SongTarget)],
        synced: bool,
    ) -> (Decision, Option<Item>) {
        let contributions: Vec<(String, AttributeValue)> = plans
            .iter()
            .map(|(p, t)| (p.legacy_id.clone(), row_entry(p, t)))
            .collect();
        let t = plans[0].1;
        let ctx = RowContext {
            user_id: "u1",
            target: t,
            synced: Synced {
                lastfm: synced,
                spotify: synced,
            },
            now: NOW,
        };
        let d = decide_row(existing, &contributions, &ctx).unwrap();
        let after = match &d.write {
            Some(w) => Some(apply(existing, w)),
            None => existing.cloned(),
        };
        (d, after)
    }

    fn num(item: &Item, name: &str) -> Option<i64> {
        attr::get_n_opt(item, name).unwrap()
    }

    #[test]
    fn a_lastfm_record_becomes_a_last_fm_part_the_api_and_the_sync_can_read() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let p = lastfm(
            "r1",
            json!({"playcount": 42, "play_count": 3, "last_played_at": 1_700_000_000, "created_at": 1_500_000_000}),
        );
        let (d, after) = row(None, &[(&p, &t)], false);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: true,
                held_back: false
            }]
        );
        let item = after.unwrap();
        let song = crate::store::library::song_row(&item).unwrap();
        let l = song.lastfm.unwrap();
        assert_eq!((l.playcount, l.sync_count), (42, 3));
        assert_eq!((l.first_uts, l.last_uts), (1_500_000_000, 1_700_000_000));
        assert_eq!(song.artist, "Queen");
        // The sync reads it as a Last.fm part of another generation: it will rebuild the
        // counts and carry the sync history over.
        let state = crate::store::tracks::from_item(&item).unwrap();
        assert_eq!(state.generation, LEGACY_MARK);
        assert_eq!(state.sync_count, 3);
        assert_eq!(state.version, 1);
        assert_eq!(item["gsi1sk"], s(keys::lastfm_song_sort(42, &t.track_key)));
        assert_eq!(item["gsi1pk"], s("SONGS#u1"));

        // Again: nothing to write.
        let (d, _) = row(Some(&item), &[(&p, &t)], false);
        assert_eq!(d.write, None);
        assert_eq!(d.outcomes, [PartOutcome::default()]);
    }

    #[test]
    fn without_a_real_count_the_part_has_playcount_zero_and_sorts_by_its_other_parts() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let p = lastfm(
            "r1",
            json!({"play_count": 2, "is_saved": true, "created_at": 1_600_000_000}),
        );
        let (_, after) = row(None, &[(&p, &t)], false);
        let item = after.unwrap();
        let song = crate::store::library::song_row(&item).unwrap();
        assert_eq!(song.lastfm.as_ref().unwrap().playcount, 0);
        assert_eq!(song.lastfm.as_ref().unwrap().sync_count, 2);
        assert_eq!(song.known_song_id.as_deref(), Some("KS0001"));
        assert_eq!(
            item["gsi1sk"],
            s(format!("c#{:012}#{}", 1_600_000_000, t.track_key))
        );
    }

    #[test]
    fn spellings_that_fold_together_add_their_counts_in_any_order() {
        let a = target("Beyonce", "Halo", "lastfm:beyonce:halo");
        let b = target("Beyoncé", "HALO", "lastfm:beyonc:halo");
        assert_eq!(a.track_key, b.track_key);
        let pa = lastfm(
            "a",
            json!({"artist": "Beyonce", "title": "Halo", "playcount": 10, "sync_count": 2, "last_played_at": 300}),
        );
        let pb = lastfm(
            "b",
            json!({"artist": "Beyoncé", "title": "HALO", "playcount": 5, "sync_count": 4, "created_at": 100, "last_played_at": 200}),
        );
        let (_, one) = row(None, &[(&pa, &a), (&pb, &b)], false);
        let (_, first) = row(None, &[(&pb, &b)], false);
        let (d, two) = row(first.as_ref(), &[(&pa, &a)], false);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: true,
                held_back: false
            }]
        );
        let one = one.unwrap();
        let two = two.unwrap();
        assert!(same_item(&one, &two, &["version", "artist", "title"]));
        assert_eq!(num(&one, "playcount"), Some(15));
        assert_eq!(num(&one, "sync_count"), Some(4));
        assert_eq!(
            (num(&one, "first_uts"), num(&one, "last_uts")),
            (Some(100), Some(300))
        );
        assert_eq!(num(&two, "version"), Some(2));
        // Re-applying either changes nothing.
        let (d, _) = row(Some(&two), &[(&pb, &b), (&pa, &a)], false);
        assert_eq!(d.write, None);
    }

    #[test]
    fn a_real_sync_is_never_overwritten() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let item = Item::from([
            ("playcount".to_string(), n(700)),
            ("first_uts".to_string(), n(10)),
            ("last_uts".to_string(), n(20)),
            ("sync_count".to_string(), n(1)),
            ("generation".to_string(), s("job-1")),
            ("version".to_string(), n(3)),
            ("track_key".to_string(), s(&t.track_key)),
            ("artist".to_string(), s("Queen")),
            ("title".to_string(), s("Bohemian Rhapsody")),
            ("entity".to_string(), s("song")),
            ("gsi1pk".to_string(), s("SONGS#u1")),
            (
                "gsi1sk".to_string(),
                s(keys::lastfm_song_sort(700, &t.track_key)),
            ),
        ]);
        let p = lastfm("r1", json!({"playcount": 42, "play_count": 3}));
        let (d, after) = row(Some(&item), &[(&p, &t)], false);
        assert_eq!(d.write, None, "the real part stays as it is");
        assert_eq!(after.as_ref(), Some(&item));
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }]
        );
        // A saved record: its known part applies (the Last.fm part still does not).
        let saved = lastfm(
            "r2",
            json!({"playcount": 42, "play_count": 3, "is_saved": true, "created_at": 7}),
        );
        let (d, after) = row(Some(&item), &[(&saved, &t)], false);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: true,
                held_back: true
            }]
        );
        let after = after.unwrap();
        assert_eq!(num(&after, "playcount"), Some(700));
        assert_eq!(num(&after, "sync_count"), Some(1));
        assert_eq!(after["generation"], s("job-1"));
        assert_eq!(num(&after, "known_added_at"), Some(7));
        assert_eq!(after["gsi1sk"], item["gsi1sk"]);
        assert_eq!(num(&after, "version"), Some(4));
        // Again: nothing changes, and it is still held back.
        let (d, _) = row(Some(&after), &[(&saved, &t), (&p, &t)], false);
        assert_eq!(d.write, None);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }; 2]
        );

        // After the user's first real full sync, no legacy Last.fm part is created at all.
        let (d, after) = row(None, &[(&p, &t)], true);
        assert_eq!(d.write, None);
        assert_eq!(after, None);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }]
        );
    }

    #[test]
    fn records_that_apply_nothing_to_a_row_leave_no_trace_in_any_order() {
        let t = target("Journey", "Don't Stop Believin'", "KS0017");
        // Sung only (a Spotify record without a rank): nothing to show on the row.
        let sung_only = plan(
            json!({"id": "s", "user_id": "u1", "source": "spotify", "artist": "Journey", "title": "Don't Stop Believin'", "times_sung": 2}),
        );
        let played = lastfm(
            "l",
            json!({"artist": "Journey", "title": "Don't Stop Believin'", "playcount": 3}),
        );
        let (d, after) = row(None, &[(&sung_only, &t)], false);
        assert_eq!((d.write.as_ref(), after.as_ref()), (None, None));
        let (_, after) = row(None, &[(&played, &t)], false);
        let item = after.unwrap();
        // The first record again, now that the row exists: still nothing (a second run of
        // the same file must not write).
        let (d, _) = row(Some(&item), &[(&sung_only, &t)], false);
        assert_eq!(d.write, None);
        assert_eq!(d.outcomes, [PartOutcome::default()]);
        // The same with a held-back Last.fm part (the user has synced) and a known song.
        let known = plan(
            json!({"id": "k", "user_id": "u1", "source": "quiz", "song_id": "KS0017", "artist": "Journey", "title": "Don't Stop Believin'", "created_at": 5}),
        );
        let (d, _) = row(None, &[(&played, &t)], true);
        assert_eq!(d.write, None);
        let (_, after) = row(None, &[(&known, &t)], true);
        let item = after.unwrap();
        let (d, _) = row(Some(&item), &[(&played, &t)], true);
        assert_eq!(d.write, None);
        assert!(d.outcomes[0].held_back);
    }

    #[test]
    fn spotify_parts_take_the_best_rank_and_yield_to_a_real_refresh() {
        let t = target(
            "Taylor Swift",
            "Anti-Hero",
            "spotify:taylor swift:anti-hero",
        );
        let sp = |id: &str, rank: u32, pop: Option<u32>| {
            let mut v = json!({"id": id, "user_id": "u1", "source": "spotify", "artist": "Taylor Swift", "title": "Anti-Hero", "rank": rank});
            if let Some(p) = pop {
                v["spotify_popularity"] = json!(p);
            }
            plan(v)
        };
        let (a, b) = (sp("a", 7, Some(80)), sp("b", 3, None));
        let (_, after) = row(None, &[(&a, &t), (&b, &t)], false);
        let item = after.unwrap();
        let song = crate::store::library::song_row(&item).unwrap();
        let rank = song.spotify.unwrap();
        assert_eq!(
            (rank.rank, rank.time_range.as_str(), rank.popularity),
            (3, "medium_term", None)
        );
        assert_eq!(item["gsi1sk"], s(format!("b#000003#1#{}", t.track_key)));
        assert!(song.lastfm.is_none());

        // A real Spotify refresh rewrote the part (a rank per time range, the best of them):
        // the migration leaves it alone, even when the rank happens to be the same.
        let mut same_rank = item.clone();
        same_rank.insert("sp_medium_term".into(), n(3));
        let c = sp("c", 2, Some(50));
        let (d, _) = row(Some(&same_rank), &[(&c, &t)], false);
        assert_eq!(d.write, None);
        assert!(d.outcomes[0].held_back);
        let mut refreshed = item.clone();
        refreshed.insert("sp_rank".into(), n(1));
        refreshed.insert("sp_time_range".into(), s("long_term"));
        refreshed.insert("sp_long_term".into(), n(1));
        let (d, after) = row(Some(&refreshed), &[(&c, &t)], false);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }]
        );
        let after = after.unwrap();
        assert_eq!(num(&after, "sp_rank"), Some(1));
        assert_eq!(after["sp_time_range"], s("long_term"));

        // Once the user's Spotify account has been refreshed, no legacy rank is written.
        let ctx = RowContext {
            user_id: "u1",
            target: &t,
            synced: Synced {
                lastfm: false,
                spotify: true,
            },
            now: NOW,
        };
        let d = decide_row(None, &[("a".into(), row_entry(&a, &t))], &ctx).unwrap();
        assert_eq!(d.write, None);
        assert!(d.outcomes[0].held_back);
    }

    #[test]
    fn known_parts_keep_the_user_s_own_additions() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let p = plan(json!({"id": "q", "user_id": "u1", "source": "quiz", "song_id": "KS0001"}));
        // No created_at: the run's time stands in, and is kept by later runs.
        let (_, after) = row(None, &[(&p, &t)], false);
        let item = after.unwrap();
        assert_eq!(num(&item, "known_added_at"), Some(NOW));
        let ctx = RowContext {
            user_id: "u1",
            target: &t,
            synced: Synced::default(),
            now: NOW + 99,
        };
        let d = decide_row(Some(&item), &[("q".into(), row_entry(&p, &t))], &ctx).unwrap();
        assert_eq!(d.write, None);

        // Added through the API (different date): not the migration's any more.
        let mut mine = item.clone();
        mine.insert("known_added_at".into(), n(5));
        let m = plan(
            json!({"id": "m", "user_id": "u1", "source": "manual", "song_id": "KS0001", "created_at": 1}),
        );
        let (d, after) = row(Some(&mine), &[(&m, &t)], false);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }]
        );
        assert_eq!(num(after.as_ref().unwrap(), "known_added_at"), Some(5));
    }

    #[test]
    fn removed_contributions_take_their_parts_along() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let first = lastfm("r1", json!({"playcount": 4}));
        let (_, after) = row(None, &[(&first, &t)], false);
        // The same record re-exported as a hand-added song: the Last.fm part goes.
        let again = plan(
            json!({"id": "r1", "user_id": "u1", "source": "manual", "artist": "Queen", "title": "Bohemian Rhapsody", "created_at": 9}),
        );
        let (d, after) = row(after.as_ref(), &[(&again, &t)], false);
        assert!(d.outcomes[0].changed);
        let item = after.unwrap();
        assert!(!item.contains_key("playcount") && !item.contains_key("generation"));
        assert_eq!(num(&item, "known_added_at"), Some(9));
    }

    fn known(existing: Option<&Item>, plans: &[&Plan], t: &SongTarget) -> (Decision, Option<Item>) {
        let contributions: Vec<_> = plans
            .iter()
            .map(|p| (p.legacy_id.clone(), known_entry(p, t)))
            .collect();
        let ctx = ItemContext {
            user_id: "u1",
            song_id: &t.song_id,
            now: NOW,
        };
        let d = decide_known(existing, &contributions, &ctx).unwrap();
        let after = d
            .write
            .as_ref()
            .map(|w| apply(existing, w))
            .or(existing.cloned());
        (d, after)
    }

    #[test]
    fn known_songs_combine_their_records_and_look_like_the_api_s() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let a = plan(
            json!({"id": "a", "user_id": "u1", "source": "quiz", "song_id": "KS0001", "artist": "Queen", "title": "Bohemian Rhapsody", "created_at": 200, "notes": "high part!"}),
        );
        let b = plan(
            json!({"id": "b", "user_id": "u1", "source": "lastfm", "is_saved": true, "artist": "Queen", "title": "Bohemian Rhapsody", "created_at": 100, "notes": "warm up first"}),
        );
        let (d, after) = known(None, &[&a, &b], &t);
        assert!(matches!(
            d.write,
            Some(Write::Put {
                condition: PutCondition::Absent,
                ..
            })
        ));
        let item = after.unwrap();
        assert_eq!(item["sk"], s("KNOWN#KS0001"));
        assert_eq!(item["entity"], s("known_song"));
        assert_eq!(num(&item, "added_at"), Some(100));
        assert_eq!(item["notes"], s("warm up first\nhigh part!"));
        assert_eq!(item["track_key"], s(&t.track_key));
        assert_eq!(num(&item, "legacy_rev"), Some(1));
        let (d, _) = known(Some(&item), &[&b, &a], &t);
        assert_eq!(d.write, None);
        assert_eq!(d.outcomes, [PartOutcome::default(); 2]);
        // Added through the API since (no legacy map): left alone.
        let mut api = item.clone();
        api.remove(LEGACY_ATTR);
        let (d, _) = known(Some(&api), &[&a], &t);
        assert_eq!(d.write, None);
        assert_eq!(
            d.outcomes,
            [PartOutcome {
                changed: false,
                held_back: true
            }]
        );
    }

    fn sung(existing: Option<&Item>, plans: &[&Plan], t: &SongTarget) -> (Decision, Option<Item>) {
        let contributions: Vec<_> = plans
            .iter()
            .map(|p| (p.legacy_id.clone(), sung_entry(p, t)))
            .collect();
        let ctx = ItemContext {
            user_id: "u1",
            song_id: &t.song_id,
            now: NOW,
        };
        let d = decide_sung(existing, &contributions, &ctx).unwrap();
        let after = d
            .write
            .as_ref()
            .map(|w| apply(existing, w))
            .or(existing.cloned());
        (d, after)
    }

    #[test]
    fn sung_records_hold_counts_dates_and_ratings_for_the_sung_songs_entity() {
        let t = target("Queen", "Bohemian Rhapsody", "KS0001");
        let a = lastfm(
            "a",
            json!({"times_sung": 3, "last_sung_at": 1_600_000_000, "average_rating": 4.5}),
        );
        let b = plan(
            json!({"id": "b", "user_id": "u1", "source": "quiz", "song_id": "KS0001", "times_sung": 2, "last_sung_at": 1_650_000_000, "average_rating": 2}),
        );
        let (_, after) = sung(None, &[&b, &a], &t);
        let item = after.unwrap();
        assert_eq!(item["sk"], s("SUNG#KS0001"));
        assert_eq!(item["source"], s("legacy"));
        assert_eq!(num(&item, "times_sung"), Some(3));
        assert_eq!(num(&item, "last_sung_at"), Some(1_650_000_000));
        assert_eq!(item["average_rating"], n(4.5));
        assert_eq!(num(&item, "rating"), Some(5));
        assert_eq!(num(&item, "created_at"), Some(NOW));
        assert!(
            !item.contains_key("version"),
            "the sung-songs code reads it as version 0"
        );
        assert_eq!(num(&item, "legacy_rev"), Some(1));
        // In the sung list, and (rated 5) in "My Favorites".
        assert_eq!(item["gsi1pk"], s("SUNG#u1"));
        assert_eq!(item["gsi1sk"], s("001650000000#KS0001"));
        assert_eq!(item["gsi2pk"], s("FAV#u1"));
        // The sung-songs code reads it.
        let read = crate::sung::store::sung_from_item(&item).unwrap();
        assert_eq!(read.times_sung, 3);
        assert_eq!(read.last_sung_at, Some(1_650_000_000));
        assert_eq!(read.rating, Some(5));
        assert_eq!(read.legacy_average_rating, Some(4.5));
        assert_eq!(read.source.as_deref(), Some("legacy"));
        assert_eq!(read.version, 0);
        assert!(read.is_favorite());
        let (d, _) = sung(Some(&item), &[&a, &b], &t);
        assert_eq!(d.write, None);
        // A low rating: not a favourite.
        let low = lastfm("low", json!({"times_sung": 1, "average_rating": 2.2}));
        let (_, after) = sung(None, &[&low], &t);
        let low_item = after.unwrap();
        assert_eq!(num(&low_item, "rating"), Some(2));
        assert!(!low_item.contains_key("gsi2pk"));
        assert_eq!(low_item["gsi1sk"], s("000000000000#KS0001"));
        // Extended by the sung-songs code (it versions what it writes): left alone.
        let mut extended = item.clone();
        extended.insert("version".into(), n(1));
        extended.insert("times_sung".into(), n(4));
        let c = lastfm("c", json!({"times_sung": 9}));
        let (d, _) = sung(Some(&extended), &[&c], &t);
        assert_eq!(d.write, None);
        assert!(d.outcomes[0].held_back);
    }

    #[test]
    fn values_compare_as_dynamodb_stores_them() {
        assert!(same(&n("4.50"), &n(4.5)));
        assert!(!same(&n(4), &s("4")));
        let a = AttributeValue::M(HashMap::from([("x".to_string(), n(1))]));
        let b = AttributeValue::M(HashMap::from([("x".to_string(), n("1.0"))]));
        assert!(same(&a, &b));
        assert!(!same(&a, &AttributeValue::M(HashMap::new())));
    }
}
