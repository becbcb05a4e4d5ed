//! Last.fm's ranked lists on the user's rows: top artists (playcount and rank on each artist
//! row) and loved tracks (a LOVED item each, and the mark on the song row). Both are replaced by
//! each refresh: values are set, never added, rows that already say the same are not rewritten,
//! and what a refresh did not see is swept after.

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::attr::{self, Item};
use super::keys;
use super::library::{artist_row, song_row, ArtistRow};
use super::{Store, StoreError};
use crate::library::sort_key_with_loved;

/// One artist of Last.fm's overall top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastfmArtist {
    pub key: String,
    pub name: String,
    pub playcount: u64,
    pub rank: u32,
}

impl LastfmArtist {
    /// Whether the row already says what this refresh would write, so the write can be skipped.
    pub fn already_on(&self, row: &ArtistRow) -> bool {
        row.name == self.name
            && row.lastfm_playcount == Some(self.playcount)
            && row.lastfm_rank == Some(self.rank)
    }
}

/// Which list a page belongs to, for the keys a refresh saw (see `record_list_seen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListName {
    Artists,
    Loved,
}

impl ListName {
    fn as_str(self) -> &'static str {
        match self {
            ListName::Artists => "artists",
            ListName::Loved => "loved",
        }
    }
}

/// The keys a refresh saw outlive it by this much; the sweep reads them minutes after.
const SEEN_TTL_SECS: i64 = 14 * 86_400;

/// One loved track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovedEntry {
    pub track_key: String,
    pub artist: String,
    pub title: String,
    pub loved_uts: Option<i64>,
}

fn loved_entry(item: &Item) -> Result<LovedEntry, StoreError> {
    Ok(LovedEntry {
        track_key: attr::get_s(item, "track_key")?,
        artist: attr::get_s(item, "artist")?,
        title: attr::get_s(item, "title")?,
        loved_uts: attr::get_n_opt(item, "loved_uts")?,
    })
}

/// The version-checked update that puts Last.fm's part on an artist row, alone or in a
/// transaction.
struct ArtistUpdate {
    key: Item,
    condition: &'static str,
    values: Item,
}

impl ArtistUpdate {
    // Last.fm's spelling wins for display: it is what the user's scrobbles say.
    const EXPRESSION: &'static str =
        "SET entity = :entity, artist_key = :key, #name = :name, lfm_playcount = :pc, \
         lfm_rank = :rank, lfm_job = :job, version = :next, gsi1pk = :gpk, gsi1sk = :gsk";

    fn of(
        user_id: &str,
        artist: &LastfmArtist,
        existing: Option<&ArtistRow>,
        job_id: &str,
    ) -> Self {
        let version = existing.map_or(0, |r| r.version);
        let mut row = existing.cloned().unwrap_or(ArtistRow {
            key: artist.key.clone(),
            name: artist.name.clone(),
            lastfm_playcount: None,
            lastfm_rank: None,
            spotify: None,
            manual_added_at: None,
            quiz: false,
            version,
        });
        row.lastfm_playcount = Some(artist.playcount);
        row.lastfm_rank = Some(artist.rank);
        let key = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::artist_sk(&artist.key))),
        ]);
        let mut values = Item::from([
            (":entity".to_string(), attr::s("artist")),
            (":key".to_string(), attr::s(&artist.key)),
            (":name".to_string(), attr::s(&artist.name)),
            (":pc".to_string(), attr::n(artist.playcount)),
            (":rank".to_string(), attr::n(artist.rank)),
            (":job".to_string(), attr::s(job_id)),
            (":next".to_string(), attr::n(version + 1)),
            (":gpk".to_string(), attr::s(keys::artists_gsi_pk(user_id))),
            (":gsk".to_string(), attr::s(row.sort_key())),
        ]);
        let condition = if version == 0 {
            "attribute_not_exists(version)"
        } else {
            values.insert(":version".to_string(), attr::n(version));
            "version = :version"
        };
        Self {
            key,
            condition,
            values,
        }
    }
}

impl Store {
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk.to_vec();
            let mut rounds = 0;
            while !pending.is_empty() {
                rounds += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?;
                self.metrics.read();
                let out = self
                    .db
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << rounds.min(6))).await;
                }
            }
        }
        Ok(found)
    }

    pub async fn get_artists(
        &self,
        user_id: &str,
        artist_keys: &[String],
    ) -> Result<HashMap<String, ArtistRow>, StoreError> {
        let keys = artist_keys
            .iter()
            .map(|k| {
                Item::from([
                    ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                    ("sk".to_string(), attr::s(keys::artist_sk(k))),
                ])
            })
            .collect();
        self.batch_get(keys)
            .await?
            .iter()
            .map(|i| artist_row(i).map(|r| (r.key.clone(), r)))
            .collect()
    }

    /// Records the keys one page of a list held in this refresh (written again, identically,
    /// when the page is redelivered).
    pub async fn record_list_seen(
        &self,
        user_id: &str,
        job_id: &str,
        list: ListName,
        page: u32,
        seen: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .item("pk", attr::s(keys::user_pk(user_id)))
            .item(
                "sk",
                attr::s(keys::list_seen_sk(job_id, list.as_str(), page)),
            )
            .item("entity", attr::s("list_seen"))
            .item(
                "keys",
                AttributeValue::L(seen.iter().map(attr::s).collect()),
            )
            .item("expires_at", attr::n(now + SEEN_TTL_SECS))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Every key any page of the list held in this refresh.
    pub async fn list_seen(
        &self,
        user_id: &str,
        job_id: &str,
        list: ListName,
    ) -> Result<HashSet<String>, StoreError> {
        let items = self
            .query_prefix(
                keys::user_pk(user_id),
                keys::list_seen_prefix(job_id, list.as_str()),
            )
            .await?;
        let mut seen = HashSet::new();
        for item in &items {
            seen.extend(attr::get_string_list(item, "keys")?);
        }
        Ok(seen)
    }

    /// Sets Last.fm's playcount and rank on an artist row (version-checked against `existing`).
    pub async fn write_lastfm_artist(
        &self,
        user_id: &str,
        artist: &LastfmArtist,
        existing: Option<&ArtistRow>,
        job_id: &str,
    ) -> Result<(), StoreError> {
        let u = ArtistUpdate::of(user_id, artist, existing, job_id);
        self.metrics.write();
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(u.key))
            .update_expression(ArtistUpdate::EXPRESSION)
            .condition_expression(u.condition)
            .expression_attribute_names("#name", "name")
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// [`Store::write_lastfm_artist`] for up to 100 artists in one transaction: all or none.
    /// False when a version check failed or another transaction held a row: nothing was
    /// written, and the caller writes them one by one (re-reading the rows that moved). A
    /// first refresh writes 1,000 rows a page; one request instead of 1,000.
    pub async fn write_lastfm_artists(
        &self,
        user_id: &str,
        artists: &[(&LastfmArtist, Option<&ArtistRow>)],
        job_id: &str,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        let items = artists
            .iter()
            .map(|(artist, existing)| {
                let u = ArtistUpdate::of(user_id, artist, *existing, job_id);
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(u.key))
                    .update_expression(ArtistUpdate::EXPRESSION)
                    .condition_expression(u.condition)
                    .expression_attribute_names("#name", "name")
                    .set_expression_attribute_values(Some(u.values))
                    .build()
                    .map(|update| TransactWriteItem::builder().update(update).build())
                    .map_err(|e| StoreError::Dynamo(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.transact_checked(items).await?.is_empty())
    }

    /// Artists whose Last.fm part was last written by a refresh other than `job_id`, a batch at
    /// a time: gone from the list unless the refresh saw them unchanged (`list_seen`).
    pub async fn stale_lastfm_artists(
        &self,
        user_id: &str,
        job_id: &str,
        start: Option<Item>,
    ) -> Result<(Vec<ArtistRow>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("attribute_exists(lfm_job) AND lfm_job <> :job")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(keys::ARTIST_PREFIX))
            .expression_attribute_values(":job", attr::s(job_id))
            .limit(500)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let rows = out
            .items
            .unwrap_or_default()
            .iter()
            .map(artist_row)
            .collect::<Result<_, _>>()?;
        Ok((rows, out.last_evaluated_key))
    }

    /// Takes Last.fm's part off an artist row that fell out of the list (the row goes if no
    /// other source knows the artist).
    pub async fn drop_lastfm_artist(
        &self,
        user_id: &str,
        row: &ArtistRow,
    ) -> Result<(), StoreError> {
        let mut rest = row.clone();
        rest.lastfm_playcount = None;
        rest.lastfm_rank = None;
        self.metrics.write();
        let result = if rest.has_any_source() {
            self.db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::artist_sk(&row.key)))
                .update_expression(
                    "REMOVE lfm_playcount, lfm_rank, lfm_job SET version = :next, gsi1sk = :gsk",
                )
                .condition_expression("version = :version")
                .expression_attribute_values(":version", attr::n(row.version))
                .expression_attribute_values(":next", attr::n(row.version + 1))
                .expression_attribute_values(":gsk", attr::s(rest.sort_key()))
                .send()
                .await
                .map(|_| ())
                .map_err(StoreError::from_sdk)
        } else {
            self.db
                .delete_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::artist_sk(&row.key)))
                .condition_expression("version = :version")
                .expression_attribute_values(":version", attr::n(row.version))
                .send()
                .await
                .map(|_| ())
                .map_err(StoreError::from_sdk)
        };
        match result {
            // Someone changed the row since it was read; the next sweep sees it again.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records a loved track and marks its song row (creating the row when the track was
    /// never scrobbled, so it still shows in "Songs You Know").
    pub async fn put_loved(
        &self,
        user_id: &str,
        loved: &LovedEntry,
        job_id: &str,
    ) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::loved_sk(&loved.track_key))),
            ("entity".to_string(), attr::s("loved_track")),
            ("track_key".to_string(), attr::s(&loved.track_key)),
            ("artist".to_string(), attr::s(&loved.artist)),
            ("title".to_string(), attr::s(&loved.title)),
            ("job".to_string(), attr::s(job_id)),
        ]);
        if let Some(t) = loved.loved_uts {
            item.insert("loved_uts".into(), attr::n(t));
        }
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.set_song_loved(user_id, &loved.track_key, Some(loved))
            .await
    }

    /// The entries already stored exactly so, with the mark on their song row: a refresh
    /// need not write them again.
    pub async fn unchanged_loved(
        &self,
        user_id: &str,
        entries: &[LovedEntry],
    ) -> Result<HashSet<String>, StoreError> {
        // BatchGetItem refuses a request that names one key twice.
        let track_keys: BTreeSet<&str> = entries.iter().map(|e| e.track_key.as_str()).collect();
        let key_of = |sk: String| {
            Item::from([
                ("pk".to_string(), attr::s(keys::user_pk(user_id))),
                ("sk".to_string(), attr::s(sk)),
            ])
        };
        let stored: HashMap<String, LovedEntry> = self
            .batch_get(
                track_keys
                    .iter()
                    .map(|k| key_of(keys::loved_sk(k)))
                    .collect(),
            )
            .await?
            .iter()
            .map(|i| loved_entry(i).map(|e| (e.track_key.clone(), e)))
            .collect::<Result<_, _>>()?;
        let mut marked = HashSet::new();
        for item in self
            .batch_get(
                track_keys
                    .iter()
                    .map(|k| key_of(keys::track_sk(k)))
                    .collect(),
            )
            .await?
        {
            if attr::get_bool_opt(&item, "lfm_loved")?.unwrap_or(false) {
                let sk = attr::get_s(&item, "sk")?;
                if let Some(key) = sk.strip_prefix(keys::TRACK_PREFIX) {
                    marked.insert(key.to_string());
                }
            }
        }
        Ok(entries
            .iter()
            .filter(|e| marked.contains(&e.track_key) && stored.get(&e.track_key) == Some(e))
            .map(|e| e.track_key.clone())
            .collect())
    }

    /// Loved entries last written by a refresh other than `job_id`, a batch at a time: no
    /// longer loved unless the refresh saw them unchanged (`list_seen`).
    pub async fn stale_loved(
        &self,
        user_id: &str,
        job_id: &str,
        start: Option<Item>,
    ) -> Result<(Vec<String>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("job <> :job")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(keys::LOVED_PREFIX))
            .expression_attribute_values(":job", attr::s(job_id))
            .limit(500)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let stale = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| attr::get_s(i, "track_key"))
            .collect::<Result<_, _>>()?;
        Ok((stale, out.last_evaluated_key))
    }

    pub async fn drop_loved(&self, user_id: &str, track_key: &str) -> Result<(), StoreError> {
        self.set_song_loved(user_id, track_key, None).await?;
        self.metrics.write();
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::loved_sk(track_key)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Sets (Some) or clears (None) the loved mark on a song row, keeping its index place right.
    async fn set_song_loved(
        &self,
        user_id: &str,
        track_key: &str,
        loved: Option<&LovedEntry>,
    ) -> Result<(), StoreError> {
        let key = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::track_sk(track_key))),
        ]);
        for _ in 0..10 {
            let item = self.batch_get(vec![key.clone()]).await?.into_iter().next();
            let version: u64 = item
                .as_ref()
                .and_then(|i| attr::get_n_opt(i, "version").ok().flatten())
                .unwrap_or(0);
            let row = item.as_ref().map(song_row).transpose()?;
            let playcount = row
                .as_ref()
                .and_then(|r| r.lastfm.as_ref().map(|l| l.playcount));
            let spotify = row.as_ref().and_then(|r| r.spotify.clone());
            let known_added: Option<i64> = match &item {
                Some(i) => attr::get_n_opt(i, "known_added_at")?,
                None => None,
            };
            let sort = sort_key_with_loved(
                playcount,
                spotify.as_ref(),
                loved.is_some(),
                known_added,
                track_key,
            );
            let mut request = self
                .db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::track_sk(track_key)))
                .expression_attribute_values(":next", attr::n(version + 1))
                .expression_attribute_values(":gsk", attr::s(sort));
            request = if version == 0 {
                request.condition_expression("attribute_not_exists(version)")
            } else {
                request
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(version))
            };
            match loved {
                Some(l) => {
                    request = request
                        .update_expression(
                            "SET entity = if_not_exists(entity, :entity), track_key = :key, \
                             artist = if_not_exists(artist, :artist), title = if_not_exists(title, :title), \
                             lfm_loved = :yes, version = :next, gsi1pk = :gpk, gsi1sk = :gsk",
                        )
                        .expression_attribute_values(":entity", attr::s("song"))
                        .expression_attribute_values(":key", attr::s(track_key))
                        .expression_attribute_values(":artist", attr::s(&l.artist))
                        .expression_attribute_values(":title", attr::s(&l.title))
                        .expression_attribute_values(":yes", AttributeValue::Bool(true))
                        .expression_attribute_values(":gpk", attr::s(keys::songs_gsi_pk(user_id)));
                }
                None => {
                    if item.is_none() {
                        return Ok(());
                    }
                    let others = playcount.is_some() || spotify.is_some() || known_added.is_some();
                    if !others {
                        self.metrics.write();
                        match self
                            .db
                            .delete_item()
                            .table_name(&self.table)
                            .key("pk", attr::s(keys::user_pk(user_id)))
                            .key("sk", attr::s(keys::track_sk(track_key)))
                            .condition_expression("version = :version")
                            .expression_attribute_values(":version", attr::n(version))
                            .send()
                            .await
                            .map_err(StoreError::from_sdk)
                        {
                            Ok(_) => return Ok(()),
                            Err(StoreError::Conflict) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    request = request
                        .update_expression("REMOVE lfm_loved SET version = :next, gsi1sk = :gsk");
                }
            }
            self.metrics.write();
            match request.send().await.map_err(StoreError::from_sdk) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, playcount: Option<u64>, rank: Option<u32>) -> ArtistRow {
        ArtistRow {
            key: "queen".into(),
            name: name.into(),
            lastfm_playcount: playcount,
            lastfm_rank: rank,
            spotify: None,
            manual_added_at: Some(5),
            quiz: false,
            version: 3,
        }
    }

    #[test]
    fn only_a_row_saying_exactly_the_same_is_left_alone() {
        let queen = LastfmArtist {
            key: "queen".into(),
            name: "Queen".into(),
            playcount: 120,
            rank: 4,
        };
        assert!(queen.already_on(&row("Queen", Some(120), Some(4))));
        assert!(
            !queen.already_on(&row("Queen", Some(119), Some(4))),
            "new plays"
        );
        assert!(
            !queen.already_on(&row("Queen", Some(120), Some(5))),
            "rank moved"
        );
        assert!(
            !queen.already_on(&row("QUEEN", Some(120), Some(4))),
            "new spelling"
        );
        assert!(
            !queen.already_on(&row("Queen", None, None)),
            "hand-added only: Last.fm's part is new"
        );
    }
}
