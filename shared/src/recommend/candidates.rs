//! Which catalog songs are considered for a user, read at a bounded cost whatever the library size.
//!
//! Candidates come from three places, each read a fixed number of items deep:
//! 1. the user's best-known songs (the first `top_songs` rows of the "Songs You Know" index, which
//!    is sorted by how well the user knows each song), matched to the catalog by match key: one
//!    small Query per distinct key;
//! 2. the user's best-known artists (the first `top_artists` rows of the "Artists You Know" index)
//!    and the artists of their sung favourites: the `songs_per_artist` most common karaoke picks
//!    of each, from the catalog's artist index (gsi2 `CATARTIST#<catalog artist key>`, most
//!    brands first): one Query per artist;
//! 3. the user's sung favourites (the first `favorites` of "My Favorites").
//!
//! The signals the candidates lack are then fetched by key, in batches of 100: the song rows of
//! the candidates not among the top songs, the artist rows of their artists not among the top
//! artists, and the sung records of all candidates.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::score::{ArtistSignals, Candidate, SongSignals};
use super::Limits;
use crate::catalog::matching::{catalog_artist, match_key};
use crate::catalog::store::catalog_pk;
use crate::library::Preferences;
use crate::normalize::{artist_key, TrackIdentity};
use crate::store::attr::{self, Item};
use crate::store::keys;
use crate::store::library::{artist_row, song_row};
use crate::store::{Store, StoreError};
use crate::sung::store::projection;
use crate::sung::SungSummary;

/// Partition prefix of the catalog's artist index (gsi2).
pub const CATALOG_ARTIST_PREFIX: &str = "CATARTIST#";
/// Catalog queries in flight at once.
const CATALOG_QUERY_CONCURRENCY: usize = 16;
/// Items read from one match-key partition (catalog duplicates of one song: a handful).
const MATCH_PARTITION_ITEMS: i32 = 25;
const CATALOG_ATTRIBUTES: [&str; 5] = ["id", "artist", "title", "brand_count", "match_key"];

/// An artist as the catalog's artist index names it: the catalog's artist comparison form
/// ("The Killers" = "Killers", "Beyoncé" = "Beyonce", featured artists dropped), hashed to a fixed
/// length.
pub fn catalog_artist_key(artist: &str) -> String {
    artist_key(&catalog_artist(artist))
}

pub fn catalog_artist_gsi_pk(artist: &str) -> String {
    format!("{CATALOG_ARTIST_PREFIX}{}", catalog_artist_key(artist))
}

/// Most brands first (the count inverted, 6 digits), then by id.
pub fn catalog_artist_gsi_sk(brand_count: u32, id: &str) -> String {
    format!(
        "{:06}#{id}",
        999_999u32.saturating_sub(brand_count.min(999_999))
    )
}

/// The artist-index attributes of a catalog song item. `catalog::store::song_item` adds them with
/// `item.extend(crate::recommend::candidates::catalog_artist_index(&song.artist, song.brand_count, &song.id));`
pub fn catalog_artist_index(
    artist: &str,
    brand_count: u32,
    id: &str,
) -> [(String, AttributeValue); 2] {
    [
        ("gsi2pk".to_string(), attr::s(catalog_artist_gsi_pk(artist))),
        (
            "gsi2sk".to_string(),
            attr::s(catalog_artist_gsi_sk(brand_count, id)),
        ),
    ]
}

/// A catalog song as recommendations use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSong {
    pub id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: u32,
    pub match_key: String,
}

fn catalog_song(item: &Item) -> Result<CatalogSong, StoreError> {
    let artist = attr::get_s(item, "artist")?;
    let title = attr::get_s(item, "title")?;
    let match_key = match attr::get_s_opt(item, "match_key")? {
        Some(k) => k,
        None => match_key(&artist, &title),
    };
    Ok(CatalogSong {
        id: attr::get_s(item, "id")?,
        brand_count: attr::get_n_opt(item, "brand_count")?.unwrap_or(0),
        artist,
        title,
        match_key,
    })
}

/// The more common karaoke pick: more brands, then the smaller id (as the catalog's own lookups).
fn better(a: &CatalogSong, b: &CatalogSong) -> bool {
    (a.brand_count, std::cmp::Reverse(&a.id)) > (b.brand_count, std::cmp::Reverse(&b.id))
}

/// One candidate with every signal found for it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub candidate: Candidate,
    pub match_key: String,
    pub artist: Option<ArtistSignals>,
    pub song: Option<SongSignals>,
    pub sung: Option<SungSummary>,
    /// Another song by the artist is among the user's sung favourites.
    pub favourite_artist: bool,
}

/// Everything a recommendation page is computed from.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub preferences: Preferences,
    pub entries: Vec<Entry>,
}

impl Store {
    /// The most common pick of each match key in the catalog (one Query per distinct key, a few
    /// at once). Keys not in the catalog are absent.
    pub(crate) async fn catalog_best_by_match_key(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CatalogSong>, StoreError> {
        let unique: Vec<String> = keys
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let found: Vec<Option<CatalogSong>> = stream::iter(unique)
            .map(|key| async move {
                let (expr, names) = projection(&CATALOG_ATTRIBUTES);
                self.metrics.read();
                let out = self
                    .db
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", attr::s(catalog_pk(&key)))
                    .projection_expression(expr)
                    .set_expression_attribute_names(Some(names))
                    .limit(MATCH_PARTITION_ITEMS)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                let mut best: Option<CatalogSong> = None;
                for item in out.items.unwrap_or_default() {
                    let mut song = catalog_song(&item)?;
                    song.match_key.clone_from(&key);
                    if best.as_ref().is_none_or(|b| better(&song, b)) {
                        best = Some(song);
                    }
                }
                Ok::<_, StoreError>(best)
            })
            .buffer_unordered(CATALOG_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .map(|s| (s.match_key.clone(), s))
            .collect())
    }

    /// The `per_artist` most common karaoke picks of each artist (one Query per artist on the
    /// catalog's artist index). Artists are matched as the catalog compares them.
    pub async fn catalog_songs_by_artists(
        &self,
        artists: &[String],
        per_artist: u32,
    ) -> Result<Vec<CatalogSong>, StoreError> {
        let mut seen = HashSet::new();
        let partitions: Vec<String> = artists
            .iter()
            .map(|a| catalog_artist_gsi_pk(a))
            .filter(|pk| seen.insert(pk.clone()))
            .collect();
        let pages: Vec<Vec<CatalogSong>> = stream::iter(partitions)
            .map(|pk| async move {
                let (expr, names) = projection(&CATALOG_ATTRIBUTES);
                self.metrics.read();
                let out = self
                    .db
                    .query()
                    .table_name(&self.table)
                    .index_name("gsi2")
                    .key_condition_expression("gsi2pk = :pk")
                    .expression_attribute_values(":pk", attr::s(pk))
                    .projection_expression(expr)
                    .set_expression_attribute_names(Some(names))
                    .limit(per_artist.max(1) as i32)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                out.items
                    .unwrap_or_default()
                    .iter()
                    .map(catalog_song)
                    .collect::<Result<Vec<_>, _>>()
            })
            .buffer_unordered(CATALOG_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Reads the candidates of one user and their signals (see the module documentation for what
    /// is read; [`Limits::max_reads`] bounds the number of requests).
    pub async fn gather_candidates(
        &self,
        user_id: &str,
        limits: &Limits,
    ) -> Result<Gathered, StoreError> {
        // 1. The user's best-known artists and songs, favourites and preferences.
        let (preferences, (artist_rows, _), (song_rows, _), favourites) = futures::try_join!(
            self.get_preferences(user_id),
            self.artist_rows(user_id, limits.top_artists, None),
            self.song_rows(user_id, limits.top_songs, None),
            self.favorite_summaries(user_id, limits.favorites),
        )?;

        let mut artists: HashMap<String, ArtistSignals> = HashMap::new();
        for row in &artist_rows {
            artists
                .entry(catalog_artist_key(&row.name))
                .or_insert_with(|| ArtistSignals::from(row));
        }
        let mut songs: HashMap<String, SongSignals> = HashMap::new();
        // The user's spelling of each song's artist (to find the artist row by its key).
        let mut user_artist: HashMap<String, String> = HashMap::new();
        for row in &song_rows {
            let key = match_key(&row.artist, &row.title);
            let signals = SongSignals::from_row(row);
            songs
                .entry(key.clone())
                .and_modify(|s| s.merge(&signals))
                .or_insert(signals);
            user_artist.entry(key).or_insert_with(|| row.artist.clone());
        }
        let mut sung: HashMap<String, SungSummary> = HashMap::new();
        let mut favourite_keys_by_artist: HashMap<String, HashSet<String>> = HashMap::new();
        let mut favourite_artists: Vec<String> = Vec::new();
        for f in favourites
            .iter()
            .filter(|f| !f.artist.is_empty() && !f.title.is_empty())
        {
            let key = match_key(&f.artist, &f.title);
            let artist = catalog_artist_key(&f.artist);
            if !artists.contains_key(&artist)
                && !favourite_keys_by_artist.contains_key(&artist)
                && favourite_artists.len() < limits.favorite_artists
            {
                favourite_artists.push(f.artist.clone());
            }
            favourite_keys_by_artist
                .entry(artist)
                .or_default()
                .insert(key.clone());
            sung.entry(key).or_insert_with(|| f.clone());
        }

        // 2. Their karaoke versions.
        let song_keys: Vec<String> = songs.keys().cloned().collect();
        let mut artist_names: Vec<String> = artist_rows.iter().map(|r| r.name.clone()).collect();
        artist_names.extend(favourite_artists);
        let (by_key, by_artist) = futures::try_join!(
            self.catalog_best_by_match_key(&song_keys),
            self.catalog_songs_by_artists(&artist_names, limits.songs_per_artist),
        )?;
        let mut candidates: HashMap<String, CatalogSong> = HashMap::new();
        let mut offer = |song: CatalogSong| match candidates.get(&song.match_key) {
            Some(have) if !better(&song, have) => {}
            _ => {
                candidates.insert(song.match_key.clone(), song);
            }
        };
        by_key.into_values().for_each(&mut offer);
        by_artist.into_iter().for_each(&mut offer);
        for f in favourites
            .iter()
            .filter(|f| !f.artist.is_empty() && !f.title.is_empty())
        {
            offer(CatalogSong {
                id: f.song_id.clone(),
                artist: f.artist.clone(),
                title: f.title.clone(),
                brand_count: f.brand_count.unwrap_or(0),
                match_key: match_key(&f.artist, &f.title),
            });
        }

        // 3. The signals the candidates still lack, by key.
        let mut track_keys: HashMap<String, String> = HashMap::new();
        let mut artist_keys: HashSet<String> = HashSet::new();
        let mut sung_ids: Vec<String> = Vec::new();
        let mut sung_id_keys: HashMap<String, String> = HashMap::new();
        for c in candidates.values() {
            if !songs.contains_key(&c.match_key) {
                track_keys.insert(
                    TrackIdentity::of(&c.artist, &c.title).key(),
                    c.match_key.clone(),
                );
            }
            if !artists.contains_key(&catalog_artist_key(&c.artist)) {
                artist_keys.insert(artist_key(&c.artist));
                if let Some(spelling) = user_artist.get(&c.match_key) {
                    artist_keys.insert(artist_key(spelling));
                }
            }
            if !sung.contains_key(&c.match_key) {
                sung_ids.push(c.id.clone());
                sung_id_keys.insert(c.id.clone(), c.match_key.clone());
            }
        }
        let pk = keys::user_pk(user_id);
        let track_requests: Vec<(String, String)> = track_keys
            .keys()
            .map(|k| (pk.clone(), keys::track_sk(k)))
            .collect();
        let artist_requests: Vec<(String, String)> = artist_keys
            .iter()
            .map(|k| (pk.clone(), keys::artist_sk(k)))
            .collect();
        let (track_items, artist_items, sung_found) = futures::try_join!(
            self.batch_get_items(track_requests, None),
            self.batch_get_items(artist_requests, None),
            self.get_sung_many(user_id, &sung_ids),
        )?;
        for item in &track_items {
            let row = song_row(item)?;
            if let Some(key) = track_keys.get(&row.key) {
                let signals = SongSignals::from_row(&row);
                songs
                    .entry(key.clone())
                    .and_modify(|s| s.merge(&signals))
                    .or_insert(signals);
            }
        }
        for item in &artist_items {
            let row = artist_row(item)?;
            artists
                .entry(catalog_artist_key(&row.name))
                .or_insert_with(|| ArtistSignals::from(&row));
        }
        for (id, summary) in sung_found {
            if let Some(key) = sung_id_keys.get(&id) {
                sung.insert(key.clone(), summary);
            }
        }

        // 4. Together.
        let entries = candidates
            .into_values()
            .map(|c| {
                let artist_key = catalog_artist_key(&c.artist);
                let favourite_artist = favourite_keys_by_artist
                    .get(&artist_key)
                    .is_some_and(|keys| keys.iter().any(|k| k != &c.match_key));
                Entry {
                    artist: artists.get(&artist_key).cloned(),
                    song: songs.get(&c.match_key).cloned(),
                    sung: sung.get(&c.match_key).cloned(),
                    favourite_artist,
                    match_key: c.match_key,
                    candidate: Candidate {
                        song_id: c.id,
                        artist: c.artist,
                        title: c.title,
                        brand_count: c.brand_count,
                        decade: None,
                        energy: None,
                    },
                }
            })
            .collect();
        Ok(Gathered {
            preferences,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artist_index_puts_the_most_common_picks_first_and_matches_spellings() {
        assert_eq!(
            catalog_artist_gsi_pk("The Killers"),
            catalog_artist_gsi_pk("killers")
        );
        assert_eq!(
            catalog_artist_gsi_pk("Beyoncé"),
            catalog_artist_gsi_pk("BEYONCE")
        );
        assert_ne!(
            catalog_artist_gsi_pk("Queen"),
            catalog_artist_gsi_pk("Queens")
        );
        assert!(catalog_artist_gsi_pk("Queen").starts_with("CATARTIST#"));
        assert_eq!(catalog_artist_gsi_sk(6, "KS1"), "999993#KS1");
        let mut keys = [
            catalog_artist_gsi_sk(2, "A"),
            catalog_artist_gsi_sk(6, "C"),
            catalog_artist_gsi_sk(6, "B"),
            catalog_artist_gsi_sk(0, "D"),
        ];
        keys.sort();
        let ids: Vec<&str> = keys.iter().map(|k| k.rsplit('#').next().unwrap()).collect();
        assert_eq!(ids, ["B", "C", "A", "D"]);
        let [(pk_name, pk), (sk_name, _)] = catalog_artist_index("Queen", 6, "KS1");
        assert_eq!((pk_name.as_str(), sk_name.as_str()), ("gsi2pk", "gsi2sk"));
        assert_eq!(pk, attr::s(catalog_artist_gsi_pk("Queen")));
    }

    #[test]
    fn the_more_common_pick_wins() {
        let s = |id: &str, n| CatalogSong {
            id: id.into(),
            artist: "a".into(),
            title: "t".into(),
            brand_count: n,
            match_key: "k".into(),
        };
        assert!(better(&s("B", 3), &s("A", 2)));
        assert!(better(&s("A", 2), &s("B", 2)));
        assert!(!better(&s("B", 2), &s("A", 2)));
    }
}
