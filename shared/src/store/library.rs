//! The user's library as the API reads it: song rows (every source's part of a song on one
//! item), artists, songs added by hand, preferences and ranked top lists.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::attr::{self, Item};
use super::keys;
use super::{Store, StoreError};
use crate::library::{sort_key, Preferences, SpotifyRank};

/// One row of "Songs You Know".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SongRow {
    pub key: String,
    pub artist: String,
    pub title: String,
    pub album: Option<String>,
    pub lastfm: Option<LastfmPart>,
    pub spotify: Option<SpotifyRank>,
    /// The catalog id when the user added this song by hand.
    pub known_song_id: Option<String>,
    pub loved: bool,
    /// In Last.fm's loved list (possibly never played).
    pub lastfm_loved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastfmPart {
    pub playcount: u64,
    pub first_uts: i64,
    pub last_uts: i64,
    pub sync_count: u64,
}

fn spotify_part(item: &Item) -> Result<Option<SpotifyRank>, StoreError> {
    Ok(match attr::get_n_opt::<u32>(item, "sp_rank")? {
        Some(rank) => Some(SpotifyRank {
            rank,
            time_range: attr::get_s(item, "sp_time_range")?,
            popularity: attr::get_n_opt(item, "sp_popularity")?,
        }),
        None => None,
    })
}

pub fn song_row(item: &Item) -> Result<SongRow, StoreError> {
    let lastfm = match attr::get_n_opt::<u64>(item, "playcount")? {
        Some(playcount) => Some(LastfmPart {
            playcount,
            first_uts: attr::get_n(item, "first_uts")?,
            last_uts: attr::get_n(item, "last_uts")?,
            sync_count: attr::get_n_opt(item, "sync_count")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(SongRow {
        key: attr::get_s(item, "track_key")?,
        artist: attr::get_s(item, "artist")?,
        title: attr::get_s(item, "title")?,
        album: attr::get_s_opt(item, "album")?,
        lastfm,
        spotify: spotify_part(item)?,
        known_song_id: attr::get_s_opt(item, "known_song_id")?,
        loved: attr::get_bool_opt(item, "loved")?.unwrap_or(false)
            || attr::get_bool_opt(item, "lfm_loved")?.unwrap_or(false),
        lastfm_loved: attr::get_bool_opt(item, "lfm_loved")?.unwrap_or(false),
    })
}

/// One row of "Artists You Know".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistRow {
    pub key: String,
    pub name: String,
    pub lastfm_playcount: Option<u64>,
    pub lastfm_rank: Option<u32>,
    pub spotify: Option<SpotifyRank>,
    pub manual_added_at: Option<i64>,
    pub quiz: bool,
    pub version: u64,
}

impl ArtistRow {
    pub fn sort_key(&self) -> String {
        sort_key(
            self.lastfm_playcount,
            self.spotify.as_ref(),
            self.manual_added_at.or(self.quiz.then_some(0)),
            &self.key,
        )
    }

    pub fn has_any_source(&self) -> bool {
        self.lastfm_playcount.is_some()
            || self.spotify.is_some()
            || self.manual_added_at.is_some()
            || self.quiz
    }
}

pub fn artist_row(item: &Item) -> Result<ArtistRow, StoreError> {
    Ok(ArtistRow {
        key: attr::get_s(item, "artist_key")?,
        name: attr::get_s(item, "name")?,
        lastfm_playcount: attr::get_n_opt(item, "lfm_playcount")?,
        lastfm_rank: attr::get_n_opt(item, "lfm_rank")?,
        spotify: spotify_part(item)?,
        manual_added_at: attr::get_n_opt(item, "manual_added_at")?,
        quiz: attr::get_bool_opt(item, "quiz")?.unwrap_or(false),
        version: attr::get_n_opt(item, "version")?.unwrap_or(0),
    })
}

/// A song the user added by hand (by catalog id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSong {
    pub song_id: String,
    pub artist: String,
    pub title: String,
    pub notes: Option<String>,
    pub added_at: i64,
}

fn known_from_item(item: &Item) -> Result<KnownSong, StoreError> {
    Ok(KnownSong {
        song_id: attr::get_s(item, "song_id")?,
        artist: attr::get_s(item, "artist")?,
        title: attr::get_s(item, "title")?,
        notes: attr::get_s_opt(item, "notes")?,
        added_at: attr::get_n(item, "added_at")?,
    })
}

/// Outcome of adding or removing something that may already be (or not be) there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Made,
    AlreadySo,
}

impl Store {
    async fn query_index(
        &self,
        gsi_pk: String,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", attr::s(gsi_pk))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// A page of "Songs You Know", in the index's order.
    pub async fn song_rows(
        &self,
        user_id: &str,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<SongRow>, Option<Item>), StoreError> {
        let (items, next) = self
            .query_index(keys::songs_gsi_pk(user_id), limit, start)
            .await?;
        let rows = items.iter().map(song_row).collect::<Result<_, _>>()?;
        Ok((rows, next))
    }

    /// A page of "Artists You Know", in the index's order.
    pub async fn artist_rows(
        &self,
        user_id: &str,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<ArtistRow>, Option<Item>), StoreError> {
        let (items, next) = self
            .query_index(keys::artists_gsi_pk(user_id), limit, start)
            .await?;
        let rows = items.iter().map(artist_row).collect::<Result<_, _>>()?;
        Ok((rows, next))
    }

    pub(super) async fn get_item(
        &self,
        pk: String,
        sk: String,
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

    pub async fn get_artist(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<ArtistRow>, StoreError> {
        self.get_item(keys::user_pk(user_id), keys::artist_sk(key))
            .await?
            .as_ref()
            .map(artist_row)
            .transpose()
    }

    /// Marks an artist as added by hand (creating the row if no source knows it yet). The
    /// profile's count of manual artists moves in the same transaction.
    pub async fn add_manual_artist(
        &self,
        user_id: &str,
        key: &str,
        name: &str,
        now: i64,
    ) -> Result<Change, StoreError> {
        for _ in 0..10 {
            let existing = self.get_artist(user_id, key).await?;
            let mut row = existing.clone().unwrap_or(ArtistRow {
                key: key.to_string(),
                name: name.to_string(),
                lastfm_playcount: None,
                lastfm_rank: None,
                spotify: None,
                manual_added_at: None,
                quiz: false,
                version: 0,
            });
            if row.manual_added_at.is_some() {
                return Ok(Change::AlreadySo);
            }
            row.manual_added_at = Some(now);
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::artist_sk(key)))
                .update_expression(
                    "SET entity = :entity, artist_key = :key, #name = if_not_exists(#name, :name), \
                     manual_added_at = :now, version = :next, gsi1pk = :gpk, gsi1sk = :gsk",
                )
                .condition_expression(if row.version == 0 {
                    "attribute_not_exists(version)"
                } else {
                    "version = :version"
                })
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":entity", attr::s("artist"))
                .expression_attribute_values(":key", attr::s(key))
                .expression_attribute_values(":name", attr::s(name))
                .expression_attribute_values(":now", attr::n(now))
                .expression_attribute_values(":next", attr::n(row.version + 1))
                .expression_attribute_values(":gpk", attr::s(keys::artists_gsi_pk(user_id)))
                .expression_attribute_values(":gsk", attr::s(row.sort_key()));
            let update = if row.version == 0 {
                update
            } else {
                update.expression_attribute_values(":version", attr::n(row.version))
            };
            if self
                .transact_with_counter(user_id, update, "manual_artists", 1)
                .await?
            {
                return Ok(Change::Made);
            }
        }
        Err(StoreError::Conflict)
    }

    /// Removes the hand-added mark; the row goes when no other source knows the artist.
    pub async fn remove_manual_artist(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Change, StoreError> {
        for _ in 0..10 {
            let Some(mut row) = self.get_artist(user_id, key).await? else {
                return Ok(Change::AlreadySo);
            };
            if row.manual_added_at.is_none() {
                return Ok(Change::AlreadySo);
            }
            row.manual_added_at = None;
            let base_key = |b: aws_sdk_dynamodb::types::builders::UpdateBuilder| {
                b.table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(keys::artist_sk(key)))
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(row.version))
            };
            let change = if row.has_any_source() {
                TransactWriteItem::builder().update(
                    base_key(Update::builder())
                        .update_expression(
                            "REMOVE manual_added_at SET version = :next, gsi1sk = :gsk",
                        )
                        .expression_attribute_values(":next", attr::n(row.version + 1))
                        .expression_attribute_values(":gsk", attr::s(row.sort_key()))
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
            } else {
                TransactWriteItem::builder().delete(
                    aws_sdk_dynamodb::types::Delete::builder()
                        .table_name(&self.table)
                        .key("pk", attr::s(keys::user_pk(user_id)))
                        .key("sk", attr::s(keys::artist_sk(key)))
                        .condition_expression("version = :version")
                        .expression_attribute_values(":version", attr::n(row.version))
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
            };
            if self
                .transact(vec![
                    change.build(),
                    self.counter_item(user_id, "manual_artists", -1)?,
                ])
                .await?
            {
                return Ok(Change::Made);
            }
        }
        Err(StoreError::Conflict)
    }

    fn counter_item(
        &self,
        user_id: &str,
        counter: &str,
        by: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(keys::PROFILE_SK))
                    .update_expression("ADD #counter :by")
                    .expression_attribute_names("#counter", counter)
                    .expression_attribute_values(":by", attr::n(by))
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?,
            )
            .build())
    }

    async fn transact_with_counter(
        &self,
        user_id: &str,
        update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
        counter: &str,
        by: i64,
    ) -> Result<bool, StoreError> {
        let item = TransactWriteItem::builder()
            .update(
                update
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?,
            )
            .build();
        self.transact(vec![item, self.counter_item(user_id, counter, by)?])
            .await
    }

    /// Runs a transaction; false when a condition failed (someone changed an item meanwhile).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
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

    pub async fn profile_counter(&self, user_id: &str, counter: &str) -> Result<u64, StoreError> {
        Ok(self
            .get_item(keys::user_pk(user_id), keys::PROFILE_SK.to_string())
            .await?
            .and_then(|i| attr::get_n_opt::<i64>(&i, counter).ok().flatten())
            .unwrap_or(0)
            .max(0) as u64)
    }

    pub async fn known_songs(&self, user_id: &str) -> Result<Vec<KnownSong>, StoreError> {
        let mut songs = Vec::new();
        let mut start = None;
        loop {
            self.metrics.read();
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
                .expression_attribute_values(":prefix", attr::s(keys::KNOWN_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in out.items.unwrap_or_default() {
                songs.push(known_from_item(&item)?);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        songs.sort_by(|a, b| b.added_at.cmp(&a.added_at).then(a.song_id.cmp(&b.song_id)));
        Ok(songs)
    }

    /// Adds (or updates the notes of) a song the user knows; it also shows in "Songs You Know"
    /// through its song row, created if no source knows the song yet.
    pub async fn put_known_song(
        &self,
        user_id: &str,
        song: &KnownSong,
        track_key: &str,
    ) -> Result<Change, StoreError> {
        let mut known = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::known_sk(&song.song_id))),
            ("entity".to_string(), attr::s("known_song")),
            ("song_id".to_string(), attr::s(&song.song_id)),
            ("artist".to_string(), attr::s(&song.artist)),
            ("title".to_string(), attr::s(&song.title)),
            ("track_key".to_string(), attr::s(track_key)),
            ("added_at".to_string(), attr::n(song.added_at)),
        ]);
        if let Some(notes) = &song.notes {
            known.insert("notes".into(), attr::s(notes));
        }
        let existed = self
            .get_item(keys::user_pk(user_id), keys::known_sk(&song.song_id))
            .await?
            .is_some();
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(known))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.mark_song_known(user_id, track_key, song, true).await?;
        Ok(if existed {
            Change::AlreadySo
        } else {
            Change::Made
        })
    }

    pub async fn delete_known_song(
        &self,
        user_id: &str,
        song_id: &str,
    ) -> Result<Change, StoreError> {
        let Some(item) = self
            .get_item(keys::user_pk(user_id), keys::known_sk(song_id))
            .await?
        else {
            return Ok(Change::AlreadySo);
        };
        let song = known_from_item(&item)?;
        let track_key = attr::get_s(&item, "track_key")?;
        self.mark_song_known(user_id, &track_key, &song, false)
            .await?;
        self.metrics.write();
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::known_sk(song_id)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(Change::Made)
    }

    /// Sets or clears the hand-added part of a song row, keeping its place in the index right.
    async fn mark_song_known(
        &self,
        user_id: &str,
        track_key: &str,
        song: &KnownSong,
        known: bool,
    ) -> Result<(), StoreError> {
        for _ in 0..10 {
            let item = self
                .get_item(keys::user_pk(user_id), keys::track_sk(track_key))
                .await?;
            let version: u64 = item
                .as_ref()
                .and_then(|i| attr::get_n_opt(i, "version").ok().flatten())
                .unwrap_or(0);
            let (playcount, spotify) = match &item {
                Some(i) => (attr::get_n_opt::<u64>(i, "playcount")?, spotify_part(i)?),
                None => (None, None),
            };
            let mut request = self
                .db
                .update_item()
                .table_name(&self.table)
                .key("pk", attr::s(keys::user_pk(user_id)))
                .key("sk", attr::s(keys::track_sk(track_key)))
                .condition_expression(if version == 0 {
                    "attribute_not_exists(version)"
                } else {
                    "version = :version"
                })
                .expression_attribute_values(":next", attr::n(version + 1));
            if version > 0 {
                request = request.expression_attribute_values(":version", attr::n(version));
            }
            let others = playcount.is_some() || spotify.is_some();
            if !known && !others {
                if item.is_none() {
                    return Ok(());
                }
                // Nothing else knows this song: the row goes with the hand-added mark.
                self.metrics.write();
                let deleted = self
                    .db
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", attr::s(keys::user_pk(user_id)))
                    .key("sk", attr::s(keys::track_sk(track_key)))
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", attr::n(version))
                    .send()
                    .await
                    .map_err(StoreError::from_sdk);
                match deleted {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            let sort = sort_key(
                playcount,
                spotify.as_ref(),
                known.then_some(song.added_at),
                track_key,
            );
            request = if known {
                request
                    .update_expression(
                        "SET entity = if_not_exists(entity, :entity), track_key = :key, \
                         artist = if_not_exists(artist, :artist), title = if_not_exists(title, :title), \
                         known_song_id = :song, known_added_at = :added, version = :next, \
                         gsi1pk = :gpk, gsi1sk = :gsk",
                    )
                    .expression_attribute_values(":entity", attr::s("song"))
                    .expression_attribute_values(":key", attr::s(track_key))
                    .expression_attribute_values(":artist", attr::s(&song.artist))
                    .expression_attribute_values(":title", attr::s(&song.title))
                    .expression_attribute_values(":song", attr::s(&song.song_id))
                    .expression_attribute_values(":added", attr::n(song.added_at))
                    .expression_attribute_values(":gpk", attr::s(keys::songs_gsi_pk(user_id)))
                    .expression_attribute_values(":gsk", attr::s(sort))
            } else {
                request
                    .update_expression(
                        "REMOVE known_song_id, known_added_at SET version = :next, gsi1sk = :gsk",
                    )
                    .expression_attribute_values(":gsk", attr::s(sort))
            };
            self.metrics.write();
            match request.send().await.map_err(StoreError::from_sdk) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    pub async fn get_preferences(&self, user_id: &str) -> Result<Preferences, StoreError> {
        let Some(item) = self
            .get_item(keys::user_pk(user_id), keys::PREFS_SK.to_string())
            .await?
        else {
            return Ok(Preferences::default());
        };
        Ok(Preferences {
            decades: attr::get_string_list(&item, "decades")?,
            energy: attr::get_s_opt(&item, "energy")?,
            genres: attr::get_string_list(&item, "genres")?,
        })
    }

    pub async fn put_preferences(
        &self,
        user_id: &str,
        prefs: &Preferences,
        now: i64,
    ) -> Result<(), StoreError> {
        let list = |v: &[String]| AttributeValue::L(v.iter().map(attr::s).collect());
        let mut item = Item::from([
            ("pk".to_string(), attr::s(keys::user_pk(user_id))),
            ("sk".to_string(), attr::s(keys::PREFS_SK)),
            ("entity".to_string(), attr::s("preferences")),
            ("decades".to_string(), list(&prefs.decades)),
            ("genres".to_string(), list(&prefs.genres)),
            ("updated_at".to_string(), attr::n(now)),
        ]);
        if let Some(e) = &prefs.energy {
            item.insert("energy".into(), attr::s(e));
        }
        self.metrics.write();
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// A ranked list as the source gave it (Spotify's top tracks for one time range).
    pub async fn top_tracks(
        &self,
        user_id: &str,
        source: &str,
        time_range: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", attr::s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", attr::s(keys::top_prefix(source, time_range)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.items.unwrap_or_default())
    }
}

/// A catalog song found by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: u32,
}

impl Store {
    /// Looks a catalog song up by id (catalog items are also indexed by id in gsi1).
    pub async fn catalog_song_by_id(&self, id: &str) -> Result<Option<CatalogEntry>, StoreError> {
        self.metrics.read();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", attr::s(keys::catalog_id_gsi_pk(id)))
            .limit(1)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(CatalogEntry {
            id: attr::get_s(&item, "id")?,
            artist: attr::get_s(&item, "artist")?,
            title: attr::get_s(&item, "title")?,
            brand_count: attr::get_n_opt(&item, "brand_count")?.unwrap_or(0),
        }))
    }
}
