//! Spotify's ranked lists: each list as given (`TOP#spotify#…` / `TOPA#spotify#…` items, the
//! source of truth for "what did Spotify say last time"), and each row's Spotify part (a rank per
//! time range, the best of them, popularity). A refresh sets ranks, never adds, and takes the
//! range's rank off rows that left the list.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{self, Item};
use super::keys;
use super::library::{artist_row, song_row, ArtistRow};
use super::{Store, StoreError};
use crate::library::{sort_key, sort_key_with_loved, SpotifyRank, TIME_RANGES};

/// One entry of a Spotify list, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Track key (songs) or artist key (artists).
    pub key: String,
    pub rank: u32,
    pub name: String,
    /// Tracks: main artist.
    pub artist: Option<String>,
    pub album: Option<String>,
    pub spotify_id: String,
    pub duration_ms: Option<u64>,
    pub popularity: Option<u32>,
    pub genres: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tracks,
    Artists,
}

impl ListKind {
    fn prefix(self, range: &str) -> String {
        match self {
            ListKind::Tracks => keys::top_prefix("spotify", range),
            ListKind::Artists => format!("TOPA#spotify#{range}#"),
        }
    }

    fn row_sk(self, key: &str) -> String {
        match self {
            ListKind::Tracks => keys::track_sk(key),
            ListKind::Artists => keys::artist_sk(key),
        }
    }
}

/// The best of a row's per-range ranks (lowest rank; long term first on ties).
pub fn best_rank(ranks: &BTreeMap<String, u32>) -> Option<(String, u32)> {
    TIME_RANGES
        .iter()
        .filter_map(|r| ranks.get(*r).map(|rank| (r.to_string(), *rank)))
        .min_by_key(|(r, rank)| (*rank, TIME_RANGES.iter().position(|x| x == r)))
}

fn range_attr(range: &str) -> String {
    format!("sp_{range}")
}

fn row_ranks(item: &Item) -> Result<BTreeMap<String, u32>, StoreError> {
    let mut ranks = BTreeMap::new();
    for r in TIME_RANGES {
        if let Some(rank) = attr::get_n_opt::<u32>(item, &range_attr(r))? {
            ranks.insert(r.to_string(), rank);
        }
    }
    Ok(ranks)
}

impl Store {
    /// The list as stored last time: key of each rank.
    pub async fn stored_list(
        &self,
        user_id: &str,
        kind: ListKind,
        range: &str,
    ) -> Result<BTreeMap<u32, String>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(kind.prefix(range)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| Ok((attr::get_n(i, "rank")?, attr::get_s(i, "key")?)))
            .collect()
    }

    /// Replaces the stored list with `entries` (ranks beyond the new list are deleted).
    pub async fn replace_list(
        &self,
        user_id: &str,
        kind: ListKind,
        range: &str,
        entries: &[ListEntry],
        previous: &BTreeMap<u32, String>,
    ) -> Result<(), StoreError> {
        for e in entries {
            let mut item = Item::from([
                ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                (
                    "sk".to_string(),
                    attr::s(format!("{}{:04}", kind.prefix(range), e.rank)),
                ),
                ("entity".to_string(), attr::s("top_item")),
                ("key".to_string(), attr::s(&e.key)),
                ("rank".to_string(), attr::n(e.rank)),
                ("title".to_string(), attr::s(&e.name)),
                ("spotify_id".to_string(), attr::s(&e.spotify_id)),
            ]);
            if let Some(a) = &e.artist {
                item.insert("artist".into(), attr::s(a));
            }
            if let Some(a) = &e.album {
                item.insert("album".into(), attr::s(a));
            }
            if let Some(d) = e.duration_ms {
                item.insert("duration_ms".into(), attr::n(d));
            }
            if let Some(p) = e.popularity {
                item.insert("popularity".into(), attr::n(p));
            }
            self.metrics.write();
            self.db
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        let kept: std::collections::BTreeSet<u32> = entries.iter().map(|e| e.rank).collect();
        for rank in previous.keys().filter(|r| !kept.contains(r)) {
            self.metrics.write();
            self.db
                .delete_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(format!("{}{rank:04}", kind.prefix(range))))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        Ok(())
    }

    /// Sets (Some entry) or clears (None) one range's rank on a row, recomputing its best rank
    /// and its place in the list index. Rows with no source left are deleted.
    pub async fn set_spotify_rank(
        &self,
        user_id: &str,
        kind: ListKind,
        key: &str,
        range: &str,
        entry: Option<&ListEntry>,
    ) -> Result<(), StoreError> {
        let sk = kind.row_sk(key);
        let item_key = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(&sk)),
        ]);
        for _ in 0..25 {
            let item = self
                .batch_get(vec![item_key.clone()])
                .await?
                .into_iter()
                .next();
            if item.is_none() && entry.is_none() {
                return Ok(());
            }
            let version: u64 = item
                .as_ref()
                .and_then(|i| attr::get_n_opt(i, "version").ok().flatten())
                .unwrap_or(0);
            let mut ranks = match &item {
                Some(i) => row_ranks(i)?,
                None => BTreeMap::new(),
            };
            match entry {
                Some(e) => ranks.insert(range.to_string(), e.rank),
                None => ranks.remove(range),
            };
            let popularity = entry.and_then(|e| e.popularity).or(match &item {
                Some(i) => attr::get_n_opt(i, "sp_popularity")?,
                None => None,
            });
            let best = best_rank(&ranks).map(|(time_range, rank)| SpotifyRank {
                rank,
                time_range,
                popularity,
            });
            let (sort, others) = match kind {
                ListKind::Tracks => {
                    let row = item.as_ref().map(song_row).transpose()?;
                    let playcount = row
                        .as_ref()
                        .and_then(|r| r.lastfm.as_ref().map(|l| l.playcount));
                    let loved = row.as_ref().is_some_and(|r| r.lastfm_loved);
                    let known: Option<i64> = match &item {
                        Some(i) => attr::get_n_opt(i, "known_added_at")?,
                        None => None,
                    };
                    (
                        sort_key_with_loved(playcount, best.as_ref(), loved, known, key),
                        playcount.is_some() || loved || known.is_some(),
                    )
                }
                ListKind::Artists => {
                    let mut row: ArtistRow = match &item {
                        Some(i) => artist_row(i)?,
                        None => ArtistRow {
                            key: key.to_string(),
                            name: entry.map(|e| e.name.clone()).unwrap_or_default(),
                            lastfm_playcount: None,
                            lastfm_rank: None,
                            spotify: None,
                            manual_added_at: None,
                            quiz: false,
                            version: 0,
                        },
                    };
                    row.spotify = best.clone();
                    let others =
                        row.lastfm_playcount.is_some() || row.manual_added_at.is_some() || row.quiz;
                    (
                        sort_key(
                            row.lastfm_playcount,
                            best.as_ref(),
                            row.manual_added_at,
                            key,
                        ),
                        others,
                    )
                }
            };
            self.metrics.write();
            let result = if best.is_none() && !others {
                self.db
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(&sk))
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(version))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(StoreError::from_sdk)
            } else {
                let mut set: Vec<(String, AttributeValue)> = vec![
                    ("version".into(), attr::n(version + 1)),
                    ("gsi1sk".into(), attr::s(sort)),
                ];
                let mut remove: Vec<String> = Vec::new();
                match entry {
                    Some(e) => {
                        set.push((range_attr(range), attr::n(e.rank)));
                        set.push(("sp_id".into(), attr::s(&e.spotify_id)));
                        if let Some(p) = e.popularity {
                            set.push(("sp_popularity".into(), attr::n(p)));
                        }
                        if let Some(g) = e.genres.as_ref().filter(|g| !g.is_empty()) {
                            set.push((
                                "sp_genres".into(),
                                AttributeValue::L(g.iter().map(attr::s).collect()),
                            ));
                        }
                    }
                    None => remove.push(range_attr(range)),
                }
                match &best {
                    Some(b) => {
                        set.push(("sp_rank".into(), attr::n(b.rank)));
                        set.push(("sp_time_range".into(), attr::s(&b.time_range)));
                    }
                    None => remove.extend(
                        [
                            "sp_rank",
                            "sp_time_range",
                            "sp_popularity",
                            "sp_id",
                            "sp_genres",
                        ]
                        .map(String::from),
                    ),
                }
                if item.is_none() {
                    let e = entry.expect("a new row comes from an entry");
                    let (gpk, entity, key_attr) = match kind {
                        ListKind::Tracks => (keys::songs_gsi_pk(user_id), "song", "track_key"),
                        ListKind::Artists => {
                            (keys::artists_gsi_pk(user_id), "artist", "artist_key")
                        }
                    };
                    set.push(("gsi1pk".into(), attr::s(gpk)));
                    set.push(("entity".into(), attr::s(entity)));
                    set.push((key_attr.into(), attr::s(key)));
                    match kind {
                        ListKind::Tracks => {
                            set.push((
                                "artist".into(),
                                attr::s(e.artist.clone().unwrap_or_default()),
                            ));
                            set.push(("title".into(), attr::s(&e.name)));
                            if let Some(a) = &e.album {
                                set.push(("album".into(), attr::s(a)));
                            }
                        }
                        ListKind::Artists => set.push(("name".into(), attr::s(&e.name))),
                    }
                }
                let mut expression = format!(
                    "SET {}",
                    set.iter()
                        .enumerate()
                        .map(|(i, _)| format!("#s{i} = :s{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if !remove.is_empty() {
                    expression.push_str(&format!(
                        " REMOVE {}",
                        (0..remove.len())
                            .map(|i| format!("#r{i}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                let mut request = self
                    .db
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(&sk))
                    .update_expression(expression);
                for (i, (name, value)) in set.into_iter().enumerate() {
                    request = request
                        .expression_attribute_names(format!("#s{i}"), name)
                        .expression_attribute_values(format!(":s{i}"), value);
                }
                for (i, name) in remove.into_iter().enumerate() {
                    request = request.expression_attribute_names(format!("#r{i}"), name);
                }
                request = if version == 0 {
                    request.condition_expression("attribute_not_exists(version)")
                } else {
                    request
                        .condition_expression("version = :version")
                        .expression_attribute_values(":version", attr::n(version))
                };
                request
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(StoreError::from_sdk)
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Distinct rows across the three stored lists of a kind (for the summary counts).
    pub async fn spotify_distinct(&self, user_id: &str, kind: ListKind) -> Result<u64, StoreError> {
        let mut keys: HashMap<String, ()> = HashMap::new();
        for r in TIME_RANGES {
            for (_, key) in self.stored_list(user_id, kind, r).await? {
                keys.insert(key, ());
            }
        }
        Ok(keys.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_rank_prefers_the_lowest_then_the_longest_range() {
        let ranks = BTreeMap::from([
            ("short_term".to_string(), 2),
            ("long_term".to_string(), 2),
            ("medium_term".to_string(), 9),
        ]);
        assert_eq!(best_rank(&ranks), Some(("long_term".to_string(), 2)));
        let ranks = BTreeMap::from([("short_term".to_string(), 1), ("long_term".to_string(), 4)]);
        assert_eq!(best_rank(&ranks), Some(("short_term".to_string(), 1)));
        assert_eq!(best_rank(&BTreeMap::new()), None);
    }
}
