//! Last.fm's ranked lists on the user's rows: top artists (playcount and rank on each artist
//! row) and loved tracks (a LOVED item each, and the mark on the song row). Both are replaced by
//! each refresh: values are set, never added, and what a refresh did not see is swept after.

use std::collections::HashMap;

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

/// One loved track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovedEntry {
    pub track_key: String,
    pub artist: String,
    pub title: String,
    pub loved_uts: Option<i64>,
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

    /// Sets Last.fm's playcount and rank on an artist row (version-checked against `existing`).
    pub async fn write_lastfm_artist(
        &self,
        user_id: &str,
        artist: &LastfmArtist,
        existing: Option<&ArtistRow>,
        job_id: &str,
    ) -> Result<(), StoreError> {
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
        let mut request = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", attr::s(keys::user_pk(user_id)))
            .key("sk", attr::s(keys::artist_sk(&artist.key)))
            // Last.fm's spelling wins for display: it is what the user's scrobbles say.
            .update_expression(
                "SET entity = :entity, artist_key = :key, #name = :name, lfm_playcount = :pc, \
                 lfm_rank = :rank, lfm_job = :job, version = :next, gsi1pk = :gpk, gsi1sk = :gsk",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":entity", attr::s("artist"))
            .expression_attribute_values(":key", attr::s(&artist.key))
            .expression_attribute_values(":name", attr::s(&artist.name))
            .expression_attribute_values(":pc", attr::n(artist.playcount))
            .expression_attribute_values(":rank", attr::n(artist.rank))
            .expression_attribute_values(":job", attr::s(job_id))
            .expression_attribute_values(":next", attr::n(version + 1))
            .expression_attribute_values(":gpk", attr::s(keys::artists_gsi_pk(user_id)))
            .expression_attribute_values(":gsk", attr::s(row.sort_key()));
        request = if version == 0 {
            request.condition_expression("attribute_not_exists(version)")
        } else {
            request
                .condition_expression("version = :version")
                .expression_attribute_values(":version", attr::n(version))
        };
        self.metrics.write();
        request.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Artists whose Last.fm part came from a refresh other than `job_id`, a batch at a time.
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

    /// Loved entries a refresh other than `job_id` wrote (no longer loved), a batch at a time.
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
