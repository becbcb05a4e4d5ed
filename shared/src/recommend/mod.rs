//! Recommendations: catalog songs ranked for one user, each with its reasons in words.
//!
//! * [`score`]: the formula (pure): artist and song familiarity, karaoke popularity, survey history,
//!   preferences.
//! * [`candidates`]: which songs are considered, read at a bounded cost (see [`Limits`]).
//!
//! A page recomputes the (bounded) candidate set, scores it, filters, sorts and returns the slice
//! at an offset: the offset travels in a signed cursor. See `docs/RECOMMENDATIONS.md`.

pub mod candidates;
pub mod score;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::cursor::{self, CursorError};
use crate::library::{InputError, Preferences};
use crate::store::attr::{self, Item};
use crate::store::{Store, StoreError};

pub use candidates::{catalog_artist_index, Entry, Gathered};
pub use score::{Candidate, Reason, Scored, Signals};

/// How deep each candidate source is read. Every page costs at most [`Limits::max_reads`]
/// requests, whatever the size of the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Rows read from the top of "Artists You Know".
    pub top_artists: u32,
    /// Rows read from the top of "Songs You Know".
    pub top_songs: u32,
    /// Catalog songs read per artist (most common picks first).
    pub songs_per_artist: u32,
    /// Sung favourites read ("My Favorites", most recently sung first).
    pub favorites: u32,
    /// Artists of sung favourites (not among the top artists) whose catalog songs are read.
    pub favorite_artists: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            top_artists: 30,
            top_songs: 100,
            songs_per_artist: 10,
            favorites: 50,
            favorite_artists: 10,
        }
    }
}

/// Keys per BatchGetItem request.
const BATCH: u64 = 100;

impl Limits {
    /// The most candidates a page can consider.
    pub fn max_candidates(&self) -> u64 {
        self.top_songs as u64
            + (self.top_artists as u64 + self.favorite_artists as u64)
                * self.songs_per_artist as u64
            + self.favorites as u64
    }

    /// The most read requests one page makes (without retries of throttled batch keys):
    /// 4 list queries (preferences, artists, songs, favourites), one catalog query per top song
    /// and per artist, and batch reads of the candidates' song rows, sung records and artist
    /// rows (two spellings per artist at most).
    pub fn max_reads(&self) -> u64 {
        let c = self.max_candidates();
        4 + self.top_songs as u64
            + self.top_artists as u64
            + self.favorite_artists as u64
            + c.div_ceil(BATCH) * 2
            + (2 * c).div_ceil(BATCH)
    }
}

/// `filter=` of `GET /api/me/recommendations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Everything.
    All,
    /// Sung, and a favourite (rated 4-5 or would sing again).
    Favorites,
    /// Not sung yet.
    New,
    /// Songs the user has listened to (or added): in "Songs You Know".
    Known,
}

impl Filter {
    /// Absent or empty means `all`.
    pub fn parse(raw: Option<&str>) -> Result<Self, InputError> {
        match raw.map(str::trim).unwrap_or("") {
            "" | "all" => Ok(Filter::All),
            "favorites" => Ok(Filter::Favorites),
            "new" => Ok(Filter::New),
            "known" => Ok(Filter::Known),
            other => Err(InputError::Invalid {
                field: "filter",
                message: format!("{other:?} is not one of all, favorites, new, known"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Favorites => "favorites",
            Filter::New => "new",
            Filter::Known => "known",
        }
    }

    fn keeps(self, e: &Entry) -> bool {
        match self {
            Filter::All => true,
            Filter::Favorites => e.sung.as_ref().is_some_and(|s| s.is_favorite()),
            Filter::New => e.sung.is_none(),
            Filter::Known => e.song.as_ref().is_some_and(|s| s.is_known()),
        }
    }
}

/// How a recommended song went when the user sang it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SungBrief {
    pub times_sung: u64,
    pub rating: Option<u8>,
    pub would_sing_again: Option<bool>,
    pub favorite: bool,
    /// RFC 3339.
    pub last_sung_at: Option<String>,
}

/// One recommended song.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub song_id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: u32,
    /// Rounded to one decimal.
    pub score: f64,
    /// Largest effect first.
    pub reasons: Vec<Reason>,
    pub sung: Option<SungBrief>,
    /// The user has listened to (or added) this song.
    pub known: bool,
}

/// One page of recommendations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendationPage {
    pub items: Vec<Recommendation>,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<usize>,
    /// How many songs pass the filter (within the bounded candidate set).
    pub total: usize,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Scores, filters and orders the candidates (pure).
pub fn rank(entries: &[Entry], preferences: &Preferences, filter: Filter) -> Vec<Recommendation> {
    let mut scored: Vec<(&Entry, Scored)> = entries
        .iter()
        .filter(|e| filter.keeps(e))
        .map(|e| {
            let signals = Signals {
                artist: e.artist.as_ref(),
                song: e.song.as_ref(),
                sung: e.sung.as_ref(),
                favourite_artist: e.favourite_artist,
            };
            (e, score::score(&e.candidate, &signals, preferences))
        })
        .collect();
    scored.sort_by(|a, b| score::compare((&a.0.candidate, a.1.score), (&b.0.candidate, b.1.score)));
    scored
        .into_iter()
        .map(|(e, s)| Recommendation {
            song_id: e.candidate.song_id.clone(),
            artist: e.candidate.artist.clone(),
            title: e.candidate.title.clone(),
            brand_count: e.candidate.brand_count,
            score: round1(s.score),
            reasons: s
                .reasons
                .into_iter()
                .map(|r| Reason {
                    points: round1(r.points),
                    ..r
                })
                .collect(),
            sung: e.sung.as_ref().map(|s| SungBrief {
                times_sung: s.times_sung,
                rating: s.rating,
                would_sing_again: s.would_sing_again,
                favorite: s.is_favorite(),
                last_sung_at: s.last_sung_at.map(rfc3339),
            }),
            known: e.song.as_ref().is_some_and(|s| s.is_known()),
        })
        .collect()
}

/// The slice of `ranked` at `offset`.
pub fn page(ranked: Vec<Recommendation>, offset: usize, limit: usize) -> RecommendationPage {
    let total = ranked.len();
    let limit = limit.max(1);
    let items: Vec<Recommendation> = ranked.into_iter().skip(offset).take(limit).collect();
    let end = offset.saturating_add(items.len());
    RecommendationPage {
        items,
        next_offset: (end < total).then_some(end),
        total,
    }
}

/// The list a recommendation cursor is bound to.
fn cursor_list(filter: Filter) -> String {
    format!("recommendations:{}", filter.as_str())
}

/// A client cursor for the page at `offset`, bound to the user and the filter.
pub fn sign_cursor(secret: &str, user_id: &str, filter: Filter, offset: usize) -> String {
    let key = Item::from([("offset".to_string(), attr::n(offset))]);
    cursor::sign(secret, user_id, &cursor_list(filter), &key)
}

/// The offset of a client cursor; invalid if tampered with, or made for another user or filter.
pub fn verify_cursor(
    secret: &str,
    user_id: &str,
    filter: Filter,
    text: &str,
) -> Result<usize, CursorError> {
    let key = cursor::verify(secret, user_id, &cursor_list(filter), text)?;
    attr::get_n_opt::<usize>(&key, "offset")
        .ok()
        .flatten()
        .ok_or(CursorError::Invalid)
}

impl Store {
    /// A page of recommendations with the default [`Limits`].
    pub async fn recommendations(
        &self,
        user_id: &str,
        filter: Filter,
        offset: usize,
        limit: usize,
    ) -> Result<RecommendationPage, StoreError> {
        self.recommendations_with(user_id, filter, offset, limit, &Limits::default())
            .await
    }

    pub async fn recommendations_with(
        &self,
        user_id: &str,
        filter: Filter,
        offset: usize,
        limit: usize,
        limits: &Limits,
    ) -> Result<RecommendationPage, StoreError> {
        let gathered = self.gather_candidates(user_id, limits).await?;
        let ranked = rank(&gathered.entries, &gathered.preferences, filter);
        Ok(page(ranked, offset, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::score::{ArtistSignals, SongSignals};
    use super::*;
    use crate::sung::SungSummary;

    fn entry(id: &str, artist: Option<u64>, song: Option<u64>, rating: Option<u8>) -> Entry {
        Entry {
            candidate: Candidate {
                song_id: id.into(),
                artist: "Queen".into(),
                title: id.into(),
                brand_count: 4,
                decade: None,
                energy: None,
            },
            match_key: id.into(),
            artist: artist.map(|p| ArtistSignals {
                name: "Queen".into(),
                lastfm_playcount: Some(p),
                lastfm_rank: None,
                spotify: None,
                manual: false,
            }),
            song: song.map(|p| SongSignals {
                playcount: p,
                ..Default::default()
            }),
            sung: rating.map(|r| SungSummary {
                song_id: id.into(),
                artist: "Queen".into(),
                title: id.into(),
                brand_count: Some(4),
                times_sung: 3,
                last_sung_at: Some(1_700_000_000),
                rating: Some(r),
                would_sing_again: None,
                vocal_range: None,
                crowd_response: None,
            }),
            favourite_artist: false,
        }
    }

    fn ids(r: &[Recommendation]) -> Vec<&str> {
        r.iter().map(|r| r.song_id.as_str()).collect()
    }

    #[test]
    fn filters_keep_what_they_say() {
        let entries = vec![
            entry("fav", Some(100), Some(10), Some(5)),
            entry("meh", Some(100), None, Some(3)),
            entry("known", Some(100), Some(3), None),
            entry("fresh", Some(100), None, None),
        ];
        let p = Preferences::default();
        assert_eq!(rank(&entries, &p, Filter::All).len(), 4);
        assert_eq!(ids(&rank(&entries, &p, Filter::Favorites)), ["fav"]);
        assert_eq!(ids(&rank(&entries, &p, Filter::New)), ["known", "fresh"]);
        assert_eq!(ids(&rank(&entries, &p, Filter::Known)), ["fav", "known"]);
        let all = rank(&entries, &p, Filter::All);
        let fav = all.iter().find(|r| r.song_id == "fav").unwrap();
        assert_eq!(fav.sung.as_ref().unwrap().times_sung, 3);
        assert!(fav.sung.as_ref().unwrap().favorite);
        assert_eq!(
            fav.sung.as_ref().unwrap().last_sung_at.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert!(fav.known);
        assert!(!all.iter().find(|r| r.song_id == "fresh").unwrap().known);
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn filter_names() {
        assert_eq!(Filter::parse(None), Ok(Filter::All));
        assert_eq!(Filter::parse(Some("")), Ok(Filter::All));
        assert_eq!(Filter::parse(Some("favorites")), Ok(Filter::Favorites));
        assert_eq!(Filter::parse(Some("new")), Ok(Filter::New));
        assert_eq!(Filter::parse(Some("known")), Ok(Filter::Known));
        assert!(Filter::parse(Some("popular")).is_err());
    }

    #[test]
    fn pages_cover_the_list_once() {
        let entries: Vec<Entry> = (0..23)
            .map(|i| entry(&format!("s{i:02}"), Some(10 + i), None, None))
            .collect();
        let ranked = rank(&entries, &Preferences::default(), Filter::All);
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let p = page(ranked.clone(), offset, 10);
            assert_eq!(p.total, 23);
            seen.extend(p.items.iter().map(|r| r.song_id.clone()));
            match p.next_offset {
                Some(o) => offset = o,
                None => break,
            }
        }
        assert_eq!(seen, ids(&ranked));
        let past = page(ranked, 100, 10);
        assert!(past.items.is_empty() && past.next_offset.is_none());
    }

    #[test]
    fn cursors_are_bound_to_user_and_filter() {
        let c = sign_cursor("k", "alice", Filter::New, 40);
        assert_eq!(verify_cursor("k", "alice", Filter::New, &c), Ok(40));
        assert!(verify_cursor("k", "bob", Filter::New, &c).is_err());
        assert!(verify_cursor("k", "alice", Filter::All, &c).is_err());
        assert!(verify_cursor("other", "alice", Filter::New, &c).is_err());
        assert!(verify_cursor("k", "alice", Filter::New, "junk").is_err());
    }

    #[test]
    fn the_read_bound_is_what_the_docs_say() {
        let l = Limits::default();
        assert_eq!(l.max_candidates(), 100 + 40 * 10 + 50);
        // 4 + 100 + 30 + 10 + 2 × 6 + 11
        assert_eq!(l.max_reads(), 167);
    }
}
