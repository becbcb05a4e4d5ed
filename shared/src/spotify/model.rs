//! Spotify Web API JSON, parsed tolerantly: every field Spotify may drop (Development Mode drops
//! `popularity`, `genres` and `followers`) is optional, unknown fields are ignored, and `null`
//! items are skipped rather than failing the page.

use std::collections::HashSet;

use serde::Deserialize;

use super::error::SpotifyError;

/// The paging object of `/v1/me/top/{artists|tracks}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Paging<T> {
    #[serde(default)]
    pub items: Vec<Option<T>>,
    #[serde(default)]
    pub total: Option<u32>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Image {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub width: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Followers {
    #[serde(default)]
    pub total: Option<u64>,
}

/// A full artist object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Artist {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub popularity: Option<u32>,
    #[serde(default)]
    pub genres: Option<Vec<String>>,
    #[serde(default)]
    pub followers: Option<Followers>,
    #[serde(default)]
    pub images: Option<Vec<Image>>,
}

/// A simplified artist (inside tracks and albums).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimpleArtist {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Album {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub release_date: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<Image>>,
}

/// A full track object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Track {
    /// `null` for local files.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub artists: Option<Vec<Option<SimpleArtist>>>,
    #[serde(default)]
    pub album: Option<Album>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub popularity: Option<u32>,
    #[serde(default)]
    pub explicit: Option<bool>,
}

/// `GET /v1/me`, the parts we read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawProfile {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// One of the user's top artists. `popularity` and `genres` are `None` when Spotify did not send
/// them (Development Mode); `genres` is `Some(vec![])` when Spotify knows no genres.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopArtist {
    pub id: String,
    pub name: String,
    /// 1-based position in Spotify's list (see [`rank_items`] for duplicates).
    pub rank: u32,
    pub popularity: Option<u32>,
    pub genres: Option<Vec<String>>,
}

/// One of the user's top tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopTrack {
    pub id: String,
    pub name: String,
    /// Artist names, in Spotify's order (first = main artist).
    pub artists: Vec<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
    pub popularity: Option<u32>,
    pub rank: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    pub display_name: Option<String>,
}

/// The accepted `time_range` values.
pub const TIME_RANGES: [&str; 3] = ["short_term", "medium_term", "long_term"];

pub fn validate_time_range(time_range: &str) -> Result<&str, SpotifyError> {
    TIME_RANGES
        .iter()
        .find(|r| **r == time_range)
        .copied()
        .ok_or_else(|| SpotifyError::InvalidTimeRange(time_range.to_string()))
}

pub(crate) fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, SpotifyError> {
    serde_json::from_slice(body).map_err(|e| SpotifyError::Malformed {
        detail: e.to_string(),
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

impl Artist {
    /// `None` for an item without id or name (nothing we could store).
    pub fn into_top(self, rank: u32) -> Option<TopArtist> {
        Some(TopArtist {
            id: non_empty(self.id)?,
            name: non_empty(self.name)?,
            rank,
            popularity: self.popularity,
            genres: self.genres,
        })
    }
}

impl Track {
    pub fn into_top(self, rank: u32) -> Option<TopTrack> {
        Some(TopTrack {
            id: non_empty(self.id)?,
            name: non_empty(self.name)?,
            artists: self
                .artists
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .filter_map(|a| non_empty(a.name))
                .collect(),
            album: self.album.and_then(|a| non_empty(a.name)),
            duration_ms: self.duration_ms,
            popularity: self.popularity,
            rank,
        })
    }
}

impl RawProfile {
    pub fn into_profile(self) -> Result<Profile, SpotifyError> {
        Ok(Profile {
            id: non_empty(self.id).ok_or_else(|| SpotifyError::Malformed {
                detail: "profile without an id".into(),
            })?,
            display_name: non_empty(self.display_name),
        })
    }
}

/// Something with a Spotify id, for de-duplication.
pub trait HasId {
    fn spotify_id(&self) -> Option<&str>;
}

impl HasId for Artist {
    fn spotify_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl HasId for Track {
    fn spotify_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// Joins the first page (`offset=0`) and the optional second page (requested at `offset=49`)
/// into one list of `(position, item)`, positions 0-based in Spotify's full list. Items of the
/// second page at positions already covered by the first page (the overlapping item 50) are
/// dropped by position. The second page's `offset` as reported by Spotify wins over the requested
/// one (an offset ≥ 50 comes back as an empty page with `offset: 50`). `null` items keep their
/// position but produce nothing.
pub fn combine_pages<T: HasId>(
    first: Paging<T>,
    second: Option<Paging<T>>,
    second_requested_offset: u32,
) -> Vec<(u32, T)> {
    let first_offset = first.offset.unwrap_or(0);
    let mut out: Vec<(u32, T)> = Vec::new();
    let mut covered = first_offset;
    for (i, item) in first.items.into_iter().enumerate() {
        let pos = first_offset + i as u32;
        covered = pos + 1;
        if let Some(item) = item {
            out.push((pos, item));
        }
    }
    if let Some(second) = second {
        let offset = second.offset.unwrap_or(second_requested_offset);
        for (i, item) in second.items.into_iter().enumerate() {
            let pos = offset + i as u32;
            if pos < covered {
                // The overlap: same position as an item of the first page. If the ids differ the
                // list changed between the two requests; the first page's item stands.
                if let (Some(item), Some((_, seen))) =
                    (item.as_ref(), out.iter().find(|(p, _)| *p == pos))
                {
                    if item.spotify_id() != seen.spotify_id() {
                        tracing::debug!(pos, "Spotify top list shifted between pages");
                    }
                }
                continue;
            }
            if let Some(item) = item {
                out.push((pos, item));
            }
        }
    }
    out
}

/// Turns positioned items into ranked domain items: rank = 1-based position in Spotify's list.
/// Items without id/name are skipped. A repeated id is dropped, keeping its first (best) rank.
///
/// Ranks are NOT renumbered after a drop: every item keeps the rank of its position in the
/// original list, so ranks can have gaps (if #31 repeats #5, the list goes 30, 32, ...). That
/// keeps a rank stable and truthful ("Spotify's #32") whatever we drop, and matches what the
/// stand-in's `/_admin/top` reports.
pub fn rank_items<T: HasId, U>(
    items: Vec<(u32, T)>,
    into: impl Fn(T, u32) -> Option<U>,
) -> (Vec<U>, RankStats) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stats = RankStats::default();
    let mut out = Vec::with_capacity(items.len());
    for (pos, item) in items {
        let Some(id) = item.spotify_id().map(str::to_string) else {
            stats.skipped += 1;
            continue;
        };
        if seen.contains(&id) {
            stats.duplicates += 1;
            continue;
        }
        match into(item, pos + 1) {
            Some(u) => {
                seen.insert(id);
                out.push(u);
            }
            None => stats.skipped += 1,
        }
    }
    (out, stats)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RankStats {
    pub duplicates: u32,
    pub skipped: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_artist(id: &str, name: &str) -> serde_json::Value {
        json!({
            "external_urls": {"spotify": format!("https://open.spotify.com/artist/{id}")},
            "followers": {"href": null, "total": 1234},
            "genres": ["pop", "dance pop"],
            "href": format!("https://api.spotify.com/v1/artists/{id}"),
            "id": id,
            "images": [{"url": "https://i.scdn.co/image/a", "height": 640, "width": 640}],
            "name": name,
            "popularity": 87,
            "type": "artist",
            "uri": format!("spotify:artist:{id}")
        })
    }

    fn dev_artist(id: &str, name: &str) -> serde_json::Value {
        json!({
            "external_urls": {"spotify": "x"},
            "href": "x",
            "id": id,
            "images": [],
            "name": name,
            "type": "artist",
            "uri": format!("spotify:artist:{id}")
        })
    }

    fn track(id: &str, name: &str, dev: bool) -> serde_json::Value {
        let mut t = json!({
            "album": {"album_type": "album", "artists": [], "id": "alb", "images": [],
                      "name": "A Night at the Opera", "release_date": "1975",
                      "release_date_precision": "year", "total_tracks": 12, "type": "album"},
            "artists": [{"id": "q", "name": "Queen", "type": "artist"},
                        {"id": "b", "name": "Brian May", "type": "artist"}],
            "disc_number": 1, "duration_ms": 354320, "explicit": false,
            "external_ids": {"isrc": "GBUM71029604"}, "id": id, "is_local": false,
            "name": name, "popularity": 91, "preview_url": null, "track_number": 11,
            "type": "track"
        });
        if dev {
            t.as_object_mut().unwrap().remove("popularity");
        }
        t
    }

    fn page(items: Vec<serde_json::Value>, offset: u32, total: u32) -> serde_json::Value {
        json!({"href": "h", "items": items, "limit": 50, "next": null, "offset": offset,
               "previous": null, "total": total})
    }

    #[test]
    fn full_artist_shape_parses() {
        let p: Paging<Artist> = parse_json(
            page(vec![full_artist("a1", "ABBA")], 0, 1)
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let a = p.items[0].clone().unwrap().into_top(1).unwrap();
        assert_eq!(a.popularity, Some(87));
        assert_eq!(
            a.genres,
            Some(vec!["pop".to_string(), "dance pop".to_string()])
        );
        assert_eq!(p.total, Some(1));
    }

    #[test]
    fn development_mode_artist_parses_without_optional_fields() {
        let p: Paging<Artist> = parse_json(
            page(vec![dev_artist("a1", "ABBA")], 0, 1)
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let raw = p.items[0].clone().unwrap();
        assert!(raw.followers.is_none());
        let a = raw.into_top(1).unwrap();
        assert_eq!(a.popularity, None);
        assert_eq!(a.genres, None);
        assert_eq!(a.name, "ABBA");
    }

    #[test]
    fn empty_genres_stay_distinct_from_missing() {
        let mut v = full_artist("bc", "Bradley Cooper");
        v["genres"] = json!([]);
        let a: Artist = serde_json::from_value(v).unwrap();
        assert_eq!(a.into_top(3).unwrap().genres, Some(vec![]));
    }

    #[test]
    fn tracks_full_and_development_mode() {
        let full: Track = serde_json::from_value(track("t1", "Bohemian Rhapsody", false)).unwrap();
        let t = full.into_top(1).unwrap();
        assert_eq!(t.popularity, Some(91));
        assert_eq!(t.artists, vec!["Queen", "Brian May"]);
        assert_eq!(t.album.as_deref(), Some("A Night at the Opera"));
        assert_eq!(t.duration_ms, Some(354320));

        let dev: Track = serde_json::from_value(track("t1", "Bohemian Rhapsody", true)).unwrap();
        assert_eq!(dev.into_top(1).unwrap().popularity, None);

        // Bare minimum: no album, no duration, no artists.
        let bare: Track = serde_json::from_value(json!({"id": "t2", "name": "x"})).unwrap();
        let t = bare.into_top(2).unwrap();
        assert_eq!(t.album, None);
        assert_eq!(t.duration_ms, None);
        assert!(t.artists.is_empty());
    }

    #[test]
    fn nulls_and_local_files_are_tolerated() {
        let body = json!({"items": [null, {"id": null, "name": "local file", "is_local": true},
                                    track("t3", "Hello", false)],
                          "total": 3});
        let p: Paging<Track> = serde_json::from_value(body).unwrap();
        let combined = combine_pages(p, None, 49);
        assert_eq!(combined.len(), 2);
        let (ranked, stats) = rank_items(combined, Track::into_top);
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].rank, 3);
        assert_eq!(stats.skipped, 1);
    }

    #[test]
    fn profile_with_null_display_name() {
        let p: RawProfile =
            serde_json::from_value(json!({"id": "spotify-demo", "display_name": null})).unwrap();
        let p = p.into_profile().unwrap();
        assert_eq!(p.display_name, None);
        let p: RawProfile = serde_json::from_value(json!({"display_name": "x"})).unwrap();
        assert!(p.into_profile().is_err());
    }

    fn artists(range: std::ops::Range<u32>, offset: u32, total: u32) -> Paging<Artist> {
        let items = range
            .map(|i| full_artist(&format!("id{i}"), &format!("n{i}")))
            .collect();
        serde_json::from_value(page(items, offset, total)).unwrap()
    }

    #[test]
    fn offset_49_overlap_is_dropped_by_position() {
        // Items 0..50 then 49..75 (total 75): 75 distinct items, ranks 1..=75.
        let first = artists(0..50, 0, 75);
        let second = artists(49..75, 49, 75);
        let combined = combine_pages(first, Some(second), 49);
        assert_eq!(combined.len(), 75);
        let (ranked, stats) = rank_items(combined, Artist::into_top);
        assert_eq!(stats, RankStats::default());
        let ranks: Vec<u32> = ranked.iter().map(|a| a.rank).collect();
        assert_eq!(ranks, (1..=75).collect::<Vec<_>>());
        assert_eq!(ranked[49].id, "id49");
        assert_eq!(ranked[50].id, "id50");
    }

    #[test]
    fn empty_second_page_with_reset_offset() {
        // The offset quirk: `{"items": [], "offset": 50, "total": 0}`.
        let first = artists(0..50, 0, 120);
        let second: Paging<Artist> = serde_json::from_value(
            json!({"items": [], "limit": 0, "offset": 50, "total": 0, "next": null}),
        )
        .unwrap();
        let combined = combine_pages(first, Some(second), 49);
        assert_eq!(combined.len(), 50);
    }

    #[test]
    fn duplicates_keep_best_rank_without_renumbering() {
        // #5 repeated at #31 (as in the stand-in's demo user), #2 repeated at #60 (second page).
        let mut items: Vec<serde_json::Value> = (0..50)
            .map(|i| full_artist(&format!("id{i}"), &format!("n{i}")))
            .collect();
        items[30] = full_artist("id4", "n4");
        let first: Paging<Artist> = serde_json::from_value(page(items, 0, 75)).unwrap();
        let mut items2: Vec<serde_json::Value> = (49..75)
            .map(|i| full_artist(&format!("id{i}"), &format!("n{i}")))
            .collect();
        items2[59 - 49] = full_artist("id1", "n1");
        let second: Paging<Artist> = serde_json::from_value(page(items2, 49, 75)).unwrap();
        let (ranked, stats) = rank_items(combine_pages(first, Some(second), 49), Artist::into_top);
        assert_eq!(stats.duplicates, 2);
        assert_eq!(ranked.len(), 73);
        let by_id = |id: &str| ranked.iter().find(|a| a.id == id).unwrap().rank;
        assert_eq!(by_id("id4"), 5);
        assert_eq!(by_id("id1"), 2);
        // Ranks keep their original positions: 30 is followed by 32.
        let ranks: Vec<u32> = ranked.iter().map(|a| a.rank).collect();
        let i30 = ranks.iter().position(|r| *r == 30).unwrap();
        assert_eq!(ranks[i30 + 1], 32);
        assert!(!ranks.contains(&31) && !ranks.contains(&60));
        assert_eq!(*ranks.last().unwrap(), 75);
    }

    #[test]
    fn time_ranges() {
        for r in TIME_RANGES {
            assert_eq!(validate_time_range(r).unwrap(), r);
        }
        assert!(matches!(
            validate_time_range("all_time"),
            Err(SpotifyError::InvalidTimeRange(_))
        ));
    }
}
